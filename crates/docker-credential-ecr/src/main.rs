//! `docker-credential-ecr-full`: the Docker credential helper for Amazon ECR, every command.
//! Docker runs the small front program `docker-credential-ecr`, which answers warm `get`s
//! itself and `exec`s this one for everything else ([`programs`]).
//!
//! This binary is thin: it parses the command line, reads the protocol's input, calls
//! [`ecr_core`] and writes the protocol's answer. It is not a library.
//!
//! Output discipline: in the protocol verbs stdout carries the protocol only (the answer, or
//! one error line: stdout is the protocol's error channel); other diagnostics go to the log,
//! or to stderr when something failed. Secrets go nowhere.

mod cli;
mod commands;
mod descendants;
mod logging;
#[allow(dead_code, reason = "each program uses one direction")]
mod programs;
mod protocol;
mod verbs;
mod watchdog;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::protocol::Failure;

fn main() -> ExitCode {
    // The protocol's verbs, as docker runs them, skip building the full parser.
    let cli = match cli::ProtocolVerb::from_args(std::env::args_os()) {
        Some(verb) => Cli::of_verb(verb),
        None => match Cli::try_parse() {
            Ok(cli) => cli,
            Err(e) => return cli::report_parse_error(e),
        },
    };
    if cli.version || matches!(cli.command, Some(Command::Version)) {
        println!("{}", verbs::version_line());
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        return fail(&Failure::usage(
            "no command given; docker uses get, store, erase, list; `docker-credential-ecr --help` lists every command",
        ));
    };
    let config_dir_option = cli.config_dir.is_some();
    let locations = ecr_core::paths::Locations::new(cli.config_dir, cli.cache_dir, &|name| {
        std::env::var_os(name)
    });
    let named_dirs = locations.config_dir.is_some() || locations.cache_dir.is_some();
    let Some(paths) = ecr_core::Paths::at(&locations) else {
        return fail(&no_home());
    };
    let log_mode = match &command {
        Command::Agent(args) if args.autostart.is_none() => logging::LogMode::Agent,
        _ => logging::LogMode::Quiet,
    };
    logging::init(&paths, log_mode);
    let result = match command {
        Command::Get => verbs::get(&paths),
        Command::Store => verbs::store(&paths),
        Command::Erase => verbs::erase(&paths),
        Command::List => verbs::list(&paths),
        Command::Version => unreachable!("handled above"),
        Command::Add(mut args) => {
            args.config_dir_option = config_dir_option;
            return commands::finish(commands::add::run(&paths, &args));
        }
        Command::Remove(mut args) => {
            args.config_dir_option = config_dir_option;
            return commands::finish(commands::remove::run(&paths, &args));
        }
        Command::Status(args) => return commands::status::run(&paths, &args),
        Command::Doctor(args) => return commands::doctor::run(&paths, &args),
        Command::Refresh(args) => return commands::finish(commands::refresh::run(&paths, &args)),
        Command::ConfigureDocker(args) => {
            return commands::finish(commands::configure_docker::run(&paths, &args));
        }
        Command::Agent(mut args) => {
            args.named_dirs = named_dirs;
            return commands::finish(commands::agent::run(&paths, &args));
        }
        Command::KubeletCredentialProvider => return commands::kubelet::run(&paths),
        Command::PullSecret(args) => {
            return commands::finish(commands::pull_secret::run(&paths, &args));
        }
        Command::Images(args) => return commands::finish(commands::images::run(&paths, &args)),
        Command::Mirror(_) => return commands::finish(commands::mirror::run()),
        Command::Manpages { dir } => return commands::finish(commands::manpages(&dir)),
        Command::Completions { shell } => {
            commands::completions(shell);
            return ExitCode::SUCCESS;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => fail(&failure),
    }
}

fn no_home() -> Failure {
    Failure::usage(
        "cannot find the home directory: set HOME, or name the directories with --config-dir and --cache-dir",
    )
}

/// Writes a failure (see [`protocol::write_failure`]) unless the watchdog answered already.
fn fail(failure: &Failure) -> ExitCode {
    if let Some(_claim) = watchdog::claim() {
        protocol::write_failure(failure);
    }
    ExitCode::FAILURE
}
