//! Fuzzes the IMDS codec: every parser on the raw bytes, then the session logic on replies cut
//! from the same bytes. Nothing may panic, and no error message may quote a credentials secret.
#![no_main]

use std::time::Duration;

use credcycle_core::{MonoTime, RoleName};
use credcycle_imds::codec;
use credcycle_imds::{Exchange, HttpResponse, ImdsConfig, Session, Step, TransportError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = codec::parse_token(data);
    let _ = codec::parse_role_listing(data);
    match codec::parse_credentials(data) {
        Ok(creds) => assert!(!creds.session_token().expose_secret().is_empty()),
        Err(err) => {
            let message = err.to_string();
            assert!(!message.contains('\n'));
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let ttl = codec::parse_token_ttl(Some(text), 600);
        assert!((1..=600).contains(&ttl));
    }
    exchange(data);
});

/// Runs one credentials fetch against replies cut from `data`: each reply is a selector byte
/// (status or transport error), a length byte and that many body bytes.
fn exchange(mut data: &[u8]) {
    let config = ImdsConfig::builder()
        .extended_credentials(data.first().is_some_and(|b| b & 1 == 1))
        .allow_imds_v1(data.first().is_some_and(|b| b & 2 == 2))
        .retry_backoff(Duration::ZERO, Duration::ZERO)
        .build()
        .expect("a valid configuration");
    let mut session = Session::new(config);
    let role = RoleName::new("web").expect("a valid role");
    let mut exchange = Exchange::fetch_credentials(&mut session, &role);
    let mut now = MonoTime::ZERO;
    for _ in 0..256 {
        now = now.saturating_add(Duration::from_millis(10));
        exchange = match exchange.poll(now) {
            Step::Send(pending) => {
                let reply = next_reply(&mut data);
                pending.on_response(reply)
            }
            Step::Wait(waiting) => waiting.resume(),
            Step::Done(_) => return,
        };
    }
    panic!("an exchange did not end within 256 steps");
}

fn next_reply(data: &mut &[u8]) -> Result<HttpResponse, TransportError> {
    let Some((&selector, rest)) = data.split_first() else {
        return Err(TransportError::Timeout);
    };
    let (&len, rest) = rest.split_first().unwrap_or((&0, &[]));
    let len = usize::from(len).min(rest.len());
    let (body, rest) = rest.split_at(len);
    *data = rest;
    let status = match selector {
        0..=9 => return Err(TransportError::Timeout),
        10..=14 => return Err(TransportError::ConnectionRefused),
        15 => return Err(TransportError::BodyTooLarge),
        16..=127 => 200,
        128..=143 => 401,
        144..=159 => 404,
        160..=175 => 500,
        s => u16::from(s) * 3,
    };
    Ok(HttpResponse::new(status, body).with_header(
        "x-aws-ec2-metadata-token-ttl-seconds",
        format!("{selector}"),
    ))
}
