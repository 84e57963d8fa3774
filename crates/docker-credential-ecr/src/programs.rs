//! The helper's two programs and where each finds the other.
//!
//! `docker-credential-ecr` is small: it answers a warm `get` from the cache alone and hands
//! every other command line to `docker-credential-ecr-full`, which holds the AWS SDK, the
//! keychain and every command. They are installed side by side (cargo, tarballs) or, in the
//! Debian package, as `/usr/bin/docker-credential-ecr` and
//! `/usr/libexec/docker-credential-ecr/docker-credential-ecr-full`.

use std::path::{Path, PathBuf};

/// The program docker runs.
pub const FRONT: &str = "docker-credential-ecr";

/// The program with everything else.
pub const FULL: &str = "docker-credential-ecr-full";

/// The program behind `mirror`.
pub const MIRROR: &str = "docker-credential-ecr-mirror";

/// The mirror program that belongs with the full program at `full`: beside it.
pub fn mirror_beside(full: &Path) -> Option<PathBuf> {
    let candidate = full.parent()?.join(program_file(MIRROR));
    candidate.is_file().then_some(candidate)
}

/// The full program that belongs with the front program at `front`.
pub fn full_beside(front: &Path) -> Option<PathBuf> {
    let dir = front.parent()?;
    let name = program_file(FULL);
    [
        dir.join(&name),
        dir.join("../libexec").join(FRONT).join(&name),
    ]
    .into_iter()
    .find(|candidate| candidate.is_file())
}

/// The front program that belongs with the full program at `full` (what autostart entries
/// and hints name), or `full` itself when there is none.
pub fn front_beside(full: &Path) -> PathBuf {
    let name = program_file(FRONT);
    let candidates = full
        .parent()
        .map(|dir| [dir.join(&name), dir.join("../../bin").join(&name)]);
    candidates
        .into_iter()
        .flatten()
        .find(|candidate| candidate.is_file())
        .map(|found| found.canonicalize().unwrap_or(found))
        .unwrap_or_else(|| full.to_path_buf())
}

fn program_file(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    #[test]
    fn side_by_side_and_the_debian_layout_are_found_both_ways() {
        let root = tempfile::tempdir().unwrap();
        let cargo = root.path().join("target/debug");
        touch(&cargo.join(program_file(FRONT)));
        touch(&cargo.join(program_file(FULL)));
        assert_eq!(
            full_beside(&cargo.join(program_file(FRONT))),
            Some(cargo.join(program_file(FULL)))
        );
        assert_eq!(
            front_beside(&cargo.join(program_file(FULL))),
            cargo.join(program_file(FRONT)).canonicalize().unwrap()
        );

        let usr = root.path().join("usr");
        let front = usr.join("bin").join(program_file(FRONT));
        let full = usr.join("libexec").join(FRONT).join(program_file(FULL));
        touch(&front);
        assert_eq!(full_beside(&front), None, "no full program installed yet");
        assert_eq!(
            front_beside(&full),
            full,
            "no front: the full program names itself"
        );
        touch(&full);
        assert!(
            full_beside(&front)
                .unwrap()
                .ends_with(format!("libexec/{FRONT}/{}", program_file(FULL)))
        );
        assert_eq!(front_beside(&full), front.canonicalize().unwrap());
    }
}
