//! `ecr-tray` end to end on a headless desktop (Xvfb, xfce4-panel's StatusNotifierItem host,
//! dunst, gnome-keyring on a private bus: [`Desktop`]) against the fake ECR: the item and its
//! menu as the panel sees them, the icon on screen, a menu click reaching ECR exactly once,
//! one notification per incident, and a soak in which `get` never waits on AWS.
//!
//! Screenshots go to `target/desktop-artifacts/` (paths printed); the open-menu one is the
//! README's.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ecr_e2e::desktop::{
    self, Desktop, Image, MENU_BACKGROUND, MenuNode, PANEL_SIZE, TrayItem, hex_colour,
    skip_unless_installed,
};
use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::fake_handle::{FakeEcr, FakeEcrBuilder};
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, EXAMPLE_SECRET_ACCESS_KEY, Helper, Sandbox,
    built_binary,
};

/// AWS's second public example key pair: a second vendor.
const OTHER_KEY_ID: &str = "AKIAI44QH8DHBEXAMPLE";
const OTHER_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
const OTHER_REGISTRY: &str = "210987654321.dkr.ecr.eu-central-1.amazonaws.com";
const PASSWORD: &str = "tray-password";

/// The app name of the tray's notifications.
const APP_NAME: &str = "ECR credentials";
/// Icon colours of the states (contract: assets/icons/png/<size>/ecr-tray-<state>.png).
const OK_GREEN: &str = "#1E9E4A";
const ERROR_RED: &str = "#D93025";
/// Tolerance for the panel's blending at the icon's edges (see `desktop::count_pixels`).
const FUZZ: u8 = 4;

/// How long the tray may take to register its item, and a refresh to show up in its log.
const TRAY_TIMEOUT: Duration = Duration::from_secs(30);

/// One test's world: a sandboxed home, a desktop, a fake ECR. The tray is started separately.
/// Fields drop in order: the desktop's daemons stop before the sandbox's directory goes.
struct World {
    desktop: Desktop,
    fake: FakeEcr,
    sandbox: Sandbox,
}

impl World {
    fn start(test: &str, fake: FakeEcrBuilder) -> Option<World> {
        if skip_unless_installed(test) {
            return None;
        }
        let sandbox = Sandbox::new();
        let desktop = Desktop::start(sandbox.root());
        let fake = fake.password(PASSWORD).start().unwrap();
        Some(World {
            desktop,
            fake,
            sandbox,
        })
    }

    /// The environment the tray and the helper share: the sandbox, the desktop, the fake as
    /// ECR and STS. No AWS keys: the key sets' bindings choose them.
    fn env(&self) -> Vec<(String, String)> {
        let mut env = self.sandbox.base_env();
        env.extend(self.desktop.env());
        env.push(("AWS_ENDPOINT_URL_ECR".into(), self.fake.url()));
        env.push(("AWS_ENDPOINT_URL_STS".into(), self.fake.url()));
        env
    }

    fn helper(&self) -> Helper {
        self.sandbox.helper().envs(self.env())
    }

    /// `docker-credential-ecr add REGISTRY --name NAME --access-key-id ID --no-verify` (secret
    /// on stdin): no token is cached, so the tray fetches the first itself.
    fn add(&self, registry: &str, name: &str, key_id: &str, secret: &str) {
        self.helper()
            .run(
                &[
                    "add",
                    registry,
                    "--name",
                    name,
                    "--access-key-id",
                    key_id,
                    "--no-configure",
                    "--no-verify",
                ],
                secret.as_bytes(),
            )
            .assert_ok();
    }

    fn add_acme(&self) {
        self.add(
            EXAMPLE_REGISTRY,
            "acme",
            EXAMPLE_ACCESS_KEY_ID,
            EXAMPLE_SECRET_ACCESS_KEY,
        );
    }

    fn add_globex(&self) {
        self.add(OTHER_REGISTRY, "globex", OTHER_KEY_ID, OTHER_SECRET);
    }

