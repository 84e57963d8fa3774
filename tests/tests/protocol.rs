//! The credential-helper protocol at the process boundary: verbs, exit codes, what goes on
//! stdout and stderr, and bad input. These runs need no ECR: where a token would be fetched,
//! the endpoint is a closed loopback port, or none is reached at all.

use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, NOT_FOUND, Sandbox};

#[test]
fn version_and_help_exit_zero() {
    let sandbox = Sandbox::new();
    for args in [&["version"][..], &["--version"], &["-v"]] {
        let run = sandbox.helper().run(args, b"");
        assert_eq!(run.code, 0, "{args:?}: {run:#?}");
        assert!(run.stdout.starts_with("docker-credential-ecr "), "{run:#?}");
        assert_eq!(run.stdout.lines().count(), 1);
    }
    let help = sandbox.helper().run(&["--help"], b"");
    assert_eq!(help.code, 0);
    for verb in ["get", "store", "erase", "list", "version", "credHelpers"] {
        assert!(
            help.stdout.contains(verb),
            "help mentions {verb}: {}",
            help.stdout
        );
    }
}

#[test]
fn bad_command_lines_get_one_line_and_exit_one() {
    let sandbox = Sandbox::new();
    for args in [
        &[][..],
        &["fetch"],
        &["get", "extra"],
        &["--frobnicate"],
        &["list", "-x"],
    ] {
        let run = sandbox.helper().run(args, b"");
        assert_eq!(run.code, 1, "{args:?}: {run:#?}");
        assert_eq!(run.stdout.lines().count(), 1, "{args:?}: {run:#?}");
        assert!(run.stdout.contains("--help"), "{args:?}: {run:#?}");
    }
}

#[test]
fn bad_command_lines_of_commands_people_type_go_to_stderr() {
    // `pull-secret ... | kubectl apply -f -` must not hand kubectl an error line.
    let sandbox = Sandbox::new();
    for args in [
        &["pull-secret", "--bogus"][..],
        &["--config-dir", "/nonexistent", "status", "-x"],
    ] {
        let run = sandbox.helper().run(args, b"");
        assert_eq!(run.code, 1, "{args:?}: {run:#?}");
        assert_eq!(run.stdout, "", "{args:?}: {run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:#?}");
        assert!(run.stderr.contains("--help"), "{args:?}: {run:#?}");
    }
}

#[test]
fn non_ecr_hosts_are_not_found() {
    let sandbox = Sandbox::new();
    for host in [
        "example.com",
        "https://index.docker.io/v1/",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
        "localhost:5000",
    ] {
        let run = sandbox.helper().get(host);
        assert_eq!(run.code, 1, "{host}");
        assert_eq!(run.stdout.trim_end(), NOT_FOUND, "{host}");
        assert_eq!(run.stderr, "", "{host}: nothing on stderr for a plain miss");
    }
}

#[test]
fn an_ecr_host_without_any_identity_is_not_found() {
    let sandbox = Sandbox::new();
    let run = sandbox.helper().get(EXAMPLE_REGISTRY);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stdout.trim_end(), NOT_FOUND);
    assert!(
        sandbox.log().contains("no AWS credentials"),
        "log: {}",
        sandbox.log()
    );
}

#[test]
fn bad_input_gets_one_line_and_writes_nothing() {
    let sandbox = Sandbox::new();
    let huge = vec![b'a'; (1 << 20) + 10];
    let cases: Vec<(&str, &[u8], &str)> = vec![
        ("get", b"", "no registry address"),
        ("get", b"\n", "no registry address"),
        ("get", &huge, "larger than 1 MiB"),
        ("get", b"\xff\xfe\xfd", "not valid UTF-8"),
        ("erase", b"", "no registry address"),
        ("store", b"", "invalid input for store"),
        ("store", b"{\"ServerURL\":", "truncated"),
        ("store", b"{not json}", "syntax error"),
        ("store", b"{\"ServerURL\":\"x\"}", "missing or mistyped"),
        ("store", b"\xff", "not valid UTF-8"),
        ("store", &huge, "larger than 1 MiB"),
    ];
    for (verb, input, expected) in cases {
        let run = sandbox.helper().run(&[verb], input);
        assert_eq!(run.code, 1, "{verb} {expected}: {run:#?}");
        assert_eq!(run.stdout.lines().count(), 1, "{verb}: {run:#?}");
        assert!(
            run.stdout.contains(expected),
            "{verb}: expected {expected:?}: {run:#?}"
        );
    }
    assert!(
        !sandbox.token_cache_dir().exists(),
        "bad input must not create the cache"
    );
}

