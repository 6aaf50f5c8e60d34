//! # A day in the life of EC2 instance-profile credentials
//!
//! This example drives [`credcycle_core::Machine`] through one scripted day of an EC2 instance
//! and prints a timeline you can follow line by line:
//!
//! 1. **attach**: the instance boots with the role `web-server`; the first caller's demand makes
//!    the machine list the role and fetch credentials (valid for 6 hours, as EC2 gives them).
//! 2. **serve**: callers get those credentials.
//! 3. **refresh ahead**: well before expiry the machine asks again; IMDS first answers with the
//!    same set (not rotated yet), which is retried on the backoff schedule, then with a new set.
//! 4. **outage**: IMDS stops answering. The credentials are served while they are usable, then
//!    refused once inside the 60 s expiry margin; retries are capped at 10 s from then on.
//! 5. **recovery**: IMDS answers again, and credentials are back within seconds.
//! 6. **role change**: the instance profile is replaced; the old role's path answers 404, so
//!    the old credentials are dropped at once (INV-2) and the new role is discovered.
//! 7. **detach**: the instance profile is removed; the role listing answers 404.
//! 8. **re-attach**: a profile is associated again; credentials follow.
//! 9. **shutdown**.
//!
//! Run it with:
//!
//! ```text
//! cargo run --example lifecycle -p credcycle-core
//! ```
//!
//! It reads no clock, never sleeps and opens no socket: the core is sans-IO, so the example owns
//! the time (a [`Now`] it moves forward by hand) and plays IMDS itself. It does both with the
//! same world the property tests and the liveness checks run in,
//! [`credcycle_core::testing::world`]: an [`ImdsModel`](credcycle_core::testing::world::ImdsModel) that holds one current set and
//! re-serves it until it rotates, as EC2 does, and the [`Harness`] that drives the real
//! [`credcycle_core::Machine`] and checks every input and every hand-out with the invariants'
//! oracle. The story only says what happens in the world (IMDS goes down, the role changes);
//! the whole day runs in milliseconds and prints the same timeline every time.
//!
//! ## The drive loop
//!
//! Everything goes through the harness, which follows the contract of `Machine`:
//!
//! 1. feed one input with the current time (`Harness::input`, which calls
//!    `machine.handle_input(now, input)`);
//! 2. drain `machine.poll_action()`: the example prints the events, and answers the request
//!    (there is at most one) with the reply input carrying the same id (`Harness::answer`);
//! 3. to let time pass, jump the clock to `machine.poll_timeout()` and feed `Input::Tick`
//!    (`Harness::wake_up`); a real program would sleep until then.
//!
//! A caller that wants credentials sends `Input::Demand`, then reads `machine.credentials(now)`:
//! either a hand-out that passed the expiry check at `now`, or a `Refusal` saying why not.
//!
//! ## Reading the timeline
//!
//! ```text
//! 10:50:59  t+17459.512s   Refreshing -> BackingOff   R5 NotRotated  <- 200 ASIAEXAMPLE00001 again...
//! wall time monotonic time state kind: from -> to     rule that fired what happened
//! ```
//!
//! `<-` is IMDS's answer to the previous request, `GET` a request the machine asks for (paths
//! are shortened: `...` stands for `/latest/meta-data`). The monotonic time is printed the way
//! the core prints it (`t+` seconds since boot), so that the times inside refusals can be found
//! in the timeline. `caller` lines are hand-outs and refusals; `(folded)` lines stand for a run
//! of retries that would not fit on a screen, with the shortest and longest backoff delay. The
//! oracle checks every step as it happens (no hand-out with less than 60 s of validity left,
//! INV-1; no dropped set handed out again, INV-2; the retry schedule, INV-4; ...): the example
//! stops and exits non-zero at the first violation.

use core::time::Duration;
use std::collections::BTreeMap;
use std::error::Error;
use std::process::ExitCode;

