//! The rig `docker-credential-ecr mirror` is tested against: two real registries and no Docker
//! daemon.
//!
//! # The parts
//!
//! - The **source**: Debian's `docker-registry` under the genuine ECR host
//!   `123456789012.dkr.ecr.us-east-1.amazonaws.com` on `127.0.0.2:443`, basic auth for user `AWS`
//!   with the password the project's fake ECR hands out (so the mirror can only get in with a
//!   token the product fetched).
//! - The **target**: another `docker-registry` under `mirror.example.test` on `127.0.0.3:443`,
//!   with its own htpasswd user and password (the mirror must find them in the docker config).
//! - `/etc/hosts` entries for both names, one throwaway CA whose server certificate covers both
//!   (the mirror trusts it through `AWS_CA_BUNDLE`, skopeo through a `--cert-dir`).
//!
//! Everything runs under the caller's [`SystemLock`], like the [`crate::client_rig::ClientRig`]:
//! port 443 of two loopback addresses and `/etc/hosts` are the machine's.
//!
//! # Seeding and checking without docker
//!
//! Images are made by hand ([`crate::oci_images`]) and pushed to the source with
//! `skopeo copy --all --preserve-digests`; what a registry holds is read back with `skopeo inspect`
//! and from the registry's own storage and access log ([`crate::registry_state`]). No daemon is
//! ever started, and the mirror runs with `DOCKER_HOST` pointing at a socket that does not exist.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::client_rig::timed;
use crate::fake_handle::FakeEcr;
use crate::oci_images::OciLayout;
use crate::registry_state::{LogMark, RegistryStorage, RequestLog};
use crate::sandbox::{EXAMPLE_REGISTRY, Sandbox, helper_bin};
use crate::system::{ECR_USER, HostsEntries, Registry, RegistrySpec, SystemLock, run_ok};
use crate::tls::TestPki;

/// The source registry's host: a genuine ECR name.
pub const SOURCE_HOST: &str = EXAMPLE_REGISTRY;
pub const SOURCE_IP: &str = "127.0.0.2";
/// The password the source accepts for user `AWS` and the fake ECR hands out.
pub const SOURCE_PASSWORD: &str = "e2e-source-password-1";
/// The target registry's host: the customer's own registry.
pub const TARGET_HOST: &str = "mirror.example.test";
pub const TARGET_IP: &str = "127.0.0.3";
/// The target's htpasswd user and password.
pub const TARGET_USER: &str = "mirror-bot";
pub const TARGET_PASSWORD: &str = "e2e-target-password-1";
/// `DOCKER_HOST` for the mirror: a socket that does not exist, so no daemon can be used.
pub const NO_DOCKER_DAEMON: &str = "unix:///nonexistent/docker.sock";

