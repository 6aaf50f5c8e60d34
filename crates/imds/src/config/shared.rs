//! The AWS shared config file (`~/.aws/config`): the profile layer of [`ImdsConfig`].
//!
//! [`ImdsConfig`]: super::ImdsConfig
//!
//! ## Where the file is and which profile is read
//!
//! - The file is `AWS_CONFIG_FILE` if set (a leading `~/` is the home directory), else
//!   `~/.aws/config`, where the home directory is `HOME` (`USERPROFILE` on Windows). With
//!   neither variable set there is no file to read. **A missing file is not an error**: the
//!   layer is then empty, as it is on most EC2 instances.
//! - The profile is the explicit one ([`ImdsConfigBuilder::profile`]), else `AWS_PROFILE`,
//!   else `default`. In the config file, profile `NAME` is the section `[profile NAME]`, and
//!   `default` is `[default]` (or `[profile default]`, which wins over `[default]` when both
//!   exist, as in the SDKs). Sections with other prefixes (`[sso-session x]`, `[services y]`)
//!   and unprefixed sections other than `[default]` are not profiles.
//! - **A profile the file does not have is not an error** either: the layer is empty. A
//!   profile may live only in the credentials file (`~/.aws/credentials`, which credcycle does
//!   not read), and `AWS_PROFILE` is often set for a profile that uses `credential_process =
//!   credcycle get`.
//!
//! [`ImdsConfigBuilder::profile`]: super::ImdsConfigBuilder::profile
//!
//! ## What is read
//!
//! Only the six keys in [`keys`]; any other key is left alone (never copied out of the
//! parser). Keys are matched case-insensitively, values are trimmed, an empty value counts as
//! unset, and when a key appears twice (or a section is repeated) the last one wins, as in the
//! SDKs.
//!
//! ## The file format, and what the parser handles
//!
//! The file is parsed by [rust-ini](https://docs.rs/rust-ini) (0.21; quotes and backslash
//! escapes off, indented continuation lines on), after credcycle has blanked out the comments
//! (rust-ini's own `inline-comment` feature eats the first character of the line after a
//! commented value when continuation lines are on, so it is not used). Against the AWS format:
//!
//! - **Comments**, removed by credcycle with the SDKs' rules: a line whose first non-blank
//!   character is `#` or `;` is a comment; on a section header everything from the first `#`
//!   or `;` is; after a value, a `#` or `;` preceded by whitespace starts one. A `#` with no
//!   space before it is part of the value (`a#b`).
//! - **Sub-sections and continuation lines**: an indented line after `key =` (or after a value)
//!   continues that key's value, so a sub-section such as `s3 =` followed by indented
//!   `max_concurrent_requests = 20` stays inside `s3` and can never set a key of the profile.
//! - **Values** are taken literally: no quotes are removed and no `\` escapes are interpreted.
//! - **Differences from the SDKs**, where the parser is more lenient: `key: value` is read as
//!   `key = value` (the SDKs refuse it), and an indented `key = value` right after a section
//!   header is read as a key of that section (the SDKs refuse a continuation with nothing to
//!   continue). credcycle refuses, with the line number, what the SDKs refuse and the parser
//!   would otherwise misread: a section header without its `]` (the parser would read on to
//!   the next `]`), a line that is not `key = value` (it would be glued to the next key) and a
//!   property before the first section.
//!
//! Errors name the file, the line and (for a bad value) the key and profile, in one line:
//! `/home/me/.aws/config:7: metadata_service_timeout in profile dev is invalid ("soon"):
//! expected a number of seconds, such as 1 or 2.5`. No error shows a line of the file other
//! than the value of one of the six keys (none of which is a secret).

use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use super::error::{ConfigError, ValueError};
use super::vars;
use crate::message::sanitize;

