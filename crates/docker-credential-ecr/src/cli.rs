//! The command line: the credential-helper protocol's verbs, and how a bad command line is
//! reported (one line, non-zero exit).

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

use crate::protocol::Failure;

/// Docker credential helper for Amazon ECR: private ECR images pull like public ones.
///
/// Start with `docker-credential-ecr add REGISTRY`: it checks a vendor's keys, keeps the secret
/// in the OS keychain and routes the registry to this helper in ~/.docker/config.json:
///   {"credHelpers": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr"}}
/// Then `docker pull` works with no `docker login`. Registries without keys of their own use
/// the standard AWS credential chain. Tokens are cached until shortly before they expire.
/// `status` shows what is bound, `doctor` what is wrong.
#[derive(Debug, Parser)]
#[command(
    name = "docker-credential-ecr",
    bin_name = "docker-credential-ecr",
    disable_version_flag = true,
    verbatim_doc_comment
)]
pub struct Cli {
    /// Print the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    /// Keep bindings, key sets and keys.json in DIR (default: $DOCKER_CREDENTIAL_ECR_CONFIG_DIR,
    /// else the user's config dir, else /etc/docker-credential-ecr when HOME is not set).
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Option<std::path::PathBuf>,

    /// Keep the token cache and state in DIR (default: $DOCKER_CREDENTIAL_ECR_CACHE_DIR, else
    /// the user's cache and state dirs, else /var/cache/docker-credential-ecr when HOME is not
    /// set).
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<std::path::PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The verbs of docker's credential-helper protocol, and the commands people type.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a registry address on stdin; print its credentials as JSON.
    Get,
    /// Read {"ServerURL","Username","Secret"} on stdin: Username AWS caches that token (docker
    /// login); an access key id (AKIA...) stores and binds those keys after verifying them.
    Store,
    /// Read a registry address on stdin; forget its cached tokens (docker logout). Keys stay.
    Erase,
    /// Print the registries with bindings or cached tokens as JSON, offline.
    List,
    /// Print the version.
    Version,
    /// Keep a vendor's keys in the OS keychain and use them for a registry.
    ///
    /// The secret key is never taken from an argument: it is asked for on a terminal (no
    /// echo), read from stdin (the secret alone with --access-key-id, else two lines: key id,
    /// then secret), or taken from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY with --from-env.
    /// The keys are verified by fetching a token before anything is saved.
    #[command(verbatim_doc_comment)]
    Add(crate::commands::add::AddArgs),
    /// Remove a registry's binding (or a key set and all its bindings), its keys when nothing
    /// else uses them, and the docker config entries `add` wrote.
    Remove(crate::commands::remove::RemoveArgs),
    /// Show each binding: its keys, role, token and time left.
    Status(crate::commands::status::StatusArgs),
    /// Fetch new tokens now, ignoring the cache.
    Refresh(crate::commands::refresh::RefreshArgs),
    /// Route registries to this helper in docker's config (and podman's, helm's).
    ConfigureDocker(crate::commands::configure_docker::ConfigureDockerArgs),
    /// Check every step from docker to a token and print a fix for each failure.
    Doctor(crate::commands::doctor::DoctorArgs),
    /// Keep every registry's token fresh in the background (for hosts without the tray app).
    ///
    /// Renews each token once half its life has passed, so no `get` waits on AWS; logs each
    /// refresh and each problem to stderr and the log. `--autostart on` starts it at login (a
    /// systemd user unit on Linux).
    Agent(crate::commands::agent::AgentArgs),
    /// Answer the kubelet's image credential provider request on stdin (run by the kubelet,
    /// per its CredentialProviderConfig; see installers/kubernetes/).
    ///
    /// Reads a CredentialProviderRequest (credentialprovider.kubelet.k8s.io v1, v1beta1 or
    /// v1alpha1) and prints a CredentialProviderResponse in the same version, with the image's
    /// registry token under `auth` and how long the kubelet may keep it. An image that is not
    /// ECR gets an empty `auth`. Nodes keep bindings and keys in --config-dir (keys with
    /// `add --store file`) or take them from the provider config's `env`.
    #[command(verbatim_doc_comment)]
    KubeletCredentialProvider,
    /// Print a Kubernetes image-pull Secret with fresh ECR tokens (JSON or YAML).
    ///
    /// The Secret is `kubernetes.io/dockerconfigjson`, as `kubectl create secret
    /// docker-registry` writes it; `--dockerconfigjson` prints only the document it carries.
    /// Tokens with less than half their life left are renewed first; stderr says when the
    /// earliest one expires. Apply it with `... | kubectl apply -f -`.
    #[command(verbatim_doc_comment)]
    PullSecret(crate::commands::pull_secret::PullSecretArgs),
    /// List a repository's tags, newest pushed first, with the registry's own credentials.
    ///
    /// One line per tag: TAG  PUSHED_AT  DIGEST. `--latest` prints the newest image's first
    /// tag alone, for scripts: helm pull oci://HOST/chart --version "$(docker-credential-ecr
    /// images HOST/chart --latest)". Untagged images are left out. Needs ecr:DescribeImages.
    #[command(verbatim_doc_comment)]
    Images(crate::commands::images::ImagesArgs),
    /// Copy images from ECR into another registry, with no Docker daemon.
    ///
    /// docker-credential-ecr mirror SOURCE[:TAG]... --to TARGET_PREFIX [--all-tags] [--keep-path]
    /// copies each image byte for byte (same digests) with the product's ECR credentials for
    /// the source and docker's (credHelpers, credsStore, auths) for the target; a re-run copies
    /// only what is missing. `docker-credential-ecr mirror --help` tells more.
    #[command(verbatim_doc_comment, disable_help_flag = true)]
    Mirror(crate::commands::mirror::MirrorArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages into DIR (for packagers).
    #[command(hide = true)]
    Manpages { dir: std::path::PathBuf },
}

/// The credential-helper protocol's verbs as docker, podman and the other clients run them:
/// the verb alone. Recognised before the full parser is built (a `get` on every pull should
/// not pay for the help texts of every command); any other command line goes to [`Cli`],
/// which accepts these same verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolVerb {
    Get,
    Store,
    Erase,
    List,
    Version,
}

