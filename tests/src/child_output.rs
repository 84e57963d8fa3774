//! Reading a child's announcement line: the first line of its stdout, read on a helper thread
//! that then drains stdout until the child exits (so the child never blocks on a full pipe).

use std::io::{self, BufRead, BufReader};
use std::process::ChildStdout;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// The first line of `stdout` (empty if the child closed it first), or why none came within
/// `timeout` (`Disconnected` if the reading thread died).
pub fn first_line(
    stdout: ChildStdout,
    timeout: Duration,
) -> Result<io::Result<String>, RecvTimeoutError> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = reader.read_line(&mut line).map(|_| line);
        // The receiver may have timed out and gone; the line is then of no use.
        let _ = sender.send(read);
        let _ = io::copy(&mut reader, &mut io::sink());
    });
    receiver.recv_timeout(timeout)
}
