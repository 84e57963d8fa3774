//! The Debian package: `installers/deb/build.sh` packages the binaries of this build
//! (`target/<profile>/`), then
//!
//! - any user: `dpkg-deb --info` and `--contents` show the control fields (Depends exactly what
//!   the binaries link: libc6 and libgcc-s1) and every file where Debian expects it;
//! - root only (a visible SKIP otherwise): `apt-get install ./<file>.deb`, the installed programs
//!   print their version, every file `dpkg -L` lists is there, then `apt-get remove` takes the
//!   programs away. A guard purges the package on `Drop`, so a failed assertion never leaves it
//!   installed; the [`SystemLock`] is held throughout (apt's and dpkg's state is machine-wide).
//!
//! Needs `dpkg-deb` and `dpkg-shlibdeps` (package `dpkg-dev`); without `dpkg-deb` (not a Debian
//! system) both tests print a SKIP.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ecr_e2e::sandbox::helper_bin;
use ecr_e2e::system::{SystemLock, skip_unless_root};
use tempfile::TempDir;

const PACKAGE: &str = "docker-credential-ecr";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Files the package must install (besides the icon sizes, checked separately).
const EXPECTED_FILES: &[&str] = &[
    "/usr/bin/docker-credential-ecr",
    "/usr/libexec/docker-credential-ecr/docker-credential-ecr-full",
    "/usr/libexec/docker-credential-ecr/docker-credential-ecr-mirror",
    "/usr/bin/ecr-tray",
    "/usr/share/man/man1/docker-credential-ecr.1.gz",
    "/usr/share/man/man1/ecr-tray.1.gz",
    "/usr/share/applications/ecr-tray.desktop",
    "/usr/lib/systemd/user/docker-credential-ecr-agent.service",
    "/usr/share/icons/hicolor/scalable/apps/ecr-tray.svg",
    "/usr/share/bash-completion/completions/docker-credential-ecr",
    "/usr/share/zsh/vendor-completions/_docker-credential-ecr",
    "/usr/share/fish/vendor_completions.d/docker-credential-ecr.fish",
    "/usr/share/doc/docker-credential-ecr/copyright",
];
const ICON_SIZES: &[u32] = &[16, 22, 24, 32, 48, 64, 128, 256];

/// The package's Debian version: a Cargo pre-release `-rc.1` becomes `~rc.1`.
fn debian_version() -> String {
    VERSION.replacen('-', "~", 1)
}

fn expected_files() -> Vec<String> {
    let mut files: Vec<String> = EXPECTED_FILES.iter().map(|f| f.to_string()).collect();
    files.extend(
        ICON_SIZES
            .iter()
            .map(|s| format!("/usr/share/icons/hicolor/{s}x{s}/apps/ecr-tray.png")),
    );
    files
}

/// True (after printing a SKIP line) when this is not a Debian system.
fn skip_without_dpkg(test: &str) -> bool {
    if Command::new("dpkg-deb").arg("--version").output().is_ok() {
        return false;
    }
    println!("SKIP {test}: dpkg-deb not found (not a Debian system)");
    eprintln!("SKIP {test}: dpkg-deb not found (not a Debian system)");
    true
}

fn run(command: &mut Command) -> Output {
    let line = format!("{command:?}");
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {line}: {e}"));
    assert!(
        out.status.success(),
        "{line} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(command: &mut Command) -> String {
    String::from_utf8(run(command).stdout).expect("UTF-8 output")
}

/// A package built by `installers/deb/build.sh` from this build's binaries, in a temp dir.
struct BuiltPackage {
    _dir: TempDir,
    deb: PathBuf,
}

fn build_package() -> BuiltPackage {
    // target/<profile>/docker-credential-ecr: the profile and target dir this test was built in.
    let profile_dir = helper_bin()
        .parent()
        .expect("the helper lives in a profile directory")
        .to_path_buf();
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let target_dir = profile_dir.parent().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // apt reads a local package as the unprivileged _apt user when it can.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let printed = stdout(
        Command::new("bash")
            .arg(repo.join("installers/deb/build.sh"))
            .args(["--profile", &profile, "--out"])
            .arg(dir.path())
            .env("CARGO_TARGET_DIR", target_dir),
    );
    let deb = PathBuf::from(printed.lines().last().expect("build.sh prints the package"));
    let arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        deb,
        dir.path().join(format!(
            "{PACKAGE}_{}_{}.deb",
            debian_version(),
            arch.trim()
        )),
    );
    assert!(deb.is_file(), "{} not written", deb.display());
    BuiltPackage { _dir: dir, deb }
}

