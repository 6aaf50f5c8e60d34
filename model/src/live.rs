//! Liveness as bounded response. Stateright's `eventually` needs terminal states, and this
//! model has none, so LIVE-1 and LIVE-2 are `always` properties whose condition runs the real
//! [`step`] forward from the state under check, in a healthy environment that keeps the
//! caller's side of the contract (answer requests, tick no later than `poll_timeout`), and
//! bounds how long the response takes.

use core::time::Duration;

use credcycle_core::oracle::signed as human_signed;
use credcycle_core::testing::{Answer, ImdsModel, Issued};
use credcycle_core::{
    Input, Jitter, MonoTime, Now, Phase, Policy, Request, Rule, ServeMode, State, StateKind,
    WallTime, step,
};

use crate::world::{LONG_LIFETIME, Lifecycle, MONO0, WALL0, World, human, ms, role};

/// How many steps a bounded-response run may take before it is declared stuck.
const MAX_STEPS: usize = 2_000;
/// LIVE-2's healthy IMDS makes a new set available this long before the old one expires.
const ROTATE_BEFORE: Duration = Duration::from_secs(5 * 60);

/// The real `step` in a healthy world: the realistic world's IMDS ([`ImdsModel`], which
/// re-serves its current set until it rotates), clocks kept relative to the model's "now".
struct Healthy<'a> {
    policy: &'a Policy,
    core: State,
    /// Monotonic time elapsed since the start of the run, in ms.
    t: u64,
    skew_ms: i64,
    imds: ImdsModel,
    jitter: Jitter,
}

impl Healthy<'_> {
    fn now(&self) -> Now {
        Now::new(
            MonoTime::from_millis(MONO0.as_millis() + self.t),
            WALL0.offset_millis(self.skew_ms + self.t as i64),
        )
    }

    fn true_wall(&self) -> WallTime {
        WALL0.offset_millis(self.t as i64)
    }

    fn feed(&mut self, input: &Input) -> Rule {
        let t = step(&self.core, input, self.now(), self.jitter, self.policy);
        self.core = t.state;
        t.rule
    }

    fn served(&self) -> Option<ServeMode> {
        let held = self.core.held.as_ref()?;
        held.serve_mode(self.now(), self.core.failing(), self.policy)
    }

    /// The answer of the world's IMDS to the outstanding request, if any.
    fn answer(&mut self) -> Option<Input> {
        let (id, request) = self.core.outstanding()?;
        let request = request.clone();
        Some(match request {
            Request::DiscoverRole => Input::RoleReply {
                id,
                result: self.imds.answer_role(&Answer::Healthy),
            },
            Request::FetchCredentials(role) => {
                let margin = self.policy.expiry_margin();
                let result =
                    self.imds
                        .answer_credentials(&role, &Answer::Healthy, self.true_wall(), margin);
                Input::CredentialsReply { id, result }
            }
        })
    }

    fn jump_to(&mut self, at: MonoTime) {
        self.t = self.t.max(at.as_millis().saturating_sub(MONO0.as_millis()));
    }
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
        let mut h = Healthy {
            policy: m.pol(w.pinned),
            core: w.core.clone(),
            t: 0,
            // The clocks agree again.
            skew_ms: 0,
            imds: ImdsModel::serving(
                LONG_LIFETIME,
                ROTATE_BEFORE,
                role(attached),
                current_set(w, attached),
                w.core.newest,
            ),
            jitter: Jitter::ONE,
        };
        let took = recover(&mut h, limit);
        if took.is_none_or(|t| t > ms(limit)) {
            return Err(format!(
                "with role-{} attached and IMDS healthy, no usable credentials within {} (state now {}, {:?})",
                if attached { 'b' } else { 'a' },
                human(ms(limit)),
                h.core.kind(),
                took.map(human)
            ));
        }
    }
    Ok(())
}

/// The set a healthy IMDS serves for role `attached` in `w`, if it is one the machine accepted:
/// the newest one, while AWS has not rejected it (nor removed its role) and it is not yet due to
/// rotate. The machine's role must be `attached` too (a role change gets a new set).
fn current_set(w: &World, attached: bool) -> Option<Issued> {
    let newest = w.core.newest?;
    if w.core.role.as_ref() != Some(&role(attached)) {
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

fn recover(h: &mut Healthy<'_>, limit: Duration) -> Option<u64> {
    for _ in 0..MAX_STEPS {
        h.feed(&Input::Demand);
        if h.served().is_some() {
            return Some(h.t);
        }
        if let Some(input) = h.answer() {
            h.feed(&input);
            continue;
        }
        match h.core.next_deadline(h.policy) {
            Some(at) if at.as_millis().saturating_sub(MONO0.as_millis()) <= ms(limit) => {
                h.jump_to(at);
                h.feed(&Input::Tick);
            }
            _ => return None,
        }
    }
    None
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
    let Some(held) = &w.core.held else {
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
    let on_time = matches!(w.core.phase, Phase::Waiting { until } if until > now.mono);
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
    const LATENCY: u64 = 1_000;
    let Some(held) = &w.core.held else {
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
    let mut h = Healthy {
        policy: m.pol(w.pinned),
        core: w.core.clone(),
        t: 0,
        skew_ms: 0,
        imds: ImdsModel::serving(
            lifetime,
            ROTATE_BEFORE,
            w.core.role.clone().unwrap_or_else(|| role(false)),
            Some(current),
            w.core.newest,
        ),
        jitter,
    };
    let mut pending: Option<u64> = None;
    let gap = |h: &Healthy<'_>, what: &str| {
        format!(
            "no usable credentials {} after the start ({what}; jitter {:?}, state {}, held expires {})",
            human(h.t),
            jitter.raw(),
            h.core.kind(),
            h.core
                .held
                .as_ref()
                .map(|x| human_signed(
                    x.expiration.as_unix_millis() - h.now().wall.as_unix_millis()
                ))
                .unwrap_or_else(|| "-".into()),
        )
    };
    for _ in 0..MAX_STEPS {
        let next = match pending {
            Some(at) => at,
            None => match h.core.next_deadline(m.pol(w.pinned)) {
                Some(at) => at.as_millis().saturating_sub(MONO0.as_millis()).max(h.t),
                None => return Err(gap(&h, "no deadline")),
            },
        };
        // Probe just before the state changes, when the credentials are at their oldest.
        if next > h.t {
            h.t = next - 1;
            if h.served().is_none() {
                return Err(gap(&h, "just before the next event"));
            }
            h.t = next;
        }
        if h.served().is_none() {
            return Err(gap(&h, "at the next event"));
        }
        if pending.take().is_some() {
            let Some(input) = h.answer() else {
                continue;
            };
            let rule = h.feed(&input);
            if h.served().is_none() {
                return Err(gap(&h, "after an answer"));
            }
            if rule == Rule::Accept
                && h.core
                    .held
                    .as_ref()
                    .is_some_and(|x| x.access_key_id != first)
            {
                return Ok(());
            }
        } else {
            h.feed(&Input::Tick);
            if h.served().is_none() {
                return Err(gap(&h, "after a tick"));
            }
        }
        if matches!(h.core.phase, Phase::Requesting { .. }) && pending.is_none() {
            pending = Some(h.t + LATENCY);
        }
    }
    Err(gap(&h, "no new set accepted within the step bound"))
}
