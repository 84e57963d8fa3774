//! [`FakeEcr`]: a running `fake-ecr` process, as the end-to-end tests hold it.
//!
//! This module owns the child process: finding the binary, starting it with knobs as flags,
//! waiting for its `LISTENING` line, talking to its control API (stats, knobs, reset) and
//! killing it when the handle drops. It never talks to the API listener itself: that is the
//! code under test's job.
//!
//! The binary is `$FAKE_ECR_BIN` if set, else `fake-ecr` in the directory above the running
//! test executable (`target/<profile>/deps/<test>` -> `target/<profile>/fake-ecr`), where Cargo
//! puts it when it builds this crate's integration tests.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::fake::{AssumeRoleRecord, Knobs, KnobsPatch, Mode, Stats, TlsFiles, WebIdentityRecord};

/// Environment variable naming the `fake-ecr` binary to run.
pub const BIN_ENV: &str = "FAKE_ECR_BIN";

/// How long the fake may take to print its `LISTENING` line.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Time limit of one control request.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a [`FakeEcr`] could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum FakeEcrError {
    #[error("cannot locate the running executable (to find fake-ecr next to it)")]
    CurrentExe(#[source] io::Error),
    #[error(
        "no fake-ecr binary at {}; build it with `cargo build -p ecr-e2e` or set {BIN_ENV}",
        .0.display()
    )]
    BinaryNotFound(PathBuf),
    #[error("cannot start {}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("fake-ecr did not print its LISTENING line within {0:?}")]
    StartTimeout(Duration),
    #[error("fake-ecr exited before printing its LISTENING line (see its stderr above)")]
    ExitedEarly,
    #[error("cannot read fake-ecr's stdout")]
    ReadStdout(#[source] io::Error),
    #[error("fake-ecr printed {0:?}, not `LISTENING api=<addr> control=<addr>`")]
    BadAnnouncement(String),
    #[error("control request {request} failed")]
    Control {
        request: String,
        #[source]
        source: Box<ureq::Error>,
    },
}

/// How to start a [`FakeEcr`].
#[derive(Clone, Debug, Default)]
pub struct FakeEcrBuilder {
    binary: Option<PathBuf>,
    tls: Option<TlsFiles>,
    knobs: KnobsPatch,
}

