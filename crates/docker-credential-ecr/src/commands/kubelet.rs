//! `kubelet-credential-provider`: the kubelet's image credential provider plugin. The kubelet
//! starts it once per pull it has no cached credentials for, writes a
//! `CredentialProviderRequest` on stdin and reads a `CredentialProviderResponse` on stdout
//! ([`ecr_core::kubelet`] owns both documents).
//!
//! The token comes from the same service as `get`'s (bindings, key sets, roles, the cache and
//! its single flight: concurrent pulls of one identity and endpoint make one API call). An
//! image that is not ECR gets an empty `auth` and exit 0; so does ECR Public when no token can
//! be had (its images pull anonymously). Any other failure is one line on stderr, nothing on
//! stdout, and exit 1: the kubelet logs the line and pulls without credentials.
//!
//! # Service accounts
//!
//! When the request carries the pod's service-account token (`tokenAttributes` in the
//! provider config) and the service account's annotations name a role
//! ([`ecr_core::service_account::ROLE_ANNOTATION`] or the AWS provider's
//! [`ecr_core::service_account::AWS_PROVIDER_ROLE_ANNOTATION`]), the token is exchanged with
//! STS `AssumeRoleWithWebIdentity` for that role, and the ECR token it buys is cached per role
//! and token subject, never shared across service accounts
//! ([`ecr_core::CredentialService::get_for_service_account`]). A token with no role annotation
//! pulls with the node's own binding for the registry, as a request without a token does (the
//! kubelet sends tokens to every pull once `tokenAttributes` is set, and a service account that
//! names no role has asked for nothing else). A role annotation with no token is an error: the
//! provider config lacks `tokenAttributes`, and pulling with the node's identity instead would
//! give the pod another identity than the one it asked for.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use ecr_core::kubelet::{
    AuthConfig, CacheKeyType, CredentialProviderRequest, CredentialProviderResponse,
};
use ecr_core::registry::Registry;
use ecr_core::service::Credentials;
use ecr_core::service_account;
use ecr_core::{Deadline, GetError, Paths, Secret};

/// How long one request may take. The kubelet waits on the plugin for a minute; the pull
/// waits on the answer, so a stuck AWS call gives up well before that.
const BUDGET: Duration = Duration::from_secs(20);

/// Past this, the watchdog answers for a request stuck in a blocking call (a config file on a
/// hung mount, a `credential_process`): one line on stderr, exit 1.
const HARD_LIMIT: Duration = Duration::from_secs(25);

/// Why a request gets no credentials.
enum Refusal {
    /// The request itself is wrong (malformed, or its service account's annotations): never
    /// answered with anonymous access, whatever the registry.
    Request(String),
    /// No token could be had for it.
    Token(String),
}

/// Answers the request on stdin.
pub fn run(paths: &Paths) -> ExitCode {
    crate::watchdog::arm_with(HARD_LIMIT, || {
        eprintln!(
            "docker-credential-ecr: no ECR token after {} s (something blocked: check the AWS config files and the network)",
            HARD_LIMIT.as_secs()
        );
    });
    match respond(paths) {
        Ok(response) => write_response(&response),
        Err(Refusal::Request(message) | Refusal::Token(message)) => {
            let Some(_claim) = crate::watchdog::claim() else {
                return ExitCode::FAILURE;
            };
            tracing::warn!("kubelet-credential-provider: {message}");
            eprintln!("docker-credential-ecr: {message}");
            ExitCode::FAILURE
        }
    }
}

fn respond(paths: &Paths) -> Result<CredentialProviderResponse, Refusal> {
    let input =
        crate::protocol::read_input().map_err(|f| Refusal::Request(f.stdout_line().to_string()))?;
    let request =
        CredentialProviderRequest::parse(&input).map_err(|e| Refusal::Request(e.to_string()))?;
    let host = request.registry_host();
    let Some(registry) = registry_of(paths, host)? else {
        tracing::info!(host, "not an ECR registry: answering no credentials");
        return Ok(CredentialProviderResponse::empty(request.api_version));
    };
    let public = registry.is_public();
    match credentials(paths, registry, host, &request) {
        Ok(credentials) => Ok(response_of(&request, host, credentials, SystemTime::now())),
        Err(Refusal::Token(message)) if public => {
            tracing::warn!(host, "{message}; ECR Public pulls anonymously");
            Ok(CredentialProviderResponse::empty(request.api_version))
        }
        Err(refusal) => Err(refusal),
    }
}

