//! `refresh`: fetch new tokens now, whatever the cache holds.

use std::time::Duration;

use anyhow::bail;
use clap::Args;
use ecr_core::{Deadline, Paths};

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
    for target in &targets {
        match service.refresh(target, Deadline::after(Duration::from_secs(20))) {
            Ok(token) => println!(
                "{target}: new token, valid for {}",
                humanize(token.lifetime())
            ),
            Err(e) => {
                failures += 1;
                eprintln!("{target}: {e}");
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
