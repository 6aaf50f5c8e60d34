use std::collections::BTreeMap;

use core::time::Duration;

use credcycle_core::{InvalidRoleName, RoleName};

use super::builder::TIMEOUT_RANGE;
use super::*;

/// An environment from `(name, value)` pairs (also used by the shared config file's tests).
pub(super) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn role(name: &str) -> RoleName {
    RoleName::new(name).unwrap()
}

#[test]
fn defaults_without_environment() {
    let config = ImdsConfig::builder().build().unwrap();
    assert_eq!(config, ImdsConfig::default());
    assert_eq!(config.endpoint(), &Endpoint::IPV4);
    assert_eq!(config.endpoint_source(), SettingSource::Default);
    assert!(!config.is_disabled());
    assert_eq!(config.timeout(), Duration::from_secs(1));
    assert_eq!(config.num_attempts(), 3);
    assert_eq!(config.token_ttl_secs(), 21_600);
    assert!(!config.allow_imds_v1());
    assert!(!config.imds_v1_forbidden_by_env());
    assert_eq!(config.pinned_role(), None);
    assert!(!config.extended_credentials());
    assert_eq!(config.backoff_base(), Duration::from_millis(250));
    assert_eq!(config.backoff_cap(), Duration::from_secs(2));
    assert_eq!(config.jitter_seed(), 0);
    assert_eq!(config.max_request_time(), Duration::from_secs(7));
}

/// The endpoint precedence, one row per case; `-` is unset. A shadowed variable is not read,
/// so its invalid value is no error (last row).
const ENDPOINT_TABLE: &str = "
explicit endpoint     | explicit mode | env endpoint       | env mode | endpoint               | source
-                     | -             | -                  | -        | http://169.254.169.254 | default
-                     | -             | -                  | IPv6     | http://[fd00:ec2::254] | env mode
-                     | -             | -                  | ipv4     | http://169.254.169.254 | env mode
-                     | -             | -                  | IPV6     | http://[fd00:ec2::254] | env mode
-                     | -             | http://10.0.0.1:80 | IPv6     | http://10.0.0.1:80     | env endpoint
-                     | IPv6          | -                  | IPv4     | http://[fd00:ec2::254] | explicit
-                     | IPv6          | http://10.0.0.1    | -        | http://10.0.0.1        | env endpoint
http://127.0.0.1:1338 | -             | http://10.0.0.1    | IPv6     | http://127.0.0.1:1338  | explicit
http://127.0.0.1:1338 | IPv6          | -                  | -        | http://127.0.0.1:1338  | explicit
http://localhost      | -             | not a url          | IPv5     | http://localhost       | explicit
";

#[test]
fn endpoint_precedence_table() {
    let set = |cell: &'static str| (cell != "-").then_some(cell);
    let rows: Vec<&str> = ENDPOINT_TABLE.trim().lines().skip(1).collect();
    assert_eq!(rows.len(), 10);
    for row in rows {
        let cells: Vec<&'static str> = row.split('|').map(str::trim).collect();
        let [explicit, mode, env_endpoint, env_mode, want, source] = cells[..] else {
            panic!("bad row {row}")
        };
        let mut pairs = Vec::new();
        if let Some(v) = set(env_endpoint) {
            pairs.push((vars::ENDPOINT, v));
        }
        if let Some(v) = set(env_mode) {
            pairs.push((vars::ENDPOINT_MODE, v));
        }
        let mut builder = ImdsConfig::builder();
        if let Some(url) = set(explicit) {
            builder = builder.endpoint(url);
        }
        if let Some(m) = set(mode) {
            builder = builder.endpoint_mode(m.parse().unwrap());
        }
        let config = builder.build_with_env_source(env(&pairs)).unwrap();
        let source = match source {
            "default" => SettingSource::Default,
            "explicit" => SettingSource::Explicit,
            "env endpoint" => SettingSource::Env(vars::ENDPOINT),
            "env mode" => SettingSource::Env(vars::ENDPOINT_MODE),
            other => panic!("bad source {other}"),
        };
        assert_eq!(config.endpoint().as_str(), want, "{row}");
        assert_eq!(config.endpoint_source(), source, "{row}");
    }
}

