//! The fake's shared state: the knobs, the call counters, the temporary credentials STS
//! issued, and the decision of how to answer.
//!
//! This module owns the rules, in order: no SigV4 header -> `MissingAuthenticationToken`;
//! unknown target or action -> `UnknownOperation` (STS: `MissingAction` / `InvalidAction`);
//! `fail_next` -> `ServerException` (STS: `InternalFailure`); a rejected key ->
//! `UnrecognizedClient` (STS: `InvalidClientTokenId`); a temporary (`ASIA...`) key the fake
//! never issued, or with another session token -> the same; one whose credentials expired on the
//! fake's clock -> `ExpiredTokenException` (STS: `ExpiredToken`); else the mode. In mode `ok`,
//! DescribeImages then answers from the `repositories` knob ([`describe_images`]). AssumeRole in
//! mode `ok` then validates its parameters (`ValidationError`) and the role's external id
//! (`AccessDenied`) before issuing credentials.
//!
//! AssumeRoleWithWebIdentity needs no SigV4 header (AWS accepts it unsigned: the token is the
//! credential; a signed one passes the key checks first). `fail_next` and the mode apply, with
//! the web identity's errors: `reject_keys` -> `InvalidIdentityToken`, `signature_expired` and
//! `expired_token` -> `ExpiredTokenException`. In mode `ok` it validates its parameters
//! (`ValidationError`), reads the token's claims (not a JWT with a `sub` ->
//! `InvalidIdentityToken`), then: `exp` past on the fake's clock -> `ExpiredTokenException`;
//! a subject in `rejected_subjects` -> `InvalidIdentityToken`; a role of `role_subjects` that
//! does not list the subject -> `AccessDenied`; else credentials whose key id derives from role,
//! session and subject ([`sts::web_identity_key_id`]).
//!
//! It never touches the network and never holds its lock across an `.await` (callers get owned
//! snapshots).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clock::ServerClock;
use super::knobs::{Knobs, KnobsPatch, Mode};
use super::sts::{
    self, Action, AssumeRoleParams, AssumedRoleUser, CallerIdentity, Claims, Form, StsError,
    TemporaryCredentials, WebIdentityParams,
};
use super::wire::{
    AwsError, Credential, DEFAULT_REGISTRY_ID, ImagesPage, ImagesRequest, Operation,
};

/// Call counters, as `GET /stats` shows them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Every API request, answered or not.
    pub calls: u64,
    /// API requests per access key id (requests without a SigV4 header are not listed). STS
    /// calls count under the key that signed them (the long-term key, for AssumeRole).
    pub by_access_key: BTreeMap<String, u64>,
    /// API requests per `X-Amz-Target` value, known or not; STS requests as `sts:<Action>`.
    pub by_target: BTreeMap<String, u64>,
    /// Successful AssumeRole calls per role ARN.
    #[serde(default)]
    pub assumed: BTreeMap<String, u64>,
    /// Every AssumeRole request that named its action, in arrival order, with what it sent and
    /// how it was answered.
    #[serde(default)]
    pub assume_role_requests: Vec<AssumeRoleRecord>,
    /// Every AssumeRoleWithWebIdentity request, in arrival order, with what it sent (never the
    /// token itself) and how it was answered.
    #[serde(default)]
    pub web_identity_requests: Vec<WebIdentityRecord>,
}

/// One AssumeRoleWithWebIdentity request, as [`Stats::web_identity_requests`] lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebIdentityRecord {
    /// `RoleArn` as sent (empty when missing).
    pub role_arn: String,
    /// `RoleSessionName` as sent (empty when missing).
    pub session_name: String,
    /// The token's `sub`, when it is a JWT that has one.
    pub subject: Option<String>,
    /// The token's `aud`, when it is a JWT.
    pub audience: Option<String>,
    /// `DurationSeconds` as sent, when it is a number.
    pub duration_seconds: Option<u64>,
    /// The access key id that signed the request (`None`: unsigned, as the SDK sends it).
    pub access_key: Option<String>,
    /// `ok`, `hang`, or the STS error code answered.
    pub outcome: String,
    /// The temporary access key id handed out, on success.
    pub issued_access_key: Option<String>,
}

