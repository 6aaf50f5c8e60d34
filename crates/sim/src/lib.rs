//! # credcycle-sim: an EC2 Instance Metadata Service (IMDS) simulator
//!
//! A stand-in for IMDS that any credentials client can be pointed at (credcycle's own, or a
//! real AWS SDK through `AWS_EC2_METADATA_SERVICE_ENDPOINT`), with credential rotation,
//! scripted faults, and an audit that says whether a client ever *used* credentials past their
//! expiration.
//!
//! It comes in two layers, like quinn-proto and str0m:
//!
//! - [`SimImds`], **sans-IO**: [`SimImds::handle`] takes the current time ([`Now`]) and a
//!   [`SimRequest`] and returns a [`SimReply`] (`Respond` with an optional delay, `Drop` or
//!   `Reset`). No sockets, no clock reads, seeded randomness: tests drive it on virtual time
//!   and get the same answers every run.
//! - [`serve`] / [`SimServer`], **the HTTP adapter** (tokio + hyper 1, HTTP/1 only): maps real
//!   requests onto the core with a [`credcycle_clock::Clock`], sleeps the scripted delays,
//!   holds dropped requests open without an answer, and resets connections.
//!
//! [`Now`]: credcycle_core::Now
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use credcycle_sim::{SimConfig, SimServer};
//!
//! let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
//! let server = SimServer::start(addr, SimConfig::default())?;
//! println!("listening on {}", server.url()); // http://127.0.0.1:PORT
//! // ... point a client at server.url(), then:
//! let report = server.report();
//! assert_eq!(report.expired_uses, 0);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The simulator writes the IMDS wire format itself and does not use `credcycle-imds`'s codec:
//! a misreading of IMDS in the client must not hide behind the same misreading here.
//!
//! ## Where things are
//!
//! - `imds`: [`SimImds`], the sans-IO core, one module per concern (routes, tokens,
//!   credentials, faults, the container endpoint, control, audit).
//! - `request`: what goes in and comes out of it: [`SimRequest`], [`Headers`], [`PathClass`],
//!   [`SimReply`].
//! - `config`: [`SimConfig`] and [`SimContainer`]; `scenario`: [`Scenario`], the scripted faults;
//!   `report`: [`Report`], the audit.
//! - `server`: [`serve`], [`SimServer`] and [`SimHandle`], the HTTP adapter; `wire` and `rng`: the
//!   IMDS wire format and the seeded randomness they share.
//!
//! What is faithful to the real IMDS, what deliberately is not, the audit endpoints and the
//! container endpoint: `docs/imds.md#6-the-simulator-in-brief`. The scenario format (every fault,
//! TOML and JSON, errors): `crates/sim/scenarios/README.md`. The `credcycle sim` command:
//! `docs/cli.md#credcycle-sim`.
//!
//! Secrets are held in `credcycle-core`'s zeroizing types while they may be served and forgotten
//! once a set is replaced; no `Debug` output shows a secret or an IMDS token, and the simulator
//! logs nothing. [`SimServer::start`] and [`serve`] bind exactly the address they are given.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod config;
mod imds;
mod report;
mod request;
mod rng;
mod scenario;
mod server;
mod wire;

pub use config::{ConfigError, SimConfig, SimContainer};
pub use imds::{MAX_LOGGED_REQUESTS, MAX_TOKEN_TTL_SECS, SimImds};
pub use report::{IssuedSet, LoggedRequest, Report, UseRecord};
pub use request::{Headers, PathClass, SimReply, SimRequest, TOKEN_HEADER, TOKEN_PATH, TTL_HEADER};
pub use scenario::{
    Event, Fault, Malformation, OutageMode, Scenario, ScenarioError, ScenarioFormat, Target,
};
pub use server::{DROP_HOLD_CAP, SimHandle, SimServer, serve, serve_handle};
