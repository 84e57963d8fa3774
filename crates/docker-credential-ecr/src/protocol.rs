//! The wire format of docker's credential-helper protocol: what is read from stdin, what is
//! written to stdout, and the one-line failures.
//!
//! This module is the only one that writes an answer to stdout. It never writes anything else
//! there: diagnostics are the caller's business (log or stderr).

use std::io::{Read, Write};

use ecr_core::fetch::one_line;
use ecr_core::helper_protocol;
use serde::Serialize;

/// The exact line docker treats as "this helper has nothing for that registry".
pub use ecr_core::helper_protocol::NOT_FOUND;

/// A verb's failure: what goes on stdout (the protocol's error channel), what on stderr.
#[derive(Debug)]
pub struct Failure {
    stdout: String,
    stderr: Option<String>,
    log: String,
    notable: bool,
}

impl Failure {
    /// Docker should go on without credentials; `reason` goes to the log only.
    pub fn not_found(reason: impl Into<String>) -> Failure {
        let reason = reason.into();
        Failure {
            stdout: NOT_FOUND.to_string(),
            stderr: None,
            log: format!("not found: {reason}"),
            notable: true,
        }
    }

    /// Not found, and nothing worth a warning (an address that is not ECR at all).
    pub fn not_ecr(reason: impl Into<String>) -> Failure {
        Failure {
            notable: false,
            ..Self::not_found(reason)
        }
    }

    /// An error the user must act on, as one line.
    pub fn error(message: impl Into<String>) -> Failure {
        let message = one_line(&message.into());
        Failure {
            log: message.clone(),
            stdout: message,
            stderr: None,
            notable: true,
        }
    }

    /// This failure as docker's "not found", its line moving to stderr: for ECR Public, where
    /// any failure must leave anonymous pulls working.
    pub fn into_not_found(self) -> Failure {
        if self.stdout == NOT_FOUND {
            return self;
        }
        Failure {
            log: format!("answering not found: {}", self.stdout),
            stderr: Some(self.stdout),
            stdout: NOT_FOUND.to_string(),
            notable: true,
        }
    }

    /// A bad command line or input.
    pub fn usage(message: impl Into<String>) -> Failure {
        Self::error(message)
    }

    pub fn stdout_line(&self) -> &str {
        &self.stdout
    }
    pub fn stderr_line(&self) -> Option<&str> {
        self.stderr.as_deref()
    }
    pub fn log_line(&self) -> &str {
        &self.log
    }
    /// Whether the log should show it as a warning.
    pub fn is_notable(&self) -> bool {
        self.notable
    }
}

/// Writes `failure`: its one protocol line on stdout, its detail (if any) on stderr, and logs
/// it. The caller holds the answer's claim ([`crate::watchdog::claim`]).
pub fn write_failure(failure: &Failure) {
    if failure.is_notable() {
        tracing::warn!("{}", failure.log_line());
    } else {
        tracing::info!("{}", failure.log_line());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", failure.stdout_line());
    let _ = out.flush();
    if let Some(detail) = failure.stderr_line() {
        eprintln!("docker-credential-ecr: {detail}");
    }
}

pub use ecr_core::helper_protocol::{CredentialsAnswer, MAX_INPUT, StoreRequest};

/// All of stdin as UTF-8, refusing more than [`MAX_INPUT`] bytes.
pub fn read_input() -> Result<String, Failure> {
    read_input_from(std::io::stdin().lock())
}

fn read_input_from(reader: impl Read) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read stdin: {e}")))?;
    if bytes.len() > MAX_INPUT {
        return Err(Failure::usage("input on stdin is larger than 1 MiB"));
    }
    String::from_utf8(bytes).map_err(|_| Failure::usage("input on stdin is not valid UTF-8"))
}

/// The server address on stdin (`get`, `erase`): one line, trimmed.
pub fn read_server_address() -> Result<String, Failure> {
    server_address(&read_input()?)
}

fn server_address(input: &str) -> Result<String, Failure> {
    helper_protocol::server_address(input)
        .map(str::to_string)
        .map_err(|e| Failure::usage(e.to_string()))
}

/// `store`'s JSON request on stdin.
pub fn read_store_request() -> Result<StoreRequest, Failure> {
    parse_store_request(&read_input()?)
}

fn parse_store_request(input: &str) -> Result<StoreRequest, Failure> {
    helper_protocol::parse_store_request(input).map_err(|e| Failure::usage(e.to_string()))
}

/// Writes `value` as JSON and a newline to stdout.
pub fn write_json(value: &impl Serialize) -> Result<(), Failure> {
    let Some(_claim) = crate::watchdog::claim() else {
        // The watchdog answered already and is ending the process.
        return Ok(());
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)
        .map_err(|e| Failure::error(format!("cannot write the answer: {e}")))?;
    writeln!(out)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::error(format!("cannot write the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_errors_are_usage_failures_on_one_line() {
        // The parsing itself is tested (and fuzzed) in ecr_model::helper_protocol.
        assert_eq!(server_address(" host\n").unwrap(), "host");
        let failure = server_address("a\nb").unwrap_err();
        assert!(failure.stdout_line().contains("several lines"));
        let failure = parse_store_request("{").err().expect("refused");
        assert!(failure.stdout_line().starts_with("invalid input for store"));
    }

    #[test]
    fn oversized_and_non_utf8_input_is_refused() {
        let big = vec![b'a'; MAX_INPUT + 1];
        assert!(read_input_from(&big[..]).is_err());
        let exact = vec![b'a'; MAX_INPUT];
        assert_eq!(read_input_from(&exact[..]).unwrap().len(), MAX_INPUT);
        assert!(read_input_from(&b"\xff\xfe"[..]).is_err());
    }

    #[test]
    fn failures_are_one_line() {
        let f = Failure::error("a\nb\r\nc");
        assert_eq!(f.stdout_line(), "a b c");
        assert_eq!(Failure::not_found("why").stdout_line(), NOT_FOUND);
    }

    #[test]
    fn into_not_found_moves_the_line_to_stderr() {
        let f = Failure::error("cannot get it: busy").into_not_found();
        assert_eq!(f.stdout_line(), NOT_FOUND);
        assert_eq!(f.stderr_line(), Some("cannot get it: busy"));
        let quiet = Failure::not_ecr("not ECR").into_not_found();
        assert_eq!(quiet.stderr_line(), None);
        assert!(!quiet.is_notable());
    }
}