#[test]
fn every_variable_is_read() {
    let config = ImdsConfig::from_env_source(env(&[
        (vars::DISABLED, "TRUE"),
        (vars::ENDPOINT, " http://[::1]:8080/ "),
        (vars::TIMEOUT, "0.25"),
        (vars::NUM_ATTEMPTS, "5"),
        (vars::INSTANCE_PROFILE_NAME, "pinned-role"),
        (vars::V1_DISABLED, "True"),
    ]))
    .unwrap();
    assert!(config.is_disabled());
    assert_eq!(config.endpoint().as_str(), "http://[::1]:8080");
    assert_eq!(config.timeout(), Duration::from_millis(250));
    assert_eq!(config.num_attempts(), 5);
    assert_eq!(config.pinned_role(), Some(&role("pinned-role")));
    assert!(config.imds_v1_forbidden_by_env());
}

#[test]
fn explicit_options_win_over_the_environment() {
    let environment = env(&[
        (vars::TIMEOUT, "5"),
        (vars::NUM_ATTEMPTS, "7"),
        (vars::INSTANCE_PROFILE_NAME, "from-env"),
    ]);
    let config = ImdsConfig::builder()
        .timeout(Duration::from_millis(1500))
        .num_attempts(2)
        .pinned_role(role("explicit"))
        .build_with_env_source(&environment)
        .unwrap();
    assert_eq!(config.timeout(), Duration::from_millis(1500));
    assert_eq!(config.num_attempts(), 2);
    assert_eq!(config.pinned_role(), Some(&role("explicit")));

    let config = ImdsConfig::from_env_source(&environment).unwrap();
    assert_eq!(config.timeout(), Duration::from_secs(5));
    assert_eq!(config.num_attempts(), 7);
    assert_eq!(config.pinned_role(), Some(&role("from-env")));
}

#[test]
fn imds_v1_needs_the_option_and_the_variable_can_only_veto() {
    // (option, AWS_EC2_METADATA_V1_DISABLED) -> allowed
    let cases = [
        (None, None, false),
        (None, Some("false"), false),
        (None, Some("true"), false),
        (Some(false), Some("false"), false),
        (Some(true), None, true),
        (Some(true), Some("false"), true),
        (Some(true), Some("TRUE"), false),
        (Some(true), Some(""), true),
    ];
    for (option, var, allowed) in cases {
        let mut builder = ImdsConfig::builder();
        if let Some(allow) = option {
            builder = builder.allow_imds_v1(allow);
        }
        let pairs: Vec<(&str, &str)> = var.map(|v| (vars::V1_DISABLED, v)).into_iter().collect();
        let config = builder.build_with_env_source(env(&pairs)).unwrap();
        assert_eq!(config.allow_imds_v1(), allowed, "{option:?} {var:?}");
    }
}

#[test]
fn disabled_is_read_from_the_environment_only() {
    for (value, disabled) in [
        ("true", true),
        ("TRUE", true),
        ("tRuE", true),
        ("false", false),
        ("False", false),
        ("", false),
        ("  ", false),
    ] {
        let config = ImdsConfig::from_env_source(env(&[(vars::DISABLED, value)])).unwrap();
        assert_eq!(config.is_disabled(), disabled, "{value:?}");
    }
}

