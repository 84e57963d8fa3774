//! Token cache files as the cache decodes them (`ecr_model::cache::decode_entry`): a file of
//! ours yields a token whose life is within `MAX_LIFETIME`, whose key is its scope's, which
//! a step-free clock can only make older, and which the cache writes, reads back unchanged
//! and erases.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ecr_fuzz::scratch_dir;
use ecr_model::cache::{CacheKey, TokenCache, decode_entry};
use ecr_model::clock::{BootStamp, Clock};
use ecr_model::token::MAX_LIFETIME;
use libfuzzer_sys::fuzz_target;

/// A wall clock standing still, with a step-free clock when `boot` is set.
struct Fixed {
    now: SystemTime,
    boot: Option<BootStamp>,
}

impl Clock for Fixed {
    fn now(&self) -> SystemTime {
        self.now
    }
    fn boot_stamp(&self) -> Option<BootStamp> {
        self.boot.clone()
    }
}

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let wall = Fixed { now, boot: None };
    let Some(entry) = decode_entry(data, &wall) else {
        return;
    };
    let token = &entry.token;
    assert!(token.expires_at >= token.received_at);
    assert!(token.lifetime() <= MAX_LIFETIME);
    assert_eq!(entry.key, CacheKey::for_scope(&entry.scope));
    assert_eq!(entry.key.is_login(), entry.scope.is_login());

    // The same boot, far later by the step-free clock: never younger, never longer-lived.
    let booted = Fixed {
        now,
        boot: Some(BootStamp {
            boot_id: "fuzz".into(),
            since_boot_ms: 1 << 40,
        }),
    };
    let aged = decode_entry(data, &booted)
        .expect("decodes on any clock")
        .token;
    assert_eq!(aged.password, token.password);
    assert!(aged.received_at <= token.received_at);
    assert!(aged.expires_at <= token.expires_at);
    assert!(aged.lifetime() <= MAX_LIFETIME);

    // Written by the cache and read back: the same token under the same key.
    let cache = TokenCache::new(scratch_dir().join("tokens"));
    cache
        .store(&entry.scope, token, &wall)
        .expect("a decoded entry can be stored");
    assert_eq!(cache.load(&entry.key, &wall).as_ref(), Some(token));
    let erased = cache
        .erase_where(&wall, |scope| scope == &entry.scope)
        .expect("the entry can be erased");
    assert_eq!(erased, 1);
    assert_eq!(cache.load(&entry.key, &wall), None);
});
