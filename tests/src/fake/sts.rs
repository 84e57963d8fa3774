//! The awsQuery wire format of STS: `AssumeRole`, `AssumeRoleWithWebIdentity` and
//! `GetCallerIdentity`.
//!
//! This module owns the bytes: the form-encoded request (`Action=AssumeRole&Version=...`), its
//! validation, the claims of a web identity token (read, never verified), the temporary
//! credentials' shape (deterministic `ASIA...` key ids), the XML success bodies and the XML
//! `ErrorResponse`. It keeps no state and performs no I/O; which answer a request gets is the
//! `state` module's decision.

use std::fmt::Write as _;

use base64::Engine as _;
use hyper::StatusCode;

use super::clock::iso8601;
use super::wire::DEFAULT_REGISTRY_ID;

/// XML namespace of every STS response.
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Content type of STS responses.
pub const CONTENT_TYPE: &str = "text/xml";

/// Prefix of the fake's `by_target` counters for STS actions: `sts:AssumeRole`.
pub const TARGET_PREFIX: &str = "sts:";

/// `by_target` key of AssumeRole.
pub const ASSUME_ROLE_TARGET: &str = "sts:AssumeRole";

/// `by_target` key of AssumeRoleWithWebIdentity.
pub const ASSUME_ROLE_WITH_WEB_IDENTITY_TARGET: &str = "sts:AssumeRoleWithWebIdentity";

/// The lengths STS accepts for `WebIdentityToken`.
pub const WEB_IDENTITY_TOKEN_LENGTH: std::ops::RangeInclusive<usize> = 4..=20_000;

/// The lengths STS accepts for `RoleArn`.
pub const ROLE_ARN_LENGTH: std::ops::RangeInclusive<usize> = 20..=2048;

/// `by_target` key of GetCallerIdentity.
pub const GET_CALLER_IDENTITY_TARGET: &str = "sts:GetCallerIdentity";

/// Lifetime of AssumeRole credentials when the request names none.
pub const DEFAULT_DURATION_SECS: u64 = 3600;

/// The range STS accepts for `DurationSeconds`.
pub const DURATION_RANGE: std::ops::RangeInclusive<u64> = 900..=43_200;

/// Prefix of every temporary access key id (long-term ones start with `AKIA`).
pub const TEMPORARY_KEY_PREFIX: &str = "ASIA";

/// The IAM user every long-term key belongs to, as errors and GetCallerIdentity name it.
pub const CALLER_USER_ARN: &str = "arn:aws:iam::123456789012:user/vendor";

/// The STS actions the fake knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    AssumeRole,
    /// Accepted unsigned, as AWS does: the token is the credential.
    AssumeRoleWithWebIdentity,
    GetCallerIdentity,
}

impl Action {
    pub fn from_name(name: &str) -> Option<Action> {
        match name {
            "AssumeRole" => Some(Action::AssumeRole),
            "AssumeRoleWithWebIdentity" => Some(Action::AssumeRoleWithWebIdentity),
            "GetCallerIdentity" => Some(Action::GetCallerIdentity),
            _ => None,
        }
    }
}

/// The decoded parameters of an `application/x-www-form-urlencoded` body, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl Form {
    /// Decodes a form body; undecodable bytes become U+FFFD, pairs without `=` have an empty
    /// value.
    pub fn parse(body: &[u8]) -> Form {
        let pairs = body
            .split(|&byte| byte == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let mut halves = pair.splitn(2, |&byte| byte == b'=');
                let name = percent_decode(halves.next().unwrap_or_default());
                let value = percent_decode(halves.next().unwrap_or_default());
                (name, value)
            })
            .collect();
        Form { pairs }
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The `Action` parameter.
    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }
}

fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(index + 1..index + 3)
                    .and_then(|hex| std::str::from_utf8(hex).ok())
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parameters of an AssumeRole request, as sent (not yet validated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssumeRoleParams {
    pub role_arn: Option<String>,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration_seconds: Option<String>,
}

impl AssumeRoleParams {
    pub fn from_form(form: &Form) -> AssumeRoleParams {
        let text = |name| form.get(name).map(str::to_owned);
        AssumeRoleParams {
            role_arn: text("RoleArn"),
            session_name: text("RoleSessionName"),
            external_id: text("ExternalId"),
            duration_seconds: text("DurationSeconds"),
        }
    }

    /// Checks the parameters as STS does (presence, patterns, ranges).
    pub fn validate(&self) -> Result<AssumeRoleRequest, StsError> {
        let role_arn = required(&self.role_arn, "roleArn")?;
        let role = Role::parse(role_arn)
            .ok_or_else(|| StsError::Validation(format!("{role_arn} is invalid")))?;
        let session_name = required(&self.session_name, "roleSessionName")?;
        check_pattern(session_name, "roleSessionName", 2..=64, |c| {
            c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
        })?;
        if let Some(external_id) = &self.external_id {
            check_pattern(external_id, "externalId", 2..=1224, |c| {
                c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c)
            })?;
        }
        let duration_seconds = parse_duration(&self.duration_seconds)?;
        Ok(AssumeRoleRequest {
            role,
            session_name: session_name.to_owned(),
            external_id: self.external_id.clone(),
            duration_seconds,
        })
    }
}

fn required<'a>(value: &'a Option<String>, member: &str) -> Result<&'a str, StsError> {
    value.as_deref().ok_or_else(|| {
        StsError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy \
             constraint: Member must not be null"
        ))
    })
}

fn check_pattern(
    value: &str,
    member: &str,
    length: std::ops::RangeInclusive<usize>,
    allowed: impl Fn(char) -> bool,
) -> Result<(), StsError> {
    let chars = value.chars().count();
    if !length.contains(&chars) {
        return Err(StsError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
             constraint: Member must have length between {} and {}",
            length.start(),
            length.end()
        )));
    }
    if !value.chars().all(allowed) {
        return Err(StsError::Validation(format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    Ok(())
}

/// A valid AssumeRole request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeRoleRequest {
    pub role: Role,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<u64>,
}

/// The parameters of an AssumeRoleWithWebIdentity request, as sent (not yet validated).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebIdentityParams {
    pub role_arn: Option<String>,
    pub session_name: Option<String>,
    pub token: Option<String>,
    pub duration_seconds: Option<String>,
}

impl WebIdentityParams {
    pub fn from_form(form: &Form) -> WebIdentityParams {
        let text = |name| form.get(name).map(str::to_owned);
        WebIdentityParams {
            role_arn: text("RoleArn"),
            session_name: text("RoleSessionName"),
            token: text("WebIdentityToken"),
            duration_seconds: text("DurationSeconds"),
        }
    }

    /// Checks the parameters as STS does (presence, patterns, lengths, ranges), then that the
    /// token is a JWT with a subject (`InvalidIdentityToken` otherwise).
    pub fn validate(&self) -> Result<WebIdentityRequest, StsError> {
        let role_arn = required(&self.role_arn, "roleArn")?;
        check_pattern(role_arn, "roleArn", ROLE_ARN_LENGTH, |c| !c.is_control())?;
        let role = Role::parse(role_arn)
            .ok_or_else(|| StsError::Validation(format!("{role_arn} is invalid")))?;
        let session_name = required(&self.session_name, "roleSessionName")?;
        check_pattern(session_name, "roleSessionName", 2..=64, |c| {
            c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
        })?;
        let token = required(&self.token, "webIdentityToken")?;
        let length = token.chars().count();
        if !WEB_IDENTITY_TOKEN_LENGTH.contains(&length) {
            return Err(StsError::Validation(format!(
                "1 validation error detected: Value at 'webIdentityToken' failed to satisfy \
                 constraint: Member must have length between {} and {}",
                WEB_IDENTITY_TOKEN_LENGTH.start(),
                WEB_IDENTITY_TOKEN_LENGTH.end()
            )));
        }
        let duration_seconds = parse_duration(&self.duration_seconds)?;
        let claims =
            Claims::of(token).ok_or(StsError::InvalidIdentityToken(NOT_A_JWT.to_owned()))?;
        Ok(WebIdentityRequest {
            role,
            session_name: session_name.to_owned(),
            claims,
            duration_seconds,
        })
    }
}

