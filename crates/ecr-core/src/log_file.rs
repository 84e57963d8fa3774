//! A log file for `tracing`: opened on the first line written (a quiet run never touches it),
//! created 0600 in a 0700 directory, rotated to `.log.1` once it passes 1 MiB.
//!
//! Both binaries log through it; each decides the file, the level and what else it logs to.
//! It writes what it is given: keeping secrets out of log lines is the callers' job (they
//! never format a [`crate::Secret`]'s content, and the SDK is held at `warn`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use tracing_subscriber::fmt::MakeWriter;

/// Past this size the file is rotated.
const MAX_LOG_BYTES: u64 = 1 << 20;

/// A log file opened on first write.
pub struct LogFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
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