/// What one mirror run did.
#[derive(Debug)]
pub struct MirrorRun {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl MirrorRun {
    fn of(out: Output) -> MirrorRun {
        MirrorRun {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The non-empty lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// The two registries, their names and trust, and the fake ECR. Fields drop in declaration
/// order: the registries stop before their names go away.
pub struct MirrorRig {
    pub source: Registry,
    pub target: Registry,
    _hosts: HostsEntries,
    pub fake: FakeEcr,
    pki: TestPki,
    cert_dir: PathBuf,
    dir: tempfile::TempDir,
}

impl MirrorRig {
    /// Starts the fake ECR, the hosts entries and both registries.
    pub fn start(lock: &SystemLock) -> MirrorRig {
        let dir = tempfile::Builder::new()
            .prefix("ecr-e2e-mirror-")
            .tempdir()
            .expect("rig dir");
        let pki = TestPki::generate(&dir.path().join("pki"), &[SOURCE_HOST, TARGET_HOST], &[]);
        let cert_dir = dir.path().join("cert-dir");
        std::fs::create_dir_all(&cert_dir).expect("cert dir");
        std::fs::copy(&pki.ca_cert, cert_dir.join("ca.crt")).expect("copy CA");
        let fake = FakeEcr::builder()
            .password(SOURCE_PASSWORD)
            .start()
            .expect("start fake ECR");
        let hosts = HostsEntries::add(&[(SOURCE_IP, SOURCE_HOST), (TARGET_IP, TARGET_HOST)]);
        let source = Registry::start_as(
            lock,
            &RegistrySpec {
                name: "mirror-source",
                ip: SOURCE_IP,
                cert: &pki.server_cert,
                key: &pki.server_key,
                user: ECR_USER,
                password: SOURCE_PASSWORD,
            },
        );
        let target = Registry::start_as(
            lock,
            &RegistrySpec {
                name: "mirror-target",
                ip: TARGET_IP,
                cert: &pki.server_cert,
                key: &pki.server_key,
                user: TARGET_USER,
                password: TARGET_PASSWORD,
            },
        );
        std::fs::create_dir_all(dir.path().join("home")).expect("skopeo home");
        MirrorRig {
            source,
            target,
            _hosts: hosts,
            fake,
            pki,
            cert_dir,
            dir,
        }
    }

    /// A new, empty OCI layout in the rig's directory.
    pub fn layout(&self, name: &str) -> OciLayout {
        OciLayout::create(&self.dir.path().join("layouts").join(name))
    }

    /// A directory of the rig's for a test's own files (scripts, say).
    pub fn scratch(&self, name: &str) -> PathBuf {
        let dir = self.dir.path().join("scratch").join(name);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    /// Pushes `layout`'s `tag` (an image or an index with all its children) to the source as
    /// `reference` (`SOURCE_HOST/REPO:TAG`), digests preserved.
    pub fn seed(&self, layout: &OciLayout, tag: &str, reference: &str) {
        assert!(
            reference.starts_with(&format!("{SOURCE_HOST}/")),
            "seed only the source: {reference}"
        );
        let creds = format!("{ECR_USER}:{SOURCE_PASSWORD}");
        run_ok(
            self.skopeo()
                .args(["copy", "--quiet", "--all", "--preserve-digests"])
                .arg("--dest-creds")
                .arg(&creds)
                .arg("--dest-cert-dir")
                .arg(&self.cert_dir)
                .arg(layout.reference(tag))
                .arg(format!("docker://{reference}")),
        );
    }

    /// The exact bytes of the manifest `reference` names (`HOST/REPO:TAG` or `HOST/REPO@DIGEST`,
    /// on either registry), or skopeo's error.
    pub fn try_raw_manifest(&self, reference: &str) -> Result<Vec<u8>, String> {
        let out = self
            .skopeo_for(reference, &["inspect", "--raw"])
            .output()
            .expect("run skopeo inspect --raw");
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// [`MirrorRig::try_raw_manifest`], panicking on an error.
    pub fn raw_manifest(&self, reference: &str) -> Vec<u8> {
        self.try_raw_manifest(reference)
            .unwrap_or_else(|e| panic!("skopeo inspect --raw {reference} failed: {e}"))
    }

    /// The `Digest` `skopeo inspect` reports for `reference`.
    pub fn inspect_digest(&self, reference: &str) -> String {
        // --no-tags: a repository pushed to by digest only has no tag list to read.
        let out = run_ok(&mut self.skopeo_for(reference, &["inspect", "--no-tags"]));
        let value: serde_json::Value =
            serde_json::from_str(&out).expect("skopeo inspect prints JSON");
        value["Digest"]
            .as_str()
            .unwrap_or_else(|| panic!("no Digest in {out}"))
            .to_string()
    }

    /// The tags of `repository` (`HOST/REPO`), sorted, as `skopeo list-tags` reports them.
    pub fn tags(&self, repository: &str) -> Vec<String> {
        let out = run_ok(&mut self.skopeo_for(repository, &["list-tags"]));
        let value: serde_json::Value =
            serde_json::from_str(&out).expect("skopeo list-tags prints JSON");
        let mut tags: Vec<String> = value["Tags"]
            .as_array()
            .expect("Tags")
            .iter()
            .map(|t| t.as_str().expect("a tag").to_string())
            .collect();
        tags.sort();
        tags
    }

    /// The target's storage.
    pub fn target_storage(&self) -> RegistryStorage {
        RegistryStorage::of(&self.target)
    }

    /// A mark in the target's log, for [`MirrorRig::target_requests_since`].
    pub fn target_mark(&self) -> LogMark {
        LogMark::now(&self.target)
    }

    /// The requests the target logged since `mark`.
    pub fn target_requests_since(&self, mark: LogMark) -> RequestLog {
        RequestLog::since(&self.target, mark)
    }

    /// The environment the mirror runs in for `sandbox`: the sandbox's private dirs and docker
    /// config, the example keys and the ECR API at the fake (the source's route), the CA through
    /// `AWS_CA_BUNDLE`, and no Docker daemon.
    pub fn mirror_env(&self, sandbox: &Sandbox) -> Vec<(String, String)> {
        let mut env = sandbox.base_env();
        env.extend(Sandbox::example_keys());
        env.push(("AWS_ENDPOINT_URL_ECR".into(), self.fake.url()));
        env.push((
            "AWS_CA_BUNDLE".into(),
            self.pki.ca_cert.to_string_lossy().into_owned(),
        ));
        env.push(("DOCKER_HOST".into(), NO_DOCKER_DAEMON.into()));
        env.push(("DOCKER_CREDENTIAL_ECR_LOG".into(), "debug".into()));
        env
    }

    /// [`MirrorRig::mirror_env`] with `path_first` (directories of scripted helpers) ahead of
    /// `PATH`.
    fn mirror_env_with_path(
        &self,
        sandbox: &Sandbox,
        path_first: &[&Path],
    ) -> Vec<(String, String)> {
        let mut env = self.mirror_env(sandbox);
        for (key, value) in env.iter_mut() {
            if key == "PATH" {
                let dirs = path_first.iter().map(|d| d.to_string_lossy().into_owned());
                *value = dirs.chain([value.clone()]).collect::<Vec<_>>().join(":");
            }
        }
        env
    }

    /// `docker-credential-ecr mirror ARGS...` in `sandbox`'s environment, not under a `timeout`:
    /// its pid is the copy's own (the front and the full program exec, they do not fork), so a
    /// test can kill it.
    pub fn mirror_command(&self, sandbox: &Sandbox, args: &[&str]) -> Command {
        let mut cmd = Command::new(helper_bin());
        cmd.arg("mirror")
            .args(args)
            .env_clear()
            .envs(self.mirror_env(sandbox))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the mirror (under a `timeout`) and returns what it did.
    pub fn mirror(&self, sandbox: &Sandbox, args: &[&str]) -> MirrorRun {
        self.mirror_with_path(sandbox, args, &[])
    }

    /// [`MirrorRig::mirror`] with `path_first` ahead of `PATH`.
    pub fn mirror_with_path(
        &self,
        sandbox: &Sandbox,
        args: &[&str],
        path_first: &[&Path],
    ) -> MirrorRun {
        self.mirror_in_env(args, self.mirror_env_with_path(sandbox, path_first))
    }

    /// Runs the mirror (under a `timeout`) in exactly `env` (start from
    /// [`MirrorRig::mirror_env`]).
    pub fn mirror_in_env(&self, args: &[&str], env: Vec<(String, String)>) -> MirrorRun {
        let helper = helper_bin();
        let mut cmd = timed(helper.to_str().expect("UTF-8 path"), &["mirror"]);
        cmd.args(args).env_clear().envs(env).stdin(Stdio::null());
        MirrorRun::of(cmd.output().expect("run the mirror"))
    }

    /// The throwaway CA and server certificate both registries serve.
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// Spawns the mirror with stdout and stderr to files in the rig's directory, for a test that
    /// kills it.
    pub fn spawn_mirror(&self, sandbox: &Sandbox, args: &[&str], name: &str) -> Child {
        let out = std::fs::File::create(self.scratch(name).join("stdout")).expect("stdout file");
        let err = std::fs::File::create(self.scratch(name).join("stderr")).expect("stderr file");
        self.mirror_command(sandbox, args)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn the mirror")
    }

    /// What a run spawned by [`MirrorRig::spawn_mirror`] under `name` wrote.
    pub fn spawned_output(&self, name: &str) -> (String, String) {
        let read =
            |f: &str| std::fs::read_to_string(self.scratch(name).join(f)).unwrap_or_default();
        (read("stdout"), read("stderr"))
    }

    /// A failure report: the run, the helper's log and both registries' log tails.
    pub fn report(&self, run: &MirrorRun, sandbox: &Sandbox) -> String {
        format!(
            "--- exit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- helper log ---\n{}\n\
             --- source ---\n{}\n--- target ---\n{}",
            run.code,
            run.stdout,
            run.stderr,
            sandbox.log(),
            self.source.log_tail(),
            self.target.log_tail(),
        )
    }

    /// `skopeo` with a private HOME and no ambient credentials.
    fn skopeo(&self) -> Command {
        let home = self.dir.path().join("home");
        let mut cmd = timed("skopeo", &[]);
        cmd.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", &home)
            .env("XDG_RUNTIME_DIR", &home)
            .env("REGISTRY_AUTH_FILE", home.join("no-auth.json"));
        cmd
    }

    /// `skopeo ARGS... --creds ... --cert-dir ... docker://REFERENCE` with the credentials of
    /// the registry `reference` names.
    fn skopeo_for(&self, reference: &str, args: &[&str]) -> Command {
        let creds = if reference.starts_with(&format!("{SOURCE_HOST}/")) {
            format!("{ECR_USER}:{SOURCE_PASSWORD}")
        } else if reference.starts_with(&format!("{TARGET_HOST}/")) {
            format!("{TARGET_USER}:{TARGET_PASSWORD}")
        } else {
            panic!("{reference} is on neither registry of the rig");
        };
        let mut cmd = self.skopeo();
        cmd.args(args)
            .arg("--creds")
            .arg(creds)
            .arg("--cert-dir")
            .arg(&self.cert_dir)
            .arg(format!("docker://{reference}"));
        cmd
    }
}
