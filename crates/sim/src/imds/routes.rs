//! IMDSv2's rules and routing: which path a request is for, the token check, the metadata
//! paths and the credentials documents.

use credcycle_core::MonoTime;

use super::reply::{error, text};
use super::state::SimImds;
use crate::request::{PathClass, SimReply, SimRequest, TOKEN_HEADER, TOKEN_PATH};
use crate::scenario::Malformation;
use crate::wire::{imds_json, timestamp};

pub(super) const CREDS_PATH: &str = "/latest/meta-data/iam/security-credentials";

pub(super) const EXTENDED_PATH: &str = "/latest/meta-data/iam/security-credentials-extended";

impl SimImds {
    /// The class of a request: the container path's fetches are `credentials`, like IMDS's.
    pub(super) fn class_of(&self, req: &SimRequest) -> PathClass {
        if self.is_container_path(&req.path) {
            PathClass::Credentials
        } else {
            req.class()
        }
    }

    /// IMDSv2's rules and routing, as the real service applies them.
    pub(super) fn serve(
        &mut self,
        t: MonoTime,
        req: &SimRequest,
        mal: Option<Malformation>,
    ) -> SimReply {
        if self.is_container_path(&req.path) {
            return self.container_get(t, req, mal);
        }
        if req.path == TOKEN_PATH {
            return if req.method == "PUT" {
                self.token_put(t, req)
            } else {
                error(405)
            };
        }
        if req.method != "GET" {
            return error(405);
        }
        let authorized = match req.headers.get(TOKEN_HEADER) {
            Some(token) => self.tokens.get(token).is_some_and(|expires| t < *expires),
            None => self.config.allow_imdsv1,
        };
        if !authorized {
            return error(401);
        }
        self.route(t, &req.path, mal)
    }

    pub(super) fn route(&mut self, t: MonoTime, path: &str, mal: Option<Malformation>) -> SimReply {
        match path {
            "/latest/meta-data" | "/latest/meta-data/" => {
                let iam = if self.role.is_some() { "iam/\n" } else { "" };
                return text(format!("ami-id\n{iam}instance-id\ninstance-type"));
            }
            "/latest/meta-data/ami-id" => return text(self.ami_id.clone()),
            "/latest/meta-data/instance-id" => return text(self.instance_id.clone()),
            "/latest/meta-data/instance-type" => return text("t3.micro".to_owned()),
            "/latest/meta-data/iam" | "/latest/meta-data/iam/" => {
                return match self.role {
                    Some(_) => text("info\nsecurity-credentials/".to_owned()),
                    None => error(404),
                };
            }
            "/latest/meta-data/iam/info" => return self.info(mal),
            _ => {}
        }
        // The extended path first: the classic one is a prefix of it.
        for (base, extended) in [(EXTENDED_PATH, true), (CREDS_PATH, false)] {
            let Some(rest) = path.strip_prefix(base) else {
                continue;
            };
            if extended && !self.config.extended {
                return error(404);
            }
            return match rest {
                "" | "/" => match &self.role {
                    Some(a) => text(a.role.as_str().to_owned()),
                    None => error(404),
                },
                _ => match rest.strip_prefix('/') {
                    Some(name) if !name.contains('/') => self.credentials(t, name, extended, mal),
                    _ => error(404),
                },
            };
        }
        error(404)
    }

    pub(super) fn info(&self, mal: Option<Malformation>) -> SimReply {
        let Some(a) = &self.role else {
            return error(404);
        };
        let arn = format!(
            "arn:aws:iam::{}:instance-profile/{}",
            self.config.account_id, a.role
        );
        let updated = timestamp(a.attached_at);
        let mut fields = vec![("Code", "Success"), ("LastUpdated", updated.as_str())];
        if mal != Some(Malformation::MissingFields) {
            fields.push(("InstanceProfileArn", &arn));
        }
        fields.push(("InstanceProfileId", &a.profile_id));
        text(imds_json(&fields))
    }

    pub(super) fn credentials(
        &mut self,
        t: MonoTime,
        name: &str,
        extended: bool,
        mal: Option<Malformation>,
    ) -> SimReply {
        if self.role.as_ref().is_none_or(|a| a.role.as_str() != name) {
            return error(404);
        }
        if mal == Some(Malformation::AssumeRoleFailure) {
            let updated = timestamp(self.aws_at(t));
            let message = format!(
                "EC2 cannot assume the role {name}.  Please see documentation at \
                 https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html#roles-about-termsandconcepts."
            );
            return text(imds_json(&[
                ("Code", "AssumeRoleUnauthorizedAccess"),
                ("Message", &message),
                ("LastUpdated", &updated),
            ]));
        }
        let Some((entry, secret, token)) = self.serving_set(t) else {
            return error(404);
        };
        let entry = &self.audit[entry];
        let updated = timestamp(entry.issued_at);
        let expiration = match mal {
            Some(Malformation::BadExpiration) => "2026-13-45T25:61:61Z".to_owned(),
            _ => timestamp(entry.expiration),
        };
        let mut fields = vec![
            ("Code", "Success"),
            ("LastUpdated", updated.as_str()),
            ("Type", "AWS-HMAC"),
            ("AccessKeyId", entry.key_id.as_str()),
        ];
        if mal != Some(Malformation::MissingFields) {
            fields.push(("SecretAccessKey", &secret));
            fields.push(("Token", &token));
        }
        fields.push(("Expiration", &expiration));
        if extended {
            fields.push(("AccountId", &self.config.account_id));
        }
        text(imds_json(&fields))
    }
}
