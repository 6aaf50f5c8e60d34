#!/usr/bin/env bash
# The full conformance suite for the four shipped clients, one after the other, and the results
# section of docs/conformance.md from their reports. Takes about 20 minutes (each suite runs its
# 11 scenarios in parallel; the longest is 240 s). Installs the clients first (see
# docs/conformance.md). Loopback only.
#
#   scripts/conformance-results.sh [OUT_DIR]     (default target/conform)
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
out=${1:-target/conform}
cargo build --release -p credcycle-cli
cargo build --release -p credcycle --example conform_client
cargo build --release -p credcycle --example conform_aws_config --features aws-sdk-example
[ -x target/botocore-venv/bin/python ] || python3 -m venv target/botocore-venv
target/botocore-venv/bin/pip install --quiet --disable-pip-version-check -r clients/botocore/requirements.txt
(cd clients/js && npm ci --no-audit --no-fund --loglevel=error)
bin=target/release/credcycle
botocore=$(target/botocore-venv/bin/python -c 'import botocore; print(botocore.__version__)')
smithy=$(node -p 'require("./clients/js/node_modules/@smithy/credential-provider-imds/package.json").version')
awsconfig=$(awk '/^name = "aws-config"$/{getline; print $3}' Cargo.lock | tr -d '"')
run() { local dir=$1 name=$2; shift 2; "$bin" conform --jobs 11 --out "$out/$dir" --name "$name" -- "$@"; }
run credcycle "credcycle $(awk -F'"' '/^version/{print $2; exit}' Cargo.toml)" target/release/examples/conform_client
run botocore "botocore $botocore" target/botocore-venv/bin/python clients/botocore/client.py
run js "@smithy/credential-provider-imds $smithy" node clients/js/client.mjs
run aws-config "aws-config $awsconfig" target/release/examples/conform_aws_config
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for d in ["credcycle", "botocore", "js", "aws-config"]:
    r = json.load(open(f"{out}/{d}/report.json"))
    print(f"### {r['client']}\n")
    print("| scenario | hand-outs | expired | expired % | max s past expiry | inside margin | revoked | errors | IMDS req/min | recovery s | longest gap s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for s in r["scenarios"]:
        t = s["total"]
        rec = ", ".join("never" if x["after"] is None else f"{x['after']:.1f}" for x in s["recoveries"]) or "-"
        print(f"| {s['run']['name']} | {t['handouts']} | {t['expired']} | {t['expired_pct']:.1f} | {t['max_past_expiry']:.1f} | "
              f"{t['inside_margin']} | {t['revoked']} | {t['errors']} | {t['imds_requests_per_minute']:.1f} | {rec} | {t['longest_gap']:.1f} |")
    bad = [f"{s['run']['name']}: {v}" for s in r["scenarios"] for v in s["verdicts"]]
    if bad:
        print("\nClient verdicts: " + "; ".join(bad))
    print()
PY
