//! `doctor`: checks every step between `docker pull` and a token, says which one fails, and
//! prints a fix for each failure.
//!
//! The steps, in order: the helper is on `PATH` (docker runs it by name); each bound host is
//! routed to it in docker's config (on a Kubernetes node, `--kubelet`, these two become: the
//! config directory is private and the cache writable); the keychain holds each key set's
//! secret and answers;
//! each binding can fetch a token (which also proves the endpoint, the proxy and the CA bundle),
//! and AWS's clock (the response's `Date`) agrees with ours.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ecr_core::aws::SdkTokenSource;
use ecr_core::bindings::BoundSource;
use ecr_core::client_config::{self, ClientConfig};
use ecr_core::fetch::{FetchErrorKind, TokenSource};
use ecr_core::key_store::KeySetSecrets;
use ecr_core::keychain::KeychainAccess;
use ecr_core::service::CLOCK_SKEW_TOLERANCE;
use ecr_core::{CacheKey, Deadline, Paths};

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check a Kubernetes node's set-up for the kubelet's credential provider instead of
    /// docker's (use the provider config's --config-dir and environment).
    #[arg(long)]
    pub kubelet: bool,
}

/// One check's outcome.
struct Check {
    ok: bool,
    what: String,
    fix: Option<String>,
}

impl Check {
    fn pass(what: impl Into<String>) -> Check {
        Check {
            ok: true,
            what: what.into(),
            fix: None,
        }
    }
    fn fail(what: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            ok: false,
            what: what.into(),
            fix: Some(fix.into()),
        }
    }
}

pub fn run(paths: &Paths, args: &DoctorArgs) -> ExitCode {
    let mut checks = match args.kubelet {
        true => node_directories(paths),
        false => vec![helper_on_path()],
    };
    match crate::verbs::service(paths) {
        Err(failure) => checks.push(Check::fail(
            format!("configuration: {}", failure.stdout_line()),
            "fix or remove the file it names",
        )),
        Ok(service) => {
            let config = service.config();
            let hosts: Vec<String> = config
                .bindings
                .iter()
                .filter(|b| !b.registry.is_pattern())
                .map(|b| b.registry.to_string())
                .collect();
            for rejected in &config.rejected_bindings {
                checks.push(Check::fail(
                    rejected.to_string(),
                    format!(
                        "fix or delete it by hand in {} (add and remove refuse to rewrite the file until then)",
                        paths.config_file().display()
                    ),
                ));
            }
            if config.bindings.is_empty() && config.rejected_bindings.is_empty() {
                checks.push(Check::pass(
                    "no bindings: registries use the default AWS credential chain",
                ));
            }
            if !args.kubelet {
                checks.extend(routing(&hosts));
            }
            let secrets = KeySetSecrets::new(paths, KeychainAccess::INTERACTIVE);
            for (name, key_set) in &config.key_sets {
                let store = secrets.store(key_set.secret_location);
                checks.push(match store.get(name) {
                    Ok(Some(_)) => Check::pass(format!("the secret key of {name} is in {}", store.describe())),
                    Ok(None) => Check::fail(
                        format!("the secret key of {name} is missing from {}", store.describe()),
                        format!("run `docker-credential-ecr add REGISTRY --name {name}` again"),
                    ),
                    Err(e) => Check::fail(
                        format!("keychain: {e}"),
                        "unlock the keychain (log in to the desktop session), or add the keys again with --store file",
                    ),
                });
            }
            let source = SdkTokenSource::new(Box::new(secrets));
            // One fetch per identity and endpoint: the bindings that share a token share its check.
            let mut fetched_for: Vec<(String, String, bool)> = Vec::new();
            for binding in &config.bindings {
                let Some(sample) = binding.registry.sample(None) else {
                    continue;
                };
                let name = match &binding.source {
                    BoundSource::KeySet(name) => Some(name.as_str()),
                    _ => None,
                };
                checks.push(match service.scope(sample.clone()) {
                    Err(e) => Check::fail(e.to_string(), "run `docker-credential-ecr add` again"),
                    Ok(scope) => {
                        let key = CacheKey::for_scope(&scope).as_str().to_string();
                        match fetched_for.iter().find(|(k, ..)| *k == key) {
                            Some((_, first, true)) => Check::pass(format!(
                                "{sample}: served by the token of {first} (same identity and endpoint)"
                            )),
                            Some((_, first, false)) => Check::fail(
                                format!("{sample}: shares the failed fetch of {first} (same identity and endpoint)"),
                                format!("see the check of {first}"),
                            ),
                            None => {
                                let check = fetch_check(&source, &scope, &sample.to_string(), name);
                                fetched_for.push((key, sample.to_string(), check.ok));
                                check
                            }
                        }
                    }
                });
            }
        }
    }
    let mut failed = 0;
    for check in &checks {
        println!("{} {}", if check.ok { "ok  " } else { "FAIL" }, check.what);
        if let Some(fix) = &check.fix {
            println!("     fix: {fix}");
            failed += 1;
        }
    }
    if failed == 0 {
        println!("all {} checks passed", checks.len());
        ExitCode::SUCCESS
    } else {
        println!("{failed} of {} checks failed", checks.len());
        ExitCode::FAILURE
    }
}

fn helper_on_path() -> Check {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("docker-credential-ecr"))
            .find(|candidate| candidate.is_file())
    });
    match found {
        Some(path) => Check::pass(format!(
            "docker-credential-ecr is on PATH: {}",
            path.display()
        )),
        None => Check::fail(
            "docker-credential-ecr is not on PATH: docker cannot run it",
            "install it (`cargo install --locked --path crates/docker-credential-ecr`) or add its directory to PATH",
        ),
    }
}

