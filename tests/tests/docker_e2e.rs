//! Real clients of the helper, end to end, under the genuine ECR host name.
//!
//! Docker (CLI + daemon) and skopeo reach a registry at
//! `123456789012.dkr.ecr.us-east-1.amazonaws.com` (an `/etc/hosts` entry for `127.0.0.2`, TLS on
//! port 443 with a throwaway CA the daemon trusts) that demands basic auth for user `AWS` with the
//! password the fake ECR hands out. The only configuration is `credHelpers` in the sandbox's docker
//! config: there is no `docker login`, so every credential the registry sees came from
//! `docker-credential-ecr get`, which fetched it from the fake ECR.
//!
//! The scenario needs root (hosts file, port 443, dockerd) and the machine-wide fixtures of
//! [`ecr_e2e::system`], so it is one test that runs its steps in order under the
//! [`SystemLock`]. Without root it prints a visible `SKIP`.

use std::process::{Command, Output};

use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, EXAMPLE_SECRET_ACCESS_KEY, Sandbox,
};
use ecr_e2e::system::{
    DockerCertsEntry, Dockerd, HostsEntries, Registry, SystemLock, import_busybox_image, run_ok,
    skip_unless_root,
};
use ecr_e2e::tls::TestPki;

/// The image every step pushes or pulls.
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/vendor/app:1.0";
/// The loopback address the registry serves on (the hosts entry points the ECR name at it).
const REGISTRY_IP: &str = "127.0.0.2";
/// The password the registry accepts and the fake ECR hands out.
const PASSWORD: &str = "e2e-registry-password-1";
/// Longest a single docker or skopeo command may take before the test gives up on it.
const COMMAND_TIMEOUT_SECS: &str = "180";

/// Everything the scenario runs against. Fields drop in declaration order: the daemon and the
/// registry stop before their trust and name entries go away.
struct World {
    dockerd: Dockerd,
    registry: Registry,
    _certs: DockerCertsEntry,
    _hosts: HostsEntries,
    fake: FakeEcr,
    _pki_dir: tempfile::TempDir,
}

impl World {
    fn start(lock: &SystemLock) -> World {
        let pki_dir = tempfile::Builder::new()
            .prefix("ecr-e2e-pki-")
            .tempdir()
            .expect("pki dir");
        let pki = TestPki::generate(pki_dir.path(), &[EXAMPLE_REGISTRY], &[]);
        let fake = FakeEcr::builder()
            .password(PASSWORD)
            .start()
            .expect("start fake ECR");
        let hosts = HostsEntries::add(&[(REGISTRY_IP, EXAMPLE_REGISTRY)]);
        let certs = DockerCertsEntry::install(lock, EXAMPLE_REGISTRY, &pki.ca_cert);
        let registry = Registry::start(
            lock,
            REGISTRY_IP,
            &pki.server_cert,
            &pki.server_key,
            PASSWORD,
        );
        let dockerd = Dockerd::start(lock);
        World {
            dockerd,
            registry,
            _certs: certs,
            _hosts: hosts,
            fake,
            _pki_dir: pki_dir,
        }
    }

    /// ECR API calls the fake has answered so far.
    fn api_calls(&self) -> u64 {
        self.fake.stats().expect("fake stats").calls
    }

    /// The environment of a client that runs the helper in `sandbox`: the sandbox's private
    /// dirs and docker config, the example keys, and the ECR API pointed at the fake.
    fn client_env(&self, sandbox: &Sandbox) -> Vec<(String, String)> {
        let mut env = sandbox.base_env();
        env.extend(Sandbox::example_keys());
        env.push(("AWS_ENDPOINT_URL_ECR".into(), self.fake.url()));
        env.push(("DOCKER_CREDENTIAL_ECR_LOG".into(), "debug".into()));
        env
    }

    /// `docker ARGS...` as a user of `sandbox` would run it (the CLI runs the helper).
    fn docker(&self, sandbox: &Sandbox, args: &[&str]) -> Output {
        let mut cmd = timed("docker", args);
        cmd.env_clear()
            .envs(self.client_env(sandbox))
            .env("DOCKER_HOST", self.dockerd.docker_host());
        cmd.output().expect("run docker")
    }

    /// `docker rmi IMAGE`, tolerating an image that is not there.
    fn remove_local_image(&self) {
        let _ = self
            .dockerd
            .docker()
            .args(["rmi", "--force", IMAGE])
            .output();
    }

    /// Panics with the command's output and the relevant logs unless it succeeded.
    fn assert_success(&self, what: &str, out: &Output, sandbox: &Sandbox) {
        assert!(
            out.status.success(),
            "{what} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- helper log ---\n{}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            sandbox.log(),
            self.registry.log_tail(),
            self.dockerd.log_tail(),
        );
    }
}

/// `timeout SECS PROGRAM ARGS...`: no step can hang the test run.
fn timed(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg(COMMAND_TIMEOUT_SECS).arg(program).args(args);
    cmd
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn docker_and_skopeo_authenticate_through_cred_helpers() {
    if skip_unless_root("docker_e2e::docker_and_skopeo_authenticate_through_cred_helpers") {
        return;
    }
    let lock = SystemLock::acquire();
    let world = World::start(&lock);
    push_then_pull_twice_with_one_token(&world);
    skopeo_copies_without_a_daemon(&world);
    onboarded_with_add_then_pulled(&world);
    wrong_password_fails_with_an_auth_error(&world);
}

/// A vendor's customer: `add` with the secret on stdin (kept in a real Secret Service), then
/// `docker pull` with no other step: no AWS keys in the environment, no `docker login`, no
/// hand-written docker config.
fn onboarded_with_add_then_pulled(world: &World) {
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

    world.remove_local_image();
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
fn push_then_pull_twice_with_one_token(world: &World) {
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
        world.remove_local_image();
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

/// `skopeo copy` reads `credHelpers` itself and talks to the registry directly. A fresh sandbox
/// (empty token cache) and a `DOCKER_HOST` that leads nowhere prove it is skopeo, not the daemon,
/// that ran the helper.
fn skopeo_copies_without_a_daemon(world: &World) {
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&[EXAMPLE_REGISTRY]);
    let destination = sandbox.root().join("copied-image");
    let before = world.api_calls();

    let out = timed(
        "skopeo",
        &[
            "copy",
            &format!("docker://{IMAGE}"),
            &format!("dir:{}", destination.display()),
        ],
    )
    .env_clear()
    .envs(world.client_env(&sandbox))
    .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    .output()
    .expect("run skopeo");
    world.assert_success("skopeo copy", &out, &sandbox);

    assert!(
        destination.join("manifest.json").is_file(),
        "skopeo wrote no manifest.json into {}",
        destination.display()
    );
    assert_eq!(
        world.api_calls(),
        before + 1,
        "skopeo's copy should have cost exactly one GetAuthorizationToken call (fresh cache)"
    );
}

/// The fake hands out a password the registry does not know: the pull must fail with the
/// registry's 401. Had the helper not been used, docker would have sent no credentials at all
/// and reported a different error (its plain-HTTP fallback for loopback registries).
fn wrong_password_fails_with_an_auth_error(world: &World) {
    let wrong = KnobsPatch {
        password: Some("not-the-registry-password".into()),
        ..KnobsPatch::default()
    };
    world.fake.set_knobs(&wrong).expect("set wrong password");
    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&[EXAMPLE_REGISTRY]);
    world.remove_local_image();
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
