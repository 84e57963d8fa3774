//! The awsJson1_1 wire format of ECR and ECR Public: GetAuthorizationToken, and ECR's
//! DescribeImages.
//!
//! This module owns the bytes: operation names (`X-Amz-Target`), the SigV4 `Authorization`
//! header (read for the access key id, the region and the service, never verified), success
//! bodies and error bodies. It keeps no state and performs no I/O. STS's awsQuery is in
//! [`super::sts`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::knobs::FakeImage;

/// `X-Amz-Target` of ECR's GetAuthorizationToken.
pub const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";

/// `X-Amz-Target` of ECR's DescribeImages.
pub const DESCRIBE_IMAGES_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.DescribeImages";

/// `X-Amz-Target` of ECR Public's GetAuthorizationToken.
pub const ECR_PUBLIC_TARGET: &str = "SpencerFrontendService.GetAuthorizationToken";

/// Content type of every awsJson1_1 request and response.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Registry id used in `proxyEndpoint` when the request names none.
pub const DEFAULT_REGISTRY_ID: &str = "123456789012";

/// Region used when the `Authorization` header names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The operations the fake knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    EcrGetAuthorizationToken,
    EcrPublicGetAuthorizationToken,
    EcrDescribeImages,
}

impl Operation {
    /// The operation named by an `X-Amz-Target` value, if the fake knows it.
    pub fn from_target(target: &str) -> Option<Operation> {
        match target {
            ECR_TARGET => Some(Operation::EcrGetAuthorizationToken),
            ECR_PUBLIC_TARGET => Some(Operation::EcrPublicGetAuthorizationToken),
            DESCRIBE_IMAGES_TARGET => Some(Operation::EcrDescribeImages),
            _ => None,
        }
    }
}

/// What the `Credential=` part of a SigV4 `Authorization` header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    pub region: String,
    /// The credential scope's service (`ecr`, `ecr-public`, `sts`); empty when the scope names
    /// none.
    pub service: String,
}

/// Reads `AWS4-HMAC-SHA256 Credential=<AKID>/<date>/<region>/<service>/aws4_request, ...`.
///
/// Returns `None` for anything that is not a SigV4 header with a non-empty access key id.
pub fn parse_authorization(header: &str) -> Option<Credential> {
    let params = header.strip_prefix("AWS4-HMAC-SHA256")?;
    let scope = params
        .split(',')
        .map(str::trim)
        .find_map(|param| param.strip_prefix("Credential="))?;
    let mut parts = scope.split('/');
    let access_key_id = parts.next().filter(|id| !id.is_empty())?;
    let region = parts
        .nth(1)
        .filter(|region| !region.is_empty())
        .unwrap_or(DEFAULT_REGION);
    let service = parts.next().unwrap_or_default();
    Some(Credential {
        access_key_id: access_key_id.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

/// The errors the fake answers with, each an AWS error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsError {
    UnrecognizedClient,
    AccessDenied,
    Throttling,
    Server,
    InvalidSignature,
    ExpiredToken,
    UnknownOperation,
    MissingAuthenticationToken,
    Serialization,
    RepositoryNotFound,
    /// `AccessDeniedException` for `ecr:DescribeImages`.
    DescribeImagesDenied,
    InvalidParameter,
}

impl AwsError {
    /// The code sent in `x-amzn-ErrorType` and `__type`.
    pub fn code(self) -> &'static str {
        match self {
            AwsError::UnrecognizedClient => "UnrecognizedClientException",
            AwsError::AccessDenied => "AccessDeniedException",
            AwsError::Throttling => "ThrottlingException",
            AwsError::Server => "ServerException",
            AwsError::InvalidSignature => "InvalidSignatureException",
            AwsError::ExpiredToken => "ExpiredTokenException",
            AwsError::UnknownOperation => "UnknownOperationException",
            AwsError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            AwsError::Serialization => "SerializationException",
            AwsError::RepositoryNotFound => "RepositoryNotFoundException",
            AwsError::DescribeImagesDenied => "AccessDeniedException",
            AwsError::InvalidParameter => "InvalidParameterException",
        }
    }

    /// The HTTP status AWS uses for this error.
    pub fn status(self) -> StatusCode {
        match self {
            AwsError::Server => StatusCode::INTERNAL_SERVER_ERROR,
            AwsError::MissingAuthenticationToken => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The human-readable message, worded as AWS words it.
    pub fn message(self) -> &'static str {
        match self {
            AwsError::UnrecognizedClient => {
                "The security token included in the request is invalid."
            }
            AwsError::AccessDenied => {
                "User: arn:aws:iam::123456789012:user/test is not authorized to perform: \
                 ecr:GetAuthorizationToken"
            }
            AwsError::Throttling => "Rate exceeded",
            AwsError::Server => "We encountered an internal error. Please try again.",
            AwsError::InvalidSignature => {
                "Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z \
                 (20260101T001000Z - 5 min.)"
            }
            AwsError::ExpiredToken => "The security token included in the request is expired",
            AwsError::UnknownOperation => "The requested operation is not recognized.",
            AwsError::MissingAuthenticationToken => "Missing Authentication Token",
            AwsError::Serialization => "The request body is not a valid JSON object.",
            AwsError::RepositoryNotFound => {
                "The repository with the name in the request does not exist in the registry."
            }
            AwsError::DescribeImagesDenied => {
                "User: arn:aws:iam::123456789012:user/test is not authorized to perform: \
                 ecr:DescribeImages on resource: arn:aws:ecr:us-east-1:123456789012:repository"
            }
            AwsError::InvalidParameter => "Invalid parameter at 'nextToken'.",
        }
    }

    /// The awsJson1_1 error body.
    pub fn body(self) -> Value {
        json!({ "__type": self.code(), "message": self.message() })
    }
}

/// The request body of GetAuthorizationToken; ECR Public's is empty.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    #[serde(rename = "registryIds", default)]
    pub registry_ids: Option<Vec<String>>,
}

impl TokenRequest {
    /// Parses a request body; an empty body counts as `{}`.
    pub fn parse(body: &[u8]) -> Result<TokenRequest, AwsError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(TokenRequest::default());
        }
        serde_json::from_slice(body).map_err(|_| AwsError::Serialization)
    }
}

