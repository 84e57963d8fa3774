//! Which API endpoint a token comes from: the part of a cache key that a registry host
//! contributes.
//!
//! ECR's `GetAuthorizationToken` is called without `registryIds` (deprecated): the token it
//! returns serves every registry the caller may reach through that API endpoint. So a token is
//! not a registry's but an endpoint's and an identity's, and two registry hosts share one when
//! [`ApiEndpoint::of`] gives them the same value: the same API (ECR or ECR Public), partition
//! and region, the same FIPS and dual-stack variant of AWS's endpoints ([`EndpointVariant`]),
//! the same endpoint URL override, and, for identities that assume a role through STS, the same
//! STS endpoint. The account of the host plays no part: a token of one identity serves all the
//! accounts that identity may pull from.
//!
//! This module only describes endpoints; it never resolves DNS or reads the environment.

use serde::Serialize;

use crate::registry::{PUBLIC_API_REGION, Registry};

/// Which of AWS's own endpoints a call goes to: FIPS, dual-stack, both or neither, as the
/// registry host says, unless an endpoint URL override names the endpoint itself (a VPC
/// endpoint, a test server): then the override wins for every host form, since the SDK refuses
/// to combine the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EndpointVariant {
    pub fips: bool,
    pub dual_stack: bool,
}

impl EndpointVariant {
    pub fn of(registry: &Registry, endpoint_override: Option<&str>) -> EndpointVariant {
        match endpoint_override {
            Some(_) => EndpointVariant {
                fips: false,
                dual_stack: false,
            },
            None => EndpointVariant {
                fips: registry.uses_fips(),
                dual_stack: registry.uses_dual_stack(),
            },
        }
    }
}

/// Which service answers `GetAuthorizationToken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// Amazon ECR (private registries).
    Ecr,
    /// Amazon ECR Public (`public.ecr.aws`, `ecr-public.aws.com`).
    EcrPublic,
}

/// Everything about where a token is fetched that can make two fetches differ, except the
/// identity (see [`crate::source::CredentialSource`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiEndpoint {
    pub api: Api,
    /// The partition id, such as `aws` or `aws-cn`.
    pub partition: &'static str,
    /// The region the API is called (and requests are signed) in.
    pub region: String,
    /// The variant of the ECR call, as [`EndpointVariant::of`] decides with `endpoint_url`.
    pub variant: EndpointVariant,
    /// The ECR (or ECR Public) endpoint URL override.
    pub endpoint_url: Option<String>,
    /// The STS endpoint, for identities whose token is bought with an `AssumeRole` of ours.
    pub sts: Option<StsEndpoint>,
}

/// Where `AssumeRole` is called: FIPS as the registry host says unless overridden, and the STS
/// endpoint URL override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StsEndpoint {
    pub fips: bool,
    pub endpoint_url: Option<String>,
}

impl ApiEndpoint {
    /// The endpoint of fetching `registry`'s token with the ECR endpoint override
    /// `endpoint_url`; `sts` is `Some(override)` when the identity assumes a role through STS.
    pub fn of(registry: &Registry, endpoint_url: Option<&str>, sts: Option<Option<&str>>) -> Self {
        let (api, partition) = match registry {
            Registry::Private(private) => (Api::Ecr, private.partition().id()),
            Registry::Public(_) => (Api::EcrPublic, "aws"),
        };
        debug_assert!(!registry.is_public() || registry.api_region() == PUBLIC_API_REGION);
        ApiEndpoint {
            api,
            partition,
            region: registry.api_region().to_string(),
            variant: EndpointVariant::of(registry, endpoint_url),
            endpoint_url: endpoint_url.map(str::to_string),
            sts: sts.map(|sts_url| StsEndpoint {
                fips: EndpointVariant::of(registry, sts_url).fips,
                endpoint_url: sts_url.map(str::to_string),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(host: &str, url: Option<&str>) -> ApiEndpoint {
        ApiEndpoint::of(&Registry::parse(host).unwrap(), url, None)
    }

    #[test]
    fn accounts_share_an_endpoint_and_regions_and_variants_do_not() {
        let plain = of("123456789012.dkr.ecr.us-east-1.amazonaws.com", None);
        assert_eq!(
            plain,
            of("210987654321.dkr.ecr.us-east-1.amazonaws.com", None),
            "another account, same region"
        );
        assert_eq!(
            plain,
            of("123456789012.dkr-ecr.us-east-1.amazonaws.com", None)
        );
        for other in [
            "123456789012.dkr.ecr.us-west-2.amazonaws.com",
            "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
            "123456789012.dkr-ecr.us-east-1.on.aws",
            "123456789012.dkr-ecr-fips.us-east-1.on.aws",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "public.ecr.aws",
        ] {
            assert_ne!(plain, of(other, None), "{other}");
        }
        assert_eq!(of("public.ecr.aws", None), of("ecr-public.aws.com", None));
        assert_ne!(
            plain,
            of(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                Some("http://x")
            )
        );
    }

    #[test]
    fn an_override_wins_over_fips_and_dual_stack_but_not_over_the_region() {
        let url = Some("https://vpce.example.com");
        let fips = of("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", url);
        assert_eq!(
            fips,
            of("123456789012.dkr.ecr.us-east-1.amazonaws.com", url)
        );
        assert_eq!(fips, of("123456789012.dkr-ecr-fips.us-east-1.on.aws", url));
        assert_ne!(
            fips,
            of("123456789012.dkr.ecr.us-west-2.amazonaws.com", url)
        );
        assert_ne!(
            fips,
            of(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com",
                Some("https://y")
            )
        );
    }

    #[test]
    fn an_assumed_role_adds_its_sts_endpoint() {
        let host = |h: &str| Registry::parse(h).unwrap();
        let url = Some("https://vpce.example.com");
        let plain = host("123456789012.dkr.ecr.us-east-1.amazonaws.com");
        let fips = host("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com");
        // The ECR call is overridden, but STS still goes to its FIPS endpoint for a FIPS host.
        assert_ne!(
            ApiEndpoint::of(&plain, url, Some(None)),
            ApiEndpoint::of(&fips, url, Some(None))
        );
        assert_eq!(
            ApiEndpoint::of(&plain, url, Some(url)),
            ApiEndpoint::of(&fips, url, Some(url))
        );
        assert_ne!(
            ApiEndpoint::of(&plain, None, Some(None)),
            ApiEndpoint::of(&plain, None, None)
        );
    }
}
