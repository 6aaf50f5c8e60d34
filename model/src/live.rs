//! Liveness as bounded response. Stateright's `eventually` needs terminal states, and this
//! model has none, so LIVE-1 and LIVE-2 are `always` properties whose condition runs the real
//! machine forward from the state under check, in a healthy environment that keeps the caller's
//! side of the contract (answer requests, tick no later than `poll_timeout`), and bounds how
//! long the response takes. The run is the realistic world's own driver
//! ([`Harness`], resumed in the state under check with
//! the world's books, so the oracle checks every step of it too) and its IMDS
//! ([`ImdsModel`], which re-serves its current set until it rotates).

use core::time::Duration;

use credcycle_core::internals::{self, Phase};
use credcycle_core::oracle::signed as human_signed;
use credcycle_core::testing::ImdsModel;
use credcycle_core::testing::world::{Harness, Issued, credentials_for};
use credcycle_core::{Jitter, Machine, Now, ServeMode, StateKind};

use crate::world::{LONG_LIFETIME, Lifecycle, MONO0, WALL0, World, human, ms, role};

/// LIVE-2's healthy IMDS makes a new set available this long before the old one expires.
const ROTATE_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The realistic world's driver, taking over from `w` with every jitter draw fixed at
/// `jitter`, the client's wall clock `skew_ms` off the true one, and `imds`.
fn resume(
    m: &Lifecycle,
    w: &World,
    imds: ImdsModel,
    skew_ms: i64,
    jitter: Jitter,
) -> Result<Harness, String> {
    let held = w.core.held().map(|h| {
        credentials_for(&Issued {
            access_key_id: h.access_key_id.clone(),
            expiration: h.expiration,
        })
    });
    let machine = Machine::resume(
        m.pol(w.pinned).clone(),
        w.core.clone(),
        held,
        0,
        Some(jitter),
    )
    .map_err(|e| e.to_string())?;
    let now = Now::new(MONO0, WALL0.offset_millis(skew_ms));
    Ok(Harness::resume(
        machine,
        imds,
        now,
        skew_ms,
        w.books.clone(),
    ))
}

/// LIVE-1 (recovery) from `w`: once the clocks agree again (the client's wall clock is
/// corrected) and IMDS answers healthily (with either role attached), usable credentials are
/// available within two refusing backoff caps — one for the attempt that failed last, one more
/// when the role changed meanwhile (the 404 on the old role's path is itself a failed attempt).
/// A healthy IMDS serves its *current* set: the newest set the machine accepted, again, as long
/// as AWS has not rejected it, its role is still attached and it is not yet due to rotate (real
/// IMDS re-serves a set until it rotates); a brand-new set otherwise. With the largest jitter
/// (the longest delays).
///
/// # Errors
///
/// Why the bound was missed.
pub fn live_1(m: &Lifecycle, w: &World) -> Result<(), String> {
    if w.violation.is_some() || w.core.kind() == StateKind::Stopped {
        return Ok(());
    }
    let limit = m.pol(w.pinned).backoff_cap_refusing() * 2;
    // A pinned machine recovers only when its role is the one attached.
    let roles: &[bool] = if w.pinned { &[false] } else { &[false, true] };
    for &attached in roles {
        let imds = ImdsModel::serving(
            LONG_LIFETIME,
            ROTATE_BEFORE,
            role(attached),
            current_set(w, attached),
            w.core.newest(),
        );
        // `recover` corrects the client's wall clock first: the clocks agree again.
        let mut h = resume(m, w, imds, w.skew_ms, Jitter::ONE)?;
        let took = h
            .recover(limit)
            .map_err(|v| format!("on the way to recovery: {v}"))?;
        if took.is_none_or(|t| t > limit) {
            return Err(format!(
                "with role-{} attached and IMDS healthy, no usable credentials within {} (state now {}, {:?})",
                if attached { 'b' } else { 'a' },
                human(ms(limit)),
                h.machine.kind(),
                took.map(|t| human(ms(t)))
            ));
        }
    }
    Ok(())
}

/// The set a healthy IMDS serves for role `attached` in `w`, if it is one the machine accepted:
/// the newest one, while AWS has not rejected it (nor removed its role) and it is not yet due to
/// rotate. The machine's role must be `attached` too (a role change gets a new set).
fn current_set(w: &World, attached: bool) -> Option<Issued> {
    let newest = w.core.newest()?;
    if w.core.role() != Some(&role(attached)) {
        return None;
    }
    let (key, expiration) = w
        .books
        .deadlines
        .keys()
        .find(|(_, e)| *e == newest)
        .cloned()?;
    let rotated = WALL0 >= expiration.saturating_sub(ROTATE_BEFORE);
    (!rotated && !w.books.revoked.contains(&key)).then_some(Issued {
        access_key_id: key,
        expiration,
    })
}