impl ProtocolVerb {
    /// The verb of a command line that is exactly `PROGRAM VERB`.
    pub fn from_args(mut args: impl Iterator<Item = std::ffi::OsString>) -> Option<ProtocolVerb> {
        let _program = args.next()?;
        let verb = args.next()?;
        if args.next().is_some() {
            return None;
        }
        match verb.to_str()? {
            "get" => Some(ProtocolVerb::Get),
            "store" => Some(ProtocolVerb::Store),
            "erase" => Some(ProtocolVerb::Erase),
            "list" => Some(ProtocolVerb::List),
            "version" => Some(ProtocolVerb::Version),
            _ => None,
        }
    }
}

impl Cli {
    /// The command line `PROGRAM VERB`.
    pub fn of_verb(verb: ProtocolVerb) -> Cli {
        let command = match verb {
            ProtocolVerb::Get => Command::Get,
            ProtocolVerb::Store => Command::Store,
            ProtocolVerb::Erase => Command::Erase,
            ProtocolVerb::List => Command::List,
            ProtocolVerb::Version => Command::Version,
        };
        Cli {
            version: false,
            config_dir: None,
            cache_dir: None,
            command: Some(command),
        }
    }
}

/// Help and version requests print as clap renders them; every other parse error becomes one
/// line and exit 1: on stderr when the command line names a command people type (whose stdout
/// may be piped on, as `pull-secret`'s to kubectl), else on stdout (the protocol's error
/// channel).
pub fn report_parse_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .unwrap_or("invalid command line");
            let message = first.strip_prefix("error: ").unwrap_or(first);
            // Not `args()`: it panics on an argument that is not UTF-8, the very error
            // clap may be reporting.
            let args: Vec<String> = std::env::args_os()
                .skip(1)
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect();
            if names_a_command(&args) {
                eprintln!(
                    "docker-credential-ecr: {message}; `docker-credential-ecr --help` lists every command"
                );
                return ExitCode::FAILURE;
            }
            crate::fail(&Failure::usage(format!(
                "{message}; docker uses get, store, erase, list; `docker-credential-ecr --help` lists every command"
            )))
        }
    }
}

/// Whether the first argument that is not a global option names a command other than the
/// protocol's verbs.
fn names_a_command(args: &[String]) -> bool {
    use clap::CommandFactory;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config-dir" | "--cache-dir" => {
                args.next();
            }
            option if option.starts_with('-') => {}
            name => {
                let protocol = ["get", "store", "erase", "list", "version"].contains(&name);
                return !protocol && Cli::command().find_subcommand(name).is_some();
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verb_of(args: &[&str]) -> Option<ProtocolVerb> {
        ProtocolVerb::from_args(args.iter().map(std::ffi::OsString::from))
    }

    #[test]
    fn only_a_bare_protocol_verb_skips_the_parser() {
        assert_eq!(verb_of(&["x", "get"]), Some(ProtocolVerb::Get));
        assert_eq!(verb_of(&["x", "store"]), Some(ProtocolVerb::Store));
        assert_eq!(verb_of(&["x", "erase"]), Some(ProtocolVerb::Erase));
        assert_eq!(verb_of(&["x", "list"]), Some(ProtocolVerb::List));
        assert_eq!(verb_of(&["x", "version"]), Some(ProtocolVerb::Version));
        for parsed_by_clap in [
            &["x"][..],
            &["x", "get", "extra"],
            &["x", "--version"],
            &["x", "status"],
            &["x", "GET"],
        ] {
            assert_eq!(verb_of(parsed_by_clap), None, "{parsed_by_clap:?}");
        }
    }

    #[test]
    fn parse_errors_of_commands_people_type_are_told_apart_from_the_protocols() {
        let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        for command in [
            &["pull-secret", "--bogus"][..],
            &["--config-dir", "/x", "status", "-x"],
            &["--cache-dir=/y", "doctor", "--nope"],
        ] {
            assert!(names_a_command(&args(command)), "{command:?}");
        }
        for protocol in [
            &[][..],
            &["get", "extra"],
            &["--frobnicate"],
            &["list", "-x"],
            &["fetch"],
            &["--config-dir", "status", "get"],
        ] {
            assert!(!names_a_command(&args(protocol)), "{protocol:?}");
        }
    }

    #[test]
    fn a_fast_verb_is_the_command_line_the_parser_makes_of_it() {
        use clap::Parser;
        for verb in ["get", "store", "erase", "list", "version"] {
            let fast = ProtocolVerb::from_args(["x", verb].iter().map(std::ffi::OsString::from))
                .map(Cli::of_verb)
                .unwrap();
            let parsed = Cli::try_parse_from(["x", verb]).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{parsed:?}"), "{verb}");
        }
    }
}
