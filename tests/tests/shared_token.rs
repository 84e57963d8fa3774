//! One call per identity and API endpoint: a token fetched for one registry serves every
//! registry of the same identity and endpoint (ECR's token is not a registry's: `registryIds` is
//! deprecated), never another identity's, another region's or another host's `docker login`
//! token; `erase` of one host leaves no token served for it; and `add` caches the token it
//! verified the keys with, so `status` shows it and the first pull makes no call.

use std::path::PathBuf;

use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, Helper, OTHER_ACCESS_KEY_ID, OTHER_SECRET_ACCESS_KEY,
    Sandbox,
};

/// Another account's registry in the example registry's region.
const OTHER_ACCOUNT: &str = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
/// The example account's registry in another region.
const OTHER_REGION: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

fn helper(sandbox: &Sandbox, fake: &FakeEcr) -> Helper {
    sandbox.helper().env("AWS_ENDPOINT_URL_ECR", fake.url())
}

fn product_config(sandbox: &Sandbox) -> PathBuf {
    sandbox
        .config_home()
        .join("docker-credential-ecr/config.json")
}

/// Binds each of `hosts` to the existing key set `key_set`, as `add` would (the file written
/// whole, atomically).
fn bind_to_key_set(sandbox: &Sandbox, hosts: &[String], key_set: &str) {
    let path = product_config(sandbox);
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let bindings = config["bindings"].as_array_mut().expect("bindings");
    for host in hosts {
        bindings.push(serde_json::json!({"registry": host, "source": {"key_set": key_set}}));
    }
    let staged = path.with_extension("json.new");
    std::fs::write(&staged, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    std::fs::rename(&staged, &path).unwrap();
}

/// `add HOST --name NAME` with the example keys, unverified (no token fetched), secret in the
/// file store.
fn add_unverified(sandbox: &Sandbox, fake: &FakeEcr, host: &str, name: &str) {
    helper(sandbox, fake)
        .add_example_keys(host, name, &["--store", "file", "--no-verify"])
        .assert_ok();
}

#[test]
fn registries_of_two_accounts_in_one_region_share_one_token_and_two_regions_do_not() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    add_unverified(&sandbox, &fake, EXAMPLE_REGISTRY, "acme");
    bind_to_key_set(
        &sandbox,
        &[OTHER_ACCOUNT.to_string(), OTHER_REGION.to_string()],
        "acme",
    );
    let get = |host: &str| helper(&sandbox, &fake).get(host).secret();
    let first = get(EXAMPLE_REGISTRY);
    assert_eq!(fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 1);
    assert_eq!(
        get(OTHER_ACCOUNT),
        first,
        "the same identity's token for another account of the region"
    );
    assert_eq!(
        fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(),
        1,
        "one call for two accounts in one region; log:\n{}",
        sandbox.log()
    );
    get(OTHER_REGION);
    assert_eq!(
        fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(),
        2,
        "another region is another endpoint"
    );
    get(EXAMPLE_REGISTRY);
    get(OTHER_ACCOUNT);
    get(OTHER_REGION);
    assert_eq!(fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 2);
    let status = helper(&sandbox, &fake).run(&["status", "--json"], b"");
    status.assert_ok();
    let rows: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    for row in rows.as_array().unwrap() {
        assert!(
            row["token"].as_str().unwrap().starts_with("valid"),
            "every binding shows its (shared) token: {}",
            status.stdout
        );
    }
}

#[test]
fn behind_an_endpoint_override_fips_dual_stack_and_plain_hosts_of_one_region_share_a_token() {
    // The override names the endpoint itself, so FIPS and dual-stack choose nothing (the
    // override wins for every host form); without one they are other endpoints, which the
    // unit tests of `ecr_model::endpoint` and `source` check (no test can reach AWS's own).
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    for host in [
        EXAMPLE_REGISTRY,
        "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
        "210987654321.dkr-ecr.us-east-1.on.aws",
        "123456789012.dkr-ecr-fips.us-east-1.on.aws",
    ] {
        sandbox.helper().against(&fake.url()).get(host).assert_ok();
    }
    assert_eq!(fake.stats().unwrap().calls, 1, "{}", sandbox.log());
    sandbox
        .helper()
        .against(&fake.url())
        .get("123456789012.dkr-ecr-fips.us-east-2.on.aws")
        .assert_ok();
    assert_eq!(fake.stats().unwrap().calls, 2);
}