/// The keys read from a profile of the shared config file.
pub mod keys {
    /// The endpoint URL (`AWS_EC2_METADATA_SERVICE_ENDPOINT`).
    pub const ENDPOINT: &str = "ec2_metadata_service_endpoint";
    /// `IPv4` or `IPv6` (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE`).
    pub const ENDPOINT_MODE: &str = "ec2_metadata_service_endpoint_mode";
    /// `true` forbids the IMDSv1 fallback (`AWS_EC2_METADATA_V1_DISABLED`).
    pub const V1_DISABLED: &str = "ec2_metadata_v1_disabled";
    /// The timeout of one attempt, in seconds (`AWS_METADATA_SERVICE_TIMEOUT`).
    pub const TIMEOUT: &str = "metadata_service_timeout";
    /// Attempts per request (`AWS_METADATA_SERVICE_NUM_ATTEMPTS`).
    pub const NUM_ATTEMPTS: &str = "metadata_service_num_attempts";
    /// The role to use without listing (`AWS_EC2_INSTANCE_PROFILE_NAME`).
    pub const INSTANCE_PROFILE_NAME: &str = "ec2_instance_profile_name";

    /// Every key read, in the order of the precedence table.
    pub const ALL: [&str; 6] = [
        ENDPOINT,
        ENDPOINT_MODE,
        TIMEOUT,
        NUM_ATTEMPTS,
        INSTANCE_PROFILE_NAME,
        V1_DISABLED,
    ];
}

/// The profile that is read when neither an explicit profile nor `AWS_PROFILE` names one.
pub const DEFAULT_PROFILE: &str = "default";

/// One profile of a shared config file: the six IMDS keys it sets, each with its line.
///
/// Build one with [`SharedConfig::parse`] (contents in hand: no IO) or [`SharedConfig::load`]
/// (finds and reads the file the way the SDKs do). `Debug` is safe to log: only the six keys
/// are kept, and none is a secret.
///
/// ```
/// use credcycle_imds::config::{SharedConfig, keys};
///
/// let file = "\
/// [default]
/// region = eu-west-1
///
/// [profile lab]   # the simulator
/// ec2_metadata_service_endpoint = http://127.0.0.1:1338
/// metadata_service_timeout = 2 ; seconds
/// ";
/// let lab = SharedConfig::parse("/home/me/.aws/config", file, "lab")?;
/// assert!(lab.has_profile());
/// assert_eq!(lab.get(keys::ENDPOINT), Some(("http://127.0.0.1:1338", 5)));
/// assert_eq!(lab.get(keys::TIMEOUT), Some(("2", 6)));
///
/// // A profile the file does not have is an empty layer, not an error.
/// let other = SharedConfig::parse("/home/me/.aws/config", file, "prod")?;
/// assert!(!other.has_profile());
/// assert_eq!(other.get(keys::ENDPOINT), None);
/// # Ok::<(), credcycle_imds::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedConfig {
    path: String,
    profile: String,
    found: bool,
    values: Vec<(&'static str, String, usize)>,
}

impl SharedConfig {
    /// Reads profile `profile` from `contents`, the text of the file at `path` (used in error
    /// messages only).
    ///
    /// # Errors
    ///
    /// [`ConfigError::SharedConfigSyntax`] naming the line, when the text is not a config file.
    pub fn parse(path: &str, contents: &str, profile: &str) -> Result<Self, ConfigError> {
        let path = sanitize(path, 256);
        let syntax = |line: usize, problem: &str| ConfigError::SharedConfigSyntax {
            path: path.clone(),
            line,
            problem: problem.to_owned(),
        };
        let contents = contents.strip_prefix('\u{feff}').unwrap_or(contents);
        let contents = &without_comments(contents).map_err(|line| {
            syntax(
                line,
                "a section header must end with `]` (after it, only a comment)",
            )
        })?;
        let options = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: true,
            enabled_preserve_key_leading_whitespace: false,
        };
        let ini = Ini::load_from_str_opt(contents, options).map_err(|e| {
            if e.msg.contains("EOF") {
                // The parser was still looking for the `=` of the last line with text.
                let last = (1..)
                    .zip(contents.lines())
                    .filter(|(_, line)| !line.trim().is_empty())
                    .last()
                    .map_or(1, |(number, _)| number);
                return syntax(last, "expected `key = value` (the line has no `=`)");
            }
            let problem = if e.msg.contains("missing key") {
                "expected `key = value` (nothing before the `=`)"
            } else {
                "this line is not `[section]`, `key = value` or a comment"
            };
            syntax(e.line.max(1), problem)
        })?;

