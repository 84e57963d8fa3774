//! The knobs that steer how the fake ECR answers, and partial updates to them.
//!
//! This module owns the data only: [`Knobs`] (the full set, as `GET /knobs` shows it),
//! [`KnobsPatch`] (what `POST /knobs` accepts) and [`Mode`]. It never decides an answer; that
//! is the `state` module's job.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Token lifetime real ECR hands out: 12 hours.
pub const DEFAULT_LIFETIME_SECS: u64 = 43_200;

/// How many images one DescribeImages page holds at most, unless told otherwise: small, so
/// that a handful of images already spans pages.
pub const DEFAULT_IMAGES_PAGE_SIZE: usize = 3;

/// Password the fake hands out unless told otherwise.
pub const DEFAULT_PASSWORD: &str = "fake-ecr-password";

/// How the fake answers API requests that pass authentication (ECR, ECR Public and STS alike;
/// the STS error of each mode is named in brackets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Hand out a token.
    #[default]
    Ok,
    /// `ServerException` (500) [STS: `InternalFailure`, 500].
    ServerError,
    /// `ThrottlingException` (400) [STS: `Throttling`, 400].
    Throttle,
    /// Accept the request and never answer (until the client gives up).
    Hang,
    /// `UnrecognizedClientException` for every access key [STS: `InvalidClientTokenId`, 403].
    RejectKeys,
    /// `AccessDeniedException` [STS: `AccessDenied`, 403].
    AccessDenied,
    /// `InvalidSignatureException`, what AWS answers a client whose clock is off
    /// [STS: `SignatureDoesNotMatch` "Signature expired: ...", 403].
    SignatureExpired,
    /// `ExpiredTokenException`, what AWS answers expired session credentials
    /// [STS: `ExpiredToken`, 400].
    ExpiredToken,
}

impl Mode {
    /// Every mode, in the order `--help` and error messages list them.
    pub const ALL: [Mode; 8] = [
        Mode::Ok,
        Mode::ServerError,
        Mode::Throttle,
        Mode::Hang,
        Mode::RejectKeys,
        Mode::AccessDenied,
        Mode::SignatureExpired,
        Mode::ExpiredToken,
    ];

