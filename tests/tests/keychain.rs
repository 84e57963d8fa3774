//! The Secret Service fixture ([`ecr_e2e::keychain::SecretService`]) against `secret-tool`
//! (libsecret), a client independent of this project: a store/lookup round trip on the private
//! bus, the label visible to a search, a locked collection refusing without hanging, a bus
//! without a Secret Service refusing at once, and both daemons gone after `Drop`.
//!
//! Then the helper against a locked keyring, with `dbus-monitor` on the bus: `get` and the
//! refresher (`agent`) report it locked at once and never call `Unlock` (which would open the
//! unlock dialog on a desktop and block until answered) nor run a prompt.
//!
//! `OsKeychain` itself is tested against a real gnome-keyring in
//! `crates/ecr-core/tests/keychain_secret_service.rs` (this crate stays free of the AWS SDK).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::keychain::{BusMonitor, SecretService, skip_unless_installed};
use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, EXAMPLE_SECRET_ACCESS_KEY, Sandbox, helper_bin};

const KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const ATTRIBUTES: [(&str, &str); 2] = [("service", "docker-credential-ecr"), ("username", "acme")];

fn lookup(service: &SecretService) -> std::process::Output {
    service.secret_tool(&[
        "lookup",
        "service",
        "docker-credential-ecr",
        "username",
        "acme",
    ])
}

fn alive(pid: u32) -> bool {
    // A reaped child's /proc entry is gone; a zombie would show state Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn secret_tool_round_trip_on_the_private_secret_service() {
    if skip_unless_installed("secret_tool_round_trip_on_the_private_secret_service") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut service = SecretService::start(dir.path());
    assert!(service.has_owner("org.freedesktop.secrets"));
    assert!(!service.is_locked());
    let env = service.env();
    assert!(
        env.iter()
            .any(|(k, v)| k == "DBUS_SESSION_BUS_ADDRESS" && v == service.address())
    );

    assert!(!lookup(&service).status.success(), "nothing stored yet");
    service.store("docker-credential-ecr: acme", &ATTRIBUTES, KEY);
    let out = lookup(&service);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), KEY);

    let search = service.secret_tool(&["search", "--all", "service", "docker-credential-ecr"]);
    let listing = format!(
        "{}{}",
        String::from_utf8_lossy(&search.stdout),
        String::from_utf8_lossy(&search.stderr)
    );
    assert!(
        listing.contains("label = docker-credential-ecr: acme"),
        "{listing}"
    );
    assert!(listing.contains("attribute.username = acme"), "{listing}");

    // The keyring files live in the test's directory, not the developer's home.
    assert!(
        dir.path()
            .join("secret-service/home/.local/share/keyrings")
            .is_dir()
    );

    // Locked, with no display for the unlock prompt: secret-tool fails, quickly.
    service.lock();
    let started = Instant::now();
    let out = lookup(&service);
    assert!(!out.status.success() || out.stdout.is_empty(), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let pids = service.pids();
    assert_eq!(pids.len(), 2);
    service.stop();
    for pid in pids {
        assert!(!alive(pid), "pid {pid} still runs after stop");
    }
}

#[test]
fn a_bus_without_a_secret_service_refuses_at_once() {
    if skip_unless_installed("a_bus_without_a_secret_service_refuses_at_once") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bus = SecretService::without_service(dir.path());
    assert!(!bus.has_owner("org.freedesktop.secrets"));
    let started = Instant::now();
    let out = lookup(&bus);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !bus.has_owner("org.freedesktop.secrets"),
        "nothing was activated"
    );
    let pids = bus.pids();
    assert_eq!(pids.len(), 1);
    drop(bus);
    assert!(!alive(pids[0]), "the bus still runs after Drop");
}

/// The calls that ask to unlock, or run the prompt that unlocking needs.
fn unlock_calls(monitor: &BusMonitor) -> Vec<String> {
    monitor
        .method_calls()
        .into_iter()
        .filter(|call| {
            call.starts_with("org.freedesktop.Secret.Service.Unlock ")
                || call.starts_with("org.freedesktop.Secret.Prompt.")
        })
        .collect()
}

#[test]
fn a_locked_keyring_fails_get_and_the_agent_at_once_without_asking_to_unlock() {
    if skip_unless_installed(
        "a_locked_keyring_fails_get_and_the_agent_at_once_without_asking_to_unlock",
    ) {
        return;
    }
    let sandbox = Sandbox::new();
    let keyring = SecretService::start(sandbox.root());
    let fake = FakeEcr::builder()
        .password("locked-password")
        .start()
        .unwrap();
    let helper = || {
        sandbox
            .helper()
            .envs(keyring.env())
            .env("AWS_ENDPOINT_URL_ECR", fake.url())
    };
    helper()
        .add_example_keys(EXAMPLE_REGISTRY, "acme", &[])
        .assert_ok();
    // No cached token: the get must read the keychain.
    helper()
        .run(&["erase"], EXAMPLE_REGISTRY.as_bytes())
        .assert_ok();
    keyring.lock();

    // `get`: one line on stdout naming the locked keychain, in under 2 s, nothing unlocked.
    let monitor = keyring.monitor();
    let get = helper().get(EXAMPLE_REGISTRY);
    let calls = monitor.method_calls();
    println!(
        "locked keyring: get exited {} in {:?}: {}",
        get.code,
        get.elapsed,
        get.stdout.trim_end()
    );
    assert_ne!(get.code, 0, "{get:#?}");
    assert!(
        get.elapsed < Duration::from_secs(2),
        "{:?}: {get:#?}",
        get.elapsed
    );
    assert_eq!(get.stdout.lines().count(), 1, "{get:#?}");
    assert!(
        get.stdout.contains("keychain is locked") && get.stdout.contains("unlock it"),
        "{}",
        get.stdout
    );
    assert!(!get.stdout.contains(EXAMPLE_SECRET_ACCESS_KEY));
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("org.freedesktop.Secret.Service.SearchItems ")),
        "the get asked the keyring (the monitor works): {calls:#?}"
    );
    assert_eq!(unlock_calls(&monitor), Vec::<String>::new(), "{calls:#?}");
    assert!(keyring.is_locked());
    drop(monitor);

    // The refresher: it logs the locked keychain and asks nothing to unlock either.
    let monitor = keyring.monitor();
    let log = sandbox.root().join("agent.stderr");
    let mut agent = Command::new(helper_bin())
        .arg("agent")
        .env_clear()
        .envs(sandbox.base_env())
        .envs(keyring.env())
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn the agent");
    let agent_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = Instant::now();
    while !agent_log().contains("refresh failed") {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = agent.kill();
            let _ = agent.wait();
            panic!(
                "the agent logged no failed refresh; its log:\n{}",
                agent_log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = agent.kill();
    let _ = agent.wait();
    let text = agent_log();
    assert!(text.contains("keychain is locked"), "{text}");
    assert!(!text.contains(EXAMPLE_SECRET_ACCESS_KEY));
    let calls = monitor.method_calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("org.freedesktop.Secret.Service.SearchItems ")),
        "the agent asked the keyring: {calls:#?}"
    );
    assert_eq!(unlock_calls(&monitor), Vec::<String>::new(), "{calls:#?}");
    assert!(keyring.is_locked());
    assert_eq!(
        fake.stats().unwrap().calls,
        1,
        "only add's verification reached ECR"
    );
}