/// One AssumeRole request, as [`Stats::assume_role_requests`] lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssumeRoleRecord {
    /// `RoleArn` as sent (empty when missing).
    pub role_arn: String,
    /// `RoleSessionName` as sent (empty when missing).
    pub session_name: String,
    pub external_id: Option<String>,
    /// `DurationSeconds` as sent, when it is a number.
    pub duration_seconds: Option<u64>,
    /// The access key id that signed the request.
    pub access_key: Option<String>,
    /// `ok`, `hang`, or the STS error code answered.
    pub outcome: String,
    /// The temporary access key id handed out, on success.
    pub issued_access_key: Option<String>,
}

/// What the fake read from an API request.
#[derive(Clone, Debug)]
pub struct Call {
    pub credential: Option<Credential>,
    /// `X-Amz-Security-Token`, sent with temporary credentials.
    pub security_token: Option<String>,
    pub api: Api,
}

/// Which protocol a request speaks.
#[derive(Clone, Debug)]
pub enum Api {
    /// awsJson1_1 (ECR, ECR Public): the `X-Amz-Target`, if any, and the request body.
    Json {
        target: Option<String>,
        body: Vec<u8>,
    },
    /// awsQuery (STS): the form parameters of the body.
    Query(Form),
}

impl Call {
    /// The `by_target` key of this call.
    fn target_key(&self) -> Option<String> {
        match &self.api {
            Api::Json { target, .. } => target.clone(),
            Api::Query(form) => form
                .action()
                .map(|action| format!("{}{action}", sts::TARGET_PREFIX)),
        }
    }
}

/// How to answer one API request.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Wait this long before answering.
    pub latency: Duration,
    /// Skew of the server clock, for `Date`, `expiresAt` and `Expiration`.
    pub date_offset_secs: i64,
    pub outcome: Outcome,
}

/// The answer itself.
#[derive(Clone, Debug)]
pub enum Outcome {
    Token {
        operation: Operation,
        region: String,
        password: String,
        lifetime_secs: u64,
    },
    Error(AwsError),
    /// A DescribeImages page.
    Images(ImagesPage),
    Hang,
    Assumed {
        credentials: TemporaryCredentials,
        user: AssumedRoleUser,
    },
    AssumedWithWebIdentity {
        credentials: TemporaryCredentials,
        user: AssumedRoleUser,
        claims: Claims,
    },
    CallerIdentity(CallerIdentity),
    StsError(StsError),
}

/// Temporary credentials the fake issued, by access key id.
#[derive(Clone, Debug)]
struct Session {
    user: AssumedRoleUser,
    session_token: String,
    /// Epoch seconds on the fake's clock.
    expiration: u64,
}

/// Why temporary credentials are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SessionProblem {
    /// Never issued, or sent with another session token.
    Unknown,
    Expired,
}

/// Everything behind the one lock.
#[derive(Debug, Default)]
struct Inner {
    knobs: Knobs,
    stats: Stats,
    sessions: BTreeMap<String, Session>,
    /// Credentials issued so far (the serial of the last ones).
    issued: u64,
}

/// Knobs, counters and sessions behind a lock.
#[derive(Debug, Default)]
pub struct State {
    inner: Mutex<Inner>,
}

impl State {
    pub fn new(knobs: Knobs) -> State {
        State {
            inner: Mutex::new(Inner {
                knobs,
                ..Inner::default()
            }),
        }
    }

    pub fn knobs(&self) -> Knobs {
        self.lock().knobs.clone()
    }

    /// Applies a patch and returns the resulting knob set.
    pub fn patch_knobs(&self, patch: KnobsPatch) -> Knobs {
        let mut inner = self.lock();
        inner.knobs.apply(patch);
        inner.knobs.clone()
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.clone()
    }

    /// Zeroes the counters; knobs and issued credentials stay.
    pub fn reset_stats(&self) {
        self.lock().stats = Stats::default();
    }

    /// Counts an API request.
    pub fn record(&self, call: &Call) {
        let mut inner = self.lock();
        let stats = &mut inner.stats;
        stats.calls += 1;
        if let Some(credential) = &call.credential {
            *stats
                .by_access_key
                .entry(credential.access_key_id.clone())
                .or_default() += 1;
        }
        if let Some(target) = call.target_key() {
            *stats.by_target.entry(target).or_default() += 1;
        }
    }

