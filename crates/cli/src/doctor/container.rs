//! The container step: the `AWS_CONTAINER_*` variables, checked without IMDS.

use std::fmt::Write as _;

use serde_json::json;

use super::report::{Step, Verdict};

/// The container-credentials variables: which are set, and whether the SDKs would accept them.
/// Token values are never shown.
pub(super) fn container(env: &dyn Fn(&str) -> Option<String>) -> Step {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
