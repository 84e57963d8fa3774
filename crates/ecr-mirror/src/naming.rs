//! Which image goes where: the source references a user typed and the target reference each one
//! is copied to.
//!
//! `--to PREFIX` names a registry and an optional path; the target repository is the prefix plus
//! the source repository's last path component (`vendor/on-prem/api` → `PREFIX/api`), or plus the
//! whole source path with `--keep-path`. The tag (or digest) is the source's. References are
//! parsed and validated by the OCI client's own grammar ([`oci_client::Reference`]); nothing here
//! touches the network.

use oci_client::Reference;

use crate::error::MirrorError;

/// Where the images go: a registry and a repository path under it (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetPrefix {
    registry: String,
    path: String,
}

/// How a source repository maps under the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRule {
    /// The repository's last path component.
    LastComponent,
    /// The whole repository path.
    KeepPath,
}

/// One copy: from `source` to `target`, both full references.
#[derive(Debug, Clone)]
pub struct Job {
    pub source: Reference,
    pub target: Reference,
}

impl TargetPrefix {
    /// `HOST[:PORT][/PATH][/]`, with an optional `https://` or `oci://` in front.
    pub fn parse(text: &str) -> Result<TargetPrefix, MirrorError> {
        let bad = |why: &str| MirrorError::BadReference {
            reference: text.to_string(),
            why: why.to_string(),
        };
        let rest = ecr_model::registry::strip_url_scheme(text);
        let (registry, path) = rest.split_once('/').unwrap_or((rest, ""));
        if registry.is_empty() {
            return Err(bad("name a registry: --to HOST[/PATH]"));
        }
        if !(registry.contains(['.', ':']) || registry == "localhost") {
            return Err(bad(
                "the target must start with a registry host (registry.example.com/team/)",
            ));
        }
        let path = path.trim_matches('/');
        if path.contains(['@'])
            || path
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains(':'))
        {
            return Err(bad(
                "a target prefix names no tag or digest: the source's is kept",
            ));
        }
        let prefix = TargetPrefix {
            registry: registry.to_string(),
            path: path.to_string(),
        };
        // The prefix must be a valid repository start: try it with a name under it.
        prefix.reference_for("x", "latest", None).map_err(|_| {
            bad("not a valid registry and repository path (lowercase letters, digits, . _ - /)")
        })?;
        Ok(prefix)
    }

    /// The registry the prefix names, as typed (`host[:port]`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The target of `source`.
    pub fn target_of(&self, source: &Reference, rule: PathRule) -> Result<Reference, MirrorError> {
        let repository = source.repository();
        let name = match rule {
            PathRule::KeepPath => repository,
            PathRule::LastComponent => repository.rsplit('/').next().unwrap_or(repository),
        };
        // The source's tag names the target too; only a source given by digest alone is
        // pushed by digest.
        let digest = source.digest().filter(|_| source.tag().is_none());
        self.reference_for(name, source.tag().unwrap_or("latest"), digest)
            .map_err(|e| MirrorError::BadReference {
                reference: format!("{}/{}/{name}", self.registry, self.path),
                why: e.to_string(),
            })
    }

    fn reference_for(
        &self,
        name: &str,
        tag: &str,
        digest: Option<&str>,
    ) -> Result<Reference, oci_client::ParseError> {
        let mut text = self.registry.clone();
        for part in [self.path.as_str(), name] {
            if !part.is_empty() {
                text.push('/');
                text.push_str(part);
            }
        }
        match digest {
            Some(digest) => {
                text.push('@');
                text.push_str(digest);
            }
            None => {
                text.push(':');
                text.push_str(tag);
            }
        }
        Reference::try_from(text.as_str())
    }
}

/// A source as typed: `HOST/REPO[:TAG|@DIGEST]` (an optional `https://`/`oci://` in front); no
/// tag means `latest`. `untagged` refuses a tag or digest (for `--all-tags`).
pub fn parse_source(text: &str, untagged: bool) -> Result<Reference, MirrorError> {
    let bad = |why: String| MirrorError::BadReference {
        reference: text.to_string(),
        why,
    };
    let rest = ecr_model::registry::strip_url_scheme(text);
    let Some((host, _)) = rest.split_once('/') else {
        return Err(bad(
            "name a repository: HOST/REPOSITORY[:TAG] (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/vendor/app:1.0)".into(),
        ));
    };
    if !(host.contains(['.', ':']) || host == "localhost") {
        return Err(bad("a source starts with its registry host".into()));
    }
    let reference = Reference::try_from(rest).map_err(|e| bad(e.to_string()))?;
    if untagged && (has_tag(rest) || reference.digest().is_some()) {
        return Err(bad(
            "--all-tags copies every tag: give the repository alone".into(),
        ));
    }
    Ok(reference)
}

