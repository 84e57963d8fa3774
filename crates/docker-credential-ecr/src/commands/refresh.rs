//! `refresh`: fetch new tokens now, whatever the cache holds: one per identity and API
//! endpoint, however many of the registries share it.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use ecr_core::{CacheKey, Deadline, Paths, Registry};

use super::humanize;

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Registries to refresh (default: every bound registry host and every cached one).
    pub registries: Vec<String>,
}

pub fn run(paths: &Paths, args: &RefreshArgs) -> anyhow::Result<()> {
    let service =
        crate::verbs::service(paths).map_err(|f| anyhow::anyhow!(f.stdout_line().to_string()))?;
    let mut targets = args.registries.clone();
    if targets.is_empty() {
        targets = service
            .config()
            .bindings
            .iter()
            .filter(|b| !b.registry.is_pattern())
            .map(|b| b.registry.to_string())
            .chain(service.list())
            .collect();
        targets.sort();
        targets.dedup();
    }
    if targets.is_empty() {
        bail!(
            "nothing to refresh: no registry is bound or cached (see `docker-credential-ecr add --help`)"
        );
    }
    let mut failures = 0;
    // The cache key each refreshed token went under, with the registry it was refreshed for.
    let mut refreshed: Vec<(String, String)> = Vec::new();
    for target in &targets {
        let key = Registry::parse(target)
            .ok()
            .and_then(|registry| service.scope(registry).ok())
            .map(|scope| CacheKey::for_scope(&scope).as_str().to_string());
        if let Some((_, first)) = key
            .as_ref()
            .and_then(|key| refreshed.iter().find(|(k, _)| k == key))
        {
            println!("{target}: served by the new token of {first} (same identity and endpoint)");
            continue;
        }
        match service.refresh(target, Deadline::after(Duration::from_secs(20))) {
            Ok(token) => {
                println!(
                    "{target}: new token, valid for {}",
                    humanize(token.lifetime())
                );
                if let Some(key) = key {
                    refreshed.push((key, target.clone()));
                }
            }
            Err(e) => {
                failures += 1;
                eprintln!("{target}: {}", e.reason());
            }
        }
    }
    if failures > 0 {
        bail!(
            "{failures} of {} registries could not be refreshed",
            targets.len()
        );
    }
    Ok(())
}
