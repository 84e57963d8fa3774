//! Registry aliases: a host that is not ECR's own name (a corporate DNS name, a pull-through
//! mirror in front of ECR, a containerd `hosts.toml` mirror) served with one private ECR
//! registry's token.
//!
//! # What this module owns
//!
//! * [`AliasHost`]: what docker sends for such a host, reduced to `host` or `host:port`
//!   (docker's `credHelpers` keys keep the port, so `mirror.example:5000` and `mirror.example`
//!   are two aliases).
//! * [`WELL_KNOWN_PUBLIC`]: the public registries an alias must not name without `--force`:
//!   docker would hand a 12-hour ECR token to them on every pull.
//! * [`check_new_alias`]: every rule a new alias must pass (not ECR itself, not a public
//!   registry unless forced, a target that is one private ECR registry host).
//!
//! # What this module never does
//!
//! It never loosens [`Registry::parse`]: an alias is looked up by its exact host in the
//! product config, never recognised from its shape, so a look-alike of an ECR host is still
//! refused unless the user named it as an alias.

use std::fmt;

use crate::registry::Registry;

/// A host (with its port, if any) that is not an ECR host, in canonical form: lower-case
/// ASCII letters, digits and hyphens in non-empty labels, no trailing dot, then `:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(into = "String")]
pub struct AliasHost(String);

/// A public registry an alias must not name without `--force`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownPublic {
    /// This host exactly.
    Host(&'static str),
    /// Any host under this domain (`*.gcr.io`), the domain itself included.
    AnyUnder(&'static str),
}

/// The public registries docker pulls from without any ECR token (hosts compared without
/// their port).
pub const WELL_KNOWN_PUBLIC: &[KnownPublic] = &[
    KnownPublic::Host("docker.io"),
    KnownPublic::Host("index.docker.io"),
    KnownPublic::Host("registry-1.docker.io"),
    KnownPublic::Host("registry.hub.docker.com"),
    KnownPublic::Host("ghcr.io"),
    KnownPublic::Host("quay.io"),
    KnownPublic::AnyUnder("gcr.io"),
    KnownPublic::AnyUnder("pkg.dev"),
    KnownPublic::Host("mcr.microsoft.com"),
    KnownPublic::Host("registry.k8s.io"),
    KnownPublic::Host("k8s.gcr.io"),
    KnownPublic::Host("public.ecr.aws"),
    KnownPublic::Host("ecr-public.aws.com"),
    KnownPublic::Host("registry.gitlab.com"),
    KnownPublic::Host("nvcr.io"),
    KnownPublic::Host("registry.redhat.io"),
    KnownPublic::Host("registry.access.redhat.com"),
    KnownPublic::Host("docker.elastic.co"),
    KnownPublic::AnyUnder("azurecr.io"),
    KnownPublic::AnyUnder("jfrog.io"),
];

/// Why an alias is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("{address:?} is not a registry host an alias can name: {reason}")]
    BadHost { address: String, reason: String },
    #[error(
        "{host} is an Amazon ECR host: it needs no alias (`docker-credential-ecr configure-docker {host}` routes it)"
    )]
    IsEcr { host: String },
    #[error(
        "{host} is a public registry ({known}): docker would send it a 12-hour ECR token on every pull; add --force if you really serve ECR under that name"
    )]
    Public { host: String, known: KnownPublic },
    #[error(
        "the alias target {target:?} must be one private ECR registry host (ACCOUNT.dkr.ecr.REGION.amazonaws.com): {reason}"
    )]
    BadTarget { target: String, reason: String },
}

impl fmt::Display for KnownPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KnownPublic::Host(host) => f.write_str(host),
            KnownPublic::AnyUnder(domain) => write!(f, "*.{domain}"),
        }
    }
}

impl KnownPublic {
    /// Whether `host` (without port) is this registry.
    pub fn matches(&self, host: &str) -> bool {
        match *self {
            KnownPublic::Host(known) => host == known,
            KnownPublic::AnyUnder(domain) => {
                host == domain
                    || host
                        .strip_suffix(domain)
                        .is_some_and(|rest| rest.ends_with('.'))
            }
        }
    }
}

