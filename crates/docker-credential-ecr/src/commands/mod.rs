//! The commands people type (`add`, `remove`, `status`, `refresh`, `configure-docker`,
//! `doctor`, `agent`, `pull-secret`, `images`, `mirror` (handed to its own program), `completions`, and the packagers' `manpages`),
//! and the kubelet's credential provider plugin (`kubelet`), as opposed to the protocol verbs
//! docker calls (see `verbs`).
//!
//! They report to a person: results on stdout, warnings and errors on stderr, one line per
//! error, exit 1 on failure.

pub mod add;
pub mod agent;
pub mod configure_docker;
pub mod doctor;
pub mod images;
pub mod kubelet;
pub mod mirror;
pub mod pull_secret;
pub mod refresh;
pub mod remove;
pub mod status;

use std::process::ExitCode;
use std::time::Duration;

use clap::CommandFactory;

/// Prints a command's error (its whole chain on one line) and picks the exit code.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::warn!("{e:#}");
            eprintln!("docker-credential-ecr: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Erases the cached tokens an `add` made stale (a failure only costs disk: they are unusable),
/// then caches the token the verification fetched, under the scope a `get` of the verified
/// registry uses now (if it does: else it is dropped), so that the first pull makes no call.
pub fn settle_tokens_after_add(
    paths: &ecr_core::Paths,
    outcome: &ecr_core::onboarding::AddOutcome,
) {
    let cache = ecr_core::TokenCache::new(paths.token_cache_dir());
    if let Err(e) = outcome.erase_stale_tokens(&cache) {
        tracing::warn!(error = %e, "cannot erase the tokens of the replaced keys");
    }
    let Some((scope, token)) = &outcome.verification else {
        return;
    };
    let adopted =
        ecr_core::service::UserService::open(paths, ecr_core::keychain::KeychainAccess::UNATTENDED)
            .map_err(|e| e.to_string())
            .and_then(|service| service.adopt(scope, token).map_err(|e| e.to_string()));
    match adopted {
        Ok(true) => tracing::debug!(registry = %scope.registry, "cached the verification's token"),
        Ok(false) => {
            tracing::debug!(registry = %scope.registry, "the verification's token is not what a get would use; not cached")
        }
        Err(e) => {
            tracing::warn!(registry = %scope.registry, error = %e, "cannot cache the verification's token")
        }
    }
}

/// The user's home directory, or an error saying why there is none.
pub fn home_dir() -> anyhow::Result<std::path::PathBuf> {
    ecr_core::paths::home_dir()
        .ok_or_else(|| anyhow::anyhow!("cannot find the home directory (is HOME set?)"))
}

/// "7 h 12 min", "42 min", "35 s".
pub fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

/// Writes completions for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) {
    let mut command = crate::cli::Cli::command();
    clap_complete::generate(
        shell,
        &mut command,
        "docker-credential-ecr",
        &mut std::io::stdout(),
    );
}

/// Writes the man pages (`docker-credential-ecr.1`, and one per command, e.g.
/// `docker-credential-ecr-add.1`) into `dir`, for packagers.
pub fn manpages(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let command = crate::cli::Cli::command();
    clap_mangen::generate_to(command, dir)
        .with_context(|| format!("cannot write the man pages into {}", dir.display()))
}