    /// The name used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Ok => "ok",
            Mode::ServerError => "server_error",
            Mode::Throttle => "throttle",
            Mode::Hang => "hang",
            Mode::RejectKeys => "reject_keys",
            Mode::AccessDenied => "access_denied",
            Mode::SignatureExpired => "signature_expired",
            Mode::ExpiredToken => "expired_token",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is not one of [`Mode::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown mode {given:?}; expected one of: {}", Mode::ALL.map(Mode::as_str).join(", "))]
pub struct UnknownMode {
    given: String,
}

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| UnknownMode {
                given: s.to_owned(),
            })
    }
}

/// The full knob set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Knobs {
    /// Lifetime of the tokens handed out, in seconds.
    pub lifetime_secs: u64,
    /// Delay before answering any API request, in milliseconds.
    pub latency_ms: u64,
    /// How to answer requests that pass authentication.
    pub mode: Mode,
    /// Access key ids answered with `UnrecognizedClientException`, even in mode `ok`.
    pub rejected_keys: Vec<String>,
    /// Skew of the server clock: shifts the `Date` header and `expiresAt` alike.
    pub date_offset_secs: i64,
    /// The token is base64("AWS:" + password).
    pub password: String,
    /// The next N API calls answer `ServerException` (STS: `InternalFailure`), then the mode
    /// applies again.
    pub fail_next: u32,
    /// Lifetime of the credentials STS AssumeRole hands out, in seconds; `None`: the request's
    /// `DurationSeconds`, else 3600 (what STS does).
    pub sts_duration_secs: Option<u64>,
    /// Role ARN -> the external id AssumeRole must carry for that role; a request without it or
    /// with another one is answered `AccessDenied`. Roles not listed accept any (or none).
    pub role_external_ids: BTreeMap<String, String>,
    /// Subjects (`sub`) whose web identity tokens AssumeRoleWithWebIdentity answers
    /// `InvalidIdentityToken`, as STS does a token its issuer does not vouch for.
    #[serde(default)]
    pub rejected_subjects: Vec<String>,
    /// Role ARN -> the subjects its trust policy lets assume it with a web identity token;
    /// another subject is answered `AccessDenied`. Roles not listed trust every subject.
    #[serde(default)]
    pub role_subjects: BTreeMap<String, Vec<String>>,
    /// Repository name -> its images, in the order DescribeImages lists them; a repository not
    /// listed is answered `RepositoryNotFoundException`.
    #[serde(default)]
    pub repositories: BTreeMap<String, Vec<FakeImage>>,
    /// The most images one DescribeImages page holds (a request's smaller `maxResults` wins).
    #[serde(default = "default_images_page_size")]
    pub images_page_size: usize,
    /// Access key ids whose DescribeImages calls are answered `AccessDeniedException` (their
    /// GetAuthorizationToken still works: a policy without `ecr:DescribeImages`).
    #[serde(default)]
    pub images_denied_keys: Vec<String>,
}

fn default_images_page_size() -> usize {
    DEFAULT_IMAGES_PAGE_SIZE
}

/// One image of a fake repository.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FakeImage {
    /// `sha256:...`.
    pub digest: String,
    /// Empty: an untagged image.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it was pushed, in milliseconds since the epoch (sent as fractional seconds).
    pub pushed_at_ms: u64,
    #[serde(default)]
    pub size_bytes: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            lifetime_secs: DEFAULT_LIFETIME_SECS,
            latency_ms: 0,
            mode: Mode::Ok,
            rejected_keys: Vec::new(),
            date_offset_secs: 0,
            password: DEFAULT_PASSWORD.to_owned(),
            fail_next: 0,
            sts_duration_secs: None,
            role_external_ids: BTreeMap::new(),
            rejected_subjects: Vec::new(),
            role_subjects: BTreeMap::new(),
            repositories: BTreeMap::new(),
            images_page_size: DEFAULT_IMAGES_PAGE_SIZE,
            images_denied_keys: Vec::new(),
        }
    }
}

impl Knobs {
    /// Overwrites the knobs the patch names and leaves the others alone.
    pub fn apply(&mut self, patch: KnobsPatch) {
        let KnobsPatch {
            lifetime_secs,
            latency_ms,
            mode,
            rejected_keys,
            date_offset_secs,
            password,
            fail_next,
            sts_duration_secs,
            role_external_ids,
            rejected_subjects,
            role_subjects,
            repositories,
            images_page_size,
            images_denied_keys,
        } = patch;
        set_if_some(&mut self.lifetime_secs, lifetime_secs);
        set_if_some(&mut self.latency_ms, latency_ms);
        set_if_some(&mut self.mode, mode);
        set_if_some(&mut self.rejected_keys, rejected_keys);
        set_if_some(&mut self.date_offset_secs, date_offset_secs);
        set_if_some(&mut self.password, password);
        set_if_some(&mut self.fail_next, fail_next);
        set_if_some(&mut self.sts_duration_secs, sts_duration_secs);
        set_if_some(&mut self.role_external_ids, role_external_ids);
        set_if_some(&mut self.rejected_subjects, rejected_subjects);
        set_if_some(&mut self.role_subjects, role_subjects);
        set_if_some(&mut self.repositories, repositories);
        set_if_some(&mut self.images_page_size, images_page_size);
        set_if_some(&mut self.images_denied_keys, images_denied_keys);
    }
}

fn set_if_some<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// A partial knob set: `None` leaves a knob as it is. Unknown fields are an error, so a typo
/// in a test fails loudly instead of silently changing nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_keys: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_offset_secs: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_next: Option<u32>,
    /// `Some(None)` (JSON `null`) goes back to the request's `DurationSeconds`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub sts_duration_secs: Option<Option<u64>>,
    /// Replaces the whole map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_external_ids: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected_subjects: Option<Vec<String>>,
    /// Replaces the whole map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_subjects: Option<BTreeMap<String, Vec<String>>>,
    /// Replaces the whole map. This knob and the next two have no start flag: tests set them
    /// through the control endpoint ([`crate::fake_handle::FakeEcr::set_knobs`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<BTreeMap<String, Vec<FakeImage>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_page_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_denied_keys: Option<Vec<String>>,
}

/// Deserializes a field that is present (even as `null`) into `Some`; a missing field stays
/// `None` through `#[serde(default)]`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

impl KnobsPatch {
    /// A patch that changes only the mode.
    pub fn mode(mode: Mode) -> Self {
        KnobsPatch {
            mode: Some(mode),
            ..KnobsPatch::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_names_round_trip_through_from_str_and_serde() {
        for mode in Mode::ALL {
            assert_eq!(mode.as_str().parse::<Mode>().ok(), Some(mode));
            let json = serde_json::to_string(&mode).expect("serialize mode");
            assert_eq!(json, format!("\"{mode}\""));
        }
        assert!("server-error".parse::<Mode>().is_err());
    }

    #[test]
    fn patch_changes_only_the_named_knobs() {
        let mut knobs = Knobs::default();
        let patch: KnobsPatch =
            serde_json::from_str(r#"{"mode":"throttle","fail_next":2}"#).expect("parse patch");
        knobs.apply(patch);
        assert_eq!(knobs.mode, Mode::Throttle);
        assert_eq!(knobs.fail_next, 2);
        assert_eq!(knobs.lifetime_secs, DEFAULT_LIFETIME_SECS);
        assert_eq!(knobs.password, DEFAULT_PASSWORD);
    }

    #[test]
    fn sts_duration_patch_tells_absent_from_null() {
        let mut knobs = Knobs::default();
        let set: KnobsPatch =
            serde_json::from_str(r#"{"sts_duration_secs":5}"#).expect("parse patch");
        knobs.apply(set);
        assert_eq!(knobs.sts_duration_secs, Some(5));
        let other: KnobsPatch = serde_json::from_str(r#"{"mode":"ok"}"#).expect("parse patch");
        knobs.apply(other);
        assert_eq!(knobs.sts_duration_secs, Some(5));
        let clear: KnobsPatch =
            serde_json::from_str(r#"{"sts_duration_secs":null}"#).expect("parse patch");
        assert_eq!(clear.sts_duration_secs, Some(None));
        knobs.apply(clear.clone());
        assert_eq!(knobs.sts_duration_secs, None);
        let json = serde_json::to_string(&clear).expect("serialize patch");
        assert_eq!(json, r#"{"sts_duration_secs":null}"#);
    }

    #[test]
    fn patch_rejects_unknown_fields() {
        assert!(serde_json::from_str::<KnobsPatch>(r#"{"lifetime":5}"#).is_err());
    }
}
