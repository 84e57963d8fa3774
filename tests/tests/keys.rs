//! Vendor keys end to end: `add` (secret on stdin) keeps the secret in a real Secret Service
//! (gnome-keyring on a private bus) and binds it to registries; `get` uses the bound keys (and
//! roles, through the fake STS), whatever AWS keys the environment holds; failures name the
//! vendor; `remove` and `store` with access keys; secrets appear in no file and no output.

use std::path::Path;
use std::time::Duration;

use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::keychain::{SecretService, skip_unless_installed};
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, EXAMPLE_SECRET_ACCESS_KEY, Helper, Run, Sandbox,
    assert_no_file_holds,
};

/// AWS's second public example key pair: a second vendor.
const OTHER_KEY_ID: &str = "AKIAI44QH8DHBEXAMPLE";
const OTHER_SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
const OTHER_REGISTRY: &str = "210987654321.dkr.ecr.eu-central-1.amazonaws.com";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/vendor-pull";

/// A sandbox with its own Secret Service and fake ECR/STS; the environment holds no AWS keys.
struct World {
    sandbox: Sandbox,
    keyring: SecretService,
    fake: FakeEcr,
}

impl World {
    fn start() -> Option<World> {
        if skip_unless_installed("keys") {
            return None;
        }
        let sandbox = Sandbox::new();
        let keyring = SecretService::start(sandbox.root());
        let fake = FakeEcr::builder()
            .password("keys-password")
            .start()
            .unwrap();
        Some(World {
            sandbox,
            keyring,
            fake,
        })
    }

    /// The helper with the keyring and the fake as endpoints, but no AWS keys.
    fn helper(&self) -> Helper {
        self.sandbox
            .helper()
            .envs(self.keyring.env())
            .env("AWS_ENDPOINT_URL_ECR", self.fake.url())
            .env("AWS_ENDPOINT_URL_STS", self.fake.url())
    }

    fn add(&self, args: &[&str], stdin: &str) -> Run {
        let mut all = vec!["add"];
        all.extend_from_slice(args);
        self.helper().run(&all, stdin.as_bytes())
    }

    /// `add` of the example registry as key set `acme` with the example keys (secret on stdin).
    fn add_acme(&self, extra: &[&str]) -> Run {
        let mut args = vec![
            EXAMPLE_REGISTRY,
            "--name",
            "acme",
            "--access-key-id",
            EXAMPLE_ACCESS_KEY_ID,
        ];
        args.extend_from_slice(extra);
        self.add(&args, EXAMPLE_SECRET_ACCESS_KEY)
    }

    /// Makes the fake reject `keys` (`UnrecognizedClientException`, `InvalidClientTokenId`).
    fn reject(&self, keys: &[&str]) {
        self.fake
            .set_knobs(&KnobsPatch {
                rejected_keys: Some(keys.iter().map(|k| k.to_string()).collect()),
                ..Default::default()
            })
            .unwrap();
    }

    fn calls_by(&self, key: &str) -> u64 {
        self.fake.calls_by(key).unwrap()
    }

