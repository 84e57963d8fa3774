//! Turning a Docker server address into an Amazon ECR registry.
//!
//! This is the first step of the token path: docker hands a credential helper a
//! server address, and [`Registry::parse`] decides whether it names an Amazon ECR
//! registry and, if so, which account, region and partition, and whether the
//! FIPS or dual-stack endpoint is in use.
//!
//! # What this module owns
//!
//! * Normalising what docker sends: a bare host, `host:port`, or a URL with a
//!   scheme, userinfo, path, query or fragment; surrounding whitespace, upper-case
//!   letters and one trailing dot are accepted.
//! * Recognising every ECR host form in every partition:
//!   * private: `<account>.dkr.ecr.<region>.<suffix>`, also spelled `dkr-ecr`;
//!   * private FIPS: `<account>.dkr.ecr-fips.<region>.<suffix>` and
//!     `<account>.dkr-ecr-fips.<region>.<suffix>`;
//!   * private dual-stack: any of these under `on.aws` (and `on.amazonwebservices.com.cn` in
//!     China), usually `<account>.dkr-ecr.<region>.on.aws`;
//!
//!   which is every form the Go helper (`dkr[.-]ecr(-fips)?`) and the kubelet's ECR provider
//!   accept;
//!   * public: exactly `public.ecr.aws` or `ecr-public.aws.com`.
//! * Checking that the region belongs to the partition of the DNS suffix, using
//!   the region patterns of the AWS SDK's `partitions.json`, so that
//!   `cn-north-1` under `amazonaws.com` is refused.
//!
//! # What this module never does
//!
//! It never touches the network (no DNS, no endpoint discovery) and never reads
//! configuration or the environment. Anything that is not recognised is refused
//! with [`NotEcr`]; look-alike hosts such as
//! `123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example` are refused
//! because the whole host must match, label by label.
//!
//! # Partitions and suffixes
//!
//! | Suffix                        | Partitions             | Endpoint           |
//! |-------------------------------|------------------------|--------------------|
//! | `amazonaws.com`               | `aws`, `aws-us-gov`    | standard, FIPS     |
//! | `amazonaws.com.cn`            | `aws-cn`               | standard, FIPS     |
//! | `amazonaws.eu`                | `aws-eusc`             | standard, FIPS     |
//! | `c2s.ic.gov`                  | `aws-iso`              | standard, FIPS     |
//! | `sc2s.sgov.gov`               | `aws-iso-b`            | standard, FIPS     |
//! | `cloud.adc-e.uk`              | `aws-iso-e`            | standard, FIPS     |
//! | `csp.hci.ic.gov`              | `aws-iso-f`            | standard, FIPS     |
//! | `on.aws`                      | `aws`, `aws-us-gov`    | dual-stack (+FIPS) |
//! | `on.amazonwebservices.com.cn` | `aws-cn`               | dual-stack (+FIPS) |

use std::fmt;
use std::str::FromStr;

/// The API region of Amazon ECR Public, whatever host it is reached through.
pub const PUBLIC_API_REGION: &str = "us-east-1";

/// The hosts of Amazon ECR Public, in canonical form.
const PUBLIC_HOSTS: [&str; 2] = ["public.ecr.aws", "ecr-public.aws.com"];

/// Whether a DNS suffix serves the standard (IPv4) or the dual-stack endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Standard,
    DualStack,
}

/// Every private ECR DNS suffix, with the partitions whose regions it serves.
///
/// No suffix is a label-wise suffix of another, so at most one ever matches.
const SUFFIXES: &[(&str, Endpoint, &[Partition])] = &[
    (
        "amazonaws.com",
        Endpoint::Standard,
        &[Partition::Aws, Partition::AwsUsGov],
    ),
    ("amazonaws.com.cn", Endpoint::Standard, &[Partition::AwsCn]),
    ("amazonaws.eu", Endpoint::Standard, &[Partition::AwsEusc]),
    ("c2s.ic.gov", Endpoint::Standard, &[Partition::AwsIso]),
    ("sc2s.sgov.gov", Endpoint::Standard, &[Partition::AwsIsoB]),
    ("cloud.adc-e.uk", Endpoint::Standard, &[Partition::AwsIsoE]),
    ("csp.hci.ic.gov", Endpoint::Standard, &[Partition::AwsIsoF]),
    (
        "on.aws",
        Endpoint::DualStack,
        &[Partition::Aws, Partition::AwsUsGov],
    ),
    (
        "on.amazonwebservices.com.cn",
        Endpoint::DualStack,
        &[Partition::AwsCn],
    ),
];

/// The spellings of the private registry's service labels: `dkr.ecr` and `dkr-ecr`, each with an
/// optional `-fips` (the FIPS endpoint). [`PrivateRegistry::from_host`] accepts exactly these.
const SERVICE_SPELLINGS: [&str; 4] = ["dkr.ecr", "dkr-ecr", "dkr.ecr-fips", "dkr-ecr-fips"];

/// `text` (trimmed) without a leading `https://`, `http://` or `oci://` (any case): how people
/// write a repository for `images` and `mirror` (`oci://` is Helm's).
pub fn strip_url_scheme(text: &str) -> &str {
    let text = text.trim();
    ["https://", "http://", "oci://"]
        .iter()
        .find_map(|scheme| {
            text.get(..scheme.len())
                .filter(|head| head.eq_ignore_ascii_case(scheme))
                .map(|_| &text[scheme.len()..])
        })
        .unwrap_or(text)
}

