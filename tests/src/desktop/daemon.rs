//! One background program of the headless desktop: started in its own process group with its
//! output in a log file, stopped and reaped on `Drop`.
//!
//! Stopping first sends `SIGTERM` to the other members of the program's process group (its own
//! children, such as xfce4-panel's plugin wrapper) and gives the program a moment to reap them,
//! then `SIGTERM` to the program, then `SIGKILL` to the whole group while the exited program is
//! still an unreaped zombie (so its group id cannot have been reused yet), and reaps it.
//! Grandchildren therefore neither outlive the test nor linger as zombies of an init that does
//! not reap (as in some containers).

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a program may take to exit after `SIGTERM` before its group is killed.
const GRACE: Duration = Duration::from_secs(2);
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A running program of the desktop.
#[derive(Debug)]
pub struct Daemon {
    name: &'static str,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Starts `command` in a new process group, stdin from /dev/null, stdout and stderr to `log`.
    pub fn spawn(name: &'static str, command: Command, log: &Path) -> Daemon {
        Self::start(name, command, log, false).0
    }

    /// Like [`Daemon::spawn`], but hands back the program's stdout (stderr still goes to `log`).
    pub fn spawn_reading_stdout(
        name: &'static str,
        command: Command,
        log: &Path,
    ) -> (Daemon, ChildStdout) {
        let (daemon, stdout) = Self::start(name, command, log, true);
        (daemon, stdout.expect("a piped stdout"))
    }

    fn start(
        name: &'static str,
        mut command: Command,
        log: &Path,
        pipe_stdout: bool,
    ) -> (Daemon, Option<ChildStdout>) {
        use std::os::unix::process::CommandExt;
        let file = std::fs::File::create(log)
            .unwrap_or_else(|e| panic!("create {} for {name}: {e}", log.display()));
        let stdout = if pipe_stdout {
            Stdio::piped()
        } else {
            Stdio::from(file.try_clone().expect("clone a log handle"))
        };
        let mut child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({command:?}): {e}"));
        let stdout = child.stdout.take();
        let daemon = Daemon {
            name,
            child: Some(child),
            log: log.to_path_buf(),
        };
        (daemon, stdout)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The exit status when the program has already exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// What the program wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the program and everything else in its process group, and reaps it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id();
        let members = group_members(pid);
        for member in &members {
            signal("-TERM", &member.to_string());
        }
        let asked = Instant::now();
        while members.iter().any(|m| process_exists(*m)) && asked.elapsed() < GRACE {
            std::thread::sleep(POLL_INTERVAL);
        }
        signal("-TERM", &pid.to_string());
        let asked = Instant::now();
        while !is_zombie_or_gone(pid) && asked.elapsed() < GRACE {
            std::thread::sleep(POLL_INTERVAL);
        }
        // Still unreaped here, so the group id is still ours.
        signal("-KILL", &format!("-{pid}"));
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kill SIGNAL -- TARGET` (a pid, or `-pgid` for a whole group); failures (nothing left to
/// signal) are expected and ignored.
fn signal(signal: &str, target: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The processes of process group `pgid` other than its leader.
fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != pgid && stat_field(pid, 2).as_deref() == Some(&*pgid.to_string()))
        .collect()
}

/// True while `pid` exists, zombie or not.
fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Field `index` of `/proc/<pid>/stat` counted from the state (0: state, 1: ppid, 2: pgrp).
fn stat_field(pid: u32, index: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": comm may hold spaces and parens, so count after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(index).map(str::to_string)
}

/// True when `pid` has exited (a zombie waiting to be reaped) or does not exist.
fn is_zombie_or_gone(pid: u32) -> bool {
    stat_field(pid, 0).is_none_or(|state| state == "Z" || state == "X")
}
