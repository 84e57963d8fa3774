//! `configure-docker`: route registries to this helper in docker's config, and with `--podman`
//! and `--helm` in the containers `auth.json` and Helm's registry config.
//!
//! Every file is read and checked, and every host validated, before the first one is written,
//! so a bad host or an unreadable file changes nothing. The editing itself is
//! [`ecr_core::client_config`]'s; this module only picks the files and reports.

use anyhow::bail;
use clap::Args;
use ecr_core::client_config::{self, ClientConfig, HELPER, RouteReport};

#[derive(Debug, Args)]
pub struct ConfigureDockerArgs {
    /// The registry hosts to route (123456789012.dkr.ecr.eu-central-1.amazonaws.com); exact
    /// hosts only, as clients match them exactly.
    pub hosts: Vec<String>,
    /// Also route them for podman, skopeo and buildah ($REGISTRY_AUTH_FILE, else
    /// ~/.config/containers/auth.json).
    #[arg(long)]
    pub podman: bool,
    /// Also route them for Helm ($HELM_REGISTRY_CONFIG, else Helm's registry/config.json).
    #[arg(long)]
    pub helm: bool,
}

pub fn run(args: &ConfigureDockerArgs) -> anyhow::Result<()> {
    if args.hosts.is_empty() {
        bail!("name at least one registry host");
    }
    let hosts = client_config::canonical_hosts(&args.hosts)?;
    let configs = client_configs(args)?;
    for config in &configs {
        config.check()?;
    }
    for config in &configs {
        let report = config.route(&hosts, HELPER)?;
        print_report(config, &report);
    }
    Ok(())
}

/// The files to edit: docker's always, then the ones asked for.
fn client_configs(args: &ConfigureDockerArgs) -> anyhow::Result<Vec<ClientConfig>> {
    let env = |name: &str| std::env::var(name).ok();
    let home = super::home_dir()?;
    let mut configs = vec![ClientConfig::docker(&env, &home)];
    if args.podman {
        configs.push(ClientConfig::containers(&env, &home));
    }
    if args.helm {
        configs.push(ClientConfig::helm(&env, &home));
    }
    Ok(configs)
}

/// One line on stdout for the file; what might get in the helper's way on stderr.
fn print_report(config: &ClientConfig, report: &RouteReport) {
    let path = config.path().display();
    let routed: Vec<&str> = report
        .added
        .iter()
        .chain(report.replaced.iter().map(|(host, _)| host))
        .map(String::as_str)
        .collect();
    let unchanged = report.unchanged.join(", ");
    match (routed.is_empty(), unchanged.is_empty()) {
        (true, _) => println!("already routed in {path}: {unchanged}"),
        (false, true) => println!("routed {} in {path}", routed.join(", ")),
        (false, false) => println!(
            "routed {} in {path} ({unchanged} already routed)",
            routed.join(", ")
        ),
    }
    for (host, previous) in &report.replaced {
        eprintln!(
            "warning: {path}: {host} was routed to docker-credential-{previous}; it now uses docker-credential-{HELPER}"
        );
    }
    for warning in &report.warnings {
        eprintln!("warning: {path}: {warning}");
    }
}
