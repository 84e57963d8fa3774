//! `kubelet-credential-provider` with service-account tokens (the kubelet's `tokenAttributes`)
//! against the fake ECR and STS, with requests written from the API reference
//! (`ecr_e2e::kubelet`) and tokens shaped like the API server's (`ecr_e2e::service_account_token`;
//! signed by nobody: neither the helper nor the fake verifies them). No kubelet runs here.
//!
//! Whose credentials fetched a token is told by the fake: AssumeRoleWithWebIdentity issues key
//! ids per role, session and subject, and counts ECR calls per key id
//! ([`FakeEcr::keys_issued_to`], [`FakeEcr::calls_by`]). The fake hands out one password at a
//! time (a knob), so each test changes it between service accounts: a token served from the
//! cache is then told apart from one fetched again.

use std::collections::BTreeMap;

use ecr_e2e::fake::knobs::KnobsPatch;
use ecr_e2e::fake::sts::ASSUME_ROLE_WITH_WEB_IDENTITY_TARGET;
use ecr_e2e::fake::wire::ECR_TARGET;
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::kubelet::{API_VERSIONS, parse_response, request_with_token};
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, Helper, Run, Sandbox, assert_no_file_holds,
};
use ecr_e2e::service_account_token::{subject, token};

const PROVIDER: &str = "kubelet-credential-provider";
const ROLE_A: &str = "arn:aws:iam::123456789012:role/shop-puller";
const ROLE_B: &str = "arn:aws:iam::123456789012:role/batch-puller";
/// This product's annotation, and the AWS provider's.
const OURS: &str = "docker-credential-ecr/role-arn";
const AWS_PROVIDERS: &str = "eks.amazonaws.com/ecr-role-arn";

fn image() -> String {
    format!("{EXAMPLE_REGISTRY}/vendor/app:1.2.3")
}

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The plugin as the kubelet runs it on a node off AWS: no AWS keys at all, ECR and STS at the
/// fake, everything logged.
fn node(sandbox: &Sandbox, fake: &FakeEcr) -> Helper {
    sandbox
        .helper()
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .env("AWS_ENDPOINT_URL_STS", fake.url())
        .env("DOCKER_CREDENTIAL_ECR_LOG", "debug")
}

fn pull(helper: Helper, token: &str, annotations: &BTreeMap<String, String>) -> Run {
    let input = request_with_token(&image(), token, annotations);
    helper.run(&[PROVIDER], input.as_bytes())
}

/// The password of a successful answer.
fn password(run: &Run) -> String {
    run.assert_ok();
    let response = parse_response(&run.stdout);
    assert_eq!(response.cache_key_type, "Registry");
    let auth = &response.auth[EXAMPLE_REGISTRY];
    assert_eq!(auth.username, "AWS");
    assert!(response.cache_duration.is_some(), "{}", run.stdout);
    auth.password.clone()
}

fn set_password(fake: &FakeEcr, password: &str) {
    fake.set_knobs(&KnobsPatch {
        password: Some(password.into()),
        ..KnobsPatch::default()
    })
    .unwrap();
}

/// The one key id the fake issued for `role` to `subject`, and that it made exactly one ECR call.
fn assert_fetched_once_as(fake: &FakeEcr, role: &str, subject: &str) -> String {
    let keys = fake.keys_issued_to(role, subject).unwrap();
    assert_eq!(
        keys.len(),
        1,
        "one exchange for {subject} as {role}: {keys:?}"
    );
    assert_eq!(
        fake.calls_by(&keys[0]).unwrap(),
        1,
        "one ECR call with {subject}'s credentials for {role}"
    );
    keys[0].clone()
}

#[test]
fn two_service_accounts_with_two_roles_get_their_own_tokens_each_fetched_once() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let shop = token("shop", "puller");
    let batch = token("batch", "worker");
    let shop_role = annotations(&[(OURS, ROLE_A)]);
    let batch_role = annotations(&[(AWS_PROVIDERS, ROLE_B)]);

    set_password(&fake, "pw-shop");
    let first_shop = password(&pull(node(&sandbox, &fake), &shop, &shop_role));
    set_password(&fake, "pw-batch");
    let first_batch = password(&pull(node(&sandbox, &fake), &batch, &batch_role));
    assert_ne!(first_shop, first_batch);

    let shop_key = assert_fetched_once_as(&fake, ROLE_A, &subject("shop", "puller"));
    let batch_key = assert_fetched_once_as(&fake, ROLE_B, &subject("batch", "worker"));
    assert_ne!(shop_key[..16], batch_key[..16]);
    let stats = fake.stats().unwrap();
    assert_eq!(stats.by_target[ASSUME_ROLE_WITH_WEB_IDENTITY_TARGET], 2);
    assert_eq!(stats.by_target[ECR_TARGET], 2);
    for record in &stats.web_identity_requests {
        assert_eq!(record.access_key, None, "sent unsigned: {record:?}");
        assert_eq!(record.outcome, "ok");
    }
    assert_eq!(stats.web_identity_requests[0].session_name, "shop.puller");
    assert_eq!(stats.by_access_key.get(EXAMPLE_ACCESS_KEY_ID), None);

    // The second request of each service account, with a new token of it (the kubelet
    // rotates them), is served from the cache: no STS or ECR call.
    set_password(&fake, "pw-new");
    fake.reset().unwrap();
    let again_shop = password(&pull(
        node(&sandbox, &fake),
        &token("shop", "puller"),
        &shop_role,
    ));
    let again_batch = password(&pull(node(&sandbox, &fake), &batch, &batch_role));
    assert_eq!(again_shop, first_shop);
    assert_eq!(again_batch, first_batch);
    assert_eq!(fake.stats().unwrap().calls, 0, "{}", sandbox.log());
}

