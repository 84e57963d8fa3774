//! `remove`: undo `add` for a registry (or a whole key set): the binding, the key set once
//! nothing uses it, the tokens cached for them, and the docker, podman and helm routes the
//! product wrote. The only command that deletes keys.

use clap::Args;
use ecr_core::client_config::{self, ClientConfig};
use ecr_core::key_store::KeySetSecrets;
use ecr_core::onboarding;
use ecr_core::{ConfigFile, Paths, TokenCache};

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// A bound registry (or pattern), or the name of a key set (removes all its bindings).
    pub target: String,
    /// Set from the global --config-dir: `add` did not route docker then, so `remove` leaves
    /// the clients' configs alone too (their routes belong to the user's own bindings).
    #[arg(skip)]
    pub config_dir_option: bool,
}

pub fn run(paths: &Paths, args: &RemoveArgs) -> anyhow::Result<()> {
    let secrets = KeySetSecrets::new(paths, ecr_core::keychain::KeychainAccess::INTERACTIVE);
    let outcome = onboarding::remove(
        &ConfigFile::new(paths.config_file()),
        &secrets,
        &args.target,
    )?;
    let hosts: Vec<String> = outcome
        .removed_bindings
        .iter()
        .filter(|b| !b.registry.is_pattern())
        .map(|b| b.registry.to_string())
        .collect();
    for binding in &outcome.removed_bindings {
        println!(
            "removed the binding of {} ({})",
            binding.registry, binding.source
        );
    }
    for name in &outcome.deleted_key_sets {
        println!("deleted the keys of {name}: no binding uses them any more");
    }
    let cache = TokenCache::new(paths.token_cache_dir());
    let erased =
        onboarding::erase_tokens(&cache, &outcome.removed_bindings, &outcome.deleted_key_sets)?;
    if erased > 0 {
        println!("erased {erased} cached token(s)");
    }
    if !hosts.is_empty() && !args.config_dir_option {
        let env = |name: &str| std::env::var(name).ok();
        let home = super::home_dir()?;
        for client in [
            ClientConfig::docker(&env, &home),
            ClientConfig::containers(&env, &home),
            ClientConfig::helm(&env, &home),
        ] {
            for host in client.unroute(&hosts, client_config::HELPER)? {
                println!("unrouted {host} in {}", client.path().display());
            }
        }
    }
    Ok(())
}
