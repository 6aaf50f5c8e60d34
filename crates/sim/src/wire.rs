//! The IMDS wire format, written by hand: this crate does not share a codec with the client
//! (`credcycle-imds`), so that a misreading of IMDS on one side cannot hide behind the same
//! misreading on the other (`docs/design.md`, section 2).

use credcycle_core::WallTime;

/// An IMDS JSON document: pretty-printed with two-space indent and `" : "` between key and
/// value, as the real service writes it:
///
/// ```text
/// {
///   "Code" : "Success",
///   "LastUpdated" : "2026-11-28T10:41:11Z",
///   ...
/// }
/// ```
///
/// Every value IMDS sends in these documents is a string. No trailing newline.
pub(crate) fn imds_json(fields: &[(&str, &str)]) -> String {
    let mut out = String::from("{\n");
    for (i, (key, value)) in fields.iter().enumerate() {
        out.push_str("  ");
        push_json_string(&mut out, key);
        out.push_str(" : ");
        push_json_string(&mut out, value);
        if i + 1 < fields.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push('}');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A timestamp as IMDS writes it: `YYYY-MM-DDTHH:MM:SSZ`, UTC, whole seconds (rounded down).
pub(crate) fn timestamp(t: WallTime) -> String {
    let secs = t.as_unix_millis().div_euclid(1000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        // Outside chrono's range (hundreds of thousands of years away): still well-formed.
        None => "9999-12-31T23:59:59Z".to_owned(),
    }
}

/// `t` as an HTTP date (RFC 9110's IMF-fixdate, always GMT): `Sat, 28 Nov 2026 10:41:11 GMT`.
pub(crate) fn http_date(t: WallTime) -> String {
    let secs = t.as_unix_millis().div_euclid(1000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(dt) => dt.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        None => "Fri, 31 Dec 9999 23:59:59 GMT".to_owned(),
    }
}

/// `t` rounded down to a whole second: IMDS's timestamps have no fractional part, so the
/// simulator keeps its own times whole, and the `Expiration` a client reads is exactly the one
/// the audit checks.
pub(crate) fn whole_second(t: WallTime) -> WallTime {
    WallTime::from_unix_secs(t.as_unix_millis().div_euclid(1000))
}

/// The reason phrase for the statuses the simulator sends.
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

/// The error page IMDS sends with its error statuses (an XHTML document).
pub(crate) fn error_page(status: u16) -> String {
    let title = format!("{status} - {}", reason(status));
    format!(
        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n\
         <!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n\
         \t\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n\
         <html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n \
         <head>\n  <title>{title}</title>\n </head>\n \
         <body>\n  <h1>{title}</h1>\n </body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_written_like_imds() {
        let json = imds_json(&[("Code", "Success"), ("Odd", "a\"b\\c\n\u{1}")]);
        assert_eq!(
            json,
            "{\n  \"Code\" : \"Success\",\n  \"Odd\" : \"a\\\"b\\\\c\\n\\u0001\"\n}"
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["Odd"], "a\"b\\c\n\u{1}");
        assert_eq!(imds_json(&[]), "{\n}");
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        let t = WallTime::from_unix_secs(1_795_862_471);
        assert_eq!(http_date(t), "Sat, 28 Nov 2026 10:41:11 GMT");
        assert_eq!(
            http_date(t.offset_millis(999)),
            "Sat, 28 Nov 2026 10:41:11 GMT"
        );
        assert_eq!(
            http_date(WallTime::from_unix_secs(0).offset_millis(-1)),
            "Wed, 31 Dec 1969 23:59:59 GMT"
        );
    }

    #[test]
    fn timestamps_are_whole_seconds_utc() {
        let t = WallTime::from_unix_secs(1_795_862_471);
        assert_eq!(timestamp(t), "2026-11-28T10:41:11Z");
        assert_eq!(timestamp(t.offset_millis(999)), "2026-11-28T10:41:11Z");
        assert_eq!(timestamp(t.offset_millis(-1)), "2026-11-28T10:41:10Z");
        assert_eq!(whole_second(t.offset_millis(-1)), t.offset_millis(-1000));
        assert_eq!(
            timestamp(WallTime::from_unix_millis(i64::MAX)),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn error_page_names_the_status() {
        let page = error_page(404);
        assert!(page.contains("<title>404 - Not Found</title>"));
        assert!(page.contains("<h1>404 - Not Found</h1>"));
    }
}
