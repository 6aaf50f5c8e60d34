//! `credcycle doctor`: walk through what a credentials client does, one step at a time, and say
//! what is wrong and how to fix it.
//!
//! Each step is one request (or one local check) with a verdict: `ok`, `warn`, `fail` or
//! `skip`. The IMDS steps stop at the first failure, except the IMDSv1 probe, which runs after a
//! failed token request too because it tells a hop limit from an IMDS that answers nothing.
//! The container step needs no IMDS and always runs. Every request is one attempt (no retries:
//! a diagnosis wants to see the failure), with the configured timeout.

use std::fmt::Write as _;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use credcycle_clock::SystemClock;
use credcycle_core::{Credentials, MonoTime, Policy, RoleName, WallTime};
use credcycle_imds::codec::{self, InstanceProfileInfo};
use credcycle_imds::{
    Endpoint, HttpRequest, HttpResponse, ImdsConfig, ImdsToken, SettingSource, Transport,
    TransportError, UreqTransport,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::Failure;

/// Check, step by step, why credentials can or cannot be had here: the TCP connection to IMDS,
/// the token PUT (a timeout there names the hop limit and the command that fixes it), IMDSv1
/// (as a diagnosis only), the role listing, the credentials (redacted), the clock against IMDS's
/// Date header, iam/info, and the container-credentials variables.
///
/// IMDS settings come from the flags, the environment and the shared config file's profile, as
/// for `get`. Nothing secret is printed: an access key id prefix and the expiry only.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  credcycle doctor
  credcycle doctor --endpoint http://127.0.0.1:1338
  credcycle doctor --format json | jq '.steps[] | select(.verdict != \"ok\")'

Exit status: 0 every step ok or warn, 1 a step failed (the IMDS steps stop there), 2 bad usage.")]
pub(crate) struct Args {
    /// IMDS endpoint, e.g. http://169.254.169.254 (default: from the environment or the profile,
    /// else IPv4).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Output format: text for people, json for scripts (the shape is in docs/cli.md).
    #[arg(long, value_enum, default_value_t = DoctorFormat::Text)]
    format: DoctorFormat,
    /// Timeout of each request, in seconds (default: the configured one, 1 s).
    #[arg(long, value_name = "SECS", value_parser = crate::get::parse_secs)]
    timeout: Option<Duration>,
}

/// Output formats of `credcycle doctor`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DoctorFormat {
    /// One line per step: verdict, step, what was found; `fix:` lines where there is a fix.
    #[default]
    Text,
    /// One JSON object: `endpoint`, `result`, `failed_step` and `steps`.
    Json,
}

/// A step's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Verdict {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "fail",
            Self::Skip => "skip",
        }
    }
}

/// The steps, in order: their ids are part of the JSON contract.
const STEPS: [&str; 9] = [
    "settings",
    "connect",
    "token",
    "imdsv1",
    "role",
    "credentials",
    "clock",
    "iam-info",
    "container",
];

/// One step's outcome.
#[derive(Debug, Serialize)]
struct Step {
    step: &'static str,
    verdict: Verdict,
    detail: String,
    fix: Option<String>,
    data: Value,
}

