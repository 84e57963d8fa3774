//! The rig every real client of the helper is tested against: a registry under the genuine ECR
//! host name, a Docker daemon, and the project's fake ECR handing out the registry's password.
//!
//! [`ClientRig::start`] assembles the machine-wide fixtures of [`crate::system`] (an
//! `/etc/hosts` entry pointing `123456789012.dkr.ecr.us-east-1.amazonaws.com` at `127.0.0.2`,
//! Debian's `docker-registry` with TLS on port 443 and basic auth for user `AWS`, the daemon's
//! trust for the throwaway CA, a private `dockerd`) under the caller's [`SystemLock`]. The only
//! route from a client to a credential is the helper: no `docker login` ever runs, so every
//! password the registry accepts came from `docker-credential-ecr get`, which fetched it from the
//! fake ECR (whose call counter [`ClientRig::api_calls`] reads).
//!
//! The rig also owns what every client test does with it: the environment a client runs the
//! helper in, commands under a `timeout`, and failure messages carrying the helper's, the
//! registry's and the daemon's logs.

use std::path::Path;
use std::process::{Command, Output};

use crate::fake_handle::FakeEcr;
use crate::sandbox::{EXAMPLE_REGISTRY, Sandbox};
use crate::system::{
    DockerCertsEntry, Dockerd, HostsEntries, Registry, SystemLock, import_busybox_image,
};
use crate::tls::TestPki;

/// The image the client tests push and pull.
pub const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/vendor/app:1.0";
/// The loopback address the registry serves on (the hosts entry points the ECR name at it).
pub const REGISTRY_IP: &str = "127.0.0.2";
/// The password the registry accepts and the fake ECR hands out.
pub const PASSWORD: &str = "e2e-registry-password-1";
/// Longest a single client command may take before the test gives up on it.
const COMMAND_TIMEOUT_SECS: &str = "180";

/// Everything a client test runs against. Fields drop in declaration order: the daemon and the
/// registry stop before their trust and name entries go away.
pub struct ClientRig {
    pub dockerd: Dockerd,
    pub registry: Registry,
    certs: DockerCertsEntry,
    _hosts: HostsEntries,
    pub fake: FakeEcr,
    _pki_dir: tempfile::TempDir,
}

impl ClientRig {
    /// Starts the fake ECR, the hosts entry, the CA trust, the registry and the daemon.
    pub fn start(lock: &SystemLock) -> ClientRig {
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
        ClientRig {
            dockerd,
            registry,
            certs,
            _hosts: hosts,
            fake,
            _pki_dir: pki_dir,
        }
    }

    /// Puts a one-binary image into the registry as `image`: imported into the daemon, pushed
    /// through the helper by a throwaway sandbox, and removed from the daemon again.
    pub fn seed(&self, image: &str) {
        let sandbox = Sandbox::new();
        sandbox.write_docker_config(&[EXAMPLE_REGISTRY]);
        import_busybox_image(&self.dockerd, image);
        let pushed = self.docker(&sandbox, &["push", image]);
        self.assert_success("docker push of the seed image", &pushed, &sandbox);
        self.remove_local_image(image);
    }

    /// ECR API calls the fake has answered so far.
    pub fn api_calls(&self) -> u64 {
        self.fake.stats().expect("fake stats").calls
    }

    /// The directory holding the registry's CA as `ca.crt` (a `--cert-dir` for the containers
    /// tools).
    pub fn cert_dir(&self) -> &Path {
        self.certs.dir()
    }

    /// The environment of a client that runs the helper in `sandbox`: the sandbox's private
    /// dirs and docker config, the example keys, and the ECR API pointed at the fake.
    pub fn client_env(&self, sandbox: &Sandbox) -> Vec<(String, String)> {
        let mut env = sandbox.base_env();
        env.extend(Sandbox::example_keys());
        env.push(("AWS_ENDPOINT_URL_ECR".into(), self.fake.url()));
        env.push(("DOCKER_CREDENTIAL_ECR_LOG".into(), "debug".into()));
        env
    }

    /// `PROGRAM ARGS...` under a timeout, with only the environment of a client of `sandbox`
    /// and the rig's daemon as `DOCKER_HOST`.
    pub fn client(&self, sandbox: &Sandbox, program: &str, args: &[&str]) -> Command {
        let mut cmd = timed(program, args);
        cmd.env_clear()
            .envs(self.client_env(sandbox))
            .env("DOCKER_HOST", self.dockerd.docker_host());
        cmd
    }

    /// `docker ARGS...` as a user of `sandbox` would run it (the CLI runs the helper).
    pub fn docker(&self, sandbox: &Sandbox, args: &[&str]) -> Output {
        self.client(sandbox, "docker", args)
            .output()
            .expect("run docker")
    }

    /// `docker rmi IMAGE`, tolerating an image that is not there.
    pub fn remove_local_image(&self, image: &str) {
        let _ = self
            .dockerd
            .docker()
            .args(["rmi", "--force", image])
            .output();
    }

    /// Panics with the command's output and the relevant logs unless it succeeded.
    pub fn assert_success(&self, what: &str, out: &Output, sandbox: &Sandbox) {
        assert!(
            out.status.success(),
            "{what} failed ({})\n{}",
            out.status,
            self.report(out, sandbox)
        );
    }

    /// Runs `client` (a command of `sandbox`, which has no route to the helper) and panics
    /// unless it failed with the registry refusing it: the registry answered 401 and authorized
    /// no request meanwhile. The client's own words vary (the daemon, after the 401, falls back
    /// to plain HTTP for a loopback address and reports that), so the registry's log decides.
    pub fn assert_refused(&self, what: &str, sandbox: &Sandbox, client: impl FnOnce() -> Output) {
        let mark = self.registry.log().len();
        let out = client();
        let log = self.registry.log();
        let during = log.get(mark..).unwrap_or_default();
        assert!(
            !out.status.success(),
            "{what} succeeded without credentials\n{}",
            self.report(&out, sandbox)
        );
        assert!(
            during.contains("HTTP/1.1\" 401 "),
            "{what} failed without the registry refusing it credentials\n{}",
            self.report(&out, sandbox)
        );
        assert!(
            !during.contains("msg=\"authorized request\""),
            "{what} failed, yet the registry authorized one of its requests\n{}",
            self.report(&out, sandbox)
        );
    }

    /// The command's output with the helper's, the registry's and the daemon's logs.
    fn report(&self, out: &Output, sandbox: &Sandbox) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}\n--- helper log ---\n{}\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            sandbox.log(),
            self.registry.log_tail(),
            self.dockerd.log_tail(),
        )
    }
}

/// `timeout SECS PROGRAM ARGS...`: no step can hang the test run.
pub fn timed(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg(COMMAND_TIMEOUT_SECS).arg(program).args(args);
    cmd
}

pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
