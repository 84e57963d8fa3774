//! The kubelet's side of the image credential provider API, written from its reference pages
//! (kubernetes.io/docs/reference/config-api/kubelet-credentialprovider.v1/, and the `v1beta1`
//! and `v1alpha1` pages), independently of the product's own types: requests as a kubelet
//! writes them, and a strict reading of the responses it accepts. No kubelet runs here.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// The API versions a kubelet speaks to an exec plugin.
pub const API_VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];

/// A `CredentialProviderRequest` for `image`, as a kubelet without `tokenAttributes` sends it.
pub fn request(api_version: &str, image: &str) -> String {
    serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": api_version,
        "image": image,
    })
    .to_string()
}

/// A `v1` request carrying the pod's service-account token and the annotations the provider
/// config asks for (`tokenAttributes`, Kubernetes 1.33+).
pub fn request_with_token(
    image: &str,
    token: &str,
    annotations: &BTreeMap<String, String>,
) -> String {
    serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": API_VERSIONS[0],
        "image": image,
        "serviceAccountToken": token,
        "serviceAccountAnnotations": annotations,
    })
    .to_string()
}

/// One `auth` entry of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub username: String,
    pub password: String,
}

/// A response as the kubelet reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub api_version: String,
    pub cache_key_type: String,
    /// `None` when absent (the config's `defaultCacheDuration` applies).
    pub cache_duration: Option<Duration>,
    pub auth: BTreeMap<String, Auth>,
}

/// Reads `stdout` as a `CredentialProviderResponse`, panicking on anything the API reference
/// does not allow: an unknown field, a missing `kind`/`apiVersion`/`cacheKeyType`, a cache key
/// type other than `Image`/`Registry`/`Global`, a duration Go's `time.ParseDuration` rejects.
pub fn parse_response(stdout: &str) -> Response {
    let value: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("response is not JSON ({e}): {stdout}"));
    let object = value.as_object().expect("response is an object");
    for field in object.keys() {
        assert!(
            [
                "apiVersion",
                "kind",
                "cacheKeyType",
                "cacheDuration",
                "auth"
            ]
            .contains(&field.as_str()),
            "field {field} is not in the API: {stdout}"
        );
    }
    assert_eq!(object["kind"], "CredentialProviderResponse", "{stdout}");
    let cache_key_type = object["cacheKeyType"].as_str().expect("cacheKeyType");
    assert!(
        ["Image", "Registry", "Global"].contains(&cache_key_type),
        "{stdout}"
    );
    let cache_duration = object.get("cacheDuration").map(|d| {
        let text = d.as_str().expect("cacheDuration is a string");
        parse_go_duration(text).unwrap_or_else(|| panic!("{text:?} is not a Go duration"))
    });
    let mut auth = BTreeMap::new();
    if let Some(entries) = object.get("auth") {
        for (key, entry) in entries.as_object().expect("auth is a map") {
            let entry = entry.as_object().expect("an AuthConfig is an object");
            for field in entry.keys() {
                assert!(
                    ["username", "password"].contains(&field.as_str()),
                    "AuthConfig field {field} is not in the API: {stdout}"
                );
            }
            let text = |name: &str| {
                entry
                    .get(name)
                    .map(|v| v.as_str().expect("a string").to_string())
                    .unwrap_or_default()
            };
            auth.insert(
                key.clone(),
                Auth {
                    username: text("username"),
                    password: text("password"),
                },
            );
        }
    }
    Response {
        api_version: object["apiVersion"]
            .as_str()
            .expect("apiVersion")
            .to_string(),
        cache_key_type: cache_key_type.to_string(),
        cache_duration,
        auth,
    }
}

/// Go's `time.ParseDuration` (what `meta/v1.Duration` uses): an optional sign, then one or more
/// decimal numbers each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a bare `0`.
/// Negative durations are `None` here (no cache duration may be negative).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    let mut rest = rest;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += value * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    Some(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_as_go_parses_them() {
        for (text, secs) in [
            ("0", 0.0),
            ("0s", 0.0),
            ("1h0m0s", 3600.0),
            ("11h59m5s", 43_145.0),
            ("1.5h", 5400.0),
            ("300ms", 0.3),
            ("2m3s", 123.0),
        ] {
            assert_eq!(
                parse_go_duration(text),
                Some(Duration::from_secs_f64(secs)),
                "{text}"
            );
        }
        for bad in ["", "1", "5 s", "1d", "h", "-1s", "1..5s", "1h 2m"] {
            assert_eq!(parse_go_duration(bad), None, "{bad:?}");
        }
    }
}
