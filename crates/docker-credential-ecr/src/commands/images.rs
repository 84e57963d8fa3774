//! `images REGISTRY/REPOSITORY [--latest] [--json]`: a repository's tags, newest pushed first,
//! listed with the identity a `get` of that registry uses (its bound key set, role or profile,
//! else the default chain), so that a vendor's customer needs no AWS CLI to find the latest tag.
//!
//! stdout carries the listing only (a script reads it: `--version "$(... --latest)"`); a
//! failure is one line on stderr and exit 1, with nothing on stdout. It never fetches or
//! caches a token.

use std::time::Duration;

use std::io::Write;

use anyhow::{Context, bail};
use clap::Args;
use ecr_core::aws::images::Image;
use ecr_core::{Deadline, Paths, Registry};
use serde::Serialize;

/// How long listing every page may take.
const BUDGET: Duration = Duration::from_secs(60);

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// The repository: HOST/REPOSITORY or https://HOST/REPOSITORY (the repository may contain
    /// slashes), e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/vendor/app.
    #[arg(value_name = "REGISTRY/REPOSITORY")]
    pub repository: String,
    /// Print only the newest image's first tag (for `--version "$(...)"`).
    #[arg(long, conflicts_with = "json")]
    pub latest: bool,
    /// Print a JSON array of {tags, pushedAt, digest, sizeBytes}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(paths: &Paths, args: &ImagesArgs) -> anyhow::Result<()> {
    let (registry, repository) = split(&args.repository)?;
    let host = registry.to_string();
    let images = list(paths, registry, &repository)?;
    let mut out = String::new();
    if args.latest {
        let Some(newest) = images.first() else {
            bail!("repository {repository} in {host} has no tagged images");
        };
        out.push_str(&newest.tags[0]);
        out.push('\n');
    } else if args.json {
        let listed: Vec<Listed<'_>> = images.iter().map(Listed::of).collect();
        out = serde_json::to_string_pretty(&listed).context("cannot write the JSON")?;
        out.push('\n');
    } else {
        for image in &images {
            let pushed = image.pushed_at_rfc3339();
            for tag in &image.tags {
                out.push_str(&format!("{tag}  {pushed}  {}\n", image.digest));
            }
        }
    }
    // `images ... | head -1` closes the pipe early: that is not a failure (print! would panic).
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write the list to stdout")
        }
        _ => Ok(()),
    }
}

/// One image as `--json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed<'a> {
    tags: &'a [String],
    pushed_at: String,
    digest: &'a str,
    size_bytes: Option<i64>,
}

impl<'a> Listed<'a> {
    fn of(image: &'a Image) -> Listed<'a> {
        Listed {
            tags: &image.tags,
            pushed_at: image.pushed_at_rfc3339(),
            digest: &image.digest,
            size_bytes: image.size_bytes,
        }
    }
}

/// `HOST/REPO` (or with a scheme) as the registry and the repository.
fn split(argument: &str) -> anyhow::Result<(Registry, String)> {
    let rest = ecr_core::registry::strip_url_scheme(argument);
    let (host, repository) = rest.split_once('/').unwrap_or((rest, ""));
    let repository = repository.trim_end_matches('/');
    let registry = Registry::parse(host)
        .map_err(|e| anyhow::anyhow!("{host} is not an Amazon ECR registry ({e})"))?;
    if repository.is_empty() {
        bail!("name a repository: {host}/REPOSITORY (e.g. {host}/vendor/app)");
    }
    if repository.contains([':', '@']) {
        bail!("{repository} names a tag or digest: give the repository alone, {host}/REPOSITORY");
    }
    Ok((registry, repository.to_string()))
}

/// The tagged images of `repository`, with the identity a `get` of `registry` uses.
fn list(paths: &Paths, registry: Registry, repository: &str) -> anyhow::Result<Vec<Image>> {
    Ok(ecr_core::aws::images::list_tagged(
        paths,
        registry,
        repository,
        Deadline::after(BUDGET),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argument_names_a_host_and_a_repository_with_slashes() {
        let (registry, repository) =
            split("https://123456789012.dkr.ecr.us-east-1.amazonaws.com/vendor/charts/app/")
                .unwrap();
        assert_eq!(
            registry.host(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(repository, "vendor/charts/app");
        assert!(split("123456789012.dkr.ecr.us-east-1.amazonaws.com").is_err());
        assert!(split("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.0").is_err());
        let e = split("ghcr.io/vendor/app").unwrap_err().to_string();
        assert!(
            e.starts_with("ghcr.io is not an Amazon ECR registry"),
            "{e}"
        );
    }
}