/// What STS answers a token that is not a JWT.
pub const NOT_A_JWT: &str = "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)";

/// A valid AssumeRoleWithWebIdentity request (the token itself is not kept: its claims are).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebIdentityRequest {
    pub role: Role,
    pub session_name: String,
    pub claims: Claims,
    pub duration_seconds: Option<u64>,
}

/// The claims of a web identity token the fake looks at, read from the JWT's payload without
/// verifying its signature (the fake trusts every issuer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub subject: String,
    /// `iss`, what STS answers as `Provider`.
    pub issuer: String,
    /// `aud` (the first one, when it is a list).
    pub audience: String,
    /// `exp`, epoch seconds, when present.
    pub expires: Option<u64>,
}

impl Claims {
    /// The claims of a compact JWS (`header.payload.signature`, base64url), if `token` is one
    /// whose payload is a JSON object with a string `sub`.
    pub fn of(token: &str) -> Option<Claims> {
        let parts: Vec<&str> = token.split('.').collect();
        let [_, payload, _] = parts.as_slice() else {
            return None;
        };
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let bytes = engine.decode(payload).ok()?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let text = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let audience = match json.get("aud") {
            Some(serde_json::Value::Array(list)) => list.first().and_then(|v| v.as_str()),
            Some(value) => value.as_str(),
            None => None,
        };
        Some(Claims {
            subject: text("sub").filter(|sub| !sub.is_empty())?,
            issuer: text("iss").unwrap_or_default(),
            audience: audience.unwrap_or_default().to_owned(),
            expires: json.get("exp").and_then(|v| v.as_u64()),
        })
    }
}

fn parse_duration(text: &Option<String>) -> Result<Option<u64>, StsError> {
    let Some(text) = text else { return Ok(None) };
    let secs = text
        .parse::<u64>()
        .ok()
        .filter(|secs| DURATION_RANGE.contains(secs));
    secs.map(Some).ok_or_else(|| {
        StsError::Validation(format!(
            "1 validation error detected: Value '{text}' at 'durationSeconds' failed \
             to satisfy constraint: Member must have value between {} and {}",
            DURATION_RANGE.start(),
            DURATION_RANGE.end()
        ))
    })
}

/// An IAM role ARN, `arn:<partition>:iam::<account>:role[/<path>]/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    pub partition: String,
    pub account: String,
    pub name: String,
}

impl Role {
    pub fn parse(arn: &str) -> Option<Role> {
        let mut fields = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return None;
        };
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
        if partition.is_empty() || !account_ok || name.is_empty() {
            return None;
        }
        Some(Role {
            arn: arn.to_owned(),
            partition: partition.to_owned(),
            account: account.to_owned(),
            name: name.to_owned(),
        })
    }

    /// `AROA...`: the role's unique id, deterministic per ARN.
    pub fn role_id(&self) -> String {
        format!("AROA{}", base32(&[&self.arn], 17))
    }

    /// The `AssumedRoleUser` of a session of this role.
    pub fn assumed_user(&self, session_name: &str) -> AssumedRoleUser {
        AssumedRoleUser {
            assumed_role_id: format!("{}:{session_name}", self.role_id()),
            arn: format!(
                "arn:{}:sts::{}:assumed-role/{}/{session_name}",
                self.partition, self.account, self.name
            ),
            account: self.account.clone(),
        }
    }
}

/// Who a session of a role is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumedRoleUser {
    pub assumed_role_id: String,
    pub arn: String,
    pub account: String,
}

