//! The kubelet's `CredentialProviderRequest`: an accepted request is valid JSON whose fields say
//! what the parsed request says (the version one of the three the kubelet speaks, the kind, the
//! image trimmed, the token and annotations as sent); a refused one is one line that quotes
//! nothing of the input (which may carry a service-account token); the registry host is the
//! image's first part.
#![no_main]

use ecr_model::kubelet::{ApiVersion, CredentialProviderRequest, RequestError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match CredentialProviderRequest::parse(input) {
        Ok(request) => check_accepted(input, &request),
        Err(error) => check_refused(&error),
    }
});

fn check_accepted(input: &str, request: &CredentialProviderRequest) {
    let value: Value = serde_json::from_str(input).expect("an accepted request is JSON");
    let version = value["apiVersion"].as_str().expect("apiVersion");
    assert!(ApiVersion::ALL.iter().any(|v| v.as_str() == version));
    assert_eq!(version, request.api_version.as_str());
    assert_eq!(value["kind"], "CredentialProviderRequest");
    let image = value["image"].as_str().expect("image");
    assert_eq!(image.trim(), request.image);
    assert!(!request.image.is_empty());
    match value.get("serviceAccountToken") {
        Some(Value::String(token)) if !token.is_empty() => {
            assert_eq!(request.service_account_token.as_ref().unwrap().expose(), token)
        }
        _ => assert!(request.service_account_token.is_none()),
    }
    match value.get("serviceAccountAnnotations") {
        Some(Value::Object(map)) => {
            assert_eq!(map.len(), request.service_account_annotations.len());
            for (key, v) in map {
                assert_eq!(
                    request.service_account_annotations.get(key).map(String::as_str),
                    v.as_str()
                );
            }
        }
        _ => assert!(request.service_account_annotations.is_empty()),
    }
    let host = request.registry_host();
    assert!(host == "docker.io" || request.image.starts_with(&format!("{host}/")));
}

fn check_refused(error: &RequestError) {
    let message = error.to_string();
    assert!(!message.contains('\n'), "{message}");
    let fixed = match error {
        RequestError::Json { what, line, column } => {
            assert!(
                ["read error", "syntax error", "missing or mistyped field", "truncated input"]
                    .contains(what)
            );
            format!(
                "invalid CredentialProviderRequest on stdin: {what} at line {line} column {column} (expected JSON with apiVersion, kind and image)"
            )
        }
        // Unit variants: their messages carry nothing of the input by construction.
        RequestError::ApiVersion | RequestError::Kind | RequestError::NoImage => return,
    };
    assert_eq!(message, fixed, "the message is the template only");
}
