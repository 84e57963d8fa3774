//! Turning the SDK's errors into the failures a user understands.
//!
//! The mapping follows what AWS answers in each case: unknown keys are
//! `UnrecognizedClientException` (ECR) or `InvalidClientTokenId` (STS); a wrong secret is
//! `InvalidSignatureException`/`SignatureDoesNotMatch` saying the signature does not match; a
//! skewed clock is the same code saying "Signature expired" (or `RequestTimeTooSkewed`).

use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;

use crate::fetch::{FetchError, FetchErrorKind};

/// Classifies any operation's SDK error.
pub fn sdk_error<E>(error: &SdkError<E, HttpResponse>) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match error {
        SdkError::ServiceError(context) => {
            let code = context.err().code().unwrap_or("");
            let message = context.err().message().unwrap_or("");
            let status = context.raw().status().as_u16();
            service_error(code, message, status)
        }
        SdkError::TimeoutError(_) => {
            FetchError::new(FetchErrorKind::Timeout, "the request timed out")
        }
        SdkError::DispatchFailure(failure) => {
            let detail = DisplayErrorContext(error).to_string();
            if failure
                .as_connector_error()
                .is_some_and(|e| super::tls_fallback::is_unknown_issuer(e))
            {
                FetchError::new(FetchErrorKind::Unreachable, UNTRUSTED_CERTIFICATE)
            } else if failure.is_timeout() {
                FetchError::new(FetchErrorKind::Timeout, detail)
            } else if failure.is_other() && is_endpoint_resolution(&detail) {
                // The SDK reports an endpoint it cannot build (conflicting settings, a bad
                // URL) as a dispatch failure: it is our configuration, not the network.
                FetchError::new(FetchErrorKind::BadConfiguration, detail)
            } else {
                FetchError::new(FetchErrorKind::Unreachable, detail)
            }
        }
        SdkError::ConstructionFailure(_) => FetchError::new(
            FetchErrorKind::BadConfiguration,
            DisplayErrorContext(error).to_string(),
        ),
        _ => FetchError::new(
            FetchErrorKind::BadResponse,
            DisplayErrorContext(error).to_string(),
        ),
    }
}

/// What a user reads when the server's certificate chains to no CA this machine trusts.
const UNTRUSTED_CERTIFICATE: &str = "the server's TLS certificate is not signed by a trusted CA \
    (invalid peer certificate: UnknownIssuer): trust its CA in the system store, SSL_CERT_FILE, \
    SSL_CERT_DIR, AWS_CA_BUNDLE or the profile's ca_bundle";

/// Classifies an error answer by its code, message and HTTP status.
pub fn service_error(code: &str, message: &str, status: u16) -> FetchError {
    let lower = message.to_ascii_lowercase();
    let kind = match code {
        "UnrecognizedClientException" | "InvalidClientTokenId" => FetchErrorKind::KeysRejected,
        "InvalidIdentityToken" | "IDPRejectedClaim" => FetchErrorKind::IdentityTokenRejected,
        "IDPCommunicationError" => FetchErrorKind::Unreachable,
        "InvalidSignatureException" | "SignatureDoesNotMatch" if is_clock_message(&lower) => {
            FetchErrorKind::ClockSkew
        }
        "InvalidSignatureException" | "SignatureDoesNotMatch" => FetchErrorKind::KeysRejected,
        "RequestTimeTooSkewed" | "RequestExpired" => FetchErrorKind::ClockSkew,
        "AccessDeniedException" | "AccessDenied" => FetchErrorKind::AccessDenied,
        "ExpiredTokenException" | "ExpiredToken" => FetchErrorKind::ExpiredCredentials,
        "ThrottlingException" | "Throttling" | "TooManyRequestsException" => {
            FetchErrorKind::Throttled
        }
        _ if status >= 500 => FetchErrorKind::ServerError,
        _ => FetchErrorKind::BadResponse,
    };
    let detail = match (code, message) {
        ("", "") => format!("HTTP {status}"),
        ("", m) => m.to_string(),
        (c, "") => c.to_string(),
        (c, m) => format!("{c}: {m}"),
    };
    FetchError::new(kind, detail)
}

fn is_endpoint_resolution(detail: &str) -> bool {
    let lower = detail.to_ascii_lowercase();
    lower.contains("endpoint resolution")
        || lower.contains("resolveendpointerror")
        || lower.contains("custom endpoint are not supported")
}

fn is_clock_message(lower_message: &str) -> bool {
    lower_message.contains("signature expired")
        || lower_message.contains("not yet current")
        || lower_message.contains("too skewed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_endpoint_the_sdk_cannot_build_is_a_configuration_error() {
        use aws_sdk_ecr::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_ecr::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-west-2"))
            .use_dual_stack(true)
            .endpoint_url("https://vpce.example.com")
            .credentials_provider(Credentials::new(
                "AKIAIOSFODNN7EXAMPLE",
                "secret",
                None,
                None,
                "test",
            ))
            .http_client(crate::aws::http::direct_client().unwrap())
            .build();
        let error = aws_sdk_ecr::Client::from_conf(config)
            .get_authorization_token()
            .send()
            .await
            .unwrap_err();
        let classified = sdk_error(&error);
        assert_eq!(
            classified.kind,
            FetchErrorKind::BadConfiguration,
            "{classified:?}"
        );
    }

    #[test]
    fn codes_map_to_what_users_must_do() {
        let cases = [
            (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                400,
                FetchErrorKind::KeysRejected,
            ),
            (
                "InvalidClientTokenId",
                "The security token included in the request is invalid",
                403,
                FetchErrorKind::KeysRejected,
            ),
            (
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
                400,
                FetchErrorKind::KeysRejected,
            ),
            (
                "InvalidSignatureException",
                "Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z (20260101T001000Z - 5 min.)",
                400,
                FetchErrorKind::ClockSkew,
            ),
            (
                "SignatureDoesNotMatch",
                "Signature not yet current: 20260101T001000Z is still later than 20260101T000500Z",
                403,
                FetchErrorKind::ClockSkew,
            ),
            (
                "AccessDeniedException",
                "User: arn:aws:iam::123456789012:user/x is not authorized",
                400,
                FetchErrorKind::AccessDenied,
            ),
            (
                "AccessDenied",
                "not authorized to perform sts:AssumeRole",
                403,
                FetchErrorKind::AccessDenied,
            ),
            (
                "ExpiredTokenException",
                "The security token included in the request is expired",
                400,
                FetchErrorKind::ExpiredCredentials,
            ),
            (
                "ThrottlingException",
                "Rate exceeded",
                400,
                FetchErrorKind::Throttled,
            ),
            ("ServerException", "boom", 500, FetchErrorKind::ServerError),
            ("", "", 503, FetchErrorKind::ServerError),
            (
                "ValidationException",
                "bad",
                400,
                FetchErrorKind::BadResponse,
            ),
        ];
        for (code, message, status, kind) in cases {
            let e = service_error(code, message, status);
            assert_eq!(e.kind, kind, "{code}: {message}");
            assert!(e.detail.contains(code), "{e:?}");
        }
    }
}
