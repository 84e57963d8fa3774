//! What the fuzz targets share: an independent statement of which hosts are Amazon ECR
//! registries (to check `Registry::parse` against, written label by label from the module's
//! documented promise rather than from its code), and a scratch directory per process for the
//! targets that go through real files.

use std::path::Path;
use std::sync::OnceLock;

/// What a canonical ECR host says, as the oracle reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    Public,
    Private {
        account: String,
        region: String,
        partition: &'static str,
        fips: bool,
        dual_stack: bool,
    },
}

/// Every private DNS suffix, whether it is dual-stack, and the partitions it serves.
const SUFFIXES: &[(&str, bool, &[&str])] = &[
    ("amazonaws.com", false, &["aws", "aws-us-gov"]),
    ("amazonaws.com.cn", false, &["aws-cn"]),
    ("amazonaws.eu", false, &["aws-eusc"]),
    ("c2s.ic.gov", false, &["aws-iso"]),
    ("sc2s.sgov.gov", false, &["aws-iso-b"]),
    ("cloud.adc-e.uk", false, &["aws-iso-e"]),
    ("csp.hci.ic.gov", false, &["aws-iso-f"]),
    ("on.aws", true, &["aws", "aws-us-gov"]),
    ("on.amazonwebservices.com.cn", true, &["aws-cn"]),
];

/// The partition of a region label `<prefix>-<word>-<number>`, by its prefix.
pub fn partition_of(region: &str) -> Option<&'static str> {
    let parts: Vec<&str> = region.split('-').collect();
    let [prefix @ .., word, number] = parts.as_slice() else {
        return None;
    };
    if word.is_empty()
        || !word.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        || number.is_empty()
        || !number.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    Some(match prefix.join("-").as_str() {
        "us-gov" => "aws-us-gov",
        "us-iso" => "aws-iso",
        "us-isob" => "aws-iso-b",
        "us-isof" => "aws-iso-f",
        "eu-isoe" => "aws-iso-e",
        "eusc-de" => "aws-eusc",
        "cn" => "aws-cn",
        "us" | "eu" | "ap" | "sa" | "ca" | "me" | "af" | "il" | "mx" => "aws",
        _ => return None,
    })
}

/// What `host` names when it is a canonical ECR host (lower case, no port, no trailing dot).
pub fn shape_of(host: &str) -> Option<Shape> {
    if host == "public.ecr.aws" || host == "ecr-public.aws.com" {
        return Some(Shape::Public);
    }
    // Canonical: lower-case letters, digits, hyphens and dots only.
    if !host
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let (account, fips, region, suffix) = match labels.as_slice() {
        [
            account,
            "dkr",
            ecr @ ("ecr" | "ecr-fips"),
            region,
            suffix @ ..,
        ] => (*account, *ecr == "ecr-fips", *region, suffix.join(".")),
        [
            account,
            svc @ ("dkr-ecr" | "dkr-ecr-fips"),
            region,
            suffix @ ..,
        ] => (*account, *svc == "dkr-ecr-fips", *region, suffix.join(".")),
        _ => return None,
    };
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let &(_, dual_stack, partitions) = SUFFIXES.iter().find(|(s, _, _)| *s == suffix)?;
    let partition = partition_of(region).filter(|p| partitions.contains(p))?;
    Some(Shape::Private {
        account: account.to_string(),
        region: region.to_string(),
        partition,
        fips,
        dual_stack,
    })
}

/// A directory of this process's own (the fuzzer's process ends with it).
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"))
        .path()
}
