//! Registry aliases: `configure-docker ALIAS --alias-of REGISTRY` (and `add --alias`) make a
//! host that is not ECR's own name (a corporate name, a pull-through mirror) answer the
//! registry's token, from the registry's own cache entry: one call for both, none for a warm
//! `get`, which the front program answers alone. Well-known public registries are refused as
//! aliases without `--force`; any other host that is not ECR is still "not found"; the product
//! config stays valid and keeps what it does not know; `remove` and `status` know aliases.

use std::fs;
use std::path::PathBuf;

use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, Helper, NOT_FOUND, Sandbox};

const MIRROR: &str = "mirror.corp.example";

fn start_fake() -> FakeEcr {
    FakeEcr::builder()
        .password("alias-password")
        .start()
        .expect("start fake ECR")
}

fn helper(sandbox: &Sandbox, fake: &FakeEcr) -> Helper {
    sandbox.helper().against(&fake.url())
}

fn product_config(sandbox: &Sandbox) -> PathBuf {
    sandbox
        .config_home()
        .join("docker-credential-ecr/config.json")
}

fn docker_config(sandbox: &Sandbox) -> serde_json::Value {
    let text = fs::read_to_string(sandbox.docker_config_dir().join("config.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn server_url(run: &ecr_e2e::sandbox::Run) -> String {
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    v["ServerURL"].as_str().unwrap().to_string()
}

/// The registry bound to the example keys (key set `vendor`, file store), then
/// `configure-docker MIRROR --alias-of EXAMPLE_REGISTRY`; both must succeed.
fn alias_mirror(sandbox: &Sandbox, fake: &FakeEcr) {
    helper(sandbox, fake)
        .add_example_keys(
            EXAMPLE_REGISTRY,
            "vendor",
            &["--store", "file", "--no-verify"],
        )
        .assert_ok();
    helper(sandbox, fake)
        .run(
            &["configure-docker", MIRROR, "--alias-of", EXAMPLE_REGISTRY],
            b"",
        )
        .assert_ok();
}

#[test]
fn get_of_an_alias_answers_the_registrys_token_from_one_fetch() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    alias_mirror(&sandbox, &fake);
    assert_eq!(
        docker_config(&sandbox)["credHelpers"][MIRROR],
        "ecr",
        "the alias is routed to the helper"
    );
    let first = helper(&sandbox, &fake).get(MIRROR);
    assert_eq!(first.secret(), "alias-password", "{first:#?}");
    assert_eq!(server_url(&first), MIRROR, "the address docker asked for");
    let registry = helper(&sandbox, &fake).get(EXAMPLE_REGISTRY);
    assert_eq!(registry.secret(), "alias-password");
    assert_eq!(server_url(&registry), EXAMPLE_REGISTRY);
    assert_eq!(
        fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(),
        1,
        "one token for the alias and its registry; log:\n{}",
        sandbox.log()
    );
    // A URL form of the alias, as docker may send it, is the same alias.
    let url = helper(&sandbox, &fake).get("https://Mirror.Corp.Example/v2/");
    assert_eq!(url.secret(), "alias-password", "{url:#?}");
    assert_eq!(fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 1);
}

#[test]
fn a_warm_get_of_an_alias_needs_only_the_front_program() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    alias_mirror(&sandbox, &fake);
    assert_eq!(
        helper(&sandbox, &fake).get(EXAMPLE_REGISTRY).secret(),
        "alias-password",
        "the cold get, through the full program"
    );
    let front = sandbox.front_alone();
    let before = fake.stats().unwrap().calls;
    let warm = sandbox.helper_at(&front).against(&fake.url()).get(MIRROR);
    assert_eq!(warm.secret(), "alias-password", "{warm:#?}");
    assert_eq!(server_url(&warm), MIRROR);
    assert_eq!(warm.stderr, "", "{warm:#?}");
    assert_eq!(
        fake.stats().unwrap().calls,
        before,
        "a warm get makes no call"
    );
}

#[test]
fn well_known_public_registries_are_refused_as_aliases_without_force() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    for public in [
        "docker.io",
        "ghcr.io",
        "public.ecr.aws",
        "europe-docker.pkg.dev",
    ] {
        let refused = helper(&sandbox, &fake).run(
            &["configure-docker", public, "--alias-of", EXAMPLE_REGISTRY],
            b"",
        );
        assert_eq!(refused.code, 1, "{public}: {refused:#?}");
        assert!(
            refused.stderr.contains(public) && refused.stderr.contains("--force")
                || refused.stderr.contains("needs no alias"),
            "{public}: {refused:#?}"
        );
        assert!(
            !product_config(&sandbox).exists()
                || !fs::read_to_string(product_config(&sandbox))
                    .unwrap()
                    .contains(public),
            "{public} recorded"
        );
        if public != "public.ecr.aws" {
            // (ECR Public has tokens of its own.)
            let get = helper(&sandbox, &fake).get(public);
            assert_eq!(get.stdout.trim(), NOT_FOUND, "{public}: {get:#?}");
        }
    }
    let forced = helper(&sandbox, &fake).run(
        &[
            "configure-docker",
            "ghcr.io",
            "--alias-of",
            EXAMPLE_REGISTRY,
            "--force",
        ],
        b"",
    );
    forced.assert_ok();
    assert!(forced.stderr.contains("warning"), "{forced:#?}");
    assert_eq!(
        helper(&sandbox, &fake).get("ghcr.io").secret(),
        "alias-password"
    );
    // ECR Public is an ECR host: no alias, forced or not.
    let ecr_public = helper(&sandbox, &fake).run(
        &[
            "configure-docker",
            "public.ecr.aws",
            "--alias-of",
            EXAMPLE_REGISTRY,
            "--force",
        ],
        b"",
    );
    assert_eq!(ecr_public.code, 1, "{ecr_public:#?}");
    // The target is one private ECR registry.
    for target in [
        "123456789012.dkr.ecr.*.amazonaws.com",
        "public.ecr.aws",
        "other.example",
    ] {
        let refused =
            helper(&sandbox, &fake).run(&["configure-docker", MIRROR, "--alias-of", target], b"");
        assert_eq!(refused.code, 1, "{target}: {refused:#?}");
    }
}