/// `Field: value` of a control file (first line of the value only).
fn control_field<'a>(control: &'a str, field: &str) -> Option<&'a str> {
    control.lines().find_map(|line| {
        line.trim_start()
            .strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// The package names of a relationship field, alternatives included: `a (>= 1), b | c` -> a b c.
fn package_names(field: &str) -> Vec<String> {
    field
        .split([',', '|'])
        .map(|part| part.split_whitespace().next().unwrap_or("").to_string())
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn deb_package_has_the_control_fields_and_files_debian_expects() {
    if skip_without_dpkg("deb_package_has_the_control_fields_and_files_debian_expects") {
        return;
    }
    let package = build_package();

    let info = stdout(Command::new("dpkg-deb").arg("--info").arg(&package.deb));
    println!("{info}");
    let field =
        |name: &str| control_field(&info, name).unwrap_or_else(|| panic!("no {name} in\n{info}"));
    assert_eq!(field("Package"), PACKAGE);
    assert_eq!(field("Version"), debian_version());
    let arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(field("Architecture"), arch.trim());
    // The tray talks to D-Bus in pure Rust: no GTK, no libdbus, no OpenSSL.
    let mut depends = package_names(field("Depends"));
    depends.sort();
    assert_eq!(
        depends,
        ["libc6", "libgcc-s1"],
        "Depends: {}",
        field("Depends")
    );
    assert!(
        field("Depends").contains("libc6 (>= "),
        "libc6 without a minimum version: {}",
        field("Depends")
    );
    assert!(package_names(field("Recommends")).contains(&"gnome-keyring".to_string()));
    assert_eq!(package_names(field("Suggests")), ["docker.io", "podman"]);
    assert!(field("Installed-Size").parse::<u64>().unwrap() > 0);

    // Lines like `-rwxr-xr-x root/root 1234 2024-01-01 00:00 ./usr/bin/ecr-tray`.
    let contents = stdout(Command::new("dpkg-deb").arg("--contents").arg(&package.deb));
    let entries: Vec<(&str, &str, &str)> = contents
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert!(cols.len() >= 6, "unexpected --contents line {line:?}");
            let path = cols[5].strip_prefix('.').unwrap_or(cols[5]);
            (cols[0], cols[1], path)
        })
        .collect();
    for (mode, owner, path) in &entries {
        assert_eq!(*owner, "root/root", "{path} is not owned by root");
        let bits = mode.as_bytes();
        assert!(
            bits[5] != b'w' && bits[8] != b'w',
            "{path} is writable by group or others: {mode}"
        );
    }
    let mode_of = |wanted: &str| {
        entries
            .iter()
            .find(|(_, _, path)| *path == wanted)
            .map(|(mode, _, _)| *mode)
            .unwrap_or_else(|| panic!("{wanted} is not in the package:\n{contents}"))
    };
    for file in expected_files() {
        let mode = mode_of(&file);
        let want = if file.starts_with("/usr/bin/") || file.starts_with("/usr/libexec/") {
            "-rwxr-xr-x"
        } else {
            "-rw-r--r--"
        };
        assert_eq!(mode, want, "mode of {file}");
    }
    // Nothing else but directories, the subcommands' man pages and what is expected: no stray
    // build files.
    let is_man_page =
        |path: &str| path.starts_with("/usr/share/man/man1/") && path.ends_with(".1.gz");
    let unexpected: Vec<&str> = entries
        .iter()
        .filter(|(mode, _, path)| {
            !mode.starts_with('d')
                && !is_man_page(path)
                && !expected_files().iter().any(|f| f == path)
        })
        .map(|(_, _, path)| *path)
        .collect();
    assert!(unexpected.is_empty(), "unexpected files: {unexpected:?}");
}

/// Purges the package when dropped, whatever happened before.
struct InstalledPackage;

impl Drop for InstalledPackage {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", PACKAGE])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output();
    }
}

