//! How values are shown in error messages: shortened, control characters replaced, durations
//! and attempt counts in words.

use core::fmt;
use core::time::Duration;

/// `s` with control characters replaced by `?`, cut to `max` characters (plus `...`).
pub(crate) fn sanitize(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}

/// A duration for error messages: `1s`, `1.5s`, `250ms`.
pub(crate) struct Secs(pub(crate) Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1000 {
            write!(f, "{ms}ms")
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            let text = format!("{}.{:03}", ms / 1000, ms % 1000);
            write!(f, "{}s", text.trim_end_matches('0'))
        }
    }
}

/// `1 attempt`, `3 attempts`.
pub(crate) struct Attempts(pub(crate) u32);

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 attempt"),
            n => write!(f, "{n} attempts"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well_in_messages() {
        let cases = [
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(2250), "2.25s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_secs(600), "600s"),
        ];
        for (d, want) in cases {
            assert_eq!(Secs(d).to_string(), want);
        }
    }

    #[test]
    fn sanitize_replaces_control_characters_and_shortens() {
        assert_eq!(sanitize("a\u{0}b\tc", 10), "a?b?c");
        assert_eq!(sanitize("abcdef", 3), "abc...");
        assert_eq!(sanitize("abc", 3), "abc");
        assert_eq!(sanitize("", 3), "");
    }
}
