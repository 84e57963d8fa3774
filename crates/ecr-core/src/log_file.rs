//! A log file for `tracing`: opened on the first line written (a quiet run never touches it),
//! created 0600 in a 0700 directory, rotated to `.log.1` once it passes 1 MiB (checked when it
//! is opened, and every [`ROTATE_CHECK_LINES`] lines after, for long-running processes).
//!
//! Both binaries log through it; each decides the file, the level and what else it logs to.
//! It writes what it is given: keeping secrets out of log lines is the callers' job (they
//! never format a [`crate::Secret`]'s content, and the SDK is held at `warn`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;

/// The variable that sets the product's log level (`error` … `trace`), for every binary.
pub const LOG_LEVEL_ENV: &str = "DOCKER_CREDENTIAL_ECR_LOG";

/// What a binary logs: the core's and its own (`own_target`) events at the level
/// [`LOG_LEVEL_ENV`] sets (else `default`); everything else, the AWS SDK above all, at `warn`
/// at most, because lower levels can include HTTP bodies, and bodies hold tokens.
pub fn product_filter(own_target: &str, default: LevelFilter) -> Targets {
    let level = std::env::var(LOG_LEVEL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(default);
    Targets::new()
        .with_default(level.min(LevelFilter::WARN))
        .with_target("ecr_core", level)
        .with_target(own_target.to_string(), level)
}

/// Past this size the file is rotated.
const MAX_LOG_BYTES: u64 = 1 << 20;
/// A long-running process re-checks the size after this many lines.
const ROTATE_CHECK_LINES: u32 = 1000;

/// A log file opened on first write, rotated when it grows too big.
pub struct LogFile {
    path: PathBuf,
    file: Mutex<Option<OpenLog>>,
}

struct OpenLog {
    file: File,
    lines: u32,
}

impl LogFile {
    pub fn new(path: PathBuf) -> LogFile {
        LogFile {
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

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogLine(self)
    }
}

/// One event's writes into the lazily opened file.
pub struct LogLine<'a>(&'a LogFile);

impl Write for LogLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut slot = self
            .0
            .file
            .lock()
            .map_err(|_| io::Error::other("log lock poisoned"))?;
        if slot
            .as_ref()
            .is_some_and(|log| log.lines >= ROTATE_CHECK_LINES)
        {
            // Reopen: rotates if the file has grown past the limit.
            *slot = None;
        }
        if slot.is_none() {
            *slot = Some(OpenLog {
                file: self.0.open()?,
                lines: 0,
            });
        }
        match slot.as_mut() {
            Some(log) => {
                log.lines += 1;
                log.file.write(buf)
            }
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const LOG: &str = "test.log";

    #[test]
    fn the_file_is_created_on_first_write_and_rotated_when_big() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let log = LogFile::new(state.join(LOG));
        assert!(
            !state.exists(),
            "nothing is created before a line is written"
        );
        LogLine(&log).write_all(b"first\n").unwrap();
        assert_eq!(fs::read_to_string(state.join(LOG)).unwrap(), "first\n");

        fs::write(state.join(LOG), vec![b'x'; MAX_LOG_BYTES as usize + 1]).unwrap();
        // The first line and these fill one check interval; the next write reopens and rotates.
        for _ in 1..ROTATE_CHECK_LINES {
            LogLine(&log).write_all(b"line\n").unwrap();
        }
        LogLine(&log).write_all(b"after\n").unwrap();
        assert_eq!(fs::read_to_string(state.join(LOG)).unwrap(), "after\n");
        let rotated = fs::metadata(state.join(format!("{LOG}.1"))).unwrap();
        assert!(rotated.len() > MAX_LOG_BYTES);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        LogLine(&LogFile::new(state.join(LOG)))
            .write_all(b"x\n")
            .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&state.join(LOG)), 0o600);
    }
}
