//! Property tests of the host parser (`Registry::parse`): generated hosts of every accepted
//! shape parse to the account, region, partition and endpoint they spell; every spelling docker
//! or a user may send (case, scheme, userinfo, port, path, trailing dot, whitespace) normalises to
//! the same registry; and generated near misses (look-alike suffixes, extra labels, accounts of
//! another length, regions of another partition, non-ASCII letters) are refused.

use ecr_model::registry::Registry;
use proptest::prelude::*;

/// A region prefix and the partition it belongs to.
type Prefix = (&'static str, &'static str);

/// Each private suffix, whether it is dual-stack, and the region prefixes it serves.
const SUFFIXES: &[(&str, bool, &[Prefix])] = &[
    ("amazonaws.com", false, AWS_AND_GOV),
    ("amazonaws.com.cn", false, &[("cn", "aws-cn")]),
    ("amazonaws.eu", false, &[("eusc-de", "aws-eusc")]),
    ("c2s.ic.gov", false, &[("us-iso", "aws-iso")]),
    ("sc2s.sgov.gov", false, &[("us-isob", "aws-iso-b")]),
    ("cloud.adc-e.uk", false, &[("eu-isoe", "aws-iso-e")]),
    ("csp.hci.ic.gov", false, &[("us-isof", "aws-iso-f")]),
    ("on.aws", true, AWS_AND_GOV),
    ("on.amazonwebservices.com.cn", true, &[("cn", "aws-cn")]),
];

const AWS_AND_GOV: &[Prefix] = &[
    ("us", "aws"),
    ("eu", "aws"),
    ("ap", "aws"),
    ("sa", "aws"),
    ("ca", "aws"),
    ("me", "aws"),
    ("af", "aws"),
    ("il", "aws"),
    ("mx", "aws"),
    ("us-gov", "aws-us-gov"),
];

/// Every region prefix with its partition.
const ALL_PREFIXES: &[Prefix] = &[
    ("us", "aws"),
    ("ap", "aws"),
    ("us-gov", "aws-us-gov"),
    ("cn", "aws-cn"),
    ("eusc-de", "aws-eusc"),
    ("us-iso", "aws-iso"),
    ("us-isob", "aws-iso-b"),
    ("eu-isoe", "aws-iso-e"),
    ("us-isof", "aws-iso-f"),
];

/// A canonical private host and what it must parse to.
#[derive(Debug, Clone)]
struct Host {
    host: String,
    account: String,
    region: String,
    partition: &'static str,
    fips: bool,
    dual_stack: bool,
    suffix: &'static str,
}

/// Words that are not an endpoint's: `gov`, `iso`, `isob`, ... would make another prefix.
fn word() -> impl Strategy<Value = String> {
    "[a-z]{2,10}".prop_filter("not a partition word", |w| {
        !matches!(w.as_str(), "gov" | "iso" | "isob" | "isof" | "isoe" | "de")
    })
}

fn private_host() -> impl Strategy<Value = Host> {
    (
        "[0-9]{12}",
        0..4usize,
        proptest::sample::select(SUFFIXES),
        any::<prop::sample::Index>(),
        word(),
        0..40u32,
    )
        .prop_map(
            |(account, service, (suffix, dual_stack, prefixes), pick, word, number)| {
                let (prefix, partition) = prefixes[pick.index(prefixes.len())];
                let region = format!("{prefix}-{word}-{number}");
                let (service, fips) = [
                    ("dkr.ecr", false),
                    ("dkr-ecr", false),
                    ("dkr.ecr-fips", true),
                    ("dkr-ecr-fips", true),
                ][service];
                Host {
                    host: format!("{account}.{service}.{region}.{suffix}"),
                    account,
                    region,
                    partition,
                    fips,
                    dual_stack,
                    suffix,
                }
            },
        )
}

