//! The driver: a [`Harness`] feeds inputs to the real machine, answers its requests from the
//! [`ImdsModel`] and checks every step with the oracle.

use core::time::Duration;
use std::collections::BTreeSet;

use super::check::{check_edge, check_step};
use super::imds::{Answer, ImdsModel};
use crate::creds::{Credentials, RoleName};
use crate::input::{ImdsFailure, Input, InputKind, RequestId};
use crate::machine::{Handout, Machine};
use crate::oracle::{Books, Violation};
use crate::output::Action;
use crate::policy::Policy;
use crate::state::{Phase, Request, StateKind};
use crate::step::Rule;
use crate::table::Edge;
use crate::time::{MonoTime, Now, WallTime};

/// Settings of a [`Harness`].
#[derive(Clone, Debug)]
pub struct HarnessConfig {
    /// The machine's; the [`ImdsModel`] reads only its margin (to make short-lived sets).
    pub policy: Policy,
    /// Every jitter draw follows from it: the same seed and inputs, the same run (INV-6).
    pub seed: u64,
    /// Lifetime of the credentials the simulated IMDS issues.
    pub lifetime: Duration,
    /// How long before expiry IMDS makes new credentials available.
    pub rotate_before: Duration,
    /// The true wall-clock time at the start; the client's wall clock starts there too.
    pub start: WallTime,
}

impl Default for HarnessConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            seed: 1,
            lifetime: Duration::from_secs(6 * 3600),
            rotate_before: Duration::from_secs(5 * 60),
            start: WallTime::from_unix_secs(1_795_862_471),
        }
    }
}

/// The harness's oracle: the shared [`Books`] and two counters.
#[derive(Clone, Debug, Default)]
pub struct Oracle {
    /// The oracle's own deadlines, revocations and retry times, computed apart from the
    /// machine's.
    pub books: Books,
    /// Successful probes, each checked against the books.
    pub handouts: u64,
    /// Requests the machine issued.
    pub requests: u64,
}

/// One row of the harness's trace: enough to compare two runs (INV-6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRow {
    /// The client's clocks when the input was fed (the wall clock may be skewed).
    pub now: Now,
    /// Its kind only: what a reply carried shows in the rule and the actions.
    pub input: InputKind,
    /// As [`Machine::handle_input`] returned it.
    pub rule: Rule,
    /// The kind after the rule.
    pub kind: StateKind,
    /// In `Debug` form: comparing two runs compares these strings.
    pub actions: Vec<String>,
}

/// Drives a [`Machine`] against an [`ImdsModel`] and checks the invariants after every input.
#[derive(Debug)]
pub struct Harness {
    /// The real machine: nothing in it is replaced for the test.
    pub machine: Machine,
    /// It lives on the true wall clock ([`true_wall`](Self::true_wall)), not the client's.
    pub imds: ImdsModel,
    /// The client's clocks, as the machine sees them (the wall clock may be skewed).
    pub now: Now,
    pub(super) skew_ms: i64,
    pub(super) pending: Option<(RequestId, Request, MonoTime)>,
    issued_ids: u64,
    /// Checks every step; a [`Violation`] stops the run.
    pub oracle: Oracle,
    /// Every edge taken, kept while [`record`](Self::record) is set.
    pub edges: BTreeSet<Edge>,
    /// Edges taken that the transition table lacks ([`check_edge`]): recorded, not returned, so
    /// that an edge missing from the table never hides an invariant violation coming after it
    /// (the transition-table tests assert this stays empty).
    pub unexpected_edges: BTreeSet<Edge>,
    /// Every input, with its rule and result (kept while [`record`](Self::record) is set).
    pub trace: Vec<TraceRow>,
    /// Whether to keep the [`trace`](Self::trace) and the [`edges`](Self::edges): on by
    /// default, off in a [resumed](Self::resume) harness (a model checker runs one per state).
    pub record: bool,
    /// What the machine asked for in answer to the last input (events and its request).
    pub actions: Vec<Action>,
}

impl Harness {
    /// A harness in its initial state: machine idle, role attached, both clocks at `start`
    /// (the monotonic one at 1 s).
    #[must_use]
    pub fn new(config: HarnessConfig) -> Self {
        Self {
            machine: Machine::new(config.policy, config.seed),
            imds: ImdsModel::new(config.lifetime, config.rotate_before),
            now: Now::new(MonoTime::from_millis(1_000), config.start),
            skew_ms: 0,
            pending: None,
            issued_ids: 0,
            oracle: Oracle::default(),
            edges: BTreeSet::new(),
            unexpected_edges: BTreeSet::new(),
            trace: Vec::new(),
            record: true,
            actions: Vec::new(),
        }
    }

    /// A harness that takes over a run in the middle: `machine` in the state reached (see
    /// [`Machine::resume`]), `imds` as it is, the client's clocks at `now` with its wall clock
    /// `skew_ms` off the true one, and the oracle's `books` of the run so far (so that every
    /// step from here on is checked as if the harness had seen the whole run). A request the
    /// state says is outstanding is the one [`answer`](Self::answer) answers.
    #[must_use]
    pub fn resume(machine: Machine, imds: ImdsModel, now: Now, skew_ms: i64, books: Books) -> Self {
        let pending = match &machine.state().phase {
            Phase::Requesting { id, request, since } => Some((*id, *request, *since)),
            _ => None,
        };
        Self {
            machine,
            imds,
            now,
            skew_ms,
            pending,
            issued_ids: 0,
            oracle: Oracle {
                books,
                ..Oracle::default()
            },
            edges: BTreeSet::new(),
            unexpected_edges: BTreeSet::new(),
            trace: Vec::new(),
            record: false,
            actions: Vec::new(),
        }
    }

