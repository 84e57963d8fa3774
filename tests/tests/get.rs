//! `get` against the project's fake ECR: the answer, the cache, the refresh rules and every
//! failure a user must understand, all through the real binary and the real AWS SDK.

use std::time::Duration;

use ecr_e2e::fake::{KnobsPatch, Mode};
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, EXAMPLE_SECRET_ACCESS_KEY, NOT_FOUND, Run, Sandbox};

fn start_fake() -> FakeEcr {
    FakeEcr::builder()
        .password("e2e-password")
        .start()
        .expect("start fake ECR")
}

/// A `get` of the example registry from `fake`, with the example keys.
fn get(sandbox: &Sandbox, fake: &FakeEcr) -> Run {
    sandbox.helper().against(&fake.url()).get(EXAMPLE_REGISTRY)
}

fn calls(fake: &FakeEcr) -> u64 {
    fake.stats().expect("stats").calls
}

#[test]
fn a_cold_get_answers_the_protocol_and_warm_gets_make_no_call() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let run = get(&sandbox, &fake);
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stderr, "", "nothing on stderr when all is well");
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(
        answer,
        serde_json::json!({
            "ServerURL": EXAMPLE_REGISTRY,
            "Username": "AWS",
            "Secret": "e2e-password",
        })
    );
    // Exactly these keys, in the protocol's casing.
    assert!(run.stdout.starts_with(r#"{"ServerURL":"#), "{}", run.stdout);
    assert_eq!(calls(&fake), 1);

    for address in [
        EXAMPLE_REGISTRY.to_string(),
        format!("{EXAMPLE_REGISTRY}\n"),
        format!("https://{EXAMPLE_REGISTRY}/v2/"),
        format!("{}:443", EXAMPLE_REGISTRY.to_uppercase()),
    ] {
        let warm = sandbox.helper().against(&fake.url()).get(&address);
        assert_eq!(warm.secret(), "e2e-password", "{address:?}");
        assert_eq!(warm.stderr, "");
    }
    assert_eq!(calls(&fake), 1, "warm gets make no API call");
    let by_key = fake.stats().unwrap().by_access_key;
    assert_eq!(by_key.get("AKIAIOSFODNN7EXAMPLE"), Some(&1));
}

#[test]
fn the_cache_is_private_and_keyed_by_identity_and_endpoint() {
    let fake = start_fake();
    let other = start_fake();
    let sandbox = Sandbox::new();
    get(&sandbox, &fake).assert_ok();
    // Another endpoint, another profile: separate entries, separate calls.
    sandbox
        .helper()
        .against(&other.url())
        .get(EXAMPLE_REGISTRY)
        .assert_ok();
    sandbox
        .helper()
        .against(&fake.url())
        .env("AWS_PROFILE", "vendor")
        .env("AWS_ACCESS_KEY_ID", "AKIAI44QH8DHBEXAMPLE")
        .get(EXAMPLE_REGISTRY);
    assert_eq!(calls(&other), 1);
    get(&sandbox, &fake).assert_ok();
    assert_eq!(
        calls(&fake),
        2,
        "the default identity's token was still cached"
    );

    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let entry_dir = sandbox.token_cache_dir().join("tokens").join("shared");
    assert_eq!(mode(&sandbox.token_cache_dir()), 0o700);
    assert_eq!(mode(&entry_dir), 0o700);
    let files: Vec<_> = std::fs::read_dir(&entry_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .count()
            >= 2
    );
    for file in files {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(!text.contains(EXAMPLE_SECRET_ACCESS_KEY));
    }
}

#[test]
fn a_corrupt_cache_file_is_replaced_not_fatal() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    get(&sandbox, &fake).assert_ok();
    let entry_dir = sandbox.token_cache_dir().join("tokens").join("shared");
    let entry = std::fs::read_dir(&entry_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a cache file");
    std::fs::write(&entry, b"\x00garbage{").unwrap();
    let run = get(&sandbox, &fake);
    assert_eq!(run.secret(), "e2e-password");
    assert_eq!(calls(&fake), 2);
    let repaired: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&entry).unwrap()).expect("rewritten as JSON");
    assert_eq!(repaired["format"], "docker-credential-ecr/token/v3");
}

