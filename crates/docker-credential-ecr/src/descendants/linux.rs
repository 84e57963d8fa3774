//! Linux: `PR_SET_CHILD_SUBREAPER`, and the descendants found through `/proc/<pid>/stat`.

use std::collections::BTreeMap;

use rustix::process::{
    Pid, PidfdFlags, Signal, getpid, kill_process, pidfd_open, pidfd_send_signal,
    set_child_subreaper,
};

/// How many times [`end_all`] looks again for descendants started while it was ending others.
const ROUNDS: usize = 20;

/// Makes this process the reaper of its orphaned descendants.
pub fn adopt_orphans() {
    if let Err(e) = set_child_subreaper(Some(getpid())) {
        tracing::debug!(error = %e, "cannot become a child subreaper; orphans go to init");
    }
}

/// Sends `SIGKILL` to every living descendant of this process in its session, until none is
/// left (or after [`ROUNDS`] rounds of new ones, 10 ms apart). A descendant that started a
/// session of its own (a daemon: `setsid`, as gpg-agent and ssh-agent do) is left alone.
pub fn end_all() {
    let me = getpid().as_raw_nonzero().get();
    let Some(&(_, session)) = living_processes().get(&me) else {
        return;
    };
    for round in 0..ROUNDS {
        let processes: BTreeMap<i32, i32> = living_processes()
            .into_iter()
            .filter(|&(_, (_, sid))| sid == session)
            .map(|(pid, (parent, _))| (pid, parent))
            .collect();
        let descendants = descendants_of(me, &processes);
        if descendants.is_empty() {
            return;
        }
        for &pid in &descendants {
            end(pid, me, &descendants);
        }
        if round + 1 < ROUNDS {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// Sends `SIGKILL` to `pid`, found among `family` (the descendants of `me`). Through a pidfd
/// when the kernel has them: the pidfd pins the process, and its parent is checked again after
/// it is opened, so a pid recycled since the scan (another program of this user) is never hit.
fn end(pid: i32, me: i32, family: &[i32]) {
    let Some(target) = Pid::from_raw(pid) else {
        return;
    };
    match pidfd_open(target, PidfdFlags::empty()) {
        Ok(pidfd) => {
            let ours = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| fields(&stat))
                .is_some_and(|f| f.parent == me || family.contains(&f.parent));
            if ours {
                tracing::debug!(pid, "ending a process this helper started");
                let _ = pidfd_send_signal(&pidfd, Signal::KILL);
            }
        }
        // Kernels before 5.3: a plain kill, with the recycling window the scan leaves.
        Err(_) => {
            tracing::debug!(pid, "ending a process this helper started");
            let _ = kill_process(target, Signal::KILL);
        }
    }
}

/// Every process that is not a zombie, by pid, with its parent's pid and its session id.
fn living_processes() -> BTreeMap<i32, (i32, i32)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let Fields {
                state,
                parent,
                session,
            } = fields(&stat)?;
            (state != 'Z' && state != 'X').then_some((pid, (parent, session)))
        })
        .collect()
}

/// What [`end_all`] needs of a `/proc/<pid>/stat` line.
#[derive(Debug, PartialEq, Eq)]
struct Fields {
    state: char,
    parent: i32,
    session: i32,
}

/// The state, parent pid and session id from a `/proc/<pid>/stat` line:
/// `pid (comm) S ppid pgrp session ...`, where `comm` may hold spaces and parentheses (hence
/// the last `)`).
fn fields(stat: &str) -> Option<Fields> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    let _group = fields.next()?;
    let session = fields.next()?.parse().ok()?;
    Some(Fields {
        state,
        parent,
        session,
    })
}

/// The descendants of `root` in `parents` (pid -> parent pid), parents before children.
fn descendants_of(root: i32, parents: &BTreeMap<i32, i32>) -> Vec<i32> {
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (&pid, &ppid) in parents {
            if ppid == parent && pid != root && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `end_all` ends what every test of this process started: one such test at a time.
    static ENDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Runs `command` in the background of a shell that exits at once; the pid it left behind.
    fn orphan_of(command: &str) -> i32 {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{command} & echo $! > {}", pid_file.display()))
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        let f = |state, parent, session| {
            Some(Fields {
                state,
                parent,
                session,
            })
        };
        assert_eq!(fields("42 (sh) S 7 42 40 0 -1"), f('S', 7, 40));
        assert_eq!(fields("43 (a) (b c) Z 1 43 41"), f('Z', 1, 41));
        assert_eq!(fields("44 (sh) S 7 42"), None);
        assert_eq!(fields("garbage"), None);
    }

    #[test]
    fn descendants_are_found_through_every_generation_and_only_them() {
        let parents = BTreeMap::from([(10, 1), (11, 10), (12, 11), (13, 12), (20, 1), (21, 20)]);
        let mut found = descendants_of(10, &parents);
        found.sort();
        assert_eq!(found, [11, 12, 13]);
        assert!(descendants_of(13, &parents).is_empty());
    }

    #[test]
    fn end_all_ends_a_grandchild_that_outlived_its_parent() {
        let _one = ENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        adopt_orphans();
        let orphan = orphan_of("sleep 300");
        let me = getpid().as_raw_nonzero().get();
        assert_eq!(
            living_processes().get(&orphan).map(|p| p.0),
            Some(me),
            "adopted"
        );
        end_all();
        assert!(
            !living_processes().contains_key(&orphan),
            "the orphan was ended"
        );
    }

    /// The living children of `parent`, with their sessions.
    fn children_of(parent: i32) -> Vec<(i32, i32)> {
        living_processes()
            .into_iter()
            .filter(|(_, (p, _))| *p == parent)
            .map(|(pid, (_, session))| (pid, session))
            .collect()
    }

    #[test]
    fn a_daemon_in_a_session_of_its_own_is_left_alone() {
        let _one = ENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        adopt_orphans();
        let daemon = orphan_of("setsid sleep 300 </dev/null >/dev/null 2>&1");
        // setsid forks when it leads a process group; wait for the daemon to be in place.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let me = getpid().as_raw_nonzero().get();
        let sessions: Vec<i32> = children_of(me).into_iter().map(|(_, s)| s).collect();
        end_all();
        let survivors: Vec<i32> = children_of(me).into_iter().map(|(pid, _)| pid).collect();
        for pid in &survivors {
            let _ = kill_process(Pid::from_raw(*pid).unwrap(), Signal::KILL);
        }
        assert!(
            !survivors.is_empty(),
            "end_all ended the daemon (pid {daemon}, sessions {sessions:?})"
        );
    }

    #[test]
    fn a_pid_whose_parent_is_not_in_the_family_is_never_signalled() {
        let _one = ENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // As if the scan had seen `pid` as a descendant and it was recycled since: its parent
        // now is a shell that is not among the descendants handed to `end`.
        let mut shell = std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 300 & echo $!; wait")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(shell.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let stranger: i32 = line.trim().parse().unwrap();
        let me = getpid().as_raw_nonzero().get();
        end(stranger, me, &[]);
        std::thread::sleep(std::time::Duration::from_millis(100));
        let alive = living_processes().contains_key(&stranger);
        let _ = kill_process(Pid::from_raw(stranger).unwrap(), Signal::KILL);
        let _ = shell.kill();
        let _ = shell.wait();
        assert!(alive, "a process outside the family was signalled");
    }
}
