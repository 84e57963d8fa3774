//! The tray's log: `ecr-tray.log` in the product's state directory, next to the helper's.
//!
//! The level comes from `DOCKER_CREDENTIAL_ECR_LOG` (`error`, `warn`, `info`, `debug`,
//! `trace`; default `info`: the tray is long-running and its log says what it did) and applies
//! to this product's own code; everything else (the AWS SDK, D-Bus) logs at `warn` at most,
//! because lower levels can include HTTP bodies, and bodies hold tokens. The file is opened on
//! the first line written, created 0600 in a 0700 directory, and rotated to `.log.1` once it
//! passes 1 MiB ([`ecr_core::log_file`]).

use std::path::{Path, PathBuf};

use ecr_core::log_file::{LogFile, product_filter};
use tracing::level_filters::LevelFilter;
use tracing_subscriber::prelude::*;

/// The log's file name in the state directory.
pub const LOG_FILE: &str = "ecr-tray.log";

/// The log file in `state_dir`.
pub fn log_file(state_dir: &Path) -> PathBuf {
    state_dir.join(LOG_FILE)
}

/// Installs the global subscriber. Never fails: without a usable log, diagnostics are dropped.
pub fn init(state_dir: &Path) {
    let filter = product_filter("ecr_tray", LevelFilter::INFO);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(LogFile::new(log_file(state_dir)))
        .with_ansi(false)
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}