/// Every failure mode of the fake yields one line on stdout naming the registry and the cause.
#[test]
fn failures_are_one_actionable_line() {
    let fake = start_fake();
    let cases = [
        (Mode::RejectKeys, "revoked"),
        (
            Mode::AccessDenied,
            "missing permission such as ecr:GetAuthorizationToken",
        ),
        (Mode::Throttle, "throttling"),
        (Mode::ServerError, "server error"),
        (Mode::SignatureExpired, "clock is off"),
        (Mode::ExpiredToken, "expired"),
    ];
    for (mode, cause) in cases {
        fake.set_mode(mode).unwrap();
        let sandbox = Sandbox::new();
        let run = get(&sandbox, &fake);
        assert_eq!(run.code, 1, "{mode:?}: {run:#?}");
        assert_eq!(run.stdout.lines().count(), 1, "{mode:?}: {run:#?}");
        assert!(
            run.stdout.contains(EXAMPLE_REGISTRY),
            "{mode:?}: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains(cause),
            "{mode:?}: expected {cause:?} in {}",
            run.stdout
        );
        assert!(
            run.elapsed < Duration::from_secs(10),
            "{mode:?} took {:?}",
            run.elapsed
        );
        assert!(
            !sandbox
                .token_cache_dir()
                .join("tokens")
                .join("shared")
                .read_dir()
                .is_ok_and(|mut d| d
                    .any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json")))),
            "{mode:?}: no token cached"
        );
    }
}

#[test]
fn an_unreachable_endpoint_is_reported_as_such() {
    let sandbox = Sandbox::new();
    let closed = closed_port_url();
    let run = sandbox.helper().against(&closed).get(EXAMPLE_REGISTRY);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout.contains("cannot reach the ECR API"),
        "{}",
        run.stdout
    );
    assert!(run.elapsed < Duration::from_secs(10));
}

#[test]
fn a_hanging_ecr_is_cut_off_within_ten_seconds() {
    let fake = start_fake();
    fake.set_mode(Mode::Hang).unwrap();
    let sandbox = Sandbox::new();
    let run = get(&sandbox, &fake);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout.contains("in time") || run.stdout.contains("timed out"),
        "{}",
        run.stdout
    );
    assert!(
        run.elapsed < Duration::from_secs(10),
        "took {:?}",
        run.elapsed
    );
}

#[test]
fn ecr_public_failures_answer_not_found_with_the_cause_on_stderr() {
    let fake = start_fake();
    fake.set_mode(Mode::RejectKeys).unwrap();
    let sandbox = Sandbox::new();
    let run = sandbox.helper().against(&fake.url()).get("public.ecr.aws");
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout.trim_end(), NOT_FOUND);
    assert!(run.stderr.contains("revoked"), "{run:#?}");

    fake.set_mode(Mode::Ok).unwrap();
    let ok = sandbox.helper().against(&fake.url()).get("public.ecr.aws");
    assert_eq!(ok.secret(), "e2e-password");
    let targets = fake.stats().unwrap().by_target;
    assert!(
        targets
            .keys()
            .any(|t| t.starts_with("SpencerFrontendService")),
        "{targets:?}"
    );
}

#[test]
fn inside_the_margin_a_get_refreshes_and_keeps_serving_on_failure() {
    // 12 s tokens: never served in the last 1 s, refreshed in the last 3 s.
    let fake = start_fake();
    fake.set_knobs(&KnobsPatch {
        lifetime_secs: Some(12),
        ..Default::default()
    })
    .unwrap();
    let sandbox = Sandbox::new();
    get(&sandbox, &fake).assert_ok();
    assert_eq!(calls(&fake), 1);

    // The Date header has whole seconds, so 2 to 3 s are left: due for refresh, still servable.
    std::thread::sleep(Duration::from_millis(10_000));
    fake.set_knobs(&KnobsPatch {
        latency_ms: Some(5_000),
        password: Some("slow-new-password".into()),
        ..Default::default()
    })
    .unwrap();
    let run = get(&sandbox, &fake);
    assert_eq!(
        run.secret(),
        "e2e-password",
        "a slow refresh falls back to the cached token"
    );
    assert!(
        run.elapsed < Duration::from_millis(3_500),
        "the refresh got at most 2 s: {:?}",
        run.elapsed
    );
    assert_eq!(calls(&fake), 2);
    assert!(
        sandbox.log().contains("refresh failed"),
        "log: {}",
        sandbox.log()
    );

    fake.set_knobs(&KnobsPatch {
        latency_ms: Some(0),
        ..Default::default()
    })
    .unwrap();
    let refreshed = get(&sandbox, &fake);
    assert_eq!(refreshed.secret(), "slow-new-password");
    assert_eq!(calls(&fake), 3);
}

#[test]
fn a_configured_margin_makes_get_refresh_earlier() {
    let fake = start_fake();
    fake.set_knobs(&KnobsPatch {
        lifetime_secs: Some(3600),
        ..Default::default()
    })
    .unwrap();
    let sandbox = Sandbox::new();
    std::fs::create_dir_all(sandbox.config_home().join("docker-credential-ecr")).unwrap();
    get(&sandbox, &fake).assert_ok();
    // 1 h tokens: the default window is min(1 h, 15 min), so a fresh token is not refreshed.
    get(&sandbox, &fake).assert_ok();
    assert_eq!(calls(&fake), 1);
    // A config file cannot widen the window past a quarter of the lifetime either...
    std::fs::write(
        sandbox
            .config_home()
            .join("docker-credential-ecr/config.json"),
        r#"{"refresh_margin": "2h"}"#,
    )
    .unwrap();
    get(&sandbox, &fake).assert_ok();
    assert_eq!(calls(&fake), 1);
    // ...and a broken config file is an error, not a silent default.
    std::fs::write(
        sandbox
            .config_home()
            .join("docker-credential-ecr/config.json"),
        r#"{"refresh_margin": "#,
    )
    .unwrap();
    let run = get(&sandbox, &fake);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("config.json"), "{}", run.stdout);
}

