//! Buying temporary credentials from STS, at the regional STS endpoint of the registry's
//! partition (China and GovCloud have no global endpoint), or at `AWS_ENDPOINT_URL_STS` when
//! set:
//! - [`assume_role`]: a key set's role, `AssumeRole` signed with the key set's long-term keys;
//! - [`assume_role_with_web_identity`]: a service account's role, `AssumeRoleWithWebIdentity`
//!   with the account's token. That operation is unsigned (the SDK's auth scheme for it is
//!   `no_auth`): its client has no credentials provider at all, so no default chain is ever
//!   consulted, and the token goes nowhere but the request body.

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
use crate::secret::Secret;
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
    let client = client(scope, http_client, Some(keys), deadline);
    let output = client
        .assume_role()
        .role_arn(&role.arn)
        .role_session_name(role.session_name.as_deref().unwrap_or(DEFAULT_SESSION_NAME))
        .set_external_id(role.external_id.clone())
        .set_duration_seconds(role.duration_secs.map(|d| d as i32))
        .send()
        .await
        .map_err(|e| classify::sdk_error(&e))?;
    identity(output.credentials(), "AssumeRole")
}

/// Temporary credentials for `role_arn`, bought with a service account's `token` (unsigned: no
/// credentials are needed or used), as session `session_name`. The role's default session
/// duration applies (one hour unless the role says otherwise). An error names the role and
/// `subject`, never the token.
pub async fn assume_role_with_web_identity(
    scope: &TokenScope,
    http_client: SharedHttpClient,
    role_arn: &str,
    token: &Secret,
    session_name: &str,
    deadline: Deadline,
) -> Result<Identity, FetchError> {
    let client = client(scope, http_client, None, deadline);
    let output = client
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(session_name)
        .web_identity_token(token.expose())
        .send()
        .await
        .map_err(|e| web_identity_error(classify::sdk_error(&e), scope))?;
    identity(output.credentials(), "AssumeRoleWithWebIdentity")
}

/// What STS's refusal of a service account means, naming the scope's source ("service account
/// S as R"): a token it does not accept (or that expired), or a role whose trust policy does
/// not admit that subject.
fn web_identity_error(error: FetchError, scope: &TokenScope) -> FetchError {
    let source = &scope.source;
    match error.kind {
        FetchErrorKind::KeysRejected
        | FetchErrorKind::ExpiredCredentials
        | FetchErrorKind::IdentityTokenRejected => FetchError::new(
            FetchErrorKind::IdentityTokenRejected,
            format!("{source}: {}", error.detail),
        ),
        FetchErrorKind::AccessDenied => FetchError::new(
            FetchErrorKind::AccessDenied,
            format!(
                "{source}: the role's trust policy does not admit this service account (check its `sub` and `aud` conditions): {}",
                error.detail
            ),
        ),
        _ => error,
    }
}

/// An STS client for `scope`'s partition, FIPS variant and endpoint override, bounded by
/// `deadline`; signing with `credentials`, or with none at all (for unsigned operations).
fn client(
    scope: &TokenScope,
    http_client: SharedHttpClient,
    credentials: Option<Credentials>,
    deadline: Deadline,
) -> aws_sdk_sts::Client {
    let remaining = deadline.remaining().max(Duration::from_millis(1));
    let mut config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(scope.registry.api_region().to_string()))
        .use_fips(super::EndpointVariant::of(&scope.registry, scope.sts_endpoint.as_deref()).fips)
        .http_client(http_client)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT.min(remaining))
                .operation_timeout(remaining)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(2));
    if let Some(credentials) = credentials {
        config = config.credentials_provider(credentials);
    }
    if let Some(url) = &scope.sts_endpoint {
        config = config.endpoint_url(url);
    }
    aws_sdk_sts::Client::from_conf(config.build())
}

/// The credentials of an STS answer, with their expiry.
fn identity(
    credentials: Option<&aws_sdk_sts::types::Credentials>,
    operation: &str,
) -> Result<Identity, FetchError> {
    let credentials = credentials.ok_or_else(|| {
        FetchError::new(
            FetchErrorKind::BadResponse,
            format!("{operation} returned no credentials"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::source::CredentialSource;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// What the SDK sends for AssumeRoleWithWebIdentity, read off a socket: no signature, the
    /// token only in the form body.
    #[tokio::test]
    async fn web_identity_requests_go_unsigned_with_the_token_in_the_body_only() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 8192];
            loop {
                let n = socket.read(&mut buffer).await.unwrap();
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            let body = "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                <AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAEXAMPLEWEBID0001</AccessKeyId>\
                <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>\
                <SessionToken>session</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration>\
                </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8(request).unwrap()
        });
        let token = Secret::new(
            "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2hvcDpwdWxsZXIifQ.c2ln",
        );
        let role = "arn:aws:iam::123456789012:role/puller";
        let env = |name: &str| (name == "AWS_ENDPOINT_URL_STS").then(|| url.clone());
        let scope = TokenScope::for_source(
            Registry::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap(),
            CredentialSource::web_identity(role, &token),
            &env,
        );
        let deadline = Deadline::after(Duration::from_secs(10));
        let identity = assume_role_with_web_identity(
            &scope,
            super::super::http::direct_client().unwrap(),
            role,
            &token,
            "shop.puller",
            deadline,
        )
        .await
        .unwrap();
        assert_eq!(identity.credentials.access_key_id(), "ASIAEXAMPLEWEBID0001");
        assert!(identity.expires_at.is_some());
        let request = server.await.unwrap();
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(!head.contains("\r\nauthorization:"), "{head}");
        assert!(!head.contains("x-amz-security-token"), "{head}");
        assert!(
            !head.contains(token.expose()),
            "the token travels in the body only"
        );
        assert!(body.contains("Action=AssumeRoleWithWebIdentity"), "{body}");
        assert!(body.contains("RoleSessionName=shop.puller"), "{body}");
        assert!(
            body.contains(&format!("WebIdentityToken={}", token.expose())),
            "{body}"
        );
    }
}
