#!/usr/bin/env bash
# How often credcycle polls an IMDS that rotates late: `credcycle sim` issues 90 s credentials and
# rotates them only at the usable deadline (rotate-before = the 60 s margin), and
# `credcycle watch --interval 0.5` asks for credentials twice a second. Counts, per minute, the
# HTTP GETs and the core's credential requests (and how many of those came while usable
# credentials were held) from watch's -v log. Figures in docs/performance.md.
#
#   scripts/late-rotation.sh [SECONDS]        (default 180; needs target/release/credcycle)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/credcycle}
dur=${1:-180}
d=$(mktemp -d)
trap 'rm -rf "$d"; kill "${SIMPID:-0}" 2>/dev/null || true' EXIT
"$BIN" sim --listen 127.0.0.1:0 --lifetime 90 --rotate-before 60 > "$d/sim.out" 2> "$d/sim.err" &
SIMPID=$!
for _ in $(seq 50); do [ -s "$d/sim.out" ] && break; sleep 0.1; done
URL=$(head -1 "$d/sim.out" | sed 's/listening on //')
timeout "$dur" "$BIN" watch -v --endpoint "$URL" --interval 0.5 --format jsonl \
  > "$d/watch.out" 2> "$d/watch.err" || true
python3 - "$d" <<'PY'
import re,sys,datetime
d=sys.argv[1]
lines=[re.sub(r'\x1b\[[0-9;]*m','',l) for l in open(d+'/watch.err')]
ts=lambda l: datetime.datetime.fromisoformat(l[:26].rstrip('Z')).timestamp()
reqs=[]
for l in lines:
    m=re.search(r'from=(\w+) to=(\w+)',l)
    if m and m.group(2) in ('Refreshing','Fetching','Discovering'):
        reqs.append((ts(l), m.group(2)=='Refreshing'))
gets=[ts(l) for l in lines if 'ureq::run: GET' in l]
handouts=[l for l in open(d+'/watch.out')]
t0=gets[0]
print(f"{len(gets)} HTTP GETs, {len(reqs)} credential requests by the core ({sum(1 for r in reqs if r[1])} while holding usable credentials), {len(handouts)} watch lines, over {gets[-1]-t0:.0f} s")
for m in range(int((gets[-1]-t0)//60)+1):
    w=[r for r in reqs if t0+60*m<=r[0]<t0+60*(m+1)]
    g=[x for x in gets if t0+60*m<=x<t0+60*(m+1)]
    print(f"minute {m+1}: {len(g)} HTTP GETs; {len(w)} core requests, {sum(1 for r in w if r[1])} while holding usable credentials")
errs=[l for l in handouts if '"error"' in l]
print(f"watch lines with an error (no usable credentials): {len(errs)}")
PY
