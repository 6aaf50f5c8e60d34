//! The simulator's configuration.

use core::time::Duration;

use credcycle_core::RoleName;

use crate::scenario::Scenario;

/// How the simulated instance is set up: its role, how long credentials live, when they rotate,
/// whether IMDSv1 is allowed, and the scripted faults.
///
/// A plain struct with public fields and a [`Default`]; the `with_*` methods chain. It is
/// `#[non_exhaustive]`: start from `SimConfig::default()`.
///
/// ```
/// use std::time::Duration;
///
/// use credcycle_sim::SimConfig;
///
/// let config = SimConfig::default()
///     .with_lifetime(Duration::from_secs(900))
///     .with_rotate_before(Duration::from_secs(300))
///     .with_seed(42);
/// assert!(config.validate().is_ok());
/// assert_eq!(config.role.as_ref().map(|r| r.as_str()), Some("credcycle-sim-role"));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SimConfig {
    /// The role of the instance profile attached at start; `None` starts detached. Default
    /// `credcycle-sim-role`.
    pub role: Option<RoleName>,
    /// How long each credential set is valid, from issue to `Expiration`. Default 6 hours.
    /// Whole seconds are used (IMDS timestamps have no fraction).
    pub lifetime: Duration,
    /// How long before a set's `Expiration` a new set is issued: the first credentials request
    /// at or after `Expiration - rotate_before` gets a new set. Default 5 minutes (the EC2 User
    /// Guide: "at least five minutes before the expiration of the old credentials").
    pub rotate_before: Duration,
    /// Serve `GET`s that carry no token header (IMDSv1). Default `false` (IMDSv2 required, as on
    /// current AMIs). A `GET` with an invalid token is refused either way.
    pub allow_imdsv1: bool,
    /// Serve `/latest/meta-data/iam/security-credentials-extended/` (which adds `AccountId`).
    /// Default `true`; `false` answers 404 there, like instances without it.
    pub extended: bool,
    /// The seed of the random generator (tokens, key ids, secrets). `None`, the default, seeds
    /// from the operating system; a fixed seed makes runs reproducible.
    pub seed: Option<u64>,
    /// The AWS account id (twelve digits) in `AccountId` and the instance-profile ARN. Default
    /// `123456789012`.
    pub account_id: String,
    /// Scripted faults and role changes. Default none.
    pub scenario: Option<Scenario>,
    /// Also serve container credentials (the ECS / EKS Pod Identity endpoint). Default none.
    pub container: Option<SimContainer>,
    /// How far AWS's clock is ahead of the wall time the simulator starts with, in whole
    /// seconds (negative: behind). Everything the simulator writes in AWS time moves with it:
    /// `Expiration`, `LastUpdated` and the `Date` header. Default 0. A guest whose clock is
    /// wrong by N seconds sees what a simulator with offset -N shows a correct guest (what
    /// `credcycle doctor`'s clock check is tested with). At most a day either way.
    pub clock_offset_secs: i64,
}

/// The container-credentials endpoint of a simulator: the path it answers at and the
/// `Authorization` token it requires (compared verbatim, as the real agents do).
///
/// A `GET` of the path with the right token gets the attached role's current set (the same
/// sets, rotation and faults as the IMDS paths: container fetches are of the `credentials`
/// class) as JSON with `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`, `RoleArn` and
/// `AccountId`; a missing or wrong token gets a 401, another method a 405, no role a 404.
/// `POST /_sim/authorization` (body: the new token) replaces the token, as EKS rotates it.
#[derive(Clone)]
#[non_exhaustive]
pub struct SimContainer {
    /// The path, for example `/v1/credentials` (EKS Pod Identity) or `/v2/credentials/<id>`
    /// (ECS).
    pub path: String,
    /// The token required in `Authorization` (a secret: redacted in `Debug`).
    pub authorization: String,
}

impl SimContainer {
    /// The default path: EKS Pod Identity's.
    pub const DEFAULT_PATH: &str = "/v1/credentials";

    /// An endpoint at `path` requiring `authorization`.
    #[must_use]
    pub fn new(path: impl Into<String>, authorization: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            authorization: authorization.into(),
        }
    }
}

impl core::fmt::Debug for SimContainer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SimContainer")
            .field("path", &self.path)
            .field("authorization", &credcycle_core::REDACTED)
            .finish()
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            role: RoleName::new(Self::DEFAULT_ROLE).ok(),
            lifetime: Duration::from_secs(6 * 3600),
            rotate_before: Duration::from_secs(5 * 60),
            allow_imdsv1: false,
            extended: true,
            seed: None,
            account_id: "123456789012".to_owned(),
            scenario: None,
            container: None,
            clock_offset_secs: 0,
        }
    }
}

impl SimConfig {
    /// The role attached by default.
    pub const DEFAULT_ROLE: &str = "credcycle-sim-role";

    /// The largest clock offset accepted, in seconds (a day).
    pub const MAX_CLOCK_OFFSET_SECS: i64 = 86_400;

    /// Puts AWS's clock `secs` seconds ahead of the start's wall time (negative: behind).
    #[must_use]
    pub fn with_clock_offset_secs(mut self, secs: i64) -> Self {
        self.clock_offset_secs = secs;
        self
    }

