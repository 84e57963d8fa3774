//! `mirror`: handed, command line and all, to `docker-credential-ecr-mirror` (see
//! `src/mirror/main.rs`), so that its registry client never loads into this program.
//!
//! On Unix the handing is an `exec`: same pid, so a `kill` of the copy reaches it.

use std::ffi::OsString;

use anyhow::Context;

use crate::programs;

/// Everything after `mirror`, for the mirror program to parse (its `--help` too).
#[derive(Debug, clap::Args)]
pub struct MirrorArgs {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub args: Vec<OsString>,
}

/// Runs the mirror program with this process's command line; returns only on failure (off
/// Unix: when it has ended).
pub fn run() -> anyhow::Result<()> {
    let full = std::env::current_exe().context("cannot find this program's path")?;
    let mirror = programs::mirror_beside(&full).with_context(|| {
        format!(
            "cannot find {} beside {}: reinstall docker-credential-ecr",
            programs::MIRROR,
            full.display()
        )
    })?;
    let mut command = std::process::Command::new(&mirror);
    command.args(std::env::args_os().skip(1));
    hand_over(command).with_context(|| format!("cannot run {}", mirror.display()))
}

#[cfg(unix)]
fn hand_over(mut command: std::process::Command) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    Err(command.exec())
}

#[cfg(not(unix))]
fn hand_over(mut command: std::process::Command) -> std::io::Result<()> {
    let status = command.status()?;
    std::process::exit(status.code().unwrap_or(1));
}
