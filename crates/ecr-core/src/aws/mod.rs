//! The real [`TokenSource`]: ECR's `GetAuthorizationToken` through the AWS SDK for Rust.
//!
//! Only the cold path comes here. Each step has its own module:
//! - [`files`]: the AWS shared files and CA bundles, read off the runtime within the deadline;
//! - [`http`]: one HTTP client for every AWS call, honouring `HTTPS_PROXY`/`NO_PROXY`,
//!   `SSL_CERT_FILE`, `SSL_CERT_DIR`, `AWS_CA_BUNDLE` and the profile's `ca_bundle`;
//! - [`trust_roots`]: which CAs that client trusts, read once per process, the certificate
//!   directories only when needed ([`tls_fallback`]: the retry after an unknown issuer);
//! - [`identity`]: the credentials of the scope's source: the standard chain (instance metadata
//!   bounded to one quick attempt), a bound AWS profile, or a key set whose secret comes from
//!   [`SecretKeys`];
//! - [`sts`]: assuming a key set's role, or a service account's role with its token, at the
//!   registry partition's regional STS endpoint;
//! - [`ecr`]: the API call, which also captures the response's `Date` header;
//! - [`images`]: `DescribeImages`, every page, with the same client and identity (the
//!   `images` command);
//! - [`classify`]: SDK errors turned into [`crate::FetchErrorKind`]s.

pub mod classify;
pub mod ecr;
pub mod files;
pub mod http;
pub mod identity;
pub mod images;
pub mod sts;
pub mod tls_fallback;
pub mod trust_roots;

use std::time::Duration;

use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub use identity::{NoSecretKeys, SecretKeys, SecretRead};

use crate::clock::Deadline;
use crate::fetch::{FetchError, FetchErrorKind, FetchedToken, TokenSource};
use crate::secret::Secret;
use crate::source::{CredentialSource, TokenScope};

/// How long establishing a connection may take, at most.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub use crate::endpoint::EndpointVariant;

/// Refuses to send requests signed with a key set's keys, or a service account's token, to a
/// plain-HTTP endpoint that is not on this machine: a vendor's keys sign every request, a
/// service-account token is a bearer credential, and the token comes back in the clear.
fn check_transport(scope: &TokenScope) -> Result<(), FetchError> {
    let what = match &scope.source {
        CredentialSource::KeySet { name, .. } => format!("requests signed with the keys of {name}"),
        CredentialSource::WebIdentity { subject, .. } => {
            format!("the token of service account {subject}")
        }
        _ => return Ok(()),
    };
    for url in [&scope.endpoint, &scope.sts_endpoint].into_iter().flatten() {
        if let Some(host) = plain_http_host(url)
            && !is_loopback(host)
        {
            return Err(FetchError::new(
                FetchErrorKind::BadConfiguration,
                format!(
                    "refusing to send {what} over plain HTTP to {host} ({url}): use an https:// endpoint"
                ),
            ));
        }
    }
    Ok(())
}

/// The host of an `http://` URL (`None` for any other scheme).
fn plain_http_host(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")?;
    if !url[..scheme_end].eq_ignore_ascii_case("http") {
        return None;
    }
    let authority = url[scheme_end + 3..].split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => host_port.split(':').next()?,
    };
    Some(host)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

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
        self.fetch_presenting(scope, None, deadline).await
    }

    async fn fetch_with_web_identity(
        &self,
        scope: &TokenScope,
        token: &Secret,
        deadline: Deadline,
    ) -> Result<FetchedToken, FetchError> {
        self.fetch_presenting(scope, Some(token), deadline).await
    }
}