/// Whether the reference text names a tag (a `:` after the last `/`).
fn has_tag(text: &str) -> bool {
    let name = text.split('@').next().unwrap_or(text);
    name.rsplit('/')
        .next()
        .is_some_and(|last| last.contains(':'))
}

/// The same repository at `tag`.
pub fn with_tag(reference: &Reference, tag: &str) -> Reference {
    Reference::with_tag(
        reference.registry().to_string(),
        reference.repository().to_string(),
        tag.to_string(),
    )
}

/// The same repository at `digest`.
pub fn with_digest(reference: &Reference, digest: &str) -> Reference {
    Reference::with_digest(
        reference.registry().to_string(),
        reference.repository().to_string(),
        digest.to_string(),
    )
}

/// How a reference is shown: `HOST/REPO:TAG` or `HOST/REPO@DIGEST`.
pub fn display(reference: &Reference) -> String {
    let mut text = format!("{}/{}", reference.registry(), reference.repository());
    match (reference.tag(), reference.digest()) {
        (Some(tag), _) => {
            text.push(':');
            text.push_str(tag);
        }
        (None, Some(digest)) => {
            text.push('@');
            text.push_str(digest);
        }
        (None, None) => text.push_str(":latest"),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    fn target(prefix: &str, source: &str, rule: PathRule) -> String {
        let prefix = TargetPrefix::parse(prefix).unwrap();
        display(
            &prefix
                .target_of(&parse_source(source, false).unwrap(), rule)
                .unwrap(),
        )
    }

    #[test]
    fn the_last_component_goes_under_the_prefix_or_the_whole_path_with_keep_path() {
        let source = format!("{SRC}/currents/on-prem/api:staging");
        for prefix in [
            "registry.example.com/currents/",
            "registry.example.com/currents",
            "https://registry.example.com/currents/",
        ] {
            assert_eq!(
                target(prefix, &source, PathRule::LastComponent),
                "registry.example.com/currents/api:staging"
            );
        }
        assert_eq!(
            target(
                "registry.example.com/currents/",
                &source,
                PathRule::KeepPath
            ),
            "registry.example.com/currents/currents/on-prem/api:staging"
        );
        assert_eq!(
            target("localhost:5000", &source, PathRule::LastComponent),
            "localhost:5000/api:staging"
        );
    }

    #[test]
    fn no_tag_means_latest_and_a_digest_is_kept() {
        assert_eq!(
            target(
                "mirror.example.test/a",
                &format!("{SRC}/vendor/app"),
                PathRule::LastComponent
            ),
            "mirror.example.test/a/app:latest"
        );
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            target(
                "mirror.example.test/a",
                &format!("{SRC}/vendor/app@{digest}"),
                PathRule::LastComponent
            ),
            format!("mirror.example.test/a/app@{digest}")
        );
        assert_eq!(
            target(
                "mirror.example.test/a",
                &format!("{SRC}/vendor/app:1.0@{digest}"),
                PathRule::LastComponent
            ),
            "mirror.example.test/a/app:1.0",
            "a tag and a digest: the digest checks the source, the tag names the target"
        );
    }

    #[test]
    fn bad_prefixes_and_sources_are_refused_with_a_reason() {
        for prefix in [
            "",
            "/x",
            "team/app",
            "mirror.example.test/a:1.0",
            "mirror.example.test/A",
        ] {
            assert!(TargetPrefix::parse(prefix).is_err(), "{prefix:?} accepted");
        }
        for source in [SRC, "vendor/app:1.0", &format!("{SRC}/Vendor/app")] {
            assert!(parse_source(source, false).is_err(), "{source:?} accepted");
        }
        assert!(parse_source(&format!("{SRC}/vendor/app:1.0"), true).is_err());
        assert!(parse_source(&format!("{SRC}/vendor/app"), true).is_ok());
        // A registry port is no tag.
        assert!(parse_source("localhost:5000/vendor/app", true).is_ok());
    }
}
