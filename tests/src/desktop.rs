//! A headless desktop for one test: a private session bus with an unlocked gnome-keyring
//! ([`SecretService`]), an X server (Xvfb), a StatusNotifierItem host (xfce4-panel's systray
//! plugin, with its own xfconfd), a notification daemon (dunst) and a bus monitor recording every
//! notification sent. A tray app started with [`Desktop::env`] shows up in the panel, where a test
//! reads its menu over `com.canonical.dbusmenu`, clicks its items (over D-Bus, or with the mouse
//! through xdotool), looks at the screen (ImageMagick `import`) and reads the notifications it sent.
//!
//! ```no_run
//! # use ecr_e2e::desktop::Desktop;
//! # let dir = tempfile::tempdir().unwrap();
//! let desktop = Desktop::start(dir.path());
//! // let app = Command::new(tray).envs(desktop.env()).spawn()...;
//! // let item = desktop.wait_for_item(app.id(), Duration::from_secs(10)).unwrap();
//! // let menu = desktop.menu(&item);
//! ```
//!
//! # Isolation
//!
//! - Xvfb picks a free display itself (`-displayfd`), so tests run in parallel, each on its own
//!   display and bus; nothing reaches a developer's real desktop.
//! - The bus has no service activation (see [`crate::keychain`]): every service on it is one the
//!   fixture started and waited for, in order: X, xfconfd, the panel (ready when
//!   `org.kde.StatusNotifierWatcher` is owned), dunst (`org.freedesktop.Notifications`), the
//!   monitor (ready once it has seen the fixture's own `GetServerInformation` call).
//! - Every daemon runs with an emptied environment: `HOME` and `XDG_*` under the test's
//!   directory. Each runs in its own process group; on `Drop` it is stopped, the group killed
//!   (the panel's plugin runs in a separate process) and the daemon reaped.
//!
//! # Skipping
//!
//! [`skip_unless_installed`] prints a visible `SKIP` line when a program is missing (Debian:
//! dbus, gnome-keyring, libsecret-tools, systemd (busctl), xvfb, xfce4-panel, xfconf, dunst,
//! xdotool, imagemagick; `.ci/run` installs them).

mod bus;
mod daemon;
mod menu;
mod notifications;
mod panel;
mod screen;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use bus::Bus;
pub use menu::MenuNode;
pub use notifications::Notification;
pub use panel::{ICON_SIZE, PANEL_SIZE};
pub use screen::{Image, PixelBox, count_pixels, crop, hex_colour, locate_colour};

use crate::keychain::SecretService;
use daemon::Daemon;

/// The programs the fixture runs (besides `xfconfd`, which is not on PATH).
pub const TOOLS: [&str; 8] = [
    "Xvfb",
    "xfce4-panel",
    "dunst",
    "busctl",
    "xdotool",
    "import",
    "convert",
    "kill",
];

/// The Debian packages that provide [`TOOLS`], xfconfd and the keychain's tools.
pub const DEBIAN_PACKAGES: &str = "dbus gnome-keyring libsecret-tools systemd xvfb xfce4-panel \
                                   xfconf dunst xdotool imagemagick procps";

/// The screen's size.
pub const SCREEN: (u32, u32) = (1024, 480);

/// The GTK (Adwaita) menu background: an open menu covers the screen with it.
pub const MENU_BACKGROUND: (u8, u8, u8) = (255, 255, 255);
/// How many more menu-background pixels than before mean "a menu is open".
const MENU_MIN_PIXELS: usize = 2000;

/// How long each daemon may take to become ready (the machine may be busy compiling).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const SCREEN_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The interface of a StatusNotifierItem.
const ITEM_INTERFACE: &str = "org.kde.StatusNotifierItem";
const WATCHER: &str = "org.kde.StatusNotifierWatcher";

