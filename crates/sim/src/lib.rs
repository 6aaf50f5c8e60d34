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
//! ## What is faithful to the real IMDS
//!
//! These follow the facts in `docs/design.md` ("IMDS facts the code relies on"):
//!
//! - **IMDSv2 tokens.** `PUT /latest/api/token` needs `X-aws-ec2-metadata-token-ttl-seconds`
//!   with an integer from 1 to 21600: missing, not an integer, or out of range is a 400. A
//!   token `PUT` carrying `X-Forwarded-For` is a 403. The reply body is the token, and the
//!   reply echoes the TTL in the same header (undocumented by AWS, relied on by the Rust and Go
//!   SDKs). Tokens expire after their TTL.
//! - **Token checks.** A `GET` needs `X-aws-ec2-metadata-token` with a live token, else 401. With
//!   [`SimConfig::allow_imdsv1`] a `GET` *without* the header is served (IMDSv1); a `GET` with an
//!   invalid token is a 401 either way.
//! - **Methods.** Only `GET` and `PUT` exist; anything else is a 405, and so is a `PUT` to any
//!   path but the token's and a `GET` of the token path.
//! - **Paths.** `/latest/meta-data/iam/security-credentials/` lists the role (no trailing
//!   newline; 404 with no instance profile). `.../security-credentials/<role>` is the JSON with
//!   `Code` `Success`, `LastUpdated`, `Type` `AWS-HMAC`, `AccessKeyId`, `SecretAccessKey`,
//!   `Token` and `Expiration` (404 for any other role). `.../security-credentials-extended/`
//!   (listing and `<role>`) adds `AccountId` and can be turned off to 404, like instances
//!   without it ([`SimConfig::extended`]). `/latest/meta-data/iam/info` has `Code`,
//!   `LastUpdated`, `InstanceProfileArn` and `InstanceProfileId`. The index pages
//!   `/latest/meta-data/` (with `iam/` only while a profile is attached) and
//!   `/latest/meta-data/iam/`, plus `ami-id`, `instance-id` and `instance-type`. Everything else
//!   is a 404.
//! - **Format.** JSON is pretty-printed with a two-space indent and `"Key" : "value"`, as the
//!   service writes it; timestamps are exactly `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds);
//!   every reply is `Content-Type: text/plain`, with `Server: EC2ws` and a `Date` in the
//!   simulator's clock (what a client can measure its clock skew against). Access key ids are `ASIA`
//!   and sixteen uppercase letters and digits, unique per set.
//! - **Rotation.** Each set lives [`SimConfig::lifetime`] (6 hours by default); a new one is
//!   issued [`SimConfig::rotate_before`] (5 minutes) before the current one expires: the first
//!   credentials request at or after `Expiration - rotate_before` gets a new set, every request
//!   before gets the same one. AWS promises new credentials "at least five minutes before the
//!   expiration of the old credentials".
//! - **Throttling** ([`Fault::Throttle`]) drops the excess instead of answering: the real
//!   service limits packets per second and mostly drops what exceeds the limit, so a throttled
//!   client usually sees timeouts. A request exceeding the hop limit also gets no answer: script it as a
//!   `timeout` outage on the `token` target.
//!
//! ## What is not
//!
//! - **429 and 503** are never sent unless a scenario asks for them ([`OutageMode::Http`]). The
//!   real service answers 429 only now and then (it has been reported under load,
//!   aws-sdk-go-v2#1995); scripted, they test a client's defences.
//! - **Time.** The simulator's clock (what `LastUpdated` and `Expiration` are written in)
//!   starts at the wall time of the start and then follows the *monotonic* clock, so stepping
//!   the wall clock (the guest's clock) does not move it; the real service has its own clock.
//!   [`SimConfig::clock_offset_secs`] sets that clock apart from the guest's, to test what a
//!   guest with a wrong clock sees.
//! - **Throttling** counts HTTP requests per second, not packets (one request is several
//!   packets), per scripted window rather than per network interface, and drops a request by
//!   accepting the connection and never answering, where the real service drops packets (a
//!   connection may then not even open).
//! - **Error bodies** are an XHTML error page like the service's, sent as `text/plain`; the
//!   real service's exact error bodies and content type may differ.
//! - **Randomness** is a seeded SplitMix64, not a cryptographic generator: tokens and keys are
//!   unguessable enough for a loopback test tool, not for anything else.
//! - **Instance metadata** beyond the few paths above, user data, dynamic data, tags, IPv6,
//!   the hop limit itself, a disabled endpoint (403) and the real service's limits on session
//!   tokens are not modelled (the simulator keeps at most 100 000 live tokens, forgetting the
//!   one that expires soonest).
//!
//! ## Scripted faults (scenarios)
//!
//! A [`Scenario`] is a list of events keyed by their start, in seconds after the simulator
//! started (fractions allowed). TOML (`.toml`) or JSON (`.json`), chosen by extension in
//! [`Scenario::from_path`]. Every event has `at` and `fault`; a window fault may have
//! `duration` (seconds; without it, the window never ends) and `target` (which requests:
//! `any`, the default, `token`, `role-list`, `credentials`, `info`, `metadata` or `other`;
//! the `/_sim/*` endpoints are never faulted). The faults:
//!
//! | `fault` | kind | fields | effect |
//! |---|---|---|---|
//! | `outage` | window | `mode` = `timeout` (default; alias `drop`), `reset` or `http`; `status` (400-599, default 500) and `retry_after` (seconds) with `http` | no answer / connection reset / an error status |
//! | `malformed` | window | `body` = `truncated`, `not-json`, `empty`, `missing-fields`, `bad-expiration`, `assume-role-failure` | successful replies get a broken body (target defaults to `credentials`) |
//! | `delay` | window | `delay` (seconds) | replies come late (delays of overlapping windows add up) |
//! | `throttle` | window | `per_second` | at most that many requests per second are answered; the rest are dropped |
//! | `expired` | window | `by` (seconds, default 60) | credentials are served with `Expiration` that far in the past (`credentials` only) |
//! | `not-rotated` | window | | the current set is served past its rotation point (`credentials` only) |
//! | `detach` | instant | | the instance profile is removed |
//! | `attach` | instant | `role` | an instance profile with `role` is attached (replacing any) |
//! | `change` | instant | `role` | the instance profile is replaced by one with `role` |
//! | `rotate` | instant | | a new set is issued at once |
//!
//! Three optional top-level numbers (seconds) say how a scenario is meant to run: `lifetime`
//! and `rotate_before` (applied to a [`SimConfig`] by [`Scenario::configure`]) and `length`
//! (how long `credcycle conform` runs it).
//!
//! When windows overlap: any throttle that is over its limit drops the request; otherwise the
//! first active outage (in file order) applies; otherwise the first active malformation; the
//! delays add up. A field that does not apply to the fault is an error, so a typo cannot
//! pass silently. A full example (more in `crates/sim/scenarios/`):
//!
//! ```
//! use credcycle_sim::Scenario;
//!
//! let scenario = Scenario::from_toml_str(r#"
//! name = "a bad day"
//! description = "Everything that can go wrong, once."
//!
//! [[event]]            # IMDS slow for a minute
//! at = 10
//! duration = 60
//! fault = "delay"
//! delay = 0.5
//!
//! [[event]]            # no answer to token requests for 30 s (hop limit, container)
//! at = 120
//! duration = 30
//! fault = "outage"
//! mode = "timeout"
//! target = "token"
//!
//! [[event]]            # 503 with Retry-After: the real IMDS never sends this
//! at = 200
//! duration = 20
//! fault = "outage"
//! mode = "http"
//! status = 503
//! retry_after = 2
//!
//! [[event]]
//! at = 300
//! duration = 15.5
//! fault = "malformed"
//! body = "truncated"
//!
//! [[event]]            # the rotation stalls for ten minutes
//! at = 21000
//! duration = 600
//! fault = "not-rotated"
//!
//! [[event]]
//! at = 400
//! duration = 10
//! fault = "throttle"
//! per_second = 2
//!
//! [[event]]
//! at = 500
//! duration = 30
//! fault = "expired"
//! by = 120
//!
//! [[event]]
//! at = 600
//! fault = "change"
//! role = "other-role"
//!
//! [[event]]
//! at = 700
//! fault = "detach"
//! "#)?;
//! assert_eq!(scenario.events().len(), 9);
//! # Ok::<(), credcycle_sim::ScenarioError>(())
//! ```
//!
//! The same in JSON is an object with `name`, `description` and an `event` (or `events`) array
//! of objects with the same fields. A bad file is a [`ScenarioError::Parse`] naming the line,
//! the column and the field (`outage.toml:12:8: event[1].mode: unknown variant ...`), never a
//! panic. Checks across several fields of one event (a field that does not apply to the fault,
//! a missing required field) point at the start of the event's table in TOML and at the end of
//! the event's object in JSON.
//!
//! ## The audit endpoints
//!
//! `/_sim/*` needs no token and is never faulted. Replies are JSON (`application/json`).
//!
//! - `GET /_sim/report`: the [`Report`]: sets issued, uses, expired uses, revoked uses,
//!   unknown uses, token `PUT`s, tokens issued, 401s, drops, resets, requests by path class and
//!   outcome, and every set issued (key id, role, issued at, expiration, reason).
//! - `POST /_sim/use` with the access key id as the body (or `{"AccessKeyId": "..."}`): records
//!   that the client used that set now, and answers whether it had expired (or its role had
//!   been removed) at that moment ([`UseRecord`]); 404 for a key never issued.
//! - `POST /_sim/detach`, `POST /_sim/attach?role=NAME`, `POST /_sim/rotate`: live control.
//! - `POST /_sim/authorization` with the new token as the body: replaces the token the container
//!   endpoint requires (409 without one).
//!
//! ## Container credentials
//!
//! With [`SimConfig::container`] ([`SimContainer`]), the simulator also serves the container
//! endpoint of ECS task roles and EKS Pod Identity at a path of its own: a `GET` with the
//! required `Authorization` token gets the attached role's current set as the agents write it
//! (`AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`, `RoleArn`, `AccountId`; no `Code`),
//! a wrong or missing token a 401. These fetches are of the `credentials` class, so they share
//! the IMDS paths' sets and rotation, and every credentials fault applies to them (outages,
//! delays, throttling, malformed bodies, `expired` and `not-rotated` windows).
//!
//! The same operations exist in code on [`SimImds`], [`SimHandle`] and [`SimServer`].
//!
//! ## Secrets
//!
//! Secret access keys and session tokens are held in `credcycle-core`'s zeroizing secret types
//! while they may be served, and forgotten once a set is replaced; the audit keeps key ids and
//! times only. No `Debug` output of this crate shows a secret or an IMDS token ([`Headers`]
//! redacts the token header, [`SimReply`] shows only a body's length), and the simulator logs
//! nothing. The bodies themselves are plain bytes handed to hyper, which copies them.
//!
//! ## Binding
//!
//! [`SimServer::start`] and [`serve`] use exactly the address they are given; nothing binds
//! anything but loopback unless asked to.

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