impl FakeEcrBuilder {
    /// Runs this binary instead of looking for one.
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// Serves the API over TLS with this PEM certificate chain and key.
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Knobs at start; those left `None` keep the fake's defaults.
    pub fn knobs(mut self, knobs: KnobsPatch) -> Self {
        self.knobs = knobs;
        self
    }

    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.knobs.password = Some(password.into());
        self
    }

    pub fn lifetime_secs(mut self, secs: u64) -> Self {
        self.knobs.lifetime_secs = Some(secs);
        self
    }

    pub fn latency_ms(mut self, millis: u64) -> Self {
        self.knobs.latency_ms = Some(millis);
        self
    }

    pub fn mode(mut self, mode: Mode) -> Self {
        self.knobs.mode = Some(mode);
        self
    }

    /// Lifetime of the credentials STS AssumeRole hands out, whatever the request asks for.
    pub fn sts_duration_secs(mut self, secs: u64) -> Self {
        self.knobs.sts_duration_secs = Some(Some(secs));
        self
    }

    /// AssumeRole of `role_arn` requires `external_id` (adds to the ones already required).
    pub fn role_external_id(
        mut self,
        role_arn: impl Into<String>,
        external_id: impl Into<String>,
    ) -> Self {
        self.knobs
            .role_external_ids
            .get_or_insert_with(BTreeMap::new)
            .insert(role_arn.into(), external_id.into());
        self
    }

    /// AssumeRoleWithWebIdentity answers `InvalidIdentityToken` for tokens of `subject`.
    pub fn rejected_subject(mut self, subject: impl Into<String>) -> Self {
        self.knobs
            .rejected_subjects
            .get_or_insert_with(Vec::new)
            .push(subject.into());
        self
    }

    /// `role_arn`'s trust policy lets `subject` assume it with a web identity token (and, once
    /// a role has one, no other subject).
    pub fn role_subject(mut self, role_arn: impl Into<String>, subject: impl Into<String>) -> Self {
        self.knobs
            .role_subjects
            .get_or_insert_with(BTreeMap::new)
            .entry(role_arn.into())
            .or_default()
            .push(subject.into());
        self
    }

    /// Starts the process and waits until both listeners are bound.
    pub fn start(self) -> Result<FakeEcr, FakeEcrError> {
        let binary = match self.binary {
            Some(path) => path,
            None => find_binary()?,
        };
        if !binary.is_file() {
            return Err(FakeEcrError::BinaryNotFound(binary));
        }
        let mut command = Command::new(&binary);
        command
            .args(cli_args(&self.knobs, self.tls.as_ref()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = ChildGuard(command.spawn().map_err(|source| FakeEcrError::Spawn {
            path: binary.clone(),
            source,
        })?);
        let stdout = child.0.stdout.take().ok_or(FakeEcrError::ExitedEarly)?;
        let line = first_line(stdout, START_TIMEOUT)?;
        let (api, control) = parse_announcement(&line)?;
        Ok(FakeEcr {
            child,
            api,
            control,
            tls: self.tls.is_some(),
            agent: control_agent(),
        })
    }
}

/// A running `fake-ecr`; killed when dropped.
#[derive(Debug)]
pub struct FakeEcr {
    child: ChildGuard,
    api: SocketAddr,
    control: SocketAddr,
    tls: bool,
    agent: ureq::Agent,
}

impl FakeEcr {
    /// Starts a fake with default knobs over plain HTTP.
    pub fn start() -> Result<FakeEcr, FakeEcrError> {
        FakeEcr::builder().start()
    }

    pub fn builder() -> FakeEcrBuilder {
        FakeEcrBuilder::default()
    }

    /// The API base URL, e.g. `http://127.0.0.1:PORT` (`https://` when serving TLS); ECR, ECR
    /// Public and STS alike (`AWS_ENDPOINT_URL_ECR`, `AWS_ENDPOINT_URL_STS`).
    pub fn url(&self) -> String {
        self.url_with_host(&self.api.ip().to_string())
    }

    /// The API base URL under another host name (for example `localhost`, to match a
    /// certificate), on the same port.
    pub fn url_with_host(&self, host: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = match host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{host}]"),
            Err(_) => host.to_owned(),
        };
        format!("{scheme}://{host}:{}", self.api.port())
    }

    /// The address the API listener bound.
    pub fn api_addr(&self) -> SocketAddr {
        self.api
    }

    /// The control API base URL, always plain HTTP, e.g. `http://127.0.0.1:PORT`.
    pub fn control_url(&self) -> String {
        format!("http://{}", self.control)
    }

    /// Whether the API listener speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Process id of the fake.
    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The call counters.
    pub fn stats(&self) -> Result<Stats, FakeEcrError> {
        self.get("/stats")
    }

    /// API requests signed with access key id `key` so far.
    pub fn calls_by(&self, key: &str) -> Result<u64, FakeEcrError> {
        Ok(self.stats()?.by_access_key.get(key).copied().unwrap_or(0))
    }

    /// The current knob set.
    pub fn knobs(&self) -> Result<Knobs, FakeEcrError> {
        self.get("/knobs")
    }

    /// Changes the knobs the patch names; returns the resulting full set.
    pub fn set_knobs(&self, patch: &KnobsPatch) -> Result<Knobs, FakeEcrError> {
        self.post("/knobs", patch)
    }

    /// Shorthand for a patch of the mode alone.
    pub fn set_mode(&self, mode: Mode) -> Result<Knobs, FakeEcrError> {
        self.set_knobs(&KnobsPatch::mode(mode))
    }

    /// Every AssumeRole request so far (since the last reset), oldest first.
    pub fn assume_role_requests(&self) -> Result<Vec<AssumeRoleRecord>, FakeEcrError> {
        self.stats().map(|stats| stats.assume_role_requests)
    }

    /// Every AssumeRoleWithWebIdentity request so far (since the last reset), oldest first.
    pub fn web_identity_requests(&self) -> Result<Vec<WebIdentityRecord>, FakeEcrError> {
        self.stats().map(|stats| stats.web_identity_requests)
    }

    /// The temporary access key ids the fake issued for `role_arn` to tokens of `subject`
    /// (since the last reset), oldest first: with [`Self::calls_by`], what tells whose
    /// credentials an ECR call was made with.
    pub fn keys_issued_to(
        &self,
        role_arn: &str,
        subject: &str,
    ) -> Result<Vec<String>, FakeEcrError> {
        Ok(self
            .web_identity_requests()?
            .into_iter()
            .filter(|r| r.role_arn == role_arn && r.subject.as_deref() == Some(subject))
            .filter_map(|r| r.issued_access_key)
            .collect())
    }

    /// Zeroes the call counters (the knobs and the issued STS credentials stay as they are).
    pub fn reset(&self) -> Result<(), FakeEcrError> {
        self.post::<Stats>("/reset", &serde_json::json!({}))
            .map(drop)
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, FakeEcrError> {
        let url = format!("{}{path}", self.control_url());
        let request = || format!("GET {url}");
        self.agent
            .get(&url)
            .call()
            .and_then(|mut response| response.body_mut().read_json())
            .map_err(|source| control_error(request(), source))
    }

    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, FakeEcrError> {
        let url = format!("{}{path}", self.control_url());
        let request = || format!("POST {url}");
        self.agent
            .post(&url)
            .send_json(body)
            .and_then(|mut response| response.body_mut().read_json())
            .map_err(|source| control_error(request(), source))
    }
}