/// A node's directories: the config directory may hold plaintext keys (`keys.json`), so it
/// must be the running user's alone; the token cache must be writable (it is created 0700).
fn node_directories(paths: &Paths) -> Vec<Check> {
    let mut checks = Vec::new();
    let config = paths.config_dir();
    match private_dir(config) {
        Ok(true) => checks.push(Check::pass(format!(
            "the config directory {} is private",
            config.display()
        ))),
        Ok(false) => checks.push(Check::fail(
            format!(
                "the config directory {} is readable by others",
                config.display()
            ),
            format!("chmod 700 {}", config.display()),
        )),
        Err(e) => checks.push(Check::fail(
            format!("the config directory {}: {e}", config.display()),
            "create it with `docker-credential-ecr --config-dir DIR add REGISTRY --store file`, or pass the provider's --config-dir",
        )),
    }
    let tokens = paths.token_cache_dir();
    let probe = tokens.join(format!(".doctor-{}", std::process::id()));
    let writable = ecr_core::private_fs::create_private_dir(&tokens)
        .and_then(|()| std::fs::File::create_new(&probe).map(drop))
        .and_then(|()| std::fs::remove_file(&probe));
    checks.push(match writable {
        Ok(()) => Check::pass(format!("the token cache {} is writable", tokens.display())),
        Err(e) => Check::fail(
            format!("the token cache {}: {e}", tokens.display()),
            "run as the kubelet does (root), or name a writable directory with --cache-dir",
        ),
    });
    checks
}

/// Whether `dir` exists and only its owner may enter it.
fn private_dir(dir: &std::path::Path) -> std::io::Result<bool> {
    let metadata = std::fs::metadata(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Ok(metadata.permissions().mode() & 0o077 == 0)
    }
    #[cfg(not(unix))]
    Ok(metadata.is_dir())
}

fn routing(hosts: &[String]) -> Vec<Check> {
    if hosts.is_empty() {
        return Vec::new();
    }
    let env = |name: &str| std::env::var(name).ok();
    let Ok(home) = super::home_dir() else {
        return vec![Check::fail("HOME is not set", "set HOME")];
    };
    let docker = ClientConfig::docker(&env, &home);
    let routed = match docker.routed(hosts, client_config::HELPER) {
        Ok(routed) => routed,
        Err(e) => {
            return vec![Check::fail(
                format!("{e}"),
                "fix the file, then run `docker-credential-ecr configure-docker`",
            )];
        }
    };
    hosts
        .iter()
        .map(|host| {
            if routed.contains(host) {
                Check::pass(format!(
                    "{host} is routed to this helper in {}",
                    docker.path().display()
                ))
            } else {
                Check::fail(
                    format!(
                        "{host} is not routed to this helper in {}",
                        docker.path().display()
                    ),
                    format!("docker-credential-ecr configure-docker {host}"),
                )
            }
        })
        .collect()
}

fn fetch_check(
    source: &SdkTokenSource,
    scope: &ecr_core::source::TokenScope,
    registry: &str,
    key_set: Option<&str>,
) -> Check {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return Check::fail(format!("cannot start the async runtime: {e}"), "try again"),
    };
    match runtime.block_on(source.fetch(scope, Deadline::after(Duration::from_secs(20)))) {
        Ok(token) => {
            let skew = token
                .server_date
                .map(|date| match token.received_at.duration_since(date) {
                    Ok(d) => d,
                    Err(e) => e.duration(),
                });
            match skew {
                Some(skew) if skew > CLOCK_SKEW_TOLERANCE => Check::fail(
                    format!(
                        "{registry}: a token was fetched, but this machine's clock is {} s off AWS's",
                        skew.as_secs()
                    ),
                    "sync the clock (e.g. `timedatectl set-ntp true`)",
                ),
                _ => Check::pass(format!(
                    "{registry}: a token was fetched ({}); the clock agrees with AWS",
                    scope.source
                )),
            }
        }
        Err(error) => {
            let vendor = key_set.unwrap_or("whoever issued the keys");
            let (step, fix) = match error.kind {
                FetchErrorKind::KeysRejected => ("keys", format!("ask {vendor} for new keys, then run `docker-credential-ecr add` again")),
                FetchErrorKind::AccessDenied => ("permission", format!("ask {vendor} to allow ecr:GetAuthorizationToken (and check the role's external id)")),
                FetchErrorKind::ClockSkew => ("clock", "sync the clock (e.g. `timedatectl set-ntp true`)".into()),
                FetchErrorKind::Unreachable | FetchErrorKind::Timeout => ("network", "check the network, HTTPS_PROXY/NO_PROXY and AWS_CA_BUNDLE".into()),
                FetchErrorKind::KeychainUnavailable => ("keychain", "unlock the keychain, or add the keys again with --store file".into()),
                FetchErrorKind::NoIdentity | FetchErrorKind::CredentialsUnavailable | FetchErrorKind::ExpiredCredentials => (
                    "credentials",
                    "configure AWS credentials (`aws configure`, `aws sso login`) or bind keys with `docker-credential-ecr add`".into(),
                ),
                _ => ("ECR", "try again; the log in the state directory has details".into()),
            };
            Check::fail(format!("{registry} ({step}): {error}"), fix)
        }
    }
}
