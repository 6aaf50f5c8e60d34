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

mod day;
mod format;
mod timeline;

use core::time::Duration;
use std::error::Error;
use std::process::ExitCode;

use credcycle_core::testing::world::HarnessConfig;
use credcycle_core::{Input, MonoTime, Policy, Request, RoleName, StateKind, WallTime};

use day::Day;
use format::{dur, hms};

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
