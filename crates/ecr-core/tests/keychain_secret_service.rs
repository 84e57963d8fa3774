//! [`OsKeychain`] against a real Secret Service: gnome-keyring on a private D-Bus session bus,
//! unlocked with a throwaway password, started by this test (the same steps as the fixture in
//! `tests/src/keychain.rs`, which this crate cannot use: the e2e crate stays free of the SDK).
//!
//! The buses use their own configuration, without service activation, so nothing on the machine
//! is auto-started, and the daemons run with an emptied environment (no `DISPLAY`): an unlock
//! prompt can never pop up on a developer's desktop. When `dbus-daemon`, `gnome-keyring-daemon`
//! or `secret-tool` is missing the test prints a visible `SKIP`; CI installs them.
//!
//! The keychain reads `DBUS_SESSION_BUS_ADDRESS` from the process environment, so the scenarios
//! run one after another in the one test of this binary, which sets it between them.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ecr_core::Secret;
use ecr_core::keychain::{KeychainAccess, KeychainError, OsKeychain, SecretStore};

const KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const TOOLS: [&str; 4] = [
    "dbus-daemon",
    "dbus-send",
    "gnome-keyring-daemon",
    "secret-tool",
];

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

/// A private session bus, optionally with gnome-keyring's Secret Service on it.
struct Bus {
    dir: PathBuf,
    address: String,
    daemons: Vec<Child>,
}

