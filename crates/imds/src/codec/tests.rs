use credcycle_core::{Credentials, InvalidRoleName, RoleName, WallTime};
use proptest::prelude::*;

use super::*;
use crate::endpoint::Endpoint;
use crate::token::ImdsToken;

/// 2026-11-28T10:41:11Z.
const EXPIRATION: i64 = 1_795_862_471;

const SECRET: &str = "SENTINELSECRETwJalrXUtnFEMI";
const SESSION: &str = "SENTINELSESSIONIQoJb3JpZ2lu";

/// The reply of a real instance, with sentinel secrets.
fn valid() -> String {
    format!(
        r#"{{
  "Code" : "Success",
  "LastUpdated" : "2026-11-28T04:41:11Z",
  "Type" : "AWS-HMAC",
  "AccessKeyId" : "ASIAEXAMPLE",
  "SecretAccessKey" : "{SECRET}",
  "Token" : "{SESSION}",
  "Expiration" : "2026-11-28T10:41:11Z"
}}"#
    )
}

/// The valid reply with one field replaced by raw JSON (`None`: removed).
fn with(field: &str, raw: Option<&str>) -> String {
    let mut out = String::from("{");
    let fields = [
        ("Code", "\"Success\"".to_owned()),
        ("LastUpdated", "\"2026-11-28T04:41:11Z\"".to_owned()),
        ("Type", "\"AWS-HMAC\"".to_owned()),
        ("AccessKeyId", "\"ASIAEXAMPLE\"".to_owned()),
        ("SecretAccessKey", format!("\"{SECRET}\"")),
        ("Token", format!("\"{SESSION}\"")),
        ("Expiration", "\"2026-11-28T10:41:11Z\"".to_owned()),
    ];
    let mut first = true;
    let mut seen = false;
    for (name, value) in fields {
        let value = if name == field {
            seen = true;
            match raw {
                Some(raw) => raw.to_owned(),
                None => continue,
            }
        } else {
            value
        };
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&format!("\"{name}\":{value}"));
    }
    if !seen && let Some(raw) = raw {
        out.push_str(&format!(",\"{field}\":{raw}"));
    }
    out.push('}');
    out
}

/// What a corpus entry must give.
enum Expect {
    /// Parsed; the check runs on the credentials.
    Ok(fn(&Credentials)),
    /// This exact error.
    Err(ParseError),
}

fn expires_at(creds: &Credentials, unix_ms: i64) {
    assert_eq!(creds.expiration(), WallTime::from_unix_millis(unix_ms));
}

fn standard(creds: &Credentials) {
    assert_eq!(creds.access_key_id().as_str(), "ASIAEXAMPLE");
    assert_eq!(creds.secret_access_key().expose_secret(), SECRET);
    assert_eq!(creds.session_token().expose_secret(), SESSION);
    expires_at(creds, EXPIRATION * 1000);
}

fn missing(field: &'static str) -> Expect {
    Expect::Err(ParseError::MissingField { field })
}

fn wrong(field: &'static str, found: &'static str) -> Expect {
    Expect::Err(ParseError::WrongType { field, found })
}

fn json(category: JsonErrorCategory, line: usize, column: usize, len: usize) -> Expect {
    Expect::Err(ParseError::Json {
        category,
        line,
        column,
        len,
    })
}

