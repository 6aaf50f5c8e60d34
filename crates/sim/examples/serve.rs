//! Runs the simulator on the given address (default `127.0.0.1:1338`), with an optional
//! scenario file, until killed:
//!
//! ```text
//! cargo run -p credcycle-sim --example serve -- 127.0.0.1:0 crates/sim/scenarios/outage.toml
//! ```
//!
//! The first line printed is `listening on http://HOST:PORT`, as `credcycle sim` prints it.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use credcycle_sim::{Scenario, SimConfig, SimServer};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = match args.next().as_deref().unwrap_or("127.0.0.1:1338").parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("error: bad address: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = SimConfig::default();
    if let Some(path) = args.next() {
        match Scenario::from_path(Path::new(&path)) {
            Ok(scenario) => config = config.with_scenario(scenario),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    match SimServer::start(addr, config) {
        Ok(server) => {
            println!("listening on {}", server.url());
            loop {
                std::thread::park();
            }
        }
        Err(e) => {
            eprintln!("error: cannot start the simulator: {e}");
            ExitCode::FAILURE
        }
    }
}
