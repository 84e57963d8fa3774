//! The helper's log: `docker-credential-ecr.log` in the user's state directory (and stderr for
//! the `agent`).
//!
//! The level comes from `DOCKER_CREDENTIAL_ECR_LOG` (`error`, `warn`, `info`, `debug`,
//! `trace`; default `warn`, `info` for the agent) and applies to this product's own code only: the AWS SDK logs at
//! `warn` at most, because its lower levels can include HTTP bodies, and bodies hold tokens.
//! The file is opened on the first line written (a quiet `get` never touches it), created
//! 0600 in a 0700 directory, and rotated to `.log.1` once it passes 1 MiB.

use ecr_core::Paths;
use ecr_core::log_file::{LogFile, product_filter};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::prelude::*;

/// Where a run's diagnostics go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogMode {
    /// The protocol verbs and commands: the log file only, `warn` by default.
    Quiet,
    /// The long-running `agent`: the log file and stderr (the journal, under systemd), `info`
    /// by default so that each refresh is on record.
    Agent,
}

/// Installs the global subscriber. Never fails: without a usable log, diagnostics are dropped.
pub fn init(paths: &Paths, mode: LogMode) {
    let default_level = match mode {
        LogMode::Quiet => LevelFilter::WARN,
        LogMode::Agent => LevelFilter::INFO,
    };
    let filter = product_filter("docker_credential_ecr", default_level);
    let file = tracing_subscriber::fmt::layer()
        .with_writer(LogFile::new(paths.log_file()))
        .with_ansi(false)
        .with_target(false);
    let stderr = (mode == LogMode::Agent).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(false)
            .without_time()
    });
    let _ = tracing_subscriber::registry()
        .with(file.and_then(stderr).with_filter(filter))
        .try_init();
}