/// One example host of every form [`Registry::parse`] accepts, in canonical form: each private
/// DNS suffix, with each partition it serves (in one region of that partition) and each service
/// spelling, then the ECR Public hosts. The account is AWS's example `123456789012`.
///
/// For checking configurations that must route every ECR host to this helper, such as the
/// kubelet's `matchImages` in `installers/kubernetes/`: a new suffix, partition or public host
/// added here shows up in those checks without anyone copying it.
pub fn example_hosts() -> Vec<String> {
    let private = SUFFIXES.iter().flat_map(|&(suffix, _, partitions)| {
        partitions.iter().flat_map(move |partition| {
            SERVICE_SPELLINGS.iter().map(move |service| {
                format!(
                    "123456789012.{service}.{}.{suffix}",
                    partition.example_region()
                )
            })
        })
    });
    private
        .chain(PUBLIC_HOSTS.iter().map(|host| host.to_string()))
        .collect()
}

/// An Amazon ECR registry, private or public, recognised from a server address. Serialized as
/// its canonical host (and parsed again when read back).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Registry {
    /// A private registry: one AWS account in one region.
    Private(PrivateRegistry),
    /// Amazon ECR Public, shared by everyone and served from `us-east-1`.
    Public(PublicRegistry),
}

/// A private ECR registry: `<account>.dkr.ecr.<region>.<suffix>` or one of its
/// FIPS and dual-stack forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateRegistry {
    host: String,
    /// Where the account id and the region are in `host` (one allocation per registry: every
    /// `get` parses each binding's host).
    account_id: std::ops::Range<usize>,
    region: std::ops::Range<usize>,
    partition: Partition,
    fips: bool,
    dual_stack: bool,
}

/// Amazon ECR Public, reached through `public.ecr.aws` or `ecr-public.aws.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicRegistry {
    host: &'static str,
}

/// An AWS partition: a group of regions with its own DNS suffixes and
/// credentials, named as in the AWS SDK's `partitions.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    /// `aws`: the commercial regions.
    Aws,
    /// `aws-cn`: the China regions.
    AwsCn,
    /// `aws-us-gov`: AWS GovCloud (US).
    AwsUsGov,
    /// `aws-iso`: the C2S regions.
    AwsIso,
    /// `aws-iso-b`: the SC2S regions.
    AwsIsoB,
    /// `aws-iso-e`: the ADC-E regions.
    AwsIsoE,
    /// `aws-iso-f`: the HCI regions.
    AwsIsoF,
    /// `aws-eusc`: the AWS European Sovereign Cloud.
    AwsEusc,
}

/// Why a server address is not an Amazon ECR registry, as a short human string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEcr {
    reason: String,
}

impl Registry {
    /// Parses what docker hands a credential helper: a host, host:port, or a URL with scheme,
    /// userinfo, path and query; upper-case letters and a trailing dot are accepted.
    ///
    /// Surrounding whitespace (such as the trailing newline of a `get` request) is
    /// ignored. The host is the part after the last `@` of the authority, which is
    /// how URL parsers read it. IPv6 literals, non-numeric ports, non-ASCII hosts
    /// and empty labels are refused.
    ///
    /// # Errors
    ///
    /// [`NotEcr`], saying why, when the address does not name an Amazon ECR
    /// registry host.
    pub fn parse(server_address: &str) -> Result<Registry, NotEcr> {
        let host = normalise(server_address)?;
        if let Some(&public) = PUBLIC_HOSTS.iter().find(|&&public| public == host) {
            return Ok(Registry::Public(PublicRegistry { host: public }));
        }
        PrivateRegistry::from_host(host).map(Registry::Private)
    }

    /// The canonical host: lower-case, without port or trailing dot.
    pub fn host(&self) -> &str {
        match self {
            Registry::Private(private) => private.host(),
            Registry::Public(public) => public.host(),
        }
    }

    /// The region the ECR API is called in; `us-east-1` for ECR Public.
    pub fn api_region(&self) -> &str {
        match self {
            Registry::Private(private) => private.region(),
            Registry::Public(_) => PUBLIC_API_REGION,
        }
    }

    /// Whether this is Amazon ECR Public.
    pub fn is_public(&self) -> bool {
        matches!(self, Registry::Public(_))
    }

    /// Whether the host is a FIPS endpoint, so the API should be called through
    /// FIPS endpoints too; always false for ECR Public.
    pub fn uses_fips(&self) -> bool {
        match self {
            Registry::Private(private) => private.uses_fips(),
            Registry::Public(_) => false,
        }
    }

    /// Whether the host is a dual-stack (IPv4 and IPv6) endpoint, so the API
    /// should be called through dual-stack endpoints too; always false for ECR
    /// Public.
    pub fn uses_dual_stack(&self) -> bool {
        match self {
            Registry::Private(private) => private.uses_dual_stack(),
            Registry::Public(_) => false,
        }
    }

    /// A stable id for cache keys: `private:<account>:<region>[:fips][:dualstack]`
    /// or `public`.
    ///
    /// Two server addresses that reach the same registry through the same kind of
    /// endpoint share an id, whatever scheme, port, path or case they were written
    /// with. Both public hosts share the id `public`.
    pub fn cache_id(&self) -> String {
        match self {
            Registry::Private(private) => {
                let mut id = format!("private:{}:{}", private.account_id(), private.region());
                if private.fips {
                    id.push_str(":fips");
                }
                if private.dual_stack {
                    id.push_str(":dualstack");
                }
                id
            }
            Registry::Public(_) => "public".to_owned(),
        }
    }
}

