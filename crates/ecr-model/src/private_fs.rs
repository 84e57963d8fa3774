//! Files only the user may read, replaced whole: directories created 0700, lock files 0600, and
//! whole-file replacement so that a reader sees the old contents or the new, never half of
//! either, whoever is killed when. Shared by every module that keeps something on disk (cache,
//! config, key file, client configs, state).
//!
//! # A replacement, step by step
//!
//! 1. Sweep: every temp file in the target's directory whose writer died is removed (below).
//! 2. A temp file `.<name>.tmp-XXXXXXXX` in the target's directory (same filesystem, so the
//!    rename is atomic), created 0600 (or the mode asked for), and locked (`flock`) by its
//!    writer for as long as it exists under that name.
//! 3. The bytes are written, then, for a [`Durability::Durable`] write, the file is fsync'd.
//! 4. Renamed over the target; a durable write then fsyncs the directory, so that the rename
//!    itself survives a power cut.
//!
//! Config, key and client config files are written durably ([`write_atomically`],
//! [`write_atomically_in`], [`create_once`]); cache and state files are only renamed
//! ([`write_atomically_unsynced`]): a cache entry lost in a power cut is fetched again.
//!
//! # Sweeping a killed writer's temp file, exactly
//!
//! A writer killed between steps 2 and 4 leaves its temp file behind, and for the key file
//! such a file holds secrets. Its lock died with it (the kernel drops a process's `flock`s),
//! so the next writer in that directory takes the lock of each temp file of this module's
//! shape (`.<name>.tmp-` and 8 letters or digits) it finds: one it gets belongs to a dead
//! writer and is removed; one it cannot get is being written. No age heuristic, and no other
//! lock needed (cache files are written without one). The sweep covers the directory, not only
//! the file being written, so that files written by turns (`keys.json` and `config.json`,
//! `config.json.bak` and `config.json`, the cache entries of one registry) leave at most one
//! temp file between them, the last killed writer's.
//! The one race, a sweeper removing a temp file after its writer created it but before the
//! writer locked it, is closed by the writer: once it holds its lock it checks that its file
//! still has a name, and starts over with a new one if not.
//!
//! Temp files of older versions (`.tmp-XXXXXX`, unlocked) and of other programs (docker's
//! `config.json123456`, containers' `.tmp-auth.json123456`) do not have that shape and are
//! never touched: nothing tells a dead writer's from a live one's.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// How far a replacement goes to reach the disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// The file fsync'd before the rename, its directory after: it survives a power cut.
    Durable,
    /// Rename only: atomic for readers and across a killed process, but a power cut may lose
    /// the new version (or, on some filesystems, leave an empty file, which readers of cache
    /// and state files treat as absent).
    RenameOnly,
}

/// The random part of a temp file's name: `tempfile`'s letters and digits.
const TEMP_RANDOM_LEN: usize = 8;
/// What comes between the target's name and the random part.
const TEMP_MARK: &str = ".tmp-";

/// How often a writer starts over because a sweeper took its temp file before it was locked;
/// more than one in a row means something else is deleting files here.
const SWEPT_RETRIES: usize = 8;

/// Creates `dir` (and missing parents) with mode 0700 on Unix; leaves an existing one alone.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Opens (creating it 0600 if needed) a file used only for its lock.
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Replaces `path` with `bytes` durably (see the module docs), 0600.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(&parent_dir(path), path, bytes, None, Durability::Durable)
}

/// Replaces `path` with `bytes` durably, the file created 0600 or `mode`, its temp file in
/// `dir`, which must be `path`'s directory (a temp file elsewhere would never be swept).
pub fn write_atomically_in(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
) -> io::Result<()> {
    replace(dir, path, bytes, mode, Durability::Durable)
}

/// Replaces `path` with `bytes` atomically but without fsync, 0600: for cache and state files,
/// which are refetched or rebuilt when a power cut loses them.
pub fn write_atomically_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(&parent_dir(path), path, bytes, None, Durability::RenameOnly)
}

/// Creates `path` with `bytes` (0600, or `mode`) durably unless it exists: never overwrites,
/// and a reader never sees it half-written. `Ok(false)` when it already existed.
pub fn create_once(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<bool> {
    if fs::symlink_metadata(path).is_ok() {
        return Ok(false);
    }
    let dir = parent_dir(path);
    let tmp = written_temp_file(&dir, path, bytes, mode, Durability::Durable)?;
    match tmp.persist_noclobber(path) {
        Ok(_file) => {
            sync_dir_after_rename(&dir);
            Ok(true)
        }
        // Another writer was first; its copy is the original too. Dropping the temp file
        // removes it.
        Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.error),
    }
}

