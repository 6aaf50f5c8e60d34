//! `credcycle get`: fetch credentials once, check them, print them.

use std::time::Duration;

use clap::ValueEnum;
use credcycle_clock::SystemClock;
use credcycle_core::{Action, Input, Machine, Policy, RoleName};
use credcycle_imds::container::{ContainerClient, ContainerConfig};
use credcycle_imds::{ImdsClient, ImdsConfig, ImdsError, UreqTransport};

use crate::Failure;
use crate::format::{Format, render};

/// Fetch credentials once, from IMDS or a container endpoint, and print them.
///
/// The credentials pass the same checks as in the library: they are printed only with at least
/// the expiry margin (60 s) left. The source follows the SDKs' order unless --source says: a
/// container endpoint when AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI is set (with
/// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE or _TOKEN), else IMDS. IMDS settings come from the
/// flags, then from the SDKs' environment variables (AWS_EC2_METADATA_SERVICE_ENDPOINT,
/// ..._ENDPOINT_MODE, AWS_METADATA_SERVICE_TIMEOUT, AWS_METADATA_SERVICE_NUM_ATTEMPTS,
/// AWS_EC2_INSTANCE_PROFILE_NAME, AWS_EC2_METADATA_V1_DISABLED, AWS_EC2_METADATA_DISABLED),
/// then from the profile AWS_PROFILE (default: default) of the shared config file
/// AWS_CONFIG_FILE (default: ~/.aws/config): ec2_metadata_service_endpoint, ..._endpoint_mode,
/// metadata_service_timeout, metadata_service_num_attempts, ec2_instance_profile_name,
/// ec2_metadata_v1_disabled.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  credcycle get
  credcycle get --format env          # eval \"$(credcycle get --format env)\"
  credcycle get --endpoint http://127.0.0.1:1338 --format json
  credcycle get --source container    # ECS / EKS Pod Identity, from AWS_CONTAINER_* variables

As an AWS CLI / SDK credential_process, in ~/.aws/config:
  [profile instance]
  credential_process = credcycle get --format process

Exit status: 0 credentials printed, 1 no usable credentials (the message says why), 2 bad usage.")]
pub(crate) struct Args {
    /// Where to get credentials: auto (container variables first, then IMDS, as the SDKs; an
    /// IMDS flag such as --endpoint picks IMDS), imds, or container.
    #[arg(long, value_enum, default_value_t = Source::Auto)]
    source: Source,
    /// The source's endpoint: IMDS's, e.g. http://169.254.169.254 (default: from the
    /// environment, else IPv4), or the container endpoint's full URL (default: from
    /// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI; the same hosts are allowed).
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

/// Where `get` takes credentials from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Source {
    /// The SDKs' order: a container endpoint when its variables are set, else IMDS.
    Auto,
    /// The EC2 Instance Metadata Service.
    Imds,
    /// A container-credentials endpoint (ECS task roles, EKS Pod Identity).
    Container,
}

/// The client that answers the lifecycle's requests.
enum Client {
    Imds(ImdsClient<UreqTransport, SystemClock>),
    Container(ContainerClient<UreqTransport>),
}

impl Client {
    fn answer(&mut self, action: &Action) -> Option<Input> {
        match self {
            Self::Imds(client) => client.answer(action),
            Self::Container(client) => client.answer(action),
        }
    }

    /// The last failure, in the CLI's words.
    fn last_error(&self) -> Option<String> {
        match self {
            Self::Imds(client) => client.last_error().map(describe),
            Self::Container(client) => client.last_error().map(ToString::to_string),
        }
    }
}

pub(crate) fn parse_secs(s: &str) -> Result<Duration, String> {
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
    let clock = SystemClock::new();
    let (mut client, pinned) = match resolve(args) {
        Source::Container => {
            let config = container_config(args)?;
            let label = config.label().clone();
            (
                Client::Container(ContainerClient::with_config(config)),
                Some(label),
            )
        }
        _ => {
            let config = imds_config(args)?;
            let pinned = config.pinned_role().cloned();
            (
                Client::Imds(ImdsClient::new(config, UreqTransport::new(), clock)),
                pinned,
            )
        }
    };
    let policy = Policy::builder()
        .pinned_role(pinned)
        .build()
        .map_err(|e| Failure(e.to_string()))?;
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
                (Some(e), Some(credcycle_core::Failure::Imds(_))) | (Some(e), None) => e,
                (_, Some(failure)) => format!("no usable credentials: {failure}"),
                (None, None) => refusal.to_string(),
            },
        )),
    }
}

/// `auto` in the SDKs' order: the container endpoint when either of its URI variables is set,
/// unless a flag asks for IMDS. `--endpoint` meant IMDS's endpoint before there was a container
/// source, and a `credential_process = credcycle get --endpoint URL` inherits its SDK's
/// environment, container variables included; so under `auto`, `--endpoint` (like `--role`,
/// `--extended` and `--allow-imdsv1`) picks IMDS, as IMDS settings given to the Provider's
/// builder do.
fn resolve(args: &Args) -> Source {
    let wants_imds =
        args.endpoint.is_some() || args.role.is_some() || args.extended || args.allow_imdsv1;
    match args.source {
        Source::Auto if wants_imds => Source::Imds,
        Source::Auto if ContainerConfig::configured_in(crate::env_var) => Source::Container,
        Source::Auto => Source::Imds,
        explicit => explicit,
    }
}

/// Container settings: the flags, then the SDKs' variables. Flags that only mean something to
/// IMDS are refused rather than ignored.
fn container_config(args: &Args) -> Result<ContainerConfig, Failure> {
    let imds_only = [
        (args.allow_imdsv1, "--allow-imdsv1"),
        (args.role.is_some(), "--role"),
        (args.extended, "--extended"),
    ];
    if let Some((_, flag)) = imds_only.iter().find(|(set, _)| *set) {
        return Err(Failure(format!(
            "{flag} applies to IMDS only, and --source container was asked for"
        )));
    }
    let mut builder = ContainerConfig::builder();
    if let Some(url) = &args.endpoint {
        builder = builder.endpoint(url.clone());
    }
    if let Some(timeout) = args.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(attempts) = args.attempts {
        builder = builder.num_attempts(attempts);
    }
    builder.build_with_env().map_err(|e| match e {
        credcycle_imds::container::ContainerConfigError::NotConfigured => Failure(format!(
            "{e}: set one, or pass --endpoint URL with --source container"
        )),
        other => Failure(
            other
                .to_string()
                .replace("the endpoint option", "--endpoint"),
        ),
    })
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
