//! The token step (IMDSv2) and the IMDSv1 probe that tells a hop limit from a silent IMDS.

use credcycle_imds::codec;
use credcycle_imds::{ImdsToken, TransportError};
use serde_json::json;

use super::imds::Imds;
use super::report::{Step, Verdict, seconds};

/// The command that lets a PUT reply travel one more hop (into a container).
pub(crate) const HOP_LIMIT_FIX: &str = "aws ec2 modify-instance-metadata-options --instance-id \
     <instance-id> --http-put-response-hop-limit 2 --http-endpoint enabled";

/// The token step: the step, the token (on success), and whether the PUT timed out.
pub(super) fn token(imds: &mut Imds) -> (Step, Option<ImdsToken>, bool) {
    let ttl = codec::MAX_TOKEN_TTL_SECS;
    let exchange = imds.send(&codec::token_request(&imds.endpoint, ttl));
    let reply = match exchange.reply {
        Ok(reply) => reply,
        Err(TransportError::Timeout) => {
            let step = Step::new(
                "token",
                Verdict::Fail,
                format!(
                    "no reply to the token PUT within {} although the connection opened: the \
                     PUT response hop limit is too low for where this runs (inside a container, \
                     the reply needs 2 hops; the default is 1)",
                    seconds(imds.timeout)
                ),
            )
            .fix(HOP_LIMIT_FIX)
            .data(json!({ "status": null, "error": "timeout", "hop_limit": true }));
            return (step, None, true);
        }
        Err(e) => {
            let step = Step::no_reply("token", "the token PUT", &e);
            return (step, None, false);
        }
    };
    let status = reply.status();
    let data = json!({ "status": status });
    let step = match status {
        200 => match codec::parse_token(reply.expose_body()) {
            Ok(token) => {
                let granted = codec::parse_token_ttl(reply.header(codec::TOKEN_TTL_HEADER), ttl);
                let step = Step::new(
                    "token",
                    Verdict::Ok,
                    format!("session token issued for {granted} s (IMDSv2)"),
                )
                .data(json!({ "status": status, "ttl_secs": granted }));
                return (step, Some(token), false);
            }
            Err(e) => Step::new(
                "token",
                Verdict::Fail,
                format!("the token reply is unusable: {e}"),
            ),
        },
        403 => Step::new(
            "token",
            Verdict::Fail,
            "IMDS refused the token PUT (HTTP 403): the metadata endpoint is turned off for \
             this instance, or the request went through a proxy (IMDS refuses X-Forwarded-For)",
        )
        .fix(
            "aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
             --http-endpoint enabled (and bypass any proxy: NO_PROXY=169.254.169.254)",
        ),
        404 | 405 => Step::new(
            "token",
            Verdict::Fail,
            format!(
                "IMDS offers no session tokens (HTTP {status} to the token PUT): an old emulator, \
                 not EC2; `credcycle get --allow-imdsv1` would fall back to IMDSv1"
            ),
        ),
        other => Step::new(
            "token",
            Verdict::Fail,
            format!("IMDS answered the token PUT with HTTP {other}"),
        ),
    };
    (step.data(data), None, false)
}

/// The IMDSv1 probe: does a GET without a token get an answer? Never a failure.
pub(super) fn imdsv1(imds: &mut Imds, token_timed_out: bool) -> Step {
    let exchange = imds.send(&codec::role_listing_request(&imds.endpoint, None));
    match exchange.reply {
        Ok(reply) if reply.status() == 401 => {
            let mut detail = "IMDSv1 is off: a GET without a token gets 401 (tokens required, as \
                              recommended)"
                .to_owned();
            if token_timed_out {
                detail.push_str(
                    "; GETs are answered while the token PUT is not, which is the hop limit",
                );
            }
            Step::new("imdsv1", Verdict::Ok, detail)
                .data(json!({ "answered": true, "status": 401, "enabled": false }))
        }
        Ok(reply) => {
            let status = reply.status();
            let mut detail = format!(
                "IMDSv1 is on: a GET without a token is answered (HTTP {status}); credcycle \
                 never uses it, but anything on this host that can be tricked into a request \
                 (SSRF) can read the credentials"
            );
            if token_timed_out {
                detail.push_str(
                    "; GETs are answered while the token PUT is not, which is the hop limit",
                );
            }
            Step::new("imdsv1", Verdict::Warn, detail)
                .fix(
                    "aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
                     --http-tokens required",
                )
                .data(json!({ "answered": true, "status": status, "enabled": true }))
        }
        Err(e) => Step::new(
            "imdsv1",
            Verdict::Warn,
            format!("a GET without a token got no reply either: {e}"),
        )
        .data(json!({ "answered": false, "status": null, "error": e.to_string() })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hop_limit_fix_uses_the_aws_cli_flags() {
        assert_eq!(
            HOP_LIMIT_FIX,
            "aws ec2 modify-instance-metadata-options --instance-id <instance-id> \
             --http-put-response-hop-limit 2 --http-endpoint enabled"
        );
    }
}