    /// Attaches `role` at start.
    #[must_use]
    pub fn with_role(mut self, role: RoleName) -> Self {
        self.role = Some(role);
        self
    }

    /// Starts with no instance profile attached.
    #[must_use]
    pub fn detached(mut self) -> Self {
        self.role = None;
        self
    }

    /// Sets the credential lifetime.
    #[must_use]
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Sets how long before expiry a new set is issued.
    #[must_use]
    pub fn with_rotate_before(mut self, rotate_before: Duration) -> Self {
        self.rotate_before = rotate_before;
        self
    }

    /// Allows or refuses IMDSv1 (`GET`s without a token header).
    #[must_use]
    pub fn with_imdsv1(mut self, allow: bool) -> Self {
        self.allow_imdsv1 = allow;
        self
    }

    /// Enables or disables the `security-credentials-extended` path.
    #[must_use]
    pub fn with_extended(mut self, enabled: bool) -> Self {
        self.extended = enabled;
        self
    }

    /// Fixes the random seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets the account id.
    #[must_use]
    pub fn with_account_id(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = account_id.into();
        self
    }

    /// Sets the scripted faults.
    #[must_use]
    pub fn with_scenario(mut self, scenario: Scenario) -> Self {
        self.scenario = Some(scenario);
        self
    }

    /// Also serves container credentials (see [`SimContainer`]).
    #[must_use]
    pub fn with_container(mut self, container: SimContainer) -> Self {
        self.container = Some(container);
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the lifetime is under a second, `rotate_before` is not shorter
    /// than the lifetime, or the account id is not twelve digits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.lifetime < Duration::from_secs(1) {
            return Err(ConfigError::LifetimeTooShort {
                lifetime: self.lifetime,
            });
        }
        if self.rotate_before >= self.lifetime {
            return Err(ConfigError::RotateBeforeTooLong {
                rotate_before: self.rotate_before,
                lifetime: self.lifetime,
            });
        }
        if self.clock_offset_secs.abs() > Self::MAX_CLOCK_OFFSET_SECS {
            return Err(ConfigError::ClockOffset {
                secs: self.clock_offset_secs,
            });
        }
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::AccountId {
                len: self.account_id.len(),
            });
        }
        if let Some(container) = &self.container {
            let path = container.path.as_str();
            let taken = ["/latest", "/_sim"]
                .iter()
                .any(|p| path == *p || path.starts_with(&format!("{p}/")));
            if !path.starts_with('/') || path.contains(['?', '#']) || taken {
                return Err(ConfigError::ContainerPath);
            }
            if !valid_authorization(&container.authorization) {
                return Err(ConfigError::ContainerToken);
            }
        }
        Ok(())
    }
}

/// Whether `token` can be required in `Authorization`: non-empty, one line.
pub(crate) fn valid_authorization(token: &str) -> bool {
    !token.is_empty() && !token.chars().any(|c| c.is_control() && c != '\t')
}

/// Why a [`SimConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The clock offset is more than a day either way.
    #[error("clock offset {secs} s is more than a day (86400 s) either way")]
    ClockOffset {
        /// The offset asked for, in seconds.
        secs: i64,
    },
    /// Credentials must live at least one second.
    #[error("credential lifetime {lifetime:?} is shorter than one second")]
    LifetimeTooShort {
        /// The lifetime asked for.
        lifetime: Duration,
    },
    /// A new set would be due as soon as one is issued: every request would rotate.
    #[error("rotate_before ({rotate_before:?}) must be shorter than the lifetime ({lifetime:?})")]
    RotateBeforeTooLong {
        /// The `rotate_before` asked for.
        rotate_before: Duration,
        /// The lifetime asked for.
        lifetime: Duration,
    },
    /// The account id is not twelve ASCII digits.
    #[error("account id must be twelve digits (got {len} characters)")]
    AccountId {
        /// Its length, in bytes.
        len: usize,
    },
    /// The container path is not a path of its own.
    #[error(
        "the container credentials path must start with / and have no query, and must not be \
         under /latest or /_sim"
    )]
    ContainerPath,
    /// The container token is empty or not one line.
    #[error("the container authorization token must be one non-empty line")]
    ContainerToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_as_documented() {
        let c = SimConfig::default();
        assert_eq!(c.role.unwrap().as_str(), "credcycle-sim-role");
        assert_eq!(c.lifetime, Duration::from_secs(21_600));
        assert_eq!(c.rotate_before, Duration::from_secs(300));
        assert!(!c.allow_imdsv1);
        assert!(c.extended);
        assert_eq!(c.seed, None);
        assert_eq!(c.account_id, "123456789012");
        assert!(c.scenario.is_none());
        assert_eq!(SimConfig::default().validate(), Ok(()));
    }

    #[test]
    fn validation() {
        let c = SimConfig::default().with_lifetime(Duration::from_millis(999));
        assert!(matches!(
            c.validate(),
            Err(ConfigError::LifetimeTooShort { .. })
        ));
        let c = SimConfig::default()
            .with_lifetime(Duration::from_secs(300))
            .with_rotate_before(Duration::from_secs(300));
        let err = c.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "rotate_before (300s) must be shorter than the lifetime (300s)"
        );
        let c = SimConfig::default().with_account_id("12345678901x");
        assert_eq!(c.validate(), Err(ConfigError::AccountId { len: 12 }));
    }
}
