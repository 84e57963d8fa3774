//! `fake-ecr`: runs the project's fake ECR (and STS) server (see `ecr_e2e::fake`) until SIGTERM/SIGINT.
//!
//! This binary owns the command line and the start-up line only. Once both listeners are bound
//! it prints exactly one line to stdout, `LISTENING api=<addr> control=<addr>`, and flushes;
//! it writes nothing else to stdout.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use ecr_e2e::fake::knobs::{DEFAULT_LIFETIME_SECS, DEFAULT_PASSWORD};
use ecr_e2e::fake::{Config, Knobs, Mode, Server, TlsFiles};

/// A fake Amazon ECR / ECR Public GetAuthorizationToken and STS AssumeRole /
/// AssumeRoleWithWebIdentity / GetCallerIdentity endpoint for tests.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the API listener (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Address of the plain-HTTP control listener (loopback only).
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// PEM certificate chain: serve the API over TLS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Password inside the tokens: each token is base64("AWS:" + password).
    #[arg(long, default_value = DEFAULT_PASSWORD)]
    password: String,
    /// Lifetime of the tokens, in seconds.
    #[arg(long, default_value_t = DEFAULT_LIFETIME_SECS)]
    lifetime_secs: u64,
    /// Delay before every API answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// ok, server_error, throttle, hang, reject_keys, access_denied, signature_expired,
    /// expired_token.
    #[arg(long, default_value_t = Mode::Ok)]
    mode: Mode,
    /// Access key id answered with UnrecognizedClientException (repeatable).
    #[arg(long = "rejected-key", value_name = "ACCESS_KEY_ID")]
    rejected_keys: Vec<String>,
    /// Skew of the server clock in seconds (Date header and expiresAt), may be negative.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    date_offset_secs: i64,
    /// Answer the next N API calls with ServerException (STS: InternalFailure).
    #[arg(long, default_value_t = 0)]
    fail_next: u32,
    /// Lifetime of STS AssumeRole credentials in seconds (default: the request's
    /// DurationSeconds, else 3600).
    #[arg(long)]
    sts_duration_secs: Option<u64>,
    /// AssumeRole of ROLE_ARN requires this ExternalId, else AccessDenied (repeatable).
    #[arg(
        long = "role-external-id",
        num_args = 2,
        value_names = ["ROLE_ARN", "EXTERNAL_ID"],
        allow_hyphen_values = true,
        action = clap::ArgAction::Append
    )]
    role_external_ids: Vec<String>,
    /// AssumeRoleWithWebIdentity answers InvalidIdentityToken for tokens of this subject (`sub`)
    /// (repeatable).
    #[arg(
        long = "rejected-subject",
        value_name = "SUBJECT",
        allow_hyphen_values = true
    )]
    rejected_subjects: Vec<String>,
    /// The trust policy of ROLE_ARN lets SUBJECT assume it with a web identity token; once a
    /// role has one, other subjects get AccessDenied (repeatable).
    #[arg(
        long = "role-subject",
        num_args = 2,
        value_names = ["ROLE_ARN", "SUBJECT"],
        allow_hyphen_values = true,
        action = clap::ArgAction::Append
    )]
    role_subjects: Vec<String>,
}

impl Args {
    fn into_config(self) -> Config {
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => None,
        };
        Config {
            api: self.listen,
            control: self.control,
            tls,
            knobs: Knobs {
                lifetime_secs: self.lifetime_secs,
                latency_ms: self.latency_ms,
                mode: self.mode,
                rejected_keys: self.rejected_keys,
                date_offset_secs: self.date_offset_secs,
                password: self.password,
                fail_next: self.fail_next,
                sts_duration_secs: self.sts_duration_secs,
                role_external_ids: self
                    .role_external_ids
                    .chunks_exact(2)
                    .map(|pair| (pair[0].clone(), pair[1].clone()))
                    .collect(),
                rejected_subjects: self.rejected_subjects,
                role_subjects: self.role_subjects.chunks_exact(2).fold(
                    std::collections::BTreeMap::new(),
                    |mut roles, pair| {
                        roles
                            .entry(pair[0].clone())
                            .or_insert_with(Vec::new)
                            .push(pair[1].clone());
                        roles
                    },
                ),
                ..Knobs::default()
            },
        }
    }
}

fn main() -> anyhow::Result<()> {
    let config = Args::parse().into_config();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let server = Server::bind(config)
        .await
        .context("cannot start fake-ecr")?;
    announce(&server)?;
    tokio::select! {
        () = server.serve() => Ok(()),
        signal = shutdown_signal() => signal,
    }
}

/// The one stdout line `FakeEcr` waits for.
fn announce(server: &Server) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "LISTENING api={} control={}",
        server.api_addr(),
        server.control_addr()
    )
    .and_then(|()| stdout.flush())
    .context("cannot write the LISTENING line")
}

#[cfg(unix)]
async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::select! {
        _ = terminate.recv() => Ok(()),
        _ = interrupt.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await.context("cannot watch Ctrl-C")
}
