//! Routing registries in a container client's config file (`ClientConfig::route` and
//! `unroute`) whatever the file holds. The first input byte picks the edit, the client and the
//! hosts; the rest is the file (`config.json`). Either the edit is refused and the file is
//! byte-for-byte what it was, with no backup, or the file is a JSON object where every other
//! key and value survived in order, the routed hosts are routed and nothing else changed.
#![no_main]

use std::fs;
use std::path::Path;

use ecr_fuzz::scratch_dir;
use ecr_model::client_config::{ClientConfig, ClientKind, canonical_hosts};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// Spellings of registries the edits name (two spell the same registry as others do).
const HOSTS: &[&str] = &[
    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "https://123456789012.DKR.ECR.us-east-1.amazonaws.com/v2/",
    "123456789012.dkr-ecr.eu-west-1.on.aws",
    "public.ecr.aws:443",
    "210987654321.dkr.ecr-fips.cn-north-1.amazonaws.com.cn",
];

const HELPER: &str = "ecr";
const CRED_HELPERS: &str = "credHelpers";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let unroute = flags & 1 == 1;
    let absent = flags & 2 == 2;
    let kind = match (flags >> 2) & 3 {
        0 => ClientKind::Docker,
        1 => ClientKind::Containers,
        _ => ClientKind::Helm,
    };
    let hosts: Vec<String> = HOSTS
        .iter()
        .enumerate()
        .filter(|(i, _)| (flags >> 3) & (1 << i) != 0)
        .map(|(_, h)| h.to_string())
        .collect();
    let canonical = canonical_hosts(&hosts).expect("valid hosts");

    let dir = scratch_dir();
    let path = dir.join("config.json");
    let config = ClientConfig::new(kind, &path);
    let _ = fs::remove_file(&path);
    let _ = fs::remove_file(config.backup_path());
    if !absent {
        fs::write(&path, body).expect("write the input");
    }
    let before = (!absent).then(|| body.to_vec());
    // What a JSON parser makes of the file: `Some` when the edit may go ahead.
    let original: Option<Map<String, Value>> = match &before {
        None => Some(Map::new()),
        Some(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Some(Map::new()),
        Some(bytes) => serde_json::from_slice::<Value>(bytes)
            .ok()
            .and_then(|v| v.as_object().cloned())
            .filter(|root| root.get(CRED_HELPERS).is_none_or(Value::is_object)),
    };
    let original_helpers = original
        .as_ref()
        .and_then(|root| root.get(CRED_HELPERS))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();

    let outcome = if unroute {
        config.unroute(&hosts, HELPER).map(|removed| {
            let expected: Vec<String> = if absent {
                Vec::new()
            } else {
                canonical
                    .iter()
                    .filter(|h| original_helpers.get(*h).and_then(Value::as_str) == Some(HELPER))
                    .cloned()
                    .collect()
            };
            assert_eq!(removed, expected);
            !removed.is_empty()
        })
    } else {
        config.route(&hosts, HELPER).map(|report| {
            let mut seen: Vec<&String> = report
                .added
                .iter()
                .chain(&report.unchanged)
                .chain(report.replaced.iter().map(|(h, _)| h))
                .collect();
            seen.sort();
            let mut want: Vec<&String> = canonical.iter().collect();
            want.sort();
            assert_eq!(seen, want, "every host is reported once");
            for host in &report.unchanged {
                assert_eq!(original_helpers[host], HELPER);
            }
            for host in &report.added {
                assert!(!original_helpers.contains_key(host));
            }
            report.changed()
        })
    };

    let Ok(changed) = outcome else {
        assert!(original.is_none(), "{outcome:?} for a usable file");
        assert_eq!(
            read(&path),
            before,
            "a refused edit leaves the file as it was"
        );
        assert!(
            !config.backup_path().exists(),
            "a refused edit makes no backup"
        );
        return;
    };
    let original = original.expect("the edit went ahead on a usable file");
    if !changed {
        assert_eq!(
            read(&path),
            before,
            "an edit that changes nothing writes nothing"
        );
        assert!(!config.backup_path().exists());
        return;
    }
    if let Some(before) = &before {
        assert_eq!(
            read(&config.backup_path()).as_ref(),
            Some(before),
            "backed up first"
        );
    }
    let after: Map<String, Value> =
        serde_json::from_slice(&read(&path).expect("written")).expect("the file is a JSON object");
    // Every other key keeps its value and its place.
    let others = |root: &Map<String, Value>| {
        root.iter()
            .filter(|(k, _)| *k != CRED_HELPERS)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&after), others(&original));
    let helpers = after[CRED_HELPERS]
        .as_object()
        .expect("credHelpers is an object");
    for (host, value) in &original_helpers {
        if !canonical.contains(host) {
            assert_eq!(helpers.get(host), Some(value), "{host} kept");
        }
    }
    for host in &canonical {
        if unroute {
            assert!(helpers.get(host).and_then(Value::as_str) != Some(HELPER));
        } else {
            assert_eq!(helpers[host], HELPER, "{host} routed");
        }
    }
    let routed = config.routed(&hosts, HELPER).expect("reads back");
    assert_eq!(
        routed,
        if unroute {
            Vec::new()
        } else {
            canonical.clone()
        }
    );
});

fn read(path: &Path) -> Option<Vec<u8>> {
    fs::read(path).ok()
}
