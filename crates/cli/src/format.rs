//! How credentials are printed: `process` (the AWS CLI's `credential_process` JSON), `env`
//! (`export` lines for a shell) and `json` (the full record).
//!
//! These are the only places where credcycle deliberately writes a secret: to stdout, because the
//! user asked for it.

use std::fmt::Write as _;

use clap::ValueEnum;
use credcycle_core::{Credentials, RoleName, WallTime};
use serde::Serialize;

/// Output formats of `credcycle get`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// The `credential_process` JSON: `Version: 1`, `AccessKeyId`, `SecretAccessKey`,
    /// `SessionToken`, `Expiration` (and `AccountId` when known).
    #[default]
    Process,
    /// `export AWS_ACCESS_KEY_ID=...` lines for a POSIX shell (`eval "$(credcycle get --format env)"`).
    Env,
    /// The full record as IMDS gave it, plus the role; `Expiration` is the consumer expiry,
    /// `IssuedExpiration` the one IMDS sent.
    Json,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Process<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Record<'a> {
    role: &'a str,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    token: &'a str,
    expiration: String,
    issued_expiration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_updated: Option<String>,
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
}

/// Renders `creds` (of `role`) in `format`, ending with a newline.
///
/// Every format tells the consumer `expiration`, the consumer expiry (see
/// `credcycle::ProvidedCredentials::consumer_expiration`): consumers cache until the expiry they
/// are told, so the raw `Expiration` would let them use the set inside the expiry margin, or past
/// its real expiry after a wall-clock step back. `json` also shows the raw value, labelled
/// `IssuedExpiration`.
pub(crate) fn render(
    format: Format,
    role: &RoleName,
    creds: &Credentials,
    expiration: WallTime,
) -> String {
    match format {
        Format::Process => json(&Process {
            version: 1,
            access_key_id: creds.access_key_id().as_str(),
            secret_access_key: creds.secret_access_key().expose_secret(),
            session_token: creds.session_token().expose_secret(),
            expiration: expiration.to_rfc3339(),
            account_id: creds.account_id(),
        }),
        Format::Json => json(&Record {
            role: role.as_str(),
            access_key_id: creds.access_key_id().as_str(),
            secret_access_key: creds.secret_access_key().expose_secret(),
            token: creds.session_token().expose_secret(),
            expiration: expiration.to_rfc3339(),
            issued_expiration: creds.expiration().to_rfc3339(),
            last_updated: creds.last_updated().map(|t| t.to_rfc3339()),
            kind: creds.kind(),
            account_id: creds.account_id(),
        }),
        Format::Env => {
            let mut out = String::new();
            let mut export = |name: &str, value: &str| {
                let _ = writeln!(out, "export {name}={}", shell_quote(value));
            };
            export("AWS_ACCESS_KEY_ID", creds.access_key_id().as_str());
            export(
                "AWS_SECRET_ACCESS_KEY",
                creds.secret_access_key().expose_secret(),
            );
            export("AWS_SESSION_TOKEN", creds.session_token().expose_secret());
            export("AWS_CREDENTIAL_EXPIRATION", &expiration.to_rfc3339());
            if let Some(account) = creds.account_id() {
                export("AWS_ACCOUNT_ID", account);
            }
            out
        }
    }
}

fn json(value: &impl Serialize) -> String {
    // Serializing plain strings into a String cannot fail.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Single-quotes `value` for a POSIX shell: safe whatever it contains.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use credcycle_core::{AccessKeyId, SecretAccessKey, SessionToken, WallTime};

    /// A minute and a half before the sample's Expiration, as a Provider would tell it.
    const TOLD: WallTime = WallTime::from_unix_secs(1_795_862_471 - 90);

    /// A sample set for the role `web`, in this format.
    fn rendered(format: Format) -> String {
        let creds = Credentials::new(
            AccessKeyId::new("ASIAEXAMPLE"),
            SecretAccessKey::new("se/cr+et".into()),
            SessionToken::new("to'ken".into()),
            WallTime::from_unix_secs(1_795_862_471),
        )
        .with_kind("AWS-HMAC");
        render(format, &RoleName::new("web").expect("valid"), &creds, TOLD)
    }

    #[test]
    fn process_format_is_credential_process_json() {
        let v: serde_json::Value = serde_json::from_str(&rendered(Format::Process)).expect("json");
        assert_eq!(v["Version"], 1);
        assert_eq!(v["AccessKeyId"], "ASIAEXAMPLE");
        assert_eq!(v["SecretAccessKey"], "se/cr+et");
        assert_eq!(v["SessionToken"], "to'ken");
        assert_eq!(
            v["Expiration"], "2026-11-28T10:39:41Z",
            "the consumer expiry"
        );
        assert!(v.get("IssuedExpiration").is_none());
        assert!(v.get("AccountId").is_none());
    }

    #[test]
    fn env_format_quotes_for_the_shell() {
        let text = rendered(Format::Env);
        assert!(
            text.contains("export AWS_SESSION_TOKEN='to'\\''ken'\n"),
            "{text}"
        );
        assert!(
            text.contains("export AWS_SECRET_ACCESS_KEY='se/cr+et'\n"),
            "{text}"
        );
        assert!(
            text.contains("export AWS_CREDENTIAL_EXPIRATION='2026-11-28T10:39:41Z'\n"),
            "{text}"
        );
    }

    #[test]
    fn json_format_is_the_full_record() {
        let v: serde_json::Value = serde_json::from_str(&rendered(Format::Json)).expect("json");
        assert_eq!(v["Role"], "web");
        assert_eq!(v["Token"], "to'ken");
        assert_eq!(v["Type"], "AWS-HMAC");
        assert_eq!(
            v["Expiration"], "2026-11-28T10:39:41Z",
            "the consumer expiry"
        );
        assert_eq!(
            v["IssuedExpiration"], "2026-11-28T10:41:11Z",
            "as IMDS sent it"
        );
    }
}
