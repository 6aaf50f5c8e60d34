//! `serve`'s `GET /metrics` (the Prometheus text format, version 0.0.4, written by the Prometheus
//! project's `prometheus-client`) and `GET /healthz`, both read from [`Provider::stats`] at each
//! request. Neither ever shows a secret, nor the access key id: only the state, the time left,
//! and counts.

use core::fmt;

use credcycle::{Provider, ProviderStats, StateKind};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of `/metrics`.
pub(super) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The registry `/metrics` encodes: one collector that reads the provider's stats per scrape.
pub(super) fn registry(provider: Provider) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StatsCollector { provider }));
    registry
}

/// The text of `/metrics`.
pub(super) fn render(registry: &Registry) -> Result<String, fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, registry)?;
    Ok(text)
}

/// The body of `/healthz` and whether it is healthy: usable credentials are held.
pub(super) fn health(provider: &Provider) -> (bool, String) {
    let stats = provider.stats();
    let healthy = stats.usable_for.is_some();
    let body = serde_json::json!({
        "Healthy": healthy,
        "State": stats.state.name(),
        "SecondsUntilUsableDeadline": stats.usable_for.map(|d| d.as_secs()),
    });
    (healthy, body.to_string())
}

struct StatsCollector {
    provider: Provider,
}

impl fmt::Debug for StatsCollector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the provider's Debug: it takes the lifecycle's lock to show the state.
        f.debug_struct("StatsCollector").finish_non_exhaustive()
    }
}

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        encode_stats(&self.provider.stats(), &mut encoder)
    }
}

fn encode_stats(stats: &ProviderStats, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
    let left = stats.usable_for.map_or(0.0, |d| d.as_secs_f64());
    ConstGauge::new(left).encode(encoder.encode_descriptor(
        "credcycle_seconds_until_usable_deadline",
        "Seconds until the held credentials stop being handed out (Expiration minus the expiry \
         margin, on the monotonic and the wall clock); 0 when nothing usable is held.",
        None,
        MetricType::Gauge,
    )?)?;
    ConstGauge::new(i64::from(stats.usable_for.is_some())).encode(encoder.encode_descriptor(
        "credcycle_credentials_usable",
        "1 while usable credentials are held (what /healthz answers 200 for), else 0.",
        None,
        MetricType::Gauge,
    )?)?;
    let mut state = encoder.encode_descriptor(
        "credcycle_state",
        "The lifecycle's state: 1 for the current one, 0 for the others.",
        None,
        MetricType::Gauge,
    )?;
    for kind in StateKind::ALL {
        ConstGauge::new(i64::from(kind == stats.state))
            .encode(state.encode_family(&[("state", kind.name())])?)?;
    }
    counters(
        encoder,
        "credcycle_refresh_outcomes",
        "What the lifecycle made of the replies of IMDS: sets accepted, and failed attempts by why.",
        "outcome",
        &stats.outcomes.labelled(),
    )?;
    counters(
        encoder,
        "credcycle_imds_requests",
        "Replies of IMDS to the role listings and credentials fetches, by HTTP status or failure.",
        "status",
        &stats.imds.labelled(),
    )?;
    ConstCounter::new(stats.handouts).encode(encoder.encode_descriptor(
        "credcycle_handouts",
        "Credentials handed out (each 200 of /credentials).",
        None,
        MetricType::Counter,
    )?)?;
    counters(
        encoder,
        "credcycle_refusals",
        "Requests for credentials refused, by reason.",
        "reason",
        &stats.refusals.labelled(),
    )?;
    Ok(())
}