/// The credentials corpus: `(description, body, expectation)`.
fn credentials_corpus() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let truncated = valid()[..60].to_owned();
    let truncated_len = truncated.len();
    let trailing = format!("{} x", valid());
    let trailing_len = trailing.len();
    let twice = format!("{}{}", valid(), valid());
    let twice_len = twice.len();
    // serde_json skips ignored values without recursing, so no depth overflows the stack.
    let deep = format!("{}1{}", "[".repeat(20_000), "]".repeat(20_000));
    let mut non_utf8 = with("Token", Some("\"SENTINELSESSION\u{0}\"")).into_bytes();
    let nul = non_utf8
        .iter()
        .position(|&b| b == 0)
        .expect("a NUL to replace");
    non_utf8[nul] = 0xff;
    let non_utf8_len = non_utf8.len();
    let mut huge = valid().into_bytes();
    huge.resize(MAX_BODY_LEN + 1, b' ');
    let mut at_limit = valid().into_bytes();
    at_limit.resize(MAX_BODY_LEN, b' ');
    let utf16: Vec<u8> = valid().encode_utf16().flat_map(u16::to_le_bytes).collect();

    vec![
        // What must be accepted.
        ("a real instance's reply", valid().into_bytes(), Expect::Ok(|c| {
            standard(c);
            assert_eq!(c.kind(), Some("AWS-HMAC"));
            assert_eq!(c.last_updated(), Some(WallTime::from_unix_secs(EXPIRATION - 6 * 3600)));
            assert_eq!(c.account_id(), None);
        })),
        ("no Code at all (emulators)", with("Code", None).into_bytes(), Expect::Ok(standard)),
        ("Code null counts as absent", with("Code", Some("null")).into_bytes(), Expect::Ok(standard)),
        ("fractional seconds", with("Expiration", Some("\"2026-11-28T10:41:11.123Z\"")).into_bytes(),
            Expect::Ok(|c| expires_at(c, EXPIRATION * 1000 + 123))),
        ("nanoseconds are truncated to milliseconds", with("Expiration", Some("\"2026-11-28T10:41:11.999999999Z\"")).into_bytes(),
            Expect::Ok(|c| expires_at(c, EXPIRATION * 1000 + 999))),
        ("an offset is converted to UTC", with("Expiration", Some("\"2026-11-28T12:41:11+02:00\"")).into_bytes(),
            Expect::Ok(|c| expires_at(c, EXPIRATION * 1000))),
        ("lowercase t and z (RFC 3339 allows them)", with("Expiration", Some("\"2026-11-28t10:41:11z\"")).into_bytes(),
            Expect::Ok(|c| expires_at(c, EXPIRATION * 1000))),
        ("expired credentials parse: expiry is the core's business", with("Expiration", Some("\"1970-01-01T00:00:01Z\"")).into_bytes(),
            Expect::Ok(|c| expires_at(c, 1000))),
        ("unknown fields are ignored, whatever their shape", with("RoleArn", Some("{\"a\":[1,null,{\"b\":true}]}")).into_bytes(), Expect::Ok(standard)),
        ("extended path with AccountId", with("AccountId", Some("\"123456789012\"")).into_bytes(),
            Expect::Ok(|c| assert_eq!(c.account_id(), Some("123456789012")))),
        ("empty optional fields count as absent", with("Type", Some("\"\"")).into_bytes(), Expect::Ok(|c| assert_eq!(c.kind(), None))),
        ("null LastUpdated counts as absent", with("LastUpdated", Some("null")).into_bytes(), Expect::Ok(|c| assert_eq!(c.last_updated(), None))),
        ("a byte order mark is skipped", format!("\u{feff}{}", valid()).into_bytes(), Expect::Ok(standard)),
        ("escapes in secrets are decoded", with("Token", Some("\"\\u0041B\\/C\"")).into_bytes(),
            Expect::Ok(|c| assert_eq!(c.session_token().expose_secret(), "AB/C"))),
        ("a body of exactly the limit", at_limit, Expect::Ok(standard)),
        // Broken JSON.
        ("empty body", Vec::new(), json(JsonErrorCategory::Eof, 1, 0, 0)),
        ("truncated JSON", truncated.into_bytes(), json(JsonErrorCategory::Eof, 3, 36, truncated_len)),
        ("trailing garbage", trailing.into_bytes(), json(JsonErrorCategory::Syntax, 9, 3, trailing_len)),
        ("two objects", twice.into_bytes(), json(JsonErrorCategory::Syntax, 9, 2, twice_len)),
        ("deep nesting in an unknown field", with("Deep", Some(&deep)).into_bytes(), Expect::Ok(standard)),
        ("deep nesting in a secret", with("Token", Some(&deep)).into_bytes(), wrong("Token", "an array")),
        ("UTF-16 is not UTF-8 JSON", utf16, json(JsonErrorCategory::Syntax, 1, 2, 2 * valid().len())),
        ("non-UTF-8 bytes inside a secret", non_utf8, Expect::Err(ParseError::NotUtf8 { valid_up_to: nul, len: non_utf8_len })),
        ("a huge body", huge, Expect::Err(ParseError::BodyTooLarge { len: MAX_BODY_LEN + 1 })),
        // Not an object.
        ("an array", b"[1, 2]".to_vec(), Expect::Err(ParseError::NotAnObject { found: "an array" })),
        ("a string", b"\"Success\"".to_vec(), Expect::Err(ParseError::NotAnObject { found: "a string" })),
        ("null", b"null".to_vec(), Expect::Err(ParseError::NotAnObject { found: "null" })),
        ("a number", b"42".to_vec(), Expect::Err(ParseError::NotAnObject { found: "a number" })),
        ("a boolean", b"true".to_vec(), Expect::Err(ParseError::NotAnObject { found: "a boolean" })),
        // Missing, null and empty required fields.
        ("no AccessKeyId", with("AccessKeyId", None).into_bytes(), missing("AccessKeyId")),
        ("no SecretAccessKey", with("SecretAccessKey", None).into_bytes(), missing("SecretAccessKey")),
        ("no Token", with("Token", None).into_bytes(), missing("Token")),
        ("no Expiration", with("Expiration", None).into_bytes(), missing("Expiration")),
        ("AccessKeyId null", with("AccessKeyId", Some("null")).into_bytes(), missing("AccessKeyId")),
        ("an empty object", b"{}".to_vec(), missing("AccessKeyId")),
        ("SecretAccessKey empty", with("SecretAccessKey", Some("\"\"")).into_bytes(), Expect::Err(ParseError::EmptyField { field: "SecretAccessKey" })),
        ("Token all whitespace", with("Token", Some("\"   \"")).into_bytes(), Expect::Err(ParseError::EmptyField { field: "Token" })),
        ("Expiration empty", with("Expiration", Some("\"\"")).into_bytes(), Expect::Err(ParseError::EmptyField { field: "Expiration" })),
        // Wrong types (the values are never echoed).
        ("Expiration a number", with("Expiration", Some("1795862471")).into_bytes(), wrong("Expiration", "a number")),
        ("Token an object holding a secret", with("Token", Some(&format!("{{\"inner\":\"{SESSION}\"}}"))).into_bytes(), wrong("Token", "an object")),
        ("SecretAccessKey an array holding a secret", with("SecretAccessKey", Some(&format!("[\"{SECRET}\", null]"))).into_bytes(), wrong("SecretAccessKey", "an array")),
        ("AccessKeyId a boolean", with("AccessKeyId", Some("true")).into_bytes(), wrong("AccessKeyId", "a boolean")),
        ("Code a number", with("Code", Some("200")).into_bytes(), wrong("Code", "a number")),
        ("nested nulls in a required field", with("Token", Some("[null, {\"a\": null}]")).into_bytes(), wrong("Token", "an array")),
        ("a negative number", with("LastUpdated", Some("-1.5e3")).into_bytes(), wrong("LastUpdated", "a number")),
        // Bad dates.
        ("a date without a time zone", with("Expiration", Some("\"2026-11-28T10:41:11\"")).into_bytes(),
            Expect::Err(ParseError::BadTimestamp { field: "Expiration", value: "2026-11-28T10:41:11".to_owned() })),
        ("a date without seconds", with("Expiration", Some("\"2026-11-28T10:41Z\"")).into_bytes(),
            Expect::Err(ParseError::BadTimestamp { field: "Expiration", value: "2026-11-28T10:41Z".to_owned() })),
        ("a date in words", with("Expiration", Some("\"tomorrow\"")).into_bytes(),
            Expect::Err(ParseError::BadTimestamp { field: "Expiration", value: "tomorrow".to_owned() })),
        ("an impossible date", with("Expiration", Some("\"2026-02-30T10:41:11Z\"")).into_bytes(),
            Expect::Err(ParseError::BadTimestamp { field: "Expiration", value: "2026-02-30T10:41:11Z".to_owned() })),
        ("a Unix timestamp as text", with("Expiration", Some("\"1795862471\"")).into_bytes(),
            Expect::Err(ParseError::BadTimestamp { field: "Expiration", value: "1795862471".to_owned() })),
        ("a bad LastUpdated", with("LastUpdated", Some("\"yesterday\"")).into_bytes(),
            Expect::Err(ParseError::BadTimestamp { field: "LastUpdated", value: "yesterday".to_owned() })),
        ("a long bad date is shortened", with("Expiration", Some(&format!("\"{}\"", "9".repeat(100)))).into_bytes(),
            Expect::Err(ParseError::BadTimestamp { field: "Expiration", value: format!("{}...", "9".repeat(64)) })),
        // Code other than Success.
        ("Code Failure", with("Code", Some("\"Failure\"")).into_bytes(),
            Expect::Err(ParseError::NotSuccess { code: "Failure".to_owned(), message: String::new() })),
        ("Code is case-sensitive", with("Code", Some("\"success\"")).into_bytes(),
            Expect::Err(ParseError::NotSuccess { code: "success".to_owned(), message: String::new() })),
        ("AssumeRoleUnauthorizedAccess", br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"EC2 cannot assume the role web.","LastUpdated":"2026-11-28T04:41:11Z"}"#.to_vec(),
            Expect::Err(ParseError::NotSuccess { code: "AssumeRoleUnauthorizedAccess".to_owned(), message: "EC2 cannot assume the role web.".to_owned() })),
        ("a control character in Message is replaced", with("Message", Some("\"bad\\nnews\"")).replace("\"Success\"", "\"Oops\"").into_bytes(),
            Expect::Err(ParseError::NotSuccess { code: "Oops".to_owned(), message: "bad?news".to_owned() })),
        ("a long Code is shortened", with("Code", Some(&format!("\"{}\"", "C".repeat(100)))).into_bytes(),
            Expect::Err(ParseError::NotSuccess { code: format!("{}...", "C".repeat(64)), message: String::new() })),
        // Fields holding what they may not.
        ("a newline in the session token", with("Token", Some("\"SENTINEL\\r\\nX-Injected: 1\"")).into_bytes(), Expect::Err(ParseError::InvalidText { field: "Token" })),
        ("a space in the secret key", with("SecretAccessKey", Some("\"SENTINEL SECRET\"")).into_bytes(), Expect::Err(ParseError::InvalidText { field: "SecretAccessKey" })),
        ("non-ASCII in the access key id", with("AccessKeyId", Some("\"ASIA\u{e9}\"")).into_bytes(), Expect::Err(ParseError::InvalidText { field: "AccessKeyId" })),
        ("a very long access key id", with("AccessKeyId", Some(&format!("\"{}\"", "A".repeat(129)))).into_bytes(), Expect::Err(ParseError::InvalidText { field: "AccessKeyId" })),
        ("a control character in AccountId", with("AccountId", Some("\"1234\\u0007\"")).into_bytes(), Expect::Err(ParseError::InvalidText { field: "AccountId" })),
        ("a field given twice", format!("{{\"Token\":\"{SESSION}\",{}", &valid()[1..]).into_bytes(), Expect::Err(ParseError::DuplicateField { field: "Token" })),
    ]
}