use credcycle_core::testing::world::{Answer, Harness, HarnessConfig};
use credcycle_core::{
    Action, DropReason, Event, ImdsFailure, Input, Machine, MonoTime, Now, Policy, Refusal,
    Request, RoleName, Rule, StateKind, WallTime,
};

type Res<T = ()> = Result<T, Box<dyn Error>>;

/// 2026-11-28T06:00:00Z: the instance boots (and the monotonic clock starts at zero).
const BOOT: WallTime = WallTime::from_unix_secs(1_795_845_600);
/// How long instance-profile credentials are valid when IMDS hands them out.
const LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// EC2 publishes the next set at least this long before the current one expires.
const ROTATE_BEFORE: Duration = Duration::from_secs(5 * 60);
/// How long our pretend HTTP client waits for IMDS before giving up (the SDKs' default).
const HTTP_TIMEOUT: Duration = Duration::from_secs(1);
/// A bound on wake-ups in one call, so that a bug cannot loop forever.
const MAX_WAKES: usize = 10_000;
/// Width of the time columns, so that notes line up with the state column.
const STAMP_WIDTH: usize = 8 + 2 + 12;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Plays the story; an error at the first invariant the oracle sees broken.
fn run() -> Res {
    let web = RoleName::new("web-server")?;
    let web_v2 = RoleName::new("web-server-v2")?;
    // The seed drives the jitter of refreshes and retries: the same seed, the same day.
    let mut day = Day::new(HarnessConfig {
        policy: Policy::default(),
        seed: 2026,
        lifetime: LIFETIME,
        rotate_before: ROTATE_BEFORE,
        start: BOOT,
    });
    day.h.imds.attach_role(web.clone());
    day.header();
    attach(&mut day)?;
    serve(&mut day)?;
    refresh_ahead(&mut day)?;
    outage(&mut day)?;
    recovery(&mut day)?;
    role_change(&mut day, web_v2)?;
    detach(&mut day)?;
    reattach(&mut day, web)?;
    shutdown(&mut day)?;
    day.summary()
}

/// Nothing happens until a caller asks: the first demand lists the role, then fetches its
/// credentials, and the caller is served as soon as they arrive.
fn attach(day: &mut Day) -> Res {
    day.chapter("1. attach: the instance boots; its instance profile's role is \"web-server\"");
    day.demand()
}

/// Serving needs no IMDS request: the machine only wakes at its refresh point.
fn serve(day: &mut Day) -> Res {
    day.chapter("2. serve: callers use the credentials; IMDS is not asked again");
    day.run_until(at(0, 6, 15))?;
    day.demand()?;
    day.run_until(at(0, 9, 30))?;
    day.demand()
}

/// The refresh starts well before the usable deadline (Expiration minus the margin). An answer
/// with the same set is "not rotated yet": retried on the backoff schedule, never at once.
fn refresh_ahead(day: &mut Day) -> Res {
    let refresh = day.h.machine.poll_timeout().ok_or("no refresh scheduled")?;
    let usable = day.usable_until().ok_or("no credentials held")?;
    // Real EC2 only promises a new set 5 minutes before expiry; this script rotates sooner.
    let rotate_at = wall_of(refresh).saturating_add(Duration::from_secs(3));
    day.h.imds.schedule_rotation(rotate_at);
    day.chapter(&format!(
        "3. refresh ahead, {} before the usable deadline; in this script IMDS rotates at {}",
        dur(usable.saturating_duration_since(refresh)),
        hms(rotate_at),
    ));
    let generation = day.h.machine.state().generation();
    day.wake_until("a new set", |m| m.state().generation() > generation)?;
    day.demand()
}

