//! The source registries' credentials: the ECR token a `get` of the host would answer (the
//! host's binding: key set, role, profile, else the default chain; a `docker login` token;
//! an alias's registry), fetched or taken from the cache by the product's own service.

use std::time::Duration;

use anyhow::bail;
use ecr_core::keychain::KeychainAccess;
use ecr_core::service::UserService;
use ecr_core::{Deadline, Paths, Registry};
use ecr_mirror::RegistryAuth;

/// How long getting one registry's token may take (a `get` allows 8.5 s; a copy waits longer).
const BUDGET: Duration = Duration::from_secs(30);

/// A source's credentials and how to name them in a message.
pub struct SourceAuth {
    pub auth: RegistryAuth,
    pub origin: String,
}

/// The credentials of ECR registry `host` (as in an image name), or of the registry an alias
/// `host` names.
pub fn credentials(paths: &Paths, host: &str) -> anyhow::Result<SourceAuth> {
    let registry = match Registry::parse(host) {
        Ok(registry) => registry,
        Err(not_ecr) => match ecr_core::warm::alias_of(paths, host) {
            Ok(Some(registry)) => registry,
            Ok(None) => bail!(
                "{host} is not an Amazon ECR registry ({not_ecr}): mirror copies from ECR with the product's credentials"
            ),
            Err(rejected) => bail!("{host}: {rejected}"),
        },
    };
    let service = UserService::open(paths, KeychainAccess::UNATTENDED)?;
    if let Some(rejected) = service.config().rejected_binding_for(&registry) {
        bail!("{registry}: {rejected}; fix or delete it by hand");
    }
    let credentials = service
        .get_registry(registry, host, Deadline::after(BUDGET))
        .map_err(|e| anyhow::anyhow!("cannot get an ECR token for {host}: {}", e.reason()))?;
    Ok(SourceAuth {
        auth: RegistryAuth::Basic(
            credentials.username,
            credentials.secret.expose().to_string(),
        ),
        origin: "the ECR token docker-credential-ecr got for it".to_string(),
    })
}