impl Step {
    fn new(step: &'static str, verdict: Verdict, detail: impl Into<String>) -> Self {
        Self {
            step,
            verdict,
            detail: detail.into(),
            fix: None,
            data: json!({}),
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    fn data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }
}

/// The whole report.
#[derive(Debug, Serialize)]
struct Report {
    endpoint: Option<String>,
    result: Verdict,
    failed_step: Option<&'static str>,
    steps: Vec<Step>,
}

/// How far off a request's signature time AWS accepts (SigV4), in milliseconds.
const SIGV4_SKEW_MS: i64 = 5 * 60 * 1000;

/// The command that lets a PUT reply travel one more hop (into a container).
pub(crate) const HOP_LIMIT_FIX: &str = "aws ec2 modify-instance-metadata-options --instance-id \
     <instance-id> --http-put-response-hop-limit 2 --http-endpoint enabled";

pub(crate) fn run(args: &Args) -> Result<(), Failure> {
    let env = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
    let report = diagnose(args, &env);
    let out = match args.format {
        DoctorFormat::Text => text(&report),
        DoctorFormat::Json => {
            let mut out = serde_json::to_string_pretty(&report)
                .map_err(|e| Failure(format!("cannot write the report: {e}")))?;
            out.push('\n');
            out
        }
    };
    crate::stdout::write(&out)?;
    match report.failed_step {
        // The report said everything; the one stderr line names the step.
        Some(step) => Err(Failure(format!("doctor: the {step} step failed"))),
        None => Ok(()),
    }
}

/// Runs every step against the settings that `args` and `env` give.
fn diagnose(args: &Args, env: &dyn Fn(&str) -> Option<String>) -> Report {
    let mut steps = Vec::with_capacity(STEPS.len());
    let mut endpoint_text = None;
    let config = settings(args);
    match config {
        Ok((config, step)) => {
            endpoint_text = Some(config.endpoint().to_string());
            steps.push(step);
            imds_steps(&config, &mut steps);
        }
        Err(step) => steps.push(step),
    }
    // Whatever did not run is skipped, with the step that stopped it.
    let failed = steps
        .iter()
        .find(|s| s.verdict == Verdict::Fail)
        .map(|s| s.step);
    for id in STEPS {
        if id != "container" && !steps.iter().any(|s| s.step == id) {
            let why = failed.map_or_else(
                || "not run".to_owned(),
                |f| format!("not run: the {f} step failed"),
            );
            steps.push(Step::new(id, Verdict::Skip, why));
        }
    }
    steps.push(container(env));
    steps.sort_by_key(|s| STEPS.iter().position(|id| *id == s.step));
    let failed_step = steps
        .iter()
        .find(|s| s.verdict == Verdict::Fail)
        .map(|s| s.step);
    let result = if failed_step.is_some() {
        Verdict::Fail
    } else if steps.iter().any(|s| s.verdict == Verdict::Warn) {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    Report {
        endpoint: endpoint_text,
        result,
        failed_step,
        steps,
    }
}

/// The settings step: the IMDS configuration, as `get` builds it, and where the endpoint came
/// from.
fn settings(args: &Args) -> Result<(ImdsConfig, Step), Step> {
    let mut builder = ImdsConfig::builder();
    if let Some(timeout) = args.timeout {
        builder = builder.timeout(timeout);
    }
    let config = crate::imds_config(builder, args.endpoint.as_deref())
        .map_err(|e| Step::new("settings", Verdict::Fail, e.0))?;
    let shared = config.shared_config();
    let source = match config.endpoint_source() {
        SettingSource::Explicit => "--endpoint".to_owned(),
        SettingSource::Env(var) => var.to_owned(),
        SettingSource::Profile(key) => match shared {
            Some(s) => format!("{key} in profile {} of {}", s.profile(), s.path()),
            None => key.to_owned(),
        },
        SettingSource::Default => "the default".to_owned(),
    };
    let file = match shared {
        Some(s) if s.has_profile() => format!("profile {} of {}", s.profile(), s.path()),
        Some(s) => format!("{} (no profile {} in it)", s.path(), s.profile()),
        None => "no AWS config file".to_owned(),
    };
    let data = json!({
        "endpoint": config.endpoint().as_str(),
        "endpoint_source": source,
        "timeout_secs": config.timeout().as_secs_f64(),
        "config_file": shared.map(|s| s.path()),
        "profile": shared.map(|s| s.profile()),
        "profile_found": shared.map(|s| s.has_profile()),
    });
    if config.is_disabled() {
        return Err(Step::new(
            "settings",
            Verdict::Fail,
            "AWS_EC2_METADATA_DISABLED=true: credcycle and the SDKs send nothing to IMDS",
        )
        .fix("unset AWS_EC2_METADATA_DISABLED, or pass --endpoint")
        .data(data));
    }
    let detail = format!(
        "endpoint {} (from {source}), {} per request, {file}",
        config.endpoint(),
        seconds(config.timeout()),
    );
    Ok((
        config,
        Step::new("settings", Verdict::Ok, detail).data(data),
    ))
}

/// One request's reply, and when it came (wall clock).
struct Exchange {
    reply: Result<HttpResponse, TransportError>,
    received: WallTime,
}

struct Imds {
    endpoint: Endpoint,
    timeout: Duration,
    transport: UreqTransport,
    clock: SystemClock,
    /// Every reply's `Date` and the wall-clock bounds of its request.
    dates: Vec<(String, WallTime, WallTime)>,
}

impl Imds {
    fn send(&mut self, request: &HttpRequest) -> Exchange {
        let sent = self.clock.now().wall;
        let reply = self.transport.send(request, self.timeout);
        let received = self.clock.now().wall;
        if let Ok(r) = &reply
            && let Some(date) = r.header("Date")
        {
            self.dates.push((date.to_owned(), sent, received));
        }
        Exchange { reply, received }
    }
}

fn imds_steps(config: &ImdsConfig, steps: &mut Vec<Step>) {
    let mut imds = Imds {
        endpoint: config.endpoint().clone(),
        timeout: config.timeout(),
        transport: UreqTransport::new(),
        clock: SystemClock::new(),
        dates: Vec::new(),
    };

    let connect = connect(&imds);
    let connected = connect.verdict == Verdict::Ok;
    steps.push(connect);
    if !connected {
        return;
    }

    let (token_step, token, token_timed_out) = token(&mut imds);
    let token_failed = token_step.verdict == Verdict::Fail;
    steps.push(token_step);
    let v1 = imdsv1(&mut imds, token_timed_out);
    if token_timed_out && v1.data["answered"] == json!(false) {
        // Neither a PUT nor a GET is answered: not the hop limit (it only drops PUT replies).
        if let Some(step) = steps.iter_mut().find(|s| s.step == "token") {
            step.detail = format!(
                "no reply to the token PUT within {}, and none to a GET either: IMDS is not \
                 answering (throttled, overloaded, or something between drops every reply), \
                 which is not the hop limit",
                seconds(imds.timeout)
            );
            step.fix = None;
        }
    }
    steps.push(v1);
    let Some(token) = token.filter(|_| !token_failed) else {
        return;
    };

    let (role_step, role) = role(&mut imds, &token, config.pinned_role());
    steps.push(role_step);
    let Some(role) = role else {
        return;
    };

    let creds = credentials(&mut imds, &token, &role);
    let failed = creds.verdict == Verdict::Fail;
    steps.push(creds);
    if failed {
        return;
    }

    let clock = clock(&imds);
    let failed = clock.verdict == Verdict::Fail;
    steps.push(clock);
    if failed {
        return;
    }

    steps.push(iam_info(&mut imds, &token));
}

/// The host and port of an endpoint (`http://host[:port]`, validated already).
fn host_port(endpoint: &Endpoint) -> (String, u16) {
    let authority = endpoint
        .as_str()
        .strip_prefix("http://")
        .unwrap_or(endpoint.as_str());
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => (rest, None),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(80);
    (host.to_owned(), port)
}

fn connect(imds: &Imds) -> Step {
    let (host, port) = host_port(&imds.endpoint);
    let addrs: Vec<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(_) => {
            return Step::new(
                "connect",
                Verdict::Fail,
                format!("cannot resolve {host}: no address for the endpoint's host"),
            );
        }
    };
    let mut last = None;
    for addr in &addrs {
        let start = imds.clock.now().mono;
        match TcpStream::connect_timeout(addr, imds.timeout) {
            Ok(_) => {
                let ms = ms_since(imds, start);
                return Step::new(
                    "connect",
                    Verdict::Ok,
                    format!("TCP connection to {addr} opened in {ms} ms"),
                )
                .data(json!({ "address": addr.to_string(), "ms": ms }));
            }
            Err(e) => last = Some((*addr, e)),
        }
    }
    let Some((addr, e)) = last else {
        return Step::new(
            "connect",
            Verdict::Fail,
            format!("{host} resolves to no address"),
        );
    };
    let data = json!({ "address": addr.to_string(), "error": e.kind().to_string() });
    let step = match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Step::new(
            "connect",
            Verdict::Fail,
            format!(
                "connection to {addr} refused: nothing listens there (not on EC2, or the wrong \
                 endpoint)"
            ),
        ),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Step::new(
            "connect",
            Verdict::Fail,
            format!(
                "no answer to a connection to {addr} within {}: not on EC2, IMDS turned off, or \
                 a firewall drops the packets",
                seconds(imds.timeout)
            ),
        )
        .fix(
            "on EC2: aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
             --http-endpoint enabled",
        ),
        kind => Step::new(
            "connect",
            Verdict::Fail,
            format!("cannot connect to {addr}: {kind}"),
        ),
    };
    step.data(data)
}

