//! The command line: the credential-helper protocol's verbs, and how a bad command line is
//! reported (one line, non-zero exit).

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

use crate::protocol::Failure;

/// Docker credential helper for Amazon ECR: private ECR images pull like public ones.
///
/// Route a registry to it in ~/.docker/config.json:
///   {"credHelpers": {"123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr"}}
/// then `docker pull` works with no `docker login`. Tokens are fetched with the standard AWS
/// credential chain and cached until shortly before they expire.
#[derive(Debug, Parser)]
#[command(
    name = "docker-credential-ecr",
    disable_version_flag = true,
    verbatim_doc_comment
)]
pub struct Cli {
    /// Print the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The verbs of docker's credential-helper protocol.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a registry address on stdin; print its credentials as JSON.
    Get,
    /// Read {"ServerURL","Username":"AWS","Secret"} on stdin; cache that token (docker login).
    Store,
    /// Read a registry address on stdin; forget its cached tokens (docker logout).
    Erase,
    /// Print the registries with cached tokens as JSON, offline.
    List,
    /// Print the version.
    Version,
}

/// Help and version requests print as clap renders them; every other parse error becomes one
/// line on stdout (the protocol's error channel) and exit 1.
pub fn report_parse_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty())
                .unwrap_or("invalid command line");
            let message = first.strip_prefix("error: ").unwrap_or(first);
            crate::fail(&Failure::usage(format!(
                "{message}; expected one of get, store, erase, list, version (see --help)"
            )))
        }
    }
}