    /// Decides the answer to a call; consumes one `fail_next` if that is what answers it, and
    /// issues (and remembers) credentials for a successful AssumeRole.
    pub fn plan(&self, call: &Call) -> Plan {
        let mut inner = self.lock();
        let now = ServerClock {
            offset_secs: inner.knobs.date_offset_secs,
        }
        .epoch_whole_secs();
        let outcome = match &call.api {
            Api::Json { target, body } => {
                Outcome::from(decide_json(&mut inner, call, target, body, now))
            }
            Api::Query(form) => decide_query(&mut inner, call, form, now),
        };
        Plan {
            latency: Duration::from_millis(inner.knobs.latency_ms),
            date_offset_secs: inner.knobs.date_offset_secs,
            outcome,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }
}

impl From<Result<Outcome, AwsError>> for Outcome {
    fn from(result: Result<Outcome, AwsError>) -> Outcome {
        result.unwrap_or_else(Outcome::Error)
    }
}

impl From<Result<Outcome, StsError>> for Outcome {
    fn from(result: Result<Outcome, StsError>) -> Outcome {
        result.unwrap_or_else(Outcome::StsError)
    }
}

/// The checks every API request passes, shared by both protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    ServerError,
    UnknownKey,
    ExpiredKey,
}

impl Inner {
    /// `fail_next`, rejected keys, and the state of temporary credentials, in that order.
    fn gate(&mut self, credential: &Credential, token: Option<&str>, now: u64) -> Option<Refusal> {
        if self.take_failure() {
            return Some(Refusal::ServerError);
        }
        self.check_key(credential, token, now)
    }

    /// Consumes one `fail_next`, if any is left.
    fn take_failure(&mut self) -> bool {
        if self.knobs.fail_next > 0 {
            self.knobs.fail_next -= 1;
            return true;
        }
        false
    }

    /// Rejected keys, then the state of temporary credentials.
    fn check_key(&self, credential: &Credential, token: Option<&str>, now: u64) -> Option<Refusal> {
        if self.knobs.rejected_keys.contains(&credential.access_key_id) {
            return Some(Refusal::UnknownKey);
        }
        match self.session(&credential.access_key_id, token, now) {
            Ok(_) => None,
            Err(SessionProblem::Unknown) => Some(Refusal::UnknownKey),
            Err(SessionProblem::Expired) => Some(Refusal::ExpiredKey),
        }
    }

    /// The session of a temporary key (`None` for long-term keys).
    fn session(
        &self,
        access_key_id: &str,
        token: Option<&str>,
        now: u64,
    ) -> Result<Option<&Session>, SessionProblem> {
        if !access_key_id.starts_with(sts::TEMPORARY_KEY_PREFIX) {
            return Ok(None);
        }
        let session = self
            .sessions
            .get(access_key_id)
            .filter(|session| token == Some(session.session_token.as_str()))
            .ok_or(SessionProblem::Unknown)?;
        if now >= session.expiration {
            return Err(SessionProblem::Expired);
        }
        Ok(Some(session))
    }
}

fn decide_json(
    inner: &mut Inner,
    call: &Call,
    target: &Option<String>,
    body: &[u8],
    now: u64,
) -> Result<Outcome, AwsError> {
    let credential = call
        .credential
        .as_ref()
        .ok_or(AwsError::MissingAuthenticationToken)?;
    let operation = target
        .as_deref()
        .and_then(Operation::from_target)
        .ok_or(AwsError::UnknownOperation)?;
    if let Some(refusal) = inner.gate(credential, call.security_token.as_deref(), now) {
        return Err(match refusal {
            Refusal::ServerError => AwsError::Server,
            Refusal::UnknownKey => AwsError::UnrecognizedClient,
            Refusal::ExpiredKey => AwsError::ExpiredToken,
        });
    }
    let knobs = &inner.knobs;
    match knobs.mode {
        Mode::Ok => {}
        Mode::Hang => return Ok(Outcome::Hang),
        Mode::ServerError => return Err(AwsError::Server),
        Mode::Throttle => return Err(AwsError::Throttling),
        Mode::RejectKeys => return Err(AwsError::UnrecognizedClient),
        Mode::AccessDenied => return Err(AwsError::AccessDenied),
        Mode::SignatureExpired => return Err(AwsError::InvalidSignature),
        Mode::ExpiredToken => return Err(AwsError::ExpiredToken),
    }
    match operation {
        Operation::EcrDescribeImages => describe_images(knobs, credential, body),
        Operation::EcrGetAuthorizationToken | Operation::EcrPublicGetAuthorizationToken => {
            Ok(Outcome::Token {
                operation,
                region: credential.region.clone(),
                password: knobs.password.clone(),
                lifetime_secs: knobs.lifetime_secs,
            })
        }
    }
}

