//! The `GetAuthorizationToken` call, for private registries (ECR) and ECR Public.
//!
//! Region, FIPS and dual-stack come from the registry host; the endpoint URL override from the
//! caller, and when there is one it wins: FIPS and dual-stack only choose among AWS's own
//! endpoints (see [`super::EndpointVariant`]). The response's `Date` header is captured by a read-only interceptor, because the
//! token's life must be measured on the server's clock (see [`crate::token::Token`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_ecr::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_ecr::config::{BehaviorVersion, ConfigBag, Intercept, Region, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::date_time::{DateTime, Format};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::CONNECT_TIMEOUT;
use super::classify;
use crate::clock::Deadline;
use crate::fetch::{FetchError, FetchErrorKind, FetchedToken};
use crate::registry::Registry;
use crate::token::split_authorization_token;

const MAX_ATTEMPTS: u32 = 3;

/// Records the `Date` header of the last response.
#[derive(Debug, Clone, Default)]
struct ResponseDate(Arc<Mutex<Option<String>>>);

impl ResponseDate {
    fn get(&self) -> Option<SystemTime> {
        let text = self.0.lock().ok()?.clone()?;
        let date = DateTime::from_str(&text, Format::HttpDate).ok()?;
        SystemTime::try_from(date).ok()
    }
}

impl Intercept for ResponseDate {
    fn name(&self) -> &'static str {
        "ResponseDate"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(date) = context.response().headers().get("date")
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = Some(date.to_string());
        }
        Ok(())
    }
}

fn timeouts(deadline: Deadline) -> TimeoutConfig {
    let remaining = deadline.remaining().max(Duration::from_millis(1));
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(remaining))
        .operation_timeout(remaining)
        .build()
}

/// Calls `GetAuthorizationToken` for `registry` with `credentials`.
pub async fn get_authorization_token(
    registry: &Registry,
    endpoint: Option<&str>,
    http_client: SharedHttpClient,
    credentials: Credentials,
    deadline: Deadline,
) -> Result<FetchedToken, FetchError> {
    let date = ResponseDate::default();
    let (authorization_token, expires_at) = if registry.is_public() {
        call_public(endpoint, http_client, credentials, deadline, date.clone()).await?
    } else {
        call_private(
            registry,
            endpoint,
            http_client,
            credentials,
            deadline,
            date.clone(),
        )
        .await?
    };
    let received_at = SystemTime::now();
    let (user, password) = split_authorization_token(&authorization_token).ok_or_else(|| {
        FetchError::new(
            FetchErrorKind::BadResponse,
            "the authorization token is not base64 of user:password",
        )
    })?;
    if user != "AWS" {
        tracing::debug!(%user, "ECR token carries an unusual user name");
    }
    Ok(FetchedToken {
        password,
        expires_at_server: expires_at,
        server_date: date.get(),
        received_at,
        credentials_expire_at: None,
    })
}

async fn call_private(
    registry: &Registry,
    endpoint: Option<&str>,
    http_client: SharedHttpClient,
    credentials: Credentials,
    deadline: Deadline,
    date: ResponseDate,
) -> Result<(String, SystemTime), FetchError> {
    let config =
        private_config(registry, endpoint, http_client, credentials, deadline).interceptor(date);
    let client = aws_sdk_ecr::Client::from_conf(config.build());
    let output = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| classify::sdk_error(&e))?;
    let data = output
        .authorization_data()
        .first()
        .ok_or_else(|| FetchError::new(FetchErrorKind::BadResponse, "no authorizationData"))?;
    token_and_expiry(data.authorization_token(), data.expires_at())
}

/// The configuration of an ECR API client for `registry`: its region, FIPS and dual-stack
/// (unless `endpoint` overrides them), `credentials`, `http_client`, and timeouts and retries
/// bounded by `deadline`. Every private-registry call goes through it.
pub(super) fn private_config(
    registry: &Registry,
    endpoint: Option<&str>,
    http_client: SharedHttpClient,
    credentials: Credentials,
    deadline: Deadline,
) -> aws_sdk_ecr::config::Builder {
    let variant = super::EndpointVariant::of(registry, endpoint);
    let mut config = aws_sdk_ecr::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(registry.api_region().to_string()))
        .use_fips(variant.fips)
        .use_dual_stack(variant.dual_stack)
        .credentials_provider(credentials)
        .http_client(http_client)
        .timeout_config(timeouts(deadline))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    if let Some(url) = endpoint {
        config = config.endpoint_url(url);
    }
    config
}

async fn call_public(
    endpoint: Option<&str>,
    http_client: SharedHttpClient,
    credentials: Credentials,
    deadline: Deadline,
    date: ResponseDate,
) -> Result<(String, SystemTime), FetchError> {
    let mut config = aws_sdk_ecrpublic::Config::builder()
        .behavior_version(aws_sdk_ecrpublic::config::BehaviorVersion::latest())
        .region(aws_sdk_ecrpublic::config::Region::new(
            crate::registry::PUBLIC_API_REGION,
        ))
        .credentials_provider(credentials)
        .http_client(http_client)
        .timeout_config(timeouts(deadline))
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .interceptor(date);
    if let Some(url) = endpoint {
        config = config.endpoint_url(url);
    }
    let client = aws_sdk_ecrpublic::Client::from_conf(config.build());
    let output = client
        .get_authorization_token()
        .send()
        .await
        .map_err(|e| classify::sdk_error(&e))?;
    let data = output
        .authorization_data()
        .ok_or_else(|| FetchError::new(FetchErrorKind::BadResponse, "no authorizationData"))?;
    token_and_expiry(data.authorization_token(), data.expires_at())
}

fn token_and_expiry(
    token: Option<&str>,
    expires_at: Option<&DateTime>,
) -> Result<(String, SystemTime), FetchError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| FetchError::new(FetchErrorKind::BadResponse, "no authorizationToken"))?;
    let expires_at = expires_at
        .and_then(|d| SystemTime::try_from(*d).ok())
        .ok_or_else(|| FetchError::new(FetchErrorKind::BadResponse, "no usable expiresAt"))?;
    Ok((token.to_string(), expires_at))
}
