//! `docker-credential-ecr-mirror`: the program behind `docker-credential-ecr mirror`, which
//! copies a vendor's images from ECR into a registry of the user's own, with no Docker daemon.
//!
//! It is a program of its own so that the mirror's weight (an HTTP client for registries, the
//! progress display) never loads into `get`: the full program `exec`s it for `mirror` with the
//! same command line (same pid, so `kill -9` of the copy kills it). Its command line is the
//! helper's (`[--config-dir D] [--cache-dir D] mirror ...`), so paths and errors read the same.
//!
//! - [`source`]: the source registries' ECR tokens, from the product (bindings, key sets, roles,
//!   aliases), exactly as `get` serves them;
//! - [`target`]: the target's credentials from docker's config (`ecr_mirror::docker_auth`);
//! - [`report`]: a progress display on a terminal, one line per image on stdout.
//!
//! stdout carries one line per image copied; each failure is one line on stderr; the exit
//! status is 1 when any image failed.

#[path = "../logging.rs"]
mod logging;
mod report;
mod source;
mod target;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ecr_mirror::endpoint::Role;
use ecr_mirror::{Endpoint, HttpSettings, Job, Mirror, MirrorError, PathRule, TargetPrefix};

/// Copy images from ECR into another registry (the program behind `docker-credential-ecr
/// mirror`).
#[derive(Debug, Parser)]
#[command(
    name = "docker-credential-ecr",
    bin_name = "docker-credential-ecr",
    disable_version_flag = true
)]
struct Cli {
    /// Keep bindings, key sets and keys.json in DIR (as for every command).
    #[arg(long, global = true, value_name = "DIR")]
    config_dir: Option<std::path::PathBuf>,
    /// Keep the token cache and state in DIR (as for every command).
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: MirrorCommand,
}

#[derive(Debug, Subcommand)]
enum MirrorCommand {
    /// Copy images from ECR into another registry, with no Docker daemon.
    ///
    /// Each SOURCE (HOST/REPOSITORY[:TAG|@DIGEST], no tag = latest) is copied to TARGET_PREFIX
    /// plus the source repository's last path component, with the same tag:
    ///   docker-credential-ecr mirror HOST/currents/on-prem/api:staging --to registry.example.com/currents/
    /// copies to registry.example.com/currents/api:staging (--keep-path: .../currents/currents/on-prem/api).
    /// Manifests and multi-arch indexes are copied byte for byte (same digests); blobs the
    /// target has are skipped, so a run that was interrupted copies only the rest when run again.
    /// The source's credentials are the product's (as for `get`); the target's come from
    /// docker's config (credHelpers, credsStore, auths) as docker resolves them.
    #[command(verbatim_doc_comment)]
    Mirror(MirrorArgs),
}

