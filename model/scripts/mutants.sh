#!/usr/bin/env bash
# Proof that the model's checks bite: each mutant below breaks one rule of credcycle-core in a
# scratch copy of the tree, and must be caught by BOTH
#   1. the exhaustive check of the real `step` (credcycle-model's `check` example), which must
#      report the expected property VIOLATED, with its minimal counterexample; and
#   2. the replay of the committed Quint traces (model/traces) through the real `step`, which must
#      report a divergence (the first one is shown).
# The unmutated copy is checked first the same way (it must pass both), so that a broken
# baseline cannot make every mutant look caught.
# Exits non-zero if a mutant survives either check, no longer applies, or does not build.
#
#   model/scripts/mutants.sh             all mutants
#   model/scripts/mutants.sh backoff     only mutants whose name contains "backoff"
#
# Bounds (a mutant can make the state space much larger than the real code's; this machine is
# shared): the exhaustive check runs at MUTANTS_DEPTH (default 6, the default depth: the shortest
# counterexample for "revocation skipped" has 6 steps), stops at the first violation, generates
# at most MUTANTS_MAX_STATES states per search (default 5,000,000, for the check and
# for each re-run that looks for the shortest counterexample), and runs under
# `ulimit -v MUTANTS_MEM_KB` (default 6 GiB).
#
# The scratch copy is the committed tree (`git archive HEAD`, so that other work in progress
# elsewhere in the work tree cannot break the build) with the work tree's model/ on top. The
# production code has no switch for any of this: mutants exist only in the scratch copy.
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/credcycle-model-mutants.XXXXXX")
trap 'rm -rf "$work"' EXIT
git -C "$root" archive HEAD | tar -x -C "$work"
(cd "$root" && git ls-files -z --cached --others --exclude-standard -- model) |
  (cd "$root" && xargs -0 tar --ignore-failed-read -cf - 2>/dev/null) | tar -x -C "$work"
# Cargo decides what to rebuild by modification times, and `git archive` gives every file the
# commit's time: without this, a build of the last mutant in the shared target directory would
# look up to date.
find "$work" -type f -exec touch {} +
export CARGO_TARGET_DIR=${MUTANTS_TARGET_DIR:-$root/target/model-mutants}
depth=${MUTANTS_DEPTH:-6}
max_states=${MUTANTS_MAX_STATES:-5000000}
mem_kb=${MUTANTS_MEM_KB:-6291456}
jobs=${MUTANTS_JOBS:-1}
filter=${1:-}
checker="$CARGO_TARGET_DIR/release/examples/check"

# name ~ file ~ exact text to replace (whitespace-insensitive) ~ replacement ~ property that must
# be violated [~ why the replay cannot catch it, for a mutant of a rule the spec leaves out].
# A mutant that edits several places of its file separates them with @@ in both texts.
mutants=(
  "expiry guard off by one~crates/core/src/step.rs~if lifetime <= margin || deadline <= self.now.mono.saturating_add(margin) {~if lifetime < margin || deadline < self.now.mono.saturating_add(margin) {~INV-1"
  "margin ignored~crates/core/src/state.rs~let margin = policy.expiry_margin();\n        // INV-1: wall(t) + margin~let margin = Duration::ZERO; // INV-1:~INV-1"
  "monotonic check skipped~crates/core/src/state.rs~now.mono.saturating_add(margin) <= self.deadline~true~INV-1"
  "backoff gate skipped~crates/core/src/step.rs~// INV-4: nothing is requested before the refresh point or the end of the backoff.\n            if self.now.mono >= until {~if true {~INV-4"
  "revocation skipped~crates/core/src/step.rs~if self.s.is_revoked(creds.access_key_id()) {~if false {~INV-2"
  "single flight skipped~crates/core/src/step.rs~Input::Demand if cx.s.phase == Phase::Idle~Input::Demand if true~INV-3"
  "too-short guard ignores the request's duration~crates/core/src/step.rs~if lifetime <= margin || deadline <= self.now.mono.saturating_add(margin) {~if lifetime <= margin && deadline <= self.now.mono.saturating_add(margin) {~INV-1"
  "stale credentials reply taken~crates/core/src/step.rs~request: Request::FetchCredentials,\n                since,\n            } if *out == id => *since,~request: Request::FetchCredentials, since, } if { let _ = out; true } => *since,~INV-1~the spec answers only the outstanding request (R17 is left to the exhaustive check)"
  "revoke on a wall-only expiry~crates/core/src/step.rs~self.drop_held(DropReason::Expired, false);~self.drop_held(DropReason::Expired, true);~LIVE-1"
  "retry at the floor forever~crates/core/src/policy/schedule.rs~let doubling = self.doubling(failures);\n        match serving_left {\n            Some(left) => self.serving(doubling, left, jitter),\n            None => {\n                upper_half(doubling.min(self.backoff_cap_refusing), jitter).max(self.retry_floor)\n            }\n        }~let _ = (failures, serving_left, jitter); self.retry_floor~INV-4"
  "no backoff cap~crates/core/src/policy/schedule.rs~.min(self.backoff_cap_refusing)@@.min(self.backoff_cap_serving)~@@~INV-4"
)