fn control_error(request: String, source: ureq::Error) -> FakeEcrError {
    FakeEcrError::Control {
        request,
        source: Box::new(source),
    }
}

/// Kills and reaps the child when dropped, also when start-up fails half-way.
#[derive(Debug)]
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        // The fake may already be gone; nothing useful to do with either error.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `$FAKE_ECR_BIN`, else `fake-ecr` one directory above the running executable's directory.
fn find_binary() -> Result<PathBuf, FakeEcrError> {
    if let Some(path) = std::env::var_os(BIN_ENV) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(FakeEcrError::CurrentExe)?;
    let name = format!("fake-ecr{}", std::env::consts::EXE_SUFFIX);
    let profile_dir = exe.parent().and_then(Path::parent);
    Ok(profile_dir.map_or_else(|| PathBuf::from(&name), |dir| dir.join(&name)))
}

/// The command line that starts the fake with these knobs.
fn cli_args(knobs: &KnobsPatch, tls: Option<&TlsFiles>) -> Vec<String> {
    let mut args = vec!["--listen".into(), "127.0.0.1:0".into()];
    args.extend(["--control".into(), "127.0.0.1:0".into()]);
    if let Some(tls) = tls {
        args.extend(["--tls-cert".into(), path_arg(&tls.cert)]);
        args.extend(["--tls-key".into(), path_arg(&tls.key)]);
    }
    let mut flag = |name: &str, value: String| args.extend([format!("--{name}"), value]);
    if let Some(password) = &knobs.password {
        flag("password", password.clone());
    }
    if let Some(secs) = knobs.lifetime_secs {
        flag("lifetime-secs", secs.to_string());
    }
    if let Some(millis) = knobs.latency_ms {
        flag("latency-ms", millis.to_string());
    }
    if let Some(mode) = knobs.mode {
        flag("mode", mode.to_string());
    }
    for key in knobs.rejected_keys.iter().flatten() {
        flag("rejected-key", key.clone());
    }
    if let Some(secs) = knobs.date_offset_secs {
        // `=` keeps a negative value from reading as a flag.
        args.push(format!("--date-offset-secs={secs}"));
    }
    if let Some(count) = knobs.fail_next {
        args.extend(["--fail-next".into(), count.to_string()]);
    }
    if let Some(Some(secs)) = knobs.sts_duration_secs {
        args.extend(["--sts-duration-secs".into(), secs.to_string()]);
    }
    for (role_arn, external_id) in knobs.role_external_ids.iter().flatten() {
        args.extend([
            "--role-external-id".into(),
            role_arn.clone(),
            external_id.clone(),
        ]);
    }
    for subject in knobs.rejected_subjects.iter().flatten() {
        args.extend(["--rejected-subject".into(), subject.clone()]);
    }
    for (role_arn, subjects) in knobs.role_subjects.iter().flatten() {
        for subject in subjects {
            args.extend(["--role-subject".into(), role_arn.clone(), subject.clone()]);
        }
    }
    args
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// The fake's announcement line, or why it did not come.
fn first_line(stdout: ChildStdout, timeout: Duration) -> Result<String, FakeEcrError> {
    match crate::child_output::first_line(stdout, timeout) {
        Ok(Ok(line)) if line.is_empty() => Err(FakeEcrError::ExitedEarly),
        Ok(Ok(line)) => Ok(line),
        Ok(Err(error)) => Err(FakeEcrError::ReadStdout(error)),
        Err(RecvTimeoutError::Timeout) => Err(FakeEcrError::StartTimeout(timeout)),
        Err(RecvTimeoutError::Disconnected) => Err(FakeEcrError::ExitedEarly),
    }
}

/// Parses `LISTENING api=<addr> control=<addr>`.
fn parse_announcement(line: &str) -> Result<(SocketAddr, SocketAddr), FakeEcrError> {
    let bad = || FakeEcrError::BadAnnouncement(line.to_owned());
    let mut words = line.split_whitespace();
    if words.next() != Some("LISTENING") {
        return Err(bad());
    }
    let mut addr = |key: &str| {
        words
            .next()
            .and_then(|word| word.strip_prefix(key))
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(bad)
    };
    let api = addr("api=")?;
    let control = addr("control=")?;
    Ok((api, control))
}

/// A client for the control API: no proxy (tests may set one for the code under test), a time
/// limit, and non-2xx answers as errors.
fn control_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .proxy(None)
        .timeout_global(Some(CONTROL_TIMEOUT))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcement_parses_both_addresses() {
        let (api, control) =
            parse_announcement("LISTENING api=127.0.0.1:4000 control=127.0.0.1:4001\n")
                .expect("a valid line");
        assert_eq!(api.port(), 4000);
        assert_eq!(control.port(), 4001);
        assert!(parse_announcement("LISTENING control=127.0.0.1:1 api=127.0.0.1:2").is_err());
        assert!(parse_announcement("hello").is_err());
    }

    #[test]
    fn knobs_become_flags() {
        let patch = KnobsPatch {
            mode: Some(Mode::Throttle),
            rejected_keys: Some(vec!["AKIA1".into(), "AKIA2".into()]),
            date_offset_secs: Some(-30),
            ..KnobsPatch::default()
        };
        let args = cli_args(&patch, None).join(" ");
        assert!(args.contains("--mode throttle"), "{args}");
        assert!(
            args.contains("--rejected-key AKIA1 --rejected-key AKIA2"),
            "{args}"
        );
        assert!(args.contains("--date-offset-secs=-30"), "{args}");

        let sts = FakeEcrBuilder::default()
            .sts_duration_secs(5)
            .role_external_id("arn:aws:iam::123456789012:role/R", "-ext");
        let args = cli_args(&sts.knobs, None).join(" ");
        assert!(args.contains("--sts-duration-secs 5"), "{args}");
        assert!(
            args.contains("--role-external-id arn:aws:iam::123456789012:role/R -ext"),
            "{args}"
        );
    }
}
