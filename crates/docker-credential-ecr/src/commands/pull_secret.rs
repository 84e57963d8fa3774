//! `pull-secret`: a Kubernetes image-pull Secret (`kubernetes.io/dockerconfigjson`) with fresh
//! tokens for the given registries, for clusters whose kubelet cannot run the credential
//! provider; or, with `--dockerconfigjson`, just the docker config it carries (for Helm values
//! and secret stores).
//!
//! The order is: refuse what is not ECR (before any config, keychain or AWS work), renew each
//! registry's token through the service a `get` uses when less than half its life is left
//! (registries of one identity and endpoint share one token, so one call), build the whole
//! answer, and only then print it, once. A Secret outlives this command: stderr says when its
//! earliest token expires, so a CronJob's log shows when the next run is due.
//!
//! It never writes a token anywhere but stdout's answer: not to the log, not to stderr.

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ecr_core::kube_secret::{DEFAULT_NAME, DockerAuth, DockerConfigJson, PullSecret};
use ecr_core::service::{ECR_USERNAME, Renew};
use ecr_core::{Deadline, Paths, Registry, Token};

use super::humanize;

/// How long each registry's renewal may take.
const RENEW_BUDGET: Duration = Duration::from_secs(20);

#[derive(Debug, Args)]
pub struct PullSecretArgs {
    /// ECR registries (hosts or URLs) the Secret holds credentials for.
    #[arg(required = true, value_name = "REGISTRY")]
    pub registries: Vec<String>,
    /// The Secret's metadata.name.
    #[arg(long, default_value = DEFAULT_NAME, conflicts_with = "dockerconfigjson")]
    pub name: String,
    /// The Secret's metadata.namespace (left out when not given, as kubectl does).
    #[arg(long, conflicts_with = "dockerconfigjson")]
    pub namespace: Option<String>,
    /// The Secret's format.
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t = Format::Json,
        conflicts_with = "dockerconfigjson"
    )]
    pub output: Format,
    /// Print only the decoded `.dockerconfigjson` document ({"auths": {...}}), as JSON.
    #[arg(long)]
    pub dockerconfigjson: bool,
}

/// How the Secret is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Yaml,
}

pub fn run(paths: &Paths, args: &PullSecretArgs) -> anyhow::Result<()> {
    let registries = parse_registries(&args.registries)?;
    if !args.dockerconfigjson {
        // A bad name or namespace is refused before any token is fetched.
        PullSecret::new(
            &args.name,
            args.namespace.as_deref(),
            &DockerConfigJson::default(),
        )?;
    }
    let service =
        crate::verbs::service(paths).map_err(|f| anyhow::anyhow!(f.stdout_line().to_string()))?;
    let mut config = DockerConfigJson::default();
    let mut earliest: Option<(Token, String)> = None;
    for registry in &registries {
        let host = registry.host().to_string();
        let token = service
            .renew(&host, Renew::WhenHalfSpent, Deadline::after(RENEW_BUDGET))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .into_token();
        config.insert(&host, DockerAuth::new(ECR_USERNAME, &token.password));
        if earliest
            .as_ref()
            .is_none_or(|(first, _)| token.expires_at < first.expires_at)
        {
            earliest = Some((token, host));
        }
    }
    let answer = render(args, &config)?;
    std::io::stdout()
        .lock()
        .write_all(answer.as_bytes())
        .context("cannot write the answer to stdout")?;
    if let Some((token, host)) = earliest {
        eprintln!("{}", expiry_line(&token, &host, SystemTime::now()));
    }
    Ok(())
}

/// Every registry of `given`, in order and once each, or the error of the first that is not
/// ECR.
fn parse_registries(given: &[String]) -> anyhow::Result<Vec<Registry>> {
    let mut registries: Vec<Registry> = Vec::new();
    for address in given {
        let registry = Registry::parse(address).map_err(|e| anyhow::anyhow!("{e}"))?;
        if !registries.contains(&registry) {
            registries.push(registry);
        }
    }
    if registries.is_empty() {
        bail!("no registry given");
    }
    Ok(registries)
}

/// The whole answer, ending in a newline.
fn render(args: &PullSecretArgs, config: &DockerConfigJson) -> anyhow::Result<String> {
    if args.dockerconfigjson {
        return Ok(format!("{}\n", config.to_json()));
    }
    let secret = PullSecret::new(&args.name, args.namespace.as_deref(), config)?;
    Ok(match args.output {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(&secret)?),
        Format::Yaml => serde_norway::to_string(&secret)?,
    })
}

/// What stderr says of the Secret's earliest token (no secret in it).
fn expiry_line(token: &Token, host: &str, now: SystemTime) -> String {
    format!(
        "docker-credential-ecr: the earliest token in this secret ({host}) expires at {} (in {}); make a new one before then",
        humantime::format_rfc3339_seconds(token.expires_at),
        humanize(token.remaining(now)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecr_core::Secret;

    #[test]
    fn each_registry_is_kept_once_in_canonical_form_and_anything_else_is_refused() {
        let given = [
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "public.ecr.aws",
        ]
        .map(String::from);
        let hosts: Vec<String> = parse_registries(&given)
            .unwrap()
            .iter()
            .map(|r| r.host().to_string())
            .collect();
        assert_eq!(
            hosts,
            [
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                "public.ecr.aws"
            ]
        );
        let error = parse_registries(&["ghcr.io".to_string()]).unwrap_err();
        assert!(error.to_string().contains("ghcr.io"), "{error}");
    }

    #[test]
    fn the_expiry_line_names_the_time_and_never_the_token() {
        let received = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let token = Token::lasting(
            Secret::new("hunter2"),
            received,
            Duration::from_secs(43_200),
        );
        let line = expiry_line(
            &token,
            "public.ecr.aws",
            received + Duration::from_secs(3600),
        );
        assert_eq!(
            line,
            "docker-credential-ecr: the earliest token in this secret (public.ecr.aws) expires at 2027-01-15T20:00:00Z (in 11 h 0 min); make a new one before then"
        );
    }
}
