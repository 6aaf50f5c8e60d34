//! The names of the environment variables read by [`ImdsConfig::from_env`].
//!
//! [`ImdsConfig::from_env`]: super::ImdsConfig::from_env

/// `true` disables IMDS access altogether (environment only).
pub const DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
/// The endpoint URL, for example `http://127.0.0.1:1338`.
pub const ENDPOINT: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// `IPv4` or `IPv6`: which default endpoint to use.
pub const ENDPOINT_MODE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
/// `true` forbids falling back to IMDSv1.
pub const V1_DISABLED: &str = "AWS_EC2_METADATA_V1_DISABLED";
/// The timeout of one attempt, in seconds (may be fractional).
pub const TIMEOUT: &str = "AWS_METADATA_SERVICE_TIMEOUT";
/// How many attempts each request gets.
pub const NUM_ATTEMPTS: &str = "AWS_METADATA_SERVICE_NUM_ATTEMPTS";
/// The role to use without listing (skips discovery).
pub const INSTANCE_PROFILE_NAME: &str = "AWS_EC2_INSTANCE_PROFILE_NAME";
/// The shared config file (default `~/.aws/config`).
pub const CONFIG_FILE: &str = "AWS_CONFIG_FILE";
/// The profile read from the shared config file (default `default`).
pub const PROFILE: &str = "AWS_PROFILE";

/// Every variable read, in the order of the precedence table.
pub const ALL: [&str; 9] = [
    ENDPOINT,
    ENDPOINT_MODE,
    DISABLED,
    TIMEOUT,
    NUM_ATTEMPTS,
    INSTANCE_PROFILE_NAME,
    V1_DISABLED,
    PROFILE,
    CONFIG_FILE,
];
