//! `credcycle get`: fetch credentials once, check them, print them.

use std::time::Duration;

use credcycle_clock::SystemClock;
use credcycle_core::{Input, Machine, Policy, RoleName};
use credcycle_imds::{ImdsClient, ImdsConfig, ImdsError, UreqTransport};

use crate::Failure;
use crate::format::{Format, render};

/// Fetch instance-profile credentials from IMDS once and print them.
///
/// The credentials pass the same checks as in the library: they are printed only with at least
/// the expiry margin (60 s) left. IMDS settings come from the flags, then from the SDKs'
/// environment variables (AWS_EC2_METADATA_SERVICE_ENDPOINT, ..._ENDPOINT_MODE,
/// AWS_METADATA_SERVICE_TIMEOUT, AWS_METADATA_SERVICE_NUM_ATTEMPTS,
/// AWS_EC2_INSTANCE_PROFILE_NAME, AWS_EC2_METADATA_V1_DISABLED, AWS_EC2_METADATA_DISABLED).
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  credcycle get
  credcycle get --format env          # eval \"$(credcycle get --format env)\"
  credcycle get --endpoint http://127.0.0.1:1338 --format json

As an AWS CLI / SDK credential_process, in ~/.aws/config:
  [profile instance]
  credential_process = credcycle get --format process

Exit status: 0 credentials printed, 1 no usable credentials (the message says why), 2 bad usage.")]
pub(crate) struct Args {
    /// IMDS endpoint, e.g. http://169.254.169.254 (default: from the environment, else IPv4).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Process)]
    format: Format,
    /// Fall back to IMDSv1 (no session token) when IMDS does not offer tokens.
    #[arg(long)]
    allow_imdsv1: bool,
    /// Timeout of each HTTP request, in seconds (default 1).
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    timeout: Option<Duration>,
    /// Attempts per request on timeouts, connection errors, 429 and 5xx (default 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10))]
    attempts: Option<u32>,
    /// Use this role without listing roles first.
    #[arg(long, value_name = "NAME", value_parser = parse_role)]
    role: Option<RoleName>,
    /// Ask for the extended credentials path first (adds AccountId; falls back on 404).
    #[arg(long)]
    extended: bool,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(0.001..=600.0).contains(&secs) {
        return Err(format!("{s} is not between 0.001 and 600 seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_role(s: &str) -> Result<RoleName, String> {
    RoleName::new(s).map_err(|e| e.to_string())
}

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let config = imds_config(args)?;
    let pinned = config.pinned_role().cloned();
    let policy = Policy::builder()
        .pinned_role(pinned)
        .build()
        .map_err(|e| Failure(e.to_string()))?;
    let clock = SystemClock::new();
    let mut client = ImdsClient::new(config, UreqTransport::new(), clock);
    let mut machine = Machine::new(policy, credcycle::random_seed());

    // One pass of the lifecycle: start, answer each request as it comes, then ask.
    let mut next = Some(Input::Demand);
    let mut role = None;
    while let Some(input) = next.take() {
        if let Input::RoleReply { result: Ok(r), .. } = &input {
            role = Some(r.clone());
        }
        machine
            .handle_input(clock.now(), input)
            .map_err(|e| Failure(e.to_string()))?;
        while let Some(action) = machine.poll_action() {
            if let Some(reply) = client.answer(&action) {
                next = Some(reply);
            }
        }
    }
    match machine.credentials(clock.now()) {
        Ok(handout) => {
            let role = role
                .or_else(|| machine.state().role().cloned())
                .ok_or_else(|| Failure("no role".into()))?;
            // The consumer expiry, not the raw Expiration: the caller caches until it.
            print!(
                "{}",
                render(
                    args.format,
                    &role,
                    handout.credentials(),
                    handout.consumer_expiration()
                )
            );
            Ok(())
        }
        // The client's error names the cause precisely; the core's refusal covers the rest
        // (credentials already expired, or too short-lived to use).
        Err(refusal) => Err(Failure(
            match (client.last_error(), machine.state().last_failure()) {
                (Some(e), Some(credcycle_core::Failure::Imds(_))) => describe(e),
                (_, Some(failure)) => format!("no usable credentials: {failure}"),
                (Some(e), None) => describe(e),
                (None, None) => refusal.to_string(),
            },
        )),
    }
}

fn imds_config(args: &Args) -> Result<ImdsConfig, Failure> {
    let mut builder = ImdsConfig::builder().jitter_seed(credcycle::random_seed());
    if args.allow_imdsv1 {
        builder = builder.allow_imds_v1(true);
    }
    if let Some(timeout) = args.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(attempts) = args.attempts {
        builder = builder.num_attempts(attempts);
    }
    if let Some(role) = &args.role {
        builder = builder.pinned_role(role.clone());
    }
    if args.extended {
        builder = builder.extended_credentials(true);
    }
    crate::imds_config(builder, args.endpoint.as_deref())
}

/// An IMDS error in the CLI's words: where the library says "allow the fallback", name the flag.
fn describe(e: &ImdsError) -> String {
    match e {
        ImdsError::ImdsV1Disabled {
            status,
            forbidden_by_env: false,
        } => format!(
            "IMDS offers no session tokens (HTTP {status} to the token request) and IMDSv1 is \
             not allowed: pass --allow-imdsv1 if this endpoint really has no tokens (an old \
             emulator, for example)"
        ),
        other => other.to_string(),
    }
}
