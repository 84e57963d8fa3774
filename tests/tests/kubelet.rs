//! `kubelet-credential-provider` against the fake ECR, with requests written from the kubelet's
//! API reference (`ecr_e2e::kubelet`; no kubelet runs here): every API version, the response's
//! field names and duration syntax, images that are not ECR, malformed requests, 20 concurrent
//! invocations making one call, and a node's configuration (a config directory with a file key
//! store, a cache directory, no HOME) that `doctor --kubelet` checks.

use std::path::Path;
use std::time::Duration;

use ecr_e2e::fake::knobs::KnobsPatch;
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::kubelet::{API_VERSIONS, parse_response, request};
use ecr_e2e::sandbox::{EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, Helper, Run, Sandbox};

const PROVIDER: &str = "kubelet-credential-provider";

fn provider(helper: Helper, input: &str) -> Run {
    helper.run(&[PROVIDER], input.as_bytes())
}

fn image() -> String {
    format!("{EXAMPLE_REGISTRY}/vendor/app:1.2.3")
}

#[test]
fn every_api_version_is_answered_in_its_own_version_with_the_registrys_token() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let from_get = sandbox
        .helper()
        .against(&fake.url())
        .get(EXAMPLE_REGISTRY)
        .secret();
    for version in API_VERSIONS {
        let run = provider(
            sandbox.helper().against(&fake.url()),
            &request(version, &image()),
        );
        run.assert_ok();
        let response = parse_response(&run.stdout);
        assert_eq!(response.api_version, version);
        assert_eq!(response.cache_key_type, "Registry");
        let auth = &response.auth[EXAMPLE_REGISTRY];
        assert_eq!(response.auth.len(), 1, "{}", run.stdout);
        assert_eq!(auth.username, "AWS");
        assert_eq!(auth.password, from_get, "the token get serves");
        assert!(run.stderr.is_empty(), "{run:#?}");
    }
    assert_eq!(
        fake.stats().unwrap().calls,
        1,
        "one token for get and the provider"
    );
}

#[test]
fn the_cache_duration_ends_when_the_token_would_be_refreshed() {
    // A 20-minute token is refreshed by a `get` with less than a quarter of its life left (the
    // default margin, 1 h, is capped there): the kubelet may keep it 15 minutes at most.
    let fake = FakeEcr::builder().lifetime_secs(1200).start().unwrap();
    let sandbox = Sandbox::new();
    let run = provider(
        sandbox.helper().against(&fake.url()),
        &request(API_VERSIONS[0], &image()),
    );
    let duration = parse_response(&run.assert_ok().stdout)
        .cache_duration
        .expect("a cacheDuration");
    assert!(
        duration <= Duration::from_secs(900) && duration >= Duration::from_secs(880),
        "{duration:?}"
    );
    // A 12-hour token: kept until the margin (1 h) before it expires.
    let fake = FakeEcr::builder().lifetime_secs(43_200).start().unwrap();
    let run = provider(
        Sandbox::new().helper().against(&fake.url()),
        &request(API_VERSIONS[0], &image()),
    );
    let duration = parse_response(&run.assert_ok().stdout)
        .cache_duration
        .unwrap();
    assert!(
        duration <= Duration::from_secs(39_600) && duration >= Duration::from_secs(39_580),
        "{duration:?}"
    );
}

#[test]
fn images_that_are_not_ecr_get_an_empty_auth_and_no_call() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    for image in [
        "nginx:1.27",
        "library/nginx",
        "ghcr.io/org/app:1",
        "registry.k8s.io/pause:3.9",
        "localhost:5000/app",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example/app:1",
        // A bare ECR host names a Docker Hub repository, as docker reads it.
        EXAMPLE_REGISTRY,
    ] {
        for version in API_VERSIONS {
            let run = provider(
                sandbox.helper().against(&fake.url()),
                &request(version, image),
            );
            run.assert_ok();
            let response = parse_response(&run.stdout);
            assert!(response.auth.is_empty(), "{image}: {}", run.stdout);
            assert_eq!(response.api_version, version);
        }
    }
    assert_eq!(fake.stats().unwrap().calls, 0);
}