fn ms_since(imds: &Imds, start: MonoTime) -> u64 {
    u64::try_from(
        imds.clock
            .now()
            .mono
            .saturating_duration_since(start)
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

/// The token step: the step, the token (on success), and whether the PUT timed out.
fn token(imds: &mut Imds) -> (Step, Option<ImdsToken>, bool) {
    let ttl = codec::MAX_TOKEN_TTL_SECS;
    let exchange = imds.send(&codec::token_request(&imds.endpoint, ttl));
    let reply = match exchange.reply {
        Ok(reply) => reply,
        Err(TransportError::Timeout) => {
            let step = Step::new(
                "token",
                Verdict::Fail,
                format!(
                    "no reply to the token PUT within {} although the connection opened: the \
                     PUT response hop limit is too low for where this runs (inside a container, \
                     the reply needs 2 hops; the default is 1)",
                    seconds(imds.timeout)
                ),
            )
            .fix(HOP_LIMIT_FIX)
            .data(json!({ "status": null, "error": "timeout", "hop_limit": true }));
            return (step, None, true);
        }
        Err(e) => {
            let step = Step::new(
                "token",
                Verdict::Fail,
                format!("the token PUT got no reply: {e}"),
            )
            .data(json!({ "status": null, "error": e.to_string() }));
            return (step, None, false);
        }
    };
    let status = reply.status();
    let data = json!({ "status": status });
    let step = match status {
        200 => match codec::parse_token(reply.expose_body()) {
            Ok(token) => {
                let granted = codec::parse_token_ttl(reply.header(codec::TOKEN_TTL_HEADER), ttl);
                let step = Step::new(
                    "token",
                    Verdict::Ok,
                    format!("session token issued for {granted} s (IMDSv2)"),
                )
                .data(json!({ "status": status, "ttl_secs": granted }));
                return (step, Some(token), false);
            }
            Err(e) => Step::new(
                "token",
                Verdict::Fail,
                format!("the token reply is unusable: {e}"),
            ),
        },
        403 => Step::new(
            "token",
            Verdict::Fail,
            "IMDS refused the token PUT (HTTP 403): the metadata endpoint is turned off for \
             this instance, or the request went through a proxy (IMDS refuses X-Forwarded-For)",
        )
        .fix(
            "aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
             --http-endpoint enabled (and bypass any proxy: NO_PROXY=169.254.169.254)",
        ),
        404 | 405 => Step::new(
            "token",
            Verdict::Fail,
            format!(
                "IMDS offers no session tokens (HTTP {status} to the token PUT): an old emulator, \
                 not EC2; `credcycle get --allow-imdsv1` would fall back to IMDSv1"
            ),
        ),
        other => Step::new(
            "token",
            Verdict::Fail,
            format!("IMDS answered the token PUT with HTTP {other}"),
        ),
    };
    (step.data(data), None, false)
}

/// The IMDSv1 probe: does a GET without a token get an answer? Never a failure.
fn imdsv1(imds: &mut Imds, token_timed_out: bool) -> Step {
    let exchange = imds.send(&codec::role_listing_request(&imds.endpoint, None));
    match exchange.reply {
        Ok(reply) if reply.status() == 401 => {
            let mut detail = "IMDSv1 is off: a GET without a token gets 401 (tokens required, as \
                              recommended)"
                .to_owned();
            if token_timed_out {
                detail.push_str(
                    "; GETs are answered while the token PUT is not, which is the hop limit",
                );
            }
            Step::new("imdsv1", Verdict::Ok, detail)
                .data(json!({ "answered": true, "status": 401, "enabled": false }))
        }
        Ok(reply) => {
            let status = reply.status();
            let mut detail = format!(
                "IMDSv1 is on: a GET without a token is answered (HTTP {status}); credcycle \
                 never uses it, but anything on this host that can be tricked into a request \
                 (SSRF) can read the credentials"
            );
            if token_timed_out {
                detail.push_str(
                    "; GETs are answered while the token PUT is not, which is the hop limit",
                );
            }
            Step::new("imdsv1", Verdict::Warn, detail)
                .fix(
                    "aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
                     --http-tokens required",
                )
                .data(json!({ "answered": true, "status": status, "enabled": true }))
        }
        Err(e) => Step::new(
            "imdsv1",
            Verdict::Warn,
            format!("a GET without a token got no reply either: {e}"),
        )
        .data(json!({ "answered": false, "status": null, "error": e.to_string() })),
    }
}

fn role(imds: &mut Imds, token: &ImdsToken, pinned: Option<&RoleName>) -> (Step, Option<RoleName>) {
    let exchange = imds.send(&codec::role_listing_request(&imds.endpoint, Some(token)));
    let reply = match exchange.reply {
        Ok(reply) => reply,
        Err(e) => {
            let step = Step::new(
                "role",
                Verdict::Fail,
                format!("the role listing got no reply: {e}"),
            )
            .data(json!({ "status": null, "error": e.to_string() }));
            return (step, None);
        }
    };
    let status = reply.status();
    match status {
        200 => match codec::parse_role_listing(reply.expose_body()) {
            Ok(listed) => match pinned {
                Some(pinned) if *pinned != listed => {
                    let step = Step::new(
                        "role",
                        Verdict::Warn,
                        format!(
                            "the instance profile's role is {listed}, but the settings pin \
                             {pinned} (AWS_EC2_INSTANCE_PROFILE_NAME or ec2_instance_profile_name); \
                             {pinned} is used"
                        ),
                    )
                    .data(json!({ "status": status, "role": listed.as_str(), "pinned": pinned.as_str() }));
                    (step, Some(pinned.clone()))
                }
                _ => {
                    let step = Step::new(
                        "role",
                        Verdict::Ok,
                        format!("instance profile role {listed}"),
                    )
                    .data(json!({ "status": status, "role": listed.as_str() }));
                    (step, Some(listed))
                }
            },
            Err(e) => (
                Step::new(
                    "role",
                    Verdict::Fail,
                    format!("the role listing is unusable: {e}"),
                )
                .data(json!({ "status": status })),
                None,
            ),
        },
        404 => (
            Step::new(
                "role",
                Verdict::Fail,
                "no instance profile is attached to this instance (HTTP 404 on the role listing)",
            )
            .fix(
                "aws ec2 associate-iam-instance-profile --instance-id <instance-id> \
                 --iam-instance-profile Name=<profile-name>",
            )
            .data(json!({ "status": status })),
            None,
        ),
        other => (
            Step::new(
                "role",
                Verdict::Fail,
                format!("IMDS answered the role listing with HTTP {other}"),
            )
            .data(json!({ "status": status })),
            None,
        ),
    }
}

fn credentials(imds: &mut Imds, token: &ImdsToken, role: &RoleName) -> Step {
    let exchange = imds.send(&codec::credentials_request(
        &imds.endpoint,
        role,
        false,
        Some(token),
    ));
    let reply = match exchange.reply {
        Ok(reply) => reply,
        Err(e) => {
            return Step::new(
                "credentials",
                Verdict::Fail,
                format!("the credentials request got no reply: {e}"),
            )
            .data(json!({ "status": null, "error": e.to_string() }));
        }
    };
    let status = reply.status();
    match status {
        200 => match codec::parse_credentials(reply.expose_body()) {
            Ok(creds) => judge_credentials(&creds, exchange.received),
            Err(e) => Step::new(
                "credentials",
                Verdict::Fail,
                format!("the credentials reply is unusable: {e}"),
            )
            .data(json!({ "status": status })),
        },
        404 => Step::new(
            "credentials",
            Verdict::Fail,
            format!(
                "IMDS has no credentials for role {role} (HTTP 404): the instance profile's \
                 role was removed or changed just now"
            ),
        )
        .data(json!({ "status": status })),
        other => Step::new(
            "credentials",
            Verdict::Fail,
            format!("IMDS answered the credentials request with HTTP {other}"),
        )
        .data(json!({ "status": status })),
    }
}

/// The credentials, redacted: an access key id prefix, the expiry, the lifetime and the time
/// left, judged against the expiry margin.
fn judge_credentials(creds: &Credentials, now: WallTime) -> Step {
    let margin = Policy::default().expiry_margin();
    let key: String = creds.access_key_id().as_str().chars().take(8).collect();
    let expiration = creds.expiration();
    let left_ms = expiration
        .as_unix_millis()
        .saturating_sub(now.as_unix_millis());
    let left_secs = left_ms.div_euclid(1000);
    let lifetime_secs = creds
        .last_updated()
        .map(|updated| (expiration.as_unix_millis() - updated.as_unix_millis()).div_euclid(1000));
    let lifetime = lifetime_secs.map_or_else(
        || "unknown lifetime (no LastUpdated)".to_owned(),
        |secs| format!("lifetime {}", span(secs)),
    );
    let data = json!({
        "status": 200,
        "access_key_id_prefix": key,
        "expiration": expiration.to_rfc3339(),
        "lifetime_secs": lifetime_secs,
        "seconds_left": left_secs,
    });
    let margin_ms = i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
    let summary = format!(
        "access key {key}..., expires {} ({lifetime}, {} left)",
        expiration.to_rfc3339(),
        span(left_secs)
    );
    if left_ms <= 0 {
        Step::new(
            "credentials",
            Verdict::Fail,
            format!("{summary}: IMDS served credentials that have already expired"),
        )
        .data(data)
    } else if left_ms < margin_ms {
        Step::new(
            "credentials",
            Verdict::Fail,
            format!(
                "{summary}: less than the {} expiry margin is left, so credcycle would not hand \
                 them out",
                seconds(margin)
            ),
        )
        .data(data)
    } else {
        Step::new("credentials", Verdict::Ok, summary).data(data)
    }
}

/// How far this machine's clock is from IMDS's (`Date` of the reply with the shortest round
/// trip). Behind IMDS, credentials look longer-lived than they are: more than the expiry margin
/// (60 s) fails. Ahead, they only look shorter-lived, but AWS refuses requests signed more than
/// 5 minutes off: more than that fails. Over 5 s either way is a warning.
fn clock(imds: &Imds) -> Step {
    let best = imds
        .dates
        .iter()
        .filter_map(|(date, sent, received)| {
            let at = chrono::DateTime::parse_from_rfc2822(date).ok()?;
            let date_ms = at.timestamp_millis();
            let rtt = received.as_unix_millis() - sent.as_unix_millis();
            Some((date_ms, *sent, *received, rtt))
        })
        .min_by_key(|(_, _, _, rtt)| *rtt);
    let Some((date_ms, sent, received, rtt)) = best else {
        return Step::new(
            "clock",
            Verdict::Warn,
            "IMDS sent no usable Date header: clock skew not measured",
        );
    };
    // `Date` has whole seconds, truncated: the service's time was in [date, date + 1 s).
    let service_ms = date_ms + 500;
    let local_ms = (sent.as_unix_millis() + received.as_unix_millis()) / 2;
    // Positive: this machine is ahead of IMDS.
    let skew_ms = local_ms - service_ms;
    let uncertainty_ms = 500 + rtt / 2;
    #[expect(
        clippy::cast_precision_loss,
        reason = "milliseconds of skew are far below 2^52"
    )]
    let (skew_secs, uncertainty_secs) = (skew_ms as f64 / 1000.0, uncertainty_ms as f64 / 1000.0);
    let margin = Policy::default().expiry_margin();
    let margin_ms = i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
    let data = json!({ "skew_secs": skew_secs, "uncertainty_secs": uncertainty_secs });
    let direction = if skew_ms >= 0 { "ahead of" } else { "behind" };
    let measured = format!(
        "this machine's clock is {:.1} s {direction} IMDS's (±{uncertainty_secs:.1} s, from the \
         Date header)",
        skew_secs.abs()
    );
    let fix = "sync the clock: chrony with the Amazon Time Sync Service (169.254.169.123)";
    // What the skew surely is at least, whatever the measurement's error.
    let at_least = skew_ms.abs() - uncertainty_ms;
    if skew_ms < 0 && at_least > margin_ms {
        Step::new(
            "clock",
            Verdict::Fail,
            format!(
                "{measured}: credentials look longer-lived than they are, by more than the {} \
                 expiry margin, so they could be used after they expire",
                seconds(margin)
            ),
        )
        .fix(fix)
        .data(data)
    } else if skew_ms > 0 && at_least > SIGV4_SKEW_MS {
        Step::new(
            "clock",
            Verdict::Fail,
            format!("{measured}: AWS refuses requests signed more than 5 minutes off"),
        )
        .fix(fix)
        .data(data)
    } else if at_least > 5_000 {
        let why = if skew_ms < 0 {
            format!(
                "within the {} expiry margin, but it eats into it",
                seconds(margin)
            )
        } else {
            "credentials look shorter-lived than they are (safe, but refreshed early)".to_owned()
        };
        Step::new("clock", Verdict::Warn, format!("{measured}: {why}"))
            .fix(fix)
            .data(data)
    } else {
        Step::new("clock", Verdict::Ok, measured).data(data)
    }
}