/// The directory a file's temp files go to: its parent, or `.` for a bare name.
fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn replace(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
    durability: Durability,
) -> io::Result<()> {
    let tmp = written_temp_file(dir, path, bytes, mode, durability)?;
    // The lock goes with the file, which becomes `path`: nothing locks targets themselves.
    tmp.persist(path).map_err(|e| e.error)?;
    if durability == Durability::Durable {
        sync_dir_after_rename(dir);
    }
    Ok(())
}

/// Syncs `dir` once a rename into it happened. The file is replaced by then, so a failure
/// (a filesystem that cannot fsync a directory: some FUSE, 9p, SMB mounts) is logged, never
/// reported as a failed write: a caller would undo a change that took effect.
fn sync_dir_after_rename(dir: &Path) {
    if let Err(e) = sync_dir(dir) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot fsync the directory after a rename; the change is made but may not survive a power cut");
    }
}

/// Sweeps the dead writers' temp files of `path`, then makes a locked temp file of our own in
/// `dir` holding `bytes`, with its mode set and (when durable) synced.
fn written_temp_file(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
    durability: Durability,
) -> io::Result<NamedTempFile> {
    let prefix = temp_prefix(path);
    sweep_dead_temp_files(dir);
    let mut tmp = locked_temp_file(dir, &prefix)?;
    tmp.write_all(bytes)?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    if durability == Durability::Durable {
        tmp.as_file().sync_all()?;
    }
    Ok(tmp)
}

/// `.<file name>.tmp-`: the start of the temp files of one target.
fn temp_prefix(path: &Path) -> OsString {
    let mut prefix = OsString::from(".");
    prefix.push(path.file_name().unwrap_or_else(|| "file".as_ref()));
    prefix.push(TEMP_MARK);
    prefix
}

/// Whether `name` has the shape of this module's temp files: `.<name>.tmp-` + 8 letters or
/// digits.
fn is_temp_file_name(name: &[u8]) -> bool {
    let Some(stem) = name.strip_prefix(b".") else {
        return false;
    };
    if stem.len() < TEMP_RANDOM_LEN {
        return false;
    }
    let (head, random) = stem.split_at(stem.len() - TEMP_RANDOM_LEN);
    random.iter().all(u8::is_ascii_alphanumeric)
        && head
            .strip_suffix(TEMP_MARK.as_bytes())
            .is_some_and(|target| !target.is_empty())
}

/// A new temp file (created 0600 by `tempfile`) whose lock we hold, still linked under its name.
fn locked_temp_file(dir: &Path, prefix: &OsString) -> io::Result<NamedTempFile> {
    for _ in 0..SWEPT_RETRIES {
        let tmp = tempfile::Builder::new()
            .prefix(prefix)
            .rand_bytes(TEMP_RANDOM_LEN)
            .tempfile_in(dir)?;
        // Blocks only while a sweeper holds it (it then removes the name: see below).
        tmp.as_file().lock()?;
        if still_linked(tmp.as_file())? {
            return Ok(tmp);
        }
        // A sweeper took it before we locked it. Its name is gone: keep the drop from
        // removing a file that may be someone else's by now.
        let _ = tmp.into_temp_path().keep();
    }
    Err(io::Error::other(format!(
        "temp files in {} keep disappearing",
        dir.display()
    )))
}

#[cfg(unix)]
fn still_linked(file: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    Ok(file.metadata()?.nlink() > 0)
}

#[cfg(not(unix))]
fn still_linked(_file: &File) -> io::Result<bool> {
    // Windows cannot remove an open file: a sweeper never takes one from under its writer.
    Ok(true)
}

/// Removes every temp file in `dir` whose lock nobody holds (its writer died). Best effort: a
/// file that cannot be opened or removed stays, and the write goes on.
fn sweep_dead_temp_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !is_temp_file_name(entry.file_name().as_encoded_bytes()) {
            continue;
        }
        let path = entry.path();
        // Only regular files, opened without following a link or blocking on a FIFO someone
        // else named like ours.
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file()) {
            continue;
        }
        let Ok(file) = open_for_sweep(&path) else {
            continue;
        };
        if file.try_lock().is_ok() {
            // Its writer is dead; a live writer that made it and has not locked it yet sees
            // the name gone once it gets the lock, and starts over.
            let _ = fs::remove_file(&path);
        }
        drop(file);
    }
}

/// Opens a temp file found in a directory to test its lock: no symlink followed, no FIFO
/// waited on.
fn open_for_sweep(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(
            rustix::fs::OFlags::NOFOLLOW.bits() as i32 | rustix::fs::OFlags::NONBLOCK.bits() as i32,
        );
    }
    options.open(path)
}