/// One counter family, one sample per label value.
fn counters(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&'static str, u64)],
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, count) in values {
        ConstCounter::new(*count).encode(family.encode_family(&[(label, *value)])?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use credcycle::{
        AccessKeyId, Action, Credentials, Input, ManualClock, MonoTime, Now, RoleName,
        SecretAccessKey, SessionToken, WallTime,
    };

    use super::*;

    /// A provider over a scripted IMDS holding one six-hour set, on a ManualClock.
    fn provider(clock: &ManualClock) -> Provider {
        let expiration = clock
            .now()
            .wall
            .saturating_add(Duration::from_secs(6 * 3600));
        Provider::builder()
            .clock(Arc::new(clock.clone()))
            .background_refresh(false)
            .fetcher(move |action: &Action| match action {
                Action::DiscoverRole { id } => Some(Input::RoleReply {
                    id: *id,
                    result: Ok(RoleName::new("web").ok()?),
                }),
                Action::FetchCredentials { id, .. } => Some(Input::CredentialsReply {
                    id: *id,
                    result: Ok(Credentials::new(
                        AccessKeyId::new("ASIAMETRICSKEYID"),
                        SecretAccessKey::new("metrics-secret-key".into()),
                        SessionToken::new("metrics-session-token".into()),
                        expiration,
                    )),
                }),
                Action::Notify(_) => None,
            })
            .build()
            .expect("provider")
    }

    fn clock() -> ManualClock {
        ManualClock::new(Now::new(
            MonoTime::ZERO,
            WallTime::from_unix_secs(1_795_862_471),
        ))
    }

    #[test]
    fn the_exposition_names_every_metric_with_its_type_and_value() {
        let clock = clock();
        let provider = provider(&clock);
        let registry = registry(provider.clone());
        let before = render(&registry).expect("text");
        assert!(
            before.contains("credcycle_seconds_until_usable_deadline 0.0\n"),
            "{before}"
        );
        assert!(
            before.contains("credcycle_state{state=\"Idle\"} 1\n"),
            "{before}"
        );
        assert!(
            before.contains("credcycle_credentials_usable 0\n"),
            "{before}"
        );

        provider.credentials().expect("fetched");
        provider.credentials().expect("a hit");
        clock.advance(Duration::from_millis(1500));
        let text = render(&registry).expect("text");
        for line in [
            "# TYPE credcycle_seconds_until_usable_deadline gauge",
            // Six hours, less the 60 s margin and the 1.5 s that passed.
            "credcycle_seconds_until_usable_deadline 21538.5",
            "credcycle_credentials_usable 1",
            "# TYPE credcycle_state gauge",
            "credcycle_state{state=\"Fresh\"} 1",
            "credcycle_state{state=\"Idle\"} 0",
            "# TYPE credcycle_refresh_outcomes_total counter",
            "credcycle_refresh_outcomes_total{outcome=\"accepted\"} 1",
            "credcycle_refresh_outcomes_total{outcome=\"not_rotated\"} 0",
            "# TYPE credcycle_imds_requests_total counter",
            "credcycle_imds_requests_total{status=\"200\"} 2",
            "credcycle_imds_requests_total{status=\"5xx\"} 0",
            "credcycle_imds_requests_total{status=\"timeout\"} 0",
            "# TYPE credcycle_handouts_total counter",
            "credcycle_handouts_total 2",
            "# TYPE credcycle_refusals_total counter",
            "credcycle_refusals_total{reason=\"backing_off\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
        // One state at a time.
        let states: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("credcycle_state{") && l.ends_with(" 1"))
            .collect();
        assert_eq!(states, ["credcycle_state{state=\"Fresh\"} 1"]);
        // Never a secret, nor the key id.
        for secret in [
            "metrics-secret-key",
            "metrics-session-token",
            "ASIAMETRICSKEYID",
        ] {
            assert!(!text.contains(secret), "{secret} in\n{text}");
        }
    }

    #[test]
    fn health_is_whether_usable_credentials_are_held() {
        let clock = clock();
        let provider = provider(&clock);
        let (healthy, body) = health(&provider);
        assert!(!healthy, "{body}");
        assert!(body.contains("\"State\":\"Idle\""), "{body}");
        provider.credentials().expect("fetched");
        let (healthy, body) = health(&provider);
        assert!(healthy, "{body}");
        assert!(
            body.contains("\"SecondsUntilUsableDeadline\":21540"),
            "{body}"
        );
        assert!(!body.contains("metrics-secret-key") && !body.contains("ASIAMETRICSKEYID"));
    }
}