# Applies the mutation's edits (OLD and NEW split at @@) to FILE in turn; prints why not.
apply_mutation() {
  local file=$1 old=$2 new=$3 o n
  while :; do
    o=${old%%@@*} n=${new%%@@*}
    python3 "$root/scripts/apply-mutation.py" "$file" "$o" "$n" 2>&1 || return 1
    [[ "$old" == *@@* ]] || return 0
    old=${old#*@@} new=${new#*@@}
  done
}

# Builds the scratch copy; runs the exhaustive check (bounded) and the replay. Sets $check_out,
# $check_rc, $replay_out; returns 1 if the build failed.
run_checks() {
  if ! build_out=$(cd "$work" && cargo build -q -j "$jobs" --release -p credcycle-model --example check 2>&1 &&
    cargo test -q -j "$jobs" --release -p credcycle-model --test replay --no-run 2>&1); then
    sed 's/^/    /' <<<"$build_out" | tail -20
    return 1
  fi
  check_rc=0
  check_out=$(ulimit -v "$mem_kb" && "$checker" "$depth" 1 "$max_states" 2>&1) || check_rc=$?
  replay_out=$(cd "$work" && ulimit -v "$mem_kb" &&
    cargo test -q -j "$jobs" --release -p credcycle-model --test replay -- --nocapture 2>&1 || true)
}

echo "exhaustive check at depth $depth, at most $max_states states per search, ulimit -v $mem_kb KiB"
echo "==> baseline: the unmutated core must pass both checks"
if ! run_checks; then
  echo "BASELINE DOES NOT BUILD"; exit 1
fi
if [ "$check_rc" -ne 0 ] || ! grep -q "test result: ok" <<<"$replay_out"; then
  echo "BASELINE FAILS (fix the model or the core first):"
  sed 's/^/    /' <<<"$check_out"; grep -A8 "diverges\|panicked" <<<"$replay_out" | sed 's/^/    /' || true
  exit 1
fi
head -1 <<<"$check_out" | sed 's/^/    /'
grep "replayed" <<<"$replay_out" | sed 's/^/    /' || true

survived=0
for m in "${mutants[@]}"; do
  IFS='~' read -r name file old new prop no_replay <<<"$m"
  [[ -z "$filter" || "$name" == *"$filter"* ]] || continue
  cp "$work/$file" "$work/$file.orig"
  if ! why=$(apply_mutation "$work/$file" "$old" "$new"); then
    echo "NOT APPLIED  $name ($file): $why; update this script"
    survived=$((survived + 1)); continue
  fi
  echo "==> mutant: $name ($file)"
  if ! run_checks; then
    echo "DOES NOT BUILD  $name: update this script"
    survived=$((survived + 1))
    mv "$work/$file.orig" "$work/$file"; touch "$work/$file"; continue
  fi
  # 1. The exhaustive check must report the expected property violated.
  if grep -Eq "always +$prop .*VIOLATED" <<<"$check_out"; then
    echo "caught by the exhaustive check ($prop):"
    grep "^exhaustive check" <<<"$check_out" | sed 's/^/    /'
    sed -n '/counterexample for/,$p' <<<"$check_out" | sed 's/^/    /'
  else
    echo "SURVIVED the exhaustive check (expected $prop VIOLATED; exit status $check_rc):"
    sed 's/^/    /' <<<"$check_out" | head -30
    survived=$((survived + 1))
  fi
  # 2. The replay of the committed Quint traces must diverge.
  if [ -n "$no_replay" ]; then
    echo "not for the trace replay: $no_replay"
  elif grep -q "diverge from the code" <<<"$replay_out"; then
    echo "caught by the trace replay:"
    grep -m1 -A5 " diverges at " <<<"$replay_out" | sed 's/^/    /' || true
  else
    echo "SURVIVED the trace replay:"
    grep -E "replayed|test result|panicked" <<<"$replay_out" | sed 's/^/    /' || true
    survived=$((survived + 1))
  fi
  mv "$work/$file.orig" "$work/$file"; touch "$work/$file"
done
echo "$survived mutant check(s) survived"
[ "$survived" -eq 0 ]
