//! An independent check against moto's ECR (PyPI `moto[server]`): the helper's requests are
//! well-formed enough for a third-party implementation, and moto's already-expired tokens are
//! used once, never cached, and logged as a server-side expiry (moto's `Date` is current, so it
//! is not clock skew).

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, Sandbox};

/// A `moto_server` child on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server on PATH (pip install 'moto[server]')");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn moto_accepts_the_request_and_its_expired_token_is_used_once() {
    let moto = Moto::start();
    let sandbox = Sandbox::new();
    for _ in 0..2 {
        let run = sandbox
            .helper()
            .against(&moto.url())
            .env("DOCKER_CREDENTIAL_ECR_LOG", "info")
            .get(EXAMPLE_REGISTRY);
        assert_eq!(
            run.secret(),
            "123456789012-auth-token",
            "moto's fixed token"
        );
        assert_eq!(run.stderr, "");
    }
    let log = sandbox.log();
    assert_eq!(
        log.matches("server-side expiry").count(),
        2,
        "each get fetched again and said why: {log}"
    );
    assert!(!log.contains("clock skew"), "moto's Date is current: {log}");
    let cached = std::fs::read_dir(sandbox.token_cache_dir().join("tokens").join("shared"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(cached, 0, "an expired token is never cached");
}
