//! Credentials for a registry the way docker keeps them, written for a test: a
//! `$DOCKER_CONFIG/config.json` with `auths`, `credHelpers` and `credsStore` entries, and scripted
//! credential helpers (`docker-credential-<name>` shell scripts) that answer docker's protocol
//! for one host and record every call they get.
//!
//! The mirror tests use them for the mirror's target registry, whose credentials the product must
//! resolve as docker does: `credHelpers[host]`, else `credsStore`, else `auths[host]`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::sandbox::Sandbox;

/// A docker `config.json` being put together.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    auths: Map<String, Value>,
    cred_helpers: Map<String, Value>,
    creds_store: Option<String>,
}

impl DockerConfig {
    pub fn new() -> DockerConfig {
        DockerConfig::default()
    }

    /// `auths[key] = {"auth": base64("user:password")}`, as `docker login` writes it.
    pub fn auth(mut self, key: &str, user: &str, password: &str) -> DockerConfig {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.auths.insert(key.into(), json!({ "auth": auth }));
        self
    }

    /// `auths[key] = {"username": user, "password": password}`, the other form docker reads.
    pub fn auth_fields(mut self, key: &str, user: &str, password: &str) -> DockerConfig {
        self.auths.insert(
            key.into(),
            json!({ "username": user, "password": password }),
        );
        self
    }

    /// `credHelpers[host] = helper` (docker runs `docker-credential-<helper>`).
    pub fn cred_helper(mut self, host: &str, helper: &str) -> DockerConfig {
        self.cred_helpers.insert(host.into(), helper.into());
        self
    }

    /// `credsStore = helper`.
    pub fn creds_store(mut self, helper: &str) -> DockerConfig {
        self.creds_store = Some(helper.into());
        self
    }

    /// The file's JSON.
    pub fn to_json(&self) -> Value {
        let mut config = Map::new();
        if !self.auths.is_empty() {
            config.insert("auths".into(), Value::Object(self.auths.clone()));
        }
        if !self.cred_helpers.is_empty() {
            config.insert(
                "credHelpers".into(),
                Value::Object(self.cred_helpers.clone()),
            );
        }
        if let Some(store) = &self.creds_store {
            config.insert("credsStore".into(), store.clone().into());
        }
        Value::Object(config)
    }

    /// Writes `config.json` into the sandbox's `DOCKER_CONFIG`, replacing what was there.
    pub fn write(&self, sandbox: &Sandbox) {
        let path = sandbox.docker_config_dir().join("config.json");
        let bytes = serde_json::to_vec_pretty(&self.to_json()).expect("JSON");
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
}

/// A `docker-credential-<name>` script in a directory of its own (put it first on `PATH`) that
/// answers `get` with one user and password for one host (`host` or `https://host`), answers
/// "credentials not found" for anything else, and appends `<verb> <stdin>` to a calls file.
pub struct ScriptedHelper {
    dir: PathBuf,
    calls: PathBuf,
}

impl ScriptedHelper {
    /// Writes the script under `dir/<name>-helper/`.
    pub fn install(
        dir: &Path,
        name: &str,
        host: &str,
        user: &str,
        password: &str,
    ) -> ScriptedHelper {
        let bin = dir.join(format!("{name}-helper"));
        std::fs::create_dir_all(&bin).expect("helper dir");
        let calls = bin.join("calls");
        std::fs::write(&calls, "").expect("calls file");
        let script = format!(
            "#!/bin/sh\n\
             # A scripted docker credential helper for one host (ecr-e2e).\n\
             input=$(cat)\n\
             printf '%s %s\\n' \"$1\" \"$input\" >> '{calls}'\n\
             if [ \"$1\" = get ]; then\n\
             \x20 case \"$input\" in\n\
             \x20   '{host}'|'https://{host}'|'https://{host}/')\n\
             \x20     printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}\\n' \"$input\"\n\
             \x20     exit 0 ;;\n\
             \x20 esac\n\
             \x20 echo 'credentials not found in native keychain'\n\
             \x20 exit 1\n\
             fi\n\
             echo \"unsupported: $1\" >&2\n\
             exit 1\n",
            calls = calls.display(),
        );
        let program = bin.join(format!("docker-credential-{name}"));
        std::fs::write(&program, script).expect("write helper script");
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755))
            .expect("make helper executable");
        ScriptedHelper { dir: bin, calls }
    }

    /// The directory holding the script (to put on `PATH`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every call so far, as `<verb> <stdin>` lines.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    fn get(helper: &ScriptedHelper, name: &str, server: &str) -> (bool, String) {
        let mut child = Command::new(helper.dir().join(format!("docker-credential-{name}")))
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run helper");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(server.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    #[test]
    fn the_script_answers_its_host_only_and_records_each_call() {
        let dir = tempfile::tempdir().expect("dir");
        let helper = ScriptedHelper::install(dir.path(), "t", "mirror.example.test", "u", "p");
        let (ok, answer) = get(&helper, "t", "mirror.example.test");
        assert!(ok);
        let answer: Value = serde_json::from_str(&answer).expect("JSON answer");
        assert_eq!(answer["Username"], "u");
        assert_eq!(answer["Secret"], "p");
        assert!(get(&helper, "t", "https://mirror.example.test").0);
        assert!(!get(&helper, "t", "other.example.test").0);
        assert_eq!(
            helper.calls(),
            [
                "get mirror.example.test",
                "get https://mirror.example.test",
                "get other.example.test"
            ]
        );
    }

    #[test]
    fn the_config_carries_each_kind_of_entry() {
        let config = DockerConfig::new()
            .auth("h", "u", "p")
            .cred_helper("g", "x")
            .creds_store("s")
            .to_json();
        assert_eq!(config["auths"]["h"]["auth"], "dTpw");
        assert_eq!(config["credHelpers"]["g"], "x");
        assert_eq!(config["credsStore"], "s");
    }
}
