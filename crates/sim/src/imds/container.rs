//! The container-credentials endpoint (the ECS/EKS agents' shape): its path, its
//! `Authorization` token, and its replies.

use credcycle_core::MonoTime;
use serde::Serialize;

use super::reply::json;
use super::state::SimImds;
use crate::config::valid_authorization;
use crate::request::{SimReply, SimRequest};
use crate::scenario::Malformation;
use crate::wire::timestamp;

impl SimImds {
    pub(super) fn is_container_path(&self, path: &str) -> bool {
        self.config
            .container
            .as_ref()
            .is_some_and(|c| c.path == path)
    }

    /// Replaces the token the container endpoint requires (as EKS rotates it). Refused (false)
    /// without a container endpoint, or for a token that is empty or not one line.
    pub fn set_authorization(&mut self, token: &str) -> bool {
        match &mut self.config.container {
            Some(container) if valid_authorization(token) => {
                token.clone_into(&mut container.authorization);
                true
            }
            _ => false,
        }
    }

    /// The container-credentials endpoint: one `GET`, the token compared verbatim.
    pub(super) fn container_get(
        &mut self,
        t: MonoTime,
        req: &SimRequest,
        mal: Option<Malformation>,
    ) -> SimReply {
        if req.method != "GET" {
            return container_error(405, "MethodNotAllowed", "only GET is served");
        }
        let required = self
            .config
            .container
            .as_ref()
            .map(|c| c.authorization.as_str());
        if req.headers.get("Authorization") != required {
            return container_error(401, "AccessDenied", "invalid authorization token");
        }
        if mal == Some(Malformation::AssumeRoleFailure) {
            return container_error(
                500,
                "AssumeRoleUnauthorizedAccess",
                "the agent cannot assume the role",
            );
        }
        let Some((entry, secret, token)) = self.serving_set(t) else {
            return container_error(404, "NoRole", "no role is associated with this container");
        };
        let entry = &self.audit[entry];
        let role_arn = format!(
            "arn:aws:iam::{}:role/{}",
            self.config.account_id, entry.role
        );
        let expiration = match mal {
            Some(Malformation::BadExpiration) => "2026-13-45T25:61:61Z".to_owned(),
            _ => timestamp(entry.expiration),
        };
        let missing = mal == Some(Malformation::MissingFields);
        let reply = ContainerReply {
            access_key_id: &entry.key_id,
            secret_access_key: (!missing).then_some(secret.as_str()),
            token: (!missing).then_some(token.as_str()),
            expiration: &expiration,
            role_arn: &role_arn,
            account_id: &self.config.account_id,
        };
        json(200, &reply)
    }
}

/// The container endpoint's credentials, in the agents' shape (no `Code`, no `Type`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ContainerReply<'a> {
    access_key_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_access_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    expiration: &'a str,
    role_arn: &'a str,
    account_id: &'a str,
}

/// An error of the container endpoint: `{"code": ..., "message": ...}`, as the agents write it.
fn container_error(status: u16, code: &str, message: &str) -> SimReply {
    #[derive(Serialize)]
    struct Body<'a> {
        code: &'a str,
        message: &'a str,
    }
    json(status, &Body { code, message })
}