/// LIVE-2 (continuity) from `w`: if the machine holds a set it received with agreeing clocks,
/// serves it, and nothing failed, then a healthy IMDS that rotates 5 minutes before expiry and
/// answers within a second keeps usable credentials available at every instant until the next
/// set is accepted (one whole refresh cycle, with its not-rotated answers). Checked with a
/// middle and the largest jitter (jitter 0 makes every backoff delay the retry floor: correct,
/// but thousands of steps to simulate).
///
/// # Errors
///
/// Where the first gap appeared.
pub fn live_2(m: &Lifecycle, w: &World) -> Result<(), String> {
    if !live_2_applies(m, w) {
        return Ok(());
    }
    for jitter in [Jitter::HALF, Jitter::ONE] {
        continuity(m, w, jitter)?;
    }
    Ok(())
}

/// The premise of LIVE-2 in `w`.
#[must_use]
pub fn live_2_applies(m: &Lifecycle, w: &World) -> bool {
    if w.violation.is_some() || w.skew_ms != 0 || w.core.kind() != StateKind::Fresh {
        return false;
    }
    let Some(held) = w.core.held() else {
        return false;
    };
    let now = Lifecycle::now(w);
    // Received with agreeing clocks: the monotonic deadline is early by at most the time the
    // request took (never late, never an hour off).
    let slack = (held.expiration.as_unix_millis() - now.wall.as_unix_millis())
        - (held.deadline.as_millis() as i64 - now.mono.as_millis() as i64);
    let latency_ok = (0..=ms(m.pol(w.pinned).request_timeout()) as i64).contains(&slack);
    // The caller kept its side so far: the refresh point is still ahead (a caller that slept
    // through it is outside the premise; INV-1 still holds for it, LIVE-2 cannot).
    let on_time =
        matches!(internals::phase(&w.core), Phase::Waiting { until } if *until > now.mono);
    // A set such an IMDS could have issued: one that rotates ROTATE_BEFORE ahead of expiry
    // never leaves a fresh set with less than that (and the margin) to live. A set living a
    // minute, say, is outside the premise (INV-1 still holds for it, LIVE-2 cannot).
    let margin = m.pol(w.pinned).expiry_margin();
    let long_enough = held.expiration.as_unix_millis() - now.wall.as_unix_millis()
        > ms(ROTATE_BEFORE + margin) as i64;
    latency_ok
        && on_time
        && long_enough
        && held.serve_mode(now, false, m.pol(w.pinned)) == Some(ServeMode::Normal)
}

fn continuity(m: &Lifecycle, w: &World, jitter: Jitter) -> Result<(), String> {
    const LATENCY: Duration = Duration::from_secs(1);
    let Some(held) = w.core.held() else {
        return Ok(());
    };
    let first = held.access_key_id.clone();
    let lifetime = if held.expiration.saturating_duration_since(WALL0) > Duration::from_secs(3600) {
        LONG_LIFETIME
    } else {
        crate::world::SHORT_LIFETIME
    };
    let current = Issued {
        access_key_id: first.clone(),
        expiration: held.expiration,
    };
    let imds = ImdsModel::serving(
        lifetime,
        ROTATE_BEFORE,
        w.core.role().cloned().unwrap_or_else(|| role(false)),
        Some(current),
        w.core.newest(),
    );
    // One whole refresh cycle fits before the held set expires.
    let span = held
        .expiration
        .saturating_duration_since(WALL0)
        .saturating_add(Duration::from_secs(60));
    let mut h = resume(m, w, imds, 0, jitter)?;
    let run = h
        .run_healthy_until(span, LATENCY, |h| {
            h.machine
                .state()
                .held()
                .is_some_and(|x| x.access_key_id != first)
        })
        .map_err(|v| format!("during one refresh cycle: {v}"))?;
    let describe = |h: &Harness, what: &str| {
        format!(
            "{what} (jitter {:?}, state {}, held expires {})",
            jitter.raw(),
            h.machine.kind(),
            h.machine
                .state()
                .held()
                .map(|x| human_signed(x.expiration.as_unix_millis() - h.now.wall.as_unix_millis()))
                .unwrap_or_else(|| "-".into()),
        )
    };
    if let Some(at) = run.first_gap {
        let after = at.saturating_duration_since(MONO0);
        return Err(describe(
            &h,
            &format!(
                "no usable credentials {} after the start, for {}",
                human(ms(after)),
                human(ms(run.longest_gap))
            ),
        ));
    }
    if !run.done {
        return Err(describe(&h, "no new set accepted within one lifetime"));
    }
    Ok(())
}
