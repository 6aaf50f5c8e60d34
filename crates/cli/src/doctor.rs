//! `credcycle doctor`: walk through what a credentials client does, one step at a time, and say
//! what is wrong and how to fix it.
//!
//! Each step is one request (or one local check) with a verdict: `ok`, `warn`, `fail` or
//! `skip`. The IMDS steps stop at the first failure, except the IMDSv1 probe, which runs after a
//! failed token request too because it tells a hop limit from an IMDS that answers nothing.
//! The container step needs no IMDS and always runs. Every request is one attempt (no retries:
//! a diagnosis wants to see the failure), with the configured timeout.
//!
//! This module holds the order of the steps and the settings step; `imds` the way to IMDS and
//! the connect step; `token` the token step and the IMDSv1 probe; `credentials` the role, the
//! credentials and iam/info; `clock` and `container` their steps; `report` the verdicts and the
//! text output. The JSON shape is in `docs/cli.md`.

use std::time::Duration;

use credcycle_imds::{ImdsConfig, SettingSource};
use serde_json::json;

use crate::Failure;

mod clock;
mod container;
mod credentials;
mod imds;
mod report;
mod token;

use clock::clock;
use container::container;
use credentials::{credentials, iam_info, role};
use imds::{Imds, connect};
use report::{Report, Step, Verdict, seconds, text};
use token::{imdsv1, token};

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

fn imds_steps(config: &ImdsConfig, steps: &mut Vec<Step>) {
    let mut imds = Imds::new(config);

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