#[test]
fn store_caches_a_docker_login_token_that_get_serves_first() {
    let sandbox = Sandbox::new();
    let request = serde_json::json!({
        "ServerURL": format!("https://{EXAMPLE_REGISTRY}"),
        "Username": "AWS",
        "Secret": "token-from-docker-login",
    });
    let run = sandbox
        .helper()
        .run(&["store"], request.to_string().as_bytes());
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr, "");

    // No keys and no endpoint: only the stored token can answer.
    let get = sandbox.helper().get(EXAMPLE_REGISTRY);
    assert_eq!(get.secret(), "token-from-docker-login");

    let list = sandbox.helper().run(&["list"], b"");
    let listed: serde_json::Value = serde_json::from_str(&list.stdout).expect("list is JSON");
    assert_eq!(listed, serde_json::json!({ EXAMPLE_REGISTRY: "AWS" }));

    let erase = sandbox
        .helper()
        .run(&["erase"], EXAMPLE_REGISTRY.as_bytes());
    assert_eq!(erase.code, 0, "{erase:#?}");
    assert_eq!(
        sandbox.helper().get(EXAMPLE_REGISTRY).stdout.trim_end(),
        NOT_FOUND
    );
    let again = sandbox
        .helper()
        .run(&["erase"], EXAMPLE_REGISTRY.as_bytes());
    assert_eq!(again.code, 0, "erasing nothing is fine");
    assert_eq!(sandbox.helper().run(&["list"], b"").stdout.trim_end(), "{}");
}

#[test]
fn store_refuses_usernames_other_than_aws_and_writes_nothing() {
    let sandbox = Sandbox::new();
    for (user, host) in [
        ("someone", EXAMPLE_REGISTRY),
        ("AWS", "registry.example.com"),
    ] {
        let request = serde_json::json!({ "ServerURL": host, "Username": user, "Secret": "p4ss" });
        let run = sandbox
            .helper()
            .run(&["store"], request.to_string().as_bytes());
        assert_eq!(run.code, 1, "{run:#?}");
        assert_eq!(run.stdout.lines().count(), 1);
        assert!(!run.stdout.contains("p4ss"));
    }
    assert_eq!(sandbox.helper().run(&["list"], b"").stdout.trim_end(), "{}");
}

#[test]
fn list_is_offline_and_loads_no_aws_configuration() {
    let sandbox = Sandbox::new();
    // A config file the SDK would choke on, and an endpoint nobody listens on: list must not
    // care about either.
    std::fs::write(
        sandbox.aws_config_file(),
        "[profile broken\nthis is not ini",
    )
    .unwrap();
    let run = sandbox
        .helper()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_PROFILE", "broken")
        .run(&["list"], b"");
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout.trim_end(), "{}");
    assert_eq!(run.stderr, "");
}

#[test]
fn an_invalid_refresh_margin_is_a_clear_error() {
    let sandbox = Sandbox::new();
    let run = sandbox
        .helper()
        .env("DOCKER_CREDENTIAL_ECR_REFRESH_MARGIN", "soonish")
        .get(EXAMPLE_REGISTRY);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.contains("DOCKER_CREDENTIAL_ECR_REFRESH_MARGIN"),
        "{run:#?}"
    );
}
