//! Assuming a key set's role: STS `AssumeRole` with the key set's long-term keys, at the
//! regional STS endpoint of the registry's partition (China and GovCloud have no global
//! endpoint), or at `AWS_ENDPOINT_URL_STS` when set.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::CONNECT_TIMEOUT;
use super::classify;
use super::identity::Identity;
use crate::clock::Deadline;
use crate::config::RoleConfig;
use crate::fetch::{FetchError, FetchErrorKind};
use crate::source::TokenScope;

/// The session name used when the key set names none.
pub const DEFAULT_SESSION_NAME: &str = "docker-credential-ecr";

/// Temporary credentials for `role`, bought with `keys`.
pub async fn assume_role(
    scope: &TokenScope,
    http_client: SharedHttpClient,
    keys: Credentials,
    role: &RoleConfig,
    deadline: Deadline,
) -> Result<Identity, FetchError> {
    let remaining = deadline.remaining().max(Duration::from_millis(1));
    let mut config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(scope.registry.api_region().to_string()))
        .use_fips(super::EndpointVariant::of(&scope.registry, scope.sts_endpoint.as_deref()).fips)
        .credentials_provider(keys)
        .http_client(http_client)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT.min(remaining))
                .operation_timeout(remaining)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2));
    if let Some(url) = &scope.sts_endpoint {
        config = config.endpoint_url(url);
    }
    let client = aws_sdk_sts::Client::from_conf(config.build());
    let output = client
        .assume_role()
        .role_arn(&role.arn)
        .role_session_name(role.session_name.as_deref().unwrap_or(DEFAULT_SESSION_NAME))
        .set_external_id(role.external_id.clone())
        .set_duration_seconds(role.duration_secs.map(|d| d as i32))
        .send()
        .await
        .map_err(|e| classify::sdk_error(&e))?;
    let credentials = output.credentials().ok_or_else(|| {
        FetchError::new(
            FetchErrorKind::BadResponse,
            "AssumeRole returned no credentials",
        )
    })?;
    let expires_at = SystemTime::try_from(*credentials.expiration()).ok();
    Ok(Identity {
        credentials: Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_string()),
            expires_at,
            "docker-credential-ecr assumed role",
        ),
        expires_at,
    })
}