/// Makes a rename in `dir` durable (Unix; elsewhere the rename is as durable as it gets).
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn directories_and_lock_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir(&dir).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let lock = dir.join("x.lock");
        open_lock_file(&lock).unwrap();
        assert_eq!(mode(&lock), 0o600);
    }

    #[test]
    fn a_replacement_is_private_or_keeps_the_mode_asked_and_leaves_nothing_beside() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("config.json");
        write_atomically(&path, b"one").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(mode(&path), 0o600);
        write_atomically_in(root.path(), &path, b"two", Some(0o644)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(mode(&path), 0o644);
        write_atomically_unsynced(&path, b"three").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"three");
        assert_eq!(names(root.path()), ["config.json"]);
    }

    /// A temp file as a writer killed mid-write leaves it: named, unlocked.
    fn dead_writers_temp(dir: &Path, target: &str, n: usize) -> PathBuf {
        let path = dir.join(format!(".{target}.tmp-deadXYZ{n}"));
        fs::write(&path, b"{\"half\": ").unwrap();
        path
    }

    #[test]
    fn the_next_write_sweeps_dead_writers_temp_files_and_nothing_else() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let path = dir.join("keys.json");
        let mut dead: Vec<PathBuf> = (0..3)
            .map(|n| dead_writers_temp(dir, "keys.json", n))
            .collect();
        dead.push(dead_writers_temp(dir, "config.json", 0));
        dead.push(dead_writers_temp(dir, "config.json.bak", 0));
        // Older versions' and other programs' temp files, and the user's own files.
        let foreign = [
            ".tmp-AbCdEf",
            ".tmp-auth.json123456",
            "config.json123456789",
            ".keys.json.tmp-short",
            ".keys.json.tmp-has_8_no",
            "keys.json.tmp-AbCdEfGh",
            "..tmp-AbCdEfGh",
        ];
        for name in foreign {
            fs::write(dir.join(name), b"").unwrap();
        }
        // A live writer's temp file: locked by an open handle.
        let live = dir.join(".keys.json.tmp-live1234");
        let live_handle = File::create(&live).unwrap();
        live_handle.lock().unwrap();

        write_atomically(&path, b"{}").unwrap();
        for path in &dead {
            assert!(!path.exists(), "{} was left", path.display());
        }
        assert!(live.exists(), "a live writer's file is never taken");
        for name in foreign {
            assert!(dir.join(name).exists(), "{name} is not ours to remove");
        }
        drop(live_handle);
        write_atomically_unsynced(&path, b"{}").unwrap();
        assert!(!live.exists(), "swept once its writer is gone");
        assert_eq!(fs::read(&path).unwrap(), b"{}");
    }

    #[test]
    fn a_writer_whose_temp_file_is_swept_before_it_locks_it_starts_over() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let prefix = temp_prefix(&dir.join("state.json"));
        // Sweep between creation and lock, as a concurrent sweeper could.
        let tmp = tempfile::Builder::new()
            .prefix(&prefix)
            .rand_bytes(TEMP_RANDOM_LEN)
            .tempfile_in(dir)
            .unwrap();
        sweep_dead_temp_files(dir);
        assert!(!tmp.path().exists());
        assert!(!still_linked(tmp.as_file()).unwrap());
        let _ = tmp.into_temp_path().keep();
        let mine = locked_temp_file(dir, &prefix).unwrap();
        assert!(still_linked(mine.as_file()).unwrap());
        sweep_dead_temp_files(dir);
        assert!(mine.path().exists(), "a locked temp file is never swept");
    }

    #[test]
    fn create_once_never_overwrites() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("config.json.orig");
        assert!(create_once(&path, b"original", Some(0o640)).unwrap());
        assert_eq!(mode(&path), 0o640);
        assert!(!create_once(&path, b"later", None).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"original");
        assert_eq!(names(root.path()), ["config.json.orig"]);
    }

    #[test]
    fn a_fifo_or_a_link_named_like_a_temp_file_neither_blocks_nor_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join(".config.json.tmp-AAAAAAAA");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        let link = dir.path().join(".keys.json.tmp-BBBBBBBB");
        std::os::unix::fs::symlink(outside.path(), &link).unwrap();
        let target = dir.path().join("config.json");
        let (done, finished) = std::sync::mpsc::channel();
        let writer = {
            let target = target.clone();
            std::thread::spawn(move || {
                let result = write_atomically(&target, b"{}");
                let _ = done.send(());
                result
            })
        };
        assert!(
            finished
                .recv_timeout(std::time::Duration::from_secs(10))
                .is_ok(),
            "the write hung on a FIFO named like a temp file"
        );
        writer.join().unwrap().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"{}");
        assert!(outside.path().exists(), "a link's target is never touched");
    }
}