impl Bus {
    fn start(dir: &Path) -> Bus {
        std::fs::create_dir_all(dir).unwrap();
        let socket_dir = if dir.as_os_str().len() < 80 {
            dir.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig><type>session</type><listen>unix:dir={}</listen><auth>EXTERNAL</auth>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
                socket_dir.display()
            ),
        )
        .unwrap();
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("dbus-daemon.log")).unwrap())
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_string();
        assert!(address.starts_with("unix:"), "dbus-daemon said {address:?}");
        Bus {
            dir: dir.to_path_buf(),
            address,
            daemons: vec![bus],
        }
    }

    /// Starts gnome-keyring's Secret Service, unlocked, and waits until it owns its name.
    fn with_secret_service(mut self) -> Bus {
        let home = self.dir.join("home");
        let run = self.dir.join("run");
        for d in [&home, &run] {
            std::fs::create_dir_all(d).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let log = std::fs::File::create(self.dir.join("gnome-keyring.log")).unwrap();
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_RUNTIME_DIR", &run)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start gnome-keyring-daemon");
        let mut stdin = keyring.stdin.take().unwrap();
        stdin.write_all(b"throwaway-test-password").unwrap();
        drop(stdin);
        self.daemons.push(keyring);
        let started = Instant::now();
        while !self.has_owner("org.freedesktop.secrets") {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "gnome-keyring did not take org.freedesktop.secrets; see {}",
                self.dir.join("gnome-keyring.log").display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self
    }

    fn dbus_send(&self, dest: &str, args: &[&str]) -> std::process::Output {
        Command::new("dbus-send")
            .arg(format!("--bus={}", self.address))
            .args(["--print-reply", &format!("--dest={dest}")])
            .args(args)
            .output()
            .expect("run dbus-send")
    }

    fn has_owner(&self, name: &str) -> bool {
        let out = self.dbus_send(
            "org.freedesktop.DBus",
            &[
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                &format!("string:{name}"),
            ],
        );
        String::from_utf8_lossy(&out.stdout).contains("boolean true")
    }

    /// The object path of the default collection.
    fn default_collection(&self) -> String {
        let out = self.dbus_send(
            "org.freedesktop.secrets",
            &[
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.ReadAlias",
                "string:default",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        text.split('"')
            .nth(1)
            .unwrap_or_else(|| panic!("ReadAlias answered {text:?}"))
            .to_string()
    }

    /// Locks the default collection (the D-Bus `Lock` call needs no prompt).
    fn lock(&self) {
        let collection = self.default_collection();
        let out = self.dbus_send(
            "org.freedesktop.secrets",
            &[
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.Lock",
                &format!("array:objpath:{collection}"),
            ],
        );
        assert!(out.status.success(), "Lock: {out:?}");
        let out = self.dbus_send(
            "org.freedesktop.secrets",
            &[
                &collection,
                "org.freedesktop.DBus.Properties.Get",
                "string:org.freedesktop.Secret.Collection",
                "string:Locked",
            ],
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("boolean true"),
            "{out:?}"
        );
    }

    fn secret_tool(&self, args: &[&str]) -> std::process::Output {
        Command::new("secret-tool")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::null())
            .output()
            .expect("run secret-tool")
    }

    /// Points this process's keychain at this bus.
    fn make_current(&self) {
        // SAFETY: the only test of this binary runs its scenarios one after another, and no
        // other thread of ours reads the environment while this runs (worker threads of earlier
        // keychain calls have answered; a timed-out one is only ever left by the last scenario).
        unsafe { std::env::set_var("DBUS_SESSION_BUS_ADDRESS", &self.address) };
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        // The keyring first, then the bus.
        for child in self.daemons.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn os_keychain_against_a_real_secret_service() {
    let missing: Vec<_> = TOOLS.iter().filter(|t| !on_path(t)).collect();
    if !missing.is_empty() {
        let line = format!(
            "SKIP os_keychain_against_a_real_secret_service: {missing:?} not installed \
             (apt-get install dbus gnome-keyring libsecret-tools)\n"
        );
        let _ = std::io::stderr().write_all(line.as_bytes());
        let _ = std::io::stdout().write_all(line.as_bytes());
        return;
    }
    let dir = tempfile::Builder::new().prefix("kc-").tempdir().unwrap();

    // 0. No session bus at all (an SSH session, a container): Unavailable, fast.
    {
        let empty = dir.path().join("no-bus");
        std::fs::create_dir_all(&empty).unwrap();
        // SAFETY: as in `Bus::make_current`: nothing else runs yet.
        unsafe {
            std::env::remove_var("DBUS_SESSION_BUS_ADDRESS");
            std::env::set_var("XDG_RUNTIME_DIR", &empty);
        }
        for access in [KeychainAccess::UNATTENDED, KeychainAccess::INTERACTIVE] {
            let started = Instant::now();
            let err = OsKeychain::new(access).get("vendor-a").unwrap_err();
            let took = started.elapsed();
            assert!(matches!(err, KeychainError::Unavailable(_)), "{err:?}");
            assert!(took < Duration::from_secs(2), "took {took:?}");
            eprintln!("no session bus ({access:?}): {took:?}: {err}");
        }
    }

    // 1. A bus with no Secret Service: Unavailable, fast, naming the alternatives.
    {
        let bus = Bus::start(&dir.path().join("bare"));
        bus.make_current();
        for access in [KeychainAccess::UNATTENDED, KeychainAccess::INTERACTIVE] {
            let started = Instant::now();
            let err = OsKeychain::new(access).get("vendor-a").unwrap_err();
            let took = started.elapsed();
            assert!(matches!(err, KeychainError::Unavailable(_)), "{err:?}");
            assert!(took < Duration::from_secs(2), "took {took:?}");
            let text = err.to_string();
            assert!(
                text.contains("--profile P") && text.contains("--store file"),
                "{text}"
            );
            eprintln!("no Secret Service ({access:?}): {took:?}: {text}");
        }
        assert!(matches!(
            OsKeychain::new(KeychainAccess::INTERACTIVE).set("vendor-a", &Secret::new(KEY)),
            Err(KeychainError::Unavailable(_))
        ));
    }

    // 2. An unlocked gnome-keyring: round trip, one labelled item per key set.
    let bus = Bus::start(&dir.path().join("kr")).with_secret_service();
    bus.make_current();
    let keychain = OsKeychain::new(KeychainAccess::INTERACTIVE);
    // What `get` and the refresher read through: the Secret Service without the keyring store.
    let unattended = OsKeychain::new(KeychainAccess::UNATTENDED);
    assert_eq!(keychain.describe(), "the Secret Service keychain");
    assert!(unattended.get("vendor-a").unwrap().is_none());
    assert!(keychain.get("vendor-a").unwrap().is_none());
    keychain.set("vendor-a", &Secret::new(KEY)).unwrap();
    keychain.set("vendor-b", &Secret::new("second")).unwrap();
    keychain.set("vendor-a", &Secret::new(KEY)).unwrap(); // replaces, no second item
    assert_eq!(keychain.get("vendor-a").unwrap().unwrap().expose(), KEY);
    assert_eq!(
        keychain.get("vendor-b").unwrap().unwrap().expose(),
        "second"
    );
    assert_eq!(unattended.get("vendor-a").unwrap().unwrap().expose(), KEY);
    assert_eq!(
        unattended.get("vendor-b").unwrap().unwrap().expose(),
        "second"
    );

    let found = bus.secret_tool(&["search", "--all", "service", "docker-credential-ecr"]);
    let listing = String::from_utf8_lossy(&found.stdout).to_string()
        + &String::from_utf8_lossy(&found.stderr);
    assert_eq!(
        listing
            .matches("label = docker-credential-ecr: vendor-a")
            .count(),
        1,
        "{listing}"
    );
    assert!(
        listing.contains("label = docker-credential-ecr: vendor-b"),
        "{listing}"
    );
    assert!(
        listing.contains("attribute.username = vendor-a"),
        "{listing}"
    );
    let looked_up = bus.secret_tool(&[
        "lookup",
        "service",
        "docker-credential-ecr",
        "username",
        "vendor-a",
    ]);
    assert_eq!(String::from_utf8_lossy(&looked_up.stdout), KEY);

    assert!(keychain.delete("vendor-a").unwrap());
    assert!(!keychain.delete("vendor-a").unwrap());
    assert!(keychain.get("vendor-a").unwrap().is_none());
    assert_eq!(
        keychain.get("vendor-b").unwrap().unwrap().expose(),
        "second"
    );

    // 3. The collection locked. Unattended (get, the refresher): Locked at once, without
    //    asking to unlock (the e2e test `tests/tests/keys.rs` watches the bus for that).
    bus.lock();
    let started = Instant::now();
    let result = unattended.get("vendor-b");
    let took = started.elapsed();
    eprintln!("locked keyring, unattended: {took:?}: {result:?}");
    assert!(
        matches!(result, Err(KeychainError::Locked(_))),
        "{result:?}"
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!(
        unattended.get("vendor-a").unwrap().is_none(),
        "absent stays absent"
    );
    //    Interactive: asks to unlock; with no display for the prompt, a refusal, never a hang.
    let started = Instant::now();
    let result = keychain.get("vendor-b");
    let took = started.elapsed();
    eprintln!("locked keyring, interactive: {took:?}: {result:?}");
    assert!(
        matches!(
            result,
            Err(KeychainError::Locked(_)) | Err(KeychainError::Timeout(_))
        ),
        "{result:?}"
    );
    for result in [result, unattended.get("vendor-b")] {
        if let Err(e) = &result {
            assert!(!e.to_string().contains("second"));
        }
    }
}