/// Returns true (and says so visibly) when `test_name` must be skipped for lack of a program.
///
/// The line goes to the real stdout and stderr, bypassing the harness's output capture.
pub fn skip_unless_installed(test_name: &str) -> bool {
    let mut missing =
        crate::skip::missing_programs(crate::keychain::TOOLS.iter().chain(TOOLS.iter()).copied());
    if panel::xfconfd_path().is_none() {
        missing.push("xfconfd");
    }
    if missing.is_empty() {
        return false;
    }
    crate::skip::skip(
        test_name,
        &format!("{} (apt-get install {DEBIAN_PACKAGES})", missing.join(", ")),
    )
}

/// Where tests keep screenshots worth looking at after the run: `target/desktop-artifacts/`
/// (found from the running test executable, `target/<profile>/deps/<test>`), created.
pub fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("test executable lives in target/<profile>/deps");
    let dir = target.join("desktop-artifacts");
    std::fs::create_dir_all(&dir).expect("create target/desktop-artifacts");
    dir
}

/// A StatusNotifierItem registered with the panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrayItem {
    /// The bus name it is reachable at (ksni: `org.kde.StatusNotifierItem-<pid>-<n>`).
    pub service: String,
    /// Its object path (ksni: `/StatusNotifierItem`).
    pub path: String,
    /// The object path of its dbusmenu (its `Menu` property), if it has one.
    pub menu_path: Option<String>,
}

/// The running desktop; everything stops on `Drop`.
pub struct Desktop {
    dir: PathBuf,
    display: u32,
    bus: Bus,
    /// In start order; stopped in reverse.
    daemons: Vec<Daemon>,
    monitor_log: PathBuf,
    startup: Duration,
    /// Dropped after `daemons` (fields drop in declaration order, after `Drop::drop`).
    secrets: SecretService,
}