/// IMDS fails every request. The credentials are served while usable, with retries spaced
/// out (up to 5 min, closing in on the deadline); inside the margin they are dropped and every
/// caller is refused, with the reason; retries are then capped at 10 s.
fn outage(day: &mut Day) -> Res {
    day.chapter("4. outage: from 15:00 every IMDS request times out or answers HTTP 500");
    day.run_until(at(0, 15, 0))?;
    day.down = true;
    day.wake_until("a failed refresh", |m| m.kind() == StateKind::BackingOff)?;
    day.wake()?;
    day.wake()?;
    day.fold();
    let usable = day.usable_until().ok_or("no credentials held")?;
    day.run_until(usable.saturating_sub(Duration::from_secs(10 * 60)))?;
    day.callers(2)?;
    day.run_until(usable.saturating_sub(Duration::from_secs(5)))?;
    day.demand()?;
    day.wake_until("expiry", |m| m.kind() == StateKind::Unavailable)?;
    day.unfold();
    day.callers(2)?;
    day.wake()?;
    day.wake()?;
    day.fold();
    day.run_until(at(0, 17, 0))
}

/// LIVE-1: once IMDS answers again, credentials follow within the refusing cap.
fn recovery(day: &mut Day) -> Res {
    day.chapter("5. recovery: at 17:00 IMDS answers again");
    day.down = false;
    let healed = day.h.now.mono;
    day.wake_until("credentials", |m| m.kind() == StateKind::Fresh)?;
    day.note(&format!(
        "usable credentials {} after IMDS came back (LIVE-1)",
        dur(day.h.now.mono.saturating_duration_since(healed))
    ));
    day.demand()
}

/// The old role's path answers 404: its credentials are dropped at once (INV-2) although
/// they have time left, and the new role is discovered.
fn role_change(day: &mut Day, new_role: RoleName) -> Res {
    day.chapter("6. role change: at 18:00 the profile is replaced; its role is \"web-server-v2\"");
    day.run_until(at(0, 18, 0))?;
    day.h.imds.attach_role(new_role);
    day.demand()?;
    day.note("the machine cannot know yet: it learns of the change at its next request");
    day.wake_until("the role gone", |m| m.state().role().is_none())?;
    day.demand()?;
    day.wake_until("credentials", |m| m.kind() == StateKind::Fresh)?;
    day.demand()
}

/// No instance profile: the role listing answers 404; callers are told so, and the machine
/// looks again every few seconds.
fn detach(day: &mut Day) -> Res {
    day.chapter("7. detach: at 01:00 the instance profile is removed");
    day.run_until(at(1, 1, 0))?;
    day.h.imds.detach();
    day.wake_until("detached", |m| m.kind() == StateKind::Detached)?;
    day.demand()?;
    day.fold();
    day.run_for(Duration::from_secs(60))
}

fn reattach(day: &mut Day, role: RoleName) -> Res {
    day.chapter("8. re-attach: an instance profile with the role \"web-server\" is associated");
    day.h.imds.attach_role(role);
    day.wake_until("credentials", |m| m.kind() == StateKind::Fresh)?;
    day.demand()
}

/// Shutdown drops the credentials (their secrets are zeroized) and refuses from then on.
fn shutdown(day: &mut Day) -> Res {
    day.chapter("9. shutdown: the program exits");
    day.run_for(Duration::from_secs(60))?;
    day.send(Input::Shutdown, None)?;
    day.demand()?;
    day.note(&format!("poll_timeout: {:?}", day.h.machine.poll_timeout()));
    Ok(())
}

/// The wall time at a monotonic instant: the example's two clocks run together.
fn wall_of(t: MonoTime) -> WallTime {
    BOOT.saturating_add(t.saturating_duration_since(MonoTime::ZERO))
}

/// A moment of the story: `days` after the boot day, at `hour:minute` UTC, on the monotonic
/// clock (which started at zero at boot, 06:00).
fn at(days: u64, hour: u64, minute: u64) -> MonoTime {
    let since_boot_day = ((days * 24 + hour) * 60 + minute) * 60_000;
    MonoTime::from_millis(since_boot_day.saturating_sub(6 * 3600 * 1000))
}