    /// Whether a request is waiting for an answer.
    #[must_use]
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The request waiting for an answer, if any.
    #[must_use]
    pub fn pending(&self) -> Option<&Request> {
        self.pending.as_ref().map(|(_, request, _)| request)
    }

    /// Answers the outstanding role listing with `result`, as a test scripts it (nothing
    /// happens when no listing is outstanding).
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn reply_role(&mut self, result: Result<RoleName, ImdsFailure>) -> Result<(), Violation> {
        match self.pending.take() {
            Some((id, Request::DiscoverRole, _)) => self.input(Input::RoleReply { id, result }),
            other => {
                self.pending = other;
                Ok(())
            }
        }
    }

    /// Answers the outstanding credentials request with `result`, as a test scripts it
    /// (nothing happens when no credentials request is outstanding).
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn reply_credentials(
        &mut self,
        result: Result<Credentials, ImdsFailure>,
    ) -> Result<(), Violation> {
        match self.pending.take() {
            Some((id, Request::FetchCredentials, _)) => {
                self.input(Input::CredentialsReply { id, result })
            }
            other => {
                self.pending = other;
                Ok(())
            }
        }
    }

    /// A reply with an id that is not outstanding.
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn stale_reply(&mut self) -> Result<(), Violation> {
        let id = RequestId(self.machine.state().next_request.saturating_add(7));
        self.input(Input::RoleReply {
            id,
            result: Err(ImdsFailure::Timeout),
        })
    }

    /// Answers the outstanding request, if any, at the current time.
    ///
    /// # Errors
    ///
    /// A [`Violation`] seen on the way.
    pub fn answer(&mut self, answer: &Answer) -> Result<(), Violation> {
        let Some((id, request, _)) = self.pending.take() else {
            return Ok(());
        };
        let input = match request {
            Request::DiscoverRole => Input::RoleReply {
                id,
                result: self.imds.answer_role(answer),
            },
            Request::FetchCredentials => {
                // The role asked for: a credentials request goes out only with a role known,
                // and the role changes only on a reply.
                let Some(role) = self.machine.state().role().cloned() else {
                    return Ok(());
                };
                let margin = self.machine.policy().expiry_margin();
                let result = self
                    .imds
                    .answer_credentials(&role, answer, self.true_wall(), margin);
                Input::CredentialsReply { id, result }
            }
        };
        self.input(input)
    }

    /// Checks for a hand-out at the current time, as a caller would.
    ///
    /// # Errors
    ///
    /// A [`Violation`] of INV-1, INV-2 or INV-5.
    pub fn probe(&mut self) -> Result<Option<Handout>, Violation> {
        let Ok(h) = self.machine.credentials(self.now) else {
            return Ok(None);
        };
        self.oracle.handouts += 1;
        self.check_handout(&h)?;
        Ok(Some(h))
    }

    fn check_handout(&mut self, h: &Handout) -> Result<(), Violation> {
        let c = h.credentials();
        self.oracle.books.check_handout(
            self.machine.policy(),
            self.now,
            c.access_key_id(),
            c.expiration(),
            h.in_grace(),
            self.machine.state().failing(),
        )
    }

    /// Feeds one input to the machine and checks everything that came out.
    ///
    /// # Errors
    ///
    /// The first [`Violation`] seen.
    pub fn input(&mut self, input: Input) -> Result<(), Violation> {
        let before = self.machine.kind();
        let noted = self
            .oracle
            .books
            .before(self.machine.state(), &input, self.now);
        let kind = input.kind();
        let rule = match self.machine.handle_input(self.now, input) {
            Ok(rule) => rule,
            Err(e) => {
                return Err(Violation::new(
                    "INV-6",
                    format!("usage error with a monotonic clock: {e}"),
                ));
            }
        };
        let after = self.machine.kind();
        let edge = Edge {
            from: before,
            input: kind,
            to: after,
            rule,
        };
        let mut actions = Vec::new();
        while let Some(a) = self.machine.poll_action() {
            actions.push(a);
        }
        if self.record {
            self.edges.insert(edge);
            self.trace.push(TraceRow {
                now: self.now,
                input: kind,
                rule,
                kind: after,
                actions: actions.iter().map(|a| format!("{a:?}")).collect(),
            });
        }
        let issued = check_step(
            &mut self.oracle.books,
            self.machine.policy(),
            self.now,
            noted,
            edge,
            self.machine.state(),
            &actions,
        );
        self.actions = actions;
        if check_edge(&edge).is_err() {
            self.unexpected_edges.insert(edge);
        }
        if let Some((id, request)) = issued? {
            self.oracle.requests += 1;
            self.issued_ids += 1;
            self.pending = Some((id, request, self.now.mono));
        }
        Ok(())
    }
}
