//! The files a fetch reads (the AWS shared config and credentials, a CA bundle), read off the
//! async runtime.
//!
//! A fetch runs on a single-threaded runtime whose timers enforce its deadline; a file read on
//! that thread that never returns (a hung network mount, a FIFO) would stop those timers too,
//! leaving only the watchdog. So every such read runs on the runtime's blocking pool, and the
//! fetch waits for it no longer than its deadline: the step that ran out is named, and the
//! stuck thread is abandoned (the service shuts its runtime down without waiting for it).

use crate::clock::Deadline;
use crate::fetch::{FetchError, FetchErrorKind};

/// Runs `read` on the blocking pool; gives up at `deadline` with a timeout naming `what`.
pub async fn read_off_runtime<T: Send + 'static>(
    what: impl FnOnce() -> String,
    deadline: Deadline,
    read: impl FnOnce() -> Result<T, FetchError> + Send + 'static,
) -> Result<T, FetchError> {
    let task = tokio::task::spawn_blocking(read);
    match tokio::time::timeout(deadline.remaining(), task).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) => Err(FetchError::new(
            FetchErrorKind::BadConfiguration,
            format!("reading {} failed: {e}", what()),
        )),
        Err(_) => Err(FetchError::new(
            FetchErrorKind::Timeout,
            format!(
                "reading {} did not finish in time (a hung network mount, or a FIFO?)",
                what()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_read_that_never_returns_is_cut_off_at_the_deadline() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (_keep, blocked) = std::sync::mpsc::channel::<()>();
        let result = runtime.block_on(read_off_runtime(
            || "the stuck file".to_string(),
            Deadline::after(Duration::from_millis(50)),
            move || {
                let _ = blocked.recv();
                Ok(())
            },
        ));
        let error = result.unwrap_err();
        assert_eq!(error.kind, FetchErrorKind::Timeout);
        assert!(error.detail.contains("the stuck file"), "{error}");
        let ok = runtime.block_on(read_off_runtime(
            || "a file".to_string(),
            Deadline::after(Duration::from_secs(5)),
            || Ok(7),
        ));
        assert_eq!(ok.unwrap(), 7);
        runtime.shutdown_background();
    }
}
