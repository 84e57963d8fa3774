//! The kubelet's image credential provider API (`credentialprovider.kubelet.k8s.io`): the
//! `CredentialProviderRequest` a kubelet writes on a plugin's stdin, the
//! `CredentialProviderResponse` it reads back, and the two small grammars they use (an image's
//! registry host, and Kubernetes duration syntax).
//!
//! Field names and values follow the API reference of `v1` (Kubernetes 1.26+), which `v1beta1`
//! (1.24+) and `v1alpha1` (1.20+) share; a response is always in the request's `apiVersion`.
//! Errors never quote the input: a request can carry a service-account token.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The API group of both documents.
pub const API_GROUP: &str = "credentialprovider.kubelet.k8s.io";

/// The `kind` of a request.
pub const REQUEST_KIND: &str = "CredentialProviderRequest";

/// The `kind` of a response.
pub const RESPONSE_KIND: &str = "CredentialProviderResponse";

/// The versions of the API a kubelet may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    V1beta1,
    V1alpha1,
}

impl ApiVersion {
    pub const ALL: [ApiVersion; 3] = [ApiVersion::V1, ApiVersion::V1beta1, ApiVersion::V1alpha1];

    /// The `apiVersion` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "credentialprovider.kubelet.k8s.io/v1",
            ApiVersion::V1beta1 => "credentialprovider.kubelet.k8s.io/v1beta1",
            ApiVersion::V1alpha1 => "credentialprovider.kubelet.k8s.io/v1alpha1",
        }
    }

    fn parse(value: &str) -> Option<ApiVersion> {
        ApiVersion::ALL.into_iter().find(|v| v.as_str() == value)
    }
}

/// A request, as the kubelet sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialProviderRequest {
    pub api_version: ApiVersion,
    /// The image being pulled, as the pod spec names it.
    pub image: String,
    /// The pod's service-account token, when the provider config has `tokenAttributes`.
    pub service_account_token: Option<Secret>,
    /// The service account's annotations that the provider config asks for.
    pub service_account_annotations: BTreeMap<String, String>,
}

/// The request's wire form: every field the API reference names; others are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest {
    api_version: String,
    kind: String,
    #[serde(default)]
    image: String,
    #[serde(default)]
    service_account_token: Option<Secret>,
    #[serde(default)]
    service_account_annotations: Option<BTreeMap<String, String>>,
}

/// A request the provider cannot answer, described without quoting it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(
        "invalid CredentialProviderRequest on stdin: {what} at line {line} column {column} (expected JSON with apiVersion, kind and image)"
    )]
    Json {
        what: &'static str,
        line: usize,
        column: usize,
    },
    #[error(
        "unsupported apiVersion in CredentialProviderRequest (expected {API_GROUP}/v1, v1beta1 or v1alpha1)"
    )]
    ApiVersion,
    #[error("unexpected kind in CredentialProviderRequest (expected {REQUEST_KIND})")]
    Kind,
    #[error("CredentialProviderRequest names no image")]
    NoImage,
}

impl CredentialProviderRequest {
    /// Parses a request. Unknown fields are ignored (a newer kubelet may add some); the
    /// version, the kind and a non-empty image are required.
    pub fn parse(input: &str) -> Result<CredentialProviderRequest, RequestError> {
        let wire: WireRequest = serde_json::from_str(input).map_err(|e| RequestError::Json {
            what: crate::helper_protocol::json_error_kind(&e),
            line: e.line(),
            column: e.column(),
        })?;
        // serde skips an unknown field's value without checking all of it (a lone surrogate
        // escape, a number out of range): the whole request must be valid JSON.
        serde_json::from_str::<serde_json::Value>(input).map_err(|e| RequestError::Json {
            what: crate::helper_protocol::json_error_kind(&e),
            line: e.line(),
            column: e.column(),
        })?;
        let api_version = ApiVersion::parse(&wire.api_version).ok_or(RequestError::ApiVersion)?;
        if wire.kind != REQUEST_KIND {
            return Err(RequestError::Kind);
        }
        let image = wire.image.trim();
        if image.is_empty() {
            return Err(RequestError::NoImage);
        }
        Ok(CredentialProviderRequest {
            api_version,
            image: image.to_string(),
            service_account_token: wire
                .service_account_token
                .filter(|token| !token.expose().is_empty()),
            service_account_annotations: wire.service_account_annotations.unwrap_or_default(),
        })
    }

    /// The registry host of the image ([`image_registry`]).
    pub fn registry_host(&self) -> &str {
        image_registry(&self.image)
    }
}

/// The registry host (and port) of an image reference, as docker and the kubelet read it: the
/// part before the first `/` when it has a `.` or a `:` or is `localhost`, else Docker Hub.
pub fn image_registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

/// Which images a response's credentials are cached for by the kubelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CacheKeyType {
    /// Every image of the registry host: an ECR token serves all of a registry's images.
    Registry,
}

/// Credentials for the images an `auth` key matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthConfig {
    pub username: String,
    pub password: Secret,
}

/// A response: credentials by registry host, and how long the kubelet may keep them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialProviderResponse {
    pub api_version: ApiVersion,
    pub cache_key_type: CacheKeyType,
    /// `None`: the provider config's `defaultCacheDuration` applies.
    pub cache_duration: Option<Duration>,
    pub auth: BTreeMap<String, AuthConfig>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse<'a> {
    api_version: &'static str,
    kind: &'static str,
    cache_key_type: CacheKeyType,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_duration: Option<String>,
    auth: &'a BTreeMap<String, AuthConfig>,
}