        // What the parser accepts but the SDKs refuse, and it would misread.
        for (section, properties) in &ini {
            for (key, _) in properties.iter() {
                if let Some((first, _)) = key.split_once('\n') {
                    let line = locate_line(contents, first.trim()).unwrap_or(1);
                    return Err(syntax(line, "expected `key = value` (the line has no `=`)"));
                }
                if section.is_none() {
                    let line = locate_key(contents, None, key).unwrap_or(1);
                    return Err(syntax(
                        line,
                        "a property before the first [section] (expected [default] or \
                         [profile NAME] above it)",
                    ));
                }
            }
        }

        // `[profile default]` wins over `[default]` as a whole, as in the SDKs.
        let wanted = profile.trim();
        let prefixed = |name: &str| {
            name.split_once([' ', '\t'])
                .is_some_and(|(prefix, rest)| prefix == "profile" && rest.trim() == wanted)
        };
        let has_prefixed = ini.sections().flatten().any(prefixed);
        let is_ours = |name: &str| {
            if has_prefixed {
                prefixed(name)
            } else {
                wanted == DEFAULT_PROFILE && name.trim() == DEFAULT_PROFILE
            }
        };

        let mut found = false;
        let mut values: Vec<(&'static str, String, usize)> = Vec::new();
        for (section, properties) in &ini {
            let Some(section) = section.filter(|s| is_ours(s)) else {
                continue;
            };
            found = true;
            for (key, value) in properties.iter() {
                let Some(known) = keys::ALL
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(key.trim()))
                else {
                    continue;
                };
                let line = locate_key(contents, Some(section), known).unwrap_or(1);
                values.retain(|(k, _, _)| k != known);
                values.push((known, value.trim().to_owned(), line));
            }
        }
        Ok(Self {
            path,
            profile: wanted.to_owned(),
            found,
            values,
        })
    }

    /// Finds the config file and the profile the way the SDKs do (see the [module
    /// docs](self)), with the environment as `env` reports it, and reads the profile.
    /// `profile` (an explicit choice) wins over `AWS_PROFILE`.
    ///
    /// Returns `None` when there is no file to read: neither `AWS_CONFIG_FILE` nor a home
    /// directory is set, or the file does not exist.
    ///
    /// # Errors
    ///
    /// [`ConfigError::SharedConfigRead`] when the file exists but cannot be read (or is not
    /// UTF-8), [`ConfigError::SharedConfigSyntax`] when it is not a config file.
    pub fn load(
        env: &dyn Fn(&str) -> Option<String>,
        profile: Option<&str>,
    ) -> Result<Option<Self>, ConfigError> {
        let Some(path) = location(env) else {
            return Ok(None);
        };
        let shown = path.display().to_string();
        let read_error = |problem: String| ConfigError::SharedConfigRead {
            path: sanitize(&shown, 256),
            problem,
        };
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            // No such file, or a path through something that is not a directory: no file.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(read_error(e.kind().to_string())),
        };
        let text = String::from_utf8(bytes)
            .map_err(|_| read_error("the file is not UTF-8 text".to_owned()))?;
        let profile = profile
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .or_else(|| nonempty(env(vars::PROFILE)))
            .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
        Self::parse(&shown, &text, &profile).map(Some)
    }

    /// The file's path, as given (control characters replaced).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The profile read.
    #[must_use]
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Whether the file has the profile (a section for it, even an empty one).
    #[must_use]
    pub fn has_profile(&self) -> bool {
        self.found
    }

    /// The value of `key` (one of [`keys::ALL`]) in the profile, trimmed, with its line
    /// number; `None` when the profile does not set it or sets it to nothing.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<(&str, usize)> {
        self.values
            .iter()
            .find(|(k, v, _)| *k == key && !v.is_empty())
            .map(|(_, v, line)| (v.as_str(), *line))
    }

    /// Parses `key` with `parse`; an invalid value is a [`ConfigError::Profile`].
    pub(super) fn parse_value<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, ValueError>,
    ) -> Result<Option<T>, ConfigError> {
        let Some((value, line)) = self.get(key) else {
            return Ok(None);
        };
        parse(value)
            .map(Some)
            .map_err(|problem| ConfigError::Profile {
                path: self.path.clone(),
                line,
                profile: self.profile.clone(),
                key,
                value: sanitize(value, 64),
                problem,
            })
    }
}