#[test]
fn one_role_for_two_subjects_is_two_exchanges_never_one_token_for_both() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let role = annotations(&[(OURS, ROLE_A)]);
    set_password(&fake, "pw-puller");
    let puller = password(&pull(
        node(&sandbox, &fake),
        &token("shop", "puller"),
        &role,
    ));
    set_password(&fake, "pw-builder");
    let builder = password(&pull(
        node(&sandbox, &fake),
        &token("shop", "builder"),
        &role,
    ));
    assert_ne!(
        puller, builder,
        "the second service account got the first one's token"
    );
    assert_eq!(
        fake.stats().unwrap().by_target[ASSUME_ROLE_WITH_WEB_IDENTITY_TARGET],
        2
    );
    let a = assert_fetched_once_as(&fake, ROLE_A, &subject("shop", "puller"));
    let b = assert_fetched_once_as(&fake, ROLE_A, &subject("shop", "builder"));
    assert_ne!(a, b);
}

#[test]
fn concurrent_pulls_of_one_service_account_make_one_exchange() {
    let fake = FakeEcr::start().unwrap();
    fake.set_knobs(&KnobsPatch {
        latency_ms: Some(300),
        ..KnobsPatch::default()
    })
    .unwrap();
    let sandbox = Sandbox::new();
    let role = annotations(&[(OURS, ROLE_A)]);
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let helper = node(&sandbox, &fake);
                let role = role.clone();
                // Each pod of the service account has a token of its own.
                let token = ecr_e2e::service_account_token::with_claims(&serde_json::json!({
                    "sub": subject("shop", "puller"), "jti": i, "aud": ["sts.amazonaws.com"],
                }));
                scope.spawn(move || pull(helper, &token, &role))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let passwords: std::collections::BTreeSet<String> = runs.iter().map(password).collect();
    assert_eq!(passwords.len(), 1);
    let stats = fake.stats().unwrap();
    assert_eq!(
        stats.by_target[ASSUME_ROLE_WITH_WEB_IDENTITY_TARGET],
        1,
        "{}",
        sandbox.log()
    );
    assert_eq!(stats.by_target[ECR_TARGET], 1);
}