#[test]
fn a_host_that_is_neither_ecr_nor_an_alias_is_still_not_found() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    alias_mirror(&sandbox, &fake);
    for other in [
        "other.corp.example",
        "mirror.corp.example:5000",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
    ] {
        let get = helper(&sandbox, &fake).get(other);
        assert_eq!(get.code, 1, "{other}: {get:#?}");
        assert_eq!(get.stdout.trim(), NOT_FOUND, "{other}: {get:#?}");
    }
    assert_eq!(fake.stats().unwrap().calls, 0);
}

#[test]
fn the_config_stays_valid_keeps_unknown_keys_and_remove_and_status_know_aliases() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let path = product_config(&sandbox);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, r#"{"from_the_future": {"x": [1, 2]}}"#).unwrap();
    // `add --alias` binds the registry and records and routes the alias.
    helper(&sandbox, &fake)
        .run(
            &[
                "add",
                EXAMPLE_REGISTRY,
                "--name",
                "acme",
                "--access-key-id",
                EXAMPLE_ACCESS_KEY_ID,
                "--store",
                "file",
                "--alias",
                MIRROR,
            ],
            ecr_e2e::sandbox::EXAMPLE_SECRET_ACCESS_KEY.as_bytes(),
        )
        .assert_ok();
    alias_mirror(&sandbox, &fake);
    helper(&sandbox, &fake)
        .run(
            &[
                "configure-docker",
                "registry.corp.example:5000",
                "--alias-of",
                EXAMPLE_REGISTRY,
            ],
            b"",
        )
        .assert_ok();
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).expect("valid JSON");
    assert_eq!(config["from_the_future"], serde_json::json!({"x": [1, 2]}));
    assert_eq!(config["aliases"][MIRROR], EXAMPLE_REGISTRY);
    assert_eq!(
        config["aliases"]["registry.corp.example:5000"],
        EXAMPLE_REGISTRY
    );
    assert_eq!(
        helper(&sandbox, &fake).get(MIRROR).secret(),
        "alias-password"
    );
    let status = helper(&sandbox, &fake).run(&["status"], b"");
    assert!(
        status
            .stdout
            .contains(&format!("{MIRROR}\n  alias of: {EXAMPLE_REGISTRY}")),
        "{status:#?}"
    );

    // `remove ALIAS` forgets that alias and its route, nothing else.
    helper(&sandbox, &fake)
        .run(&["remove", MIRROR], b"")
        .assert_ok();
    assert!(docker_config(&sandbox)["credHelpers"].get(MIRROR).is_none());
    assert_eq!(
        docker_config(&sandbox)["credHelpers"][EXAMPLE_REGISTRY],
        "ecr"
    );
    assert_eq!(helper(&sandbox, &fake).get(MIRROR).stdout.trim(), NOT_FOUND);
    // `remove REGISTRY` takes its aliases with it.
    helper(&sandbox, &fake)
        .run(&["remove", EXAMPLE_REGISTRY], b"")
        .assert_ok();
    let config: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).expect("valid JSON");
    assert!(config.get("aliases").is_none(), "{config}");
    assert_eq!(config["from_the_future"], serde_json::json!({"x": [1, 2]}));
    assert!(
        docker_config(&sandbox)["credHelpers"]
            .get("registry.corp.example:5000")
            .is_none()
    );

    // A hand-written alias that does not parse is an error for that host, and no command
    // rewrites (drops) it.
    let broken = r#"{"aliases": {"bad.corp.example": "public.ecr.aws"}}"#;
    fs::write(&path, broken).unwrap();
    let get = helper(&sandbox, &fake).get("bad.corp.example");
    assert_eq!(get.code, 1, "{get:#?}");
    assert!(get.stdout.contains("not valid"), "{get:#?}");
    let refused = helper(&sandbox, &fake).run(
        &["configure-docker", MIRROR, "--alias-of", EXAMPLE_REGISTRY],
        b"",
    );
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert_eq!(fs::read_to_string(&path).unwrap(), broken);
}

#[test]
fn an_alias_of_a_registry_with_no_binding_is_refused_without_force() {
    // Its token would come from whatever AWS identity each process's environment holds.
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let refused = helper(&sandbox, &fake).run(
        &["configure-docker", MIRROR, "--alias-of", EXAMPLE_REGISTRY],
        b"",
    );
    assert_eq!(refused.code, 1, "{refused:#?}");
    assert_eq!(refused.stderr.lines().count(), 1, "{refused:#?}");
    assert!(refused.stderr.contains("no binding"), "{refused:#?}");
    assert!(
        !product_config(&sandbox).exists()
            || !fs::read_to_string(product_config(&sandbox))
                .unwrap()
                .contains(MIRROR),
        "nothing recorded"
    );
    assert_eq!(helper(&sandbox, &fake).get(MIRROR).stdout.trim(), NOT_FOUND);
    helper(&sandbox, &fake)
        .run(
            &[
                "configure-docker",
                MIRROR,
                "--alias-of",
                EXAMPLE_REGISTRY,
                "--force",
            ],
            b"",
        )
        .assert_ok();
    assert_eq!(
        helper(&sandbox, &fake).get(MIRROR).secret(),
        "alias-password"
    );
}
