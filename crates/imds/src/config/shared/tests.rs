use std::time::Duration;

use credcycle_core::RoleName;

use super::*;
use crate::config::tests::env;
use crate::config::{Endpoint, ImdsConfig, ImdsConfigBuilder, SettingSource};

fn profile(contents: &str, name: &str) -> SharedConfig {
    SharedConfig::parse("/cfg/config", contents, name).unwrap()
}

fn syntax_error(contents: &str) -> String {
    SharedConfig::parse("/cfg/config", contents, "default")
        .unwrap_err()
        .to_string()
}

/// One key of the precedence table: how to set it at each layer, and how to read the result.
struct Key {
    name: &'static str,
    var: &'static str,
    explicit: fn(ImdsConfigBuilder) -> ImdsConfigBuilder,
    values: [&'static str; 3],
    read: fn(&ImdsConfig) -> String,
    default: &'static str,
}

fn keys_table() -> Vec<Key> {
    vec![
        Key {
            name: keys::ENDPOINT,
            var: vars::ENDPOINT,
            explicit: |b| b.endpoint("http://127.0.0.1:1"),
            values: [
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
                "http://127.0.0.1:3",
            ],
            read: |c| c.endpoint().to_string(),
            default: "http://169.254.169.254",
        },
        Key {
            name: keys::ENDPOINT_MODE,
            var: vars::ENDPOINT_MODE,
            explicit: |b| b.endpoint_mode(crate::config::EndpointMode::Ipv6),
            // explicit IPv6, env IPv4, profile IPv6: each layer differs from the next.
            values: ["http://[fd00:ec2::254]", "IPv4", "IPv6"],
            read: |c| c.endpoint().to_string(),
            default: "http://169.254.169.254",
        },
        Key {
            name: keys::TIMEOUT,
            var: vars::TIMEOUT,
            explicit: |b| b.timeout(Duration::from_millis(1500)),
            values: ["1.5s", "2.5", "3.5"],
            read: |c| format!("{:?}", c.timeout()),
            default: "1s",
        },
        Key {
            name: keys::NUM_ATTEMPTS,
            var: vars::NUM_ATTEMPTS,
            explicit: |b| b.num_attempts(4),
            values: ["4", "5", "6"],
            read: |c| c.num_attempts().to_string(),
            default: "3",
        },
        Key {
            name: keys::INSTANCE_PROFILE_NAME,
            var: vars::INSTANCE_PROFILE_NAME,
            explicit: |b| b.pinned_role(RoleName::new("from-option").unwrap()),
            values: ["from-option", "from-env", "from-profile"],
            read: |c| {
                c.pinned_role()
                    .map_or_else(|| "-".to_owned(), |r| r.as_str().to_owned())
            },
            default: "-",
        },
    ]
}

/// Explicit > environment > profile > default, for every key, with every layer below the
/// winner set (so that each row shows the winner beating all the others).
#[test]
fn each_key_follows_explicit_then_env_then_profile_then_default() {
    for key in keys_table() {
        let [explicit, from_env, from_profile] = key.values;
        let file = format!("[default]\n{} = {from_profile}\n", key.name);
        let shared = || Some(profile(&file, "default"));
        let with_env = env(&[(key.var, from_env)]);
        let expect_env = match key.name {
            keys::ENDPOINT_MODE => "http://169.254.169.254",
            keys::TIMEOUT => "2.5s",
            _ => from_env,
        };
        let expect_profile = match key.name {
            keys::ENDPOINT_MODE => "http://[fd00:ec2::254]",
            keys::TIMEOUT => "3.5s",
            _ => from_profile,
        };

        let all = (key.explicit)(ImdsConfig::builder())
            .build_with_sources(&with_env, shared())
            .unwrap();
        assert_eq!((key.read)(&all), explicit, "{}: explicit wins", key.name);

        let env_and_profile = ImdsConfig::builder()
            .build_with_sources(&with_env, shared())
            .unwrap();
        assert_eq!(
            (key.read)(&env_and_profile),
            expect_env,
            "{}: env beats profile",
            key.name
        );

        let only_profile = ImdsConfig::builder()
            .build_with_sources(|_| None, shared())
            .unwrap();
        assert_eq!(
            (key.read)(&only_profile),
            expect_profile,
            "{}: profile beats default",
            key.name
        );

        let nothing = ImdsConfig::builder()
            .build_with_sources(|_| None, None)
            .unwrap();
        assert_eq!((key.read)(&nothing), key.default, "{}: default", key.name);
    }
}

#[test]
fn the_v1_veto_follows_env_then_profile() {
    let vetoed = profile("[default]\nec2_metadata_v1_disabled = TRUE\n", "default");
    let build = |env_value: Option<&'static str>| {
        ImdsConfig::builder()
            .allow_imds_v1(true)
            .build_with_sources(
                move |name| {
                    (name == vars::V1_DISABLED)
                        .then(|| env_value.map(str::to_owned))
                        .flatten()
                },
                Some(vetoed.clone()),
            )
            .unwrap()
    };
    // The profile vetoes the explicit allowance...
    assert!(build(None).imds_v1_forbidden_by_env());
    assert!(!build(None).allow_imds_v1());
    // ...unless the environment says otherwise (the environment wins).
    assert!(!build(Some("false")).imds_v1_forbidden_by_env());
    assert!(build(Some("false")).allow_imds_v1());
    // `false` in the profile never allows IMDSv1 by itself.
    let off = profile("[default]\nec2_metadata_v1_disabled = false\n", "default");
    let config = ImdsConfig::builder()
        .build_with_sources(|_| None, Some(off))
        .unwrap();
    assert!(!config.allow_imds_v1());
}

