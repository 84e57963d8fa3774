//! Resolving the caller's AWS credentials with the standard chain: environment, shared config
//! and credentials files (`AWS_PROFILE`, SSO, `credential_process`, assumed roles), web
//! identity, container credentials, and instance metadata.
//!
//! Resolution happens before the API call, on its own, so that "no identity at all" (docker
//! should go on anonymously) is told apart from "credentials exist but failed". Instance
//! metadata gets one attempt with one-second timeouts: on a laptop where it does not exist,
//! the chain gives up in about a second instead of the SDK's default retries. It is reached
//! directly, never through `HTTPS_PROXY`: it is a link-local address.

use std::time::Duration;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::imds;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_types::region::Region;

use crate::clock::Deadline;
use crate::fetch::{FetchError, FetchErrorKind};

const IMDS_TIMEOUT: Duration = Duration::from_secs(1);

/// The credentials the default chain finds, or why there are none.
pub async fn resolve(
    region: &str,
    http_client: SharedHttpClient,
    deadline: Deadline,
) -> Result<Credentials, FetchError> {
    let region = Region::new(region.to_string());
    let conf = ProviderConfig::without_region()
        .with_http_client(http_client)
        .with_region(Some(region.clone()));
    // Instance metadata is link-local: never through the corporate proxy.
    let imds_conf = conf.clone().with_http_client(super::http::direct_client()?);
    let imds_client = imds::Client::builder()
        .configure(&imds_conf)
        .connect_timeout(IMDS_TIMEOUT)
        .read_timeout(IMDS_TIMEOUT)
        .max_attempts(1)
        .build();
    let chain = DefaultCredentialsChain::builder()
        .configure(conf)
        .region(region)
        .imds_client(imds_client)
        .build()
        .await;
    match tokio::time::timeout(deadline.remaining(), chain.provide_credentials()).await {
        Ok(Ok(credentials)) => Ok(credentials),
        Ok(Err(e)) => Err(classify_credentials_error(&e)),
        Err(_) => Err(FetchError::new(
            FetchErrorKind::Timeout,
            "loading AWS credentials took too long",
        )),
    }
}

fn classify_credentials_error(error: &CredentialsError) -> FetchError {
    let detail = DisplayErrorContext(error).to_string();
    let kind = match error {
        CredentialsError::CredentialsNotLoaded(_) => FetchErrorKind::NoIdentity,
        CredentialsError::ProviderTimedOut(_) => FetchErrorKind::Timeout,
        _ if detail.contains("ExpiredToken") => FetchErrorKind::ExpiredCredentials,
        _ => FetchErrorKind::CredentialsUnavailable,
    };
    FetchError::new(kind, detail)
}
