//! `add`: keep a vendor's keys (or name an AWS profile) for a registry, verified first, and
//! route the registry to this helper in docker's config.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ecr_core::bindings::RegistryMatch;
use ecr_core::config::{RoleConfig, SecretLocation};
use ecr_core::key_store::KeySetSecrets;
use ecr_core::onboarding::{self, NewKeySet, NewSource, mask_key_id};
use ecr_core::{ConfigFile, Paths, Secret};

/// Where `add` keeps the secret key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreChoice {
    /// The OS keychain (default).
    Keychain,
    /// A 0600 plaintext file in the config directory, for hosts without a keychain.
    File,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The registry host (123456789012.dkr.ecr.eu-central-1.amazonaws.com), or an account
    /// pattern with `*` for the region (123456789012.dkr.ecr.*.amazonaws.com).
    pub registry: String,
    /// A name for these keys, usually the vendor's (default: the registry's account id).
    #[arg(long)]
    pub name: Option<String>,
    /// The access key id (AKIA...); the secret then comes alone on stdin or the prompt.
    #[arg(long)]
    pub access_key_id: Option<String>,
    /// A role to assume with the keys (arn:aws:iam::ACCOUNT:role/NAME).
    #[arg(long)]
    pub role_arn: Option<String>,
    /// The external id the vendor gave for the role.
    #[arg(long, requires = "role_arn")]
    pub external_id: Option<String>,
    /// The role session name (default: docker-credential-ecr).
    #[arg(long, requires = "role_arn")]
    pub session_name: Option<String>,
    /// Use this AWS profile (from ~/.aws/config) for the registry instead of storing keys.
    #[arg(long, conflicts_with_all = ["access_key_id", "role_arn", "from_env", "store"])]
    pub profile: Option<String>,
    /// Take the keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    #[arg(long, conflicts_with = "access_key_id")]
    pub from_env: bool,
    /// Where to keep the secret key.
    #[arg(long, value_enum, default_value_t = StoreChoice::Keychain)]
    pub store: StoreChoice,
    /// The region a pattern is verified in (default: the first region of its partition).
    #[arg(long)]
    pub region: Option<String>,
    /// Save without fetching a token first.
    #[arg(long)]
    pub no_verify: bool,
    /// Do not route the registry to this helper in docker's config.
    #[arg(long)]
    pub no_configure: bool,
    /// Also serve HOST (a corporate name or a mirror in front of the registry, not ECR's own
    /// name) with the registry's token, and route it like the registry; repeatable.
    #[arg(long, value_name = "HOST")]
    pub alias: Vec<String>,
    /// With --alias: accept a well-known public registry (docker.io, ghcr.io, ...) as an alias.
    #[arg(long, requires = "alias")]
    pub force: bool,
    /// Set from the global --config-dir: docker, which runs the helper without it, is not
    /// routed (a node's bindings are the kubelet's).
    #[arg(skip)]
    pub config_dir_option: bool,
}

pub fn run(paths: &Paths, args: &AddArgs) -> anyhow::Result<()> {
    let registry = RegistryMatch::parse(&args.registry)?;
    // Every alias is checked before the keys are.
    for alias in &args.alias {
        ecr_core::alias::check_new_alias(alias, registry.as_str(), args.force)?;
    }
    let source = match &args.profile {
        Some(profile) => NewSource::Profile(profile.clone()),
        None => NewSource::KeySet(read_keys(args, &registry)?),
    };
    let described = describe(&source);
    let secrets = KeySetSecrets::new(paths, ecr_core::keychain::KeychainAccess::INTERACTIVE);
    let verify = (!args.no_verify).then_some(args.region.as_deref());
    let outcome = onboarding::add(
        &ConfigFile::new(paths.config_file()),
        &secrets,
        registry.clone(),
        source,
        verify,
    )?;
    super::settle_tokens_after_add(paths, &outcome);
    for name in &outcome.deleted_key_sets {
        println!("deleted the keys of {name}: no binding uses them any more");
    }
    let verb = if outcome.rotated_key_set {
        "replaced the keys of"
    } else {
        "bound"
    };
    println!(
        "{verb} {registry}: {described}{}",
        if outcome.verified {
            " (verified: a token was fetched)"
        } else {
            " (not verified)"
        }
    );
    let route = !args.no_configure && !args.config_dir_option;
    for alias in &args.alias {
        let routing = super::configure_docker::ConfigureDockerArgs {
            hosts: vec![alias.clone()],
            podman: false,
            helm: false,
            alias_of: Some(registry.to_string()),
            force: args.force,
        };
        super::configure_docker::add_alias(
            paths,
            &routing,
            alias,
            registry.as_str(),
            args.force,
            route,
        )
        .context("the binding is saved, but the alias was not")?;
    }
    if args.no_configure {
        return Ok(());
    }
    if args.config_dir_option {
        println!(
            "docker's config is unchanged: docker runs the helper without --config-dir, so these keys serve whatever runs it with that directory (the kubelet's provider config names it)"
        );
        return Ok(());
    }
    if registry.is_pattern() {
        println!(
            "docker routes by exact host: run `docker-credential-ecr configure-docker HOST` for each host of {registry} you pull from"
        );
        return Ok(());
    }
    let routing = super::configure_docker::ConfigureDockerArgs {
        hosts: vec![registry.to_string()],
        podman: false,
        helm: false,
        alias_of: None,
        force: false,
    };
    super::configure_docker::run(paths, &routing)
        .context("the binding is saved, but docker's config was not changed")
}

