//! The steps that need a token: the role listing, the credentials (redacted) and iam/info.

use credcycle_core::{Credentials, Policy, RoleName, WallTime};
use credcycle_imds::ImdsToken;
use credcycle_imds::codec::{self, InstanceProfileInfo};
use serde_json::json;

use super::imds::Imds;
use super::report::{Step, Verdict, seconds, span};

pub(super) fn role(
    imds: &mut Imds,
    token: &ImdsToken,
    pinned: Option<&RoleName>,
) -> (Step, Option<RoleName>) {
    let request = codec::role_listing_request(&imds.endpoint, Some(token));
    let (reply, _) = match imds.send(&request).or_no_reply("role", "the role listing") {
        Ok(answered) => answered,
        Err(step) => return (step, None),
    };
    let status = reply.status();
    match status {
        200 => match codec::parse_role_listing(reply.expose_body()) {
            Ok(listed) => match pinned {
                Some(pinned) if *pinned != listed => {
                    let step = Step::new(
                        "role",
                        Verdict::Warn,
                        format!(
                            "the instance profile's role is {listed}, but the settings pin \
                             {pinned} (AWS_EC2_INSTANCE_PROFILE_NAME or ec2_instance_profile_name); \
                             {pinned} is used"
                        ),
                    )
                    .data(json!({ "status": status, "role": listed.as_str(), "pinned": pinned.as_str() }));
                    (step, Some(pinned.clone()))
                }
                _ => {
                    let step = Step::new(
                        "role",
                        Verdict::Ok,
                        format!("instance profile role {listed}"),
                    )
                    .data(json!({ "status": status, "role": listed.as_str() }));
                    (step, Some(listed))
                }
            },
            Err(e) => (
                Step::new(
                    "role",
                    Verdict::Fail,
                    format!("the role listing is unusable: {e}"),
                )
                .data(json!({ "status": status })),
                None,
            ),
        },
        404 => (
            Step::new(
                "role",
                Verdict::Fail,
                "no instance profile is attached to this instance (HTTP 404 on the role listing)",
            )
            .fix(
                "aws ec2 associate-iam-instance-profile --instance-id <instance-id> \
                 --iam-instance-profile Name=<profile-name>",
            )
            .data(json!({ "status": status })),
            None,
        ),
        other => (
            Step::new(
                "role",
                Verdict::Fail,
                format!("IMDS answered the role listing with HTTP {other}"),
            )
            .data(json!({ "status": status })),
            None,
        ),
    }
}

pub(super) fn credentials(imds: &mut Imds, token: &ImdsToken, role: &RoleName) -> Step {
    let request = codec::credentials_request(&imds.endpoint, role, false, Some(token));
    let (reply, received) = match imds
        .send(&request)
        .or_no_reply("credentials", "the credentials request")
    {
        Ok(answered) => answered,
        Err(step) => return step,
    };
    let status = reply.status();
    match status {
        200 => match codec::parse_credentials(reply.expose_body()) {
            Ok(creds) => judge_credentials(&creds, received),
            Err(e) => Step::new(
                "credentials",
                Verdict::Fail,
                format!("the credentials reply is unusable: {e}"),
            )
            .data(json!({ "status": status })),
        },
        404 => Step::new(
            "credentials",
            Verdict::Fail,
            format!(
                "IMDS has no credentials for role {role} (HTTP 404): the instance profile's \
                 role was removed or changed just now"
            ),
        )
        .data(json!({ "status": status })),
        other => Step::new(
            "credentials",
            Verdict::Fail,
            format!("IMDS answered the credentials request with HTTP {other}"),
        )
        .data(json!({ "status": status })),
    }
}

/// The credentials, redacted: an access key id prefix, the expiry, the lifetime and the time
/// left, judged against the expiry margin.
fn judge_credentials(creds: &Credentials, now: WallTime) -> Step {
    let margin = Policy::default().expiry_margin();
    let key: String = creds.access_key_id().as_str().chars().take(8).collect();
    let expiration = creds.expiration();
    let left_ms = expiration
        .as_unix_millis()
        .saturating_sub(now.as_unix_millis());
    let left_secs = left_ms.div_euclid(1000);
    let lifetime_secs = creds
        .last_updated()
        .map(|updated| (expiration.as_unix_millis() - updated.as_unix_millis()).div_euclid(1000));
    let lifetime = lifetime_secs.map_or_else(
        || "unknown lifetime (no LastUpdated)".to_owned(),
        |secs| format!("lifetime {}", span(secs)),
    );
    let data = json!({
        "status": 200,
        "access_key_id_prefix": key,
        "expiration": expiration.to_rfc3339(),
        "lifetime_secs": lifetime_secs,
        "seconds_left": left_secs,
    });
    let margin_ms = i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
    let summary = format!(
        "access key {key}..., expires {} ({lifetime}, {} left)",
        expiration.to_rfc3339(),
        span(left_secs)
    );
    if left_ms <= 0 {
        Step::new(
            "credentials",
            Verdict::Fail,
            format!("{summary}: IMDS served credentials that have already expired"),
        )
        .data(data)
    } else if left_ms < margin_ms {
        Step::new(
            "credentials",
            Verdict::Fail,
            format!(
                "{summary}: less than the {} expiry margin is left, so credcycle would not hand \
                 them out",
                seconds(margin)
            ),
        )
        .data(data)
    } else {
        Step::new("credentials", Verdict::Ok, summary).data(data)
    }
}

pub(super) fn iam_info(imds: &mut Imds, token: &ImdsToken) -> Step {
    let request = codec::instance_profile_info_request(&imds.endpoint, Some(token));
    let (reply, _) = match imds.send(&request).or_no_reply("iam-info", "iam/info") {
        Ok(answered) => answered,
        Err(step) => return step,
    };
    let status = reply.status();
    if status != 200 {
        return Step::new(
            "iam-info",
            Verdict::Fail,
            format!("IMDS answered iam/info with HTTP {status}"),
        )
        .data(json!({ "status": status }));
    }
    match codec::parse_instance_profile_info(reply.expose_body()) {
        Ok(InstanceProfileInfo { arn, id, .. }) => Step::new(
            "iam-info",
            Verdict::Ok,
            format!("instance profile {arn} ({id})"),
        )
        .data(json!({ "status": status, "arn": arn, "id": id })),
        Err(e) => Step::new(
            "iam-info",
            Verdict::Fail,
            format!("iam/info is unusable: {e}"),
        )
        .data(json!({ "status": status })),
    }
}
