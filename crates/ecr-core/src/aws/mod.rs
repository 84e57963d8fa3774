//! The real [`TokenSource`]: ECR's `GetAuthorizationToken` through the AWS SDK for Rust.
//!
//! Only the cold path comes here. Each step has its own module:
//! - [`http`]: one HTTP client for every AWS call, honouring `HTTPS_PROXY`/`NO_PROXY`,
//!   `SSL_CERT_FILE`, `AWS_CA_BUNDLE` and the profile's `ca_bundle`;
//! - [`identity`]: the credentials of the scope's source: the standard chain (instance metadata
//!   bounded to one quick attempt), a bound AWS profile, or a key set whose secret comes from
//!   [`SecretKeys`];
//! - [`sts`]: assuming a key set's role at the registry partition's regional STS endpoint;
//! - [`ecr`]: the API call, which also captures the response's `Date` header;
//! - [`classify`]: SDK errors turned into [`crate::FetchErrorKind`]s.

pub mod classify;
pub mod ecr;
pub mod http;
pub mod identity;
pub mod sts;

use std::time::Duration;

pub use identity::{NoSecretKeys, SecretKeys};

use crate::clock::Deadline;
use crate::fetch::{FetchError, FetchedToken, TokenSource};
use crate::source::TokenScope;

/// How long establishing a connection may take, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Fetches tokens with the AWS SDK; key sets' secrets come from `secrets`.
pub struct SdkTokenSource {
    secrets: Box<dyn SecretKeys>,
}

impl SdkTokenSource {
    pub fn new(secrets: Box<dyn SecretKeys>) -> SdkTokenSource {
        SdkTokenSource { secrets }
    }
}

impl Default for SdkTokenSource {
    /// A source for the default chain and profiles only.
    fn default() -> Self {
        SdkTokenSource::new(Box::new(NoSecretKeys))
    }
}

impl TokenSource for SdkTokenSource {
    async fn fetch(
        &self,
        scope: &TokenScope,
        deadline: Deadline,
    ) -> Result<FetchedToken, FetchError> {
        let key_set = scope.source.key_set_name();
        async {
            // Each step is bounded by `deadline` itself, so that a timeout names the step.
            let client = http::client_from_env().await?;
            let identity =
                identity::resolve(scope, client.clone(), self.secrets.as_ref(), deadline).await?;
            let mut token = ecr::get_authorization_token(
                &scope.registry,
                scope.endpoint.as_deref(),
                client,
                identity.credentials,
                deadline,
            )
            .await?;
            token.credentials_expire_at = identity.expires_at;
            Ok(token)
        }
        .await
        .map_err(|e: FetchError| e.for_key_set(key_set))
    }
}