fn describe(source: &NewSource) -> String {
    match source {
        NewSource::KeySet(keys) => {
            let mut text = format!(
                "key set {} ({})",
                keys.name,
                mask_key_id(&keys.access_key_id)
            );
            if let Some(role) = &keys.role {
                text.push_str(&format!(", assuming {}", role.arn));
            }
            if keys.location == SecretLocation::File {
                text.push_str(", secret in a plaintext file");
            }
            text
        }
        NewSource::Profile(name) => format!("AWS profile {name}"),
        NewSource::DefaultChain => "the default AWS credential chain".into(),
    }
}

/// The keys to store: from the environment, a no-echo prompt, or stdin. Never from argv.
fn read_keys(args: &AddArgs, registry: &RegistryMatch) -> anyhow::Result<NewKeySet> {
    let (access_key_id, secret) = if args.from_env {
        let id = std::env::var("AWS_ACCESS_KEY_ID")
            .context("--from-env: AWS_ACCESS_KEY_ID is not set")?;
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
            .context("--from-env: AWS_SECRET_ACCESS_KEY is not set")?;
        (id, secret)
    } else if std::io::stdin().is_terminal() {
        let id = match &args.access_key_id {
            Some(id) => id.clone(),
            None => prompt_line("AWS access key id: ")?,
        };
        let secret = rpassword::prompt_password("AWS secret access key (not shown): ")
            .context("cannot read the secret key from the terminal")?;
        (id, secret)
    } else {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        let mut next = |what: &str| -> anyhow::Result<String> {
            match lines.next() {
                Some(Ok(line)) if !line.trim().is_empty() => Ok(line.trim().to_string()),
                Some(Err(e)) => bail!("cannot read the {what} from stdin: {e}"),
                _ => bail!("expected the {what} on stdin"),
            }
        };
        let id = match &args.access_key_id {
            Some(id) => id.clone(),
            None => next("access key id (first line)")?,
        };
        let secret = next("secret access key")?;
        (id, secret)
    };
    if secret.trim().is_empty() {
        bail!("the secret access key is empty");
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| onboarding::default_key_set_name(registry));
    let role = args.role_arn.as_ref().map(|arn| RoleConfig {
        arn: arn.clone(),
        external_id: args.external_id.clone(),
        session_name: args.session_name.clone(),
        duration_secs: None,
    });
    let location = match args.store {
        StoreChoice::Keychain => SecretLocation::Keychain,
        StoreChoice::File => {
            eprintln!(
                "warning: --store file keeps the secret key in a plaintext file (0600) in the config directory; prefer the OS keychain where there is one"
            );
            SecretLocation::File
        }
    };
    Ok(NewKeySet {
        name,
        access_key_id: access_key_id.trim().to_string(),
        secret: Secret::new(secret.trim()),
        role,
        location,
    })
}

fn prompt_line(prompt: &str) -> anyhow::Result<String> {
    use std::io::Write;
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read from the terminal")?;
    Ok(line.trim().to_string())
}