    fn keychain_items(&self) -> String {
        let out =
            self.keyring
                .secret_tool(&["search", "--all", "service", "docker-credential-ecr"]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

#[test]
fn add_verifies_keeps_the_secret_in_the_keychain_and_get_uses_it() {
    let Some(w) = World::start() else { return };
    let add = w.add(
        &[
            EXAMPLE_REGISTRY,
            "--name",
            "acme",
            "--access-key-id",
            EXAMPLE_ACCESS_KEY_ID,
        ],
        &format!("{EXAMPLE_SECRET_ACCESS_KEY}\n"),
    );
    assert_eq!(add.code, 0, "{add:#?}");
    assert!(
        add.stdout.contains("AKIA…MPLE") && add.stdout.contains("verified"),
        "{}",
        add.stdout
    );
    let items = w.keychain_items();
    assert!(
        items.contains("docker-credential-ecr: acme"),
        "labelled item: {items}"
    );

    // Another identity in the environment does not matter: the binding chooses the keys.
    let get = w
        .helper()
        .env("AWS_ACCESS_KEY_ID", OTHER_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", OTHER_SECRET)
        .get(EXAMPLE_REGISTRY);
    assert_eq!(get.secret(), "keys-password");
    assert_eq!(
        w.calls_by(EXAMPLE_ACCESS_KEY_ID),
        1,
        "the verification, whose token `add` cached for the get"
    );
    assert_eq!(w.calls_by(OTHER_KEY_ID), 0);

    // `add` routed the host in docker's config.
    let docker =
        std::fs::read_to_string(w.sandbox.docker_config_dir().join("config.json")).unwrap();
    assert!(
        docker.contains(EXAMPLE_REGISTRY) && docker.contains("\"ecr\""),
        "{docker}"
    );

    let status = w.helper().run(&["status", "--json"], b"");
    assert_eq!(status.code, 0, "{status:#?}");
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(rows[0]["registry"], EXAMPLE_REGISTRY);
    assert_eq!(rows[0]["source"], "key set acme (AKIA…MPLE)");
    assert!(
        rows[0]["token"].as_str().unwrap().starts_with("valid"),
        "{rows}"
    );

    assert_no_secret_anywhere(
        w.sandbox.root(),
        &[&add, &get, &status],
        EXAMPLE_SECRET_ACCESS_KEY,
    );
}

#[test]
fn keys_that_do_not_verify_save_nothing() {
    let Some(w) = World::start() else { return };
    w.reject(&[EXAMPLE_ACCESS_KEY_ID]);
    let add = w.add_acme(&[]);
    assert_eq!(add.code, 1, "{add:#?}");
    assert!(
        add.stderr.contains("nothing was saved") && add.stderr.contains("rejected"),
        "{}",
        add.stderr
    );
    assert!(
        !w.sandbox
            .config_home()
            .join("docker-credential-ecr/config.json")
            .exists()
    );
    assert!(!w.keychain_items().contains("acme"));
    assert!(!w.sandbox.docker_config_dir().join("config.json").exists());
}

#[test]
fn two_vendors_side_by_side_each_registry_gets_its_own_keys() {
    let Some(w) = World::start() else { return };
    let acme = w.add_acme(&["--no-configure"]);
    assert_eq!(acme.code, 0, "{acme:#?}");
    // Two lines on stdin: key id, then secret; and a pattern for every region of the account.
    let globex = w.add(
        &[
            "210987654321.dkr.ecr.*.amazonaws.com",
            "--name",
            "globex",
            "--no-configure",
        ],
        &format!("{OTHER_KEY_ID}\n{OTHER_SECRET}\n"),
    );
    assert_eq!(globex.code, 0, "{globex:#?}");
    w.fake.reset().unwrap();
    // `add` cached the tokens it verified with: start from none to see which keys a get uses.
    forget_tokens(&w);
    w.helper().get(EXAMPLE_REGISTRY).assert_ok();
    w.helper().get(OTHER_REGISTRY).assert_ok();
    w.helper()
        .get("210987654321.dkr.ecr.us-west-2.amazonaws.com")
        .assert_ok();
    assert_eq!(w.calls_by(EXAMPLE_ACCESS_KEY_ID), 1);
    assert_eq!(w.calls_by(OTHER_KEY_ID), 2);
}

#[test]
fn a_revoked_key_is_reported_with_the_vendors_name() {
    let Some(w) = World::start() else { return };
    let add = w.add_acme(&["--no-configure"]);
    assert_eq!(add.code, 0, "{add:#?}");
    w.reject(&[EXAMPLE_ACCESS_KEY_ID]);
    w.helper()
        .run(&["erase"], EXAMPLE_REGISTRY.as_bytes())
        .assert_ok();
    let get = w.helper().get(EXAMPLE_REGISTRY);
    assert_eq!(get.code, 1);
    assert!(
        get.stdout.contains("acme: AWS rejected its keys; they may have been revoked: ask them for new keys, then run `docker-credential-ecr add` again"),
        "{}",
        get.stdout
    );
    // Each fact once: the host names the line, the vendor comes first in the reason.
    let refresh = w.helper().run(&["refresh", EXAMPLE_REGISTRY], b"");
    assert_eq!(refresh.code, 1, "{refresh:#?}");
    let failed = refresh
        .stderr
        .lines()
        .find(|l| l.contains("rejected"))
        .unwrap_or_else(|| panic!("{refresh:#?}"));
    assert!(
        failed.starts_with(&format!("{EXAMPLE_REGISTRY}: acme: AWS rejected its keys")),
        "{failed}"
    );
    assert_eq!(failed.matches(EXAMPLE_REGISTRY).count(), 1, "{failed}");
    assert_eq!(failed.matches("acme").count(), 1, "{failed}");
    let status = w.helper().run(&["status"], b"");
    assert_eq!(status.code, 1, "a binding in error: {status:#?}");
    assert_eq!(
        status.stdout.matches("rejected").count(),
        1,
        "the error once: {}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("  error:  acme: AWS rejected its keys"),
        "{}",
        status.stdout
    );

    // Once AWS takes the keys again, the binding recovers.
    w.reject(&[]);
    w.helper().run(&["refresh"], b"").assert_ok();
    let healthy = w.helper().run(&["status"], b"");
    assert_eq!(healthy.code, 0, "{healthy:#?}");
    assert!(
        healthy.stdout.contains("last refresh"),
        "{}",
        healthy.stdout
    );
}

#[test]
fn a_role_binding_assumes_the_role_with_its_external_id() {
    let Some(w) = World::start() else { return };
    w.fake
        .set_knobs(&KnobsPatch {
            role_external_ids: Some([(ROLE_ARN.to_string(), "ext-42".to_string())].into()),
            ..Default::default()
        })
        .unwrap();
    let wrong = w.add(
        &[
            EXAMPLE_REGISTRY,
            "--name",
            "acme",
            "--access-key-id",
            EXAMPLE_ACCESS_KEY_ID,
            "--role-arn",
            ROLE_ARN,
            "--external-id",
            "wrong",
            "--no-configure",
        ],
        EXAMPLE_SECRET_ACCESS_KEY,
    );
    assert_eq!(wrong.code, 1, "{wrong:#?}");
    assert!(
        wrong
            .stderr
            .contains("acme: its keys work but may not do this"),
        "{}",
        wrong.stderr
    );

    let add = w.add(
        &[
            EXAMPLE_REGISTRY,
            "--name",
            "acme",
            "--access-key-id",
            EXAMPLE_ACCESS_KEY_ID,
            "--role-arn",
            ROLE_ARN,
            "--external-id",
            "ext-42",
            "--no-configure",
        ],
        EXAMPLE_SECRET_ACCESS_KEY,
    );
    assert_eq!(add.code, 0, "{add:#?}");
    w.helper()
        .run(&["erase"], EXAMPLE_REGISTRY.as_bytes())
        .assert_ok();
    w.fake.reset().unwrap();
    w.helper().get(EXAMPLE_REGISTRY).assert_ok();
    let requests = w.fake.assume_role_requests().unwrap();
    let last = requests.last().expect("an AssumeRole request");
    assert_eq!(last.role_arn, ROLE_ARN);
    assert_eq!(last.external_id.as_deref(), Some("ext-42"));
    assert_eq!(last.access_key.as_deref(), Some(EXAMPLE_ACCESS_KEY_ID));
    let issued = last.issued_access_key.clone().expect("temporary key");
    assert_eq!(
        w.calls_by(&issued),
        1,
        "ECR was called with the role's temporary key"
    );
}

#[test]
fn remove_deletes_the_key_only_when_no_binding_uses_it() {
    let Some(w) = World::start() else { return };
    for registry in [
        EXAMPLE_REGISTRY,
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    ] {
        let add = w.add(
            &[
                registry,
                "--name",
                "acme",
                "--access-key-id",
                EXAMPLE_ACCESS_KEY_ID,
            ],
            EXAMPLE_SECRET_ACCESS_KEY,
        );
        assert_eq!(add.code, 0, "{add:#?}");
    }
    let first = w.helper().run(&["remove", EXAMPLE_REGISTRY], b"");
    assert_eq!(first.code, 0, "{first:#?}");
    assert!(
        w.keychain_items().contains("acme"),
        "still used by eu-west-1"
    );
    let docker =
        std::fs::read_to_string(w.sandbox.docker_config_dir().join("config.json")).unwrap();
    assert!(!docker.contains(EXAMPLE_REGISTRY), "unrouted: {docker}");
    let second = w.helper().run(&["remove", "acme"], b"");
    assert_eq!(second.code, 0, "{second:#?}");
    assert!(
        second.stdout.contains("deleted the keys of acme"),
        "{}",
        second.stdout
    );
    assert!(!w.keychain_items().contains("acme"));
    let again = w.helper().run(&["remove", "acme"], b"");
    assert_eq!(again.code, 1);
}

#[test]
fn store_with_an_access_key_onboards_a_registry() {
    let Some(w) = World::start() else { return };
    let request = serde_json::json!({
        "ServerURL": EXAMPLE_REGISTRY,
        "Username": EXAMPLE_ACCESS_KEY_ID,
        "Secret": EXAMPLE_SECRET_ACCESS_KEY,
    });
    let store = w.helper().run(&["store"], request.to_string().as_bytes());
    assert_eq!(store.code, 0, "{store:#?}");
    assert_eq!(w.helper().get(EXAMPLE_REGISTRY).secret(), "keys-password");
    let list = w.helper().run(&["list"], b"");
    assert!(list.stdout.contains(EXAMPLE_REGISTRY), "{}", list.stdout);
    let temporary = serde_json::json!({
        "ServerURL": EXAMPLE_REGISTRY,
        "Username": "ASIAIOSFODNN7EXAMPLE",
        "Secret": "x",
    });
    let refused = w.helper().run(&["store"], temporary.to_string().as_bytes());
    assert_eq!(refused.code, 1);
    assert!(refused.stdout.contains("temporary"), "{}", refused.stdout);
}

#[test]
fn without_a_keychain_add_names_the_alternatives_and_file_storage_works() {
    if skip_unless_installed("without_a_keychain") {
        return;
    }
    let sandbox = Sandbox::new();
    let bus_only = SecretService::without_service(sandbox.root());
    let fake = FakeEcr::builder()
        .password("keys-password")
        .start()
        .unwrap();
    let helper = || {
        sandbox
            .helper()
            .envs(bus_only.env())
            .env("AWS_ENDPOINT_URL_ECR", fake.url())
    };
    let add = helper().run(
        &[
            "add",
            EXAMPLE_REGISTRY,
            "--access-key-id",
            EXAMPLE_ACCESS_KEY_ID,
            "--no-configure",
        ],
        EXAMPLE_SECRET_ACCESS_KEY.as_bytes(),
    );
    assert_eq!(add.code, 1, "{add:#?}");
    assert!(
        add.stderr.contains("--profile") && add.stderr.contains("--store file"),
        "{}",
        add.stderr
    );
    assert!(add.elapsed < Duration::from_secs(10));

    let file = helper().run(
        &[
            "add",
            EXAMPLE_REGISTRY,
            "--access-key-id",
            EXAMPLE_ACCESS_KEY_ID,
            "--no-configure",
            "--store",
            "file",
        ],
        EXAMPLE_SECRET_ACCESS_KEY.as_bytes(),
    );
    assert_eq!(file.code, 0, "{file:#?}");
    assert!(file.stderr.contains("plaintext"), "{}", file.stderr);
    assert_eq!(helper().get(EXAMPLE_REGISTRY).secret(), "keys-password");
}

#[test]
fn a_locked_keychain_still_serves_cached_tokens_and_fails_fast_without_one() {
    let Some(w) = World::start() else { return };
    let add = w.add_acme(&["--no-configure"]);
    assert_eq!(add.code, 0, "{add:#?}");
    w.helper().get(EXAMPLE_REGISTRY).assert_ok();
    w.keyring.lock();
    assert_eq!(
        w.helper().get(EXAMPLE_REGISTRY).secret(),
        "keys-password",
        "tokens need no keychain"
    );
    w.helper()
        .run(&["erase"], EXAMPLE_REGISTRY.as_bytes())
        .assert_ok();
    let get = w.helper().get(EXAMPLE_REGISTRY);
    assert_eq!(get.code, 1, "{get:#?}");
    assert!(get.stdout.contains("keychain"), "{}", get.stdout);
    assert!(get.elapsed < Duration::from_secs(3), "{:?}", get.elapsed);
}

/// No captured output and no file under `root` holds `secret` in plain text.
fn assert_no_secret_anywhere(root: &Path, runs: &[&Run], secret: &str) {
    for run in runs {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{run:#?}"
        );
    }
    assert_no_file_holds(root, secret);
}

#[test]
fn doctor_names_the_failing_step_and_its_fix() {
    let Some(w) = World::start() else { return };
    let add = w.add_acme(&[]);
    assert_eq!(add.code, 0, "{add:#?}");
    let healthy = w.helper().run(&["doctor"], b"");
    assert_eq!(healthy.code, 0, "{healthy:#?}");
    assert!(
        healthy.stdout.contains("checks passed"),
        "{}",
        healthy.stdout
    );
    assert!(
        healthy.stdout.contains("is routed to this helper"),
        "{}",
        healthy.stdout
    );

    // Not routed: the fix is configure-docker.
    std::fs::write(w.sandbox.docker_config_dir().join("config.json"), "{}").unwrap();
    let unrouted = w.helper().run(&["doctor"], b"");
    assert_eq!(unrouted.code, 1);
    assert!(
        unrouted.stdout.contains(&format!(
            "fix: docker-credential-ecr configure-docker {EXAMPLE_REGISTRY}"
        )),
        "{}",
        unrouted.stdout
    );
    w.helper()
        .run(&["configure-docker", EXAMPLE_REGISTRY], b"")
        .assert_ok();

    // AWS's clock hours away from ours: the clock step.
    w.fake
        .set_knobs(&KnobsPatch {
            date_offset_secs: Some(3 * 3600),
            ..Default::default()
        })
        .unwrap();
    let skewed = w.helper().run(&["doctor"], b"");
    assert_eq!(skewed.code, 1, "{skewed:#?}");
    assert!(
        skewed.stdout.contains("clock") && skewed.stdout.contains("timedatectl"),
        "{}",
        skewed.stdout
    );

    // Revoked keys: the keys step, naming the vendor.
    w.fake
        .set_knobs(&KnobsPatch {
            date_offset_secs: Some(0),
            rejected_keys: Some(vec![EXAMPLE_ACCESS_KEY_ID.into()]),
            ..Default::default()
        })
        .unwrap();
    let revoked = w.helper().run(&["doctor"], b"");
    assert_eq!(revoked.code, 1);
    assert!(revoked.stdout.contains("(keys)"), "{}", revoked.stdout);
    assert!(
        revoked.stdout.contains("fix: ask acme for new keys"),
        "{}",
        revoked.stdout
    );
}

#[test]
fn re_adding_a_key_set_rotates_its_keys_only_once_the_new_ones_verify() {
    let Some(w) = World::start() else { return };
    let first = w.add_acme(&["--no-configure"]);
    assert_eq!(first.code, 0, "{first:#?}");
    w.reject(&[OTHER_KEY_ID]);
    let refused = w.add(
        &[
            EXAMPLE_REGISTRY,
            "--name",
            "acme",
            "--access-key-id",
            OTHER_KEY_ID,
            "--no-configure",
        ],
        OTHER_SECRET,
    );
    assert_eq!(refused.code, 1, "{refused:#?}");
    w.helper()
        .run(&["erase"], EXAMPLE_REGISTRY.as_bytes())
        .assert_ok();
    w.fake.reset().unwrap();
    w.helper().get(EXAMPLE_REGISTRY).assert_ok();
    assert_eq!(
        w.calls_by(EXAMPLE_ACCESS_KEY_ID),
        1,
        "the old keys still serve"
    );

    w.reject(&[]);
    let rotated = w.add(
        &[
            EXAMPLE_REGISTRY,
            "--name",
            "acme",
            "--access-key-id",
            OTHER_KEY_ID,
            "--no-configure",
        ],
        OTHER_SECRET,
    );
    assert_eq!(rotated.code, 0, "{rotated:#?}");
    assert!(
        rotated.stdout.contains("replaced the keys"),
        "{}",
        rotated.stdout
    );
    w.fake.reset().unwrap();
    // `add` cached the tokens it verified with: start from none to see which keys a get uses.
    forget_tokens(&w);
    w.helper().get(EXAMPLE_REGISTRY).assert_ok();
    assert_eq!(w.calls_by(OTHER_KEY_ID), 1, "the new keys serve at once");
    assert_eq!(w.calls_by(EXAMPLE_ACCESS_KEY_ID), 0);
}

#[test]
fn a_registry_bound_to_a_profile_uses_it_whatever_the_environment_holds() {
    let Some(w) = World::start() else { return };
    std::fs::write(
        w.sandbox.aws_credentials_file(),
        format!(
            "[vendor]\naws_access_key_id = {OTHER_KEY_ID}\naws_secret_access_key = {OTHER_SECRET}\n"
        ),
    )
    .unwrap();
    let add = w.add(
        &[EXAMPLE_REGISTRY, "--profile", "vendor", "--no-configure"],
        "",
    );
    assert_eq!(add.code, 0, "{add:#?}");
    assert!(add.stdout.contains("AWS profile vendor"), "{}", add.stdout);
    w.fake.reset().unwrap();
    // `add` cached the tokens it verified with: start from none to see which keys a get uses.
    forget_tokens(&w);
    w.helper()
        .env("AWS_ACCESS_KEY_ID", EXAMPLE_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", EXAMPLE_SECRET_ACCESS_KEY)
        .get(EXAMPLE_REGISTRY)
        .assert_ok();
    assert_eq!(w.calls_by(OTHER_KEY_ID), 1, "the bound profile's key");
    assert_eq!(w.calls_by(EXAMPLE_ACCESS_KEY_ID), 0);
    let missing = w.add(
        &[
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "--profile",
            "nobody",
            "--no-configure",
        ],
        "",
    );
    assert_eq!(missing.code, 1, "{missing:#?}");
    assert!(
        missing.stderr.contains("nothing was saved"),
        "{}",
        missing.stderr
    );
}

/// Deletes every cached token (as if none had been fetched yet).
fn forget_tokens(w: &World) {
    match std::fs::remove_dir_all(w.sandbox.token_cache_dir()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot clear the token cache: {e}"),
    }
}