/// Prefix of the `nextToken`s the fake hands out; the rest is the index of the page's first
/// image.
const NEXT_TOKEN_PREFIX: &str = "fake-page-from-";

/// DescribeImages: a key of `images_denied_keys` -> `AccessDeniedException`; an unknown
/// repository -> `RepositoryNotFoundException`; a `nextToken` the fake did not hand out ->
/// `InvalidParameterException`; else the page at the token, at most `images_page_size` (or
/// `maxResults`, if smaller) images, with a `nextToken` unless it is the last.
fn describe_images(
    knobs: &Knobs,
    credential: &Credential,
    body: &[u8],
) -> Result<Outcome, AwsError> {
    if knobs.images_denied_keys.contains(&credential.access_key_id) {
        return Err(AwsError::DescribeImagesDenied);
    }
    let request = ImagesRequest::parse(body)?;
    let images = knobs
        .repositories
        .get(&request.repository_name)
        .ok_or(AwsError::RepositoryNotFound)?;
    let start = match &request.next_token {
        None => 0,
        Some(token) => token
            .strip_prefix(NEXT_TOKEN_PREFIX)
            .and_then(|index| index.parse::<usize>().ok())
            .filter(|&index| index < images.len())
            .ok_or(AwsError::InvalidParameter)?,
    };
    let size = knobs
        .images_page_size
        .min(request.max_results.unwrap_or(usize::MAX))
        .max(1);
    let end = images.len().min(start + size);
    Ok(Outcome::Images(ImagesPage {
        registry_id: request
            .registry_id
            .unwrap_or_else(|| DEFAULT_REGISTRY_ID.to_owned()),
        repository: request.repository_name,
        images: images[start..end].to_vec(),
        next_token: (end < images.len()).then(|| format!("{NEXT_TOKEN_PREFIX}{end}")),
    }))
}

fn decide_query(inner: &mut Inner, call: &Call, form: &Form, now: u64) -> Outcome {
    let action = form.action().map(|name| (name, Action::from_name(name)));
    let outcome = Outcome::from(decide_sts(inner, call, action, form, now));
    match action {
        Some((_, Some(Action::AssumeRole))) => record_assume_role(inner, call, form, &outcome),
        Some((_, Some(Action::AssumeRoleWithWebIdentity))) => {
            record_web_identity(inner, call, form, &outcome)
        }
        _ => {}
    }
    outcome
}

fn decide_sts(
    inner: &mut Inner,
    call: &Call,
    action: Option<(&str, Option<Action>)>,
    form: &Form,
    now: u64,
) -> Result<Outcome, StsError> {
    if let Some((_, Some(Action::AssumeRoleWithWebIdentity))) = action {
        return decide_web_identity(inner, call, form, now);
    }
    let credential = call
        .credential
        .as_ref()
        .ok_or(StsError::MissingAuthenticationToken)?;
    let action = match action {
        None => return Err(StsError::MissingAction),
        Some((name, None)) => return Err(StsError::InvalidAction(name.to_owned())),
        Some((_, Some(action))) => action,
    };
    let token = call.security_token.as_deref();
    if let Some(refusal) = inner.gate(credential, token, now) {
        return Err(match refusal {
            Refusal::ServerError => StsError::InternalFailure,
            Refusal::UnknownKey => StsError::InvalidClientTokenId,
            Refusal::ExpiredKey => StsError::ExpiredToken,
        });
    }
    let role_arn = || form.get("RoleArn").unwrap_or_default().to_owned();
    match inner.knobs.mode {
        Mode::Ok => {}
        Mode::Hang => return Ok(Outcome::Hang),
        Mode::ServerError => return Err(StsError::InternalFailure),
        Mode::Throttle => return Err(StsError::Throttling),
        Mode::RejectKeys => return Err(StsError::InvalidClientTokenId),
        Mode::AccessDenied => return Err(StsError::AccessDenied(role_arn())),
        Mode::SignatureExpired => return Err(StsError::SignatureExpired),
        Mode::ExpiredToken => return Err(StsError::ExpiredToken),
    }
    match action {
        Action::GetCallerIdentity => {
            let session = inner
                .session(&credential.access_key_id, token, now)
                .ok()
                .flatten();
            Ok(Outcome::CallerIdentity(match session {
                Some(session) => CallerIdentity::assumed(&session.user),
                None => CallerIdentity::user(&credential.access_key_id),
            }))
        }
        Action::AssumeRole => assume_role(inner, form, now),
        Action::AssumeRoleWithWebIdentity => unreachable!("answered by decide_web_identity"),
    }
}