#[test]
fn ecr_public_without_a_token_is_pulled_anonymously() {
    let sandbox = Sandbox::new();
    // No keys, no endpoint that answers: the public registry's token cannot be had.
    let run = provider(
        sandbox
            .helper()
            .env("AWS_ENDPOINT_URL_ECR_PUBLIC", "http://127.0.0.1:9"),
        &request(API_VERSIONS[0], "public.ecr.aws/vendor/app:1"),
    );
    run.assert_ok();
    assert!(parse_response(&run.stdout).auth.is_empty(), "{run:#?}");
}

#[test]
fn malformed_requests_get_one_line_on_stderr_and_nothing_on_stdout() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzZWNyZXQifQ.c2lnbmF0dXJl";
    for input in [
        String::new(),
        "{".to_string(),
        "[]".to_string(),
        EXAMPLE_REGISTRY.to_string(),
        r#"{"kind":"CredentialProviderRequest","image":"x"}"#.to_string(),
        request("credentialprovider.kubelet.k8s.io/v2", &image()),
        request("v1", &image()),
        request(API_VERSIONS[0], "").replace("\"image\":\"\"", "\"image\":\"  \""),
        request(API_VERSIONS[0], &image()).replace("CredentialProviderRequest", "Pod"),
        format!(
            r#"{{"kind":"CredentialProviderRequest","apiVersion":"{}","image":7,"serviceAccountToken":"{token}"}}"#,
            API_VERSIONS[0]
        ),
    ] {
        let run = provider(sandbox.helper().against(&fake.url()), &input);
        assert_ne!(run.code, 0, "{input:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{input:?}: {run:#?}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "{input:?}: {run:#?}");
        assert!(run.stderr.contains("CredentialProviderRequest"), "{run:#?}");
        assert!(!run.stderr.contains(token), "{run:#?}");
    }
    assert_eq!(fake.stats().unwrap().calls, 0);
}

#[test]
fn a_token_that_cannot_be_had_is_an_error_not_an_empty_answer() {
    let fake = FakeEcr::start().unwrap();
    fake.set_knobs(&KnobsPatch {
        rejected_keys: Some(vec![EXAMPLE_ACCESS_KEY_ID.to_string()]),
        ..Default::default()
    })
    .unwrap();
    let sandbox = Sandbox::new();
    let run = provider(
        sandbox.helper().against(&fake.url()),
        &request(API_VERSIONS[0], &image()),
    );
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "{run:#?}");
    assert!(run.stderr.contains(EXAMPLE_REGISTRY), "{run:#?}");
}

#[test]
fn twenty_concurrent_invocations_make_one_call() {
    let fake = FakeEcr::start().unwrap();
    fake.set_knobs(&KnobsPatch {
        latency_ms: Some(300),
        ..Default::default()
    })
    .unwrap();
    let sandbox = Sandbox::new();
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let helper = sandbox.helper().against(&fake.url());
                let version = API_VERSIONS[i % API_VERSIONS.len()];
                scope.spawn(move || provider(helper, &request(version, &image())))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let passwords: std::collections::BTreeSet<String> = runs
        .iter()
        .map(|run| {
            run.assert_ok();
            parse_response(&run.stdout).auth[EXAMPLE_REGISTRY]
                .password
                .clone()
        })
        .collect();
    assert_eq!(passwords.len(), 1, "one token for all 20");
    assert_eq!(fake.stats().unwrap().calls, 1, "{}", sandbox.log());
}

/// A node as the kubelet runs the plugin: root, no HOME or XDG variables, the config directory
/// named by the provider config's `env`, the cache directory by an argument.
fn node_helper(sandbox: &Sandbox, fake: &FakeEcr, config_dir: &Path, cache_dir: &Path) -> Helper {
    sandbox
        .helper()
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        .env("DOCKER_CREDENTIAL_ECR_CONFIG_DIR", config_dir)
        .env("DOCKER_CREDENTIAL_ECR_CACHE_DIR", cache_dir)
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
}

