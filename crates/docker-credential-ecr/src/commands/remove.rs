//! `remove`: undo `add` for a registry (or a whole key set): the binding, the key set once
//! nothing uses it, the tokens cached for them, and the docker, podman and helm routes the
//! product wrote. The only command that deletes keys.
//!
//! `remove ALIAS` forgets a registry alias and its routes; `remove REGISTRY` forgets the
//! registry's aliases with its binding (they would otherwise go on serving its token through
//! the default AWS chain).

use clap::Args;
use ecr_core::alias::AliasHost;
use ecr_core::client_config::{self, ClientConfig};
use ecr_core::key_store::KeySetSecrets;
use ecr_core::onboarding;
use ecr_core::registry::Registry;
use ecr_core::{ConfigFile, Paths, TokenCache};

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// A bound registry (or pattern; its aliases go too), a registry alias, or the name of a
    /// key set (removes all its bindings).
    pub target: String,
    /// Set from the global --config-dir: `add` did not route docker then, so `remove` leaves
    /// the clients' configs alone too (their routes belong to the user's own bindings).
    #[arg(skip)]
    pub config_dir_option: bool,
}

pub fn run(paths: &Paths, args: &RemoveArgs) -> anyhow::Result<()> {
    let file = ConfigFile::new(paths.config_file());
    if let Some(alias) = known_alias(&file, &args.target)? {
        let removed = remove_aliases(&file, |host, _, _| *host == alias)?;
        return unroute_aliases(args, &removed);
    }
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
    // The aliases the removed bindings served (a pattern's too) that no binding serves now:
    // else they would go on serving their registry's token through the default AWS chain.
    let aliases = match outcome.removed_bindings.is_empty() {
        true => Vec::new(),
        false => remove_aliases(&file, |_, target, config| {
            outcome
                .removed_bindings
                .iter()
                .any(|b| b.registry.matches(target))
                && !config.bindings.iter().any(|b| b.registry.matches(target))
        })?,
    };
    unroute_aliases(args, &aliases)?;
    if !hosts.is_empty() && !args.config_dir_option {
        for client in clients()? {
            for host in client.unroute(&hosts, client_config::HELPER)? {
                println!("unrouted {host} in {}", client.path().display());
            }
        }
    }
    Ok(())
}

/// `target` as an alias the product config holds, if it is one (an ECR host never is).
fn known_alias(file: &ConfigFile, target: &str) -> anyhow::Result<Option<AliasHost>> {
    if Registry::parse(target).is_ok() {
        return Ok(None);
    }
    let Ok(alias) = AliasHost::parse(target) else {
        return Ok(None);
    };
    Ok(file.load()?.aliases.contains_key(&alias).then_some(alias))
}

/// Forgets the aliases `which` picks, in one update; the ones removed.
fn remove_aliases(
    file: &ConfigFile,
    which: impl Fn(&AliasHost, &Registry, &ecr_core::ProductConfig) -> bool,
) -> anyhow::Result<Vec<AliasHost>> {
    let removed = file.update(|config| {
        let aliases = std::mem::take(&mut config.aliases);
        let (gone, kept) = aliases
            .into_iter()
            .partition(|(alias, target)| which(alias, target, config));
        config.aliases = kept;
        Ok::<_, std::convert::Infallible>(gone.into_keys().collect::<Vec<_>>())
    })?;
    let removed = removed.unwrap_or_else(|never| match never {});
    for alias in &removed {
        println!("removed the alias {alias}");
    }
    Ok(removed)
}

/// Takes the routes of `aliases` out of the clients' configs (not with --config-dir, as for
/// registries).
fn unroute_aliases(args: &RemoveArgs, aliases: &[AliasHost]) -> anyhow::Result<()> {
    if aliases.is_empty() || args.config_dir_option {
        return Ok(());
    }
    for client in clients()? {
        for host in client.unroute_aliases(aliases, client_config::HELPER)? {
            println!("unrouted {host} in {}", client.path().display());
        }
    }
    Ok(())
}

/// The clients' configs `add` and `configure-docker` route registries in: docker's, the
/// containers tools', Helm's.
fn clients() -> anyhow::Result<[ClientConfig; 3]> {
    let env = |name: &str| std::env::var(name).ok();
    let home = super::home_dir()?;
    Ok([
        ClientConfig::docker(&env, &home),
        ClientConfig::containers(&env, &home),
        ClientConfig::helm(&env, &home),
    ])
}