    /// Starts `ecr-tray` and waits until the panel has its item.
    fn start_tray(&self) -> Tray {
        let output = self.sandbox.root().join("ecr-tray.out");
        let file = std::fs::File::create(&output).unwrap();
        let child = Command::new(built_binary("ECR_TRAY_BIN", "ecr-tray"))
            .env_clear()
            .envs(self.env())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start ecr-tray");
        let mut tray = Tray {
            child,
            output,
            log: self.tray_log_path(),
            item: None,
        };
        tray.item = self.desktop.wait_for_item(tray.child.id(), TRAY_TIMEOUT);
        match &tray.item {
            Some(item) => assert!(
                item.menu_path.is_some(),
                "the item has no dbusmenu: {item:?}"
            ),
            None => panic!(
                "ecr-tray registered no StatusNotifierItem within {TRAY_TIMEOUT:?} \
                 (registered: {:?}; exited: {:?})\n{}",
                self.desktop.registered_items(),
                tray.child.try_wait(),
                tray.diagnostics()
            ),
        }
        tray
    }

    fn tray_log_path(&self) -> PathBuf {
        self.sandbox
            .state_home()
            .join("docker-credential-ecr")
            .join("ecr-tray.log")
    }

    fn calls_by(&self, key: &str) -> u64 {
        self.fake.calls_by(key).unwrap()
    }

    /// The summaries of the tray's notifications so far.
    fn notification_summaries(&self) -> Vec<String> {
        self.desktop
            .notifications()
            .into_iter()
            .filter(|n| n.app_name == APP_NAME)
            .map(|n| n.summary)
            .collect()
    }
}

/// A running `ecr-tray`, killed and reaped on `Drop`.
struct Tray {
    child: Child,
    /// Its stdout and stderr.
    output: PathBuf,
    /// Its log file.
    log: PathBuf,
    /// Its StatusNotifierItem, once registered.
    item: Option<TrayItem>,
}

impl Tray {
    fn item(&self) -> &TrayItem {
        self.item.as_ref().expect("the tray's item")
    }