fn iam_info(imds: &mut Imds, token: &ImdsToken) -> Step {
    let exchange = imds.send(&codec::instance_profile_info_request(
        &imds.endpoint,
        Some(token),
    ));
    let reply = match exchange.reply {
        Ok(reply) => reply,
        Err(e) => {
            return Step::new(
                "iam-info",
                Verdict::Fail,
                format!("iam/info got no reply: {e}"),
            )
            .data(json!({ "status": null, "error": e.to_string() }));
        }
    };
    let status = reply.status();
    if status != 200 {
        return Step::new(
            "iam-info",
            Verdict::Fail,
            format!("IMDS answered iam/info with HTTP {status}"),
        )
        .data(json!({ "status": status }));
    }
    match codec::parse_instance_profile_info(reply.expose_body()) {
        Ok(InstanceProfileInfo { arn, id, .. }) => Step::new(
            "iam-info",
            Verdict::Ok,
            format!("instance profile {arn} ({id})"),
        )
        .data(json!({ "status": status, "arn": arn, "id": id })),
        Err(e) => Step::new(
            "iam-info",
            Verdict::Fail,
            format!("iam/info is unusable: {e}"),
        )
        .data(json!({ "status": status })),
    }
}

/// The container-credentials variables: which are set, and whether the SDKs would accept them.
/// Token values are never shown.
fn container(env: &dyn Fn(&str) -> Option<String>) -> Step {
    const RELATIVE: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
    const FULL: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
    const TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
    const TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
    let get = |name| env(name).filter(|v| !v.trim().is_empty());
    let set: Vec<&str> = [RELATIVE, FULL, TOKEN, TOKEN_FILE]
        .into_iter()
        .filter(|name| get(name).is_some())
        .collect();
    let data = json!({ "set": set });
    if set.is_empty() {
        return Step::new(
            "container",
            Verdict::Skip,
            "no AWS_CONTAINER_* variable is set (not an ECS task or an EKS Pod Identity pod)",
        )
        .data(data);
    }
    // Problems make the SDKs fail; warnings are set variables that do nothing.
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let uri = match (get(RELATIVE), get(FULL)) {
        (Some(relative), full) => {
            if !relative.trim().starts_with('/') {
                problems.push(format!("{RELATIVE} must start with /"));
            }
            if full.is_some() {
                notes.push(format!("{RELATIVE} wins over {FULL}"));
            }
            Some(format!("http://169.254.170.2{}", relative.trim()))
        }
        (None, Some(full)) => {
            if let Err(why) = check_full_uri(full.trim()) {
                problems.push(format!("{FULL} {why}"));
            }
            Some(full.trim().to_owned())
        }
        (None, None) => {
            warnings.push(format!(
                "a token is set but neither {RELATIVE} nor {FULL}: the SDKs ignore it"
            ));
            None
        }
    };
    if let Some(file) = get(TOKEN_FILE) {
        match std::fs::read(file.trim()) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {
                problems.push(format!("{TOKEN_FILE} names an empty file"));
            }
            Ok(bytes) if trimmed(&bytes).contains(&b'\n') || trimmed(&bytes).contains(&b'\r') => {
                problems.push(format!(
                    "the file {TOKEN_FILE} names holds a line break inside the token"
                ));
            }
            Ok(_) => notes.push(format!("{TOKEN_FILE} is readable")),
            Err(e) => problems.push(format!("{TOKEN_FILE} cannot be read: {}", e.kind())),
        }
        if get(TOKEN).is_some() {
            notes.push(format!("{TOKEN_FILE} wins over {TOKEN}"));
        }
    } else if let Some(token) = get(TOKEN)
        && token.contains(['\r', '\n'])
    {
        problems.push(format!("{TOKEN} holds a line break"));
    }
    let mut detail = format!("set: {}", set.join(", "));
    if let Some(uri) = uri.as_ref().filter(|_| problems.is_empty()) {
        let _ = write!(detail, "; the SDKs fetch from {uri} before trying IMDS");
    }
    for note in &notes {
        let _ = write!(detail, "; {note}");
    }
    if !problems.is_empty() {
        let _ = write!(detail, "; {}", problems.join("; "));
        Step::new("container", Verdict::Fail, detail).data(data)
    } else if !warnings.is_empty() {
        let _ = write!(detail, "; {}", warnings.join("; "));
        Step::new("container", Verdict::Warn, detail).data(data)
    } else {
        Step::new("container", Verdict::Ok, detail).data(data)
    }
}

