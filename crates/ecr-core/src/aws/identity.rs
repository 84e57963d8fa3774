//! The credentials behind a token, by source:
//! - the standard chain: environment, shared config and credentials files (`AWS_PROFILE`, SSO,
//!   `credential_process`, assumed roles), web identity, container credentials, and instance
//!   metadata;
//! - a bound AWS profile, read from the shared files whatever the environment holds;
//! - a key set: its access key id from the config and its secret from [`SecretKeys`] (the
//!   keychain), then its role assumed through STS when it has one.
//!
//! Resolution happens before the API call, on its own, so that "no identity at all" (docker
//! should go on anonymously) is told apart from "credentials exist but failed". Instance
//! metadata gets one attempt with one-second timeouts: on a laptop where it does not exist,
//! the chain gives up in about a second instead of the SDK's default retries. It is reached
//! directly, never through `HTTPS_PROXY`: it is a link-local address.

use std::time::{Duration, SystemTime};

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::imds;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_types::region::Region;

use crate::clock::Deadline;
use crate::config::SecretLocation;
use crate::fetch::{FetchError, FetchErrorKind};
use crate::secret::Secret;
use crate::source::{CredentialSource, TokenScope};

const IMDS_TIMEOUT: Duration = Duration::from_secs(1);

/// Where a key set's secret access key comes from (the keychain, in the product).
pub trait SecretKeys {
    /// The secret access key of key set `name`, kept at `location`.
    fn secret_access_key(&self, name: &str, location: SecretLocation)
    -> Result<Secret, FetchError>;
}

/// For callers that never use key sets.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecretKeys;

impl SecretKeys for NoSecretKeys {
    fn secret_access_key(&self, name: &str, _: SecretLocation) -> Result<Secret, FetchError> {
        Err(FetchError::new(
            FetchErrorKind::KeychainUnavailable,
            format!("no key store is available to read key set {name}"),
        ))
    }
}

/// Resolved credentials, and when they stop working (assumed roles only).
pub struct Identity {
    pub credentials: Credentials,
    pub expires_at: Option<SystemTime>,
}

/// The credentials of the scope's source, or why there are none.
pub async fn resolve(
    scope: &TokenScope,
    http_client: SharedHttpClient,
    secrets: &dyn SecretKeys,
    deadline: Deadline,
) -> Result<Identity, FetchError> {
    let region = Region::new(scope.registry.api_region().to_string());
    let conf = ProviderConfig::without_region()
        .with_http_client(http_client.clone())
        .with_region(Some(region.clone()));
    let credentials = match &scope.source {
        CredentialSource::DefaultChain { .. } => {
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
            bounded(chain.provide_credentials(), deadline).await?
        }
        CredentialSource::Profile(name) => {
            let provider = ProfileFileCredentialsProvider::builder()
                .configure(&conf)
                .profile_name(name)
                .build();
            bounded(provider.provide_credentials(), deadline)
                .await
                .map_err(|e| profile_error(name, e))?
        }
        CredentialSource::KeySet {
            name,
            access_key_id,
            secret_location,
            role,
        } => {
            let secret = secrets.secret_access_key(name, *secret_location)?;
            let keys = Credentials::new(
                access_key_id.clone(),
                secret.expose().to_string(),
                None,
                None,
                "docker-credential-ecr key set",
            );
            if let Some(role) = role {
                let assumed =
                    super::sts::assume_role(scope, http_client, keys, role, deadline).await?;
                return Ok(assumed);
            }
            keys
        }
        CredentialSource::Stored => {
            return Err(FetchError::new(
                FetchErrorKind::BadConfiguration,
                "a token stored by docker login cannot be refreshed",
            ));
        }
    };
    Ok(Identity {
        credentials,
        expires_at: None,
    })
}

async fn bounded(
    future: aws_credential_types::provider::future::ProvideCredentials<'_>,
    deadline: Deadline,
) -> Result<Credentials, FetchError> {
    match tokio::time::timeout(deadline.remaining(), future).await {
        Ok(Ok(credentials)) => Ok(credentials),
        Ok(Err(e)) => Err(classify_credentials_error(&e)),
        Err(_) => Err(FetchError::new(
            FetchErrorKind::Timeout,
            "loading AWS credentials took too long",
        )),
    }
}

/// A bound profile that yields nothing is a configuration error, not "no identity".
fn profile_error(name: &str, error: FetchError) -> FetchError {
    match error.kind {
        FetchErrorKind::NoIdentity => FetchError::new(
            FetchErrorKind::CredentialsUnavailable,
            format!(
                "AWS profile {name} has no usable credentials ({})",
                error.detail
            ),
        ),
        _ => error,
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
