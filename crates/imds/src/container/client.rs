//! The blocking container-credentials client.

use core::fmt;
use core::time::Duration;

use credcycle_core::{Action, Credentials, Input, RequestId};

use super::config::ContainerConfig;
use super::error::ContainerError;
use crate::codec::{self, ParseError};
use crate::error::TransportError;
use crate::http::HttpRequest;
use crate::protocol::MAX_BODY_LEN;
use crate::transport::{Transport, UreqTransport};

/// A blocking container-credentials client: `GET`s the endpoint over a [`Transport`], with the
/// token read anew for every request, retrying timeouts, connection errors, 429 and 5xx.
///
/// It answers the core's requests with [`answer`](Self::answer), so the same
/// `credcycle_core::Machine` drives it as drives IMDS, with the policy's role pinned to
/// [`ROLE_LABEL`]: the machine then never asks for a role listing, and there is no session token
/// to ask for (that step lives in the IMDS client, not in the core).
///
/// [`ROLE_LABEL`]: crate::container::ROLE_LABEL
///
/// ```
/// use std::time::Duration;
/// use credcycle_imds::{FnTransport, HttpRequest, HttpResponse};
/// use credcycle_imds::container::{ContainerClient, ContainerConfig};
///
/// let endpoint = FnTransport(|req: &HttpRequest, _timeout: Duration| {
///     assert_eq!(req.url(), "http://169.254.170.2/v2/credentials/task");
///     Ok(HttpResponse::new(200, r#"{"AccessKeyId": "ASIAEXAMPLE",
///         "SecretAccessKey": "secret", "Token": "session",
///         "Expiration": "2026-11-28T16:41:11Z", "RoleArn": "arn:aws:iam::1:role/task"}"#))
/// });
/// let config = ContainerConfig::from_env_source(|name| {
///     (name == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").then(|| "/v2/credentials/task".into())
/// })?;
/// let mut client = ContainerClient::new(config, endpoint);
/// let creds = client.fetch_credentials()?;
/// assert_eq!(creds.access_key_id().as_str(), "ASIAEXAMPLE");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ContainerClient<T> {
    config: ContainerConfig,
    transport: T,
    sleep: Box<dyn Fn(Duration) + Send + Sync>,
    last_error: Option<ContainerError>,
    requests: u64,
}

impl ContainerClient<UreqTransport> {
    /// A client with these settings over [`UreqTransport`].
    #[must_use]
    pub fn with_config(config: ContainerConfig) -> Self {
        Self::new(config, UreqTransport::new())
    }
}

impl<T: Transport> ContainerClient<T> {
    /// The first delay between attempts; it doubles, up to [`Self::RETRY_CAP`].
    pub const RETRY_BASE: Duration = Duration::from_millis(250);
    /// The longest delay between attempts.
    pub const RETRY_CAP: Duration = Duration::from_secs(2);

    /// A client over `transport`.
    #[must_use]
    pub fn new(config: ContainerConfig, transport: T) -> Self {
        Self {
            config,
            transport,
            sleep: Box::new(std::thread::sleep),
            last_error: None,
            requests: 0,
        }
    }

    /// Replaces the function that sleeps between attempts (tests pass one that does not).
    #[must_use]
    pub fn with_sleep(mut self, sleep: impl Fn(Duration) + Send + Sync + 'static) -> Self {
        self.sleep = Box::new(sleep);
        self
    }

    /// The request to send now, the token read from its source: what
    /// [`fetch_credentials`](Self::fetch_credentials) sends, built without sending it (to
    /// check a URL without connecting).
    ///
    /// # Errors
    ///
    /// [`ContainerError::TokenFile`] or [`ContainerError::Token`] when the token cannot be read
    /// or sent.
    pub fn request(&self) -> Result<HttpRequest, ContainerError> {
        let token = self.config.token.read()?;
        Ok(codec::container_credentials_request(
            &self.config.endpoint,
            token.as_ref(),
        ))
    }

