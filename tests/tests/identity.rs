//! Identity through the standard AWS chain: profiles in the shared files, `credential_process`,
//! and instance metadata that does not answer (a laptop), which must not hang a `get`.

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, NOT_FOUND, Sandbox};

/// AWS's second public example key pair.
const VENDOR_KEY_ID: &str = "AKIAI44QH8DHBEXAMPLE";
const VENDOR_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";

fn fake() -> FakeEcr {
    FakeEcr::builder().password("identity").start().unwrap()
}

#[test]
fn a_profile_from_the_shared_credentials_file_is_used() {
    let fake = fake();
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.aws_credentials_file(),
        format!("[vendor]\naws_access_key_id = {VENDOR_KEY_ID}\naws_secret_access_key = {VENDOR_SECRET}\n"),
    )
    .unwrap();
    let run = sandbox
        .helper()
        .env("AWS_PROFILE", "vendor")
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .get(EXAMPLE_REGISTRY);
    assert_eq!(run.secret(), "identity");
    let stats = fake.stats().unwrap();
    assert_eq!(
        stats.by_access_key.get(VENDOR_KEY_ID),
        Some(&1),
        "{stats:?}"
    );
}

#[test]
fn credential_process_is_used_and_its_failure_is_reported() {
    let fake = fake();
    let sandbox = Sandbox::new();
    let json = format!(
        r#"{{"Version":1,"AccessKeyId":"{VENDOR_KEY_ID}","SecretAccessKey":"{VENDOR_SECRET}"}}"#
    );
    std::fs::write(
        sandbox.aws_config_file(),
        format!(
            "[profile proc]\ncredential_process = echo '{json}'\n\n[profile broken]\ncredential_process = sh -c 'echo vault sealed >&2; exit 3'\n"
        ),
    )
    .unwrap();
    let run = sandbox
        .helper()
        .env("AWS_PROFILE", "proc")
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .get(EXAMPLE_REGISTRY);
    assert_eq!(run.secret(), "identity");
    assert_eq!(
        fake.stats().unwrap().by_access_key.get(VENDOR_KEY_ID),
        Some(&1)
    );

    let broken = sandbox
        .helper()
        .env("AWS_PROFILE", "broken")
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .get(EXAMPLE_REGISTRY);
    assert_eq!(broken.code, 1, "{broken:#?}");
    assert_ne!(
        broken.stdout.trim_end(),
        NOT_FOUND,
        "credentials exist but failed"
    );
    assert!(
        broken.stdout.contains("could not be loaded"),
        "{}",
        broken.stdout
    );
    assert_eq!(
        fake.stats().unwrap().calls,
        1,
        "no API call without credentials"
    );
}

/// A listener that accepts connections and never answers: instance metadata on a network
/// that swallows packets.
fn black_hole() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepting = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        for mut stream in accepting.incoming().flatten() {
            std::thread::spawn(move || {
                let mut sink = [0u8; 1024];
                while stream.read(&mut sink).is_ok_and(|n| n > 0) {}
            });
        }
    });
    (listener, port)
}

#[test]
fn silent_instance_metadata_cannot_hang_a_get() {
    let (_listener, port) = black_hole();
    let sandbox = Sandbox::new();
    let run = sandbox
        .helper()
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .get(EXAMPLE_REGISTRY);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stdout.trim_end(), NOT_FOUND, "no identity at all");
    assert!(
        run.elapsed < Duration::from_secs(5),
        "gave up quickly: {:?}",
        run.elapsed
    );
}

#[test]
fn absent_instance_metadata_is_not_found_at_once() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let sandbox = Sandbox::new();
    let run = sandbox
        .helper()
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{closed}"),
        )
        .get(EXAMPLE_REGISTRY);
    assert_eq!(run.stdout.trim_end(), NOT_FOUND, "{run:#?}");
    assert!(run.elapsed < Duration::from_secs(3), "{:?}", run.elapsed);
}

/// A `credential_process` that leaves a background child holding its stdout must not keep
/// docker waiting: the helper gives up within its budget and its own stdout closes then.
#[test]
fn a_lingering_credential_process_child_cannot_hold_docker_open() {
    let sandbox = Sandbox::new();
    let json = format!(
        r#"{{"Version":1,"AccessKeyId":"{VENDOR_KEY_ID}","SecretAccessKey":"{VENDOR_SECRET}"}}"#
    );
    std::fs::write(
        sandbox.aws_config_file(),
        format!(
            "[profile lingering]\ncredential_process = sh -c 'sleep 60 & echo '\\''{json}'\\'''\n"
        ),
    )
    .unwrap();
    let fake = fake();
    // `run` waits for the helper's stdout and stderr to close, as docker does.
    let run = sandbox
        .helper()
        .env("AWS_PROFILE", "lingering")
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .get(EXAMPLE_REGISTRY);
    assert!(
        run.elapsed < Duration::from_secs(11),
        "stdout closed after {:?}",
        run.elapsed
    );
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stdout.contains(EXAMPLE_REGISTRY), "{}", run.stdout);
}
