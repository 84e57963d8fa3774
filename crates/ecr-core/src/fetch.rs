//! Getting a new token: the [`TokenSource`] seam between the cache logic and AWS, and the
//! failures a user must be able to understand.
//!
//! The real source is [`crate::aws::SdkTokenSource`]; unit tests use fakes. Every failure is
//! classified into a [`FetchErrorKind`] so that the helper can answer with one actionable line
//! (keys rejected, access denied, throttled, unreachable, timeout, clock skew, ...).

use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use crate::clock::Deadline;
use crate::secret::Secret;
use crate::source::TokenScope;

/// A token as the API returned it, before it is put on the local clock.
#[derive(Debug, Clone)]
pub struct FetchedToken {
    pub password: Secret,
    /// `expiresAt`, on the server's clock.
    pub expires_at_server: SystemTime,
    /// The response's `Date` header, when it had a readable one.
    pub server_date: Option<SystemTime>,
    /// When the response arrived, local clock.
    pub received_at: SystemTime,
    /// When the credentials that fetched it expire (an assumed role's), server clock: the
    /// token is not used past it.
    pub credentials_expire_at: Option<SystemTime>,
}

/// Fetches tokens from ECR (or a fake of it).
pub trait TokenSource {
    /// Fetches a token for the scope's registry, from its endpoint, with its identity, giving
    /// up at `deadline`.
    fn fetch(
        &self,
        scope: &TokenScope,
        deadline: Deadline,
    ) -> impl Future<Output = Result<FetchedToken, FetchError>>;

    /// [`TokenSource::fetch`] for a scope whose credentials are bought with a token the caller
    /// presents: a service account's token, for a
    /// [`CredentialSource::WebIdentity`](crate::source::CredentialSource::WebIdentity) scope.
    /// The token serves this one fetch: it is never kept, logged or written.
    fn fetch_with_web_identity(
        &self,
        scope: &TokenScope,
        token: &Secret,
        deadline: Deadline,
    ) -> impl Future<Output = Result<FetchedToken, FetchError>>;
}

/// What went wrong, in the user's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchErrorKind {
    /// No credentials anywhere in the chain: docker should go on anonymously.
    NoIdentity,
    /// Credentials are configured but could not be loaded (SSO login expired, a
    /// `credential_process` failed, a broken profile).
    CredentialsUnavailable,
    /// AWS does not recognise the keys (wrong or revoked).
    KeysRejected,
    /// The keys work but may not do this.
    AccessDenied,
    /// Temporary credentials ran out.
    ExpiredCredentials,
    /// AWS rejected the signature as expired: the local clock is off.
    ClockSkew,
    Throttled,
    /// DNS, connection, TLS or proxy failure.
    Unreachable,
    Timeout,
    /// A 5xx from ECR.
    ServerError,
    /// An answer we could not use.
    BadResponse,
    /// Our own set-up is wrong (an unreadable CA bundle, an invalid endpoint URL).
    BadConfiguration,
    /// A key set's secret could not be read (keychain locked, absent, or slow).
    KeychainUnavailable,
    /// STS refused a service account's token (`InvalidIdentityToken`, `IDPRejectedClaim`, an
    /// expired token): the cluster's OIDC issuer and the IAM identity provider disagree.
    IdentityTokenRejected,
    /// A service account's token is needed and none was presented (only the kubelet's request
    /// carries one).
    IdentityTokenMissing,
}

/// A failed fetch: its kind, the detail AWS or the network gave, and the key set whose keys
/// were used, if any (messages name it: it is usually the vendor's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub kind: FetchErrorKind,
    pub detail: String,
    pub key_set: Option<String>,
}

impl FetchError {
    pub fn new(kind: FetchErrorKind, detail: impl Into<String>) -> FetchError {
        FetchError {
            kind,
            detail: detail.into(),
            key_set: None,
        }
    }

    /// The same error, about key set `name`.
    pub fn for_key_set(mut self, name: Option<&str>) -> FetchError {
        self.key_set = name.map(str::to_string);
        self
    }