impl FromStr for Registry {
    type Err = NotEcr;

    /// Same as [`Registry::parse`].
    fn from_str(server_address: &str) -> Result<Registry, NotEcr> {
        Registry::parse(server_address)
    }
}

impl TryFrom<String> for Registry {
    type Error = NotEcr;

    fn try_from(host: String) -> Result<Registry, NotEcr> {
        Registry::parse(&host)
    }
}

impl From<Registry> for String {
    fn from(registry: Registry) -> String {
        registry.host().to_string()
    }
}

impl fmt::Display for Registry {
    /// Writes the canonical host.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.host())
    }
}

impl PrivateRegistry {
    /// The 12-digit AWS account id that owns the registry.
    pub fn account_id(&self) -> &str {
        &self.host[self.account_id.clone()]
    }

    /// The region of the registry, which is also the region its API is called in.
    pub fn region(&self) -> &str {
        &self.host[self.region.clone()]
    }

    /// The partition of the region.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    /// The canonical host: lower-case, without port or trailing dot.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the host is a FIPS endpoint (`dkr.ecr-fips` or `dkr-ecr-fips`).
    pub fn uses_fips(&self) -> bool {
        self.fips
    }

    /// Whether the host is a dual-stack endpoint (`on.aws` or
    /// `on.amazonwebservices.com.cn`).
    pub fn uses_dual_stack(&self) -> bool {
        self.dual_stack
    }

    /// Recognises a normalised host (lower-case ASCII, labels checked).
    fn from_host(owned_host: String) -> Result<PrivateRegistry, NotEcr> {
        let host = owned_host.as_str();
        let Some((suffix, endpoint, partitions, rest)) =
            SUFFIXES.iter().find_map(|&(suffix, endpoint, partitions)| {
                let rest = host.strip_suffix(suffix)?.strip_suffix('.')?;
                Some((suffix, endpoint, partitions, rest))
            })
        else {
            return Err(NotEcr::host(host));
        };
        // rest is `<account>.<service>.<region>`, where the service may itself
        // hold a dot (`dkr.ecr`), so take the region from the right and the
        // account from the left.
        let Some((account_and_service, region)) = rest.rsplit_once('.') else {
            return Err(NotEcr::host(host));
        };
        let Some((account_id, service)) = account_and_service.split_once('.') else {
            return Err(NotEcr::host(host));
        };
        // `dkr.ecr` and `dkr-ecr`, each with an optional `-fips`, under every suffix: what
        // the Go helper and the kubelet's ECR provider accept (`dkr[.-]ecr(-fips)?`).
        let fips = match service {
            "dkr.ecr" | "dkr-ecr" => false,
            "dkr.ecr-fips" | "dkr-ecr-fips" => true,
            _ => return Err(NotEcr::host(host)),
        };
        if !is_account_id(account_id) {
            return Err(NotEcr::host_because(
                host,
                "the account id is not 12 digits",
            ));
        }
        let partition = match Partition::of_region(region) {
            Some(partition) if partitions.contains(&partition) => partition,
            _ => {
                return Err(NotEcr::host_because(
                    host,
                    &format!("region {region:?} is not served under {suffix:?}"),
                ));
            }
        };
        let (account_id, region) = (range_in(host, account_id), range_in(host, region));
        Ok(PrivateRegistry {
            host: owned_host,
            account_id,
            region,
            partition,
            fips,
            dual_stack: endpoint == Endpoint::DualStack,
        })
    }
}

impl PublicRegistry {
    /// The canonical host: `public.ecr.aws` or `ecr-public.aws.com`.
    pub fn host(&self) -> &str {
        self.host
    }
}

impl Partition {
    /// The partition id used by the AWS SDKs, such as `aws-us-gov`.
    pub fn id(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsIso => "aws-iso",
            Partition::AwsIsoB => "aws-iso-b",
            Partition::AwsIsoE => "aws-iso-e",
            Partition::AwsIsoF => "aws-iso-f",
            Partition::AwsEusc => "aws-eusc",
        }
    }

    /// One region of this partition, for [`example_hosts`].
    fn example_region(self) -> &'static str {
        match self {
            Partition::Aws => "us-east-1",
            Partition::AwsCn => "cn-north-1",
            Partition::AwsUsGov => "us-gov-west-1",
            Partition::AwsIso => "us-iso-east-1",
            Partition::AwsIsoB => "us-isob-east-1",
            Partition::AwsIsoE => "eu-isoe-west-1",
            Partition::AwsIsoF => "us-isof-south-1",
            Partition::AwsEusc => "eusc-de-east-1",
        }
    }

    /// The partition whose region pattern (from `partitions.json`) the region
    /// matches. The specific partitions are checked before `aws`.
    fn of_region(region: &str) -> Option<Partition> {
        // `^<prefix>-\w+-\d+$` for each partition with a fixed prefix.
        const SPECIFIC: &[(&str, Partition)] = &[
            ("us-gov", Partition::AwsUsGov),
            ("us-iso", Partition::AwsIso),
            ("us-isob", Partition::AwsIsoB),
            ("us-isof", Partition::AwsIsoF),
            ("eu-isoe", Partition::AwsIsoE),
            ("eusc-de", Partition::AwsEusc),
            ("cn", Partition::AwsCn),
        ];
        // `^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$`
        const AWS: &[&str] = &["us", "eu", "ap", "sa", "ca", "me", "af", "il", "mx"];

        SPECIFIC
            .iter()
            .find(|&&(prefix, _)| region_matches(region, prefix))
            .map(|&(_, partition)| partition)
            .or_else(|| {
                AWS.iter()
                    .any(|prefix| region_matches(region, prefix))
                    .then_some(Partition::Aws)
            })
    }
}