/// The path of what the machine asked IMDS for (`...` stands for `/latest/meta-data`); a
/// credentials request asks for the machine's role.
fn path(request: Request, role: Option<&RoleName>) -> String {
    match (request, role) {
        (Request::FetchCredentials, Some(role)) => {
            format!(".../iam/security-credentials/{role}")
        }
        (Request::DiscoverRole | Request::FetchCredentials, _) => {
            ".../iam/security-credentials/".to_owned()
        }
    }
}

// ---- the driver: the world's harness, and the timeline ----

/// Attempts hidden from the timeline while folding, so that a long outage fits on a screen.
#[derive(Default)]
struct Fold {
    attempts: u32,
    min_gap: Option<Duration>,
    max_gap: Option<Duration>,
}

/// What IMDS was asked, and how it answered.
#[derive(Default)]
struct ImdsCounts {
    listings: u32,
    fetches: u32,
    errors: u32,
    not_rotated: u32,
}

impl ImdsCounts {
    fn requests(&self) -> u32 {
        self.listings + self.fetches
    }
}

/// The example's world: the harness (machine, clocks, IMDS, oracle), what the story says of
/// IMDS, and what the timeline saw.
struct Day {
    h: Harness,
    /// While set, every IMDS request fails: odd ones time out, even ones answer HTTP 500.
    down: bool,
    imds: ImdsCounts,
    folding: bool,
    fold: Fold,
    /// When the last reply came in: a retry's gap, that is its backoff delay, counts from it.
    last_reply: Option<MonoTime>,
    handouts: u32,
    least_left: Option<Duration>,
    refusals: BTreeMap<&'static str, u32>,
}

impl Day {
    fn new(config: HarnessConfig) -> Self {
        let mut h = Harness::new(config);
        // The story counts the monotonic clock from boot.
        h.now = Now::new(MonoTime::ZERO, BOOT);
        Self {
            h,
            down: false,
            imds: ImdsCounts::default(),
            folding: false,
            fold: Fold::default(),
            last_reply: None,
            handouts: 0,
            least_left: None,
            refusals: BTreeMap::new(),
        }
    }

    // ---- driving the machine ----

    /// Feeds one input, prints what changed, and answers the request it made, if any.
    /// `note` describes the input when it is IMDS's reply.
    fn send(&mut self, input: Input, note: Option<String>) -> Res<Rule> {
        let from = self.h.machine.kind();
        self.h.input(input)?;
        self.show(from, note)
    }

    /// Prints what the last input changed (from state `from`), and answers the request it
    /// made, if any.
    fn show(&mut self, from: StateKind, note: Option<String>) -> Res<Rule> {
        let rule = self
            .h
            .trace
            .last()
            .map(|row| row.rule)
            .ok_or("no input yet")?;
        let to = self.h.machine.kind();
        let mut detail: Vec<String> = note.into_iter().collect();
        for action in std::mem::take(&mut self.h.actions) {
            if let Action::Notify(event) = action {
                detail.extend(self.describe(&event));
            }
        }
        let request = self.h.pending().copied();
        if let Some(request) = request {
            detail.push(format!(
                "GET {}",
                path(request, self.h.machine.state().role())
            ));
            self.count_request();
        }
        if from != to || !detail.is_empty() {
            self.state_line(from, to, rule, &detail.join("; "));
        }
        if let Some(request) = request {
            self.answer(&request)?;
        }
        Ok(rule)
    }

