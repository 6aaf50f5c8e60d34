//! The simulator's own endpoints under `/_sim/` and the control methods behind them (detach,
//! attach, rotate).

use credcycle_core::{MonoTime, Now, RoleName};
use serde::Serialize;

use super::reply::{json, json_error};
use super::state::SimImds;
use crate::request::{SimReply, SimRequest};

impl SimImds {
    /// Removes the instance profile at `now`: the role listing answers 404 from then on, and
    /// the role's sets count as revoked in the audit.
    pub fn detach(&mut self, now: Now) {
        let t = self.observe(now);
        self.set_role(t, None);
    }

    /// Attaches an instance profile with `role` at `now`, replacing any other (whose sets count
    /// as revoked). Attaching the role already attached changes nothing.
    pub fn attach(&mut self, now: Now, role: RoleName) {
        let t = self.observe(now);
        self.set_role(t, Some(role));
    }

    /// Issues a new credential set at `now`, whatever the schedule; returns its access key id,
    /// or `None` when no role is attached.
    pub fn rotate(&mut self, now: Now) -> Option<String> {
        let t = self.observe(now);
        self.force_rotate(t)
    }

    pub(super) fn control(&mut self, t: MonoTime, req: &SimRequest) -> SimReply {
        let path = req.path.trim_end_matches('/');
        let method = req.method.as_str();
        let known = [
            "/_sim/report",
            "/_sim/use",
            "/_sim/detach",
            "/_sim/attach",
            "/_sim/rotate",
            "/_sim/authorization",
        ];
        match (method, path) {
            ("GET", "/_sim/report") => json(200, &self.report()),
            ("POST", "/_sim/use") => match use_body(&req.body) {
                Some(key) => match self.use_key(t, &key) {
                    Some(record) => json(200, &record),
                    None => json_error(404, "unknown access key id"),
                },
                None => json_error(400, "expected an access key id, or {\"AccessKeyId\": ...}"),
            },
            ("POST", "/_sim/detach") => {
                self.set_role(t, None);
                json(200, &RoleReply { role: None })
            }
            ("POST", "/_sim/attach") => {
                let name = req
                    .query
                    .as_deref()
                    .and_then(|q| query_param(q, "role"))
                    .or_else(|| {
                        let body = String::from_utf8_lossy(&req.body).trim().to_owned();
                        (!body.is_empty()).then_some(body)
                    });
                match name.map(RoleName::new) {
                    Some(Ok(role)) => {
                        let name = role.as_str().to_owned();
                        self.set_role(t, Some(role));
                        json(200, &RoleReply { role: Some(name) })
                    }
                    Some(Err(e)) => json_error(400, &format!("invalid role name: {e}")),
                    None => json_error(400, "expected ?role=NAME"),
                }
            }
            ("POST", "/_sim/authorization") => {
                let token = String::from_utf8_lossy(&req.body).into_owned();
                if self.config.container.is_none() {
                    json_error(409, "no container endpoint is served")
                } else if self.set_authorization(&token) {
                    json(200, &AuthorizationReply { replaced: true })
                } else {
                    json_error(
                        400,
                        "expected the new token, one non-empty line, as the body",
                    )
                }
            }
            ("POST", "/_sim/rotate") => match self.force_rotate(t) {
                Some(key) => json(200, &RotateReply { access_key_id: key }),
                None => json_error(409, "no role attached"),
            },
            (_, p) if known.contains(&p) => json_error(405, "method not allowed"),
            _ => json_error(404, "no such simulator endpoint"),
        }
    }
}

#[derive(Serialize)]
struct RoleReply {
    role: Option<String>,
}

#[derive(Serialize)]
struct RotateReply {
    #[serde(rename = "AccessKeyId")]
    access_key_id: String,
}

#[derive(Serialize)]
struct AuthorizationReply {
    replaced: bool,
}

/// The access key id in a `/_sim/use` body: the id itself, or `{"AccessKeyId": "..."}`.
fn use_body(body: &[u8]) -> Option<String> {
    let text = core::str::from_utf8(body).ok()?.trim();
    if text.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        return value
            .get("AccessKeyId")?
            .as_str()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
    }
    (!text.is_empty()).then(|| text.to_owned())
}

/// The percent-decoded value of `name` in a query string (`+` is kept: IAM names may hold it).
pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(v))
    })
}

pub(super) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