/// The endpoint's full order, as in aws-config: an endpoint (explicit, env, profile) beats any
/// mode (explicit, env, profile).
#[test]
fn a_profile_endpoint_beats_every_mode_but_not_an_env_endpoint() {
    let file = "[default]\nec2_metadata_service_endpoint = http://127.0.0.1:7\n\
                ec2_metadata_service_endpoint_mode = IPv6\n";
    let shared = || Some(profile(file, "default"));
    let config = ImdsConfig::builder()
        .endpoint_mode(crate::config::EndpointMode::Ipv6)
        .build_with_sources(env(&[(vars::ENDPOINT_MODE, "IPv6")]), shared())
        .unwrap();
    assert_eq!(config.endpoint().as_str(), "http://127.0.0.1:7");
    assert_eq!(
        config.endpoint_source(),
        SettingSource::Profile(keys::ENDPOINT)
    );

    let config = ImdsConfig::builder()
        .build_with_sources(env(&[(vars::ENDPOINT, "http://127.0.0.1:8")]), shared())
        .unwrap();
    assert_eq!(config.endpoint().as_str(), "http://127.0.0.1:8");
    assert_eq!(config.endpoint_source(), SettingSource::Env(vars::ENDPOINT));

    let mode_only = profile(
        "[default]\nec2_metadata_service_endpoint_mode = ipv6\n",
        "default",
    );
    let config = ImdsConfig::builder()
        .build_with_sources(|_| None, Some(mode_only))
        .unwrap();
    assert_eq!(config.endpoint(), &Endpoint::IPV6);
    assert_eq!(
        config.endpoint_source(),
        SettingSource::Profile(keys::ENDPOINT_MODE)
    );
}