/// The temporary access key id the fake issues as the `serial`-th credentials (counted from 1
/// per fake process) for a session `session_name` of `role_arn`: `ASIA` + 12 characters
/// derived from the role and session + the serial in 4 digits (modulo 10000), 20 in all.
pub fn temporary_key_id(role_arn: &str, session_name: &str, serial: u64) -> String {
    format!(
        "{TEMPORARY_KEY_PREFIX}{}{:04}",
        base32(&[role_arn, session_name], 12),
        serial % 10_000
    )
}

/// The temporary access key id the fake issues as the `serial`-th credentials for a session
/// `session_name` of `role_arn` bought with a web identity token of subject `subject`: like
/// [`temporary_key_id`], with the 12 characters derived from role, session and subject, so that
/// two service accounts never get the same key id.
pub fn web_identity_key_id(
    role_arn: &str,
    session_name: &str,
    subject: &str,
    serial: u64,
) -> String {
    format!(
        "{TEMPORARY_KEY_PREFIX}{}{:04}",
        base32(&[role_arn, session_name, "web-identity", subject], 12),
        serial % 10_000
    )
}

/// Temporary credentials, as AssumeRole hands them out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch seconds on the fake's clock.
    pub expiration: u64,
}

impl TemporaryCredentials {
    /// The `serial`-th credentials, for a session of `role`, expiring at `expiration`.
    pub fn issue(
        role: &Role,
        session_name: &str,
        serial: u64,
        expiration: u64,
    ) -> TemporaryCredentials {
        TemporaryCredentials::with_key_id(
            temporary_key_id(&role.arn, session_name, serial),
            expiration,
        )
    }

    /// The `serial`-th credentials, for a session of `role` bought with a web identity token
    /// of `subject` (see [`web_identity_key_id`]).
    pub fn issue_for_web_identity(
        role: &Role,
        session_name: &str,
        subject: &str,
        serial: u64,
        expiration: u64,
    ) -> TemporaryCredentials {
        let access_key_id = web_identity_key_id(&role.arn, session_name, subject, serial);
        TemporaryCredentials::with_key_id(access_key_id, expiration)
    }

    fn with_key_id(access_key_id: String, expiration: u64) -> TemporaryCredentials {
        let secret_access_key = alphanumeric(&[&access_key_id, "secret"], 40);
        let session_token = format!(
            "FwoGZXIvYXdzEFakeEcr{}",
            alphanumeric(&[&access_key_id, "token"], 140)
        );
        TemporaryCredentials {
            access_key_id,
            secret_access_key,
            session_token,
            expiration,
        }
    }
}

/// The identity GetCallerIdentity reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerIdentity {
    pub arn: String,
    pub user_id: String,
    pub account: String,
}

impl CallerIdentity {
    /// The IAM user behind a long-term access key.
    pub fn user(access_key_id: &str) -> CallerIdentity {
        CallerIdentity {
            arn: CALLER_USER_ARN.to_owned(),
            user_id: format!("AIDA{}", base32(&[access_key_id], 17)),
            account: DEFAULT_REGISTRY_ID.to_owned(),
        }
    }

    /// A role session.
    pub fn assumed(user: &AssumedRoleUser) -> CallerIdentity {
        CallerIdentity {
            arn: user.arn.clone(),
            user_id: user.assumed_role_id.clone(),
            account: user.account.clone(),
        }
    }
}

/// `<AssumeRoleResponse>`.
pub fn assume_role_body(
    credentials: &TemporaryCredentials,
    user: &AssumedRoleUser,
    request_id: &str,
) -> String {
    let mut xml = XmlWriter::default();
    xml.open_ns("AssumeRoleResponse", XMLNS)
        .open("AssumeRoleResult")
        .open("Credentials")
        .leaf("AccessKeyId", &credentials.access_key_id)
        .leaf("SecretAccessKey", &credentials.secret_access_key)
        .leaf("SessionToken", &credentials.session_token)
        .leaf("Expiration", &iso8601(credentials.expiration))
        .close()
        .open("AssumedRoleUser")
        .leaf("AssumedRoleId", &user.assumed_role_id)
        .leaf("Arn", &user.arn)
        .close()
        .leaf("PackedPolicySize", "0")
        .close();
    metadata(&mut xml, request_id);
    xml.finish()
}

