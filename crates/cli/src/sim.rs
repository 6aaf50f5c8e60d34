//! `credcycle sim`: run the IMDS simulator until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use credcycle_clock::{Clock, SystemClock};
use credcycle_core::RoleName;
use credcycle_sim::{Scenario, SimConfig, SimContainer, SimImds};

use crate::Failure;

/// Run an IMDS simulator: IMDSv2 tokens, rotating credentials, scripted faults, and an audit of
/// credential use. Point any client at it, ours or an AWS SDK's
/// (`AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338`).
///
/// The first line on stdout is exactly `listening on http://HOST:PORT`. With `--container`, it
/// also serves container credentials (ECS, EKS Pod Identity) at that path, requiring the token
/// in `--container-token-file` in `Authorization`; a second line names the endpoint.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  credcycle sim
  credcycle sim --listen 127.0.0.1:0 --lifetime 900
  credcycle sim --scenario crates/sim/scenarios/outage.toml
  AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:1338 aws sts get-caller-identity

Audit endpoints: GET /_sim/report, POST /_sim/use (body: an access key id),
POST /_sim/detach, POST /_sim/attach?role=NAME, POST /_sim/rotate,
POST /_sim/authorization (body: the container endpoint's new token).

Container credentials:
  credcycle sim --container /v1/credentials --container-token-file token.txt
  AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:1338/v1/credentials \
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=token.txt credcycle get --source container")]
pub(crate) struct Args {
    /// Address to listen on. Loopback by default; another address only when given here.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:1338")]
    listen: SocketAddr,
    /// Role of the attached instance profile.
    #[arg(long, value_name = "NAME", default_value = SimConfig::DEFAULT_ROLE, value_parser = parse_role)]
    role: RoleName,
    /// Start with no instance profile attached (the role listing answers 404).
    #[arg(long, conflicts_with = "role")]
    detached: bool,
    /// Lifetime of each credential set, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 6 * 3600, value_parser = clap::value_parser!(u64).range(1..=129_600))]
    lifetime: u64,
    /// How long before expiry a new set is issued, in seconds (EC2: at least 300).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    rotate_before: u64,
    /// Scripted faults and role changes (TOML or JSON; see crates/sim/scenarios/README.md).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Serve GETs without a session token (IMDSv1). Off by default, as on current AMIs.
    #[arg(long)]
    allow_imdsv1: bool,
    /// Seed for tokens and key ids, for reproducible runs.
    #[arg(long)]
    seed: Option<u64>,
    /// Also serve container credentials at this path (e.g. /v1/credentials, EKS Pod Identity's).
    #[arg(long, value_name = "PATH", requires = "container_token_file")]
    container: Option<String>,
    /// File holding the token the container endpoint requires in Authorization (read once, at
    /// start; POST /_sim/authorization replaces it).
    #[arg(long, value_name = "FILE", requires = "container")]
    container_token_file: Option<PathBuf>,
    /// Run AWS's clock this many seconds ahead of this machine's (negative: behind), in
    /// Expiration, LastUpdated and the Date header: a guest with a wrong clock, as seen from it.
    #[arg(long, value_name = "SECS", default_value_t = 0, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i64).range(-86_400..=86_400))]
    clock_offset: i64,
}

fn parse_role(s: &str) -> Result<RoleName, String> {
    RoleName::new(s).map_err(|e| e.to_string())
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let scenario = match &args.scenario {
        Some(path) => Some(Scenario::from_path(path).map_err(|e| Failure(e.to_string()))?),
        None => None,
    };
    let mut config = SimConfig::default()
        .with_lifetime(Duration::from_secs(args.lifetime))
        .with_rotate_before(Duration::from_secs(args.rotate_before));
    config.role = (!args.detached).then(|| args.role.clone());
    config.allow_imdsv1 = args.allow_imdsv1;
    config.seed = args.seed;
    config.clock_offset_secs = args.clock_offset;
    config.scenario = scenario;
    if let (Some(path), Some(file)) = (&args.container, &args.container_token_file) {
        let token = std::fs::read_to_string(file).map_err(|e| {
            Failure(format!(
                "cannot read --container-token-file {}: {}",
                file.display(),
                e.kind()
            ))
        })?;
        config.container = Some(SimContainer::new(path.clone(), token));
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let sim = SimImds::new(config, clock.now())
        .map_err(|e| Failure(format!("invalid simulator settings: {e}")))?;

    let runtime = crate::runtime()?;
    runtime.block_on(async move {
        let listener = crate::listen(args.listen, "").await?;
        if let Some(path) = &args.container {
            use std::io::Write as _;
            let addr = listener.local_addr().map_err(|e| Failure(e.to_string()))?;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "container credentials at http://{addr}{path}");
            let _ = out.flush();
        }
        credcycle_sim::serve(listener, sim, clock, crate::shutdown_signal())
            .await
            .map_err(|e| Failure(format!("simulator stopped: {e}")))
    })
}
