//! `Registry::parse` and `RegistryMatch::parse` on arbitrary text: never a panic, and every
//! accepted address names exactly the registry the oracle (`ecr_fuzz::shape_of`) reads in its
//! canonical host, which parses back to itself; look-alikes built from it are refused.
#![no_main]

use ecr_fuzz::{Shape, shape_of};
use ecr_model::bindings::RegistryMatch;
use ecr_model::registry::Registry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    check_registry(&input);
    check_match(&input);
});

fn check_registry(input: &str) {
    let parsed = Registry::parse(input);
    // A canonical host the oracle accepts is accepted as it is.
    if let Some(shape) = shape_of(input) {
        let registry = parsed
            .as_ref()
            .unwrap_or_else(|e| panic!("{input:?} refused: {e}"));
        assert_eq!(registry.host(), input);
        assert_eq!(shape_of(registry.host()), Some(shape));
    }
    let Ok(registry) = parsed else {
        return;
    };
    let host = registry.host();
    let shape = shape_of(host).unwrap_or_else(|| panic!("{input:?} accepted as {host:?}"));
    assert!(
        input.to_ascii_lowercase().contains(host),
        "{host:?} is not in {input:?}"
    );
    match (&registry, &shape) {
        (Registry::Public(_), Shape::Public) => {
            assert!(!registry.uses_fips() && !registry.uses_dual_stack());
            assert_eq!(registry.api_region(), "us-east-1");
            assert_eq!(registry.cache_id(), "public");
        }
        (
            Registry::Private(private),
            Shape::Private {
                account,
                region,
                partition,
                fips,
                dual_stack,
            },
        ) => {
            assert_eq!(private.account_id(), account);
            assert_eq!(private.region(), region);
            assert_eq!(registry.api_region(), region);
            assert_eq!(private.partition().id(), *partition);
            assert_eq!(private.uses_fips(), *fips);
            assert_eq!(private.uses_dual_stack(), *dual_stack);
            let mut id = format!("private:{account}:{region}");
            if *fips {
                id.push_str(":fips");
            }
            if *dual_stack {
                id.push_str(":dualstack");
            }
            assert_eq!(registry.cache_id(), id);
        }
        _ => panic!("{input:?}: {registry:?} is not {shape:?}"),
    }
    // The canonical host, and its other spellings, parse back to the same registry.
    for spelling in [
        host.to_string(),
        host.to_ascii_uppercase(),
        format!("https://{host}/v2/"),
        format!("{host}.:443"),
        format!(" AWS@{host}\n"),
    ] {
        assert_eq!(
            Registry::parse(&spelling).as_ref(),
            Ok(&registry),
            "{spelling:?}"
        );
    }
    // Look-alikes around it are not.
    for look_alike in [
        format!("{host}.evil.example"),
        format!("{host}-evil.example"),
        format!("x{host}"),
        format!("evil.{host}"),
        format!("evil.example/{host}"),
        format!("https://{host}@evil.example"),
        format!("{host}\u{200b}"),
    ] {
        assert!(
            Registry::parse(&look_alike).is_err(),
            "{look_alike:?} accepted"
        );
    }
}

fn check_match(input: &str) {
    let Ok(matched) = RegistryMatch::parse(input) else {
        return;
    };
    // What a binding stores parses back to the same thing.
    assert_eq!(
        RegistryMatch::parse(matched.as_str()).as_ref(),
        Ok(&matched)
    );
    match &matched {
        RegistryMatch::Host(host) => {
            let registry = Registry::parse(host).expect("a stored host parses");
            assert_eq!(registry.host(), host);
            assert!(matched.matches(&registry));
            assert_eq!(matched.sample(None).as_ref(), Some(&registry));
        }
        RegistryMatch::AnyRegion(pattern) => {
            assert_eq!(pattern.matches('*').count(), 1, "{pattern:?}");
            // The pattern serves the registry it is verified with, and that registry's host is
            // the pattern with the region in place of `*`.
            let sample = matched
                .sample(None)
                .unwrap_or_else(|| panic!("{pattern:?} has no sample registry"));
            assert!(!sample.is_public());
            assert_eq!(pattern.replacen('*', sample.api_region(), 1), sample.host());
            assert!(
                matched.matches(&sample),
                "{pattern:?} does not match {sample:?}"
            );
        }
    }
}