/// AssumeRoleWithWebIdentity: unsigned or signed, see the module's rules.
fn decide_web_identity(
    inner: &mut Inner,
    call: &Call,
    form: &Form,
    now: u64,
) -> Result<Outcome, StsError> {
    if inner.take_failure() {
        return Err(StsError::InternalFailure);
    }
    if let Some(credential) = &call.credential
        && let Some(refusal) = inner.check_key(credential, call.security_token.as_deref(), now)
    {
        return Err(match refusal {
            Refusal::ServerError => StsError::InternalFailure,
            Refusal::UnknownKey => StsError::InvalidClientTokenId,
            Refusal::ExpiredKey => StsError::ExpiredToken,
        });
    }
    match inner.knobs.mode {
        Mode::Ok => {}
        Mode::Hang => return Ok(Outcome::Hang),
        Mode::ServerError => return Err(StsError::InternalFailure),
        Mode::Throttle => return Err(StsError::Throttling),
        Mode::RejectKeys => return Err(StsError::InvalidIdentityToken(REJECTED.to_owned())),
        Mode::AccessDenied => return Err(StsError::WebIdentityAccessDenied),
        Mode::SignatureExpired | Mode::ExpiredToken => {
            return Err(StsError::ExpiredIdentityToken);
        }
    }
    let request = WebIdentityParams::from_form(form).validate()?;
    let subject = &request.claims.subject;
    if request.claims.expires.is_some_and(|exp| now >= exp) {
        return Err(StsError::ExpiredIdentityToken);
    }
    if inner.knobs.rejected_subjects.contains(subject) {
        return Err(StsError::InvalidIdentityToken(REJECTED.to_owned()));
    }
    if let Some(trusted) = inner.knobs.role_subjects.get(&request.role.arn)
        && !trusted.contains(subject)
    {
        return Err(StsError::WebIdentityAccessDenied);
    }
    let lifetime = inner
        .knobs
        .sts_duration_secs
        .or(request.duration_seconds)
        .unwrap_or(sts::DEFAULT_DURATION_SECS);
    inner.issued += 1;
    let credentials = TemporaryCredentials::issue_for_web_identity(
        &request.role,
        &request.session_name,
        subject,
        inner.issued,
        now.saturating_add(lifetime),
    );
    let user = request.role.assumed_user(&request.session_name);
    inner.sessions.insert(
        credentials.access_key_id.clone(),
        Session {
            user: user.clone(),
            session_token: credentials.session_token.clone(),
            expiration: credentials.expiration,
        },
    );
    Ok(Outcome::AssumedWithWebIdentity {
        credentials,
        user,
        claims: request.claims,
    })
}

/// What the fake answers a token it was told to reject (what STS says when it cannot check
/// the token against its issuer).
const REJECTED: &str = "Couldn't retrieve verification key from your identity provider, please \
    reference AssumeRoleWithWebIdentity documentation for requirements";

fn assume_role(inner: &mut Inner, form: &Form, now: u64) -> Result<Outcome, StsError> {
    let request = AssumeRoleParams::from_form(form).validate()?;
    if let Some(required) = inner.knobs.role_external_ids.get(&request.role.arn)
        && request.external_id.as_ref() != Some(required)
    {
        return Err(StsError::AccessDenied(request.role.arn));
    }
    let lifetime = inner
        .knobs
        .sts_duration_secs
        .or(request.duration_seconds)
        .unwrap_or(sts::DEFAULT_DURATION_SECS);
    inner.issued += 1;
    let credentials = TemporaryCredentials::issue(
        &request.role,
        &request.session_name,
        inner.issued,
        now.saturating_add(lifetime),
    );
    let user = request.role.assumed_user(&request.session_name);
    inner.sessions.insert(
        credentials.access_key_id.clone(),
        Session {
            user: user.clone(),
            session_token: credentials.session_token.clone(),
            expiration: credentials.expiration,
        },
    );
    *inner.stats.assumed.entry(request.role.arn).or_default() += 1;
    Ok(Outcome::Assumed { credentials, user })
}

