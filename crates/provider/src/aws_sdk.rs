//! aws-sdk-rust integration: [`Provider`] as a `ProvideCredentials` (feature `aws-sdk`).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let provider = credcycle::Provider::from_env()?;
//! let config = aws_config::from_env().credentials_provider(provider).load().await;
//! # let _ = config; Ok(()) }
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{self, ProvideCredentials};

use crate::Provider;

impl ProvideCredentials for Provider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            let creds = self
                .credentials_async()
                .await
                .map_err(CredentialsError::provider_error)?;
            // The SDK's identity cache reuses a set until shortly before the expiry it is told:
            // tell it the consumer expiry, which keeps INV-1's margin on both clocks (why two:
            // docs/lifecycle.md#two-clocks).
            let expiry = u64::try_from(creds.consumer_expiration().as_unix_millis())
                .ok()
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
            Ok(aws_credential_types::Credentials::new(
                creds.access_key_id().as_str(),
                creds.secret_access_key().expose_secret(),
                Some(creds.session_token().expose_secret().to_owned()),
                expiry.or(Some(SystemTime::UNIX_EPOCH)),
                "credcycle",
            ))
        })
    }
}
