#!/usr/bin/env bash
# Interoperability with real AWS SDKs, pinned: botocore (Python), the AWS SDK for JavaScript v3
# (scripts/interop/js, package-lock.json) and aws-config (Rust, Cargo.lock). Each SDK must
#   - fetch credentials from `credcycle sim` through its own IMDS provider,
#   - run `credcycle get --format process` as a credential_process,
#   - read `credcycle serve` through its container-credentials provider, with the token that
#     serve generated, from its file (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE);
# and aws-config must also resolve through credcycle's Provider plugged into it. Every key is
# then reported to the simulator's audit: none may be expired or unknown, and no SDK may have
# been told an Expiration later than the one the simulator issued.
#
# Installs what is missing (botocore with pip, the JS packages with npm ci, the aws_sdk example
# with cargo), then runs offline, on 127.0.0.1 only, each SDK under a time bound.
#
#   scripts/sdk-interop.sh [path/to/credcycle]
set -euo pipefail
root=$(git rev-parse --show-toplevel)
bin=${1:-$root/target/release/credcycle}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
[ -x "$bin" ] || { echo "no credcycle binary at $bin (build it first)"; exit 1; }
BOTOCORE=1.43.11
BOUND=120 # seconds for each SDK's leg

# Install (the network is used only for what is missing).
if ! python3 -c "import botocore, sys; sys.exit(botocore.__version__ != '$BOTOCORE')" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check "botocore==$BOTOCORE"
fi
js=$root/scripts/interop/js
if ! (cd "$js" && [ -d node_modules ] && npm ls --offline >/dev/null 2>&1); then
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
fi
example=$(cd "$root" && cargo build --quiet -p credcycle --example aws_sdk --features aws-sdk-example \
  --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "aws_sdk" and m.get("executable"):
        print(m["executable"])')
[ -x "$example" ] || { echo "the aws_sdk example did not build"; exit 1; }

work=$(mktemp -d); pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"' EXIT
wait_listening() { # file: prints the URL of its "listening on" line
  for _ in $(seq 1 100); do
    grep -q '^listening on ' "$1" 2>/dev/null && { head -n1 "$1" | cut -d' ' -f3; return 0; }
    sleep 0.1
  done
  return 1
}

"$bin" sim --listen 127.0.0.1:0 --lifetime 3600 >"$work/sim.out" 2>"$work/sim.err" & pids+=("$!")
url=$(wait_listening "$work/sim.out") || { echo "the simulator did not start"; cat "$work/sim.err"; exit 1; }

# serve as it starts by default: no token configured, so it generates one in a private file and
# prints that file's path on stderr (never the token).
env -i PATH="$PATH" XDG_RUNTIME_DIR="$work" "$bin" serve --listen 127.0.0.1:0 --endpoint "$url" \
  >"$work/serve.out" 2>"$work/serve.err" & pids+=("$!")
serve_url=$(wait_listening "$work/serve.out") || { echo "credcycle serve did not start"; cat "$work/serve.err"; exit 1; }
token_file=$(grep -o "$work/[^ ]*/token" "$work/serve.err" | head -n1)
[ -r "$token_file" ] || { echo "credcycle serve printed no token file"; cat "$work/serve.err"; exit 1; }
[ "$(stat -c %a "$token_file")" = 600 ] || { echo "the token file is not mode 0600"; exit 1; }
if grep -qF "$(cat "$token_file")" "$work/serve.out" "$work/serve.err"; then echo "serve printed its token"; exit 1; fi

cat >"$work/config" <<CFG
[profile via-process]
credential_process = $bin get --endpoint $url --format process
CFG

# Each SDK sees only this environment (nothing from the machine's AWS setup), and prints one JSON
# line per way it read credentials: {"sdk", "version", "method", "key", "expires"}.
sdk_env=(env -i PATH="$PATH" HOME="$work" AWS_CONFIG_FILE="$work/config" AWS_SHARED_CREDENTIALS_FILE=/dev/null
  AWS_EC2_METADATA_SERVICE_ENDPOINT="$url" SIM_URL="$url" SERVE_URL="$serve_url" TOKEN_FILE="$token_file")

timeout "$BOUND" "${sdk_env[@]}" python3 - >>"$work/seen.jsonl" <<'PY'
import json, os
import botocore.session

def check(profile, method):
    session = botocore.session.Session(profile=profile)
    creds = session.get_credentials()
    assert creds is not None, f"{method}: no credentials"
    assert creds.method == method, f"expected {method}, got {creds.method}"
    frozen = creds.get_frozen_credentials()
    assert frozen.access_key.startswith("ASIA") and frozen.secret_key and frozen.token, method
    print(json.dumps({"sdk": "botocore", "version": botocore.__version__, "method": method,
                      "key": frozen.access_key, "expires": creds._expiry_time.timestamp()}))

check(None, "iam-role")
check("via-process", "custom-process")
# The container-credentials provider, reading `credcycle serve` (it outranks IMDS in the chain).
os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = os.environ["SERVE_URL"]
os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = os.environ["TOKEN_FILE"]
check(None, "container-role")
PY

timeout "$BOUND" "${sdk_env[@]}" AWS_CONTAINER_CREDENTIALS_FULL_URI="$serve_url" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$token_file" node "$js/check.mjs" >>"$work/seen.jsonl"

aws_config=$(awk '/^name = "aws-config"$/ { getline; gsub(/"/, "", $3); print "aws-config " $3 }' "$root/Cargo.lock")
timeout "$BOUND" "${sdk_env[@]}" AWS_CONTAINER_CREDENTIALS_FULL_URI="$serve_url" \
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$token_file" AWS_CONFIG_VERSION="$aws_config" \
  "$example" interop >>"$work/seen.jsonl"

# The audit: every key reported to the simulator as used now.
SIM_URL="$url" python3 - "$work/seen.jsonl" <<'PY'
import json, sys, urllib.request
from datetime import datetime, timezone

sim = __import__("os").environ["SIM_URL"]
seen = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
want = {("botocore", m) for m in ("iam-role", "custom-process", "container-role")}
want |= {("AWS SDK for JavaScript v3", m) for m in ("imds", "credential_process", "container")}
want |= {("aws-config (Rust)", m) for m in ("credcycle-provider", "imds", "credential_process", "container")}
got = {(r["sdk"], r["method"]) for r in seen}
assert got == want and len(seen) == len(want), f"missing: {sorted(want - got)}, unexpected: {sorted(got - want)}"
for r in seen:
    urllib.request.urlopen(urllib.request.Request(sim + "/_sim/use", data=r["key"].encode(), method="POST"))
report = json.load(urllib.request.urlopen(sim + "/_sim/report"))
issued = {s["access_key_id"]: datetime.fromisoformat(s["expiration"].replace("Z", "+00:00")).timestamp() for s in report["sets"]}
for r in seen:
    told = datetime.fromtimestamp(r["expires"], timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = issued[r["key"]] - r["expires"]
    # An SDK caches until the expiry it was told: never later than the one IMDS issued; and
    # when credcycle told it (get's credential_process output, serve's container endpoint, the
    # Provider plugged into aws-config), at least the 60 s margin earlier (INV-1 at every exit).
    ours = r["method"] in ("custom-process", "container-role", "credential_process", "container", "credcycle-provider")
    least = 60 if ours else -0.001
    assert before >= least, f"{r['sdk']} {r['method']}: told {told}, only {before:.0f} s before the issued Expiration (at least {least} s)"
    print(f"ok    {r['sdk']} ({r['version']}): {r['method']} -> {r['key']}, told Expiration {told} ({before:.0f} s before the issued one)")
assert report["uses"] == len(seen) and report["expired_uses"] == 0 and report["unknown_uses"] == 0, report
print(f"ok    simulator audit: {report['uses']} uses, {report['expired_uses']} expired, {report['unknown_uses']} unknown")
PY