impl Desktop {
    /// Starts the desktop under `base` (which must exist and outlive the fixture, e.g. a test's
    /// temp dir); returns once every part is ready. Panics naming the part that failed, with its
    /// output.
    pub fn start(base: &Path) -> Desktop {
        let started = Instant::now();
        let dir = base.join("desktop");
        for sub in ["home", "config", "cache", "data", "run", "logs"] {
            std::fs::create_dir_all(dir.join(sub)).expect("create the desktop's directories");
        }
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join("run"), std::fs::Permissions::from_mode(0o700))
                .expect("chmod the runtime dir");
        }
        panel::write_config(&dir.join("config"));
        let secrets = SecretService::start(base);
        let bus = Bus::new(secrets.address());
        let (xvfb, display) = start_xvfb(&dir.join("logs"));
        let mut desktop = Desktop {
            monitor_log: dir.join("logs/notify-monitor.jsonl"),
            dir,
            display,
            bus,
            daemons: vec![xvfb],
            startup: Duration::ZERO,
            secrets,
        };
        desktop.start_xfconfd();
        desktop.start_panel();
        desktop.start_dunst();
        desktop.start_monitor();
        desktop.startup = started.elapsed();
        desktop
    }

    /// How long [`Desktop::start`] took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The X display, e.g. `:3`.
    pub fn display(&self) -> String {
        format!(":{}", self.display)
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The keychain on this desktop's bus.
    pub fn secret_service(&self) -> &SecretService {
        &self.secrets
    }

    /// The process ids of the desktop's daemons (keychain and bus included), e.g. to check
    /// that none outlives the fixture.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = self.secrets.pids();
        pids.extend(self.daemons.iter().map(Daemon::pid));
        pids
    }

    /// Where the daemons' logs (and the notification monitor's) are.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// What an app on this desktop needs: the bus, the display, a runtime directory.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "DBUS_SESSION_BUS_ADDRESS".to_string(),
                self.bus.address().to_string(),
            ),
            ("DISPLAY".to_string(), self.display()),
            (
                "XDG_RUNTIME_DIR".to_string(),
                self.dir.join("run").to_string_lossy().into_owned(),
            ),
        ]
    }

    /// The environment of the desktop's own daemons: [`Desktop::env`], a private home and XDG
    /// directories, no accessibility bus, in-memory GSettings.
    fn daemon_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let dir = |sub: &str| self.dir.join(sub).to_string_lossy().into_owned();
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env())
            .env("HOME", dir("home"))
            .env("XDG_CONFIG_HOME", dir("config"))
            .env("XDG_CACHE_HOME", dir("cache"))
            .env("XDG_DATA_HOME", dir("data"))
            .env("NO_AT_BRIDGE", "1")
            .env("GSETTINGS_BACKEND", "memory")
            .env("LANG", "C.UTF-8");
        command
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.log_dir().join(format!("{name}.log"))
    }

    fn start_xfconfd(&mut self) {
        let path = panel::xfconfd_path().expect("xfconfd is installed (Debian: xfconf)");
        let daemon = Daemon::spawn(
            "xfconfd",
            self.daemon_command(path),
            &self.log_path("xfconfd"),
        );
        self.daemons.push(daemon);
        self.wait_for_name("org.xfce.Xfconf");
    }

    fn start_panel(&mut self) {
        let mut command = self.daemon_command("xfce4-panel");
        // No window manager runs: without this the panel waits for one for several seconds.
        command.arg("--disable-wm-check");
        let daemon = Daemon::spawn("xfce4-panel", command, &self.log_path("xfce4-panel"));
        self.daemons.push(daemon);
        self.wait_for_name(WATCHER);
    }

    fn start_dunst(&mut self) {
        let daemon = Daemon::spawn(
            "dunst",
            self.daemon_command("dunst"),
            &self.log_path("dunst"),
        );
        self.daemons.push(daemon);
        self.wait_for_name("org.freedesktop.Notifications");
    }

    /// Starts the monitor and waits until it records a call the fixture makes itself.
    fn start_monitor(&mut self) {
        let mut command = self.bus.busctl();
        command.args([
            "monitor",
            &format!(
                "--match=type='method_call',interface='{}'",
                notifications::INTERFACE
            ),
        ]);
        let daemon = Daemon::spawn("busctl monitor", command, &self.monitor_log);
        self.daemons.push(daemon);
        let started = Instant::now();
        loop {
            // Harmless and invisible, unlike a Notify.
            let _ = self.bus.call(
                "org.freedesktop.Notifications",
                "/org/freedesktop/Notifications",
                notifications::INTERFACE,
                "GetServerInformation",
                "",
                &[],
            );
            std::thread::sleep(Duration::from_millis(100));
            let log = std::fs::read_to_string(&self.monitor_log).unwrap_or_default();
            if notifications::called_methods(&log).contains(&"GetServerInformation".to_string()) {
                return;
            }
            self.assert_running_within(started, "the bus monitor to record calls");
        }
    }

    /// Waits until `name` is owned on the bus, or panics with the last daemon's log.
    fn wait_for_name(&mut self, name: &str) {
        let started = Instant::now();
        while !self.bus.has_owner(name) {
            self.assert_running_within(started, &format!("{name} to be owned"));
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Panics when the most recently started daemon has exited or `started` is too long ago.
    fn assert_running_within(&mut self, started: Instant, waiting_for: &str) {
        let daemon = self.daemons.last_mut().expect("a daemon was started");
        if let Some(status) = daemon.exited() {
            panic!(
                "{} exited ({status}) while waiting for {waiting_for}:\n{}",
                daemon.name(),
                daemon.log()
            );
        }
        assert!(
            started.elapsed() < READY_TIMEOUT,
            "{} did not get ready within {READY_TIMEOUT:?} (waiting for {waiting_for}):\n{}",
            daemon.name(),
            daemon.log()
        );
    }

    /// The items registered with the watcher (`RegisteredStatusNotifierItems`), as registered:
    /// `<bus name><object path>` (ksni: `org.kde.StatusNotifierItem-<pid>-<n>/StatusNotifierItem`).
    pub fn registered_items(&self) -> Result<Vec<String>, String> {
        let value = self.bus.property(
            WATCHER,
            "/StatusNotifierWatcher",
            WATCHER,
            "RegisteredStatusNotifierItems",
        )?;
        Ok(value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Waits until process `pid` has a StatusNotifierItem registered with the panel.
    pub fn wait_for_item(&self, pid: u32, timeout: Duration) -> Option<TrayItem> {
        let started = Instant::now();
        loop {
            for entry in self.registered_items().unwrap_or_default() {
                let (service, path) = match entry.find('/') {
                    Some(slash) => (&entry[..slash], &entry[slash..]),
                    None => (entry.as_str(), "/StatusNotifierItem"),
                };
                if self.bus.pid_of(service) == Some(pid) {
                    let menu_path = self
                        .bus
                        .property(service, path, ITEM_INTERFACE, "Menu")
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .filter(|p| p != "/");
                    return Some(TrayItem {
                        service: service.to_string(),
                        path: path.to_string(),
                        menu_path,
                    });
                }
            }
            if started.elapsed() > timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A property of the item (`Title`, `Status`, `ToolTip`, `IconPixmap`...), as busctl's JSON.
    pub fn item_property(&self, item: &TrayItem, name: &str) -> Result<serde_json::Value, String> {
        self.bus
            .property(&item.service, &item.path, ITEM_INTERFACE, name)
    }

    fn menu_path<'a>(&self, item: &'a TrayItem) -> &'a str {
        item.menu_path
            .as_deref()
            .unwrap_or_else(|| panic!("{item:?} has no dbusmenu"))
    }

    /// The item's whole menu, as the panel reads it (`GetLayout(0, -1, [])`).
    pub fn menu(&self, item: &TrayItem) -> MenuNode {
        let reply = self
            .bus
            .call(
                &item.service,
                self.menu_path(item),
                "com.canonical.dbusmenu",
                "GetLayout",
                "iias",
                &["0", "-1", "0"],
            )
            .unwrap_or_else(|e| panic!("GetLayout of {item:?}: {e}"));
        MenuNode::from_json(&reply[1]).unwrap_or_else(|e| panic!("GetLayout of {item:?}: {e}"))
    }

    /// Sends the dbusmenu event `clicked` for menu item `id`, as the panel does when the user
    /// picks it (without waiting for a reply, like the panel).
    pub fn click(&self, item: &TrayItem, id: i32) {
        self.bus
            .send(
                &item.service,
                self.menu_path(item),
                "com.canonical.dbusmenu",
                "Event",
                "isvu",
                &[&id.to_string(), "clicked", "s", "", "0"],
            )
            .unwrap_or_else(|e| panic!("Event clicked {id} on {item:?}: {e}"));
    }

    /// Every `Notify` call seen on the bus so far, oldest first.
    pub fn notifications(&self) -> Vec<Notification> {
        notifications::parse_monitor_log(
            &std::fs::read_to_string(&self.monitor_log).unwrap_or_default(),
        )
    }

    /// A command with the desktop's environment (DISPLAY for the X tools).
    fn x_command(&self, program: &str) -> Command {
        let mut command = self.daemon_command(program);
        command.stdin(Stdio::null());
        command
    }

    /// Saves the whole screen as a PNG at `path` (parent directories created).
    pub fn screenshot(&self, path: &Path) {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the screenshot's directory");
        }
        let out = self
            .x_command("import")
            .args(["-window", "root"])
            .arg(path)
            .output()
            .expect("run import (ImageMagick)");
        assert!(
            out.status.success(),
            "import -window root {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Takes screenshots (the last one stays at `path`) until at least `min_pixels` match `rgb`
    /// or `timeout` passes; the last count.
    pub fn wait_for_colour(
        &self,
        path: &Path,
        rgb: (u8, u8, u8),
        fuzz_percent: u8,
        min_pixels: usize,
        timeout: Duration,
    ) -> usize {
        let started = Instant::now();
        loop {
            self.screenshot(path);
            let count = count_pixels(path, rgb, fuzz_percent);
            if count >= min_pixels || started.elapsed() > timeout {
                return count;
            }
            std::thread::sleep(SCREEN_POLL_INTERVAL);
        }
    }

    /// Runs `xdotool ARGS...` on this display.
    pub fn xdotool(&self, args: &[&str]) {
        let out = self
            .x_command("xdotool")
            .args(args)
            .output()
            .expect("run xdotool");
        assert!(
            out.status.success(),
            "xdotool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Moves the pointer to (`x`, `y`).
    pub fn move_mouse(&self, x: usize, y: usize) {
        self.xdotool(&["mousemove", &x.to_string(), &y.to_string()]);
    }

    /// Moves the pointer to (`x`, `y`) and clicks `button` (1 left, 3 right).
    pub fn click_at(&self, x: usize, y: usize, button: u8) {
        self.move_mouse(x, y);
        self.xdotool(&["click", &button.to_string()]);
    }

    /// Presses and releases a key (`Escape`, `Down`, `Return`...).
    pub fn press_key(&self, key: &str) {
        self.xdotool(&["key", key]);
    }

    /// Right-clicks the tray icon, found on screen by its colour `icon_rgb`, and waits until a
    /// menu is drawn. The icon's place on screen, or why the menu did not open.
    pub fn open_menu_by_mouse(
        &self,
        icon_rgb: (u8, u8, u8),
        fuzz_percent: u8,
    ) -> Result<PixelBox, String> {
        let shot = self.log_dir().join("pointer.png");
        self.screenshot(&shot);
        let before = Image::read(&shot);
        let icon = before
            .locate(icon_rgb, fuzz_percent)
            .ok_or_else(|| format!("no pixel of colour {icon_rgb:?} on screen"))?;
        let background = before.count(MENU_BACKGROUND, 0);
        let (x, y) = icon.centre();
        self.click_at(x, y, 3);
        let started = Instant::now();
        loop {
            std::thread::sleep(SCREEN_POLL_INTERVAL);
            self.screenshot(&shot);
            let now = count_pixels(&shot, MENU_BACKGROUND, 0);
            if now >= background + MENU_MIN_PIXELS {
                return Ok(icon);
            }
            if started.elapsed() > Duration::from_secs(5) {
                return Err(format!(
                    "right-clicked the icon at ({x}, {y}) ({icon:?}); no menu appeared \
                     ({now} menu-background pixels, {background} before)"
                ));
            }
        }
    }

    /// Stops every daemon (also done on `Drop`).
    pub fn stop(&mut self) {
        while let Some(mut daemon) = self.daemons.pop() {
            daemon.stop();
        }
        self.secrets.stop();
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts Xvfb on the first free display (`-displayfd 1`: it writes the number to stdout once
/// it accepts connections).
fn start_xvfb(logs: &Path) -> (Daemon, u32) {
    let (width, height) = SCREEN;
    let mut command = Command::new("Xvfb");
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .args(["-displayfd", "1", "-screen", "0"])
        .arg(format!("{width}x{height}x24"))
        .args(["-nolisten", "tcp", "-noreset"]);
    let log = logs.join("Xvfb.log");
    let (mut daemon, stdout) = Daemon::spawn_reading_stdout("Xvfb", command, &log);
    let answer = crate::child_output::first_line(stdout, READY_TIMEOUT);
    let display = match &answer {
        Ok(Ok(line)) => line.trim().parse::<u32>().ok(),
        _ => None,
    };
    match display {
        Some(display) => (daemon, display),
        None => {
            daemon.stop();
            panic!(
                "Xvfb did not report its display ({answer:?}):\n{}",
                daemon.log()
            );
        }
    }
}
