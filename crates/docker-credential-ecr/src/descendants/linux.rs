//! Linux: `PR_SET_CHILD_SUBREAPER`, and the descendants found through `/proc/<pid>/stat`.

use std::collections::BTreeMap;

use rustix::process::{Pid, Signal, getpid, kill_process, set_child_subreaper};

/// How many times [`end_all`] looks again for descendants started while it was ending others.
const ROUNDS: usize = 20;

/// Makes this process the reaper of its orphaned descendants.
pub fn adopt_orphans() {
    if let Err(e) = set_child_subreaper(Some(getpid())) {
        tracing::debug!(error = %e, "cannot become a child subreaper; orphans go to init");
    }
}

/// Sends `SIGKILL` to every living descendant of this process, until none is left (or after
/// [`ROUNDS`] rounds of new ones).
pub fn end_all() {
    let me = getpid().as_raw_nonzero().get();
    for _ in 0..ROUNDS {
        let descendants = descendants_of(me, &living_processes());
        if descendants.is_empty() {
            return;
        }
        for pid in descendants {
            tracing::debug!(pid, "ending a process this helper started");
            if let Some(pid) = Pid::from_raw(pid) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
    }
}

/// Every process that is not a zombie, by pid, with its parent's pid.
fn living_processes() -> BTreeMap<i32, i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (state, parent) = state_and_parent(&stat)?;
            (state != 'Z' && state != 'X').then_some((pid, parent))
        })
        .collect()
}

/// The state and the parent's pid from a `/proc/<pid>/stat` line: `pid (comm) S ppid ...`, where
/// `comm` may hold spaces and parentheses (hence the last `)`).
fn state_and_parent(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
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

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        assert_eq!(state_and_parent("42 (sh) S 7 42 42 0 -1"), Some(('S', 7)));
        assert_eq!(state_and_parent("43 (a) (b c) Z 1 43 43"), Some(('Z', 1)));
        assert_eq!(state_and_parent("garbage"), None);
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
        adopt_orphans();
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("sleep 300 & echo $! > {}", pid_file.display()))
            .status()
            .unwrap();
        assert!(status.success());
        let orphan: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let me = getpid().as_raw_nonzero().get();
        assert_eq!(living_processes().get(&orphan), Some(&me), "adopted");
        end_all();
        assert!(
            !living_processes().contains_key(&orphan),
            "the orphan was ended"
        );
    }
}