impl fmt::Display for Partition {
    /// Writes the partition id, such as `aws-us-gov`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl NotEcr {
    pub fn new(reason: String) -> NotEcr {
        NotEcr { reason }
    }

    /// `"<host>" is not an Amazon ECR registry host`
    fn host(host: &str) -> NotEcr {
        NotEcr::new(format!("{host:?} is not an Amazon ECR registry host"))
    }

    /// `"<host>" is not an Amazon ECR registry host: <detail>`
    fn host_because(host: &str, detail: &str) -> NotEcr {
        NotEcr::new(format!(
            "{host:?} is not an Amazon ECR registry host: {detail}"
        ))
    }
}

impl fmt::Display for NotEcr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for NotEcr {}

/// Reduces a server address to a lower-case ASCII host with non-empty labels of
/// letters, digits and hyphens, without port or trailing dot.
fn normalise(server_address: &str) -> Result<String, NotEcr> {
    let address = server_address.trim();
    if address.is_empty() {
        return Err(NotEcr::new("the server address is empty".to_owned()));
    }
    // The common case, a host already in canonical form (what `add` writes and docker sends),
    // normalises to itself: skip the scheme, path, userinfo and port steps (every `get` parses
    // each binding's host).
    if labels_ok(address) {
        return Ok(address.to_owned());
    }
    // `scheme://`, only when what precedes `://` is a scheme (so not a path).
    let without_scheme = match address.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        _ => address,
    };
    // The authority ends at the path, query or fragment.
    let authority = without_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    // Userinfo ends at the last `@`, as URL parsers read it.
    let host_and_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host_and_port)| host_and_port);
    if host_and_port.starts_with('[') {
        return Err(NotEcr::new(format!(
            "{address:?} names an IPv6 address, not an Amazon ECR registry host"
        )));
    }
    let host = match host_and_port.split_once(':') {
        Some((host, port)) => {
            // `u16::from_str` alone would also take `+443`.
            if !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
                return Err(NotEcr::new(format!(
                    "{address:?} has an invalid port {port:?}"
                )));
            }
            host
        }
        None => host_and_port,
    };
    if !host.is_ascii() {
        return Err(NotEcr::host(host));
    }
    let mut canonical = host.to_ascii_lowercase();
    if canonical.ends_with('.') {
        canonical.pop();
    }
    if !labels_ok(&canonical) {
        return Err(NotEcr::host(&canonical));
    }
    Ok(canonical)
}

