#!/usr/bin/env bash
# Proof that the model's checks bite: each mutant below breaks one rule of credcycle-core in a
# scratch copy of the work tree, and must be caught by BOTH
#   1. the exhaustive check of the real `step` (credcycle-model's `check` example, default depth),
#      which must report the expected property VIOLATED, with its minimal counterexample; and
#   2. the replay of the committed Quint traces (model/traces) through the real `step`, which must
#      report a divergence.
# Exits non-zero if a mutant survives either check (or no longer applies).
#
#   model/scripts/mutants.sh             all mutants
#   model/scripts/mutants.sh backoff     only mutants whose name contains "backoff"
#
# The production code has no switch for any of this: mutants exist only in the scratch copy.
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/credcycle-model-mutants.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The work tree as it is (committed or not), without build output or node_modules.
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
  (cd "$root" && xargs -0 tar -cf - 2>/dev/null) | tar -x -C "$work"
export CARGO_TARGET_DIR=${MUTANTS_TARGET_DIR:-$root/target/model-mutants}
filter=${1:-}

# name ~ file ~ exact text to replace (whitespace-insensitive) ~ replacement ~ property that must be violated
mutants=(
  "expiry guard off by one~crates/core/src/step.rs~if lifetime <= margin || deadline <= self.now.mono.saturating_add(margin) {~if lifetime < margin || deadline < self.now.mono.saturating_add(margin) {~INV-1"
  "margin ignored~crates/core/src/state.rs~let margin = policy.expiry_margin();\n        // INV-1: wall(t) + margin~let margin = Duration::ZERO; // INV-1:~INV-1"
  "monotonic check skipped~crates/core/src/state.rs~now.mono.saturating_add(margin) <= self.deadline~true~INV-1"
  "backoff gate skipped~crates/core/src/step.rs~// INV-4: nothing is requested before the refresh point or the end of the backoff.\n            if self.now.mono >= until {~if true {~INV-4"
  "revocation skipped~crates/core/src/step.rs~if self.s.is_revoked(creds.access_key_id()) {~if false {~INV-2"
  "single flight skipped~crates/core/src/step.rs~Input::Demand if cx.s.phase == Phase::Idle~Input::Demand if true~INV-3"
)

survived=0
for m in "${mutants[@]}"; do
  IFS='~' read -r name file old new prop <<<"$m"
  [[ -z "$filter" || "$name" == *"$filter"* ]] || continue
  cp "$work/$file" "$work/$file.orig"
  if ! python3 - "$work/$file" "$old" "$new" <<'PY'
import re, sys
path, old, new = sys.argv[1], sys.argv[2].replace("\\n", "\n"), sys.argv[3]
src = open(path).read()
# Whitespace-insensitive, so that rustfmt reflowing a line does not silently disable a mutant.
pat = r"\s*".join(re.escape(c) for c in old if not c.isspace())
hits = list(re.finditer(pat, src))
if len(hits) != 1:
    sys.exit(f"{len(hits)} matches")
a, b = hits[0].span()
open(path, "w").write(src[:a] + new + src[b:])
PY
  then
    echo "NOT APPLIED  $name ($file): update this script"; survived=$((survived + 1)); continue
  fi
  echo "==> mutant: $name ($file)"
  # 1. The exhaustive check must report the expected property violated.
  out=$(cd "$work" && cargo run -q --release -p credcycle-model --example check 2>&1 || true)
  if grep -Eq "always +$prop .*VIOLATED" <<<"$out"; then
    echo "caught by the exhaustive check ($prop):"
    sed -n '/counterexample for/,$p' <<<"$out" | sed 's/^/    /'
  else
    echo "SURVIVED the exhaustive check (expected $prop VIOLATED):"
    sed 's/^/    /' <<<"$out" | head -20
    survived=$((survived + 1))
  fi
  # 2. The replay of the committed Quint traces must diverge.
  out=$(cd "$work" && cargo test -q -p credcycle-model --test replay 2>&1 || true)
  if grep -q "test result: FAILED" <<<"$out"; then
    echo "caught by the trace replay:"
    grep -m1 -A6 "diverges" <<<"$out" | sed 's/^/    /' || true
  else
    echo "SURVIVED the trace replay"; survived=$((survived + 1))
  fi
  mv "$work/$file.orig" "$work/$file"
done
echo "$survived mutant check(s) survived"
[ "$survived" -eq 0 ]
