//! The sans-IO simulator: [`SimImds`] answers [`SimRequest`](crate::SimRequest)s at a given time.
//!
//! One type, its behaviour split by concern; each module adds its part of `SimImds`'s methods:
//!
//! - `state`: the type, its records, construction, the entry point and the simulator's clock.
//! - `routes`: IMDSv2's rules and routing, the metadata paths and credentials documents.
//! - `tokens`: session tokens (`PUT /latest/api/token`).
//! - `credentials`: roles and credential sets, issuance and rotation.
//! - `faults`: the scripted fault windows applied to IMDS requests.
//! - `container`: the container-credentials endpoint.
//! - `control`: the `/_sim/` endpoints and the control methods.
//! - `audit`: the request log, use records, counts and the report.
//! - `reply`: the reply builders they share.
//!
//! The imports form no circle: `state` and `reply` import from no sibling; the others import
//! from those two only, and reach each other's parts as methods on `SimImds`.

mod audit;
mod container;
mod control;
mod credentials;
mod faults;
mod reply;
mod routes;
mod state;
mod tokens;

pub use state::{MAX_LOGGED_REQUESTS, SimImds};
pub use tokens::MAX_TOKEN_TTL_SECS;

#[cfg(test)]
mod tests;
