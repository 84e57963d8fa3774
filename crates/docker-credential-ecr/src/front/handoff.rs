//! Handing a command line to `docker-credential-ecr-full`: the same arguments and environment,
//! and stdin as the full program would have read it.
//!
//! On Unix the front program `exec`s the full one (same process id, so the agent under systemd
//! and `credential_process` children see no difference). What the warm path already read from
//! stdin is put back first: into a memory file that becomes fd 0 (Linux).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::programs;

/// The full program's stdin.
pub enum Stdin {
    /// Ours, unread.
    Untouched,
    /// Ours was read to the end (or to the input limit) and held these bytes.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Read(Vec<u8>),
}

/// Runs the full program with `args`; returns (an exit status) only if it could not be
/// started, or, off Unix, once it has ended.
pub fn run_full_program(args: &[OsString], stdin: Stdin) -> i32 {
    let full = match full_program() {
        Ok(full) => full,
        Err(message) => return fail(&message),
    };
    if let Stdin::Read(bytes) = stdin
        && let Err(e) = restore_stdin(&bytes)
    {
        return fail(&format!("cannot pass stdin on to {}: {e}", full.display()));
    }
    let mut command = std::process::Command::new(&full);
    command.args(args);
    run(command, &full)
}

fn full_program() -> Result<PathBuf, String> {
    let front =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    programs::full_beside(&front).ok_or_else(|| {
        format!(
            "cannot find {} beside {} (nor in ../libexec/{}): reinstall docker-credential-ecr",
            programs::FULL,
            front.display(),
            programs::FRONT
        )
    })
}

#[cfg(unix)]
fn run(mut command: std::process::Command, full: &std::path::Path) -> i32 {
    use std::os::unix::process::CommandExt;
    let e = command.exec();
    fail(&format!("cannot run {}: {e}", full.display()))
}

#[cfg(not(unix))]
fn run(mut command: std::process::Command, full: &std::path::Path) -> i32 {
    match command.status() {
        Ok(status) => status.code().unwrap_or(1),
        Err(e) => fail(&format!("cannot run {}: {e}", full.display())),
    }
}

/// Makes fd 0 a memory file holding `bytes`, read from its start.
#[cfg(target_os = "linux")]
fn restore_stdin(bytes: &[u8]) -> std::io::Result<()> {
    use rustix::fs::{MemfdFlags, memfd_create};
    use std::io::{Seek, Write};
    let fd = memfd_create("docker-credential-ecr-stdin", MemfdFlags::CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(bytes)?;
    file.rewind()?;
    rustix::stdio::dup2_stdin(&file)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn restore_stdin(_bytes: &[u8]) -> std::io::Result<()> {
    unreachable!("only the Linux warm path reads stdin before a hand-off")
}

/// One line on stdout (the protocol's error channel), exit 1.
pub fn fail(message: &str) -> i32 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{message}").and_then(|()| out.flush());
    1
}
