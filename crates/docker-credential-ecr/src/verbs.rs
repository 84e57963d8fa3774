//! The protocol's verbs, each a few lines over [`ecr_core::CredentialService`].

use std::time::Duration;

use ecr_core::bindings::RegistryMatch;
use ecr_core::config::SecretLocation;
use ecr_core::key_store::KeySetSecrets;
use ecr_core::keychain::KeychainAccess;
use ecr_core::onboarding::{self, NewKeySet, NewSource};
use ecr_core::registry::Registry;
use ecr_core::service::UserService;
use ecr_core::{ConfigFile, Deadline, GetError, Paths, Secret};

use crate::protocol::{self, CredentialsAnswer, Failure};

/// A `get` answers within this, whatever AWS does (docker and IDEs wait on it).
const GET_BUDGET: Duration = Duration::from_millis(8_500);

/// Past this, the watchdog answers for a `get` that is stuck in a blocking call.
const GET_HARD_LIMIT: Duration = Duration::from_millis(9_200);

/// `docker-credential-ecr version`'s line.
pub fn version_line() -> String {
    format!("docker-credential-ecr {}", env!("CARGO_PKG_VERSION"))
}

/// The service every verb and command uses: the product config's bindings, the refresh
/// margin, the key sets' secrets, and the runtime state.
pub fn service(paths: &Paths) -> Result<UserService, Failure> {
    UserService::open(paths, KeychainAccess::UNATTENDED).map_err(|e| Failure::error(e.to_string()))
}

/// `get`: one registry's credentials. An address that is not ECR is answered "not found"
/// before any keychain, cache or AWS work, unless the product config names it as an alias
/// (then it is its registry's `get`, answered with the address docker asked for); for ECR Public every failure is "not found"
/// with the cause on stderr (anonymous pulls of public images must keep working); whatever
/// the verb started (a `credential_process` and its children) is ended before a failure is
/// answered.
pub fn get(paths: &Paths) -> Result<(), Failure> {
    let deadline = Deadline::after(GET_BUDGET);
    let address = protocol::read_server_address()?;
    let gave_up = || {
        Failure::error(format!(
            "cannot get an ECR token for {address}: gave up after {:.1} s (something blocked: check the AWS config files and the network)",
            GET_HARD_LIMIT.as_secs_f32()
        ))
    };
    let registry = match Registry::parse(&address) {
        Ok(registry) => {
            let public = registry.is_public();
            crate::watchdog::arm(
                GET_HARD_LIMIT,
                match public {
                    true => gave_up().into_not_found(),
                    false => gave_up(),
                },
            );
            registry
        }
        Err(not_ecr) => {
            // The config's read is bounded too, and a host that is no alias stays "not found"
            // even when it blocks: docker must go on anonymously.
            crate::watchdog::arm(GET_HARD_LIMIT, gave_up().into_not_found());
            alias_target(paths, &address, not_ecr)?
        }
    };
    let public = registry.is_public();
    let for_registry = |failure: Failure| match public {
        true => failure.into_not_found(),
        false => failure,
    };
    crate::descendants::adopt_orphans();
    let answer = get_credentials(paths, registry, &address, deadline);
    if answer.is_err() {
        // Given up: a `credential_process` cut off by the deadline must not outlive the helper.
        // After an answer nothing is ended: a daemon a credential process started (gpg-agent)
        // is the user's, and the warm path pays for no scan of /proc.
        crate::descendants::end_all();
    }
    answer.map_err(for_registry)
}

/// The registry serving `address`, a host that is not ECR, when the product config names it as
/// an alias. Anything else is "not found" as before (a config that cannot be read too: a pull
/// from docker.io must not fail over it), but an alias entry that does not parse is an error
/// saying so.
fn alias_target(
    paths: &Paths,
    address: &str,
    not_ecr: ecr_core::registry::NotEcr,
) -> Result<Registry, Failure> {
    match ecr_core::warm::alias_of(paths, address) {
        Ok(Some(registry)) => {
            tracing::debug!(alias = %address.trim(), %registry, "an alias");
            Ok(registry)
        }
        Ok(None) => Err(Failure::not_ecr(not_ecr.to_string())),
        Err(rejected) => Err(Failure::error(format!(
            "cannot get an ECR token for {}: {rejected}",
            address.trim()
        ))),
    }
}

fn get_credentials(
    paths: &Paths,
    registry: Registry,
    address: &str,
    deadline: Deadline,
) -> Result<(), Failure> {
    let service = service(paths)?;
    match service.get_registry(registry, address, deadline) {
        Ok(credentials) => protocol::write_json(&CredentialsAnswer {
            server_url: &credentials.server_url,
            username: &credentials.username,
            secret: credentials.secret.expose(),
        }),
        Err(GetError::NotFound(reason)) => Err(Failure::not_found(reason)),
        Err(e) => Err(Failure::error(e.to_string())),
    }
}

pub fn store(paths: &Paths) -> Result<(), Failure> {
    let request = protocol::read_store_request()?;
    if request.username.starts_with("AKIA") || request.username.starts_with("ASIA") {
        return store_keys(paths, request);
    }
    service(paths)?
        .store(
            &request.server_url,
            &request.username,
            Secret::new(request.secret),
        )
        .map_err(|e| Failure::error(e.to_string()))
}

/// `store` with an access key id as the username: scriptable onboarding. The keys are verified,
/// kept in the keychain as a key set named after the registry's account, and bound to the
/// registry.
fn store_keys(paths: &Paths, request: protocol::StoreRequest) -> Result<(), Failure> {
    let registry =
        RegistryMatch::parse(&request.server_url).map_err(|e| Failure::error(e.to_string()))?;
    let name = registry
        .as_str()
        .split('.')
        .next()
        .unwrap_or("keys")
        .to_string();
    let keys = NewKeySet {
        name,
        access_key_id: request.username,
        secret: Secret::new(request.secret),
        role: None,
        location: SecretLocation::Keychain,
    };
    let secrets = KeySetSecrets::new(paths, KeychainAccess::INTERACTIVE);
    onboarding::add(
        &ConfigFile::new(paths.config_file()),
        &secrets,
        registry,
        NewSource::KeySet(keys),
        Some(None),
    )
    .map(|outcome| crate::commands::settle_tokens_after_add(paths, &outcome))
    .map_err(|e| Failure::error(e.to_string()))
}

pub fn erase(paths: &Paths) -> Result<(), Failure> {
    let address = protocol::read_server_address()?;
    let removed = service(paths)?
        .erase(&address)
        .map_err(|e| Failure::error(e.to_string()))?;
    tracing::info!(registry = %address, removed, "erased cached tokens");
    Ok(())
}

/// Bound registry hosts and registries with cached tokens, offline.
pub fn list(paths: &Paths) -> Result<(), Failure> {
    let service = service(paths)?;
    let registries: std::collections::BTreeMap<String, &str> = service
        .config()
        .bindings
        .iter()
        .filter(|b| !b.registry.is_pattern())
        .map(|b| b.registry.to_string())
        .chain(service.list())
        .map(|host| (host, ecr_core::service::ECR_USERNAME))
        .collect();
    protocol::write_json(&registries)
}