#[test]
fn a_rejected_token_is_one_line_on_stderr_and_nothing_on_stdout() {
    let fake = FakeEcr::builder()
        .rejected_subject(subject("shop", "revoked"))
        .role_subject(ROLE_B, subject("batch", "worker"))
        .start()
        .unwrap();
    let sandbox = Sandbox::new();
    let revoked = token("shop", "revoked");
    let untrusted = token("shop", "puller");
    let not_a_jwt = "an-opaque-token-that-is-not-a-jwt".to_string();
    for (token, role, expected) in [
        (&revoked, ROLE_A, "STS rejected the service account token"),
        (&not_a_jwt, ROLE_A, "not a valid JWT"),
        (&untrusted, ROLE_B, "trust policy"),
    ] {
        let run = pull(node(&sandbox, &fake), token, &annotations(&[(OURS, role)]));
        assert_ne!(run.code, 0, "{run:#?}");
        assert!(run.stdout.is_empty(), "{run:#?}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "{run:#?}");
        assert!(run.stderr.contains(expected), "{run:#?}");
        assert!(run.stderr.contains(role), "names the role: {run:#?}");
        assert!(!run.stderr.contains(token.as_str()), "{run:#?}");
    }
    let stats = fake.stats().unwrap();
    assert_eq!(stats.by_target[ASSUME_ROLE_WITH_WEB_IDENTITY_TARGET], 3);
    assert_eq!(stats.by_target.get(ECR_TARGET), None);
    // Nothing was cached for them: the next try asks STS again.
    pull(
        node(&sandbox, &fake),
        &revoked,
        &annotations(&[(OURS, ROLE_A)]),
    );
    assert_eq!(
        fake.stats().unwrap().by_target[ASSUME_ROLE_WITH_WEB_IDENTITY_TARGET],
        4
    );
}

#[test]
fn a_token_without_a_role_annotation_pulls_with_the_nodes_binding() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let from_get = sandbox
        .helper()
        .against(&fake.url())
        .get(EXAMPLE_REGISTRY)
        .secret();
    fake.reset().unwrap();
    let helper = node(&sandbox, &fake).envs(Sandbox::example_keys());
    let unrelated = annotations(&[("eks.amazonaws.com/role-arn", ROLE_A)]);
    let run = pull(helper, &token("shop", "puller"), &unrelated);
    assert_eq!(password(&run), from_get, "the node's cached token");
    assert_eq!(fake.stats().unwrap().calls, 0);
    assert!(fake.web_identity_requests().unwrap().is_empty());
}

#[test]
fn a_role_annotation_without_a_token_or_two_roles_is_an_error() {
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let no_token = serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": API_VERSIONS[0],
        "image": image(),
        "serviceAccountAnnotations": {OURS: ROLE_A},
    })
    .to_string();
    let two_roles = request_with_token(
        &image(),
        &token("shop", "puller"),
        &annotations(&[(OURS, ROLE_A), (AWS_PROVIDERS, ROLE_B)]),
    );
    for (input, expected) in [(no_token, "tokenAttributes"), (two_roles, "two roles")] {
        let run = node(&sandbox, &fake)
            .envs(Sandbox::example_keys())
            .run(&[PROVIDER], input.as_bytes());
        assert_eq!(run.code, 1, "{run:#?}");
        assert!(run.stdout.is_empty(), "{run:#?}");
        assert_eq!(run.stderr.trim().lines().count(), 1, "{run:#?}");
        assert!(run.stderr.contains(expected), "{run:#?}");
    }
    assert_eq!(
        fake.stats().unwrap().calls,
        0,
        "not the node's identity either"
    );
}

#[test]
fn the_token_is_written_to_no_file() {
    let fake = FakeEcr::builder()
        .rejected_subject(subject("shop", "revoked"))
        .start()
        .unwrap();
    let sandbox = Sandbox::new();
    let good = token("shop", "puller");
    let revoked = token("shop", "revoked");
    let role = annotations(&[(OURS, ROLE_A)]);
    pull(node(&sandbox, &fake), &good, &role).assert_ok();
    pull(node(&sandbox, &fake), &token("shop", "puller"), &role).assert_ok();
    assert_ne!(pull(node(&sandbox, &fake), &revoked, &role).code, 0);
    assert!(
        sandbox.token_cache_dir().read_dir().is_ok(),
        "the cache was written"
    );
    assert!(!sandbox.log().is_empty(), "the debug log was written");
    for token in [&good, &revoked] {
        assert_no_file_holds(sandbox.root(), token);
        // Nor its signature or payload on their own.
        for part in token.split('.') {
            assert_no_file_holds(sandbox.root(), part);
        }
    }
}

#[test]
fn the_same_service_account_of_two_clusters_is_two_identities() {
    // Every cluster has `shop/puller` (and `default/default`): a token of another issuer, or
    // requested for another audience, never takes the entry a first cluster's token filled.
    let fake = FakeEcr::start().unwrap();
    let sandbox = Sandbox::new();
    let role = annotations(&[(OURS, ROLE_A)]);
    let token_of = |issuer: &str, audience: &str| {
        ecr_e2e::service_account_token::with_claims(&serde_json::json!({
            "iss": issuer, "aud": [audience], "sub": subject("shop", "puller"),
        }))
    };
    set_password(&fake, "cluster-a");
    let a = token_of("https://oidc.a.example", "sts.amazonaws.com");
    assert_eq!(
        password(&pull(node(&sandbox, &fake), &a, &role)),
        "cluster-a"
    );
    set_password(&fake, "cluster-b");
    let b = token_of("https://oidc.b.example", "sts.amazonaws.com");
    assert_eq!(
        password(&pull(node(&sandbox, &fake), &b, &role)),
        "cluster-b"
    );
    set_password(&fake, "other-audience");
    let c = token_of("https://oidc.a.example", "ecr.example");
    assert_eq!(
        password(&pull(node(&sandbox, &fake), &c, &role)),
        "other-audience"
    );
    assert_eq!(
        fake.stats().unwrap().by_target[ASSUME_ROLE_WITH_WEB_IDENTITY_TARGET],
        3
    );
    // The first cluster's next pull is its own entry's.
    assert_eq!(
        password(&pull(node(&sandbox, &fake), &a, &role)),
        "cluster-a"
    );
}