/// Whether every dot-separated label of `host` is non-empty and only lower-case letters,
/// digits and hyphens: the canonical form.
fn labels_ok(host: &str) -> bool {
    host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )`, as in RFC 3986.
fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// Where `part`, a slice of `whole`, is in it.
fn range_in(whole: &str, part: &str) -> std::ops::Range<usize> {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    start..start + part.len()
}

/// Exactly 12 ASCII digits.
fn is_account_id(account_id: &str) -> bool {
    account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit())
}

/// `^<prefix>-\w+-\d+$`: the prefix, one word without hyphens, one number.
fn region_matches(region: &str, prefix: &str) -> bool {
    let Some(rest) = region
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
    else {
        return false;
    };
    let Some((word, number)) = rest.split_once('-') else {
        return false;
    };
    !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An input that must be accepted, and everything it must yield.
    struct Accepted {
        input: &'static str,
        host: &'static str,
        /// Empty for ECR Public.
        account: &'static str,
        /// The API region.
        region: &'static str,
        /// `None` for ECR Public.
        partition: Option<Partition>,
        fips: bool,
        dual_stack: bool,
        public: bool,
    }

    const fn private(
        input: &'static str,
        host: &'static str,
        account: &'static str,
        region: &'static str,
        partition: Partition,
        fips: bool,
        dual_stack: bool,
    ) -> Accepted {
        Accepted {
            input,
            host,
            account,
            region,
            partition: Some(partition),
            fips,
            dual_stack,
            public: false,
        }
    }

    const fn public(input: &'static str, host: &'static str) -> Accepted {
        Accepted {
            input,
            host,
            account: "",
            region: "us-east-1",
            partition: None,
            fips: false,
            dual_stack: false,
            public: true,
        }
    }

    const ACCT: &str = "123456789012";
    const STD: bool = false;
    const FIPS: bool = true;
    const V4: bool = false;
    const DUAL: bool = true;

    use Partition::*;

    #[rustfmt::skip]
    const ACCEPTED: &[Accepted] = &[
        // Every suffix and partition, standard endpoint.
        private("123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.eu-west-3.amazonaws.com", "123456789012.dkr.ecr.eu-west-3.amazonaws.com", ACCT, "eu-west-3", Aws, STD, V4),
        private("123456789012.dkr.ecr.ap-southeast-5.amazonaws.com", "123456789012.dkr.ecr.ap-southeast-5.amazonaws.com", ACCT, "ap-southeast-5", Aws, STD, V4),
        private("123456789012.dkr.ecr.sa-east-1.amazonaws.com", "123456789012.dkr.ecr.sa-east-1.amazonaws.com", ACCT, "sa-east-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.ca-west-1.amazonaws.com", "123456789012.dkr.ecr.ca-west-1.amazonaws.com", ACCT, "ca-west-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.me-central-1.amazonaws.com", "123456789012.dkr.ecr.me-central-1.amazonaws.com", ACCT, "me-central-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.af-south-1.amazonaws.com", "123456789012.dkr.ecr.af-south-1.amazonaws.com", ACCT, "af-south-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.il-central-1.amazonaws.com", "123456789012.dkr.ecr.il-central-1.amazonaws.com", ACCT, "il-central-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.mx-central-1.amazonaws.com", "123456789012.dkr.ecr.mx-central-1.amazonaws.com", ACCT, "mx-central-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.us-gov-west-1.amazonaws.com", "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com", ACCT, "us-gov-west-1", AwsUsGov, STD, V4),
        private("123456789012.dkr.ecr.us-gov-east-1.amazonaws.com", "123456789012.dkr.ecr.us-gov-east-1.amazonaws.com", ACCT, "us-gov-east-1", AwsUsGov, STD, V4),
        private("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", ACCT, "cn-north-1", AwsCn, STD, V4),
        private("123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn", "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn", ACCT, "cn-northwest-1", AwsCn, STD, V4),
        private("123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu", ACCT, "eusc-de-east-1", AwsEusc, STD, V4),
        private("123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov", ACCT, "us-iso-east-1", AwsIso, STD, V4),
        private("123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", ACCT, "us-isob-east-1", AwsIsoB, STD, V4),
        private("123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", ACCT, "eu-isoe-west-1", AwsIsoE, STD, V4),
        private("123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov", ACCT, "us-isof-south-1", AwsIsoF, STD, V4),
        // FIPS, both spellings.
        private("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, FIPS, V4),
        private("123456789012.dkr-ecr-fips.us-west-2.amazonaws.com", "123456789012.dkr-ecr-fips.us-west-2.amazonaws.com", ACCT, "us-west-2", Aws, FIPS, V4),
        private("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", ACCT, "us-gov-west-1", AwsUsGov, FIPS, V4),
        private("123456789012.dkr-ecr-fips.us-gov-east-1.amazonaws.com", "123456789012.dkr-ecr-fips.us-gov-east-1.amazonaws.com", ACCT, "us-gov-east-1", AwsUsGov, FIPS, V4),
        private("123456789012.dkr.ecr-fips.us-iso-east-1.c2s.ic.gov", "123456789012.dkr.ecr-fips.us-iso-east-1.c2s.ic.gov", ACCT, "us-iso-east-1", AwsIso, FIPS, V4),
        private("123456789012.dkr-ecr-fips.us-isob-east-1.sc2s.sgov.gov", "123456789012.dkr-ecr-fips.us-isob-east-1.sc2s.sgov.gov", ACCT, "us-isob-east-1", AwsIsoB, FIPS, V4),
        // Dual-stack, plain and FIPS.
        private("123456789012.dkr-ecr.us-east-1.on.aws", "123456789012.dkr-ecr.us-east-1.on.aws", ACCT, "us-east-1", Aws, STD, DUAL),
        private("123456789012.dkr-ecr-fips.us-east-2.on.aws", "123456789012.dkr-ecr-fips.us-east-2.on.aws", ACCT, "us-east-2", Aws, FIPS, DUAL),
        private("123456789012.dkr-ecr.us-gov-west-1.on.aws", "123456789012.dkr-ecr.us-gov-west-1.on.aws", ACCT, "us-gov-west-1", AwsUsGov, STD, DUAL),
        private("123456789012.dkr-ecr-fips.us-gov-east-1.on.aws", "123456789012.dkr-ecr-fips.us-gov-east-1.on.aws", ACCT, "us-gov-east-1", AwsUsGov, FIPS, DUAL),
        private("123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", "123456789012.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", ACCT, "cn-north-1", AwsCn, STD, DUAL),
        // Either spelling of the service under every suffix, as the Go helper's
        // `dkr[.-]ecr(-fips)?` accepts; the suffix decides dual-stack.
        private("210987654321.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn", "210987654321.dkr.ecr.cn-north-1.on.amazonwebservices.com.cn", "210987654321", "cn-north-1", AwsCn, STD, DUAL),
        private("123456789012.dkr.ecr.us-east-1.on.aws", "123456789012.dkr.ecr.us-east-1.on.aws", ACCT, "us-east-1", Aws, STD, DUAL),
        private("123456789012.dkr.ecr-fips.us-east-1.on.aws", "123456789012.dkr.ecr-fips.us-east-1.on.aws", ACCT, "us-east-1", Aws, FIPS, DUAL),
        private("123456789012.dkr-ecr.us-west-2.amazonaws.com", "123456789012.dkr-ecr.us-west-2.amazonaws.com", ACCT, "us-west-2", Aws, STD, V4),
        private("210987654321.dkr-ecr.cn-north-1.amazonaws.com.cn", "210987654321.dkr-ecr.cn-north-1.amazonaws.com.cn", "210987654321", "cn-north-1", AwsCn, STD, V4),
        private("123456789012.dkr-ecr.us-iso-east-1.c2s.ic.gov", "123456789012.dkr-ecr.us-iso-east-1.c2s.ic.gov", ACCT, "us-iso-east-1", AwsIso, STD, V4),
        // Public.
        public("public.ecr.aws", "public.ecr.aws"),
        public("ecr-public.aws.com", "ecr-public.aws.com"),
        public("https://public.ecr.aws/v2/", "public.ecr.aws"),
        public("PUBLIC.ECR.AWS.", "public.ecr.aws"),
        public("ecr-public.aws.com:443\n", "ecr-public.aws.com"),
        // Normalisation: scheme, port, path, query, fragment, userinfo.
        private("https://123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("http://123456789012.dkr.ecr.us-east-1.amazonaws.com/", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.us-east-1.amazonaws.com:443", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("https://123456789012.dkr.ecr.us-east-1.amazonaws.com:5000/v2/", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.us-east-1.amazonaws.com/my/repo:latest", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("https://123456789012.dkr.ecr.us-east-1.amazonaws.com?x=1", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("https://123456789012.dkr.ecr.us-east-1.amazonaws.com#frag", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("https://user:pw@123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("AWS@123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        // The host follows the last `@`, so this one really is ECR.
        private("https://user@evil.example@123456789012.dkr.ecr.us-east-1.amazonaws.com", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        // Normalisation: case, trailing dot, whitespace.
        private("123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("HTTPS://123456789012.Dkr.Ecr-Fips.Us-Gov-West-1.AmazonAWS.com", "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", ACCT, "us-gov-west-1", AwsUsGov, FIPS, V4),
        private("123456789012.dkr.ecr.us-east-1.amazonaws.com.", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.us-east-1.amazonaws.com.:443", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("123456789012.dkr.ecr.us-east-1.amazonaws.com\n", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("  https://123456789012.dkr.ecr.us-east-1.amazonaws.com/ \r\n", "123456789012.dkr.ecr.us-east-1.amazonaws.com", ACCT, "us-east-1", Aws, STD, V4),
        private("\t123456789012.dkr-ecr.us-east-1.on.aws.\n", "123456789012.dkr-ecr.us-east-1.on.aws", ACCT, "us-east-1", Aws, STD, DUAL),
        // Other accounts.
        private("000000000000.dkr.ecr.us-east-1.amazonaws.com", "000000000000.dkr.ecr.us-east-1.amazonaws.com", "000000000000", "us-east-1", Aws, STD, V4),
        private("999999999999.dkr.ecr.ap-northeast-1.amazonaws.com", "999999999999.dkr.ecr.ap-northeast-1.amazonaws.com", "999999999999", "ap-northeast-1", Aws, STD, V4),
    ];

    const REFUSED: &[&str] = &[
        // Empty and blank.
        "",
        " ",
        "\n",
        "https://",
        "https:///v2/",
        // Not ECR at all.
        "example.com",
        "https://index.docker.io/v1/",
        "docker.io",
        "localhost:5000",
        "127.0.0.1",
        "ghcr.io",
        "amazonaws.com",
        "ecr.us-east-1.amazonaws.com",
        "api.ecr.us-east-1.amazonaws.com",
        "api.ecr-public.us-east-1.amazonaws.com",
        // Look-alike suffixes and prefixes.
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example.",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com-evil.example",
        "123456789012.dkr.ecr.us-east-1.amazonaws.comm",
        "123456789012.dkr.ecr.us-east-1.notamazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.co",
        "123456789012.dkr.ecr.us-east-1.evilamazonaws.com",
        "123456789012.dkr.ecr.us-east-1.evil.on.aws",
        "x123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "evil.123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "evil-123456789012.dkr.ecr.us-east-1.amazonaws.com",
        // Hosts hidden in the path or userinfo.
        "evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "https://evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "https://evil.example/?r=123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "https://evil.example#123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "https://evil.example/https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com@evil.example",
        "https://user@123456789012.dkr.ecr.us-east-1.amazonaws.com@evil.example/v2/",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:443@evil.example",
        "https://evil.example/@123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com\\@evil.example",
        "https://evil.example\\123456789012.dkr.ecr.us-east-1.amazonaws.com",
        // Accounts.
        "12345678901.dkr.ecr.us-east-1.amazonaws.com",
        "1234567890123.dkr.ecr.us-east-1.amazonaws.com",
        "12345678901a.dkr.ecr.us-east-1.amazonaws.com",
        "abcdefghijkl.dkr.ecr.us-east-1.amazonaws.com",
        "dkr.ecr.us-east-1.amazonaws.com",
        ".dkr.ecr.us-east-1.amazonaws.com",
        // Service labels.
        "123456789012.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.fips.us-east-1.amazonaws.com",
        "123456789012.dkr_ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr-public.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.on.aws",
        // Regions outside the suffix's partition, or not regions at all.
        "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.cn",
        "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com.cn",
        "123456789012.dkr.ecr.us-iso-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-isob-east-1.c2s.ic.gov",
        "123456789012.dkr.ecr.us-iso-east-1.sc2s.sgov.gov",
        "123456789012.dkr.ecr.us-east-1.c2s.ic.gov",
        "123456789012.dkr.ecr.us-east-1.amazonaws.eu",
        "123456789012.dkr.ecr.eu-central-1.amazonaws.eu",
        "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.com",
        "123456789012.dkr.ecr.eu-isoe-west-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.cloud.adc-e.uk",
        "123456789012.dkr.ecr.us-isob-east-1.csp.hci.ic.gov",
        "123456789012.dkr-ecr.cn-north-1.on.aws",
        "123456789012.dkr-ecr.us-east-1.on.amazonwebservices.com.cn",
        "123456789012.dkr-ecr.us-iso-east-1.on.aws",
        "123456789012.dkr.ecr.xx-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east.amazonaws.com",
        "123456789012.dkr.ecr.us-east-x.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1-2.amazonaws.com",
        "123456789012.dkr.ecr.us--1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-.amazonaws.com",
        "123456789012.dkr.ecr.us-gov-west.amazonaws.com",
        "123456789012.dkr.ecr.amazonaws.com",
        // Public look-alikes.
        "public.ecr.aws.evil.example",
        "notpublic.ecr.aws",
        "evil.public.ecr.aws",
        "public-ecr.aws",
        "public.ecr.aws.com",
        "ecr-public.aws",
        "https://evil.example/public.ecr.aws",
        "https://public.ecr.aws@evil.example",
        // Ports.
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:https",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:+443",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:443:443",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com:99999",
        "public.ecr.aws:abc",
        // IPv6.
        "[::1]",
        "[::1]:443",
        "https://[2001:db8::1]/v2/",
        "::1",
        // Empty labels and bad characters.
        "123456789012..dkr.ecr.us-east-1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1..amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com..",
        ".123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "public.ecr.aws..",
        "123456789012.dkr.ecr.us_east_1.amazonaws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com%2e",
        "123456789012.dkr.ecr.us-east-1.amazon%61ws.com",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com\0",
        "123456789012.dkr.ecr.us east-1.amazonaws.com",
        // Non-ASCII, including look-alike letters and full-width dots.
        "123456789012.dkr.ecr.us-east-1.amazonaws.cοm",
        "123456789012.dkr.ecr.us-east-1.amazonaws。com",
        "１２３４５６７８９０１２.dkr.ecr.us-east-1.amazonaws.com",
        "publiс.ecr.aws",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com\u{200b}",
        // Not a scheme, so not stripped.
        "1https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        "https:123456789012.dkr.ecr.us-east-1.amazonaws.com",
    ];

    #[test]
    fn accepted() {
        for case in ACCEPTED {
            let registry = Registry::parse(case.input)
                .unwrap_or_else(|err| panic!("{:?} was refused: {err}", case.input));
            let input = case.input;
            assert_eq!(registry.host(), case.host, "host of {input:?}");
            assert_eq!(
                registry.api_region(),
                case.region,
                "api_region of {input:?}"
            );
            assert_eq!(registry.is_public(), case.public, "is_public of {input:?}");
            assert_eq!(registry.uses_fips(), case.fips, "uses_fips of {input:?}");
            assert_eq!(
                registry.uses_dual_stack(),
                case.dual_stack,
                "uses_dual_stack of {input:?}"
            );
            match &registry {
                Registry::Private(private) => {
                    assert_eq!(private.account_id(), case.account, "account of {input:?}");
                    assert_eq!(private.region(), case.region, "region of {input:?}");
                    assert_eq!(
                        Some(private.partition()),
                        case.partition,
                        "partition of {input:?}"
                    );
                    assert_eq!(private.host(), case.host, "private host of {input:?}");
                }
                Registry::Public(public) => {
                    assert_eq!(case.account, "", "{input:?} should be private");
                    assert_eq!(case.partition, None, "{input:?} should be private");
                    assert_eq!(public.host(), case.host, "public host of {input:?}");
                }
            }
            assert_eq!(input.parse::<Registry>().as_ref(), Ok(&registry));
            // The canonical host parses back to the same registry.
            assert_eq!(Registry::parse(registry.host()).as_ref(), Ok(&registry));
        }
    }

    #[test]
    fn refused() {
        for &input in REFUSED {
            match Registry::parse(input) {
                Ok(registry) => panic!("{input:?} was accepted as {registry:?}"),
                Err(err) => {
                    let message = err.to_string();
                    assert!(!message.is_empty(), "{input:?} has an empty reason");
                    assert!(!message.contains('\n'), "{input:?}: {message}");
                    assert!(input.parse::<Registry>().is_err(), "{input:?}");
                }
            }
        }
    }

    #[test]
    fn every_suffix_and_partition_is_covered() {
        for &(suffix, _, partitions) in SUFFIXES {
            for partition in partitions {
                assert!(
                    ACCEPTED
                        .iter()
                        .any(|case| case.host.ends_with(suffix)
                            && case.partition == Some(*partition)),
                    "no accepted case for {partition} under {suffix}"
                );
            }
        }
        for partition in [
            Aws, AwsCn, AwsUsGov, AwsIso, AwsIsoB, AwsIsoE, AwsIsoF, AwsEusc,
        ] {
            assert!(
                ACCEPTED
                    .iter()
                    .any(|case| case.partition == Some(partition))
            );
        }
    }

    #[test]
    fn example_hosts_are_every_form_and_each_parses_as_that_form() {
        let hosts = example_hosts();
        let mut seen = std::collections::HashSet::new();
        for host in &hosts {
            let registry =
                Registry::parse(host).unwrap_or_else(|err| panic!("{host} is refused: {err}"));
            assert_eq!(registry.host(), host, "{host} is canonical");
            let Registry::Private(private) = &registry else {
                assert!(seen.insert((host.as_str(), None, "")), "{host} twice");
                continue;
            };
            let &(suffix, endpoint, _) = SUFFIXES
                .iter()
                .find(|(suffix, _, _)| host.ends_with(&format!(".{suffix}")))
                .expect("a private host has a suffix");
            let service = host
                .strip_prefix(&format!("{}.", private.account_id()))
                .and_then(|rest| rest.strip_suffix(&format!(".{}.{suffix}", private.region())))
                .expect("account.service.region.suffix");
            assert_eq!(private.uses_fips(), service.ends_with("-fips"), "{host}");
            let dual_stack = endpoint == Endpoint::DualStack;
            assert_eq!(private.uses_dual_stack(), dual_stack, "{host}");
            assert!(
                seen.insert((suffix, Some(private.partition()), service)),
                "{host} repeats a form"
            );
        }
        for &(suffix, _, partitions) in SUFFIXES {
            for &partition in partitions {
                for service in SERVICE_SPELLINGS {
                    assert!(
                        seen.contains(&(suffix, Some(partition), service)),
                        "no example of {service} for {partition} under {suffix}"
                    );
                }
            }
        }
        for public in PUBLIC_HOSTS {
            assert!(seen.contains(&(public, None, "")), "{public} missing");
        }
    }

    #[test]
    fn no_suffix_is_a_label_suffix_of_another() {
        for &(a, _, _) in SUFFIXES {
            for &(b, _, _) in SUFFIXES {
                assert!(
                    a == b || !a.ends_with(&format!(".{b}")),
                    "{a} ends with {b}"
                );
            }
        }
    }

    #[test]
    fn cache_id_is_stable_across_forms() {
        let same = [
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/",
            "123456789012.DKR.ECR.US-EAST-1.AMAZONAWS.COM.:443",
            "user:pw@123456789012.dkr.ecr.us-east-1.amazonaws.com\n",
        ];
        for input in same {
            let registry = Registry::parse(input).expect(input);
            assert_eq!(
                registry.cache_id(),
                "private:123456789012:us-east-1",
                "{input:?}"
            );
        }
        let ids = [
            (
                "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
                "private:123456789012:us-east-1:fips",
            ),
            (
                "123456789012.dkr-ecr-fips.us-east-1.amazonaws.com",
                "private:123456789012:us-east-1:fips",
            ),
            (
                "123456789012.dkr-ecr.us-east-1.on.aws",
                "private:123456789012:us-east-1:dualstack",
            ),
            (
                "123456789012.dkr-ecr-fips.us-east-1.on.aws",
                "private:123456789012:us-east-1:fips:dualstack",
            ),
            (
                "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
                "private:123456789012:cn-north-1",
            ),
            (
                "210987654321.dkr.ecr.us-east-1.amazonaws.com",
                "private:210987654321:us-east-1",
            ),
            ("public.ecr.aws", "public"),
            ("ecr-public.aws.com", "public"),
        ];
        for (input, id) in ids {
            let registry = Registry::parse(input).expect(input);
            assert_eq!(registry.cache_id(), id, "{input:?}");
            // Calling it again gives the same id.
            assert_eq!(registry.cache_id(), registry.cache_id());
        }
    }

    #[test]
    fn display_is_the_canonical_host() {
        let registry =
            Registry::parse("HTTPS://User@123456789012.DKR.ECR.EU-WEST-1.AMAZONAWS.COM.:443/v2/")
                .expect("valid");
        assert_eq!(
            registry.to_string(),
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
        );
        let public = Registry::parse("https://Public.ECR.aws/").expect("valid");
        assert_eq!(public.to_string(), "public.ecr.aws");
        assert_eq!(AwsUsGov.to_string(), "aws-us-gov");
        assert_eq!(AwsIsoB.id(), "aws-iso-b");
    }

    #[test]
    fn not_ecr_messages_are_short_and_name_the_host() {
        let err = Registry::parse("https://example.com/v2/").expect_err("not ECR");
        assert_eq!(
            err.to_string(),
            r#""example.com" is not an Amazon ECR registry host"#
        );
        let err = Registry::parse("123456789012.dkr.ecr.cn-north-1.amazonaws.com")
            .expect_err("wrong partition");
        assert_eq!(
            err.to_string(),
            r#""123456789012.dkr.ecr.cn-north-1.amazonaws.com" is not an Amazon ECR registry host: region "cn-north-1" is not served under "amazonaws.com""#
        );
        let err = Registry::parse("1234567890123.dkr.ecr.us-east-1.amazonaws.com")
            .expect_err("13 digits");
        assert!(
            err.to_string().ends_with("the account id is not 12 digits"),
            "{err}"
        );
        let err = Registry::parse("example.com:http").expect_err("bad port");
        assert_eq!(
            err.to_string(),
            r#""example.com:http" has an invalid port "http""#
        );
        let err = Registry::parse("\n").expect_err("empty");
        assert_eq!(err.to_string(), "the server address is empty");
        // It is an error in the std sense, so it can be boxed and chained.
        let boxed: Box<dyn std::error::Error> = Box::new(err.clone());
        assert_eq!(boxed.to_string(), err.to_string());
    }
}