impl CredentialProviderResponse {
    /// No credentials: the kubelet pulls without any from this provider.
    pub fn empty(api_version: ApiVersion) -> CredentialProviderResponse {
        CredentialProviderResponse {
            api_version,
            cache_key_type: CacheKeyType::Registry,
            cache_duration: None,
            auth: BTreeMap::new(),
        }
    }

    /// The response's JSON document (one line).
    pub fn to_json(&self) -> String {
        let wire = WireResponse {
            api_version: self.api_version.as_str(),
            kind: RESPONSE_KIND,
            cache_key_type: self.cache_key_type,
            cache_duration: self.cache_duration.map(go_duration),
            auth: &self.auth,
        };
        serde_json::to_string(&wire).expect("a response is plain strings")
    }
}

/// `d` in whole seconds (rounded down), in the form Go's `time.Duration.String` gives them and
/// Kubernetes' `meta/v1.Duration` parses: `0s`, `59s`, `1m0s`, `11h59m5s`.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_of_every_version_parse() {
        for version in ApiVersion::ALL {
            let input = format!(
                r#"{{"apiVersion":"{}","kind":"CredentialProviderRequest","image":"123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1","future":1}}"#,
                version.as_str()
            );
            let request = CredentialProviderRequest::parse(&input).unwrap();
            assert_eq!(request.api_version, version);
            assert_eq!(
                request.registry_host(),
                "123456789012.dkr.ecr.us-east-1.amazonaws.com"
            );
            assert_eq!(request.service_account_token, None);
        }
    }

    #[test]
    fn service_account_fields_are_read_and_an_empty_token_is_none() {
        let input = r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"h.example/x","serviceAccountToken":"eyJ.a.b","serviceAccountAnnotations":{"k":"v"}}"#;
        let request = CredentialProviderRequest::parse(input).unwrap();
        assert_eq!(request.service_account_token.unwrap().expose(), "eyJ.a.b");
        assert_eq!(request.service_account_annotations["k"], "v");
        let empty = input.replace("eyJ.a.b", "");
        let request = CredentialProviderRequest::parse(&empty).unwrap();
        assert_eq!(request.service_account_token, None);
    }

    #[test]
    fn bad_requests_are_refused_without_quoting_them() {
        let secret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.sig";
        let cases = [
            (format!(r#"{{"serviceAccountToken":"{secret}""#), "truncated"),
            (
                format!(
                    r#"{{"apiVersion":"v1","kind":"CredentialProviderRequest","image":"x","serviceAccountToken":"{secret}"}}"#
                ),
                "apiVersion",
            ),
            (
                format!(
                    r#"{{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"Pod","image":"x","serviceAccountToken":"{secret}"}}"#
                ),
                "kind",
            ),
            (
                r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":" "}"#.to_string(),
                "no image",
            ),
            (
                format!(
                    r#"{{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"x","serviceAccountToken":["{secret}"]}}"#
                ),
                "mistyped",
            ),
        ];
        for (input, expected) in cases {
            let message = CredentialProviderRequest::parse(&input)
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains(secret), "{message}");
            assert!(!message.contains('\n'), "{message}");
        }
    }

    #[test]
    fn a_request_must_be_valid_json_throughout() {
        let input = r#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"h.example/x","future":"\udaccS"}"#;
        let error = CredentialProviderRequest::parse(input).unwrap_err();
        assert!(matches!(error, RequestError::Json { .. }), "{error:?}");
    }

    #[test]
    fn image_registry_follows_the_reference_grammar() {
        for (image, host) in [
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/a/b:1",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            ),
            ("public.ecr.aws/x/y@sha256:00", "public.ecr.aws"),
            ("localhost/x", "localhost"),
            ("registry:5000/x", "registry:5000"),
            ("nginx", "docker.io"),
            ("library/nginx:1", "docker.io"),
            ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "docker.io"),
        ] {
            assert_eq!(image_registry(image), host, "{image}");
        }
    }

    #[test]
    fn durations_are_written_as_go_writes_them() {
        for (secs, text) in [
            (0, "0s"),
            (59, "59s"),
            (60, "1m0s"),
            (3599, "59m59s"),
            (3600, "1h0m0s"),
            (43_145, "11h59m5s"),
            (90_061, "25h1m1s"),
        ] {
            assert_eq!(go_duration(Duration::from_secs(secs)), text);
        }
        assert_eq!(go_duration(Duration::from_millis(1999)), "1s");
    }

    #[test]
    fn responses_use_the_api_field_names() {
        let mut response = CredentialProviderResponse::empty(ApiVersion::V1beta1);
        let value: serde_json::Value = serde_json::from_str(&response.to_json()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "apiVersion": "credentialprovider.kubelet.k8s.io/v1beta1",
                "kind": "CredentialProviderResponse",
                "cacheKeyType": "Registry",
                "auth": {}
            })
        );
        response.cache_duration = Some(Duration::from_secs(3600));
        response.auth.insert(
            "h.example".into(),
            AuthConfig {
                username: "AWS".into(),
                password: Secret::new("pw"),
            },
        );
        let value: serde_json::Value = serde_json::from_str(&response.to_json()).unwrap();
        assert_eq!(value["cacheDuration"], "1h0m0s");
        assert_eq!(
            value["auth"],
            serde_json::json!({"h.example": {"username": "AWS", "password": "pw"}})
        );
    }
}