impl AliasHost {
    /// Reads a host as docker sends it: a bare host, `host:port`, or a URL with a scheme and a
    /// path; surrounding whitespace, upper-case letters and one trailing dot are accepted.
    /// Userinfo, IPv6 literals, bad ports and empty labels are refused.
    pub fn parse(address: &str) -> Result<AliasHost, AliasError> {
        let bad = |reason: &str| AliasError::BadHost {
            address: address.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = address.trim();
        let without_scheme =
            trimmed
                .split_once("://")
                .map_or(trimmed, |(scheme, rest)| match scheme {
                    "http" | "https" | "HTTP" | "HTTPS" => rest,
                    _ => trimmed,
                });
        let authority = without_scheme
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if authority.contains('@') {
            return Err(bad("it holds a user name"));
        }
        if authority.starts_with('[') {
            return Err(bad("IPv6 literals are not supported"));
        }
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let mut host = host.to_ascii_lowercase();
        if host.ends_with('.') {
            host.pop();
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if host.is_empty() || !host.split('.').all(label_ok) {
            return Err(bad("not a DNS name"));
        }
        match port {
            None => Ok(AliasHost(host)),
            Some(port)
                if !port.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && port.parse::<u16>().is_ok() =>
            {
                Ok(AliasHost(format!("{host}:{port}")))
            }
            Some(_) => Err(bad("its port is not a number")),
        }
    }

    /// `host` or `host:port`, as docker's `credHelpers` key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host without its port.
    pub fn host(&self) -> &str {
        self.0.split(':').next().unwrap_or(&self.0)
    }

    /// The public registry this host is, if it is one of [`WELL_KNOWN_PUBLIC`].
    pub fn well_known_public(&self) -> Option<KnownPublic> {
        let host = self.host();
        WELL_KNOWN_PUBLIC.iter().copied().find(|k| k.matches(host))
    }

    /// Reads an alias kept in the product config: refused when it is an ECR host (which the
    /// helper serves as itself).
    pub fn parse_stored(address: &str) -> Result<AliasHost, AliasError> {
        let alias = AliasHost::parse(address)?;
        if Registry::parse(alias.host()).is_ok() {
            return Err(AliasError::IsEcr {
                host: alias.host().to_string(),
            });
        }
        Ok(alias)
    }
}

impl fmt::Display for AliasHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<AliasHost> for String {
    fn from(alias: AliasHost) -> String {
        alias.0
    }
}

/// The registry an alias may point at: one private ECR registry host (no pattern, not ECR
/// Public), in canonical form.
pub fn alias_target(target: &str) -> Result<Registry, AliasError> {
    let bad = |reason: String| AliasError::BadTarget {
        target: target.to_string(),
        reason,
    };
    if target.contains('*') {
        return Err(bad("a pattern names no one registry".into()));
    }
    let registry = Registry::parse(target).map_err(|e| bad(e.to_string()))?;
    if registry.is_public() {
        return Err(bad("ECR Public needs no token".into()));
    }
    Ok(registry)
}

/// A new alias `alias` of `target`, checked: `force` lets it name a well-known public
/// registry, nothing else.
pub fn check_new_alias(
    alias: &str,
    target: &str,
    force: bool,
) -> Result<(AliasHost, Registry), AliasError> {
    let host = AliasHost::parse_stored(alias)?;
    if let Some(known) = host.well_known_public()
        && !force
    {
        return Err(AliasError::Public {
            host: host.to_string(),
            known,
        });
    }
    Ok((host, alias_target(target)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

    #[test]
    fn an_alias_host_is_read_as_docker_sends_it_port_kept() {
        for (input, canonical) in [
            ("mirror.corp.example", "mirror.corp.example"),
            (" Mirror.Corp.Example. \n", "mirror.corp.example"),
            ("https://mirror.corp.example/v2/", "mirror.corp.example"),
            ("mirror.corp.example:5000", "mirror.corp.example:5000"),
            ("http://localhost:5000/x", "localhost:5000"),
        ] {
            assert_eq!(AliasHost::parse(input).unwrap().as_str(), canonical);
        }
        for bad in [
            "",
            "user@mirror.example",
            "[::1]:5000",
            "mirror.example:x",
            "mirror.example:99999",
            "a..b",
            "mirröR.example",
            "mirror.example:",
        ] {
            assert!(AliasHost::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn well_known_public_registries_are_refused_unless_forced() {
        for public in [
            "docker.io",
            "https://index.docker.io/v1/",
            "registry-1.docker.io",
            "ghcr.io",
            "quay.io",
            "gcr.io",
            "eu.gcr.io",
            "europe-west1-docker.pkg.dev",
            "mcr.microsoft.com",
            "registry.k8s.io",
            "registry.gitlab.com",
            "GHCR.IO:443",
        ] {
            let refused = check_new_alias(public, TARGET, false);
            assert!(
                matches!(refused, Err(AliasError::Public { .. })),
                "{public}: {refused:?}"
            );
            let (host, target) = check_new_alias(public, TARGET, true).expect(public);
            assert_eq!(target.host(), TARGET);
            assert!(host.well_known_public().is_some());
        }
        // ECR Public is an ECR host: refused as one, forced or not.
        for ecr in [
            "public.ecr.aws",
            TARGET,
            "210987654321.dkr-ecr.eu-west-1.on.aws",
        ] {
            for force in [false, true] {
                let refused = check_new_alias(ecr, TARGET, force);
                assert!(
                    matches!(refused, Err(AliasError::IsEcr { .. })),
                    "{ecr}: {refused:?}"
                );
            }
        }
        // Only whole labels match a domain.
        for private in ["notgcr.io", "gcr.io.corp.example", "mirror.corp.example"] {
            assert!(check_new_alias(private, TARGET, false).is_ok(), "{private}");
        }
    }

    #[test]
    fn the_target_is_one_private_ecr_registry() {
        for bad in [
            "123456789012.dkr.ecr.*.amazonaws.com",
            "public.ecr.aws",
            "mirror.corp.example",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
        ] {
            let refused = check_new_alias("mirror.corp.example", bad, true);
            assert!(
                matches!(refused, Err(AliasError::BadTarget { .. })),
                "{bad}: {refused:?}"
            );
        }
        let (_, target) = check_new_alias(
            "mirror.corp.example",
            "https://123456789012.DKR.ecr.us-east-1.amazonaws.com/",
            false,
        )
        .unwrap();
        assert_eq!(target.host(), TARGET);
    }
}
