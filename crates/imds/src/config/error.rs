//! Why a configuration was refused.

use credcycle_core::InvalidRoleName;

use crate::endpoint::EndpointError;

/// An invalid configuration value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An environment variable holds an invalid value.
    #[error("environment variable {var} is invalid ({value:?}): {problem}")]
    Env {
        /// The variable's name, e.g. `AWS_METADATA_SERVICE_TIMEOUT`.
        var: &'static str,
        /// Its value, shortened to 64 characters with control characters replaced.
        value: String,
        /// What is wrong with it.
        problem: ValueError,
    },
    /// A key of the shared config file's profile holds an invalid value.
    #[error("{path}:{line}: {key} in profile {profile} is invalid ({value:?}): {problem}")]
    Profile {
        /// The config file.
        path: String,
        /// The line of the key (1-based).
        line: usize,
        /// The profile's name (`default`, the explicit one, or `AWS_PROFILE`).
        profile: String,
        /// One of [`keys`](crate::config::keys).
        key: &'static str,
        /// Its value, shortened to 64 characters with control characters replaced.
        value: String,
        /// What is wrong with it.
        problem: ValueError,
    },
    /// The shared config file is not in the config file format.
    #[error("{path}:{line}: not a valid AWS config file: {problem}")]
    SharedConfigSyntax {
        /// The config file.
        path: String,
        /// The offending line (1-based).
        line: usize,
        /// What is wrong there.
        problem: String,
    },
    /// The shared config file exists but cannot be read.
    #[error("cannot read the AWS config file {path}: {problem}")]
    SharedConfigRead {
        /// The config file.
        path: String,
        /// Why (the I/O error's kind, or "not UTF-8").
        problem: String,
    },
    /// An explicit option holds an invalid value.
    #[error("option {option} is invalid: {problem}")]
    Option {
        /// The option (the builder method's name).
        option: &'static str,
        /// What is wrong with it.
        problem: ValueError,
    },
}

/// What is wrong with a configuration value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// Not `true` or `false` (in any case).
    #[error("expected true or false")]
    NotBool,
    /// Not a number of seconds.
    #[error("expected a number of seconds, such as 1 or 2.5")]
    NotSeconds,
    /// Not a whole number.
    #[error("expected a whole number")]
    NotInteger,
    /// Outside the accepted range.
    #[error("must be between {range}")]
    OutOfRange {
        /// The range, in words.
        range: &'static str,
    },
    /// Not `IPv4` or `IPv6`.
    #[error("expected IPv4 or IPv6")]
    NotEndpointMode,
    /// Not a valid endpoint URL.
    #[error("{0}")]
    Endpoint(EndpointError),
    /// Not a valid role name.
    #[error("{0}")]
    RoleName(InvalidRoleName),
    /// `.` or `..`, which are path segments, not roles.
    #[error("role name must not be '.' or '..'")]
    DotRoleName,
    /// The backoff base is above its cap.
    #[error("the backoff base must not exceed the cap")]
    BaseAboveCap,
}

// Causes are part of each message (one line says everything), so they are not also
// `source()`s: a chain printer would repeat them.
impl From<EndpointError> for ValueError {
    fn from(e: EndpointError) -> Self {
        Self::Endpoint(e)
    }
}

impl From<InvalidRoleName> for ValueError {
    fn from(e: InvalidRoleName) -> Self {
        Self::RoleName(e)
    }
}
