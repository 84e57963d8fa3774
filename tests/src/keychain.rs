//! A real Secret Service for one test: a private D-Bus session bus with gnome-keyring's Secret
//! Service on it, unlocked with a throwaway password, and a variant with a bus but no Secret
//! Service.
//!
//! ```no_run
//! # use ecr_e2e::keychain::SecretService;
//! # let dir = tempfile::tempdir().unwrap();
//! let service = SecretService::start(dir.path());
//! // std::process::Command::new(helper).envs(service.env())...
//! ```
//!
//! # Isolation
//!
//! - The bus runs with its own configuration: no service activation, so connecting to
//!   `org.freedesktop.secrets` never auto-starts the machine's own gnome-keyring (which would
//!   race the test's daemon for the name), and the bus socket lives in the test's directory.
//! - gnome-keyring runs with an emptied environment: `HOME`, `XDG_*` under the test's directory
//!   (its `login.keyring` is created there, unlocked with [`SecretService::PASSWORD`]) and no
//!   `DISPLAY`, so a locked keyring never opens an unlock prompt on a developer's desktop: the
//!   prompt fails at once instead.
//! - Both daemons are children of the test, killed and reaped on `Drop`.
//!
//! # Watching the bus
//!
//! [`SecretService::monitor`] starts `dbus-monitor` on the private bus (its configuration lets
//! the test's user eavesdrop) and returns once it sees traffic: what a client called, e.g. that a
//! `get` never asked to `Unlock`, is then in [`BusMonitor::method_calls`].
//!
//! # What a client needs
//!
//! Only [`SecretService::env`]: `DBUS_SESSION_BUS_ADDRESS`. The keyring crates' zbus Secret
//! Service store reads nothing else.
//!
//! # Skipping
//!
//! [`skip_unless_installed`] prints a visible `SKIP` when `dbus-daemon`, `dbus-send`,
//! `dbus-monitor`, `gnome-keyring-daemon` or `secret-tool` is missing (Debian: `dbus`,
//! `gnome-keyring`, `libsecret-tools`; `.ci/run` installs them).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The programs the fixture and its tests run.
pub const TOOLS: [&str; 5] = [
    "dbus-daemon",
    "dbus-send",
    "dbus-monitor",
    "gnome-keyring-daemon",
    "secret-tool",
];

/// How long gnome-keyring may take to own `org.freedesktop.secrets`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Unix socket paths are limited to 108 bytes: longer test directories put the socket in /tmp.
const MAX_SOCKET_DIR: usize = 80;

/// Returns true (and says so visibly) when `test_name` must be skipped for lack of the tools.
///
/// The line goes to the real stdout and stderr, bypassing the harness's output capture.
pub fn skip_unless_installed(test_name: &str) -> bool {
    let missing = crate::skip::missing_programs(TOOLS);
    if missing.is_empty() {
        return false;
    }
    crate::skip::skip(
        test_name,
        &format!(
            "{} (apt-get install dbus gnome-keyring libsecret-tools)",
            missing.join(", ")
        ),
    )
}

/// A private session bus and, unless made with [`SecretService::without_service`], gnome-keyring's
/// Secret Service on it. Both stop on `Drop`.
pub struct SecretService {
    dir: PathBuf,
    address: String,
    bus: Option<Child>,
    keyring: Option<Child>,
}

impl SecretService {
    /// The password of the throwaway login keyring.
    pub const PASSWORD: &'static str = "ecr-e2e-throwaway-keyring-password";

    /// Starts a bus and an unlocked gnome-keyring under `base` (which must exist and stay for
    /// the fixture's life, e.g. a test's temp dir); returns once `org.freedesktop.secrets` is
    /// owned.
    pub fn start(base: &Path) -> SecretService {
        let mut service = Self::without_service(base);
        service.start_keyring();
        service
    }

