#!/usr/bin/env bash
# Proof that the property tests bite: each mutant below breaks one rule of credcycle-core in a
# scratch copy of the committed tree, runs the property tests, and must be caught by the test
# named after the invariant it breaks. Exits non-zero if a mutant survives (or no longer applies).
#
#   scripts/mutation-check.sh            all mutants
#   scripts/mutation-check.sh backoff    only mutants whose name (or test) contains "backoff"
#   scripts/mutation-check.sh credcycle  only the Provider's mutants (their tests are credcycle/...)
#
# The production code has no switch for any of this: mutants exist only in the scratch copy.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d "${TMPDIR:-/tmp}/credcycle-mutants.XXXXXX")
trap 'rm -rf "$work"' EXIT
git -C "$root" archive HEAD | tar -x -C "$work"
# Keep the mutants' builds apart from the real tree's: pointed at the target dir you build the
# real tree in, cargo may later reuse an artifact built from a mutated copy.
export CARGO_TARGET_DIR=${MUTANTS_TARGET_DIR:-$root/target/mutants}
export PROPTEST_CASES=${PROPTEST_CASES:-10000}
filter=${1:-}

# name ~ file ~ exact text to replace (whitespace-insensitive) ~ replacement ~ test that must fail
# The test is a property test of credcycle-tests (props::NAME), or PACKAGE/TARGET/FILTER for a
# test elsewhere.
mutants=(
  "expiry margin ignored~crates/core/src/state.rs~now.wall.saturating_add(margin) <= self.expiration~now.wall <= self.expiration~inv_1_no_expired_handout"
  "monotonic check skipped~crates/core/src/state.rs~now.mono.saturating_add(margin) <= self.deadline~true~inv_1_no_expired_handout"
  "backoff gate skipped~crates/core/src/step.rs~// INV-4: nothing is requested before the refresh point or the end of the backoff.\n            if self.now.mono >= until {~if true {~inv_4_no_hammering"
  "dropped sets taken back~crates/core/src/step.rs~if self.s.is_revoked(creds.access_key_id()) {~if false {~inv_2_no_revoked_handout"
  "role removal keeps the held set~crates/core/src/step.rs~self.drop_held(DropReason::RoleGone, true);~~inv_2_no_revoked_handout"
  "single flight skipped~crates/core/src/step.rs~Input::Demand if cx.s.phase == Phase::Idle~Input::Demand if true~inv_3_single_flight"
  "not-rotated answer accepted~crates/core/src/step.rs~expiration <= newest~expiration < newest~inv_4_no_hammering"
  "regression check removed~crates/core/src/step.rs~if self.s.newest.is_some_and(|newest| expiration <= newest) {~if false {~inv_5_no_regression"
  "revoke on a wall-only expiry~crates/core/src/step.rs~self.drop_held(DropReason::Expired, false);~self.drop_held(DropReason::Expired, true);~live_1_recovery"
  "retry at the floor forever~crates/core/src/policy/schedule.rs~let doubling = self.doubling(failures);~let doubling = self.doubling(failures); if failures > 0 { return self.retry_floor; }~inv_4_no_hammering"
  "no backoff cap~crates/core/src/policy/schedule.rs~upper_half(doubling.min(self.backoff_cap_refusing), jitter)~upper_half(doubling, jitter)~inv_4_no_hammering"
  "no serving cap~crates/core/src/policy/schedule.rs~upper_half(ceiling.min(self.backoff_cap_serving), jitter)~upper_half(ceiling, jitter)~inv_4_no_hammering"
  "polling closes in below the base~crates/core/src/policy/schedule.rs~.min(left.saturating_mul(3) / 4) .max(self.backoff_base)~.min(left / 2).max(self.retry_floor)~inv_4_no_hammering"
  "HTTP attempts multiply the schedule~crates/core/src/step.rs~let failures = self.s.failure_count().saturating_add(spent);~let failures = self.s.failure_count().saturating_add(1);~inv_4_no_hammering"
  "hot path ignores the coarse lead~crates/provider/src/provider/snapshot.rs~.saturating_sub(lag) .saturating_sub(lead),~.saturating_sub(lag),~credcycle/it/hot_path::"
  "hot path ignores the coarse lag on the wall clock~crates/provider/src/provider/snapshot.rs~.saturating_sub(policy.expiry_margin()) .saturating_sub(lag),~.saturating_sub(policy.expiry_margin()),~credcycle/it/hot_path::"
  "serve skips the Host check~crates/cli/src/serve.rs~if !host_allowed(&req, local.ip()) {~if false {~credcycle-cli/it/serve::a_host_that_is_not_a_loopback_name_is_refused"
  "serve accepts any token~crates/cli/src/serve.rs~if !bool::from(given.ct_eq(expected.as_bytes())) {~if false {~credcycle-cli/it/serve::without_a_token_configured_it_generates_one"
  "could-not-connect retried off EC2~crates/imds/src/exchange/steps.rs~&& !never_connected {~{~credcycle-imds/it/off_ec2_the_client_says_it_could_not_connect_at_once"
  "inherited AWS_EC2_METADATA_DISABLED beats --endpoint~crates/cli/src/main.rs~let overridden = endpoint.is_some()~let overridden = false~credcycle-cli/it/get::an_explicit_endpoint_wins_over_an_inherited_disable"
  # Issue 10: the Provider's exits, caught by its property test (findings 1, 2 and 11).
  "invalidate publishes only after its refresh~crates/provider/src/provider.rs~// INV-2 before any request goes out: the hot path stops passing the rejected set now.\n        shared.publish(&lifecycle);~~credcycle/it/props::"
  "refreshing caller returns the set it checked before its refresh~crates/provider/src/provider/snapshot.rs~|| !shared.refresh_and_wait() {~|| { shared.refresh_and_wait(); true } {~credcycle/it/props::"
  "wall bound plus 1 h~crates/provider/src/provider/snapshot.rs~.saturating_sub(policy.expiry_margin()) .saturating_sub(lag), caller_refresh_at,~.saturating_sub(policy.expiry_margin()).saturating_sub(lag).saturating_add(Duration::from_secs(3600)), caller_refresh_at,~credcycle/it/props::"
  "lag subtraction dropped~crates/provider/src/provider/snapshot.rs~.saturating_add(left) .saturating_sub(lag) .saturating_sub(lead),~.saturating_add(left).saturating_sub(lead),~credcycle/it/props::"
  "coarse and precise reads swapped~crates/provider/src/provider/snapshot.rs~let coarse = self.clock.coarse(); let now = self.clock.now();~let coarse = self.clock.now(); let now = self.clock.coarse();~credcycle/it/props::"
  "conform counts no expired hand-out~crates/cli/src/conform/judge.rs~} else if h.expired {~} else if false {~credcycle-cli/conform/replays_an_expired_key"
  "conform --require ignores expired hand-outs~crates/cli/src/conform.rs~if expired > 0 {~if false {~credcycle-cli/conform/replays_an_expired_key"
  # Issue 12: the pictures say what happened.
  "demo draws refusals as hand-outs~crates/cli/src/demo/drawn.rs~cell.refusals += 1;~cell.handouts += 1;~credcycle-cli/pictures/the_outage_is_drawn_as_the_story_promises"
  "timeline draws no refresh window~crates/cli/src/timeline.rs~(refresh, usable, REFRESH),~(refresh, usable, SET),~credcycle-cli/pictures/committed_demo_timeline_is_fresh"
  "explorer's world hides its kind~model/src/world.rs~.field(\"kind\", &self.core.kind())~~credcycle-model/check/explorer_steps_name_the_kinds_and_the_rule"
  # Issue 13: metrics (ProviderStats, serve's /metrics and /healthz).
  "metrics: hot-path hand-outs counted nowhere~crates/provider/src/stats.rs~stripe.0.fetch_add(1, Ordering::Relaxed);~let _ = stripe;~credcycle/it/stats::"
  "metrics: IMDS replies not counted~crates/provider/src/provider/refresh.rs~lifecycle.imds.record(&reply);~~credcycle/it/stats::"
  "metrics: time left ignores the wall clock~crates/provider/src/provider.rs~Some(mono.min(wall))~Some(mono.min(wall.max(mono)))~credcycle/it/stats::"
  "metrics: /healthz always healthy~crates/cli/src/serve/metrics.rs~let healthy = stats.usable_for.is_some();~let healthy = true;~credcycle-cli/it/metrics::healthz_is_503"
  "metrics: serve skips the Host check~crates/cli/src/serve.rs~if !host_allowed(&req, local.ip()) {~if false {~credcycle-cli/it/metrics::monitoring_is_under_the_host_check"
  # Issue 13: the container source (its allow-list is covered by credcycle-imds's unit tests: a
  # mutant there would make the CLI test connect to a non-loopback address).
  "container token file never read~crates/imds/src/container/config.rs~Self::File { path, .. } => read_token_file(path).map(Some),~Self::File { .. } => Ok(None),~credcycle-cli/it/container::get_follows_a_token_file"
  "container 401 retried~crates/imds/src/container/client.rs~status @ (401 | 403) => return Err(ContainerError::Unauthorized { status }),~status @ (401 | 403) => ContainerError::Unauthorized { status },~credcycle-cli/it/container::get_follows_a_token_file"
  # Issue 13: the shared config file's profile layer and credcycle doctor.
  "profile endpoint ignored~crates/imds/src/config/builder.rs~} else if let Some(endpoint) = profile.parse(keys::ENDPOINT, |v| Ok(Endpoint::parse(v)?))?~} else if let Some(endpoint) = None::<Endpoint>~credcycle-cli/it/profile::get_uses_the_endpoint_of_the_profile"
  "profile endpoint beats the environment~crates/imds/src/config/builder.rs~} else if let Some(endpoint) = env.parse(vars::ENDPOINT, |v| Ok(Endpoint::parse(v)?))? {~} else if let Some(endpoint) = profile.parse(keys::ENDPOINT, |v| Ok(Endpoint::parse(v)?))?.or(env.parse(vars::ENDPOINT, |v| Ok(Endpoint::parse(v)?))?) {~credcycle-cli/it/profile::the_environment_beats_the_profile"
  "doctor forgets the hop-limit fix~crates/cli/src/doctor/token.rs~.fix(HOP_LIMIT_FIX)~~credcycle-cli/it/doctor::dropped_token_puts_name_the_hop_limit"
  "doctor exits 0 at a failed step~crates/cli/src/doctor.rs~Some(step) => Err(Failure(format!(\"doctor: the {step} step failed\"))),~Some(_) => Ok(()),~credcycle-cli/it/doctor::a_closed_port_stops_at_connect"
)