    /// What the tray logged and printed, for failure messages.
    fn diagnostics(&self) -> String {
        format!(
            "--- ecr-tray.log ---\n{}\n--- stdout/stderr ---\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default(),
            std::fs::read_to_string(&self.output).unwrap_or_default()
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the tray's log holding every one of `needles`.
    fn lines_with(&self, needles: &[&str]) -> usize {
        self.log()
            .lines()
            .filter(|line| needles.iter().all(|n| line.contains(n)))
            .count()
    }

    /// Successful fetches the refresher made for `host` itself.
    fn refreshed(&self, host: &str) -> usize {
        self.lines_with(&["refreshed token", &format!("registry={host}")])
    }

    fn failed(&self, host: &str) -> usize {
        self.lines_with(&["refresh failed", &format!("registry={host}")])
    }

    /// Waits until `ready` holds, panicking with the tray's log after `timeout`.
    fn wait_until(&self, what: &str, timeout: Duration, ready: impl Fn(&Tray) -> bool) {
        let started = Instant::now();
        while !ready(self) {
            assert!(
                started.elapsed() < timeout,
                "waited {timeout:?} for {what}\n{}",
                self.diagnostics()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tray {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The top-level menu item of `host` (`[<vendor> · ]<host> — <state>`).
fn registry_entry<'m>(menu: &'m MenuNode, host: &str) -> &'m MenuNode {
    let named = format!("{host} — ");
    menu.children
        .iter()
        .find(|c| c.label.starts_with(&named) || c.label.contains(&format!(" · {named}")))
        .unwrap_or_else(|| panic!("no entry for {host} in the menu:\n{}", menu.render()))
}

/// The state text of `host` in the menu.
fn state_of(menu: &MenuNode, host: &str) -> String {
    let entry = registry_entry(menu, host);
    let named = format!("{host} — ");
    let at = entry.label.find(&named).expect("the host") + named.len();
    entry.label[at..].to_string()
}

/// Polls the menu until `ready` holds; the last menu read.
fn wait_for_menu(
    world: &World,
    tray: &Tray,
    what: &str,
    ready: impl Fn(&MenuNode) -> bool,
) -> MenuNode {
    let started = Instant::now();
    loop {
        let menu = world.desktop.menu(tray.item());
        if ready(&menu) {
            return menu;
        }
        assert!(
            started.elapsed() < TRAY_TIMEOUT,
            "waited {TRAY_TIMEOUT:?} for {what}; the menu:\n{}\n{}",
            menu.render(),
            tray.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Writes a line to the real stdout, past the harness's capture (so it shows in `cargo test`).
fn report(line: &str) {
    let _ = std::io::stdout().write_all(format!("{line}\n").as_bytes());
}

#[test]
fn the_menu_lists_every_registry_with_its_state_and_the_icon_shows_it() {
    let Some(w) = World::start("tray menu and icon", FakeEcr::builder()) else {
        return;
    };
    report(&format!(
        "desktop started in {:?} on {}",
        w.desktop.startup_time(),
        w.desktop.display()
    ));
    w.add_acme();
    w.add_globex();
    let mut tray = w.start_tray();
    tray.wait_until("the start-up refreshes", TRAY_TIMEOUT, |t| {
        t.refreshed(EXAMPLE_REGISTRY) >= 1 && t.refreshed(OTHER_REGISTRY) >= 1
    });
    let item = tray.item().clone();
    assert!(
        item.service
            .starts_with(&format!("org.kde.StatusNotifierItem-{}-", tray.child.id())),
        "{item:?}"
    );
    assert_eq!(
        w.desktop.item_property(&item, "Title").unwrap(),
        serde_json::json!("ECR credentials")
    );

    let menu = wait_for_menu(&w, &tray, "both registries ok", |m| {
        [EXAMPLE_REGISTRY, OTHER_REGISTRY].iter().all(|h| {
            m.children
                .iter()
                .any(|c| c.label.contains(&format!("{h} — ok, expires in")))
        })
    });
    let labels = menu.labels();
    assert_eq!(
        labels[2..],
        [
            "---",
            "Refresh all",
            "Add a registry…",
            "Open logs folder",
            "Start at login",
            "---",
            "Quit"
        ],
        "{}",
        menu.render()
    );
    for (i, host) in [EXAMPLE_REGISTRY, OTHER_REGISTRY].iter().enumerate() {
        let entry = registry_entry(&menu, host);
        assert_eq!(
            menu.children[i].id,
            entry.id,
            "sorted by host:\n{}",
            menu.render()
        );
        assert_eq!(
            entry.labels(),
            ["Refresh now", "Copy registry host"],
            "{}",
            menu.render()
        );
        let state = state_of(&menu, host);
        assert!(state.starts_with("ok, expires in "), "{state}");
    }
    let login = menu.item("Start at login").unwrap();
    assert_eq!(login.toggle_type.as_deref(), Some("checkmark"), "{login:?}");
    assert!(matches!(login.toggle_state, Some(0 | 1)), "{login:?}");

    // On screen: the panel draws the icon in the ok colour, and nothing in the error colour.
    let artifacts = desktop::artifacts_dir();
    let screen = w.desktop.log_dir().join("screen.png");
    let green = hex_colour(OK_GREEN);
    let count = w
        .desktop
        .wait_for_colour(&screen, green, FUZZ, 60, TRAY_TIMEOUT);
    let image = Image::read(&screen);
    assert!(
        count >= 60,
        "{count} pixels of {OK_GREEN} on screen ({})",
        screen.display()
    );
    assert_eq!(
        image.count(hex_colour(ERROR_RED), FUZZ),
        0,
        "{}",
        screen.display()
    );
    let icon = image.locate(green, FUZZ).expect("the icon");
    let icon_shot = artifacts.join("tray-icon.png");
    desktop::crop(
        &screen,
        &icon_shot,
        (0, 0),
        (icon.x + icon.width + 120, PANEL_SIZE as usize),
    );
    report(&format!(
        "screenshot (icon, {count} px of {OK_GREEN}): {}",
        icon_shot.display()
    ));

    // A real right-click opens the menu; hovering the first registry opens its submenu.
    let icon = w
        .desktop
        .open_menu_by_mouse(green, FUZZ)
        .unwrap_or_else(|e| panic!("{e}"));
    w.desktop.move_mouse(icon.x + 150, PANEL_SIZE as usize + 16);
    std::thread::sleep(Duration::from_millis(800));
    let full = artifacts.join("tray-menu-full.png");
    w.desktop.screenshot(&full);
    let menu_area = Image::read(&full)
        .locate(MENU_BACKGROUND, 0)
        .expect("the open menu on screen");
    let menu_shot = artifacts.join("tray-menu.png");
    desktop::crop(
        &full,
        &menu_shot,
        (0, 0),
        (menu_area.x + menu_area.width + 12, menu_area.bottom() + 12),
    );
    report(&format!("screenshot (open menu): {}", menu_shot.display()));
    w.desktop.press_key("Escape");
    w.desktop.press_key("Escape");

    // Quit ends the app.
    let quit = menu.item("Quit").unwrap().id;
    w.desktop.click(&item, quit);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = tray.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ecr-tray still runs 10 s after Quit\n{}",
            tray.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}\n{}", tray.diagnostics());
    assert_eq!(
        tray.lines_with(&["menu: Quit"]),
        1,
        "{}",
        tray.diagnostics()
    );
}

#[test]
fn refresh_now_in_the_menu_makes_exactly_one_call_to_ecr() {
    let Some(w) = World::start("tray refresh now", FakeEcr::builder()) else {
        return;
    };
    w.add_acme();
    w.add_globex();
    let tray = w.start_tray();
    tray.wait_until("the start-up refreshes", TRAY_TIMEOUT, |t| {
        t.refreshed(EXAMPLE_REGISTRY) >= 1 && t.refreshed(OTHER_REGISTRY) >= 1
    });
    let menu = wait_for_menu(&w, &tray, "acme's token in the menu", |m| {
        state_of(m, EXAMPLE_REGISTRY).starts_with("ok")
    });
    // Settled: every call the fake saw since `add` is one of the refresher's.
    std::thread::sleep(Duration::from_millis(500));
    let (acme_before, globex_before) =
        (w.calls_by(EXAMPLE_ACCESS_KEY_ID), w.calls_by(OTHER_KEY_ID));
    let refreshed_before = tray.refreshed(EXAMPLE_REGISTRY);

    let refresh = registry_entry(&menu, EXAMPLE_REGISTRY)
        .item("Refresh now")
        .expect("Refresh now")
        .id;
    w.desktop.click(tray.item(), refresh);
    tray.wait_until("the menu action and its refresh", TRAY_TIMEOUT, |t| {
        t.lines_with(&["menu: Refresh now", EXAMPLE_REGISTRY]) == 1
            && t.refreshed(EXAMPLE_REGISTRY) == refreshed_before + 1
    });
    // Anything else would have happened by now.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        w.calls_by(EXAMPLE_ACCESS_KEY_ID) - acme_before,
        1,
        "calls with acme's keys\n{}",
        tray.diagnostics()
    );
    assert_eq!(
        w.calls_by(OTHER_KEY_ID),
        globex_before,
        "globex was not refreshed"
    );
    assert_eq!(tray.refreshed(OTHER_REGISTRY), 1, "{}", tray.diagnostics());
}

#[test]
fn rejected_keys_notify_once_per_incident_and_recovery_once() {
    let Some(w) = World::start("tray notifications", FakeEcr::builder()) else {
        return;
    };
    w.add_acme();
    // No token to fall back on: the tray must fetch at once.
    w.helper()
        .run(&["erase"], EXAMPLE_REGISTRY.as_bytes())
        .assert_ok();
    w.fake
        .set_knobs(&KnobsPatch {
            rejected_keys: Some(vec![EXAMPLE_ACCESS_KEY_ID.to_string()]),
            ..Default::default()
        })
        .unwrap();
    let tray = w.start_tray();
    // The refresher retries (backoff from ~5 s): two attempts, one notification.
    tray.wait_until("two failed attempts", TRAY_TIMEOUT, |t| {
        t.failed(EXAMPLE_REGISTRY) >= 2
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        w.notification_summaries(),
        ["Keys rejected: acme"],
        "after {} failed attempts\n{}",
        tray.failed(EXAMPLE_REGISTRY),
        tray.diagnostics()
    );
    let rejected = w.desktop.notifications().remove(0);
    assert!(
        rejected.body.contains(EXAMPLE_REGISTRY)
            && rejected.body.contains("docker-credential-ecr add"),
        "{rejected:?}"
    );
    let menu = w.desktop.menu(tray.item());
    assert!(
        state_of(&menu, EXAMPLE_REGISTRY).starts_with("error: "),
        "{}",
        menu.render()
    );

    // The vendor's keys work again: the next retry succeeds, one notice says so.
    w.fake
        .set_knobs(&KnobsPatch {
            rejected_keys: Some(Vec::new()),
            ..Default::default()
        })
        .unwrap();
    tray.wait_until("a successful retry", Duration::from_secs(60), |t| {
        t.refreshed(EXAMPLE_REGISTRY) >= 1
    });
    let recovered = format!("Recovered: {EXAMPLE_REGISTRY}");
    let started = Instant::now();
    while w.notification_summaries().len() < 2 && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        w.notification_summaries(),
        ["Keys rejected: acme", recovered.as_str()],
        "{}",
        tray.diagnostics()
    );
}

#[test]
fn a_90_second_soak_get_never_waits_and_only_the_refresher_calls_ecr() {
    const SOAK: Duration = Duration::from_secs(90);
    const LIFETIME_SECS: u64 = 20;
    let Some(w) = World::start(
        "tray soak",
        FakeEcr::builder()
            .lifetime_secs(LIFETIME_SECS)
            .latency_ms(2000),
    ) else {
        return;
    };
    w.add_acme();
    w.fake.reset().unwrap();
    let tray = w.start_tray();
    tray.wait_until("the first refresh", TRAY_TIMEOUT, |t| {
        t.refreshed(EXAMPLE_REGISTRY) >= 1
    });

    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut gets = 0;
    while started.elapsed() < SOAK {
        let get = w.helper().get(EXAMPLE_REGISTRY);
        assert_eq!(get.secret(), PASSWORD, "{get:#?}");
        assert!(
            get.elapsed < Duration::from_millis(500),
            "get #{gets} took {:?} after {:?} of soak\n{get:#?}\n{}",
            get.elapsed,
            started.elapsed(),
            tray.diagnostics()
        );
        slowest = slowest.max(get.elapsed);
        gets += 1;
        std::thread::sleep(Duration::from_secs(1).saturating_sub(get.elapsed));
    }

    // A fetch may be on its way (2 s each): wait for its log line before comparing.
    let settled = Instant::now();
    let (calls, refreshes) = loop {
        let calls = w.fake.stats().unwrap().calls;
        let refreshes = tray.refreshed(EXAMPLE_REGISTRY) as u64;
        if calls == refreshes || settled.elapsed() > Duration::from_secs(6) {
            break (calls, refreshes);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    report(&format!(
        "soak: {gets} gets in {:?}, slowest {slowest:?}; {refreshes} refreshes by the tray, \
         {calls} calls to ECR",
        started.elapsed()
    ));
    assert_eq!(
        calls,
        refreshes,
        "every call to ECR is one of the refresher's\n{}",
        tray.diagnostics()
    );
    // Half-life renewals of 20 s tokens (each fetch 2 s): one every 10 to 12 s, plus the first.
    let soak_secs = started.elapsed().as_secs();
    let (fewest, most) = (
        soak_secs / (LIFETIME_SECS / 2 + 2),
        soak_secs / (LIFETIME_SECS / 2) + 2,
    );
    assert!(
        (fewest..=most).contains(&refreshes),
        "{refreshes} refreshes in {soak_secs} s, expected {fewest} to {most}\n{}",
        tray.diagnostics()
    );
    assert_eq!(tray.failed(EXAMPLE_REGISTRY), 0, "{}", tray.diagnostics());
}