/// `dpkg-query`'s status word for the package (`installed`, `config-files`, `not-installed`).
fn package_status() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", PACKAGE])
        .output()
        .expect("run dpkg-query");
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    } else {
        "not-installed".to_string()
    }
}

#[test]
fn deb_package_installs_runs_and_removes_with_apt() {
    let test = "deb_package_installs_runs_and_removes_with_apt";
    if skip_unless_root(test) || skip_without_dpkg(test) {
        return;
    }
    let package = build_package();
    let _lock = SystemLock::acquire();
    assert_eq!(
        package_status(),
        "not-installed",
        "{PACKAGE} is already installed here: this test installs and removes it, so remove it first"
    );
    let installed = InstalledPackage;

    run(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .arg(&package.deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    assert_eq!(package_status(), "installed");

    let helper = stdout(Command::new("/usr/bin/docker-credential-ecr").arg("version"));
    assert_eq!(helper.trim(), format!("docker-credential-ecr {VERSION}"));
    let tray = stdout(Command::new("/usr/bin/ecr-tray").arg("--version"));
    assert_eq!(tray.trim(), format!("ecr-tray {VERSION}"));
    // The front hands `mirror` to the full program, which finds the mirror program beside it.
    let mirror_help =
        stdout(Command::new("/usr/bin/docker-credential-ecr").args(["mirror", "--help"]));
    assert!(
        mirror_help.contains("--to <TARGET_PREFIX>"),
        "the installed mirror program's help:\n{mirror_help}"
    );

    // Every file the package says it installed is there, and the expected ones are among them.
    let listed = stdout(Command::new("dpkg").args(["-L", PACKAGE]));
    println!("dpkg -L {PACKAGE}:\n{listed}");
    let listed: Vec<&str> = listed
        .lines()
        .filter(|l| !l.is_empty() && *l != "/.")
        .collect();
    for path in &listed {
        assert!(
            Path::new(path).exists(),
            "{path} is listed by dpkg -L but missing"
        );
    }
    for file in expected_files() {
        assert!(listed.contains(&file.as_str()), "{file} not in dpkg -L");
    }
    for page in ["docker-credential-ecr", "ecr-tray"] {
        let roff =
            stdout(Command::new("gzip").args(["-dc", &format!("/usr/share/man/man1/{page}.1.gz")]));
        assert!(
            roff.contains(".TH"),
            "{page}.1.gz is not a man page:\n{roff}"
        );
    }
    let unit = std::fs::read_to_string("/usr/lib/systemd/user/docker-credential-ecr-agent.service")
        .unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/bin/docker-credential-ecr agent\n"),
        "{unit}"
    );
    assert!(unit.contains("\nWantedBy=default.target\n"), "{unit}");
    let desktop = std::fs::read_to_string("/usr/share/applications/ecr-tray.desktop").unwrap();
    assert!(
        desktop.contains("\nExec=ecr-tray\n") && desktop.contains("\nIcon=ecr-tray\n"),
        "{desktop}"
    );
    let icon = std::fs::read("/usr/share/icons/hicolor/48x48/apps/ecr-tray.png").unwrap();
    assert!(icon.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_eq!(
        u32::from_be_bytes(icon[16..20].try_into().unwrap()),
        48,
        "icon width"
    );

    run(Command::new("apt-get")
        .args(["remove", "-y", "-q", PACKAGE])
        .env("DEBIAN_FRONTEND", "noninteractive"));
    for bin in [
        "/usr/bin/docker-credential-ecr",
        "/usr/libexec/docker-credential-ecr/docker-credential-ecr-full",
        "/usr/libexec/docker-credential-ecr/docker-credential-ecr-mirror",
        "/usr/bin/ecr-tray",
    ] {
        assert!(
            !Path::new(bin).exists(),
            "{bin} is still there after apt-get remove"
        );
    }
    assert_ne!(package_status(), "installed");
    drop(installed);
    assert_eq!(package_status(), "not-installed");
}