    /// Fetches the credentials: reads the token, sends the `GET`, retries what can be retried,
    /// parses the reply.
    ///
    /// # Errors
    ///
    /// A [`ContainerError`] naming the cause.
    pub fn fetch_credentials(&mut self) -> Result<Credentials, ContainerError> {
        let result = self.fetch();
        self.last_error = result.as_ref().err().cloned();
        result
    }

    fn fetch(&mut self) -> Result<Credentials, ContainerError> {
        let attempts = self.config.num_attempts;
        let mut delay = Self::RETRY_BASE;
        let mut attempt = 1;
        loop {
            // Read for every attempt: a token file rotated in between is picked up.
            let request = self.request()?;
            self.requests = self.requests.saturating_add(1);
            let outcome = self.transport.send(&request, self.config.timeout);
            drop(request);
            let error = match outcome {
                Ok(reply) if reply.status() == 200 => {
                    return codec::parse_credentials(reply.expose_body())
                        .map_err(ContainerError::Malformed);
                }
                Ok(reply) => match reply.status() {
                    status @ (401 | 403) => return Err(ContainerError::Unauthorized { status }),
                    status @ (429 | 500..=599) => ContainerError::HttpStatus {
                        status,
                        body_len: reply.body_len(),
                        attempts: attempt,
                    },
                    status => {
                        return Err(ContainerError::HttpStatus {
                            status,
                            body_len: reply.body_len(),
                            attempts: attempt,
                        });
                    }
                },
                Err(TransportError::BodyTooLarge) => {
                    return Err(ContainerError::Malformed(ParseError::BodyTooLarge {
                        len: MAX_BODY_LEN + 1,
                    }));
                }
                Err(TransportError::Timeout | TransportError::ConnectTimeout) => {
                    ContainerError::Timeout {
                        endpoint: self.config.endpoint.host().to_owned(),
                        timeout: self.config.timeout,
                        attempts: attempt,
                    }
                }
                Err(reason) => ContainerError::Unreachable {
                    endpoint: self.config.endpoint.host().to_owned(),
                    reason,
                    attempts: attempt,
                },
            };
            if attempt >= attempts {
                return Err(error);
            }
            (self.sleep)(delay);
            delay = (delay * 2).min(Self::RETRY_CAP);
            attempt += 1;
        }
    }

    /// Carries out one of the core's requests and returns the input that answers it:
    /// [`Action::FetchCredentials`] becomes [`Input::CredentialsReply`] (the role is only the
    /// pinned label, and is not sent); [`Action::DiscoverRole`], which a machine pinned to
    /// [`ROLE_LABEL`] never asks for, is answered locally with that label, without a request;
    /// events are `None`. The full error is kept in [`last_error`](Self::last_error).
    ///
    /// [`ROLE_LABEL`]: crate::container::ROLE_LABEL
    pub fn answer(&mut self, action: &Action) -> Option<Input> {
        match action {
            Action::DiscoverRole { id } => Some(Input::RoleReply {
                id: *id,
                result: Ok(self.config.label.clone()),
            }),
            Action::FetchCredentials { id, .. } => Some(self.credentials_reply(*id)),
            Action::Notify(_) => None,
        }
    }

    fn credentials_reply(&mut self, id: RequestId) -> Input {
        Input::CredentialsReply {
            id,
            result: self.fetch_credentials().map_err(|e| e.failure()),
        }
    }

    /// The full error behind the last failed fetch (cleared by a successful one).
    #[must_use]
    pub fn last_error(&self) -> Option<&ContainerError> {
        self.last_error.as_ref()
    }

    /// Requests sent so far, retries included.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &ContainerConfig {
        &self.config
    }
}

impl<T> fmt::Debug for ContainerClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContainerClient")
            .field("config", &self.config)
            .field("last_error", &self.last_error)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}