    /// IMDS answers the outstanding request: with failures while it is down, else as a
    /// healthy IMDS does (the current set, again until it rotates).
    fn answer(&mut self, request: &Request) -> Res<Rule> {
        match request {
            Request::DiscoverRole => self.imds.listings += 1,
            Request::FetchCredentials => self.imds.fetches += 1,
        }
        let from = self.h.machine.kind();
        let note = if self.down {
            self.imds.errors += 1;
            if self.imds.requests() % 2 == 1 {
                self.h.advance(HTTP_TIMEOUT)?;
                self.h.answer(&Answer::Fail(ImdsFailure::Timeout))?;
                format!("<- no answer within {}", dur(HTTP_TIMEOUT))
            } else {
                self.h.answer(&Answer::Fail(ImdsFailure::HttpStatus(500)))?;
                "<- HTTP 500".to_owned()
            }
        } else {
            self.healthy_answer(request)?
        };
        self.last_reply = Some(self.h.now.mono);
        self.show(from, Some(note))
    }

    /// A healthy IMDS's answer, and how the timeline says it.
    fn healthy_answer(&mut self, request: &Request) -> Res<String> {
        let attached = self.h.imds.attached.clone();
        let asked = self.h.machine.state().role().cloned();
        let before = self.h.imds.current().map(|c| c.access_key_id.clone());
        self.h.answer(&Answer::Healthy)?;
        let note = match (request, attached) {
            (_, None) => "<- 404: no instance profile".to_owned(),
            (Request::DiscoverRole, Some(role)) => return Ok(format!("<- 200 \"{role}\"")),
            (Request::FetchCredentials, Some(role)) if asked.as_ref() != Some(&role) => {
                "<- 404: no such role".to_owned()
            }
            (Request::FetchCredentials, Some(_)) => {
                let set = self.h.imds.current().ok_or("IMDS served no set")?;
                if before.as_ref() == Some(&set.access_key_id) {
                    self.imds.not_rotated += 1;
                    return Ok(format!(
                        "<- 200 {} again: not rotated yet",
                        set.access_key_id
                    ));
                }
                return Ok(format!(
                    "<- 200 {}, expires {}",
                    set.access_key_id,
                    hms(set.expiration)
                ));
            }
        };
        self.imds.errors += 1;
        Ok(note)
    }

    /// Sleeps until the machine's next deadline, then ticks.
    fn wake(&mut self) -> Res<Rule> {
        if self.h.machine.poll_timeout().is_none() {
            return Err("the machine has no deadline".into());
        }
        let from = self.h.machine.kind();
        self.h.wake_up()?;
        self.show(from, None)
    }

    /// Wakes the machine at every deadline up to `end`, then moves the clock to `end`.
    fn run_until(&mut self, end: MonoTime) -> Res {
        for _ in 0..MAX_WAKES {
            match self.h.machine.poll_timeout() {
                Some(at) if at <= end => {
                    self.wake()?;
                }
                _ => return self.advance_to(end),
            }
        }
        Err("too many wake-ups".into())
    }

    fn run_for(&mut self, d: Duration) -> Res {
        self.run_until(self.h.now.mono.saturating_add(d))
    }

    /// Wakes the machine at its deadlines until `done` holds.
    fn wake_until(&mut self, what: &str, done: impl Fn(&Machine) -> bool) -> Res {
        for _ in 0..MAX_WAKES {
            if done(&self.h.machine) {
                return Ok(());
            }
            self.wake()?;
        }
        Err(format!("never reached: {what}").into())
    }

    /// Moves both clocks to `t` (the oracle checks a hand-out on the way).
    fn advance_to(&mut self, t: MonoTime) -> Res {
        Ok(self
            .h
            .advance(t.saturating_duration_since(self.h.now.mono))?)
    }

    // ---- callers ----

    /// One caller wants credentials: a demand, then the hand-out, checked by the oracle.
    fn demand(&mut self) -> Res {
        let first = (self.h.machine.kind() == StateKind::Idle).then(|| "first demand".to_owned());
        self.send(Input::Demand, first)?;
        if let Some(handout) = self.h.probe()? {
            let creds = handout.credentials();
            let key = creds.access_key_id().clone();
            let left = creds
                .expiration()
                .saturating_duration_since(self.h.now.wall);
            self.handouts += 1;
            self.least_left = Some(self.least_left.map_or(left, |l| l.min(left)));
            let kind = self.h.machine.kind();
            self.caller_line(&format!("gets {key}, {} left ({kind})", dur(left)));
        } else if let Err(refusal) = self.h.machine.credentials(self.h.now) {
            *self.refusals.entry(refusal_label(&refusal)).or_default() += 1;
            self.caller_line(&format!("refused: {refusal}"));
        }
        Ok(())
    }

