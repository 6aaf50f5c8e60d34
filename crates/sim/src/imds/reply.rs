//! Reply builders shared by the endpoints: IMDS's plain-text replies and error pages, JSON
//! replies, and scripted delays.

use std::time::Duration;

use serde::Serialize;

use crate::request::{Headers, SimReply};
use crate::wire::error_page;

#[derive(Serialize)]
pub(super) struct ErrorReply<'a> {
    error: &'a str,
}

/// The headers of every IMDS reply.
pub(super) fn imds_headers() -> Headers {
    [("Content-Type", "text/plain"), ("Server", "EC2ws")]
        .into_iter()
        .collect()
}

pub(super) fn text(body: String) -> SimReply {
    SimReply::Respond {
        status: 200,
        headers: imds_headers(),
        body: body.into_bytes(),
        delay: None,
    }
}

pub(super) fn error(status: u16) -> SimReply {
    SimReply::Respond {
        status,
        headers: imds_headers(),
        body: error_page(status).into_bytes(),
        delay: None,
    }
}

pub(super) fn with_delay(reply: SimReply, delay: Option<Duration>) -> SimReply {
    match reply {
        SimReply::Respond {
            status,
            headers,
            body,
            delay: None,
        } => SimReply::Respond {
            status,
            headers,
            body,
            delay,
        },
        other => other,
    }
}

pub(super) fn json<T: Serialize>(status: u16, value: &T) -> SimReply {
    // Serializing these plain structs cannot fail (string keys, no custom serializers).
    let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
    body.push(b'\n');
    SimReply::Respond {
        status,
        headers: [("Content-Type", "application/json")].into_iter().collect(),
        body,
        delay: None,
    }
}

pub(super) fn json_error(status: u16, message: &str) -> SimReply {
    json(status, &ErrorReply { error: message })
}
