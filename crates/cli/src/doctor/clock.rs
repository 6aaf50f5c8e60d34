//! The clock step: this machine's clock against the `Date` of IMDS's replies.

use credcycle_core::Policy;
use serde_json::json;

use super::imds::Imds;
use super::report::{Step, Verdict, seconds};

/// How far off a request's signature time AWS accepts (SigV4), in milliseconds.
const SIGV4_SKEW_MS: i64 = 5 * 60 * 1000;

/// How far this machine's clock is from IMDS's (`Date` of the reply with the shortest round
/// trip). Behind IMDS, credentials look longer-lived than they are: more than the expiry margin
/// (60 s) fails. Ahead, they only look shorter-lived, but AWS refuses requests signed more than
/// 5 minutes off: more than that fails. Over 5 s either way is a warning.
pub(super) fn clock(imds: &Imds) -> Step {
    let best = imds
        .dates
        .iter()
        .filter_map(|(date, sent, received)| {
            let at = chrono::DateTime::parse_from_rfc2822(date).ok()?;
            let date_ms = at.timestamp_millis();
            let rtt = received.as_unix_millis() - sent.as_unix_millis();
            Some((date_ms, *sent, *received, rtt))
        })
        .min_by_key(|(_, _, _, rtt)| *rtt);
    let Some((date_ms, sent, received, rtt)) = best else {
        return Step::new(
            "clock",
            Verdict::Warn,
            "IMDS sent no usable Date header: clock skew not measured",
        );
    };
    // `Date` has whole seconds, truncated: the service's time was in [date, date + 1 s).
    let service_ms = date_ms + 500;
    let local_ms = (sent.as_unix_millis() + received.as_unix_millis()) / 2;
    // Positive: this machine is ahead of IMDS.
    let skew_ms = local_ms - service_ms;
    let uncertainty_ms = 500 + rtt / 2;
    #[expect(
        clippy::cast_precision_loss,
        reason = "milliseconds of skew are far below 2^52"
    )]
    let (skew_secs, uncertainty_secs) = (skew_ms as f64 / 1000.0, uncertainty_ms as f64 / 1000.0);
    let margin = Policy::default().expiry_margin();
    let margin_ms = i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
    let data = json!({ "skew_secs": skew_secs, "uncertainty_secs": uncertainty_secs });
    let direction = if skew_ms >= 0 { "ahead of" } else { "behind" };
    let measured = format!(
        "this machine's clock is {:.1} s {direction} IMDS's (±{uncertainty_secs:.1} s, from the \
         Date header)",
        skew_secs.abs()
    );
    let fix = "sync the clock: chrony with the Amazon Time Sync Service (169.254.169.123)";
    // What the skew surely is at least, whatever the measurement's error.
    let at_least = skew_ms.abs() - uncertainty_ms;
    if skew_ms < 0 && at_least > margin_ms {
        Step::new(
            "clock",
            Verdict::Fail,
            format!(
                "{measured}: credentials look longer-lived than they are, by more than the {} \
                 expiry margin, so they could be used after they expire",
                seconds(margin)
            ),
        )
        .fix(fix)
        .data(data)
    } else if skew_ms > 0 && at_least > SIGV4_SKEW_MS {
        Step::new(
            "clock",
            Verdict::Fail,
            format!("{measured}: AWS refuses requests signed more than 5 minutes off"),
        )
        .fix(fix)
        .data(data)
    } else if at_least > 5_000 {
        let why = if skew_ms < 0 {
            format!(
                "within the {} expiry margin, but it eats into it",
                seconds(margin)
            )
        } else {
            "credentials look shorter-lived than they are (safe, but refreshed early)".to_owned()
        };
        Step::new("clock", Verdict::Warn, format!("{measured}: {why}"))
            .fix(fix)
            .data(data)
    } else {
        Step::new("clock", Verdict::Ok, measured).data(data)
    }
}
