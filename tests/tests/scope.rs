//! The right token for the right identity: the cache key holds every input that selects the
//! identity (two credentials files are two identities, for the default chain and for a bound
//! profile), a wall clock stepped either way never serves a token past its real expiry, `remove`
//! leaves no token and no route behind, and an endpoint override wins over every host form.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, EXAMPLE_SECRET_ACCESS_KEY, OTHER_ACCESS_KEY_ID,
    OTHER_SECRET_ACCESS_KEY, Sandbox,
};

/// Writes a credentials file at `path` whose profile `profile` holds the given keys.
fn credentials_file(path: &Path, profile: &str, key_id: &str, secret: &str) -> PathBuf {
    std::fs::write(
        path,
        format!("[{profile}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    path.to_path_buf()
}

/// Two CI jobs' credentials files, each with its own keys in `profile`.
fn two_jobs(sandbox: &Sandbox, profile: &str) -> (PathBuf, PathBuf) {
    (
        credentials_file(
            &sandbox.root().join("job-1-credentials"),
            profile,
            EXAMPLE_ACCESS_KEY_ID,
            EXAMPLE_SECRET_ACCESS_KEY,
        ),
        credentials_file(
            &sandbox.root().join("job-2-credentials"),
            profile,
            OTHER_ACCESS_KEY_ID,
            OTHER_SECRET_ACCESS_KEY,
        ),
    )
}

#[test]
fn two_jobs_with_their_own_credentials_files_each_get_a_token_of_their_own() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let (job1, job2) = two_jobs(&sandbox, "default");
    let get = |file: &Path| {
        sandbox
            .helper()
            .env("AWS_ENDPOINT_URL_ECR", fake.url())
            .env("AWS_SHARED_CREDENTIALS_FILE", file)
            .get(EXAMPLE_REGISTRY)
            .assert_ok();
    };
    get(&job1);
    get(&job2);
    get(&job1);
    get(&job2);
    assert_eq!(fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 1, "job 1");
    assert_eq!(fake.calls_by(OTHER_ACCESS_KEY_ID).unwrap(), 1, "job 2");

    // Job 1's file now holds job 2's keys: another identity, another token.
    std::fs::copy(&job2, &job1).unwrap();
    get(&job1);
    assert_eq!(fake.calls_by(OTHER_ACCESS_KEY_ID).unwrap(), 2);
}

#[test]
fn a_bound_profile_in_two_credentials_files_is_two_identities() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let (job1, job2) = two_jobs(&sandbox, "vendor");
    sandbox
        .helper()
        .run(
            &[
                "add",
                EXAMPLE_REGISTRY,
                "--profile",
                "vendor",
                "--no-verify",
                "--no-configure",
            ],
            b"",
        )
        .assert_ok();
    for file in [&job1, &job2, &job1, &job2] {
        sandbox
            .helper()
            .env("AWS_ENDPOINT_URL_ECR", fake.url())
            .env("AWS_SHARED_CREDENTIALS_FILE", file)
            // The bound profile wins over the shell's.
            .env("AWS_PROFILE", "other")
            .get(EXAMPLE_REGISTRY)
            .assert_ok();
    }
    assert_eq!(fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 1);
    assert_eq!(fake.calls_by(OTHER_ACCESS_KEY_ID).unwrap(), 1);
}

/// A sandbox whose default profile holds the example keys, against a fake ECR issuing
/// `lifetime`-second tokens.
fn clock_world(lifetime: u64) -> (Sandbox, FakeEcr) {
    let fake = FakeEcr::builder().lifetime_secs(lifetime).start().unwrap();
    let sandbox = Sandbox::new();
    credentials_file(
        &sandbox.aws_credentials_file(),
        "default",
        EXAMPLE_ACCESS_KEY_ID,
        EXAMPLE_SECRET_ACCESS_KEY,
    );
    (sandbox, fake)
}

/// A `get` through Debian's `faketime` with the wall clock moved by `offset` (e.g. "+3600s");
/// the step-free clock (`CLOCK_BOOTTIME`, read through the vDSO) is not moved.
fn get_at(sandbox: &Sandbox, fake: &FakeEcr, offset: Option<&str>) {
    let wrapper: Vec<&str> = match offset {
        Some(offset) => vec!["faketime", "-f", offset],
        None => Vec::new(),
    };
    sandbox
        .helper_under(&wrapper)
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .get(EXAMPLE_REGISTRY)
        .assert_ok();
}

#[test]
fn a_wall_clock_stepped_back_never_serves_a_token_past_its_real_expiry() {
    // The clock was an hour ahead when the token came; NTP then set it right. By the wall
    // clock the 8-second token still has an hour to live; it has really expired.
    let (sandbox, fake) = clock_world(8);
    get_at(&sandbox, &fake, Some("+3600s"));
    assert_eq!(fake.stats().unwrap().calls, 1);
    get_at(&sandbox, &fake, None);
    assert_eq!(fake.stats().unwrap().calls, 1, "still fresh, 0 s later");
    std::thread::sleep(Duration::from_secs(8));
    get_at(&sandbox, &fake, None);
    assert_eq!(
        fake.stats().unwrap().calls,
        2,
        "8 s later the token is expired, whatever the wall clock says"
    );
}