/// `text` with the letters at the chosen positions upper-cased.
fn recase(text: &str, upper: &[bool]) -> String {
    text.chars()
        .zip(upper.iter().cycle())
        .map(|(c, &up)| if up { c.to_ascii_uppercase() } else { c })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_private_shape_parses_to_what_it_spells(h in private_host()) {
        let registry = Registry::parse(&h.host).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Registry::Private(private) = &registry else {
            return Err(TestCaseError::fail("parsed as public"));
        };
        prop_assert_eq!(private.host(), h.host.as_str());
        prop_assert_eq!(private.account_id(), h.account.as_str());
        prop_assert_eq!(private.region(), h.region.as_str());
        prop_assert_eq!(registry.api_region(), h.region.as_str());
        prop_assert_eq!(private.partition().id(), h.partition);
        prop_assert_eq!(registry.uses_fips(), h.fips);
        prop_assert_eq!(registry.uses_dual_stack(), h.dual_stack);
        prop_assert!(!registry.is_public());
    }

    #[test]
    fn every_spelling_normalises_to_the_same_registry(
        h in private_host(),
        upper in prop::collection::vec(any::<bool>(), 1..16),
        scheme in proptest::sample::select(&["", "https://", "http://", "HTTPS://", "oci+https://"][..]),
        userinfo in proptest::sample::select(&["", "AWS@", "user:pw@", "a@b@"][..]),
        port in proptest::option::of(any::<u16>()),
        dot in any::<bool>(),
        path in proptest::sample::select(&["", "/", "/v2/", "/team/app:1.0", "?x=1", "#f", "/v2/?q=evil.example"][..]),
        space in proptest::sample::select(&["", " ", "\n", "\r\n", "\t"][..]),
    ) {
        let canonical = Registry::parse(&h.host).unwrap();
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let dot = if dot { "." } else { "" };
        let host = recase(&h.host, &upper);
        let spelled = format!("{space}{scheme}{userinfo}{host}{dot}{port}{path}{space}");
        prop_assert_eq!(Registry::parse(&spelled), Ok(canonical.clone()), "{:?}", spelled);
        prop_assert_eq!(Registry::parse(canonical.host()), Ok(canonical));
    }

    #[test]
    fn public_spellings_normalise(
        which in 0..2usize,
        upper in prop::collection::vec(any::<bool>(), 1..8),
        scheme in proptest::sample::select(&["", "https://"][..]),
        path in proptest::sample::select(&["", "/v2/", "/nginx/nginx:latest"][..]),
    ) {
        let host = ["public.ecr.aws", "ecr-public.aws.com"][which];
        let registry = Registry::parse(&format!("{scheme}{}{path}", recase(host, &upper))).unwrap();
        prop_assert!(registry.is_public());
        prop_assert_eq!(registry.host(), host);
        prop_assert_eq!(registry.api_region(), "us-east-1");
    }

    #[test]
    fn look_alike_suffixes_and_extra_labels_are_refused(
        h in private_host(),
        label in "[a-z0-9]{1,12}",
        glue in proptest::sample::select(&[".", "-", ""][..]),
    ) {
        for look_alike in [
            format!("{}{glue}{label}", h.host),
            format!("{label}{glue}{}", h.host),
            format!("{label}.example/{}", h.host),
            format!("https://{}@{label}.example", h.host),
            format!("https://{label}.example/{}", h.host),
        ] {
            prop_assert!(Registry::parse(&look_alike).is_err(), "{:?} accepted", look_alike);
        }
        // A label of the suffix changed by one letter.
        let mangled = h.host.replace(h.suffix, &format!("{}{label}", h.suffix));
        prop_assert!(Registry::parse(&mangled).is_err(), "{:?} accepted", mangled);
    }

    #[test]
    fn accounts_of_another_length_or_with_letters_are_refused(
        h in private_host(),
        account in "[0-9]{0,20}".prop_filter("not 12 digits", |a| a.len() != 12),
        at in 0..12usize,
        letter in "[a-z_]",
    ) {
        let rest = &h.host[12..];
        let wrong_length = format!("{account}{rest}");
        prop_assert!(Registry::parse(&wrong_length).is_err(), "{:?} accepted", wrong_length);
        let mut lettered = h.account.clone();
        lettered.replace_range(at..at + 1, &letter);
        let lettered = format!("{lettered}{rest}");
        prop_assert!(Registry::parse(&lettered).is_err(), "{:?} accepted", lettered);
    }

    #[test]
    fn regions_of_another_partition_are_refused(
        h in private_host(),
        (prefix, partition) in proptest::sample::select(ALL_PREFIXES),
    ) {
        let served = SUFFIXES
            .iter()
            .find(|(s, _, _)| *s == h.suffix)
            .unwrap()
            .2
            .iter()
            .any(|(_, p)| *p == partition);
        let region = format!("{prefix}-{}-1", "west");
        let host = h.host.replace(&format!(".{}.", h.region), &format!(".{region}."));
        prop_assert_eq!(Registry::parse(&host).is_ok(), served, "{:?}", host);
    }

    #[test]
    fn non_ascii_anywhere_is_refused(
        h in private_host(),
        at in any::<prop::sample::Index>(),
        c in proptest::sample::select(&['ο', 'с', '。', '\u{200b}', '１', 'é', 'ı', '\u{212a}'][..]),
        replace in any::<bool>(),
    ) {
        let at = at.index(h.host.len());
        let mut host = h.host.clone();
        if replace {
            host.replace_range(at..at + 1, &c.to_string());
        } else {
            host.insert(at, c);
        }
        prop_assert!(Registry::parse(&host).is_err(), "{:?} accepted", host);
    }
}
