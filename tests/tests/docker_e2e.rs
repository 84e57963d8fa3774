//! Real clients of the helper, end to end, under the genuine ECR host name.
//!
//! Docker (CLI + daemon) reaches a registry at `123456789012.dkr.ecr.us-east-1.amazonaws.com`
//! (the [`ClientRig`]) that demands basic auth for user `AWS` with the password the fake ECR hands
//! out. The only configuration is `credHelpers` in the sandbox's docker config: there is no
//! `docker login`, so every credential the registry sees came from `docker-credential-ecr get`,
//! which fetched it from the fake ECR. The other clients (podman, buildah, skopeo,
//! docker-compose, a retagged push) are in `clients_e2e.rs`.
//!
//! The scenario needs root (hosts file, port 443, dockerd) and the machine-wide fixtures of
//! [`ecr_e2e::system`], so it is one test that runs its steps in order under the
//! [`SystemLock`]. Without root it prints a visible `SKIP`.

use ecr_e2e::client_rig::{ClientRig, IMAGE, PASSWORD, stderr_of, timed};
use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, EXAMPLE_SECRET_ACCESS_KEY, Sandbox,
};
use ecr_e2e::system::{SystemLock, import_busybox_image, run_ok, skip_unless_root};

#[test]
fn docker_authenticates_through_cred_helpers() {
    if skip_unless_root("docker_e2e::docker_authenticates_through_cred_helpers") {
        return;
    }
    let lock = SystemLock::acquire();
    let world = ClientRig::start(&lock);
    push_then_pull_twice_with_one_token(&world);
    onboarded_with_add_then_pulled(&world);
    wrong_password_fails_with_an_auth_error(&world);
}

/// A vendor's customer: `add` with the secret on stdin (kept in a real Secret Service), then
/// `docker pull` with no other step: no AWS keys in the environment, no `docker login`, no
/// hand-written docker config.
fn onboarded_with_add_then_pulled(world: &ClientRig) {
    if ecr_e2e::keychain::skip_unless_installed("docker_e2e::onboarded_with_add_then_pulled") {
        return;
    }
    let sandbox = Sandbox::new();
    let keyring = ecr_e2e::keychain::SecretService::start(sandbox.root());
    let mut env = sandbox.base_env();
    env.extend(keyring.env());
    env.push(("AWS_ENDPOINT_URL_ECR".into(), world.fake.url()));

    let added = sandbox
        .helper()
        .envs(keyring.env())
        .env("AWS_ENDPOINT_URL_ECR", world.fake.url())
        .run(
            &[
                "add",
                EXAMPLE_REGISTRY,
                "--name",
                "vendor",
                "--access-key-id",
                EXAMPLE_ACCESS_KEY_ID,
            ],
            EXAMPLE_SECRET_ACCESS_KEY.as_bytes(),
        );
    assert_eq!(
        added.code, 0,
        "docker-credential-ecr add failed: {added:#?}"
    );

    world.remove_local_image(IMAGE);
    let before = world.api_calls();
    let mut pull = timed("docker", &["pull", IMAGE]);
    pull.env_clear()
        .envs(env)
        .env("DOCKER_HOST", world.dockerd.docker_host());
    let pulled = pull.output().expect("run docker pull");
    world.assert_success("docker pull after add", &pulled, &sandbox);
    assert_eq!(
        world.api_calls(),
        before,
        "the pull is served the token `add` fetched with the added keys to verify them"
    );
    for text in [format!("{added:?}"), format!("{pulled:?}")] {
        assert!(
            !text.contains(EXAMPLE_SECRET_ACCESS_KEY),
            "output leaks the secret"
        );
    }
    ecr_e2e::sandbox::assert_no_file_holds(sandbox.root(), EXAMPLE_SECRET_ACCESS_KEY);
    ecr_e2e::sandbox::assert_no_file_holds(world.dockerd.root(), EXAMPLE_SECRET_ACCESS_KEY);
}

/// `docker push`, then two `docker pull`s from an empty local store: the push fetches one token,
/// both pulls reuse the cached one.
fn push_then_pull_twice_with_one_token(world: &ClientRig) {
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&[EXAMPLE_REGISTRY]);
    import_busybox_image(&world.dockerd, IMAGE);

    let before = world.api_calls();
    let push = world.docker(&sandbox, &["push", IMAGE]);
    world.assert_success("docker push", &push, &sandbox);
    let after_push = world.api_calls();
    assert!(
        after_push > before,
        "docker push succeeded without a GetAuthorizationToken call: the helper was not used"
    );

    for attempt in ["first", "second"] {
        world.remove_local_image(IMAGE);
        let pull = world.docker(&sandbox, &["pull", IMAGE]);
        world.assert_success(&format!("{attempt} docker pull"), &pull, &sandbox);
        assert_eq!(
            world.api_calls(),
            after_push,
            "{attempt} pull called the ECR API again instead of using the cached token\n{}",
            sandbox.log()
        );
    }
    run_ok(world.dockerd.docker().args(["image", "inspect", IMAGE]));
}

/// The fake hands out a password the registry does not know: the pull must fail with the
/// registry's 401. Had the helper not been used, docker would have sent no credentials at all
/// and reported a different error (its plain-HTTP fallback for loopback registries).
fn wrong_password_fails_with_an_auth_error(world: &ClientRig) {
    let wrong = KnobsPatch {
        password: Some("not-the-registry-password".into()),
        ..KnobsPatch::default()
    };
    world.fake.set_knobs(&wrong).expect("set wrong password");
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&[EXAMPLE_REGISTRY]);
    world.remove_local_image(IMAGE);
    let before = world.api_calls();

    let pull = world.docker(&sandbox, &["pull", IMAGE]);

    let restore = KnobsPatch {
        password: Some(PASSWORD.into()),
        ..KnobsPatch::default()
    };
    world.fake.set_knobs(&restore).expect("restore password");
    let stderr = stderr_of(&pull);
    assert!(
        !pull.status.success(),
        "pull with a wrong password succeeded:\n{stderr}"
    );
    assert!(
        stderr.contains("unauthorized") || stderr.contains("authentication required"),
        "expected an auth error from the registry, got:\n{stderr}\n{}",
        world.registry.log_tail()
    );
    assert!(
        world.api_calls() > before,
        "the failing pull never asked the fake ECR for a token"
    );
    assert!(
        world
            .registry
            .log()
            .contains("error authenticating user \\\"AWS\\\""),
        "the registry did not see user AWS with a wrong password:\n{}",
        world.registry.log_tail()
    );
}
