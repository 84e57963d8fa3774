//! The helper's log: `docker-credential-ecr.log` in the user's state directory.
//!
//! The level comes from `DOCKER_CREDENTIAL_ECR_LOG` (`error`, `warn`, `info`, `debug`,
//! `trace`; default `warn`) and applies to this product's own code only: the AWS SDK logs at
//! `warn` at most, because its lower levels can include HTTP bodies, and bodies hold tokens.
//! The file is opened on the first line written (a quiet `get` never touches it), created
//! 0600 in a 0700 directory, and rotated to `.log.1` once it passes 1 MiB.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;

use ecr_core::Paths;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// The variable that sets the log level.
pub const LOG_LEVEL_ENV: &str = "DOCKER_CREDENTIAL_ECR_LOG";
const MAX_LOG_BYTES: u64 = 1 << 20;

/// Installs the global subscriber. Never fails: without a usable log, diagnostics are dropped.
pub fn init(paths: &Paths) {
    let level = std::env::var(LOG_LEVEL_ENV)
        .ok()
        .and_then(|v| LevelFilter::from_str(v.trim()).ok())
        .unwrap_or(LevelFilter::WARN);
    let filter = Targets::new()
        .with_default(level.min(LevelFilter::WARN))
        .with_target("ecr_core", level)
        .with_target("docker_credential_ecr", level);
    let writer = LazyFile::new(paths.log_file());
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

/// A log file opened on first write.
struct LazyFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl LazyFile {
    fn new(path: PathBuf) -> LazyFile {
        LazyFile {
            path,
            file: Mutex::new(None),
        }
    }

    fn open(&self) -> io::Result<File> {
        if let Some(dir) = self.path.parent() {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                builder.mode(0o700);
            }
            builder.create(dir)?;
        }
        if fs::metadata(&self.path).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            let _ = fs::rename(&self.path, rotated);
        }
        let mut options = OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(&self.path)
    }
}

impl<'a> MakeWriter<'a> for LazyFile {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine(self)
    }
}

/// One event's writes into the lazily opened file.
struct LogLine<'a>(&'a LazyFile);

impl Write for LogLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut slot = self
            .0
            .file
            .lock()
            .map_err(|_| io::Error::other("log lock poisoned"))?;
        if slot.is_none() {
            *slot = Some(self.0.open()?);
        }
        match slot.as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
