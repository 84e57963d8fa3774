//! Kubernetes service accounts as identities: which role a service account's annotations name,
//! which subject its token carries, and the STS session name that stands for it.
//!
//! The kubelet hands a credential provider the pod's service-account token and the service
//! account's annotations (`tokenAttributes` in its `CredentialProviderConfig`). A token is
//! exchanged with STS `AssumeRoleWithWebIdentity` for the role the annotations name, and the
//! ECR token that buys is cached per role and token subject
//! ([`crate::source::CredentialSource::WebIdentity`]).
//!
//! This module reads the token's subject WITHOUT verifying its signature: the subject only
//! chooses a cache entry, and STS verifies the token when it is exchanged. A token that does not
//! parse, or carries no string `sub`, is keyed by its SHA-256 instead ([`subject_of`]): a token
//! is never keyed under a subject it does not carry. The token itself is never kept, logged or
//! written: only its subject (or hash) is.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The annotation of this product naming the role a service account's pulls assume.
pub const ROLE_ANNOTATION: &str = "docker-credential-ecr/role-arn";

/// The annotation the AWS credential provider (`ecr-credential-provider`) reads for the same
/// purpose; accepted too, so a cluster can switch providers without re-annotating.
pub const AWS_PROVIDER_ROLE_ANNOTATION: &str = "eks.amazonaws.com/ecr-role-arn";

/// Both annotations, in the order they are read: list them in the kubelet's
/// `optionalServiceAccountAnnotationKeys`.
pub const ROLE_ANNOTATIONS: [&str; 2] = [ROLE_ANNOTATION, AWS_PROVIDER_ROLE_ANNOTATION];

/// The prefix of a hashed subject (a token with no readable `sub`).
pub const HASHED_SUBJECT_PREFIX: &str = "sha256:";

/// The prefix of the subject of every Kubernetes service-account token.
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// The session name of a token whose subject is not a service account's.
pub const DEFAULT_SESSION_NAME: &str = "docker-credential-ecr";

/// The two role annotations name different roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the service account's annotations name two roles: {ROLE_ANNOTATION}={ours:?} and {AWS_PROVIDER_ROLE_ANNOTATION}={theirs:?}; keep one, or make them equal"
)]
pub struct ConflictingRoles {
    pub ours: String,
    pub theirs: String,
}

/// The role `annotations` name for pulls: [`ROLE_ANNOTATION`] or
/// [`AWS_PROVIDER_ROLE_ANNOTATION`] (an empty value counts as absent); both present and
/// different is an error; neither is `None`.
pub fn role_arn(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<String>, ConflictingRoles> {
    let value = |key: &str| {
        annotations
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    };
    match (value(ROLE_ANNOTATION), value(AWS_PROVIDER_ROLE_ANNOTATION)) {
        (Some(ours), Some(theirs)) if ours != theirs => Err(ConflictingRoles {
            ours: ours.to_string(),
            theirs: theirs.to_string(),
        }),
        (Some(role), _) | (None, Some(role)) => Ok(Some(role.to_string())),
        (None, None) => Ok(None),
    }
}

/// The subject a token is cached under: its JWT `sub`, read without verification; else
/// `sha256:<hex>` of the whole token (a token that is not a compact JWS, whose payload is not a
/// JSON object with a non-empty string `sub`, or whose `sub` itself starts with `sha256:`,
/// which would pass for another token's hash).
pub fn subject_of(token: &Secret) -> String {
    claimed_subject(token.expose())
        .filter(|sub| !sub.starts_with(HASHED_SUBJECT_PREFIX))
        .unwrap_or_else(|| hashed_subject(token.expose()))
}

/// Who issued a token and for whom: its `iss` and its `aud` (a list joined by spaces, in
/// order), read without verification, or empty strings when [`subject_of`] is a hash (which
/// covers the whole token). A cache entry records them with the subject: every cluster has a
/// `system:serviceaccount:default:default`, and a role may trust one cluster's issuer only.
pub fn issuer_and_audience(token: &Secret) -> (String, String) {
    if is_hashed(&subject_of(token)) {
        return (String::new(), String::new());
    }
    let Some(claims) = claims(token.expose()) else {
        return (String::new(), String::new());
    };
    let issuer = match claims.get("iss") {
        Some(serde_json::Value::String(iss)) => iss.clone(),
        _ => String::new(),
    };
    let audience = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud.clone(),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .map(|aud| aud.as_str().unwrap_or("?"))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    };
    (issuer, audience)
}

/// Whether `subject` is a hash ([`subject_of`] found no `sub`).
pub fn is_hashed(subject: &str) -> bool {
    subject.starts_with(HASHED_SUBJECT_PREFIX)
}

fn claimed_subject(token: &str) -> Option<String> {
    match claims(token)?.get("sub") {
        Some(serde_json::Value::String(sub)) if !sub.is_empty() => Some(sub.clone()),
        _ => None,
    }
}

/// The JWT payload's claims, unverified.
fn claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let base64url = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let bytes = base64url.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn hashed_subject(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{HASHED_SUBJECT_PREFIX}{hex}")
}