/// The request body of DescribeImages (filters are not read: every image is listed).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagesRequest {
    #[serde(default)]
    pub registry_id: Option<String>,
    pub repository_name: String,
    #[serde(default)]
    pub next_token: Option<String>,
    #[serde(default)]
    pub max_results: Option<usize>,
}

impl ImagesRequest {
    /// Parses a request body; a missing `repositoryName` is a serialization error.
    pub fn parse(body: &[u8]) -> Result<ImagesRequest, AwsError> {
        serde_json::from_slice(body).map_err(|_| AwsError::Serialization)
    }
}

/// One DescribeImages page: what goes into a success body.
#[derive(Clone, Debug)]
pub struct ImagesPage {
    pub registry_id: String,
    pub repository: String,
    pub images: Vec<FakeImage>,
    pub next_token: Option<String>,
}

impl ImagesPage {
    /// The success body: `imageDetails` (tags only when the image has some, `imagePushedAt`
    /// in fractional epoch seconds) and `nextToken` unless this is the last page.
    pub fn body(&self) -> Value {
        let details: Vec<Value> = self
            .images
            .iter()
            .map(|image| {
                let mut detail = json!({
                    "registryId": self.registry_id,
                    "repositoryName": self.repository,
                    "imageDigest": image.digest,
                    "imageSizeInBytes": image.size_bytes,
                    "imagePushedAt": image.pushed_at_ms as f64 / 1000.0,
                });
                if !image.tags.is_empty() {
                    detail["imageTags"] = json!(image.tags);
                }
                detail
            })
            .collect();
        let mut body = json!({ "imageDetails": details });
        if let Some(token) = &self.next_token {
            body["nextToken"] = json!(token);
        }
        body
    }
}

/// A token handed out: what goes into a success body.
#[derive(Clone, Debug)]
pub struct Grant<'a> {
    pub password: &'a str,
    /// Epoch seconds, as the server's (possibly skewed) clock sees it.
    pub expires_at: f64,
}

impl Grant<'_> {
    /// base64("AWS:" + password), what ECR calls the authorization token.
    pub fn authorization_token(&self) -> String {
        BASE64.encode(format!("AWS:{}", self.password))
    }

    /// The ECR success body: one `authorizationData` entry per registry id.
    pub fn ecr_body(&self, request: &TokenRequest, region: &str) -> Value {
        let default_ids = [DEFAULT_REGISTRY_ID.to_owned()];
        let ids = match &request.registry_ids {
            Some(ids) if !ids.is_empty() => ids.as_slice(),
            _ => &default_ids,
        };
        let data: Vec<Value> = ids
            .iter()
            .map(|id| {
                json!({
                    "authorizationToken": self.authorization_token(),
                    "expiresAt": self.expires_at,
                    "proxyEndpoint": format!("https://{id}.dkr.ecr.{region}.amazonaws.com"),
                })
            })
            .collect();
        json!({ "authorizationData": data })
    }

    /// The ECR Public success body: a single `authorizationData` object.
    pub fn ecr_public_body(&self) -> Value {
        json!({
            "authorizationData": {
                "authorizationToken": self.authorization_token(),
                "expiresAt": self.expires_at,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_yields_key_and_region() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20260101/eu-west-3/ecr/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=abc";
        let credential = parse_authorization(header).expect("a SigV4 header");
        assert_eq!(credential.access_key_id, "AKIAEXAMPLE");
        assert_eq!(credential.region, "eu-west-3");
        assert_eq!(credential.service, "ecr");
    }

    #[test]
    fn non_sigv4_headers_are_not_credentials() {
        assert_eq!(parse_authorization("Basic QVdTOng="), None);
        assert_eq!(
            parse_authorization("AWS4-HMAC-SHA256 Credential=/x/y"),
            None
        );
        assert_eq!(parse_authorization("AWS4-HMAC-SHA256 Signature=abc"), None);
    }

    #[test]
    fn token_is_base64_of_aws_and_password() {
        let grant = Grant {
            password: "pw",
            expires_at: 1.5,
        };
        assert_eq!(grant.authorization_token(), "QVdTOnB3");
    }

    #[test]
    fn ecr_body_has_one_entry_per_registry() {
        let grant = Grant {
            password: "pw",
            expires_at: 10.0,
        };
        let request = TokenRequest::parse(br#"{"registryIds":["111111111111","222222222222"]}"#)
            .expect("valid body");
        let body = grant.ecr_body(&request, "ap-south-1");
        let data = body["authorizationData"].as_array().expect("an array");
        assert_eq!(data.len(), 2);
        assert_eq!(
            data[1]["proxyEndpoint"],
            "https://222222222222.dkr.ecr.ap-south-1.amazonaws.com"
        );
    }

    #[test]
    fn empty_and_invalid_bodies() {
        assert!(TokenRequest::parse(b"").is_ok());
        assert_eq!(
            TokenRequest::parse(b"{").err(),
            Some(AwsError::Serialization)
        );
    }
}
