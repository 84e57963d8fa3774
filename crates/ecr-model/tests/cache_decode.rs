//! `cache::decode_entry`, the cache's reading of one file's bytes (used by the fuzz targets),
//! reads what `TokenCache` writes exactly as `TokenCache::entries` does, and refuses what it
//! leaves out.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ecr_model::cache::{CacheKey, TokenCache, decode_entry};
use ecr_model::clock::Clock;
use ecr_model::registry::Registry;
use ecr_model::secret::Secret;
use ecr_model::source::TokenScope;
use ecr_model::token::Token;

struct Still;

impl Clock for Still {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }
}

fn stored_file(dir: &std::path::Path, host: &str) -> (TokenScope, Token, PathBuf) {
    let scope = TokenScope::from(Registry::parse(host).unwrap(), &|_| None);
    let token = Token::lasting(Secret::new("pw"), Still.now(), Duration::from_secs(3600));
    let cache = TokenCache::new(dir);
    cache.store(&scope, &token, &Still).unwrap();
    let file = fs::read_dir(dir.join("shared"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .unwrap();
    (scope, token, file)
}

#[test]
fn a_written_file_decodes_to_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (scope, token, file) =
        stored_file(dir.path(), "123456789012.dkr.ecr.us-east-1.amazonaws.com");
    let entry = decode_entry(&fs::read(&file).unwrap(), &Still).expect("decodes");
    assert_eq!(entry.scope, scope);
    assert_eq!(entry.token, token);
    assert_eq!(entry.key, CacheKey::for_scope(&scope));
}

#[test]
fn junk_other_formats_and_foreign_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, _, file) = stored_file(dir.path(), "123456789012.dkr.ecr.us-east-1.amazonaws.com");
    let text = fs::read_to_string(&file).unwrap();
    assert!(decode_entry(b"{not json", &Still).is_none());
    assert!(decode_entry(b"", &Still).is_none());
    let other_format = text.replace(
        "docker-credential-ecr/token/v3",
        "docker-credential-ecr/token/v2",
    );
    assert!(decode_entry(other_format.as_bytes(), &Still).is_none());
    // The key names the scope; one edited to another region is not this scope's entry.
    let (head, tail) = text.split_once(",\"scope\"").unwrap();
    let foreign_key = format!("{},\"scope\"{tail}", head.replace("us-east-1", "eu-west-1"));
    assert!(decode_entry(foreign_key.as_bytes(), &Still).is_none());
    assert!(decode_entry(text.as_bytes(), &Still).is_some());
}
