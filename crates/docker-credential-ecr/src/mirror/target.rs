//! The target registry's credentials: docker's config file (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), resolved as docker resolves them (`ecr_mirror::docker_auth`).

use anyhow::bail;
use ecr_core::client_config::ClientConfig;
use ecr_mirror::docker_auth::{DockerConfig, DockerCredential};
use ecr_mirror::endpoint::Role;
use ecr_mirror::{Endpoint, HttpSettings, RegistryAuth};

/// Docker's config of this process's environment.
pub fn docker_config() -> anyhow::Result<DockerConfig> {
    let home = ecr_core::paths::home_dir().unwrap_or_default();
    let env = |name: &str| std::env::var(name).ok();
    let config = ClientConfig::docker(&env, &home);
    Ok(DockerConfig::load(config.path())?)
}

/// The target registry `host` with docker's credentials for it.
pub async fn endpoint(
    config: &DockerConfig,
    host: &str,
    http: &HttpSettings,
) -> anyhow::Result<Endpoint> {
    let resolved = config.credential_for(host).await?;
    let (auth, origin) = match resolved.credential {
        DockerCredential::Basic { username, password } => {
            (RegistryAuth::Basic(username, password), resolved.origin)
        }
        DockerCredential::Anonymous => (
            RegistryAuth::Anonymous,
            format!("no credentials for it: {}", resolved.origin),
        ),
        DockerCredential::IdentityToken => bail!(
            "{host}: docker holds an identity token for it ({}), which mirror cannot use; log in with a user name and password",
            resolved.origin
        ),
    };
    Ok(Endpoint::new(host, Role::Target, auth, origin, http).await?)
}