#[test]
fn a_server_clock_hours_off_does_not_shorten_the_token() {
    let fake = start_fake();
    // The server's clock is 3 h ahead: its Date and expiresAt move together.
    fake.set_knobs(&KnobsPatch {
        date_offset_secs: Some(3 * 3600),
        lifetime_secs: Some(12 * 3600),
        ..Default::default()
    })
    .unwrap();
    let sandbox = Sandbox::new();
    get(&sandbox, &fake).assert_ok();
    get(&sandbox, &fake).assert_ok();
    assert_eq!(calls(&fake), 1, "the token is fresh on our clock");
    assert!(
        sandbox.log().contains("clock skew"),
        "log: {}",
        sandbox.log()
    );
}

/// The token as it travels (the base64 `authorizationToken` FakeEcr sends, of
/// `AWS:<password>`), the password it decodes to, and the secret key appear in no run's stderr
/// and nowhere in the log, even at `trace`: on success, on failure, for ECR and ECR Public.
#[test]
fn no_secret_or_token_reaches_the_log_or_stderr() {
    use base64::Engine as _;
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let traced = || {
        sandbox
            .helper()
            .against(&fake.url())
            .env("DOCKER_CREDENTIAL_ECR_LOG", "trace")
    };
    let mut runs = vec![
        traced().get(EXAMPLE_REGISTRY),
        traced().get("public.ecr.aws"),
    ];
    runs[0].assert_ok();
    runs[1].assert_ok();
    runs.push(traced().get(EXAMPLE_REGISTRY));
    fake.set_mode(Mode::RejectKeys).unwrap();
    runs.push(traced().get("123456789012.dkr.ecr.eu-west-1.amazonaws.com"));
    runs.push(traced().get("public.ecr.aws.example.com"));
    let log = sandbox.log();
    assert!(log.contains("fetching a token"), "trace log written: {log}");
    let on_the_wire = base64::engine::general_purpose::STANDARD.encode("AWS:e2e-password");
    for secret in [
        EXAMPLE_SECRET_ACCESS_KEY,
        "e2e-password",
        on_the_wire.as_str(),
        on_the_wire.trim_end_matches('='),
    ] {
        assert!(!log.contains(secret), "log leaks {secret}");
        for run in &runs {
            assert!(
                !run.stderr.contains(secret),
                "stderr leaks {secret}: {run:#?}"
            );
        }
    }
}

fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A warm `get` reads the environment and one cache file: no network (the fake is gone) and no
/// AWS configuration (the config files are FIFOs nobody writes to: reading one would block).
#[test]
fn a_warm_get_needs_neither_network_nor_aws_configuration() {
    let fake = start_fake();
    let url = fake.url();
    let sandbox = Sandbox::new();
    sandbox
        .helper()
        .against(&url)
        .get(EXAMPLE_REGISTRY)
        .assert_ok();
    drop(fake);
    for file in [sandbox.aws_config_file(), sandbox.aws_credentials_file()] {
        std::fs::remove_file(&file).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let warm = sandbox.helper().against(&url).get(EXAMPLE_REGISTRY);
    assert_eq!(warm.secret(), "e2e-password");
    assert!(warm.elapsed < Duration::from_secs(2), "{:?}", warm.elapsed);
}

/// A cold `get` stuck in a blocking read (an AWS config file that never delivers: a FIFO here,
/// a hung network mount in life) still answers within 10 s, with one line.
#[test]
fn a_get_blocked_on_its_aws_configuration_still_answers_within_ten_seconds() {
    let sandbox = Sandbox::new();
    for file in [sandbox.aws_config_file(), sandbox.aws_credentials_file()] {
        std::fs::remove_file(&file).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let run = sandbox
        .helper()
        .against("http://127.0.0.1:9")
        .get(EXAMPLE_REGISTRY);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stdout.lines().count(), 1, "{run:#?}");
    // Only regular AWS files are read now, so the FIFO no longer blocks at all: the answer is
    // the real cause (here an unreachable endpoint), or the watchdog's should a read block.
    assert!(
        run.stdout.contains("gave up after") || run.stdout.contains("cannot reach the ECR API"),
        "{}",
        run.stdout
    );
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
}