fn trimmed(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Whether the SDKs accept `AWS_CONTAINER_CREDENTIALS_FULL_URI`: the container source's own
/// check (https to any host, or http to a loopback address, 169.254.170.2 (ECS),
/// 169.254.170.23 or fd00:ec2::23 (EKS Pod Identity)), so that doctor and `get` never disagree.
fn check_full_uri(uri: &str) -> Result<(), String> {
    credcycle_imds::container::ContainerEndpoint::full(uri)
        .map(|_| ())
        .map_err(|problem| problem.to_string())
}

/// A duration in seconds, e.g. `1 s`, `0.25 s`.
fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{secs} s")
    }
}

/// Whole seconds as `5h 59m`, `12m 3s`, `45s` (negative: `-45s`).
fn span(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{sign}{h}h {m}m")
    } else if m > 0 {
        format!("{sign}{m}m {s}s")
    } else {
        format!("{sign}{s}s")
    }
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for step in &report.steps {
        let _ = writeln!(
            out,
            "{:<5} {:<12} {}",
            step.verdict.as_str(),
            step.step,
            step.detail
        );
        if let Some(fix) = &step.fix {
            let _ = writeln!(out, "{:<18} fix: {fix}", "");
        }
    }
    let warnings = report
        .steps
        .iter()
        .filter(|s| s.verdict == Verdict::Warn)
        .count();
    let _ = match report.failed_step {
        Some(step) => writeln!(out, "result: fail at {step}"),
        None if warnings > 0 => writeln!(out, "result: ok, {warnings} warning(s)"),
        None => writeln!(out, "result: ok"),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_endpoints() {
        let hp = |url: &str| host_port(&Endpoint::parse(url).unwrap());
        assert_eq!(hp("http://169.254.169.254"), ("169.254.169.254".into(), 80));
        assert_eq!(hp("http://127.0.0.1:1338"), ("127.0.0.1".into(), 1338));
        assert_eq!(hp("http://[fd00:ec2::254]"), ("fd00:ec2::254".into(), 80));
        assert_eq!(hp("http://[::1]:8080"), ("::1".into(), 8080));
        assert_eq!(hp("http://localhost:9"), ("localhost".into(), 9));
    }

    #[test]
    fn full_uris_the_sdks_accept() {
        for ok in [
            "http://127.0.0.1:8080/creds",
            "http://localhost/x",
            "http://[::1]:80/",
            "http://169.254.170.2/v2/credentials/abc",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "https://creds.example.com/x",
        ] {
            assert_eq!(check_full_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "http://169.254.170.3/",
            "http://example.com/",
            "ftp://127.0.0.1/",
            "127.0.0.1:8080",
            "http:///nohost",
        ] {
            assert!(check_full_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spans_and_seconds() {
        assert_eq!(span(6 * 3600), "6h 0m");
        assert_eq!(span(21_599), "5h 59m");
        assert_eq!(span(723), "12m 3s");
        assert_eq!(span(45), "45s");
        assert_eq!(span(-45), "-45s");
        assert_eq!(seconds(Duration::from_secs(1)), "1 s");
        assert_eq!(seconds(Duration::from_millis(250)), "0.25 s");
    }

    #[test]
    fn the_default_endpoint_is_imds_without_connecting() {
        // Only the URL is checked: nothing may ever be sent to 169.254.169.254 in a test.
        let config = ImdsConfig::builder()
            .build_with_sources(|_| None, None)
            .unwrap();
        assert_eq!(config.endpoint().as_str(), "http://169.254.169.254");
        assert_eq!(
            host_port(config.endpoint()),
            ("169.254.169.254".to_owned(), 80)
        );
    }

    #[test]
    fn the_hop_limit_fix_uses_the_aws_cli_flags() {
        assert_eq!(
            HOP_LIMIT_FIX,
            "aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
             --http-put-response-hop-limit 2 --http-endpoint enabled"
        );
    }
}
