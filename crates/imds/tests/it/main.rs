//! Loopback tests of the real transports against a tiny HTTP server on 127.0.0.1.
//!
//! Every case runs against the blocking ureq transport and, with feature `tokio`, against the
//! hyper transport (driven through a runtime with one worker thread), so both keep the same contract.

mod server;
mod transports;
