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
use crate::registry::Registry;
use crate::secret::Secret;

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
}

/// Fetches tokens from ECR (or a fake of it).
pub trait TokenSource {
    /// Fetches a token for `registry` from `endpoint` (the SDK's default when `None`), giving
    /// up at `deadline`.
    fn fetch(
        &self,
        registry: &Registry,
        endpoint: Option<&str>,
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
}

/// A failed fetch: its kind and the detail AWS or the network gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchError {
    pub kind: FetchErrorKind,
    pub detail: String,
}

impl FetchError {
    pub fn new(kind: FetchErrorKind, detail: impl Into<String>) -> FetchError {
        FetchError {
            kind,
            detail: detail.into(),
        }
    }

    /// Whether docker should simply be told "not found" (and go on anonymously).
    pub fn is_no_identity(&self) -> bool {
        self.kind == FetchErrorKind::NoIdentity
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let detail = one_line(&self.detail);
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
                "the AWS keys work but may not call ecr:GetAuthorizationToken (missing permission): {detail}"
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
        }
    }
}

impl std::error::Error for FetchError {}

/// Folds whitespace so that a detail never breaks the one-line answer.
fn one_line(text: &str) -> String {
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
    fn only_a_missing_identity_means_not_found() {
        assert!(FetchError::new(FetchErrorKind::NoIdentity, "").is_no_identity());
        assert!(!FetchError::new(FetchErrorKind::Timeout, "").is_no_identity());
    }
}
