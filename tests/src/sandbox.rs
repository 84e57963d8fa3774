//! A private home for one test: temp directories for HOME, the XDG cache/config/state dirs and
//! the AWS config files, and a builder that runs the real `docker-credential-ecr` binary in it.
//!
//! Every command built here starts from an empty environment, so nothing from the developer's
//! machine (their AWS keys, their `~/.aws`, their docker config) leaks into a test, and the AWS
//! SDK never reaches the instance-metadata address: `AWS_EC2_METADATA_DISABLED=true` is always set.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// AWS's public example access key id: the only key id tests ever use.
pub const EXAMPLE_ACCESS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
/// AWS's public example secret access key.
pub const EXAMPLE_SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// AWS's second public example key pair, for a second identity.
pub const OTHER_ACCESS_KEY_ID: &str = "AKIAI44QH8DHBEXAMPLE";
pub const OTHER_SECRET_ACCESS_KEY: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
/// The example registry host used throughout the tests.
pub const EXAMPLE_REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// The answer docker expects when a helper has nothing for a registry.
pub const NOT_FOUND: &str = "credentials not found in native keychain";

/// The built `docker-credential-ecr` binary: `$ECR_HELPER_BIN`, else next to this test binary's
/// profile directory (`target/<profile>/docker-credential-ecr`).
pub fn helper_bin() -> PathBuf {
    built_binary("ECR_HELPER_BIN", "docker-credential-ecr")
}

/// Finds a binary of this workspace: the environment variable `var` when set, else the profile
/// directory that holds the running test executable (`target/<profile>/deps/..`).
pub fn built_binary(var: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} not found: run `cargo build --workspace` before the tests (or set {var})",
        path.display()
    );
    path
}

/// One test's private directories.
pub struct Sandbox {
    root: TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// Creates the directories and empty AWS config and credentials files.
    pub fn new() -> Sandbox {
        let root = tempfile::Builder::new()
            .prefix("ecr-e2e-")
            .tempdir()
            .expect("create sandbox dir");
        let sandbox = Sandbox { root };
        for dir in [
            sandbox.home(),
            sandbox.cache_home(),
            sandbox.config_home(),
            sandbox.state_home(),
            sandbox.docker_config_dir(),
        ] {
            std::fs::create_dir_all(dir).expect("create sandbox subdir");
        }
        std::fs::create_dir_all(sandbox.home().join(".aws")).expect("create .aws");
        std::fs::write(sandbox.aws_config_file(), "").expect("write aws config");
        std::fs::write(sandbox.aws_credentials_file(), "").expect("write aws credentials");
        sandbox
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    pub fn cache_home(&self) -> PathBuf {
        self.root().join("xdg-cache")
    }
    pub fn config_home(&self) -> PathBuf {
        self.root().join("xdg-config")
    }
    pub fn state_home(&self) -> PathBuf {
        self.root().join("xdg-state")
    }
    pub fn docker_config_dir(&self) -> PathBuf {
        self.root().join("docker-config")
    }
    pub fn aws_config_file(&self) -> PathBuf {
        self.home().join(".aws").join("config")
    }
    pub fn aws_credentials_file(&self) -> PathBuf {
        self.home().join(".aws").join("credentials")
    }
    /// Where the helper keeps its token cache.
    pub fn token_cache_dir(&self) -> PathBuf {
        self.cache_home().join("docker-credential-ecr")
    }
    /// The helper's log file.
    pub fn log_file(&self) -> PathBuf {
        self.state_home()
            .join("docker-credential-ecr")
            .join("docker-credential-ecr.log")
    }
    /// The helper's log, or "" when it wrote none.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// Writes `$DOCKER_CONFIG/config.json` routing `hosts` to the helper (`credHelpers`).
    pub fn write_docker_config(&self, hosts: &[&str]) {
        let helpers: serde_json::Map<String, serde_json::Value> = hosts
            .iter()
            .map(|h| (h.to_string(), serde_json::Value::from("ecr")))
            .collect();
        let config = serde_json::json!({ "credHelpers": helpers });
        std::fs::write(
            self.docker_config_dir().join("config.json"),
            serde_json::to_vec_pretty(&config).expect("json"),
        )
        .expect("write docker config");
    }

    /// The environment any program that runs the helper gets (the helper itself, the docker CLI,
    /// skopeo): PATH with the helper's directory first, private HOME/XDG/DOCKER_CONFIG/AWS files.
    pub fn base_env(&self) -> Vec<(String, String)> {
        let helper_dir = helper_bin()
            .parent()
            .expect("helper dir")
            .to_string_lossy()
            .into_owned();
        let path =
            format!("{helper_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        vec![
            ("PATH".into(), path),
            ("HOME".into(), s(self.home())),
            ("XDG_CACHE_HOME".into(), s(self.cache_home())),
            ("XDG_CONFIG_HOME".into(), s(self.config_home())),
            ("XDG_STATE_HOME".into(), s(self.state_home())),
            ("DOCKER_CONFIG".into(), s(self.docker_config_dir())),
            ("AWS_CONFIG_FILE".into(), s(self.aws_config_file())),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                s(self.aws_credentials_file()),
            ),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// The example keys as environment variables.
    pub fn example_keys() -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), EXAMPLE_ACCESS_KEY_ID.into()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                EXAMPLE_SECRET_ACCESS_KEY.into(),
            ),
        ]
    }

    /// A command running the helper in this sandbox (no keys, no endpoint yet).
    pub fn helper(&self) -> Helper {
        self.helper_under(&[])
    }

    /// A copy of the front program `docker-credential-ecr` alone in a directory of its own, no
    /// full program beside it: what it answers, it answered without handing off.
    pub fn front_alone(&self) -> PathBuf {
        let alone = self.root().join("front-alone");
        std::fs::create_dir_all(&alone).expect("front-alone dir");
        let front = alone.join("docker-credential-ecr");
        std::fs::copy(helper_bin(), &front).expect("copy the front program");
        front
    }

    /// The program at `program` (a copy of the helper, say) run as the helper in this sandbox.
    pub fn helper_at(&self, program: &Path) -> Helper {
        let mut cmd = Command::new(program);
        cmd.env_clear().envs(self.base_env());
        Helper { cmd }
    }

    /// The helper run through `wrapper` (a program and its arguments, such as
    /// `["faketime", "-f", "+3600s"]`), in this sandbox.
    pub fn helper_under(&self, wrapper: &[&str]) -> Helper {
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(helper_bin());
                cmd
            }
            None => Command::new(helper_bin()),
        };
        cmd.env_clear().envs(self.base_env());
        Helper { cmd }
    }
}

