#!/usr/bin/env bash
# Interoperability with a real AWS SDK (botocore, pinned): it must fetch credentials from
# `credcycle sim` through its own IMDS provider, run `credcycle get --format process` as a
# credential_process, and read `credcycle serve` through its container-credentials provider.
# Installs botocore with pip when missing. Loopback only.
#
#   scripts/sdk-interop.sh [path/to/credcycle]
set -euo pipefail
root=$(git rev-parse --show-toplevel)
bin=${1:-$root/target/release/credcycle}
[ -x "$bin" ] || { echo "no credcycle binary at $bin (build it first)"; exit 1; }
BOTOCORE=1.43.11
if ! python3 -c "import botocore, sys; sys.exit(botocore.__version__ != '$BOTOCORE')" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check "botocore==$BOTOCORE"
fi

work=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
"$bin" sim --listen 127.0.0.1:0 --lifetime 900 >"$work/sim.out" 2>"$work/sim.err" & pids+=("$!")
for _ in $(seq 1 100); do grep -q '^listening on ' "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
url=$(head -n1 "$work/sim.out" | cut -d' ' -f3)
[ -n "$url" ] || { echo "the simulator did not start"; cat "$work/sim.err"; exit 1; }

"$bin" serve --listen 127.0.0.1:0 --endpoint "$url" --auth-token interop-token >"$work/serve.out" 2>"$work/serve.err" & pids+=("$!")
for _ in $(seq 1 100); do grep -q '^listening on ' "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
serve_url=$(head -n1 "$work/serve.out" | cut -d' ' -f3)
[ -n "$serve_url" ] || { echo "credcycle serve did not start"; cat "$work/serve.err"; exit 1; }

cat >"$work/config" <<CFG
[profile via-process]
credential_process = $bin get --endpoint $url --format process
CFG

env -i PATH="$PATH" HOME="$work" AWS_CONFIG_FILE="$work/config" AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    AWS_EC2_METADATA_SERVICE_ENDPOINT="$url" SIM_URL="$url" SERVE_URL="$serve_url" python3 - <<'PY'
import json, os, urllib.request
import botocore.session

def check(profile, method):
    session = botocore.session.Session(profile=profile)
    creds = session.get_credentials()
    assert creds is not None, f"{method}: no credentials"
    assert creds.method == method, f"expected {method}, got {creds.method}"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA") and frozen.secret_key and frozen.token, method
    # Report the use to the simulator's audit: it must not be an expired or unknown key.
    urllib.request.urlopen(urllib.request.Request(os.environ["SIM_URL"] + "/_sim/use", data=frozen.access_key.encode(), method="POST"))
    print(f"ok    botocore {botocore.__version__}: {method} -> {frozen.access_key}")

check(None, "iam-role")
check("via-process", "custom-process")
# The container-credentials provider, reading `credcycle serve` (it outranks IMDS in the chain).
os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = os.environ["SERVE_URL"]
os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "interop-token"
check(None, "container-role")
report = json.load(urllib.request.urlopen(os.environ["SIM_URL"] + "/_sim/report"))
assert report["uses"] == 3 and report["expired_uses"] == 0 and report["unknown_uses"] == 0, report
print(f"ok    simulator audit: {report['uses']} uses, {report['expired_uses']} expired, {report['unknown_uses']} unknown")
PY