survived=0
for m in "${mutants[@]}"; do
  IFS='~' read -r name file old new test <<<"$m"
  [[ -z "$filter" || "$name" == *"$filter"* || "$test" == *"$filter"* ]] || continue
  cp "$work/$file" "$work/$file.orig"
  if ! python3 "$root/scripts/apply-mutation.py" "$work/$file" "$old" "$new"; then
    echo "NOT APPLIED  $name ($file): update this script"; survived=$((survived + 1)); continue
  fi
  if [[ "$test" == */* ]]; then
    IFS='/' read -r package target test <<<"$test"
  else
    package=credcycle-tests target=it test="props::$test"
  fi
  out=$(cd "$work" && cargo test -q -p "$package" --test "$target" "$test" 2>&1 || true)
  if grep -q "$test" <<<"$(sed -n '/^failures:/,$p' <<<"$out")"; then
    why=$(grep -m1 -oE '(INV|LIVE)-[0-9] violated: .*|handed out .*|no usable credentials within [^,]*|assertion .*' <<<"$out" |
      sed -E 's/[.;]* *minimal failing input.*//; s/\.$//' | cut -c1-160 || true)
    echo "caught       $name -> $test: $why"
  else
    echo "SURVIVED     $name (expected $test to fail)"; survived=$((survived + 1))
  fi
  mv "$work/$file.orig" "$work/$file"
done
echo "$survived mutant(s) survived"
[ "$survived" -eq 0 ]
