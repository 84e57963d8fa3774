//! Which credentials serve which registry: bindings of an exact registry host, or of an account
//! pattern such as `123456789012.dkr.ecr.*.amazonaws.com` (any region), to a key set, a named
//! AWS profile, or the default chain.
//!
//! Precedence when a registry is looked up: an exact host binding, then a pattern binding, then
//! the default chain. Patterns only choose keys: docker routes by exact host, so client
//! configs always get concrete hosts.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::registry::{NotEcr, Registry};

/// What a binding names: one registry host, or every region of one account's registries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RegistryMatch {
    /// A canonical registry host.
    Host(String),
    /// A host with `*` in place of the region, e.g. `123456789012.dkr.ecr.*.amazonaws.com`.
    AnyRegion(String),
}

impl RegistryMatch {
    /// Parses a host or an any-region pattern; both must describe ECR registries.
    pub fn parse(text: &str) -> Result<RegistryMatch, NotEcr> {
        let text = text.trim();
        if !text.contains('*') {
            return Ok(RegistryMatch::Host(
                Registry::parse(text)?.host().to_string(),
            ));
        }
        // The `*` must stand for the region label of an ECR host: with a region of its
        // partition in its place the text names a registry in that region, and with another
        // region (the same with a `0` appended) one that differs in its region only. So a `*` in
        // the path, userinfo or port is refused, and the pattern kept is the canonical host with
        // `*` for the region, which is what `matches` compares label by label.
        let lower = text.to_ascii_lowercase();
        let pattern = (lower.matches('*').count() == 1)
            .then(|| {
                SAMPLE_REGIONS.iter().find_map(|region| {
                    let sample = Registry::parse(&lower.replacen('*', region, 1)).ok()?;
                    if sample.is_public() || sample.api_region() != *region {
                        return None;
                    }
                    let pattern = sample
                        .host()
                        .split('.')
                        .map(|label| if label == *region { "*" } else { label })
                        .collect::<Vec<_>>()
                        .join(".");
                    let other = format!("{region}0");
                    let again = Registry::parse(&lower.replacen('*', &other, 1)).ok()?;
                    (again.host() == pattern.replacen('*', &other, 1)).then_some(pattern)
                })
            })
            .flatten();
        match pattern {
            Some(pattern) => Ok(RegistryMatch::AnyRegion(pattern)),
            None => Err(NotEcr::new(format!(
                "{text:?} is not a registry pattern: use the registry host with `*` for the region, e.g. 123456789012.dkr.ecr.*.amazonaws.com"
            ))),
        }
    }

    /// Whether `registry` is matched.
    pub fn matches(&self, registry: &Registry) -> bool {
        match (self, registry) {
            (RegistryMatch::Host(host), _) => registry.host() == host,
            (RegistryMatch::AnyRegion(pattern), Registry::Private(private)) => {
                let region = private.region();
                let host = private.host();
                host.split('.').count() == pattern.split('.').count()
                    && host
                        .split('.')
                        .zip(pattern.split('.'))
                        .all(|(h, p)| h == p || (p == "*" && h == region))
            }
            (RegistryMatch::AnyRegion(_), Registry::Public(_)) => false,
        }
    }

    /// A concrete registry to verify keys against: the host itself, or the pattern with `region`
    /// (else the first region of its partition that parses).
    pub fn sample(&self, region: Option<&str>) -> Option<Registry> {
        match self {
            RegistryMatch::Host(host) => Registry::parse(host).ok(),
            RegistryMatch::AnyRegion(pattern) => region
                .into_iter()
                .chain(SAMPLE_REGIONS.iter().copied())
                .find_map(|r| Registry::parse(&pattern.replacen('*', r, 1)).ok()),
        }
    }

    pub fn is_pattern(&self) -> bool {
        matches!(self, RegistryMatch::AnyRegion(_))
    }

    pub fn as_str(&self) -> &str {
        match self {
            RegistryMatch::Host(s) | RegistryMatch::AnyRegion(s) => s,
        }
    }
}

/// One region per partition, in the order a pattern is verified in.
const SAMPLE_REGIONS: [&str; 8] = [
    "us-east-1",
    "cn-north-1",
    "us-gov-west-1",
    "eusc-de-east-1",
    "us-iso-east-1",
    "us-isob-east-1",
    "eu-isoe-west-1",
    "us-isof-south-1",
];

impl TryFrom<String> for RegistryMatch {
    type Error = NotEcr;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        RegistryMatch::parse(&value)
    }
}

impl From<RegistryMatch> for String {
    fn from(value: RegistryMatch) -> String {
        value.as_str().to_string()
    }
}

impl fmt::Display for RegistryMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a binding's credentials come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BoundSource {
    /// A key set of this product (secret in the keychain).
    KeySet(String),
    /// A named profile of the AWS config files.
    Profile(String),
    /// The standard AWS credential chain.
    DefaultChain,
}

impl fmt::Display for BoundSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoundSource::KeySet(name) => write!(f, "key set {name}"),
            BoundSource::Profile(name) => write!(f, "AWS profile {name}"),
            BoundSource::DefaultChain => f.write_str("the default AWS credential chain"),
        }
    }
}

