#!/usr/bin/env python3
"""botocore's client for `credcycle conform`.

One botocore session, as an application keeps one; every CREDCYCLE_CONFORM_INTERVAL seconds
(default 0.5) it asks the session's credentials for a frozen set, the way every botocore
client does before signing a request, and prints one JSON line: the access key id and the
expiry botocore believes, or the error it raised. With conform's environment the credential
chain ends at botocore's InstanceMetadataProvider (IMDS at AWS_EC2_METADATA_SERVICE_ENDPOINT).

    python3 -m venv target/botocore-venv
    target/botocore-venv/bin/pip install -r clients/botocore/requirements.txt
    credcycle conform -- target/botocore-venv/bin/python clients/botocore/client.py
"""
import datetime
import json
import os
import sys
import time

import botocore
import botocore.session


def main():
    interval = float(os.environ.get("CREDCYCLE_CONFORM_INTERVAL", "0.5"))
    print(f"botocore {botocore.__version__}", file=sys.stderr, flush=True)
    session = botocore.session.Session()
    credentials = None
    while True:
        try:
            if credentials is None:
                # The chain found nothing yet (IMDS down or no role at start): ask again.
                credentials = session.get_credentials()
            if credentials is None:
                line = {"error": "no credentials found by the provider chain"}
            else:
                frozen = credentials.get_frozen_credentials()
                expiry = getattr(credentials, "_expiry_time", None)
                line = {"access_key_id": frozen.access_key}
                if expiry is not None:
                    line["expiration"] = expiry.astimezone(datetime.timezone.utc).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    )
        except Exception as e:  # every failure is an answer, not a crash
            line = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(line), flush=True)
        time.sleep(interval)


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