/// `<AssumeRoleWithWebIdentityResponse>`.
pub fn assume_role_with_web_identity_body(
    credentials: &TemporaryCredentials,
    user: &AssumedRoleUser,
    claims: &Claims,
    request_id: &str,
) -> String {
    let mut xml = XmlWriter::default();
    xml.open_ns("AssumeRoleWithWebIdentityResponse", XMLNS)
        .open("AssumeRoleWithWebIdentityResult")
        .leaf("SubjectFromWebIdentityToken", &claims.subject)
        .leaf("Audience", &claims.audience)
        .open("AssumedRoleUser")
        .leaf("Arn", &user.arn)
        .leaf("AssumedRoleId", &user.assumed_role_id)
        .close()
        .open("Credentials")
        .leaf("SessionToken", &credentials.session_token)
        .leaf("SecretAccessKey", &credentials.secret_access_key)
        .leaf("Expiration", &iso8601(credentials.expiration))
        .leaf("AccessKeyId", &credentials.access_key_id)
        .close()
        .leaf("Provider", &claims.issuer)
        .close();
    metadata(&mut xml, request_id);
    xml.finish()
}

/// `<GetCallerIdentityResponse>`.
pub fn caller_identity_body(identity: &CallerIdentity, request_id: &str) -> String {
    let mut xml = XmlWriter::default();
    xml.open_ns("GetCallerIdentityResponse", XMLNS)
        .open("GetCallerIdentityResult")
        .leaf("Arn", &identity.arn)
        .leaf("UserId", &identity.user_id)
        .leaf("Account", &identity.account)
        .close();
    metadata(&mut xml, request_id);
    xml.finish()
}

fn metadata(xml: &mut XmlWriter, request_id: &str) {
    xml.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close();
}

/// The errors the fake's STS answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StsError {
    MissingAuthenticationToken,
    MissingAction,
    InvalidAction(String),
    InternalFailure,
    InvalidClientTokenId,
    /// Not allowed to assume this role ARN (or an external id mismatch).
    AccessDenied(String),
    /// The role's trust policy does not let this web identity assume it.
    WebIdentityAccessDenied,
    /// The web identity token is not a JWT, or its issuer rejects it (the message).
    InvalidIdentityToken(String),
    /// The web identity token's `exp` has passed.
    ExpiredIdentityToken,
    SignatureExpired,
    ExpiredToken,
    Throttling,
    Validation(String),
}