#[cfg(unix)]
#[test]
fn a_node_keeps_its_keys_in_a_config_directory_and_its_tokens_in_a_cache_directory() {
    use std::os::unix::fs::PermissionsExt;
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let node = tempfile::tempdir().unwrap();
    let config_dir = node.path().join("etc/docker-credential-ecr");
    let cache_dir = node.path().join("var/cache/docker-credential-ecr");
    // Set up with the options, as an administrator would.
    let added = sandbox
        .helper()
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .add_node_keys(&config_dir, &cache_dir, EXAMPLE_REGISTRY);
    added.assert_ok();
    assert!(
        !sandbox.docker_config_dir().join("config.json").exists(),
        "docker is not routed: it runs the helper without --config-dir: {added:#?}"
    );
    let keys = config_dir.join("keys.json");
    assert_eq!(
        std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&config_dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    fake.reset().unwrap();
    // The kubelet's run: no HOME, nothing in the environment but the directories.
    let run = provider(
        node_helper(&sandbox, &fake, &config_dir, &cache_dir),
        &request(API_VERSIONS[0], &image()),
    );
    run.assert_ok();
    let response = parse_response(&run.stdout);
    assert_eq!(response.auth[EXAMPLE_REGISTRY].username, "AWS");
    assert_eq!(
        fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(),
        0,
        "add cached the token its verification fetched, in the node's cache"
    );
    assert!(cache_dir.join("tokens").is_dir());
    for user_dir in [
        sandbox.cache_home(),
        sandbox.config_home(),
        sandbox.state_home(),
    ] {
        let entries = std::fs::read_dir(&user_dir).map(|d| d.count()).unwrap_or(0);
        assert_eq!(entries, 0, "nothing in {}", user_dir.display());
    }
    // A second pull after the kubelet's cache expired: served from the node's cache.
    let again = provider(
        node_helper(&sandbox, &fake, &config_dir, &cache_dir),
        &request(API_VERSIONS[1], &image()),
    );
    assert_eq!(
        parse_response(&again.assert_ok().stdout).auth,
        response.auth
    );
    assert_eq!(fake.stats().unwrap().calls, 0);
    // doctor checks the node's set-up: its directories, its keys, a fetch; not docker's.
    let doctor =
        node_helper(&sandbox, &fake, &config_dir, &cache_dir).run(&["doctor", "--kubelet"], b"");
    assert_eq!(doctor.code, 0, "{doctor:#?}");
    assert!(doctor.stdout.contains("is private"), "{doctor:#?}");
    assert!(doctor.stdout.contains("a token was fetched"), "{doctor:#?}");
    assert!(!doctor.stdout.contains("PATH"), "{doctor:#?}");
}

#[cfg(unix)]
#[test]
fn doctor_on_a_node_flags_a_config_directory_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let node = tempfile::tempdir().unwrap();
    let config_dir = node.path().join("config");
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::set_permissions(&config_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let doctor = node_helper(&sandbox, &fake, &config_dir, &node.path().join("cache"))
        .run(&["doctor", "--kubelet"], b"");
    assert_eq!(doctor.code, 1, "{doctor:#?}");
    assert!(doctor.stdout.contains("readable by others"), "{doctor:#?}");
    assert!(doctor.stdout.contains("chmod 700"), "{doctor:#?}");
}

#[test]
fn a_login_item_is_refused_when_the_directories_are_named() {
    // A systemd user unit would run the agent without them, renewing other files than the
    // provider reads.
    let sandbox = Sandbox::new();
    let node = tempfile::tempdir().unwrap();
    let run = sandbox
        .helper()
        .env("DOCKER_CREDENTIAL_ECR_CONFIG_DIR", node.path())
        .run(&["agent", "--autostart", "on"], b"");
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "{run:#?}");
    assert!(run.stderr.contains("system service"), "{run:#?}");
    assert!(
        !sandbox.config_home().join("systemd").exists(),
        "no unit written: {run:#?}"
    );
}