#[test]
fn profiles_are_chosen_like_the_sdks_do() {
    let file = "\
[default]
metadata_service_num_attempts = 2

[profile dev]
metadata_service_num_attempts = 4

[prod]
metadata_service_num_attempts = 9

[sso-session dev]
metadata_service_num_attempts = 8
";
    let attempts = |name: &str| {
        profile(file, name)
            .get(keys::NUM_ATTEMPTS)
            .map(|(v, line)| (v.to_owned(), line))
    };
    assert_eq!(attempts("default"), Some(("2".to_owned(), 2)));
    assert_eq!(attempts("dev"), Some(("4".to_owned(), 5)));
    // `[prod]` is not a profile in the config file (it needs `profile `), and
    // `[sso-session dev]` is not profile `dev`.
    assert_eq!(attempts("prod"), None);
    assert!(!profile(file, "prod").has_profile());

    // `[profile default]` wins over `[default]` as a whole.
    let both = "[default]\nmetadata_service_num_attempts = 2\nmetadata_service_timeout = 5\n\
                [profile default]\nmetadata_service_num_attempts = 7\n";
    let chosen = profile(both, "default");
    assert_eq!(chosen.get(keys::NUM_ATTEMPTS), Some(("7", 5)));
    assert_eq!(chosen.get(keys::TIMEOUT), None);
}

#[test]
fn the_profile_comes_from_the_option_then_aws_profile_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(
        &path,
        "[default]\nmetadata_service_num_attempts = 2\n\
         [profile a]\nmetadata_service_num_attempts = 4\n\
         [profile b]\nmetadata_service_num_attempts = 6\n",
    )
    .unwrap();
    let file = path.to_str().unwrap().to_owned();
    let attempts = |builder: ImdsConfigBuilder, aws_profile: Option<&str>| {
        let mut pairs = vec![(vars::CONFIG_FILE, file.as_str())];
        if let Some(p) = aws_profile {
            pairs.push((vars::PROFILE, p));
        }
        let config = builder.build_with_env_source(env(&pairs)).unwrap();
        (
            config.num_attempts(),
            config.shared_config().unwrap().profile().to_owned(),
        )
    };
    assert_eq!(attempts(ImdsConfig::builder(), None), (2, "default".into()));
    assert_eq!(attempts(ImdsConfig::builder(), Some("a")), (4, "a".into()));
    assert_eq!(
        attempts(ImdsConfig::builder().profile("b"), Some("a")),
        (6, "b".into())
    );
    // An empty AWS_PROFILE is unset.
    assert_eq!(
        attempts(ImdsConfig::builder(), Some(" ")),
        (2, "default".into())
    );
}

#[test]
fn a_missing_profile_is_an_empty_layer() {
    let file = "[default]\nmetadata_service_num_attempts = 2\n";
    let missing = profile(file, "ci");
    assert!(!missing.has_profile());
    assert_eq!(missing.profile(), "ci");
    for key in keys::ALL {
        assert_eq!(missing.get(key), None, "{key}");
    }
    let config = ImdsConfig::builder()
        .build_with_sources(|_| None, Some(missing))
        .unwrap();
    assert_eq!(config.num_attempts(), ImdsConfig::DEFAULT_NUM_ATTEMPTS);
    assert!(!config.shared_config().unwrap().has_profile());
}

#[test]
fn a_missing_file_is_no_layer_and_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("nope").join("config");
    let env = env(&[(vars::CONFIG_FILE, absent.to_str().unwrap())]);
    assert_eq!(SharedConfig::load(&env, None).unwrap(), None);
    let config = ImdsConfig::builder().build_with_env_source(&env).unwrap();
    assert_eq!(config.shared_config(), None);
    assert_eq!(config.endpoint(), &Endpoint::IPV4);
    // No AWS_CONFIG_FILE and no HOME: nothing to read (this is how every other test in the
    // crate stays away from the machine's own ~/.aws/config).
    assert_eq!(SharedConfig::load(&|_| None, None).unwrap(), None);
}

