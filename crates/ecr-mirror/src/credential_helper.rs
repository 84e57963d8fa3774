//! Asking a docker credential helper (`docker-credential-NAME get`) for a registry's
//! credentials, as the docker CLI does: the server address on stdin, `{"ServerURL", "Username",
//! "Secret"}` on stdout. "credentials not found" (exit 1 with that message on stdout) is no
//! error. The helper's stdout on failure is its error message (never a secret); stderr is not
//! shown, as docker does not show it.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

/// How long a helper may take (docker has no limit; a hung helper must not hang the mirror).
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// The protocol's "not found" message (docker-credential-helpers `credentials.ErrCredentialsNotFound`).
const NOT_FOUND: &str = "credentials not found in native keychain";

/// What a helper said.
pub enum HelperAnswer {
    NotFound,
    Found { username: String, secret: String },
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-HELPER get` for `server`.
pub async fn get(helper: &str, server: &str) -> Result<HelperAnswer, String> {
    let program = format!("docker-credential-{helper}");
    let mut child = tokio::process::Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its answer, not by this write.
        let _ = stdin.write_all(server.as_bytes()).await;
    }
    let output = tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("{program} gave no answer in {} s", HELPER_TIMEOUT.as_secs()))?
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let message = stdout.trim();
        if message == NOT_FOUND {
            return Ok(HelperAnswer::NotFound);
        }
        let first = message.lines().next().unwrap_or("");
        return Err(match first.is_empty() {
            true => format!("exit status {}", output.status),
            false => first.to_string(),
        });
    }
    let answer: Answer = serde_json::from_slice(&output.stdout)
        .map_err(|_| format!("{program} printed no credentials JSON"))?;
    Ok(HelperAnswer::Found {
        username: answer.username,
        secret: answer.secret,
    })
}
