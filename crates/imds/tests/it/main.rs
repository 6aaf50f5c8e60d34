//! Loopback tests of the real transports against a tiny HTTP server on 127.0.0.1.
//!
//! Every case runs against the ureq transport, the one the client and the Provider use.

mod server;
mod transports;