/// A `docker-credential-ecr` invocation being built.
pub struct Helper {
    cmd: Command,
}

/// What one run of the helper did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Panics with the whole run unless it exited 0.
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, 0, "helper failed: {self:#?}");
        self
    }
    /// The `Secret` of a successful `get`.
    pub fn secret(&self) -> String {
        self.assert_ok();
        let v: serde_json::Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"));
        v["Secret"].as_str().expect("Secret").to_string()
    }
}

impl Helper {
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }
    pub fn env_remove(mut self, key: &str) -> Self {
        self.cmd.env_remove(key);
        self
    }
    pub fn envs(mut self, vars: Vec<(String, String)>) -> Self {
        self.cmd.envs(vars);
        self
    }
    /// Sets the example keys and points the ECR (and ECR Public) API at `endpoint`.
    pub fn against(self, endpoint: &str) -> Self {
        self.envs(Sandbox::example_keys())
            .env("AWS_ENDPOINT_URL_ECR", endpoint)
            .env("AWS_ENDPOINT_URL_ECR_PUBLIC", endpoint)
    }
    /// Runs `docker-credential-ecr ARGS...` with `stdin` as its input.
    pub fn run(mut self, args: &[&str], stdin: &[u8]) -> Run {
        let started = Instant::now();
        self.cmd
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A test that just copied the program (a front alone) can meet ETXTBSY: another test's
        // fork still held the copy's write descriptor until its exec. Try again briefly.
        let mut attempts = 0;
        let mut child = loop {
            match self.cmd.spawn() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                spawned => break spawned.expect("spawn helper"),
            }
        };
        let mut input = child.stdin.take().expect("stdin");
        let data = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            // The helper may exit before reading everything (bad input): ignore EPIPE.
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait helper");
        let _ = writer.join();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }
    /// `add REGISTRY --name NAME --access-key-id <example> --no-configure EXTRA...` with the
    /// example secret on stdin.
    pub fn add_example_keys(self, registry: &str, name: &str, extra: &[&str]) -> Run {
        self.add_keys(
            registry,
            name,
            (EXAMPLE_ACCESS_KEY_ID, EXAMPLE_SECRET_ACCESS_KEY),
            extra,
        )
    }
    /// `add REGISTRY --name NAME --access-key-id KEY_ID --no-configure EXTRA...` with the
    /// secret on stdin.
    pub fn add_keys(
        self,
        registry: &str,
        name: &str,
        (key_id, secret): (&str, &str),
        extra: &[&str],
    ) -> Run {
        let mut args = vec![
            "add",
            registry,
            "--name",
            name,
            "--access-key-id",
            key_id,
            "--no-configure",
        ];
        args.extend_from_slice(extra);
        self.run(&args, secret.as_bytes())
    }
    /// `--config-dir CONFIG --cache-dir CACHE add REGISTRY --name vendor --access-key-id
    /// <example> --store file`, the example secret on stdin: a node's keys, as its
    /// administrator adds them (verified, so a token lands in CACHE).
    pub fn add_node_keys(self, config_dir: &Path, cache_dir: &Path, registry: &str) -> Run {
        let (config_dir, cache_dir) = (config_dir.to_string_lossy(), cache_dir.to_string_lossy());
        let args = [
            "--config-dir",
            &config_dir,
            "--cache-dir",
            &cache_dir,
            "add",
            registry,
            "--name",
            "vendor",
            "--access-key-id",
            EXAMPLE_ACCESS_KEY_ID,
            "--store",
            "file",
        ];
        self.run(&args, EXAMPLE_SECRET_ACCESS_KEY.as_bytes())
    }
    /// `get` for `server` (written without a trailing newline, as dockerd does).
    pub fn get(self, server: &str) -> Run {
        self.run(&["get"], server.as_bytes())
    }
}

/// Panics when any regular file under `root` holds `secret` in plain text (the product's
/// config, cache, logs and state, docker's files; a keyring's encrypted file passes).
pub fn assert_no_file_holds(root: &Path, secret: &str) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let bytes = std::fs::read(&path).unwrap_or_default();
                let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
                assert!(!found, "{} holds the secret", path.display());
            }
        }
    }
}