    /// `n` callers at the same moment: shows that demands alone cause no IMDS request while
    /// backing off (INV-4).
    fn callers(&mut self, n: u32) -> Res {
        let before = self.imds.requests();
        for _ in 0..n {
            self.demand()?;
        }
        let kind = self.h.machine.kind();
        let requests = self.imds.requests() - before;
        self.note(&format!(
            "{n} demands while {kind}: {requests} IMDS requests (INV-4)"
        ));
        Ok(())
    }

    // ---- reading the machine ----

    /// The monotonic instant from which the held credentials are no longer served.
    fn usable_until(&self) -> Option<MonoTime> {
        let held = self.h.machine.state().held()?;
        Some(held.usable_until(self.h.machine.policy()))
    }

    /// A short text for an event, or `None` when the line already says it.
    fn describe(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::RoleDiscovered { .. } => None,
            Event::Accepted { refresh_at, .. } => {
                Some(format!("refresh due {}", hms(wall_of(*refresh_at))))
            }
            Event::Dropped {
                access_key_id,
                reason,
            } => Some(format!(
                "dropped {access_key_id} ({})",
                drop_reason(*reason)
            )),
            Event::AttemptFailed {
                failures, retry_at, ..
            } => Some(format!(
                "failure #{failures}, retry in {}",
                dur(retry_at.saturating_duration_since(self.h.now.mono))
            )),
        }
    }

    // ---- the timeline ----

    fn header(&self) {
        let p = self.h.machine.policy();
        println!(
            "credcycle: one day of an EC2 instance's credentials (manual clock, simulated IMDS)"
        );
        println!(
            "boot {BOOT}; expiry margin {}; backoff from {}, capped at {} while serving, {} while refusing",
            dur(p.expiry_margin()),
            dur(p.backoff_base()),
            dur(p.backoff_cap_serving()),
            dur(p.backoff_cap_refusing()),
        );
        println!(
            "columns: wall time, monotonic time, state change, rule, what happened (<- IMDS answer)"
        );
    }

    fn chapter(&mut self, title: &str) {
        self.unfold();
        println!("\n== {title}");
    }

    fn stamp(&self) -> String {
        format!(
            "{}  {:>12}",
            hms(self.h.now.wall),
            self.h.now.mono.to_string()
        )
    }

    fn state_line(&mut self, from: StateKind, to: StateKind, rule: Rule, detail: &str) {
        let attempt = matches!(
            rule,
            Rule::Refresh
                | Rule::Retry
                | Rule::Fail
                | Rule::NotRotated
                | Rule::RejectStale
                | Rule::Abandon
                | Rule::Detach
        );
        if self.folding && attempt {
            return;
        }
        self.flush_fold();
        let rule = format!("{} {rule:?}", rule.id());
        let (from, to) = (from.name(), to.name());
        println!(
            "{}  {from:>11} -> {to:<11}  {rule:<14} {detail}",
            self.stamp()
        );
    }

    fn caller_line(&mut self, text: &str) {
        self.flush_fold();
        println!("{}  {:>11} {text}", self.stamp(), "caller");
    }

    fn note(&mut self, text: &str) {
        self.flush_fold();
        println!("{:STAMP_WIDTH$}  {:>11} {text}", "", "note");
    }

    /// From now on, hide attempt lines (retries and their failures), counting them.
    fn fold(&mut self) {
        self.folding = true;
    }

    fn unfold(&mut self) {
        self.flush_fold();
        self.folding = false;
    }

    fn count_request(&mut self) {
        let gap = self
            .last_reply
            .map(|t| self.h.now.mono.saturating_duration_since(t));
        if self.folding {
            let fold = &mut self.fold;
            fold.attempts += 1;
            if let Some(gap) = gap {
                fold.min_gap = Some(fold.min_gap.map_or(gap, |g| g.min(gap)));
                fold.max_gap = Some(fold.max_gap.map_or(gap, |g| g.max(gap)));
            }
        }
    }

    fn flush_fold(&mut self) {
        let fold = std::mem::take(&mut self.fold);
        if fold.attempts == 0 {
            return;
        }
        let n = fold.attempts;
        let what = if n == 1 { "attempt" } else { "attempts" };
        let gaps = match (fold.min_gap, fold.max_gap) {
            (Some(min), Some(max)) if min == max => {
                format!(", retried {} after the failure", dur(min))
            }
            (Some(min), Some(max)) => {
                format!(", retried {} to {} after each failure", dur(min), dur(max))
            }
            _ => String::new(),
        };
        println!(
            "{:STAMP_WIDTH$}  {:>11} {n} more {what} like these{gaps}",
            "", "(folded)"
        );
    }

    /// Prints the totals and what the oracle checked; an error if a step was not in the table.
    fn summary(&mut self) -> Res {
        self.unfold();
        println!("\n== summary");
        let least = self.least_left.map_or_else(|| "-".to_owned(), dur);
        println!(
            "hand-outs   {:>3}  (least validity left at a hand-out: {least})",
            self.handouts
        );
        let total: u32 = self.refusals.values().sum();
        let by_reason: Vec<String> = self
            .refusals
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        println!("refusals    {total:>3}  ({})", by_reason.join(", "));
        let imds = &self.imds;
        println!(
            "IMDS        {:>3}  requests ({} role listings, {} credential fetches): {} failed, {} not rotated",
            imds.requests(),
            imds.listings,
            imds.fetches,
            imds.errors,
            imds.not_rotated,
        );
        let stats = self.h.machine.stats();
        println!(
            "machine     {:>3}  inputs, {} stale replies",
            stats.inputs, stats.stale_replies
        );
        if let Some(edge) = self.h.unexpected_edges.first() {
            return Err(format!("a step the transition table lacks: {edge:?}").into());
        }
        println!(
            "checks      OK    the oracle checked {} hand-outs and {} requests as they happened: \
                 each hand-out had at least {} left (INV-1), no dropped set came back (INV-2), \
                 the retry schedule held (INV-4), every step was in the transition table",
            self.h.oracle.handouts,
            self.h.oracle.requests,
            dur(self.h.machine.policy().expiry_margin()),
        );
        Ok(())
    }
}

// ---- formatting ----

/// `HH:MM:SS` of a wall time (UTC).
fn hms(t: WallTime) -> String {
    let secs = t.as_unix_millis().div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// A duration as people read it: `5h59m58s`, `4m05s`, `0.61s`.
fn dur(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}.{:02}s", d.subsec_millis() / 10)
    }
}

fn drop_reason(reason: DropReason) -> &'static str {
    match reason {
        DropReason::Expired => "inside the margin, INV-1",
        DropReason::RoleGone => "role gone, INV-2",
        DropReason::NoInstanceProfile => "no instance profile, INV-2",
        DropReason::Invalidated => "rejected by AWS",
        DropReason::Shutdown => "shutdown",
    }
}

fn refusal_label(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::Idle => "not started",
        Refusal::Discovering => "discovering",
        Refusal::Fetching { .. } => "fetching",
        Refusal::Expired { .. } => "expired",
        Refusal::Unavailable { .. } => "backing off",
        Refusal::Detached { .. } => "no instance profile",
        Refusal::Stopped => "stopped",
        _ => "other",
    }
}
