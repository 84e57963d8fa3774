//! The tray's log: `ecr-tray.log` in the product's state directory, next to the helper's.
//!
//! The level comes from `DOCKER_CREDENTIAL_ECR_LOG` (`error`, `warn`, `info`, `debug`,
//! `trace`; default `info`: the tray is long-running and its log says what it did) and applies
//! to this product's own code; everything else (the AWS SDK, D-Bus) logs at `warn` at most,
//! because lower levels can include HTTP bodies, and bodies hold tokens. The file is opened on
//! the first line written, created 0600 in a 0700 directory, and rotated to `.log.1` once it
//! passes 1 MiB ([`ecr_core::log_file`]).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use ecr_core::log_file::LogFile;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// The variable that sets the log level (shared with the credential helper).
pub const LOG_LEVEL_ENV: &str = "DOCKER_CREDENTIAL_ECR_LOG";
/// The log's file name in the state directory.
pub const LOG_FILE: &str = "ecr-tray.log";

/// The log file in `state_dir`.
pub fn log_file(state_dir: &Path) -> PathBuf {
    state_dir.join(LOG_FILE)
}

/// Installs the global subscriber. Never fails: without a usable log, diagnostics are dropped.
pub fn init(state_dir: &Path) {
    let level = std::env::var(LOG_LEVEL_ENV)
        .ok()
        .and_then(|v| LevelFilter::from_str(v.trim()).ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = Targets::new()
        .with_default(level.min(LevelFilter::WARN))
        .with_target("ecr_core", level)
        .with_target("ecr_tray", level);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(LogFile::new(log_file(state_dir)))
        .with_ansi(false)
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}