    /// A bus on which nobody owns `org.freedesktop.secrets` (and nothing can be activated):
    /// what an SSH session or a container with a session bus looks like.
    pub fn without_service(base: &Path) -> SecretService {
        let dir = base.join("secret-service");
        std::fs::create_dir_all(&dir).expect("create the fixture's directory");
        let socket_dir = if dir.as_os_str().len() < MAX_SOCKET_DIR {
            dir.clone()
        } else {
            std::env::temp_dir()
        };
        let config = dir.join("bus.conf");
        std::fs::write(&config, bus_config(&socket_dir)).expect("write the bus configuration");
        let mut bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("dbus-daemon.log")).expect("create the bus log"))
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        let read =
            BufReader::new(bus.stdout.take().expect("dbus-daemon stdout")).read_line(&mut address);
        let address = address.trim().to_string();
        if read.is_err() || !address.starts_with("unix:") {
            let _ = bus.kill();
            let _ = bus.wait();
            panic!("dbus-daemon did not print its address ({read:?}, {address:?})");
        }
        SecretService {
            dir,
            address,
            bus: Some(bus),
            keyring: None,
        }
    }

    fn start_keyring(&mut self) {
        let home = self.dir.join("home");
        let runtime = self.dir.join("run");
        for d in [&home, &runtime] {
            std::fs::create_dir_all(d).expect("create the keyring's directories");
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700))
                .expect("chmod the runtime dir");
        }
        let log = std::fs::File::create(self.log_path()).expect("create the keyring log");
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .expect("start gnome-keyring-daemon");
        // --unlock reads the password from stdin up to end of file.
        let mut stdin = keyring.stdin.take().expect("gnome-keyring stdin");
        stdin
            .write_all(Self::PASSWORD.as_bytes())
            .expect("hand gnome-keyring its password");
        drop(stdin);
        self.keyring = Some(keyring);
        let started = Instant::now();
        while !self.has_owner("org.freedesktop.secrets") {
            if let Some(status) = self
                .keyring
                .as_mut()
                .and_then(|k| k.try_wait().ok().flatten())
            {
                panic!(
                    "gnome-keyring-daemon exited ({status}): {}",
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "gnome-keyring did not own org.freedesktop.secrets within {READY_TIMEOUT:?}: {}",
                std::fs::read_to_string(self.log_path()).unwrap_or_default()
            );
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// gnome-keyring's stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("gnome-keyring.log")
    }

    /// The bus address (`unix:path=...`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The environment a client (the helper, `secret-tool`) needs to reach this Secret Service.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("DBUS_SESSION_BUS_ADDRESS".to_string(), self.address.clone())]
    }

    /// A command with an emptied environment but `PATH` and [`SecretService::env`].
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env())
            .stdin(Stdio::null());
        command
    }

    /// Runs `secret-tool` with `args` against this Secret Service.
    pub fn secret_tool(&self, args: &[&str]) -> Output {
        self.command("secret-tool")
            .args(args)
            .output()
            .expect("run secret-tool")
    }

    /// Stores `secret` as `secret-tool store` does (label `label`, attributes `attributes`).
    pub fn store(&self, label: &str, attributes: &[(&str, &str)], secret: &str) {
        let mut command = self.command("secret-tool");
        command.args(["store", &format!("--label={label}")]);
        for (k, v) in attributes {
            command.args([k, v]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run secret-tool store");
        child
            .stdin
            .take()
            .expect("secret-tool stdin")
            .write_all(secret.as_bytes())
            .expect("hand secret-tool the secret");
        let out = child.wait_with_output().expect("wait for secret-tool");
        assert!(out.status.success(), "secret-tool store: {out:?}");
    }

    /// True when `name` has an owner on this bus.
    pub fn has_owner(&self, name: &str) -> bool {
        self.dbus_send(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            &[&format!("string:{name}")],
        )
        .is_some_and(|reply| reply.contains("boolean true"))
    }

    /// The object path of the default collection (gnome-keyring's `login`).
    pub fn default_collection(&self) -> String {
        let reply = self
            .dbus_send(
                "org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                "org.freedesktop.Secret.Service.ReadAlias",
                &["string:default"],
            )
            .expect("ReadAlias default");
        reply
            .split('"')
            .nth(1)
            .unwrap_or_else(|| panic!("ReadAlias answered {reply:?}"))
            .to_string()
    }

    /// Locks the default collection with the Secret Service's `Lock` call (which needs no
    /// prompt). Unlocking again would need one, which cannot be shown here: a locked fixture
    /// stays locked.
    pub fn lock(&self) {
        let collection = self.default_collection();
        self.dbus_send(
            "org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            &[&format!("array:objpath:{collection}")],
        )
        .expect("Lock the default collection");
        assert!(self.is_locked(), "the default collection is still unlocked");
    }

    /// True when the default collection is locked.
    pub fn is_locked(&self) -> bool {
        let collection = self.default_collection();
        self.dbus_send(
            "org.freedesktop.secrets",
            &collection,
            "org.freedesktop.DBus.Properties.Get",
            &["string:org.freedesktop.Secret.Collection", "string:Locked"],
        )
        .is_some_and(|reply| reply.contains("boolean true"))
    }

    /// Starts `dbus-monitor` on this bus, watching method calls; returns once it sees them.
    pub fn monitor(&self) -> BusMonitor {
        static MONITORS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MONITORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.dir.join(format!("dbus-monitor-{n}.log"));
        let child = Command::new("dbus-monitor")
            .args(["--address", &self.address, "type='method_call'"])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("create the monitor log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-monitor");
        let monitor = BusMonitor { child, log };
        // A call of our own, repeated until the monitor shows it: from then on it sees all.
        let probe = format!("org.ecr.e2e.MonitorProbe{}x{n}", std::process::id());
        let started = Instant::now();
        while !monitor.text().contains(&probe) {
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "dbus-monitor saw nothing within {READY_TIMEOUT:?}"
            );
            self.has_owner(&probe);
            std::thread::sleep(POLL_INTERVAL);
        }
        monitor
    }

    /// The process ids of the running daemons (bus first).
    pub fn pids(&self) -> Vec<u32> {
        self.bus
            .iter()
            .chain(self.keyring.iter())
            .map(Child::id)
            .collect()
    }

    /// Kills and reaps both daemons (also done on `Drop`).
    pub fn stop(&mut self) {
        for child in [self.keyring.take(), self.bus.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// One method call with `dbus-send`; the printed reply, or `None` when it failed.
    fn dbus_send(&self, dest: &str, path: &str, method: &str, args: &[&str]) -> Option<String> {
        let out = Command::new("dbus-send")
            .arg(format!("--bus={}", self.address))
            .args(["--print-reply", &format!("--dest={dest}"), path, method])
            .args(args)
            .env_clear()
            .stdin(Stdio::null())
            .output()
            .expect("run dbus-send");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `dbus-monitor` watching a [`SecretService`]'s bus; stopped on `Drop`.
pub struct BusMonitor {
    child: Child,
    log: PathBuf,
}

impl BusMonitor {
    /// Everything it printed so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The method calls it saw, one line each: `interface.member path`.
    pub fn method_calls(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|line| line.starts_with("method call "))
            .map(|line| {
                let field = |name: &str| {
                    line.split(&format!("{name}="))
                        .nth(1)
                        .map(|rest| rest.split([';', ' ']).next().unwrap_or(""))
                        .unwrap_or("")
                        .to_string()
                };
                format!(
                    "{}.{} {}",
                    field("interface"),
                    field("member"),
                    field("path")
                )
            })
            .collect()
    }
}

impl Drop for BusMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A session bus configuration without service activation (no `<servicedir>`), listening in
/// `socket_dir`.
fn bus_config(socket_dir: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        socket_dir.display()
    )
}
