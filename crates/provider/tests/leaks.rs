//! No secret in any tracing event, error message or Debug output, through a full lifecycle.
//!
//! A test binary of its own (not a module of `it`): tracing caches each callsite's interest
//! process-wide, so a capturing subscriber must be the global one, installed before any other
//! test in the process has logged anything.

#[path = "it/scripted.rs"]
mod scripted;

use std::io::Write;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use credcycle::Provider;
use credcycle_clock::ManualClock;
use credcycle_core::{AccessKeyId, Action, ImdsFailure, Input, MonoTime, Now, WallTime};

const SENTINEL: &str = "SENTINEL-7f3a";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_full_lifecycle_logs_no_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let text = {
        let clock = ManualClock::new(Now::new(
            MonoTime::ZERO,
            WallTime::from_unix_secs(1_795_862_471),
        ));
        let wall = clock.clone();
        let mut good = scripted::scripted(
            move || wall.now().wall,
            Duration::from_secs(900),
            Arc::new(AtomicU64::new(0)),
            SENTINEL,
        );
        // IMDS works, then fails for a while, then works again.
        let failing = Arc::new(Mutex::new(false));
        let fail = Arc::clone(&failing);
        let fetcher = move |action: &Action| -> Option<Input> {
            if *fail.lock().expect("flag") {
                return match action {
                    Action::FetchCredentials { id, .. } => Some(Input::CredentialsReply {
                        id: *id,
                        result: Err(ImdsFailure::HttpStatus(500)),
                    }),
                    other => good(other),
                };
            }
            good(action)
        };
        let provider = Provider::builder()
            .fetcher(fetcher)
            .clock(Arc::new(clock.clone()))
            .background_refresh(false)
            .build()
            .expect("provider");
        let mut seen = Vec::new();
        for step in 0..400 {
            if step == 100 {
                *failing.lock().expect("flag") = true;
            }
            if step == 250 {
                *failing.lock().expect("flag") = false;
            }
            match provider.credentials() {
                Ok(c) => {
                    assert!(c.secret_access_key().expose_secret().starts_with(SENTINEL));
                    seen.push(format!("{c:?}"));
                    if step % 97 == 0 {
                        provider.invalidate(&c.access_key_id().clone());
                    }
                }
                Err(e) => seen.push(format!("{e} {e:?}")),
            }
            clock.advance(Duration::from_secs(7));
        }
        provider.invalidate(&AccessKeyId::new("ASIAOTHER"));
        seen.push(format!("{provider:?} {:?}", provider.stats()));
        seen.join("\n")
    };
    let log = String::from_utf8(capture.0.lock().expect("capture").clone()).expect("utf-8");
    assert!(
        log.contains("new credentials accepted"),
        "the capture saw the lifecycle:\n{log}"
    );
    assert!(log.contains("attempt failed"), "the capture saw the outage");
    assert!(!log.contains(SENTINEL), "a secret leaked into the logs");
    assert!(
        !text.contains(SENTINEL),
        "a secret leaked into Debug or an error: {text}"
    );
}