#[test]
fn two_key_sets_in_one_region_never_share_a_token() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    add_unverified(&sandbox, &fake, EXAMPLE_REGISTRY, "acme");
    helper(&sandbox, &fake)
        .add_keys(
            OTHER_ACCOUNT,
            "globex",
            (OTHER_ACCESS_KEY_ID, OTHER_SECRET_ACCESS_KEY),
            &["--store", "file", "--no-verify"],
        )
        .assert_ok();
    for _ in 0..2 {
        helper(&sandbox, &fake).get(EXAMPLE_REGISTRY).assert_ok();
        helper(&sandbox, &fake).get(OTHER_ACCOUNT).assert_ok();
    }
    assert_eq!(fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 1, "acme");
    assert_eq!(fake.calls_by(OTHER_ACCESS_KEY_ID).unwrap(), 1, "globex");
}

#[test]
fn a_docker_login_token_serves_its_own_host_only() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let login = serde_json::json!({
        "ServerURL": EXAMPLE_REGISTRY,
        "Username": "AWS",
        "Secret": "token-from-docker-login",
    });
    sandbox
        .helper()
        .run(&["store"], login.to_string().as_bytes())
        .assert_ok();
    let elsewhere = sandbox.helper().against(&fake.url()).get(OTHER_ACCOUNT);
    assert_ne!(elsewhere.secret(), "token-from-docker-login");
    assert_eq!(fake.stats().unwrap().calls, 1);
    let own = sandbox.helper().against(&fake.url()).get(EXAMPLE_REGISTRY);
    assert_eq!(own.secret(), "token-from-docker-login");
    assert_eq!(fake.stats().unwrap().calls, 1);
}

#[test]
fn erase_of_one_host_leaves_no_token_served_for_it() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    add_unverified(&sandbox, &fake, EXAMPLE_REGISTRY, "acme");
    bind_to_key_set(&sandbox, &[OTHER_ACCOUNT.to_string()], "acme");
    helper(&sandbox, &fake).get(OTHER_ACCOUNT).assert_ok();
    assert_eq!(fake.stats().unwrap().calls, 1);
    // `docker logout` of the example registry: the shared entry served it, so it goes.
    sandbox
        .helper()
        .run(&["erase"], EXAMPLE_REGISTRY.as_bytes())
        .assert_ok();
    helper(&sandbox, &fake).get(EXAMPLE_REGISTRY).assert_ok();
    assert_eq!(
        fake.stats().unwrap().calls,
        2,
        "the erased host fetches anew; log:\n{}",
        sandbox.log()
    );
}

#[test]
fn add_caches_the_token_it_verified_the_keys_with() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    helper(&sandbox, &fake)
        .add_example_keys(EXAMPLE_REGISTRY, "acme", &["--store", "file"])
        .assert_ok();
    assert_eq!(fake.stats().unwrap().calls, 1, "the verification");
    let status = helper(&sandbox, &fake).run(&["status"], b"");
    status.assert_ok();
    assert!(
        status.stdout.contains("token:  valid"),
        "status right after add: {}",
        status.stdout
    );
    helper(&sandbox, &fake).get(EXAMPLE_REGISTRY).assert_ok();
    assert_eq!(
        fake.stats().unwrap().calls,
        1,
        "the first get is served the verification's token; log:\n{}",
        sandbox.log()
    );

    // A pattern is verified in one of its regions: a get there makes no call either.
    helper(&sandbox, &fake)
        .add_example_keys(
            "123456789012.dkr.ecr.*.amazonaws.com",
            "acme-any",
            &["--store", "file", "--region", "eu-west-1"],
        )
        .assert_ok();
    assert_eq!(fake.stats().unwrap().calls, 2);
    helper(&sandbox, &fake).get(OTHER_REGION).assert_ok();
    assert_eq!(fake.stats().unwrap().calls, 2, "{}", sandbox.log());
}
