//! The real [`TokenSource`]: ECR's `GetAuthorizationToken` through the AWS SDK for Rust.
//!
//! Only the cold path comes here. Each step has its own module:
//! - [`http`]: one HTTP client for every AWS call, honouring `HTTPS_PROXY`/`NO_PROXY`,
//!   `SSL_CERT_FILE`, `AWS_CA_BUNDLE` and the profile's `ca_bundle`;
//! - [`identity`]: the standard credential chain, with instance metadata bounded to one quick
//!   attempt so that a laptop without IMDS answers in seconds, not minutes;
//! - [`ecr`]: the API call, which also captures the response's `Date` header;
//! - [`classify`]: SDK errors turned into [`crate::FetchErrorKind`]s.

pub mod classify;
pub mod ecr;
pub mod http;
pub mod identity;

use std::time::Duration;

use crate::clock::Deadline;
use crate::fetch::{FetchError, FetchedToken, TokenSource};
use crate::registry::Registry;

/// How long establishing a connection may take, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Fetches tokens with the AWS SDK and the default credential chain.
#[derive(Debug, Clone, Default)]
pub struct SdkTokenSource;

impl TokenSource for SdkTokenSource {
    async fn fetch(
        &self,
        registry: &Registry,
        endpoint: Option<&str>,
        deadline: Deadline,
    ) -> Result<FetchedToken, FetchError> {
        // Each step is bounded by `deadline` itself, so that a timeout names the step.
        let client = http::client_from_env().await?;
        let credentials =
            identity::resolve(registry.api_region(), client.clone(), deadline).await?;
        ecr::get_authorization_token(registry, endpoint, client, credentials, deadline).await
    }
}
