//! The Secret Service fixture ([`ecr_e2e::keychain::SecretService`]) against `secret-tool`
//! (libsecret), a client independent of this project: a store/lookup round trip on the private
//! bus, the label visible to a search, a locked collection refusing without hanging, a bus
//! without a Secret Service refusing at once, and both daemons gone after `Drop`.
//!
//! `OsKeychain` itself is tested against a real gnome-keyring in
//! `crates/ecr-core/tests/keychain_secret_service.rs` (this crate stays free of the AWS SDK).

use std::time::{Duration, Instant};

use ecr_e2e::keychain::{SecretService, skip_unless_installed};

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
