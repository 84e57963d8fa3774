//! The product config file (`config.json`) as `ConfigFile` reads and rewrites it: a file it
//! cannot read, or whose bindings do not all parse, is never overwritten; one it reads comes
//! back identical after a rewrite (unknown keys included), a rejected binding keeps what it
//! names from other identities, its bindings parse back to themselves, and looking a
//! registry up never panics and only returns a binding that matches.
#![no_main]

use std::fs;

use ecr_fuzz::scratch_dir;
use ecr_model::bindings::{BoundSource, RegistryMatch};
use ecr_model::config::{ConfigError, ConfigFile};
use ecr_model::registry::Registry;
use ecr_model::source::TokenScope;
use libfuzzer_sys::fuzz_target;

/// Registries looked up in every config the fuzzer makes.
const LOOKED_UP: &[&str] = &[
    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "123456789012.dkr-ecr-fips.us-gov-west-1.on.aws",
    "210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn",
    "public.ecr.aws",
];

fuzz_target!(|data: &[u8]| {
    let path = scratch_dir().join("config.json");
    fs::write(&path, data).expect("write the input");
    let file = ConfigFile::new(&path);
    let config = match file.load() {
        Ok(config) => config,
        Err(ConfigError::Parse { .. }) => {
            let outcome = file.update(|_| Ok::<_, ()>(()));
            assert!(matches!(outcome, Err(ConfigError::Parse { .. })));
            assert_eq!(
                fs::read(&path).expect("read back"),
                data,
                "never overwritten"
            );
            return;
        }
        Err(other) => panic!("{other}"),
    };
    if data.iter().all(u8::is_ascii_whitespace) {
        assert_eq!(config, Default::default());
    }
    for binding in &config.bindings {
        let text = binding.registry.as_str();
        assert_eq!(
            RegistryMatch::parse(text).as_ref(),
            Ok(&binding.registry),
            "{text:?}"
        );
    }
    for host in LOOKED_UP {
        let registry = Registry::parse(host).expect("a registry");
        if let Some(binding) = config.binding_for(&registry) {
            assert!(binding.registry.matches(&registry));
            let unknown = match &binding.source {
                BoundSource::KeySet(name) => !config.key_sets.contains_key(name),
                _ => false,
            };
            let scope = TokenScope::resolve(registry.clone(), &config, &|_| None);
            assert_eq!(scope.is_err(), unknown, "{binding:?}");
            if let Ok(scope) = scope {
                assert_eq!(scope.registry, registry);
            }
        }
    }
    for rejected in &config.rejected_bindings {
        // What a rejected entry names is kept from every other identity.
        if let Some(named) = &rejected.registry
            && let Some(sample) = named.sample(Some("us-east-1"))
            && config.binding_for(&sample).is_none()
        {
            assert!(config.rejected_binding_for(&sample).is_some(), "{rejected}");
        }
    }
    if !config.rejected_bindings.is_empty() {
        // A file with entries that did not parse is never rewritten: that would drop them.
        let outcome = file.update(|_| Ok::<_, ()>(()));
        assert!(matches!(outcome, Err(ConfigError::Unparsed { .. })));
        assert_eq!(fs::read(&path).expect("read back"), data, "never overwritten");
        return;
    }
    // A rewrite (what `add`, `remove` and `store` do around their change) keeps every value.
    file.update(|_| Ok::<_, ()>(()))
        .expect("a readable config is writable")
        .expect("no change fails");
    assert_eq!(file.load().expect("reads back"), config);
});