#[test]
fn the_file_is_found_through_aws_config_file_or_home() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_str().unwrap();
    std::fs::create_dir(dir.path().join(".aws")).unwrap();
    std::fs::write(
        dir.path().join(".aws").join("config"),
        "[default]\nmetadata_service_num_attempts = 5\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("other"),
        "[default]\nmetadata_service_num_attempts = 7\n",
    )
    .unwrap();
    let attempts = |pairs: &[(&str, &str)]| {
        let shared = SharedConfig::load(&env(pairs), None).unwrap().unwrap();
        shared.get(keys::NUM_ATTEMPTS).unwrap().0.to_owned()
    };
    assert_eq!(attempts(&[("HOME", home)]), "5");
    let other = dir.path().join("other");
    let other = other.to_str().unwrap();
    assert_eq!(attempts(&[("HOME", home), (vars::CONFIG_FILE, other)]), "7");
    // `~/` in AWS_CONFIG_FILE is the home directory.
    assert_eq!(
        attempts(&[("HOME", home), (vars::CONFIG_FILE, "~/other")]),
        "7"
    );
}

#[test]
fn bad_values_name_the_file_line_key_and_profile() {
    let file = "\
# my config
[profile dev]
region = eu-west-1
metadata_service_timeout = soon
metadata_service_num_attempts = 0
";
    let shared = || Some(profile(file, "dev"));
    let err = ImdsConfig::builder()
        .build_with_sources(|_| None, shared())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/cfg/config:4: metadata_service_timeout in profile dev is invalid (\"soon\"): \
         expected a number of seconds, such as 1 or 2.5"
    );
    assert!(matches!(
        err,
        ConfigError::Profile {
            line: 4,
            key: keys::TIMEOUT,
            ..
        }
    ));
    // A shadowed key is not read: the environment's timeout hides the bad one, and the next
    // bad key is reported.
    let err = ImdsConfig::builder()
        .build_with_sources(env(&[(vars::TIMEOUT, "2")]), shared())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/cfg/config:5: metadata_service_num_attempts in profile dev is invalid (\"0\"): \
         must be between 1 and 10"
    );
    // Every key's value is validated like its variable.
    for (key, value) in [
        (keys::ENDPOINT, "https://169.254.169.254"),
        (keys::ENDPOINT_MODE, "IPv5"),
        (keys::V1_DISABLED, "yes"),
        (keys::INSTANCE_PROFILE_NAME, ".."),
        (keys::NUM_ATTEMPTS, "three"),
        (keys::TIMEOUT, "0"),
    ] {
        let file = format!("[default]\n\n{key} = {value}\n");
        let err = ImdsConfig::builder()
            .build_with_sources(|_| None, Some(profile(&file, "default")))
            .unwrap_err()
            .to_string();
        let prefix = format!("/cfg/config:3: {key} in profile default is invalid");
        assert!(err.starts_with(&prefix), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

#[test]
fn bad_files_name_the_line() {
    assert_eq!(
        syntax_error(
            "[default]\nmetadata_service_timeout = 1\nthis line has no equals sign\nregion = x\n"
        ),
        "/cfg/config:3: not a valid AWS config file: expected `key = value` (the line has no `=`)"
    );
    assert_eq!(
        syntax_error("[default]\nregion = x\ngarbage"),
        "/cfg/config:3: not a valid AWS config file: expected `key = value` (the line has no `=`)"
    );
    assert_eq!(
        syntax_error("\n# top\nregion = eu-west-1\n[default]\n"),
        "/cfg/config:3: not a valid AWS config file: a property before the first [section] \
         (expected [default] or [profile NAME] above it)"
    );
    assert_eq!(
        syntax_error("[default]\nregion = x\n[profile dev\nmetadata_service_timeout = 1\n[b]\n"),
        "/cfg/config:3: not a valid AWS config file: a section header must end with `]` \
         (after it, only a comment)"
    );
    // A comment right after the `]` needs no space.
    assert!(profile("[profile dev];note\nregion = x\n", "dev").has_profile());
    assert_eq!(
        syntax_error("[default]\n= value\n"),
        "/cfg/config:2: not a valid AWS config file: expected `key = value` (nothing before the `=`)"
    );
}

#[test]
fn unreadable_files_are_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let as_dir = dir.path().to_str().unwrap().to_owned();
    let err = SharedConfig::load(&env(&[(vars::CONFIG_FILE, &as_dir)]), None).unwrap_err();
    assert!(
        matches!(&err, ConfigError::SharedConfigRead { path, .. } if *path == as_dir),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot read the AWS config file ")
    );

    let latin1 = dir.path().join("latin1");
    std::fs::write(&latin1, b"[default]\nregion = caf\xe9\n").unwrap();
    let err = SharedConfig::load(&env(&[(vars::CONFIG_FILE, latin1.to_str().unwrap())]), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot read the AWS config file {}: the file is not UTF-8 text",
            latin1.display()
        )
    );
}

#[test]
fn the_aws_format_quirks() {
    let file = "\
; a comment
# another
[profile dev] # trailing comment on a header
s3 =
  ec2_metadata_service_endpoint = http://127.0.0.1:9
  max_concurrent_requests = 20
EC2_Metadata_Service_Endpoint_Mode = IPv6   ; a comment after whitespace
ec2_instance_profile_name = role#1
metadata_service_num_attempts = \"4\"
metadata_service_timeout = 1
metadata_service_timeout = 2
  continued
ec2_metadata_v1_disabled =

[profile dev]
metadata_service_timeout = 2.5
";
    let dev = profile(file, "dev");
    // The sub-section's key stays inside `s3`.
    assert_eq!(dev.get(keys::ENDPOINT), None);
    // Keys are case-insensitive; ` ; ...` after a value is a comment.
    assert_eq!(dev.get(keys::ENDPOINT_MODE), Some(("IPv6", 7)));
    // A `#` without whitespace before it is part of the value.
    assert_eq!(dev.get(keys::INSTANCE_PROFILE_NAME), Some(("role#1", 8)));
    // Quotes are literal.
    assert_eq!(dev.get(keys::NUM_ATTEMPTS), Some(("\"4\"", 9)));
    // A repeated section is merged, and the last value wins.
    assert_eq!(dev.get(keys::TIMEOUT), Some(("2.5", 16)));
    // An empty value is unset.
    assert_eq!(dev.get(keys::V1_DISABLED), None);
}

#[test]
fn continuation_lines_join_the_value() {
    let dev = profile(
        "[default]\nec2_metadata_service_endpoint = http://127.0.0.1:9\n  more\n",
        "default",
    );
    assert_eq!(
        dev.get(keys::ENDPOINT),
        Some(("http://127.0.0.1:9\nmore", 2))
    );
    // ...and a multi-line endpoint is refused, naming the key's line.
    let err = ImdsConfig::builder()
        .build_with_sources(|_| None, Some(dev))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("/cfg/config:2: ec2_metadata_service_endpoint in profile default"),
        "{err}"
    );
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn only_the_six_keys_are_kept_and_nothing_else_is_shown() {
    let file = "[default]\naws_secret_access_key = sentinel-secret\nmetadata_service_timeout = x\n";
    let shared = profile(file, "default");
    assert!(!format!("{shared:?}").contains("sentinel"));
    let err = ImdsConfig::builder()
        .build_with_sources(|_| None, Some(shared))
        .unwrap_err();
    assert!(!err.to_string().contains("sentinel"));
    let err = syntax_error("[default]\nsentinel-secret\n");
    assert!(!err.contains("sentinel"), "{err}");
}

#[test]
fn a_byte_order_mark_and_crlf_line_ends_are_fine() {
    let dev = profile(
        "\u{feff}[default]\r\nmetadata_service_num_attempts = 4\r\n",
        "default",
    );
    assert_eq!(dev.get(keys::NUM_ATTEMPTS), Some(("4", 2)));
}
