//! The protocol's verbs, each a few lines over [`ecr_core::CredentialService`].

use std::time::Duration;

use ecr_core::aws::SdkTokenSource;
use ecr_core::{
    CredentialService, Deadline, GetError, Paths, RefreshPolicy, Secret, Settings, SystemClock,
    TokenCache,
};

use crate::protocol::{self, CredentialsAnswer, Failure};

/// A `get` answers within this, whatever AWS does (docker and IDEs wait on it).
const GET_BUDGET: Duration = Duration::from_millis(8_500);

/// Past this, the watchdog answers for a `get` that is stuck in a blocking call.
const GET_HARD_LIMIT: Duration = Duration::from_millis(9_200);

/// `docker-credential-ecr version`'s line.
pub fn version_line() -> String {
    format!("docker-credential-ecr {}", env!("CARGO_PKG_VERSION"))
}

fn service(paths: &Paths) -> Result<CredentialService<SdkTokenSource, SystemClock>, Failure> {
    let settings =
        Settings::load(&paths.config_file()).map_err(|e| Failure::error(e.to_string()))?;
    Ok(CredentialService::new(
        TokenCache::new(paths.token_cache_dir()),
        RefreshPolicy::new(settings.refresh_margin),
        SdkTokenSource,
        SystemClock,
    ))
}

pub fn get(paths: &Paths) -> Result<(), Failure> {
    let deadline = Deadline::after(GET_BUDGET);
    let address = protocol::read_server_address()?;
    crate::watchdog::arm(
        GET_HARD_LIMIT,
        format!(
            "cannot get an ECR token for {address}: gave up after {:.1} s (something blocked: check the AWS config files and the network)",
            GET_HARD_LIMIT.as_secs_f32()
        ),
    );
    let service = service(paths)?;
    match service.get(&address, deadline) {
        Ok(credentials) => protocol::write_json(&CredentialsAnswer {
            server_url: &credentials.server_url,
            username: &credentials.username,
            secret: credentials.secret.expose(),
        }),
        Err(GetError::NotEcr(reason)) => Err(Failure::not_ecr(reason.to_string())),
        Err(GetError::NotFound(reason)) => Err(Failure::not_found(reason)),
        // Anonymous pulls of public images must keep working: say why on stderr only.
        Err(e @ GetError::Fetch { .. }) if is_public(&e) => {
            Err(Failure::not_found_because(e.to_string()))
        }
        Err(e) => Err(Failure::error(e.to_string())),
    }
}

fn is_public(error: &GetError) -> bool {
    matches!(error, GetError::Fetch { registry, .. } if registry.is_public())
}

pub fn store(paths: &Paths) -> Result<(), Failure> {
    let request = protocol::read_store_request()?;
    service(paths)?
        .store(
            &request.server_url,
            &request.username,
            Secret::new(request.secret),
        )
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

pub fn list(paths: &Paths) -> Result<(), Failure> {
    let registries: std::collections::BTreeMap<String, &str> = service(paths)?
        .list()
        .into_iter()
        .map(|host| (host, ecr_core::service::ECR_USERNAME))
        .collect();
    protocol::write_json(&registries)
}