impl SdkTokenSource {
    /// The token of `scope`, its identity resolved with `web_identity_token` if it is a
    /// service account's.
    async fn fetch_presenting(
        &self,
        scope: &TokenScope,
        web_identity_token: Option<&Secret>,
        deadline: Deadline,
    ) -> Result<FetchedToken, FetchError> {
        let key_set = scope.source.key_set_name();
        async {
            // Each step is bounded by `deadline` itself, so that a timeout names the step; each
            // one's time goes to the debug log (where a cold `get`'s milliseconds go).
            let started = std::time::Instant::now();
            let (client, identity, client_ready) = self
                .client_and_identity(scope, web_identity_token, deadline)
                .await?;
            let identity_ready = started.elapsed();
            let mut token = ecr::get_authorization_token(
                &scope.registry,
                scope.endpoint.as_deref(),
                client,
                identity.credentials,
                deadline,
            )
            .await?;
            tracing::debug!(
                client_us = client_ready.as_micros() as u64,
                credentials_us = (identity_ready - client_ready).as_micros() as u64,
                api_call_us = (started.elapsed() - identity_ready).as_micros() as u64,
                "token fetched"
            );
            token.credentials_expire_at = identity.expires_at;
            Ok(token)
        }
        .await
        .map_err(|e: FetchError| e.for_key_set(key_set))
    }
}

impl SdkTokenSource {
    /// The HTTP client and the credentials every call for `scope` uses (token fetches and
    /// [`images`] alike), after [`check_transport`], and how long the client took to build.
    async fn client_and_identity(
        &self,
        scope: &TokenScope,
        web_identity_token: Option<&Secret>,
        deadline: Deadline,
    ) -> Result<(SharedHttpClient, identity::Identity, Duration), FetchError> {
        check_transport(scope)?;
        let started = std::time::Instant::now();
        let client = http::client_for(scope, deadline).await?;
        let client_ready = started.elapsed();
        let identity = identity::resolve(
            scope,
            client.clone(),
            self.secrets.as_ref(),
            web_identity_token,
            deadline,
        )
        .await?;
        Ok((client, identity, client_ready))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretLocation;
    use crate::registry::Registry;

    fn key_set_scope(endpoint: &str) -> TokenScope {
        let registry = Registry::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap();
        let source = CredentialSource::KeySet {
            name: "acme".into(),
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_location: SecretLocation::File,
            role: None,
        };
        let env = |name: &str| (name == "AWS_ENDPOINT_URL_ECR").then(|| endpoint.to_string());
        TokenScope::for_source(registry, source, &env)
    }

    #[test]
    fn vendor_keys_never_sign_plain_http_off_this_machine() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1/x",
            "http://[::1]:9",
            "https://ecr.vpce.example.com",
            "HTTPS://10.0.0.1",
        ] {
            assert!(check_transport(&key_set_scope(ok)).is_ok(), "{ok}");
        }
        for refused in [
            "http://10.0.0.1:80",
            "http://ecr.internal.example.com",
            "HTTP://user@192.168.1.1:8080/",
        ] {
            let e = check_transport(&key_set_scope(refused)).unwrap_err();
            assert_eq!(e.kind, FetchErrorKind::BadConfiguration, "{refused}");
            assert!(e.detail.contains("acme"), "{e}");
        }
        let chain = TokenScope::from(
            Registry::parse("123456789012.dkr.ecr.us-east-1.amazonaws.com").unwrap(),
            &|name| (name == "AWS_ENDPOINT_URL_ECR").then(|| "http://10.0.0.1".to_string()),
        );
        assert!(
            check_transport(&chain).is_ok(),
            "the user's own chain is theirs to route"
        );
    }

    #[test]
    fn an_endpoint_override_wins_over_fips_and_dual_stack() {
        for host in [
            "123456789012.dkr-ecr.us-west-2.on.aws",
            "123456789012.dkr-ecr-fips.us-east-1.on.aws",
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
        ] {
            let registry = Registry::parse(host).unwrap();
            assert_eq!(
                EndpointVariant::of(&registry, Some("https://vpce.example.com")),
                EndpointVariant {
                    fips: false,
                    dual_stack: false
                },
                "{host}"
            );
            let own = EndpointVariant::of(&registry, None);
            assert!(own.fips || own.dual_stack, "{host}");
        }
    }
}
