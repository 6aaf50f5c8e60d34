//! IMDSv2 session tokens: `PUT /latest/api/token`, its TTL header, and the bounded set of live
//! tokens.

use std::time::Duration;

use credcycle_core::MonoTime;

use super::reply::{error, text};
use super::state::SimImds;
use crate::request::{SimReply, SimRequest, TTL_HEADER};
use crate::rng::BASE64URL;

/// The longest session-token lifetime IMDS grants, in seconds (six hours).
pub const MAX_TOKEN_TTL_SECS: u32 = 21_600;

/// How many live session tokens are kept; past this, the one expiring soonest is forgotten
/// (its holder gets a 401 and asks for a new one). Bounds memory against a client that asks for
/// a token per request.
pub(super) const MAX_LIVE_TOKENS: usize = 100_000;

impl SimImds {
    pub(super) fn token_put(&mut self, t: MonoTime, req: &SimRequest) -> SimReply {
        self.stats.token_puts += 1;
        // IMDS refuses token requests that went through a proxy.
        if req.headers.contains("X-Forwarded-For") {
            return error(403);
        }
        let Some(ttl) = req.headers.get(TTL_HEADER).and_then(parse_ttl) else {
            return error(400);
        };
        self.tokens.retain(|_, expires| *expires > t);
        if self.tokens.len() >= MAX_LIVE_TOKENS {
            let soonest = self
                .tokens
                .iter()
                .min_by_key(|(_, expires)| **expires)
                .map(|(token, _)| token.clone());
            if let Some(token) = soonest {
                self.tokens.remove(&token);
            }
        }
        let token = loop {
            let candidate = format!("AQAEA{}==", self.rng.string(BASE64URL, 51));
            if !self.tokens.contains_key(&candidate) {
                break candidate;
            }
        };
        self.tokens.insert(
            token.clone(),
            t.saturating_add(Duration::from_secs(u64::from(ttl))),
        );
        self.stats.tokens_issued += 1;
        let mut reply = text(token);
        if let SimReply::Respond { headers, .. } = &mut reply {
            headers.append(TTL_HEADER, ttl.to_string());
        }
        reply
    }
}

/// A TTL header value: an integer from 1 to 21600, digits only.
pub(super) fn parse_ttl(value: &str) -> Option<u32> {
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u32>()
        .ok()
        .filter(|ttl| (1..=MAX_TOKEN_TTL_SECS).contains(ttl))
}
