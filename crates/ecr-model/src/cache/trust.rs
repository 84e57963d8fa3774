//! Whether a directory of the token cache may be used at all.
//!
//! A token read from a directory another user owns (or may write) could be theirs, planted for
//! us to hand to docker; a token written there is theirs to read. So a cache directory is used
//! only when it is absent (it will be created 0700) or a directory owned by this user, writable
//! by neither group nor others, and writable by this user (not on a read-only mount). Otherwise
//! the cache is neither read nor written, and `get` fetches and serves uncached.

use std::io;
use std::path::Path;

/// `Ok` when `dir` is absent or a directory only this user may change and this user can write;
/// else what is wrong with it.
pub fn check_dir(dir: &Path) -> Result<(), String> {
    let metadata = match std::fs::metadata(dir) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot inspect it: {e}")),
    };
    if !metadata.is_dir() {
        return Err("it is not a directory".into());
    }
    check_owner_and_mode(dir, &metadata)
}

/// [`check_dir`] for the directory that holds the cache's root, except that a shared directory
/// with the sticky bit owned by root or this user (such as `/tmp`, whose entries only their
/// owners may move) passes. A sticky directory of another user does not: its owner may still
/// move what is in it.
pub fn check_parent(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        if std::fs::metadata(dir)
            .is_ok_and(|m| m.is_dir() && m.mode() & 0o1000 != 0 && (m.uid() == 0 || m.uid() == me))
        {
            return Ok(());
        }
    }
    check_dir(dir)
}

#[cfg(unix)]
fn check_owner_and_mode(dir: &Path, metadata: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    if metadata.uid() != me {
        return Err(format!(
            "it is owned by uid {}, not by this user (uid {me})",
            metadata.uid()
        ));
    }
    let mode = metadata.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "others may write it (mode {mode:o}); `chmod 700` it"
        ));
    }
    use rustix::fs::Access;
    rustix::fs::access(dir, Access::WRITE_OK | Access::EXEC_OK)
        .map_err(|e| format!("this user cannot write it: {e}"))
}

#[cfg(not(unix))]
fn check_owner_and_mode(_dir: &Path, _metadata: &std::fs::Metadata) -> Result<(), String> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_private_directories_of_this_user_pass() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("d");
        assert_eq!(check_dir(&dir), Ok(()), "absent: it will be created");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(check_dir(&dir), Ok(()));
        for open in [0o777, 0o720, 0o702] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(open)).unwrap();
            let refused = check_dir(&dir).unwrap_err();
            assert!(refused.contains("others may write"), "{open:o}: {refused}");
        }
        let file = root.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(check_dir(&file).is_err());
    }

    #[test]
    fn a_sticky_parent_passes_only_when_root_or_this_user_owns_it() {
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(check_parent(&shared), Ok(()), "like /tmp");
        if !rustix::process::geteuid().is_root() {
            assert!(
                std::env::var("CI").is_err(),
                "under CI this test runs as root, to chown"
            );
            eprintln!("SKIP the other-owner half: needs root to chown");
            return;
        }
        let nobody = rustix::process::Uid::from_raw(65534);
        rustix::fs::chown(&shared, Some(nobody), None).unwrap();
        assert!(
            check_parent(&shared).is_err(),
            "another user's sticky directory"
        );
    }
}
