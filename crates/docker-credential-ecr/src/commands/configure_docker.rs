//! `configure-docker`: route registries to this helper in docker's config, and with `--podman`
//! and `--helm` in the containers `auth.json` and Helm's registry config.
//!
//! Every file is read and checked, and every host validated, before the first one is written,
//! so a bad host or an unreadable file changes nothing. The editing itself is
//! [`ecr_core::client_config`]'s; this module only picks the files and reports.
//!
//! With `--alias-of REGISTRY` the one host named is a registry alias ([`ecr_core::alias`]):
//! recorded in the product config (after every check, before any client's file), then routed
//! like a registry.

use anyhow::bail;
use clap::Args;
use ecr_core::alias::{self, AliasHost};
use ecr_core::client_config::{self, ClientConfig, HELPER, RouteReport};
use ecr_core::registry::Registry;
use ecr_core::{ConfigFile, Paths};

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
    /// Serve the one host named (a corporate name or a mirror in front of ECR, not ECR's own
    /// name) with this private ECR registry's token (ACCOUNT.dkr.ecr.REGION.amazonaws.com).
    #[arg(long, value_name = "REGISTRY")]
    pub alias_of: Option<String>,
    /// With --alias-of: accept a well-known public registry (docker.io, ghcr.io, ...) as the
    /// alias, which then receives the ECR token on every pull.
    #[arg(long, requires = "alias_of")]
    pub force: bool,
}

pub fn run(paths: &Paths, args: &ConfigureDockerArgs) -> anyhow::Result<()> {
    if args.hosts.is_empty() {
        bail!("name at least one registry host");
    }
    if let Some(target) = &args.alias_of {
        let [alias] = args.hosts.as_slice() else {
            bail!("--alias-of names the registry of one alias: name one host");
        };
        return add_alias(paths, args, alias, target, args.force, true);
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

/// Records `alias` of `target` in the product config and routes it in the clients' configs,
/// every file checked first (with `route` false, only records it). Also `add --alias`'s.
pub fn add_alias(
    paths: &Paths,
    args: &ConfigureDockerArgs,
    alias: &str,
    target: &str,
    force: bool,
    route: bool,
) -> anyhow::Result<()> {
    let (alias, target) = alias::check_new_alias(alias, target, force)?;
    if let Some(known) = alias.well_known_public() {
        eprintln!(
            "warning: {alias} is a public registry ({known}): every pull from it now carries {target}'s ECR token"
        );
    }
    let configs = match route {
        true => client_configs(args)?,
        false => Vec::new(),
    };
    for config in &configs {
        config.check()?;
    }
    let previous = record_alias(paths, &alias, &target, force)?;
    match previous {
        Some(previous) if previous == target => println!("{alias} is already an alias of {target}"),
        Some(previous) => println!("{alias} is now an alias of {target} (was of {previous})"),
        None => println!("{alias} is now an alias of {target}: its pulls use {target}'s token"),
    }
    for config in &configs {
        let report = config.route_aliases(std::slice::from_ref(&alias), HELPER)?;
        print_report(config, &report);
    }
    Ok(())
}

/// Writes the alias into the product config; the target it had before, if any. The alias host
/// receives the token of the identity bound to `target`: a target with no binding would hand
/// it whatever AWS identity the environment of each process that runs the helper holds, so it
/// is refused unless `force`.
fn record_alias(
    paths: &Paths,
    alias: &AliasHost,
    target: &Registry,
    force: bool,
) -> anyhow::Result<Option<Registry>> {
    let file = ConfigFile::new(paths.config_file());
    file.update(|config| {
        let bound = config.bindings.iter().any(|b| b.registry.matches(target));
        if !bound && !force {
            return Err(anyhow::anyhow!(
                "{target} has no binding, so {alias} would be sent the token of whatever AWS identity the environment holds: bind it first (`docker-credential-ecr add {target}`), or pass --force"
            ));
        }
        Ok(config.aliases.insert(alias.clone(), target.clone()))
    })?
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