/// The ECR registry whose token serves `host`: the host itself, or the registry the product
/// config names it an alias of (a corporate name or a mirror in front of ECR); `None` for any
/// other host. An alias entry that does not parse is an error, not anonymous access.
fn registry_of(paths: &Paths, host: &str) -> Result<Option<Registry>, Refusal> {
    if let Ok(registry) = Registry::parse(host) {
        return Ok(Some(registry));
    }
    ecr_core::warm::alias_of(paths, host)
        .map_err(|rejected| Refusal::Request(format!("{host}: {rejected}")))
}

fn credentials(
    paths: &Paths,
    registry: Registry,
    host: &str,
    request: &CredentialProviderRequest,
) -> Result<Credentials, Refusal> {
    let deadline = Deadline::after(BUDGET);
    let service_account = service_account_identity(request).map_err(Refusal::Request)?;
    crate::descendants::adopt_orphans();
    let service =
        crate::verbs::service(paths).map_err(|f| Refusal::Request(f.stdout_line().to_string()))?;
    let result = match service_account {
        Some((role_arn, token)) => {
            service.get_for_service_account(registry, host, &role_arn, token, deadline)
        }
        None => service.get_registry(registry, host, deadline),
    };
    let result = result.map_err(|e| match e {
        GetError::NotFound(reason) => Refusal::Token(reason),
        other => Refusal::Token(other.to_string()),
    });
    if result.is_err() {
        // A `credential_process` cut off by the deadline must not outlive the plugin.
        crate::descendants::end_all();
    }
    result
}

/// The role and token a request pulls with when it is its service account's (see the module
/// doc), `None` when the node's own binding serves it.
fn service_account_identity(
    request: &CredentialProviderRequest,
) -> Result<Option<(String, Secret)>, String> {
    let role = service_account::role_arn(&request.service_account_annotations)
        .map_err(|e| e.to_string())?;
    match (role, &request.service_account_token) {
        (Some(role), Some(token)) => Ok(Some((role, token.clone()))),
        (Some(role), None) => Err(format!(
            "the service account names role {role:?} but the request carries no service account token: add tokenAttributes (serviceAccountTokenAudience, cacheType: ServiceAccount, optionalServiceAccountAnnotationKeys: [{}, {}]) to this provider in the kubelet's CredentialProviderConfig",
            service_account::ROLE_ANNOTATION,
            service_account::AWS_PROVIDER_ROLE_ANNOTATION
        )),
        (None, _) => Ok(None),
    }
}

/// The response for `host`: the kubelet keeps it while the token is fresh, and asks again
/// when the service would refresh it.
fn response_of(
    request: &CredentialProviderRequest,
    host: &str,
    credentials: Credentials,
    now: SystemTime,
) -> CredentialProviderResponse {
    let keep = credentials
        .fresh_until
        .duration_since(now)
        .unwrap_or(Duration::ZERO);
    let auth = BTreeMap::from([(
        host.to_string(),
        AuthConfig {
            username: credentials.username,
            password: credentials.secret,
        },
    )]);
    CredentialProviderResponse {
        api_version: request.api_version,
        cache_key_type: CacheKeyType::Registry,
        cache_duration: Some(keep),
        auth,
    }
}

fn write_response(response: &CredentialProviderResponse) -> ExitCode {
    let Some(_claim) = crate::watchdog::claim() else {
        // The watchdog answered already and is ending the process.
        return ExitCode::FAILURE;
    };
    let mut line = response.to_json();
    line.push('\n');
    let mut out = std::io::stdout().lock();
    match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("docker-credential-ecr: cannot write the response: {e}");
            ExitCode::FAILURE
        }
    }
}