impl StsError {
    /// The `<Code>`.
    pub fn code(&self) -> &'static str {
        match self {
            StsError::MissingAuthenticationToken => "MissingAuthenticationToken",
            StsError::MissingAction => "MissingAction",
            StsError::InvalidAction(_) => "InvalidAction",
            StsError::InternalFailure => "InternalFailure",
            StsError::InvalidClientTokenId => "InvalidClientTokenId",
            StsError::AccessDenied(_) | StsError::WebIdentityAccessDenied => "AccessDenied",
            StsError::InvalidIdentityToken(_) => "InvalidIdentityToken",
            StsError::ExpiredIdentityToken => "ExpiredTokenException",
            StsError::SignatureExpired => "SignatureDoesNotMatch",
            StsError::ExpiredToken => "ExpiredToken",
            StsError::Throttling => "Throttling",
            StsError::Validation(_) => "ValidationError",
        }
    }

    /// The HTTP status STS uses.
    pub fn status(&self) -> StatusCode {
        match self {
            StsError::InternalFailure => StatusCode::INTERNAL_SERVER_ERROR,
            StsError::MissingAuthenticationToken
            | StsError::InvalidClientTokenId
            | StsError::AccessDenied(_)
            | StsError::WebIdentityAccessDenied
            | StsError::SignatureExpired => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// `<Type>`: whose fault it is.
    pub fn fault(&self) -> &'static str {
        match self {
            StsError::InternalFailure => "Receiver",
            _ => "Sender",
        }
    }

    /// The `<Message>`, worded as STS words it.
    pub fn message(&self) -> String {
        match self {
            StsError::MissingAuthenticationToken => {
                "Request is missing Authentication Token".into()
            }
            StsError::MissingAction => "Missing Action".into(),
            StsError::InvalidAction(action) => {
                format!("Could not find operation {action} for version 2011-06-15")
            }
            StsError::InternalFailure => "An internal error occurred. Please try again.".into(),
            StsError::InvalidClientTokenId => {
                "The security token included in the request is invalid.".into()
            }
            StsError::AccessDenied(role_arn) => format!(
                "User: {CALLER_USER_ARN} is not authorized to perform: sts:AssumeRole on \
                 resource: {role_arn}"
            ),
            StsError::WebIdentityAccessDenied => {
                "Not authorized to perform sts:AssumeRoleWithWebIdentity".into()
            }
            StsError::InvalidIdentityToken(message) => message.clone(),
            StsError::ExpiredIdentityToken => "Token expired: current date/time must be before \
                 the expiration date/time"
                .into(),
            StsError::SignatureExpired => {
                "Signature expired: 20260101T000000Z is now earlier than 20260101T000500Z \
                 (20260101T001000Z - 5 min.)"
                    .into()
            }
            StsError::ExpiredToken => {
                "The security token included in the request is expired".into()
            }
            StsError::Throttling => "Rate exceeded".into(),
            StsError::Validation(message) => message.clone(),
        }
    }

    /// The awsQuery `<ErrorResponse>`.
    pub fn body(&self, request_id: &str) -> String {
        let mut xml = XmlWriter::default();
        xml.open_ns("ErrorResponse", XMLNS)
            .open("Error")
            .leaf("Type", self.fault())
            .leaf("Code", self.code())
            .leaf("Message", &self.message())
            .close()
            .leaf("RequestId", request_id);
        xml.finish()
    }
}

/// A minimal XML writer: elements and escaped text, no declaration, no whitespace.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
    open: Vec<&'static str>,
}

impl XmlWriter {
    /// Opens an element with an `xmlns` attribute.
    pub fn open_ns(&mut self, name: &'static str, xmlns: &str) -> &mut Self {
        let _ = write!(self.out, "<{name} xmlns=\"{}\">", escape(xmlns));
        self.open.push(name);
        self
    }

    pub fn open(&mut self, name: &'static str) -> &mut Self {
        let _ = write!(self.out, "<{name}>");
        self.open.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            let _ = write!(self.out, "</{name}>");
        }
        self
    }

    /// An element holding only text.
    pub fn leaf(&mut self, name: &'static str, text: &str) -> &mut Self {
        let _ = write!(self.out, "<{name}>{}</{name}>", escape(text));
        self
    }

    /// Closes every open element and returns the document.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