fn record_assume_role(inner: &mut Inner, call: &Call, form: &Form, outcome: &Outcome) {
    let params = AssumeRoleParams::from_form(form);
    let (outcome, issued_access_key) = match outcome {
        Outcome::Assumed { credentials, .. } => {
            ("ok".to_owned(), Some(credentials.access_key_id.clone()))
        }
        Outcome::StsError(error) => (error.code().to_owned(), None),
        Outcome::Hang => ("hang".to_owned(), None),
        other => (format!("{other:?}"), None),
    };
    inner.stats.assume_role_requests.push(AssumeRoleRecord {
        role_arn: params.role_arn.unwrap_or_default(),
        session_name: params.session_name.unwrap_or_default(),
        external_id: params.external_id,
        duration_seconds: params.duration_seconds.and_then(|secs| secs.parse().ok()),
        access_key: call
            .credential
            .as_ref()
            .map(|credential| credential.access_key_id.clone()),
        outcome,
        issued_access_key,
    });
}

fn record_web_identity(inner: &mut Inner, call: &Call, form: &Form, outcome: &Outcome) {
    let params = WebIdentityParams::from_form(form);
    let claims = params.token.as_deref().and_then(Claims::of);
    let (outcome, issued_access_key) = match outcome {
        Outcome::AssumedWithWebIdentity { credentials, .. } => {
            ("ok".to_owned(), Some(credentials.access_key_id.clone()))
        }
        Outcome::StsError(error) => (error.code().to_owned(), None),
        Outcome::Hang => ("hang".to_owned(), None),
        other => (format!("{other:?}"), None),
    };
    inner.stats.web_identity_requests.push(WebIdentityRecord {
        role_arn: params.role_arn.unwrap_or_default(),
        session_name: params.session_name.unwrap_or_default(),
        subject: claims.as_ref().map(|claims| claims.subject.clone()),
        audience: claims.map(|claims| claims.audience),
        duration_seconds: params.duration_seconds.and_then(|secs| secs.parse().ok()),
        access_key: call
            .credential
            .as_ref()
            .map(|credential| credential.access_key_id.clone()),
        outcome,
        issued_access_key,
    });
}

/// Locks a mutex; a panic elsewhere while holding it leaves plain data that is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::wire::ECR_TARGET;

    fn call(key: &str) -> Call {
        Call {
            api: Api::Json {
                target: Some(ECR_TARGET.to_owned()),
                body: Vec::new(),
            },
            credential: Some(Credential {
                access_key_id: key.to_owned(),
                region: "us-east-1".to_owned(),
                service: "ecr".to_owned(),
            }),
            security_token: None,
        }
    }

    fn error_of(plan: Plan) -> Option<AwsError> {
        match plan.outcome {
            Outcome::Error(error) => Some(error),
            _ => None,
        }
    }

    #[test]
    fn fail_next_wins_then_runs_out() {
        let state = State::new(Knobs {
            fail_next: 1,
            rejected_keys: vec!["AKIABAD".to_owned()],
            ..Knobs::default()
        });
        assert_eq!(
            error_of(state.plan(&call("AKIABAD"))),
            Some(AwsError::Server)
        );
        assert_eq!(
            error_of(state.plan(&call("AKIABAD"))),
            Some(AwsError::UnrecognizedClient)
        );
        assert_eq!(error_of(state.plan(&call("AKIAGOOD"))), None);
    }

    #[test]
    fn missing_credentials_come_before_everything() {
        let state = State::new(Knobs {
            fail_next: 1,
            ..Knobs::default()
        });
        let anonymous = Call {
            credential: None,
            ..call("x")
        };
        assert_eq!(
            error_of(state.plan(&anonymous)),
            Some(AwsError::MissingAuthenticationToken)
        );
        assert_eq!(state.knobs().fail_next, 1, "fail_next is not consumed");
    }
}
