#!/usr/bin/env bash
# Regenerates the ITF traces of the Quint spec that model/tests/replay.rs replays through the
# real credcycle_core::step: one trace per scenario test, plus random simulations of the whole
# environment (`move`) and of wall-clock steps and corrections with a healthy IMDS that re-serves
# its current set (`clockStory`).
#
#   model/scripts/regen-traces.sh                 into model/traces, with the fixed seed below
#   model/scripts/regen-traces.sh DIR SEED        into DIR with SEED (CI: a date-based seed)
#
# The seed is printed, so that any trace can be produced again.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-traces}
seed=${2:-20261128}
n=${TRACES:-30}
stories=${STORIES:-10}
[ -d node_modules ] || npm ci --no-audit --no-fund
mkdir -p "$out"
rm -f "$out"/*.itf.json
echo "quint traces: seed $seed, $n random traces and $stories clock stories, into $out"
npx quint test --backend typescript --seed "$seed" --out-itf "$out/test_{test}.itf.json" credcycle.qnt >/dev/null
npx quint run --backend typescript --step move --invariant allInvariants --mbt \
  --seed "$seed" --max-samples "$n" --n-traces "$n" --max-steps 40 \
  --out-itf "$out/run_{seq}.itf.json" credcycle.qnt >/dev/null
npx quint run --backend typescript --step clockStory --invariant allInvariants --mbt \
  --seed "$seed" --max-samples "$stories" --n-traces "$stories" --max-steps 40 \
  --out-itf "$out/story_{seq}.itf.json" credcycle.qnt >/dev/null
ls "$out" | wc -l | xargs echo "traces written:"