    /// Whether docker should simply be told "not found" (and go on anonymously).
    pub fn is_no_identity(&self) -> bool {
        self.kind == FetchErrorKind::NoIdentity
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = one_line(&self.detail);
        if let Some(name) = &self.key_set {
            match self.kind {
                FetchErrorKind::KeysRejected => {
                    return write!(
                        f,
                        "{name}: AWS rejected its keys; they may have been revoked: ask them for new keys, then run `docker-credential-ecr add` again ({detail})"
                    );
                }
                FetchErrorKind::AccessDenied => {
                    return write!(
                        f,
                        "{name}: its keys work but may not do this (missing permission or wrong external id): {detail}"
                    );
                }
                _ => {}
            }
        }
        match self.kind {
            FetchErrorKind::NoIdentity => write!(f, "no AWS credentials found ({detail})"),
            FetchErrorKind::CredentialsUnavailable => write!(
                f,
                "the AWS credentials could not be loaded: {detail} (check AWS_PROFILE and ~/.aws/config; for SSO run `aws sso login`)"
            ),
            FetchErrorKind::KeysRejected => write!(
                f,
                "AWS rejected the access keys; they may be wrong or revoked: get new keys from whoever issued them ({detail})"
            ),
            FetchErrorKind::AccessDenied => write!(
                f,
                "the AWS keys work but may not do this (missing permission such as ecr:GetAuthorizationToken, or a wrong external id): {detail}"
            ),
            FetchErrorKind::ExpiredCredentials => write!(
                f,
                "the temporary AWS credentials have expired: renew them (for SSO run `aws sso login`) ({detail})"
            ),
            FetchErrorKind::ClockSkew => write!(
                f,
                "AWS rejected the request as signed at the wrong time: this machine's clock is off; sync it (e.g. `timedatectl set-ntp true`) ({detail})"
            ),
            FetchErrorKind::Throttled => {
                write!(
                    f,
                    "AWS is throttling token requests; try again shortly ({detail})"
                )
            }
            FetchErrorKind::Unreachable => write!(
                f,
                "cannot reach the ECR API: {detail} (check the network, HTTPS_PROXY/NO_PROXY and AWS_CA_BUNDLE)"
            ),
            FetchErrorKind::Timeout => write!(f, "timed out: {detail}"),
            FetchErrorKind::ServerError => {
                write!(f, "ECR answered with a server error; try again ({detail})")
            }
            FetchErrorKind::BadResponse => write!(f, "ECR sent an unusable answer ({detail})"),
            FetchErrorKind::BadConfiguration => write!(f, "invalid configuration: {detail}"),
            FetchErrorKind::KeychainUnavailable => {
                write!(f, "cannot read the secret key: {detail}")
            }
            FetchErrorKind::IdentityTokenRejected => write!(
                f,
                "STS rejected the service account token: {detail} (the IAM OIDC identity provider must have the cluster's service-account issuer URL and, as audience, the kubelet's serviceAccountTokenAudience)"
            ),
            FetchErrorKind::IdentityTokenMissing => f.write_str(&detail),
        }
    }
}

impl std::error::Error for FetchError {}

/// Folds whitespace (newlines included) so that a message fits the protocol's one-line answer.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_keep_the_detail() {
        let e = FetchError::new(
            FetchErrorKind::KeysRejected,
            "UnrecognizedClientException:\n bad\r\n",
        );
        let text = e.to_string();
        assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
        assert!(text.contains("UnrecognizedClientException: bad"), "{text}");
        assert!(text.contains("revoked"), "{text}");
    }

    #[test]
    fn key_set_failures_name_the_vendor_first_and_once() {
        let e = FetchError::new(FetchErrorKind::KeysRejected, "InvalidClientTokenId")
            .for_key_set(Some("acme"));
        let text = e.to_string();
        assert!(
            text.starts_with("acme: AWS rejected its keys; they may have been revoked"),
            "{text}"
        );
        assert_eq!(text.matches("acme").count(), 1, "{text}");
        let e =
            FetchError::new(FetchErrorKind::AccessDenied, "AccessDenied").for_key_set(Some("acme"));
        let text = e.to_string();
        assert!(
            text.starts_with("acme: its keys work but may not do this"),
            "{text}"
        );
        assert_eq!(text.matches("acme").count(), 1, "{text}");
    }

    #[test]
    fn only_a_missing_identity_means_not_found() {
        assert!(FetchError::new(FetchErrorKind::NoIdentity, "").is_no_identity());
        assert!(!FetchError::new(FetchErrorKind::Timeout, "").is_no_identity());
    }
}
