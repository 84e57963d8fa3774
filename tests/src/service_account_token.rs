//! Service-account tokens for tests: JWTs shaped like the ones the kubelet hands a credential
//! provider (`serviceAccountToken`), signed by nobody.
//!
//! This module only builds strings. A token is `header.payload.signature`, each part base64url
//! without padding, the payload holding the claims the Kubernetes API server puts in a bound
//! service-account token (`iss`, `sub` = `system:serviceaccount:<namespace>:<name>`, `aud`,
//! `exp`, `iat`, `nbf`, `kubernetes.io`). The signature is random-looking bytes: neither the
//! helper nor the fake STS verifies it (real STS does, against the issuer's JWKS).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

/// The issuer the test tokens name (an example host: nothing resolves it).
pub const ISSUER: &str = "https://oidc.cluster.example.com";

/// The audience the test tokens are requested for (`serviceAccountTokenAudience`).
pub const AUDIENCE: &str = "sts.amazonaws.com";

/// `system:serviceaccount:<namespace>:<name>`, the `sub` of a service account's tokens.
pub fn subject(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// A token for service account `namespace/name`, valid for an hour from now.
pub fn token(namespace: &str, name: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    with_claims(&json!({
        "aud": [AUDIENCE],
        "exp": now + 3600,
        "iat": now,
        "nbf": now,
        "iss": ISSUER,
        "jti": format!("{namespace}-{name}-{now}"),
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": "5e2a3a6c-0000-4000-8000-000000000001"},
        },
        "sub": subject(namespace, name),
    }))
}

/// A JWT with `claims` as its payload.
pub fn with_claims(claims: &serde_json::Value) -> String {
    let header = json!({"alg": "RS256", "kid": "test-key", "typ": "JWT"});
    let signature: Vec<u8> = (0u8..=255).map(|b| b.wrapping_mul(37)).collect();
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_three_base64url_parts_carrying_the_subject() {
        let token = token("shop", "puller");
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url");
        let claims: serde_json::Value = serde_json::from_slice(&payload).expect("JSON");
        assert_eq!(claims["sub"], "system:serviceaccount:shop:puller");
        assert_eq!(claims["aud"][0], AUDIENCE);
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
    }
}