#[test]
fn invalid_variables_are_errors_naming_the_variable() {
    let cases: Vec<(&str, &str, ValueError)> = vec![
        (vars::DISABLED, "yes", ValueError::NotBool),
        (vars::DISABLED, "1", ValueError::NotBool),
        (vars::V1_DISABLED, "disabled", ValueError::NotBool),
        (
            vars::ENDPOINT,
            "169.254.169.254",
            EndpointError::NoScheme.into(),
        ),
        (
            vars::ENDPOINT,
            "https://169.254.169.254",
            EndpointError::NotHttp {
                scheme: "https".to_owned(),
            }
            .into(),
        ),
        (vars::ENDPOINT, "http://", EndpointError::NoHost.into()),
        (
            vars::ENDPOINT,
            "http://169.254.169.254/latest",
            EndpointError::Path.into(),
        ),
        (
            vars::ENDPOINT,
            "http://169.254.169.254?x=1",
            EndpointError::QueryOrFragment.into(),
        ),
        (
            vars::ENDPOINT,
            "http://user@169.254.169.254",
            EndpointError::UserInfo.into(),
        ),
        (
            vars::ENDPOINT,
            "http://169.254.169.254:99999",
            EndpointError::BadPort.into(),
        ),
        (vars::ENDPOINT_MODE, "IPv5", ValueError::NotEndpointMode),
        (vars::ENDPOINT_MODE, "v6", ValueError::NotEndpointMode),
        (vars::TIMEOUT, "soon", ValueError::NotSeconds),
        (vars::TIMEOUT, "NaN", ValueError::NotSeconds),
        (vars::TIMEOUT, "inf", ValueError::NotSeconds),
        (vars::TIMEOUT, "0", TIMEOUT_RANGE),
        (vars::TIMEOUT, "-1", TIMEOUT_RANGE),
        (vars::TIMEOUT, "0.0001", TIMEOUT_RANGE),
        (vars::TIMEOUT, "601", TIMEOUT_RANGE),
        (
            vars::NUM_ATTEMPTS,
            "0",
            ValueError::OutOfRange { range: "1 and 10" },
        ),
        (
            vars::NUM_ATTEMPTS,
            "11",
            ValueError::OutOfRange { range: "1 and 10" },
        ),
        (vars::NUM_ATTEMPTS, "2.5", ValueError::NotInteger),
        (vars::NUM_ATTEMPTS, "-1", ValueError::NotInteger),
        (vars::NUM_ATTEMPTS, "three", ValueError::NotInteger),
        (
            vars::INSTANCE_PROFILE_NAME,
            "a/b",
            InvalidRoleName::Slash.into(),
        ),
        (
            vars::INSTANCE_PROFILE_NAME,
            "a b",
            InvalidRoleName::Control.into(),
        ),
        (vars::INSTANCE_PROFILE_NAME, "..", ValueError::DotRoleName),
    ];
    for (var, value, problem) in cases {
        let err = ImdsConfig::from_env_source(env(&[(var, value)])).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Env {
                var,
                value: value.trim().to_owned(),
                problem
            },
            "{var}={value:?}"
        );
        assert!(std::error::Error::source(&err).is_none());
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("environment variable {var} is invalid")),
            "{message}"
        );
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn invalid_variable_values_are_shown_safely() {
    let long = "x".repeat(200);
    let err = ImdsConfig::from_env_source(env(&[(vars::TIMEOUT, &long)])).unwrap_err();
    let ConfigError::Env { value, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(value, &format!("{}...", "x".repeat(64)));
    let err = ImdsConfig::from_env_source(env(&[(vars::ENDPOINT_MODE, "ip\u{7}v4")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE is invalid (\"ip?v4\"): expected IPv4 or IPv6"
    );
}

#[test]
fn invalid_options_are_errors_naming_the_option() {
    let cases: Vec<(ImdsConfigBuilder, &str, ValueError)> = vec![
        (
            ImdsConfig::builder().endpoint("ftp://x"),
            "endpoint",
            EndpointError::NotHttp {
                scheme: "ftp".to_owned(),
            }
            .into(),
        ),
        (
            ImdsConfig::builder().timeout(Duration::ZERO),
            "timeout",
            TIMEOUT_RANGE,
        ),
        (
            ImdsConfig::builder().timeout(Duration::from_secs(601)),
            "timeout",
            TIMEOUT_RANGE,
        ),
        (
            ImdsConfig::builder().num_attempts(0),
            "num_attempts",
            ValueError::OutOfRange { range: "1 and 10" },
        ),
        (
            ImdsConfig::builder().token_ttl_secs(0),
            "token_ttl_secs",
            ValueError::OutOfRange {
                range: "1 and 21600",
            },
        ),
        (
            ImdsConfig::builder().token_ttl_secs(21_601),
            "token_ttl_secs",
            ValueError::OutOfRange {
                range: "1 and 21600",
            },
        ),
        (
            ImdsConfig::builder().pinned_role(role(".")),
            "pinned_role",
            ValueError::DotRoleName,
        ),
        (
            ImdsConfig::builder().retry_backoff(Duration::from_secs(3), Duration::from_secs(2)),
            "retry_backoff",
            ValueError::BaseAboveCap,
        ),
        (
            ImdsConfig::builder().retry_backoff(Duration::ZERO, Duration::from_secs(61)),
            "retry_backoff",
            ValueError::OutOfRange {
                range: "0 and 60 seconds",
            },
        ),
    ];
    for (builder, option, problem) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err, ConfigError::Option { option, problem }, "{option}");
        assert!(
            err.to_string()
                .starts_with(&format!("option {option} is invalid: ")),
            "{err}"
        );
    }
}

#[test]
fn valid_options_are_kept() {
    let config = ImdsConfig::builder()
        .token_ttl_secs(1)
        .allow_imds_v1(true)
        .extended_credentials(true)
        .retry_backoff(Duration::ZERO, Duration::ZERO)
        .jitter_seed(99)
        .timeout(Duration::from_millis(1))
        .num_attempts(10)
        .build()
        .unwrap();
    assert_eq!(config.token_ttl_secs(), 1);
    assert!(config.allow_imds_v1());
    assert!(config.extended_credentials());
    assert_eq!(config.backoff_base(), Duration::ZERO);
    assert_eq!(config.jitter_seed(), 99);
    assert_eq!(config.timeout(), Duration::from_millis(1));
    assert_eq!(config.num_attempts(), 10);
}

#[test]
fn endpoints_are_validated_and_normalized() {
    let ok = [
        ("http://169.254.169.254", "http://169.254.169.254"),
        ("http://169.254.169.254/", "http://169.254.169.254"),
        (
            "HTTP://Example.Internal:1338",
            "http://example.internal:1338",
        ),
        ("http://[fd00:ec2::254]", "http://[fd00:ec2::254]"),
        ("http://[FD00:EC2::254]:80/", "http://[fd00:ec2::254]:80"),
        ("http://imds_mock:1338", "http://imds_mock:1338"),
        ("http://localhost", "http://localhost"),
    ];
    for (input, want) in ok {
        assert_eq!(Endpoint::parse(input).unwrap().as_str(), want, "{input}");
        assert_eq!(input.parse::<Endpoint>().unwrap().to_string(), want);
    }
    let bad = [
        ("", EndpointError::NoScheme),
        ("169.254.169.254", EndpointError::NoScheme),
        (
            "https://169.254.169.254",
            EndpointError::NotHttp {
                scheme: "https".to_owned(),
            },
        ),
        ("http://", EndpointError::NoHost),
        ("http://:80", EndpointError::NoHost),
        ("http:///latest", EndpointError::Path),
        ("http://host//", EndpointError::Path),
        ("http://host/latest/", EndpointError::Path),
        ("http://host#frag", EndpointError::QueryOrFragment),
        ("http://user:pw@host", EndpointError::UserInfo),
        ("http://ho st", EndpointError::BadHost),
        ("http://[fd00:ec2::254", EndpointError::BadHost),
        ("http://[]", EndpointError::BadHost),
        ("http://[zz::1]", EndpointError::BadHost),
        ("http://[::1]x", EndpointError::BadHost),
        ("http://::1", EndpointError::NoHost),
        ("http://host:", EndpointError::BadPort),
        ("http://host:0", EndpointError::BadPort),
        ("http://host:+80", EndpointError::BadPort),
        ("http://host:65536", EndpointError::BadPort),
    ];
    for (input, want) in bad {
        assert_eq!(Endpoint::parse(input), Err(want), "{input:?}");
    }
    assert_eq!(
        format!("{:?}", Endpoint::IPV6),
        "\"http://[fd00:ec2::254]\""
    );
    assert_eq!(EndpointMode::Ipv6.endpoint(), Endpoint::IPV6);
}

#[test]
fn the_process_environment_reader_works() {
    // Reads the real environment without changing it: whatever is set must at least parse, or
    // fail naming a variable.
    match ImdsConfig::from_env() {
        Ok(config) => assert!(config.num_attempts() >= 1),
        Err(ConfigError::Env { var, .. }) => assert!(vars::ALL.contains(&var)),
        Err(err) => panic!("{err}"),
    }
}