/// Every error message: one line, lowercase first word (or the acronym IMDS), no sentinel.
fn check_message(desc: &str, err: &ParseError) {
    let text = err.to_string();
    let debug = format!("{err:?}");
    assert!(
        !text.contains("SENTINEL"),
        "{desc}: secret in message: {text}"
    );
    assert!(
        !debug.contains("SENTINEL"),
        "{desc}: secret in Debug: {debug}"
    );
    assert!(!text.contains('\n'), "{desc}: not one line: {text}");
    assert!(
        text.starts_with(|c: char| c.is_lowercase()) || text.starts_with("IMDS"),
        "{desc}: {text}"
    );
    assert!(!text.ends_with('.'), "{desc}: {text}");
}

#[test]
fn credentials_corpus_gives_the_expected_outcome() {
    let corpus = credentials_corpus();
    assert!(corpus.len() >= 30, "{}", corpus.len());
    let mut failures = Vec::new();
    for (desc, body, expect) in corpus {
        match (parse_credentials(&body), expect) {
            (Ok(creds), Expect::Ok(check)) => {
                check(&creds);
                assert!(!format!("{creds:?}").contains("SENTINEL"), "{desc}");
            }
            (Err(err), Expect::Err(want)) => {
                if err != want {
                    failures.push(format!("{desc}: got {err:?}, wanted {want:?}"));
                }
                check_message(desc, &err);
            }
            (Ok(creds), Expect::Err(want)) => {
                failures.push(format!("{desc}: parsed {creds:?}, wanted {want:?}"));
            }
            (Err(err), Expect::Ok(_)) => failures.push(format!("{desc}: {err:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn role_listing_corpus_gives_the_expected_outcome() {
    let role = |s: &str| Ok(RoleName::new(s).unwrap());
    let mut huge = b"web\n".to_vec();
    huge.resize(MAX_BODY_LEN + 1, b'\n');
    let cases: Vec<(&str, Vec<u8>, Result<RoleName, ParseError>)> = vec![
        (
            "one role",
            b"web-server-role".to_vec(),
            role("web-server-role"),
        ),
        ("a trailing newline", b"web\n".to_vec(), role("web")),
        (
            "blank lines and CRLF first",
            b"\n \r\n  web-role  \r\nother\n".to_vec(),
            role("web-role"),
        ),
        (
            "the first of two roles",
            b"first\nsecond".to_vec(),
            role("first"),
        ),
        (
            "a byte order mark",
            "\u{feff}web".as_bytes().to_vec(),
            role("web"),
        ),
        (
            "IAM's punctuation",
            b"a+b=c,d.e@f_g-h".to_vec(),
            role("a+b=c,d.e@f_g-h"),
        ),
        (
            "128 characters",
            "r".repeat(128).into_bytes(),
            role(&"r".repeat(128)),
        ),
        ("empty", Vec::new(), Err(ParseError::EmptyRoleListing)),
        (
            "only whitespace",
            b"\n \n\t\r\n".to_vec(),
            Err(ParseError::EmptyRoleListing),
        ),
        (
            "a slash",
            b"web/../../latest".to_vec(),
            Err(InvalidRoleName::Slash.into()),
        ),
        (
            "a control character",
            b"we\x07b".to_vec(),
            Err(InvalidRoleName::Control.into()),
        ),
        (
            "a space inside",
            b"web role".to_vec(),
            Err(InvalidRoleName::Control.into()),
        ),
        (
            "a very long name",
            "r".repeat(129).into_bytes(),
            Err(InvalidRoleName::TooLong { len: 129 }.into()),
        ),
        (
            "a dot segment",
            b"..\n".to_vec(),
            Err(ParseError::DotRoleName),
        ),
        ("a single dot", b".".to_vec(), Err(ParseError::DotRoleName)),
        (
            "not UTF-8",
            b"web\xc3\x28".to_vec(),
            Err(ParseError::NotUtf8 {
                valid_up_to: 3,
                len: 5,
            }),
        ),
        (
            "a huge listing",
            huge,
            Err(ParseError::BodyTooLarge {
                len: MAX_BODY_LEN + 1,
            }),
        ),
    ];
    for (desc, body, want) in cases {
        let got = parse_role_listing(&body);
        assert_eq!(got, want, "{desc}");
        if let Err(err) = got {
            check_message(desc, &err);
        }
    }
}

#[test]
fn token_corpus_gives_the_expected_outcome() {
    let cases: Vec<(&str, Vec<u8>, Result<&str, ParseError>)> = vec![
        (
            "a token",
            b"AQAEAFh1-example==".to_vec(),
            Ok("AQAEAFh1-example=="),
        ),
        (
            "a trailing newline",
            b"SENTINELTOKEN\r\n".to_vec(),
            Ok("SENTINELTOKEN"),
        ),
        ("empty", Vec::new(), Err(ParseError::EmptyToken)),
        ("whitespace", b" \n".to_vec(), Err(ParseError::EmptyToken)),
        (
            "two words",
            b"SENTINEL TOKEN".to_vec(),
            Err(ParseError::InvalidToken { len: 14 }),
        ),
        (
            "a header injection",
            b"SENTINEL\r\nX-Forwarded-For: 1".to_vec(),
            Err(ParseError::InvalidToken { len: 28 }),
        ),
        (
            "too long",
            vec![b'a'; ImdsToken::MAX_LEN + 1],
            Err(ParseError::InvalidToken {
                len: ImdsToken::MAX_LEN + 1,
            }),
        ),
        (
            "not UTF-8",
            b"SENTINEL\xff".to_vec(),
            Err(ParseError::NotUtf8 {
                valid_up_to: 8,
                len: 9,
            }),
        ),
        (
            "a huge body",
            vec![b'a'; MAX_BODY_LEN + 1],
            Err(ParseError::BodyTooLarge {
                len: MAX_BODY_LEN + 1,
            }),
        ),
    ];
    for (desc, body, want) in cases {
        match (parse_token(&body), want) {
            (Ok(token), Ok(want)) => assert_eq!(token.expose_secret(), want, "{desc}"),
            (Err(err), Err(want)) => {
                assert_eq!(err, want, "{desc}");
                check_message(desc, &err);
            }
            (got, want) => panic!("{desc}: got {got:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn the_ttl_echo_is_used_only_when_valid() {
    let cases = [
        (Some("21600"), 21_600, 21_600),
        (Some("300"), 21_600, 300),
        (Some(" 300 "), 21_600, 300),
        (Some("1"), 21_600, 1),
        (None, 21_600, 21_600),
        (None, 60, 60),
        (Some(""), 600, 600),
        (Some("0"), 600, 600),
        (Some("-5"), 600, 600),
        (Some("600.5"), 600, 600),
        (Some("601"), 600, 600),
        (Some("99999999999999"), 600, 600),
    ];
    for (echo, requested, want) in cases {
        assert_eq!(
            parse_token_ttl(echo, requested),
            want,
            "{echo:?} {requested}"
        );
    }
}

#[test]
fn the_assume_role_hint_names_the_trust_policy() {
    let body =
        br#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"EC2 cannot assume the role web."}"#;
    let err = parse_credentials(body).unwrap_err();
    assert_eq!(
        err.to_string(),
        "IMDS answered Code \"AssumeRoleUnauthorizedAccess\" instead of Success: EC2 cannot \
         assume the role web. (EC2 could not assume the role: its trust policy must allow the \
         service principal ec2.amazonaws.com to call sts:AssumeRole)"
    );
    let other = parse_credentials(br#"{"Code":"Failure"}"#).unwrap_err();
    assert!(!other.to_string().contains("trust policy"), "{other}");
}

#[test]
fn a_not_success_reply_with_secrets_does_not_leak_them() {
    let body = with("Code", Some("\"Failure\"")).replace("\"Success\"", "\"Failure\"");
    let body = format!("{{\"Message\":\"{SECRET}-is-not-echoed?\",{}", &body[1..]);
    let err = parse_credentials(body.as_bytes()).unwrap_err();
    // The Message is IMDS's own text and is shown; the secret fields are not.
    assert!(matches!(err, ParseError::NotSuccess { .. }));
    assert!(!err.to_string().contains(SESSION), "{err}");
}

#[test]
fn requests_are_built_as_imds_expects() {
    let endpoint = Endpoint::parse("http://127.0.0.1:1338/").unwrap();
    let put = token_request(&endpoint, 21_600);
    assert_eq!(put.method(), Method::Put);
    assert_eq!(put.kind(), RequestKind::Token);
    assert_eq!(put.url(), "http://127.0.0.1:1338/latest/api/token");
    assert_eq!(put.path(), "/latest/api/token");
    assert_eq!(put.token_ttl_secs(), Some(21_600));
    assert!(put.token().is_none());
    assert_eq!(
        put.expose_headers(),
        [("X-aws-ec2-metadata-token-ttl-seconds", "21600")]
    );

    let token = ImdsToken::new("SENTINELTOKEN".to_owned()).unwrap();
    let listing = role_listing_request(&Endpoint::IPV4, Some(&token));
    assert_eq!(
        listing.url(),
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    );
    assert_eq!(listing.kind(), RequestKind::RoleListing);
    assert_eq!(
        listing.expose_headers(),
        [("X-aws-ec2-metadata-token", "SENTINELTOKEN")]
    );
    assert!(
        role_listing_request(&Endpoint::IPV4, None)
            .expose_headers()
            .is_empty()
    );

    let role = RoleName::new("web+role=1,a.b@c_d-e").unwrap();
    let classic = credentials_request(&Endpoint::IPV6, &role, false, Some(&token));
    assert_eq!(
        classic.url(),
        "http://[fd00:ec2::254]/latest/meta-data/iam/security-credentials/web+role=1,a.b@c_d-e"
    );
    assert_eq!(classic.kind(), RequestKind::Credentials);
    let extended = credentials_request(&Endpoint::IPV4, &role, true, None);
    assert_eq!(
        extended.path(),
        "/latest/meta-data/iam/security-credentials-extended/web+role=1,a.b@c_d-e"
    );
    assert_eq!(extended.kind(), RequestKind::ExtendedCredentials);

    // Anything outside IAM's name characters is percent-encoded: no query, no fragment.
    let odd = RoleName::new("a?b#c%d\u{e9}").unwrap();
    assert_eq!(
        credentials_request(&Endpoint::IPV4, &odd, false, None).path(),
        "/latest/meta-data/iam/security-credentials/a%3Fb%23c%25d%C3%A9"
    );
}

#[test]
fn request_debug_is_pinned_and_redacts_the_token() {
    let token = ImdsToken::new("SENTINELTOKEN".to_owned()).unwrap();
    let get = role_listing_request(&Endpoint::IPV4, Some(&token));
    assert_eq!(
        format!("{get:?}"),
        "HttpRequest { method: Get, url: \"http://169.254.169.254/latest/meta-data/iam/\
         security-credentials/\", headers: [(\"X-aws-ec2-metadata-token\", \"** redacted **\")] }"
    );
    assert!(!format!("{get:#?}").contains("SENTINEL"));
    let put = token_request(&Endpoint::IPV4, 60);
    assert_eq!(
        format!("{put:?}"),
        "HttpRequest { method: Put, url: \"http://169.254.169.254/latest/api/token\", headers: \
         [(\"X-aws-ec2-metadata-token-ttl-seconds\", \"60\")] }"
    );
}

#[test]
fn response_debug_shows_the_length_only() {
    let reply = HttpResponse::new(200, SECRET);
    let debug = format!("{reply:?} {reply:#?}");
    assert!(!debug.contains("SENTINEL"), "{debug}");
    assert_eq!(
        format!("{reply:?}"),
        "HttpResponse { status: 200, headers: [], body: \"<27 bytes>\" }"
    );
    assert_eq!(reply.body_len(), 27);
    assert_eq!(reply.expose_body(), SECRET.as_bytes());
}

#[test]
fn request_kinds_read_well_in_messages() {
    let names: Vec<String> = RequestKind::ALL.iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "the token request",
            "the role listing",
            "the credentials request",
            "the extended credentials request",
            "the container credentials request"
        ]
    );
    assert_eq!(Method::Put.to_string(), "PUT");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// No input makes a parser panic, and no error message quotes the input.
    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_token(&body);
        let _ = parse_role_listing(&body);
        if let Err(err) = parse_credentials(&body) {
            let _ = err.to_string();
        }
    }

    /// Nor on JSON-shaped text, which gets further into the credentials parser.
    #[test]
    fn credentials_parser_never_panics_on_jsonish_text(
        body in r#"\{("(Code|Token|Expiration|AccessKeyId|SecretAccessKey|LastUpdated|X)": ?(null|true|-?[0-9]{1,3}|"[ -~]{0,24}"|\[\]|\{\}),? ?){0,8}\}?"#
    ) {
        if let Err(err) = parse_credentials(body.as_bytes()) {
            let message = err.to_string();
            prop_assert!(!message.contains('\n'));
        }
    }

    /// A reply built from arbitrary (visible ASCII) secrets parses to exactly those secrets,
    /// and whatever error a broken variant gives never quotes them.
    #[test]
    fn secrets_round_trip_and_never_leak(
        secret in "[!-~&&[^\"\\\\]]{1,64}",
        token in "[!-~&&[^\"\\\\]]{1,256}",
        cut in 0usize..400,
    ) {
        // A prefix no message can contain by chance.
        let secret = format!("Zq{secret}");
        let token = format!("Zq{token}");
        let body = format!(
            r#"{{"AccessKeyId":"ASIA","SecretAccessKey":"{secret}","Token":"{token}","Expiration":"2026-11-28T10:41:11Z"}}"#
        );
        let creds = parse_credentials(body.as_bytes()).unwrap();
        prop_assert_eq!(creds.secret_access_key().expose_secret(), secret.as_str());
        prop_assert_eq!(creds.session_token().expose_secret(), token.as_str());
        let cut = cut.min(body.len());
        if let Err(err) = parse_credentials(&body.as_bytes()[..cut]) {
            let message = format!("{err} {err:?}");
            prop_assert!(!message.contains(&secret), "{}", message);
            prop_assert!(!message.contains(&token), "{}", message);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Instance-profile info.

const INFO: &str = r#"{
  "Code" : "Success",
  "LastUpdated" : "2026-11-28T04:41:11Z",
  "InstanceProfileArn" : "arn:aws:iam::123456789012:instance-profile/web",
  "InstanceProfileId" : "AIPAEXAMPLE"
}"#;

#[test]
fn instance_profile_info_parses() {
    let info = parse_instance_profile_info(INFO.as_bytes()).unwrap();
    assert_eq!(info.arn, "arn:aws:iam::123456789012:instance-profile/web");
    assert_eq!(info.id, "AIPAEXAMPLE");
    assert_eq!(
        info.last_updated,
        Some(WallTime::from_unix_secs(EXPIRATION - 6 * 3600))
    );
    // Without Code and LastUpdated (emulators).
    let bare = r#"{"InstanceProfileArn": "arn:x", "InstanceProfileId": "AIPA"}"#;
    let info = parse_instance_profile_info(bare.as_bytes()).unwrap();
    assert_eq!(info.last_updated, None);
    let req = instance_profile_info_request(&Endpoint::IPV4, None);
    assert_eq!(req.kind(), RequestKind::InstanceProfileInfo);
    assert_eq!(req.method(), Method::Get);
    assert_eq!(req.path(), INSTANCE_PROFILE_INFO_PATH);
    assert!(!RequestKind::ALL.contains(&RequestKind::InstanceProfileInfo));
}

#[test]
fn bad_instance_profile_info_is_a_typed_error() {
    let cases: [(&str, &str); 7] = [
        ("[]", "reply JSON is an array, not an object"),
        (
            "{",
            "reply is not valid JSON: unexpected end of input at line 1, column 1 (1 bytes)",
        ),
        (
            r#"{"InstanceProfileId": "AIPA"}"#,
            "required field InstanceProfileArn is missing or null",
        ),
        (
            r#"{"InstanceProfileArn": "", "InstanceProfileId": "AIPA"}"#,
            "required field InstanceProfileArn is empty",
        ),
        (
            r#"{"InstanceProfileArn": "arn:x", "InstanceProfileId": 7}"#,
            "field InstanceProfileId is a number, expected a string",
        ),
        (
            r#"{"InstanceProfileArn": "a\nb", "InstanceProfileId": "AIPA"}"#,
            "field InstanceProfileArn holds characters it may not, or is too long",
        ),
        (
            r#"{"InstanceProfileArn": "arn:x", "InstanceProfileId": "AIPA", "LastUpdated": "yesterday"}"#,
            "field LastUpdated is not an RFC 3339 timestamp: \"yesterday\"",
        ),
    ];
    for (body, want) in cases {
        let err = parse_instance_profile_info(body.as_bytes()).unwrap_err();
        assert_eq!(err.to_string(), want, "{body}");
    }
    let err = parse_instance_profile_info(br#"{"Code": "Failure", "Message": "no"}"#).unwrap_err();
    assert!(matches!(err, ParseError::NotSuccess { .. }), "{err}");
}