/// The text with every comment blanked out (the SDKs' rules, see the module docs), line for
/// line, so that line numbers stay. A section header that does not end with `]` is an error
/// naming its line.
fn without_comments(contents: &str) -> Result<String, usize> {
    let mut out = String::with_capacity(contents.len());
    for (number, line) in (1..).zip(contents.lines()) {
        let trimmed = line.trim_start();
        let kept = if trimmed.starts_with(['#', ';']) {
            ""
        } else if trimmed.starts_with('[') {
            let header = trimmed
                .split(['#', ';'])
                .next()
                .unwrap_or_default()
                .trim_end();
            if !header.ends_with(']') {
                return Err(number);
            }
            header
        } else {
            let cut = line
                .char_indices()
                .zip(line.chars().skip(1))
                .find(|((_, c), next)| c.is_whitespace() && matches!(next, '#' | ';'))
                .map_or(line.len(), |((i, _), _)| i);
            line.get(..cut).unwrap_or(line)
        };
        out.push_str(kept);
        out.push('\n');
    }
    Ok(out)
}

/// Where the config file is: `AWS_CONFIG_FILE` (with `~/` expanded), else `~/.aws/config`.
fn location(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let home = || {
        nonempty(env("HOME")).or_else(|| {
            if cfg!(windows) {
                nonempty(env("USERPROFILE"))
            } else {
                None
            }
        })
    };
    if let Some(file) = nonempty(env(vars::CONFIG_FILE)) {
        let rest = file.strip_prefix("~/").or_else(|| {
            if cfg!(windows) {
                file.strip_prefix("~\\")
            } else {
                None
            }
        });
        return Some(match (rest, rest.and_then(|_| home())) {
            (Some(rest), Some(home)) => Path::new(&home).join(rest),
            _ => PathBuf::from(file),
        });
    }
    home().map(|home| Path::new(&home).join(".aws").join("config"))
}

fn nonempty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// The 1-based number of the last line that sets `key` (case-insensitively) inside a section
/// whose header text is `section` (`None`: before any section header). A key line is
/// `key = ...` or `key: ...`, not indented, or indented right after the section header (where
/// the parser reads it as a key too); other indented lines continue a value.
///
/// The parser reports no positions for the keys it read, so error messages find them here.
fn locate_key(contents: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let mut current: Option<String> = None;
    let mut after_header = true;
    let mut found = None;
    for (number, line) in (1..).zip(contents.lines()) {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            current = rest.split_once(']').map(|(name, _)| name.trim().to_owned());
            after_header = true;
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if indented && !after_header {
            continue;
        }
        after_header = false;
        let name = trimmed.split(['=', ':']).next().unwrap_or_default().trim();
        if current.as_deref() == section && name.eq_ignore_ascii_case(key) {
            found = Some(number);
        }
    }
    found
}

/// The 1-based number of the first line whose trimmed text is `text`.
fn locate_line(contents: &str, text: &str) -> Option<usize> {
    (1..)
        .zip(contents.lines())
        .find(|(_, line)| line.trim() == text)
        .map(|(number, _)| number)
}

#[cfg(test)]
mod tests;