/// A registry (or pattern) bound to a source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub registry: RegistryMatch,
    pub source: BoundSource,
}

/// The binding that serves `registry`: exact host first, then pattern.
pub fn binding_for<'a>(bindings: &'a [Binding], registry: &Registry) -> Option<&'a Binding> {
    let exact = bindings
        .iter()
        .find(|b| !b.registry.is_pattern() && b.registry.matches(registry));
    exact.or_else(|| {
        bindings
            .iter()
            .find(|b| b.registry.is_pattern() && b.registry.matches(registry))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(host: &str) -> Registry {
        Registry::parse(host).unwrap()
    }

    #[test]
    fn patterns_match_any_region_of_one_account_and_form() {
        let p = RegistryMatch::parse("123456789012.dkr.ecr.*.amazonaws.com").unwrap();
        assert!(p.is_pattern());
        let cases = [
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com", true),
            ("123456789012.dkr.ecr.eu-central-1.amazonaws.com", true),
            ("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com", true),
            ("210987654321.dkr.ecr.us-east-1.amazonaws.com", false),
            ("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", false),
            ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", false),
            ("public.ecr.aws", false),
        ];
        for (host, expected) in cases {
            assert_eq!(p.matches(&reg(host)), expected, "{host}");
        }
        let cn = RegistryMatch::parse("123456789012.dkr.ecr.*.amazonaws.com.cn").unwrap();
        assert!(cn.matches(&reg("123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn")));
        assert_eq!(cn.sample(None).unwrap().api_region(), "cn-north-1");
        assert_eq!(
            p.sample(Some("eu-west-1")).unwrap().api_region(),
            "eu-west-1"
        );
    }

    #[test]
    fn bad_patterns_and_hosts_are_refused() {
        for text in [
            "*.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.*.*.com",
            "123456789012.dkr.ecr.*.example.com",
            "example.com",
            "*",
        ] {
            assert!(RegistryMatch::parse(text).is_err(), "{text}");
        }
        assert_eq!(
            RegistryMatch::parse("HTTPS://123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM/").unwrap(),
            RegistryMatch::Host("123456789012.dkr.ecr.us-east-1.amazonaws.com".into())
        );
    }

    #[test]
    fn a_pattern_is_kept_as_its_canonical_host_and_matches_what_it_names() {
        // Found by the `host` fuzz target: a pattern with a path or a port was stored as typed
        // and then matched no registry at all.
        for text in [
            "123456789012.dkr.ecr.*.amazonAws.com/cn",
            "HTTPS://AWS@123456789012.DKR.ECR.*.AMAZONAWS.COM.:443/v2/",
            "123456789012.dkr.ecr.*.amazonaws.com",
        ] {
            let pattern = RegistryMatch::parse(text).unwrap();
            assert_eq!(
                pattern,
                RegistryMatch::AnyRegion("123456789012.dkr.ecr.*.amazonaws.com".into()),
                "{text}"
            );
            assert!(pattern.matches(&reg("123456789012.dkr.ecr.eu-west-1.amazonaws.com")));
        }
        // A `*` anywhere but the region is no pattern.
        for text in [
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/*",
            "user*@123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/?r=*",
            "123456789012.dkr.ecr.us-east-*.amazonaws.com",
        ] {
            assert!(RegistryMatch::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn exact_hosts_win_over_patterns() {
        let bindings = vec![
            Binding {
                registry: RegistryMatch::parse("123456789012.dkr.ecr.*.amazonaws.com").unwrap(),
                source: BoundSource::KeySet("pattern".into()),
            },
            Binding {
                registry: RegistryMatch::parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com")
                    .unwrap(),
                source: BoundSource::Profile("exact".into()),
            },
        ];
        let exact = binding_for(
            &bindings,
            &reg("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
        );
        assert_eq!(exact.unwrap().source, BoundSource::Profile("exact".into()));
        let pattern = binding_for(
            &bindings,
            &reg("123456789012.dkr.ecr.us-east-1.amazonaws.com"),
        );
        assert_eq!(
            pattern.unwrap().source,
            BoundSource::KeySet("pattern".into())
        );
        assert!(
            binding_for(
                &bindings,
                &reg("111111111111.dkr.ecr.us-east-1.amazonaws.com")
            )
            .is_none()
        );
    }

    #[test]
    fn bindings_round_trip_through_json() {
        let b = Binding {
            registry: RegistryMatch::parse("123456789012.dkr.ecr.*.amazonaws.com").unwrap(),
            source: BoundSource::KeySet("acme".into()),
        };
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(
            json,
            r#"{"registry":"123456789012.dkr.ecr.*.amazonaws.com","source":{"key_set":"acme"}}"#
        );
        assert_eq!(serde_json::from_str::<Binding>(&json).unwrap(), b);
        assert!(
            serde_json::from_str::<Binding>(
                r#"{"registry":"example.com","source":"default_chain"}"#
            )
            .is_err()
        );
    }
}