#[cfg(unix)]
#[test]
fn a_request_stuck_in_a_blocking_read_is_answered_on_stderr_by_the_time_limit() {
    // A config file that blocks its reader (a FIFO here; a hung network mount in life) is
    // beyond any deadline: the plugin's own limit answers, in one line, before the kubelet's.
    let sandbox = Sandbox::new();
    let node = tempfile::tempdir().unwrap();
    let config_dir = node.path().join("config");
    std::fs::create_dir(&config_dir).unwrap();
    let fifo = config_dir.join("config.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let run = provider(
        sandbox
            .helper_under(&["timeout", "60"])
            .env("DOCKER_CREDENTIAL_ECR_CONFIG_DIR", &config_dir)
            .env("DOCKER_CREDENTIAL_ECR_CACHE_DIR", node.path().join("cache")),
        &request(API_VERSIONS[0], &image()),
    );
    assert_eq!(
        run.code, 1,
        "answered by the plugin, not killed by timeout: {run:#?}"
    );
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "{run:#?}");
    assert!(run.stderr.contains("blocked"), "{run:#?}");
    assert!(run.elapsed < Duration::from_secs(40), "{:?}", run.elapsed);
}

#[test]
fn remove_with_a_config_directory_leaves_the_users_docker_routes_alone() {
    // The user routed the registry for their own bindings; the node's `remove` is not theirs.
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&[EXAMPLE_REGISTRY]);
    let docker_config = sandbox.docker_config_dir().join("config.json");
    let before = std::fs::read_to_string(&docker_config).unwrap();
    let node = tempfile::tempdir().unwrap();
    let (config_dir, cache_dir) = (node.path().join("config"), node.path().join("cache"));
    sandbox
        .helper()
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .add_node_keys(&config_dir, &cache_dir, EXAMPLE_REGISTRY)
        .assert_ok();
    let removed = sandbox.helper().run(
        &[
            "--config-dir",
            config_dir.to_str().unwrap(),
            "--cache-dir",
            cache_dir.to_str().unwrap(),
            "remove",
            EXAMPLE_REGISTRY,
        ],
        b"",
    );
    removed.assert_ok();
    assert!(
        removed.stdout.contains("removed the binding"),
        "{removed:#?}"
    );
    assert_eq!(std::fs::read_to_string(&docker_config).unwrap(), before);
}

#[test]
fn an_alias_in_a_pod_spec_is_served_with_its_registrys_token() {
    // A corporate name or a mirror in front of ECR (`configure-docker ALIAS --alias-of`): the
    // provider config's matchImages must name it too; the answer is keyed by the alias.
    const MIRROR: &str = "registry.corp.example";
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    sandbox
        .helper()
        .against(&fake.url())
        .add_example_keys(
            EXAMPLE_REGISTRY,
            "vendor",
            &["--store", "file", "--no-verify"],
        )
        .assert_ok();
    sandbox
        .helper()
        .against(&fake.url())
        .run(
            &["configure-docker", MIRROR, "--alias-of", EXAMPLE_REGISTRY],
            b"",
        )
        .assert_ok();
    let from_get = sandbox
        .helper()
        .against(&fake.url())
        .get(EXAMPLE_REGISTRY)
        .secret();
    let run = provider(
        sandbox.helper().against(&fake.url()),
        &request(API_VERSIONS[0], &format!("{MIRROR}/vendor/app:1")),
    );
    let response = parse_response(&run.assert_ok().stdout);
    assert_eq!(response.auth.len(), 1, "{}", run.stdout);
    assert_eq!(response.auth[MIRROR].password, from_get);
    assert_eq!(fake.stats().unwrap().calls, 1, "the registry's own token");
    // Another host that is no alias still gets nothing.
    let other = provider(
        sandbox.helper().against(&fake.url()),
        &request(API_VERSIONS[0], "other.corp.example/vendor/app:1"),
    );
    assert!(parse_response(&other.assert_ok().stdout).auth.is_empty());
}