#[test]
fn a_wall_clock_stepped_forward_fetches_anew_rather_than_serve_a_stale_token() {
    // The clock was an hour behind, and NTP set it right: the wall clock says the token is an
    // hour older than it is. Refetching early is safe; serving it would not be.
    let (sandbox, fake) = clock_world(600);
    get_at(&sandbox, &fake, None);
    get_at(&sandbox, &fake, None);
    assert_eq!(fake.stats().unwrap().calls, 1);
    get_at(&sandbox, &fake, Some("+3600s"));
    assert_eq!(fake.stats().unwrap().calls, 2);
}

#[test]
fn remove_leaves_no_token_no_route_and_no_unused_keys() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let add = |name: &str, key_id: &str, secret: &str| {
        sandbox
            .helper()
            .env("AWS_ENDPOINT_URL_ECR", fake.url())
            .run(
                &[
                    "add",
                    EXAMPLE_REGISTRY,
                    "--name",
                    name,
                    "--access-key-id",
                    key_id,
                    "--store",
                    "file",
                ],
                secret.as_bytes(),
            )
            .assert_ok();
    };
    let get = || {
        sandbox
            .helper()
            .env("AWS_ENDPOINT_URL_ECR", fake.url())
            .get(EXAMPLE_REGISTRY)
            .assert_ok();
    };
    let list = || sandbox.helper().run(&["list"], b"").stdout;
    let product_config = || {
        std::fs::read_to_string(
            sandbox
                .config_home()
                .join("docker-credential-ecr/config.json"),
        )
        .unwrap()
    };
    let keys_file = || {
        std::fs::read_to_string(
            sandbox
                .config_home()
                .join("docker-credential-ecr/keys.json"),
        )
        .unwrap_or_default()
    };

    add("acme", EXAMPLE_ACCESS_KEY_ID, EXAMPLE_SECRET_ACCESS_KEY);
    sandbox
        .helper()
        .run(
            &["configure-docker", EXAMPLE_REGISTRY, "--podman", "--helm"],
            b"",
        )
        .assert_ok();
    get();
    assert_eq!(token_files(&sandbox).len(), 1);

    // Re-bound to another vendor's keys: acme's keys and tokens go, nothing uses them; the
    // token globex's keys were verified with is cached in their place.
    add("globex", OTHER_ACCESS_KEY_ID, OTHER_SECRET_ACCESS_KEY);
    assert!(!product_config().contains("acme"), "{}", product_config());
    assert!(!keys_file().contains("acme"), "{}", keys_file());
    assert!(!keys_file().contains(EXAMPLE_SECRET_ACCESS_KEY));
    let tokens = token_files(&sandbox);
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let record = std::fs::read_to_string(&tokens[0]).unwrap();
    assert!(
        record.contains("globex") && !record.contains("acme"),
        "{record}"
    );
    get();
    assert_eq!(
        fake.calls_by(OTHER_ACCESS_KEY_ID).unwrap(),
        1,
        "the verification only: get is served its token"
    );

    let removed = sandbox.helper().run(&["remove", "globex"], b"");
    removed.assert_ok();
    assert!(
        token_files(&sandbox).is_empty(),
        "{:?}",
        token_files(&sandbox)
    );
    assert!(!list().contains(EXAMPLE_REGISTRY), "list: {}", list());
    assert!(!keys_file().contains("globex"), "{}", keys_file());
    for routes in [
        sandbox.docker_config_dir().join("config.json"),
        sandbox.config_home().join("containers/auth.json"),
        sandbox.config_home().join("helm/registry/config.json"),
    ] {
        let text = std::fs::read_to_string(&routes).unwrap_or_default();
        assert!(
            !text.contains(EXAMPLE_REGISTRY),
            "{} still routes it: {text}\n{removed:#?}",
            routes.display()
        );
    }
}

/// The token files of the sandbox's cache.
fn token_files(sandbox: &Sandbox) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![sandbox.token_cache_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn an_endpoint_override_wins_for_dual_stack_and_fips_hosts() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    for host in [
        "123456789012.dkr-ecr.us-west-2.on.aws",
        "123456789012.dkr-ecr-fips.us-east-1.on.aws",
        "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
        "210987654321.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn",
    ] {
        let run = sandbox.helper().against(&fake.url()).get(host);
        assert_eq!(run.code, 0, "{host}: {run:#?}");
    }
    // Behind the override the two us-east-1 hosts are one endpoint: one token serves both.
    assert_eq!(fake.stats().unwrap().calls, 3);
}