/// The STS `RoleSessionName` for a token of `subject`: for a service account
/// (`system:serviceaccount:<namespace>:<name>`) `<namespace>.<name>`, with every character STS
/// refuses (outside `[\w+=,.@-]`) turned into `-` and cut to STS's 64 characters, so that
/// CloudTrail names the service account; for any other subject (a hash), a constant. The
/// session name is informational: the cache key holds the whole subject.
pub fn session_name(subject: &str) -> String {
    let Some(account) = subject.strip_prefix(SERVICE_ACCOUNT_PREFIX) else {
        return DEFAULT_SESSION_NAME.to_string();
    };
    let name: String = account
        .chars()
        .map(|c| match c {
            ':' => '.',
            c if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) => c,
            _ => '-',
        })
        .take(64)
        .collect();
    if name.len() < 2 {
        return DEFAULT_SESSION_NAME.to_string();
    }
    name
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A JWT with `payload` as its claims (signed by nobody).
    pub(crate) fn jwt(payload: &str) -> Secret {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        Secret::new(format!(
            "{}.{}.{}",
            b64.encode(r#"{"alg":"RS256","kid":"k"}"#),
            b64.encode(payload),
            b64.encode([0xfb_u8; 64])
        ))
    }

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/puller";

    #[test]
    fn either_annotation_names_the_role_and_two_different_ones_are_an_error() {
        assert_eq!(role_arn(&annotations(&[])), Ok(None));
        assert_eq!(
            role_arn(&annotations(&[(ROLE_ANNOTATION, ROLE)])),
            Ok(Some(ROLE.into()))
        );
        assert_eq!(
            role_arn(&annotations(&[(AWS_PROVIDER_ROLE_ANNOTATION, ROLE)])),
            Ok(Some(ROLE.into()))
        );
        assert_eq!(
            role_arn(&annotations(&[
                (ROLE_ANNOTATION, ROLE),
                (AWS_PROVIDER_ROLE_ANNOTATION, ROLE)
            ])),
            Ok(Some(ROLE.into()))
        );
        assert_eq!(
            role_arn(&annotations(&[
                (ROLE_ANNOTATION, " "),
                (AWS_PROVIDER_ROLE_ANNOTATION, ROLE)
            ])),
            Ok(Some(ROLE.into()))
        );
        let other = "arn:aws:iam::123456789012:role/other";
        let error = role_arn(&annotations(&[
            (ROLE_ANNOTATION, ROLE),
            (AWS_PROVIDER_ROLE_ANNOTATION, other),
        ]))
        .unwrap_err();
        assert_eq!(error.ours, ROLE);
        assert!(error.to_string().contains(other), "{error}");
        assert!(
            role_arn(&annotations(&[("eks.amazonaws.com/role-arn", ROLE)]))
                .unwrap()
                .is_none(),
            "IRSA's pod-identity annotation is not a pull role"
        );
    }

    #[test]
    fn the_subject_is_the_jwt_sub_else_the_token_hash() {
        let sa = jwt(
            r#"{"iss":"https://oidc.example.com","sub":"system:serviceaccount:shop:puller","aud":["sts.amazonaws.com"]}"#,
        );
        assert_eq!(subject_of(&sa), "system:serviceaccount:shop:puller");
        // Padding, a list of parts that is not three, a payload that is not an object, a sub
        // that is not a string: no subject claimed, the hash.
        let padded = Secret::new(format!("{}=", sa.expose().rsplit_once('.').unwrap().0) + ".sig");
        assert_eq!(subject_of(&padded), "system:serviceaccount:shop:puller");
        for unreadable in [
            Secret::new("opaque"),
            Secret::new(format!("{}.extra", sa.expose())),
            jwt(r#"["sub"]"#),
            jwt(r#"{"sub":42}"#),
            jwt(r#"{"sub":""}"#),
            jwt(r#"{"iss":"x"}"#),
            jwt(r#"{"sub":"sha256:0000"}"#),
            Secret::new("a.!!!.c"),
        ] {
            let subject = subject_of(&unreadable);
            assert!(is_hashed(&subject), "{subject}");
            assert_eq!(subject.len(), "sha256:".len() + 64);
            assert!(!subject.contains(unreadable.expose()));
            assert_eq!(subject, subject_of(&unreadable), "stable");
        }
        assert_ne!(
            subject_of(&Secret::new("opaque-1")),
            subject_of(&Secret::new("opaque-2"))
        );
        // Two tokens of one service account (new `jti`, `exp`) share the subject.
        let again = jwt(r#"{"sub":"system:serviceaccount:shop:puller","jti":"2"}"#);
        assert_eq!(subject_of(&again), subject_of(&sa));
    }

    #[test]
    fn session_names_stand_for_the_service_account_within_sts_rules() {
        assert_eq!(
            session_name("system:serviceaccount:shop:puller"),
            "shop.puller"
        );
        let long = format!(
            "system:serviceaccount:{}:{}",
            "n".repeat(63),
            "a".repeat(253)
        );
        let name = session_name(&long);
        assert_eq!(name.len(), 64);
        assert!(name.starts_with(&"n".repeat(63)));
        assert_eq!(session_name("system:serviceaccount:é:x"), "-.x");
        assert_eq!(session_name("sha256:abcd"), DEFAULT_SESSION_NAME);
        assert_eq!(session_name("system:serviceaccount:"), DEFAULT_SESSION_NAME);
        for subject in [
            "system:serviceaccount:a b:c/d",
            "system:serviceaccount:ns:name",
            "user@example.com",
        ] {
            let name = session_name(subject);
            assert!((2..=64).contains(&name.len()), "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)),
                "{name}"
            );
        }
    }
}