/// Escapes text and attribute values: `&`, `<`, `>`, `"`, `'`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// FNV-1a over the parts (separated), stable across processes and Rust versions.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (index, part) in parts.iter().enumerate() {
        let separator: &[u8] = if index == 0 { b"" } else { b"\0" };
        for &byte in separator.iter().chain(part.as_bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// `len` characters from `alphabet`, derived from the parts.
fn derive(parts: &[&str], len: usize, alphabet: &[u8]) -> String {
    let mut state = fnv1a(parts);
    (0..len)
        .map(|_| {
            state = splitmix64(state);
            char::from(alphabet[(state % alphabet.len() as u64) as usize])
        })
        .collect()
}

fn base32(parts: &[&str], len: usize) -> String {
    derive(parts, len, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
}

fn alphanumeric(parts: &[&str], len: usize) -> String {
    derive(
        parts,
        len,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    )
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::210987654321:role/team/Deployer";

    #[test]
    fn form_bodies_decode() {
        let form = Form::parse(
            b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2FR\
              &RoleSessionName=a+b&Empty=&Bare&Bad=%zz",
        );
        assert_eq!(form.action(), Some("AssumeRole"));
        assert_eq!(form.get("RoleArn"), Some("arn:aws:iam::1:role/R"));
        assert_eq!(form.get("RoleSessionName"), Some("a b"));
        assert_eq!(form.get("Empty"), Some(""));
        assert_eq!(form.get("Bare"), Some(""));
        assert_eq!(form.get("Bad"), Some("%zz"));
        assert_eq!(form.get("Missing"), None);
    }

    #[test]
    fn role_arns_parse_and_name_the_session() {
        let role = Role::parse(ROLE).expect("a role ARN");
        assert_eq!(role.account, "210987654321");
        assert_eq!(role.name, "Deployer");
        let user = role.assumed_user("ci");
        assert_eq!(
            user.arn,
            "arn:aws:sts::210987654321:assumed-role/Deployer/ci"
        );
        assert!(user.assumed_role_id.starts_with("AROA"));
        assert!(user.assumed_role_id.ends_with(":ci"));
        for bad in [
            "",
            "arn:aws:iam::21098765432:role/R",
            "arn:aws:iam::210987654321:user/R",
            "arn:aws:s3::210987654321:role/R",
            "arn:aws:iam::210987654321:role/",
        ] {
            assert_eq!(Role::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn key_ids_are_deterministic_and_shaped_like_aws_ones() {
        let first = temporary_key_id(ROLE, "ci", 1);
        assert_eq!(first.len(), 20);
        assert!(
            first.starts_with("ASIA") && first.ends_with("0001"),
            "{first}"
        );
        assert!(
            first
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        );
        assert_eq!(first, temporary_key_id(ROLE, "ci", 1));
        assert_ne!(first, temporary_key_id(ROLE, "ci", 2));
        assert_ne!(first[..16], temporary_key_id(ROLE, "cd", 1)[..16]);
    }

    #[test]
    fn validation_follows_sts_rules() {
        let params = |duration: Option<&str>, session: Option<&str>| AssumeRoleParams {
            role_arn: Some(ROLE.into()),
            session_name: session.map(str::to_owned),
            external_id: None,
            duration_seconds: duration.map(str::to_owned),
        };
        let valid = params(Some("900"), Some("ci")).validate().expect("valid");
        assert_eq!(valid.duration_seconds, Some(900));
        for (duration, session) in [
            (Some("899"), Some("ci")),
            (Some("43201"), Some("ci")),
            (Some("soon"), Some("ci")),
            (None, None),
            (None, Some("c")),
            (None, Some("has space")),
        ] {
            let error = params(duration, session).validate().expect_err("invalid");
            assert_eq!(error.code(), "ValidationError");
        }
    }

    #[test]
    fn xml_text_is_escaped() {
        assert_eq!(escape(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        let body = StsError::AccessDenied("arn:<x>&".into()).body("rid");
        assert!(body.starts_with(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>AccessDenied</Code><Message>User: "
        ));
        assert!(
            body.contains("resource: arn:&lt;x&gt;&amp;</Message>"),
            "{body}"
        );
        assert!(body.ends_with("</Error><RequestId>rid</RequestId></ErrorResponse>"));
    }

    #[test]
    fn assume_role_body_has_the_sts_shape() {
        let role = Role::parse(ROLE).expect("a role ARN");
        let credentials = TemporaryCredentials::issue(&role, "ci", 7, 1_795_435_200);
        let body = assume_role_body(&credentials, &role.assumed_user("ci"), "rid");
        assert!(body.starts_with(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <AssumeRoleResult><Credentials><AccessKeyId>ASIA"
        ));
        assert!(body.contains("<Expiration>2026-11-23T12:00:00Z</Expiration>"));
        assert!(body.contains("<PackedPolicySize>0</PackedPolicySize>"));
        assert!(body.ends_with(
            "<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata>\
             </AssumeRoleResponse>"
        ));
        assert_eq!(credentials.secret_access_key.len(), 40);
    }

    fn jwt(payload: &str) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    fn web_identity(token: &str, session: &str) -> WebIdentityParams {
        WebIdentityParams {
            role_arn: Some(ROLE.into()),
            session_name: Some(session.into()),
            token: Some(token.into()),
            duration_seconds: None,
        }
    }

    #[test]
    fn web_identity_tokens_yield_their_claims_unverified() {
        let token = jwt(
            r#"{"sub":"system:serviceaccount:ns:sa","iss":"https://oidc.example.com","aud":["sts.amazonaws.com","x"],"exp":1795435200}"#,
        );
        let request = web_identity(&token, "ns.sa").validate().expect("valid");
        assert_eq!(request.claims.subject, "system:serviceaccount:ns:sa");
        assert_eq!(request.claims.issuer, "https://oidc.example.com");
        assert_eq!(request.claims.audience, "sts.amazonaws.com");
        assert_eq!(request.claims.expires, Some(1_795_435_200));
        for not_a_jwt in [
            "opaque-token".to_owned(),
            jwt(r#"{"iss":"x"}"#),
            jwt(r#"{"sub":7}"#),
            jwt(r#"{"sub":""}"#),
            format!("{}.extra", jwt(r#"{"sub":"a"}"#)),
        ] {
            let error = web_identity(&not_a_jwt, "ns.sa")
                .validate()
                .expect_err("not a JWT");
            assert_eq!(
                error,
                StsError::InvalidIdentityToken(NOT_A_JWT.into()),
                "{not_a_jwt}"
            );
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        }
        for (token, session) in [
            ("abc".to_owned(), "ns.sa"),
            ("a".repeat(20_001), "ns.sa"),
            (token.clone(), "system:serviceaccount:ns:sa"),
            (token.clone(), "x"),
        ] {
            let error = web_identity(&token, session)
                .validate()
                .expect_err("invalid");
            assert_eq!(error.code(), "ValidationError", "{session}");
        }
        let no_role = WebIdentityParams {
            role_arn: Some("arn:aws:iam::1:role/R".into()),
            ..web_identity(&token, "ns.sa")
        };
        assert_eq!(
            no_role.validate().expect_err("bad ARN").code(),
            "ValidationError"
        );
    }

    #[test]
    fn web_identity_key_ids_differ_per_subject_and_from_assume_role() {
        let a = web_identity_key_id(ROLE, "s", "system:serviceaccount:ns:a", 1);
        let b = web_identity_key_id(ROLE, "s", "system:serviceaccount:ns:b", 1);
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("ASIA"));
        assert_ne!(a[..16], b[..16]);
        assert_ne!(a[..16], temporary_key_id(ROLE, "s", 1)[..16]);
        assert_eq!(
            a,
            web_identity_key_id(ROLE, "s", "system:serviceaccount:ns:a", 1)
        );
    }

    #[test]
    fn web_identity_answers_have_the_sts_shape() {
        let role = Role::parse(ROLE).expect("a role ARN");
        let claims = Claims::of(&jwt(r#"{"sub":"s1","iss":"https://i","aud":"a"}"#)).unwrap();
        let credentials = TemporaryCredentials::issue_for_web_identity(&role, "ci", "s1", 1, 0);
        let body = assume_role_with_web_identity_body(
            &credentials,
            &role.assumed_user("ci"),
            &claims,
            "rid",
        );
        assert!(body.starts_with(
            "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>s1</SubjectFromWebIdentityToken>\
             <Audience>a</Audience><AssumedRoleUser><Arn>arn:aws:sts::210987654321:assumed-role/Deployer/ci</Arn>"
        ), "{body}");
        assert!(body.contains(&format!(
            "<AccessKeyId>{}</AccessKeyId>",
            credentials.access_key_id
        )));
        assert!(body.ends_with("<Provider>https://i</Provider></AssumeRoleWithWebIdentityResult>\
             <ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"));
        let denied = StsError::WebIdentityAccessDenied.body("rid");
        assert!(denied.contains("<Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message>"), "{denied}");
        assert_eq!(
            StsError::WebIdentityAccessDenied.status(),
            StatusCode::FORBIDDEN
        );
    }
}
