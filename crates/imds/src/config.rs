//! Configuration: explicit options, then the SDKs' environment variables, then the profile of
//! the shared config file (`~/.aws/config`), then defaults.
//!
//! | setting | explicit option | environment variable | profile key ([`shared`]) | default |
//! |---|---|---|---|---|
//! | endpoint | [`endpoint`](ImdsConfigBuilder::endpoint) | `AWS_EC2_METADATA_SERVICE_ENDPOINT` | `ec2_metadata_service_endpoint` | from the endpoint mode |
//! | endpoint mode | [`endpoint_mode`](ImdsConfigBuilder::endpoint_mode) | `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE` (`IPv4` \| `IPv6`, any case) | `ec2_metadata_service_endpoint_mode` | IPv4: `http://169.254.169.254` (IPv6: `http://[fd00:ec2::254]`) |
//! | disabled | none (environment only, as in every SDK) | `AWS_EC2_METADATA_DISABLED` (`true` \| `false`, any case) | none | `false` |
//! | timeout per attempt | [`timeout`](ImdsConfigBuilder::timeout) | `AWS_METADATA_SERVICE_TIMEOUT` (seconds, may be fractional, 0.001 to 600) | `metadata_service_timeout` | 1 s |
//! | attempts per request | [`num_attempts`](ImdsConfigBuilder::num_attempts) | `AWS_METADATA_SERVICE_NUM_ATTEMPTS` (integer, 1 to 10) | `metadata_service_num_attempts` | **3** (the SDKs' 1 is too few: botocore#1791) |
//! | role | [`pinned_role`](ImdsConfigBuilder::pinned_role) | `AWS_EC2_INSTANCE_PROFILE_NAME` (skips discovery) | `ec2_instance_profile_name` | discovered from the listing |
//! | IMDSv1 fallback | [`allow_imds_v1`](ImdsConfigBuilder::allow_imds_v1) | `AWS_EC2_METADATA_V1_DISABLED=true` forbids it | `ec2_metadata_v1_disabled = true` forbids it | **off** |
//! | token TTL | [`token_ttl_secs`](ImdsConfigBuilder::token_ttl_secs) (1 to 21600) | none | none | 21600 s |
//! | extended credentials path | [`extended_credentials`](ImdsConfigBuilder::extended_credentials) | none | none | off |
//! | retry backoff | [`retry_backoff`](ImdsConfigBuilder::retry_backoff) | none | none | 250 ms doubling, capped at 2 s, with jitter |
//! | jitter seed | [`jitter_seed`](ImdsConfigBuilder::jitter_seed) | none | none | 0 |
//! | which profile | [`profile`](ImdsConfigBuilder::profile) | `AWS_PROFILE` | | `default` |
//! | which file | none | `AWS_CONFIG_FILE` | | `~/.aws/config` (`HOME`) |
//!
//! Precedence, highest first: explicit option, environment variable, profile key, default. The
//! endpoint follows the SDKs (aws-config's IMDS client): an explicit endpoint, then
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT`, then the profile's `ec2_metadata_service_endpoint`,
//! then an explicit mode, then `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`, then the profile's
//! `ec2_metadata_service_endpoint_mode`, then IPv4. The [`shared`] module says how the file and
//! the profile are found and what the parser accepts; a missing file or profile is an empty
//! layer, not an error.
//!
//! Two deliberate exceptions:
//!
//! - **IMDSv1 is only ever allowed by the explicit option.** `AWS_EC2_METADATA_V1_DISABLED=true`
//!   (or the profile's `ec2_metadata_v1_disabled = true`) forbids it even then (it is the
//!   administrator's veto); `false` does not allow it, because credcycle's default is off and a
//!   value left at `false` by a template should not quietly turn on a weaker protocol.
//! - An empty (or all-whitespace) variable or profile value counts as unset, as a shell's
//!   `VAR=` usually means.
//!
//! Every value read is validated; an invalid one is a [`ConfigError`] naming the variable,
//! profile key (with its file and line) or option, never silently replaced by a default. A
//! variable or key shadowed by a higher-precedence setting is not read at all. Surrounding
//! whitespace is ignored.
//!
//! The environment is read through a function (`|name| -> Option<String>`), so tests need not
//! touch the process environment:
//!
//! ```
//! use std::time::Duration;
//! use credcycle_imds::{ImdsConfig, SettingSource};
//!
//! let env = |name: &str| match name {
//!     "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE" => Some("ipv6".to_owned()),
//!     "AWS_METADATA_SERVICE_TIMEOUT" => Some("2.5".to_owned()),
//!     _ => None,
//! };
//! let config = ImdsConfig::from_env_source(env)?;
//! assert_eq!(config.endpoint().as_str(), "http://[fd00:ec2::254]");
//! assert_eq!(config.endpoint_source(), SettingSource::Env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"));
//! assert_eq!(config.timeout(), Duration::from_millis(2500));
//! assert_eq!(config.num_attempts(), 3);
//!
//! // An explicit option wins over the environment.
//! let config = ImdsConfig::builder().endpoint("http://127.0.0.1:1338").build_with_env_source(env)?;
//! assert_eq!(config.endpoint().as_str(), "http://127.0.0.1:1338");
//!
//! // Invalid values are errors naming the variable.
//! let err = ImdsConfig::from_env_source(|name| {
//!     (name == "AWS_METADATA_SERVICE_NUM_ATTEMPTS").then(|| "0".to_owned())
//! })
//! .unwrap_err();
//! assert_eq!(err.to_string(), "environment variable AWS_METADATA_SERVICE_NUM_ATTEMPTS is invalid (\"0\"): must be between 1 and 10");
//! # Ok::<(), credcycle_imds::ConfigError>(())
//! ```

mod builder;
mod error;
mod settings;
pub mod shared;
pub mod vars;

pub use builder::ImdsConfigBuilder;
pub use error::{ConfigError, ValueError};
pub use settings::{EndpointMode, ImdsConfig, SettingSource};
pub use shared::{DEFAULT_PROFILE, SharedConfig, keys};

pub use crate::endpoint::{Endpoint, EndpointError};

#[cfg(test)]
mod tests;
