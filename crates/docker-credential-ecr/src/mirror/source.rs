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
/// How long listing a repository's tags may take (every page).
const TAGS_BUDGET: Duration = Duration::from_secs(60);

/// A source's credentials, how to name them in a message, and until when a `get` would serve
/// them without a refresh.
pub struct SourceAuth {
    pub auth: RegistryAuth,
    pub origin: String,
    pub fresh_until: std::time::SystemTime,
}

/// The credentials of ECR registry `host` (as in an image name), or of the registry an alias
/// `host` names.
pub fn credentials(paths: &Paths, host: &str) -> anyhow::Result<SourceAuth> {
    let registry = registry_of(paths, host)?;
    // `get_registry` refuses a binding that does not parse, as a `get` does.
    let service = UserService::open(paths, KeychainAccess::UNATTENDED)?;
    let credentials = service
        .get_registry(registry, host, Deadline::after(BUDGET))
        .map_err(|e| anyhow::anyhow!("cannot get an ECR token for {host}: {}", e.reason()))?;
    Ok(SourceAuth {
        fresh_until: credentials.fresh_until,
        auth: RegistryAuth::Basic(
            credentials.username,
            credentials.secret.expose().to_string(),
        ),
        origin: "the ECR token docker-credential-ecr got for it".to_string(),
    })
}

/// Every tag of `repository` in ECR registry `host` (or an alias's), newest image first, as
/// ECR's `DescribeImages` lists them to the identity a `get` uses.
pub fn tags(paths: &Paths, host: &str, repository: &str) -> anyhow::Result<Vec<String>> {
    let registry = registry_of(paths, host)?;
    let images = ecr_core::aws::images::list_tagged(
        paths,
        registry,
        repository,
        Deadline::after(TAGS_BUDGET),
    )
    .map_err(|e| anyhow::anyhow!("cannot list the tags of {host}/{repository}: {e}"))?;
    let mut seen = std::collections::HashSet::new();
    Ok(images
        .into_iter()
        .flat_map(|image| image.tags)
        .filter(|tag| seen.insert(tag.clone()))
        .collect())
}

/// The ECR registry `host` names, itself or as an alias.
fn registry_of(paths: &Paths, host: &str) -> anyhow::Result<Registry> {
    Ok(match Registry::parse(host) {
        Ok(registry) => registry,
        Err(not_ecr) => match ecr_core::warm::alias_of(paths, host) {
            Ok(Some(registry)) => registry,
            Ok(None) => bail!(
                "{host} is not an Amazon ECR registry ({not_ecr}): mirror copies from ECR with the product's credentials"
            ),
            Err(rejected) => bail!("{host}: {rejected}"),
        },
    })
}