#[derive(Debug, Args)]
struct MirrorArgs {
    /// The images to copy: HOST/REPOSITORY[:TAG|@DIGEST].
    #[arg(value_name = "SOURCE", required = true)]
    sources: Vec<String>,
    /// Where they go: REGISTRY[/PATH/] (e.g. registry.example.com/currents/).
    #[arg(long, value_name = "TARGET_PREFIX")]
    to: String,
    /// Copy every tag of each SOURCE repository (give SOURCE without a tag).
    #[arg(long)]
    all_tags: bool,
    /// Keep the whole source repository path under the prefix, not only its last component.
    #[arg(long)]
    keep_path: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return report_parse_error(e),
    };
    let locations = ecr_core::paths::Locations::new(cli.config_dir, cli.cache_dir, &|name| {
        std::env::var_os(name)
    });
    let Some(paths) = ecr_core::Paths::at(&locations) else {
        eprintln!(
            "docker-credential-ecr mirror: cannot find the home directory: set HOME, or name the directories with --config-dir and --cache-dir"
        );
        return ExitCode::FAILURE;
    };
    logging::init(&paths, logging::LogMode::Quiet);
    let MirrorCommand::Mirror(args) = cli.command;
    match run(&paths, &args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            tracing::warn!("mirror: {e:#}");
            eprintln!("docker-credential-ecr mirror: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Help prints as clap renders it; any other parse error is one line on stderr, exit 1.
fn report_parse_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let rendered = error.render().to_string();
    let mut lines = rendered
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "the following required arguments were not provided:" names them on the next line.
    let message = match (first.strip_suffix(':'), lines.next()) {
        (Some(head), Some(next)) => format!("{head}: {next}"),
        _ => first.to_string(),
    };
    eprintln!(
        "docker-credential-ecr mirror: {message}; `docker-credential-ecr mirror --help` shows the usage"
    );
    ExitCode::FAILURE
}

/// Copies every image; `Ok(false)` when some failed (each said on stderr).
fn run(paths: &ecr_core::Paths, args: &MirrorArgs) -> anyhow::Result<bool> {
    let prefix = TargetPrefix::parse(&args.to)?;
    let rule = match args.keep_path {
        true => PathRule::KeepPath,
        false => PathRule::LastComponent,
    };
    let sources = args
        .sources
        .iter()
        .map(|text| ecr_mirror::naming::parse_source(text, args.all_tags))
        .collect::<Result<Vec<_>, _>>()?;
    let reporter = report::Reporter::for_stderr();
    let mut failed = 0usize;
    // What to copy, then the sources' tokens: both before the runtime starts, as the product's
    // service runs its own.
    let mut jobs = Vec::new();
    for source in &sources {
        match plan(paths, source, &prefix, rule, args.all_tags) {
            Ok(planned) => jobs.extend(planned),
            Err(e) => {
                failed += 1;
                reporter.failed_message(&format!("{e:#}"));
            }
        }
    }
    let mut tokens: BTreeMap<String, anyhow::Result<source::SourceAuth>> = BTreeMap::new();
    for job in &jobs {
        let host = job.source.registry();
        if !tokens.contains_key(host) {
            tokens.insert(host.to_string(), source::credentials(paths, host));
        }
    }
    let http = HttpSettings {
        roots: ecr_core::aws::http::process_roots()
            .context("cannot read the trust roots")?
            .into_iter()
            .map(|der| der.as_ref().to_vec())
            .collect(),
    };
    let docker_config = target::docker_config()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let target = target::endpoint(&docker_config, prefix.registry(), &http).await?;
        let mut sources = Sources::default();
        for (host, token) in tokens {
            sources.insert(&host, token, &http).await?;
        }
        for job in &jobs {
            let host = job.source.registry();
            let from = match sources.fresh(paths, host, &http).await {
                Ok(from) => from,
                Err(why) => {
                    failed += 1;
                    reporter.failed_message(&why);
                    continue;
                }
            };
            let mirror = Mirror {
                source: from,
                target: &target,
            };
            let progress = reporter.image(job);
            match mirror.copy(job, progress.observer()).await {
                Ok(copied) => progress.done(&copied),
                Err(e) => {
                    progress.abandon();
                    failed += 1;
                    reporter.failed(&e);
                    if e.stops_the_run() {
                        return Ok(false);
                    }
                }
            }
        }
        if failed > 0 {
            tracing::warn!("mirror: {failed} images failed");
        }
        Ok::<bool, anyhow::Error>(failed == 0)
    })
}

/// The copies `source` asks for: itself, or, with `--all-tags`, every tag ECR lists for its
/// repository (`DescribeImages`, with the identity a `get` uses: ECR's registry API pages its
/// tag list in a way the OCI client cannot follow).
fn plan(
    paths: &ecr_core::Paths,
    source: &ecr_mirror::Reference,
    prefix: &TargetPrefix,
    rule: PathRule,
    all_tags: bool,
) -> anyhow::Result<Vec<Job>> {
    let sources = match all_tags {
        false => vec![source.clone()],
        true => source::tags(paths, source.registry(), source.repository())?
            .iter()
            .map(|tag| ecr_mirror::naming::with_tag(source, tag))
            .collect(),
    };
    sources
        .into_iter()
        .map(|source| {
            let target = prefix.target_of(&source, rule)?;
            Ok(Job { source, target })
        })
        .collect()
}

/// The source registries, each with its token (or why it has none) and until when that token
/// is served without a refresh.
#[derive(Default)]
struct Sources {
    by_host: BTreeMap<String, Result<(Endpoint, SystemTime), String>>,
}

impl Sources {
    async fn insert(
        &mut self,
        host: &str,
        token: anyhow::Result<source::SourceAuth>,
        http: &HttpSettings,
    ) -> Result<(), MirrorError> {
        let entry = match token {
            Ok(token) => Ok((
                Endpoint::new(host, Role::Source, token.auth, token.origin, http).await?,
                token.fresh_until,
            )),
            Err(e) => Err(format!("{e:#}")),
        };
        self.by_host.insert(host.to_string(), entry);
        Ok(())
    }

    /// `host`'s registry with a token a `get` would still serve: one past its time (a run
    /// longer than the refresh margin) is got again, from another thread (the product's
    /// service runs its own runtime).
    async fn fresh(
        &mut self,
        paths: &ecr_core::Paths,
        host: &str,
        http: &HttpSettings,
    ) -> Result<&Endpoint, String> {
        let stale =
            matches!(self.by_host.get(host), Some(Ok((_, until))) if *until <= SystemTime::now());
        if stale {
            let token = std::thread::scope(|scope| {
                scope
                    .spawn(|| source::credentials(paths, host))
                    .join()
                    .unwrap_or_else(|_| {
                        Err(anyhow::anyhow!("getting a new token for {host} panicked"))
                    })
            });
            self.insert(host, token, http)
                .await
                .map_err(|e| e.to_string())?;
        }
        match self.by_host.get(host) {
            Some(Ok((endpoint, _))) => Ok(endpoint),
            Some(Err(why)) => Err(why.clone()),
            None => Err(format!("no credentials for {host}")),
        }
    }
}
