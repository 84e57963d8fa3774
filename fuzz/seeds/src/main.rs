//! Writes the seed corpus of the fuzz targets (`fuzz/corpus/<target>/`) by running the real
//! code: registry addresses checked against `Registry::parse`, `store` requests as docker sends
//! them, product configs written by `ConfigFile::update`, token cache files written by
//! `TokenCache::store`, and container client configs as docker, podman and Helm leave them,
//! before and after `ClientConfig::route`.
//!
//! Usage: `cargo run --manifest-path fuzz/Cargo.toml -p ecr-fuzz-seeds -- fuzz/corpus`

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ecr_model::bindings::{Binding, BoundSource, RegistryMatch};
use ecr_model::cache::TokenCache;
use ecr_model::client_config::{ClientConfig, ClientKind};
use ecr_model::clock::{BootStamp, Clock, SystemClock};
use ecr_model::config::{ConfigFile, KeySetConfig, RoleConfig, SecretLocation};
use ecr_model::helper_protocol::parse_store_request;
use ecr_model::registry::Registry;
use ecr_model::secret::Secret;
use ecr_model::source::TokenScope;
use ecr_model::token::Token;

/// Addresses of every shape the parser accepts, as docker, `docker login` and users write them.
const ACCEPTED: &[&str] = &[
    "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "123456789012.dkr.ecr.eu-west-3.amazonaws.com",
    "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
    "123456789012.dkr-ecr.us-west-2.amazonaws.com",
    "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
    "123456789012.dkr-ecr-fips.us-gov-east-1.amazonaws.com",
    "123456789012.dkr-ecr.us-east-1.on.aws",
    "123456789012.dkr-ecr-fips.us-east-2.on.aws",
    "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
    "123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn",
    "123456789012.dkr.ecr.eusc-de-east-1.amazonaws.eu",
    "123456789012.dkr.ecr.us-iso-east-1.c2s.ic.gov",
    "123456789012.dkr-ecr-fips.us-isob-east-1.sc2s.sgov.gov",
    "123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk",
    "123456789012.dkr.ecr.us-isof-south-1.csp.hci.ic.gov",
    "public.ecr.aws",
    "ecr-public.aws.com",
    "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com:443/v2/",
    "HTTPS://AWS@123456789012.DKR.ECR.AP-SOUTHEAST-2.AMAZONAWS.COM./v2/repo?x=1#f",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:latest",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com\n",
    "https://public.ecr.aws/v2/",
];

/// Near misses, each refused for another reason.
const REFUSED: &[&str] = &[
    "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
    "https://evil.example/123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "https://123456789012.dkr.ecr.us-east-1.amazonaws.com@evil.example",
    "1234567890123.dkr.ecr.us-east-1.amazonaws.com",
    "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com:99999",
    "[::1]:443",
    "123456789012.dkr.ecr.us-east-1.amazonaws.cοm",
];

/// Binding patterns and hosts as `add --registry` takes them.
const PATTERNS: &[&str] = &[
    "123456789012.dkr.ecr.*.amazonaws.com",
    "123456789012.dkr-ecr-fips.*.on.aws",
    "123456789012.dkr.ecr.*.amazonaws.com.cn",
];

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    hosts(&out.join("host"));
    store_requests(&out.join("store_request"));
    product_configs(&out.join("product_config"));
    cache_records(&out.join("cache_record"));
    client_configs(&out.join("client_config_edit"));
}

/// Writes `bytes` as seed `name` of one target.
fn seed(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("corpus dir");
    fs::write(dir.join(name), bytes).expect("seed");
}

fn hosts(dir: &Path) {
    for (i, input) in ACCEPTED.iter().enumerate() {
        Registry::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        seed(dir, &format!("accepted-{i:02}"), input.as_bytes());
    }
    for (i, input) in REFUSED.iter().enumerate() {
        assert!(Registry::parse(input).is_err(), "{input:?}");
        seed(dir, &format!("refused-{i:02}"), input.as_bytes());
    }
    for (i, pattern) in PATTERNS.iter().enumerate() {
        assert!(RegistryMatch::parse(pattern).unwrap().is_pattern());
        seed(dir, &format!("pattern-{i:02}"), pattern.as_bytes());
    }
}

fn store_requests(dir: &Path) {
    let password = token_password();
    let requests = [
        serde_json::json!({"ServerURL": ACCEPTED[0], "Username": "AWS", "Secret": password}),
        serde_json::json!({"ServerURL": "https://public.ecr.aws", "Username": "AWS", "Secret": "x"}),
        serde_json::json!({"Username": "AWS", "Secret": "x", "ServerURL": ACCEPTED[6]}),
    ];
    for (i, request) in requests.iter().enumerate() {
        let text = request.to_string();
        parse_store_request(&text).expect("docker's request parses");
        seed(dir, &format!("request-{i:02}"), text.as_bytes());
    }
    seed(dir, "address", format!("{}\n", ACCEPTED[0]).as_bytes());
    seed(
        dir,
        "truncated",
        br#"{"ServerURL":"h","Username":"AWS","Secret""#,
    );
}

fn product_configs(dir: &Path) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let file = ConfigFile::new(scratch.path().join("config.json"));
    let mut step = 0;
    let mut snapshot = |name: &str| {
        step += 1;
        seed(
            dir,
            &format!("{step:02}-{name}"),
            &fs::read(file.path()).expect("config"),
        );
    };
    update(&file, |c| {
        c.key_sets
            .insert("acme".into(), key_set(None, SecretLocation::Keychain));
        c.bindings
            .push(bind(PATTERNS[0], BoundSource::KeySet("acme".into())));
    });
    snapshot("key-set-and-pattern");
    update(&file, |c| {
        let role = RoleConfig {
            arn: "arn:aws:iam::123456789012:role/pull".into(),
            external_id: Some("x-1".into()),
            session_name: Some("ci".into()),
            duration_secs: Some(3600),
        };
        c.key_sets
            .insert("ci".into(), key_set(Some(role), SecretLocation::File));
        c.bindings
            .push(bind(ACCEPTED[1], BoundSource::KeySet("ci".into())));
        c.bindings
            .push(bind(ACCEPTED[8], BoundSource::Profile("china".into())));
        c.bindings
            .push(bind(ACCEPTED[15], BoundSource::DefaultChain));
        c.refresh_margin = Some("30m".into());
    });
    snapshot("roles-profiles-public");
    update(&file, |c| {
        c.other.insert(
            "future_key".into(),
            serde_json::json!({"x": [1, 2.5, null]}),
        );
        c.bindings
            .push(bind(PATTERNS[1], BoundSource::KeySet("missing".into())));
    });
    snapshot("unknown-key-and-missing-set");
}

fn update(file: &ConfigFile, change: impl FnOnce(&mut ecr_model::config::ProductConfig)) {
    file.update(|c| {
        change(c);
        Ok::<_, ()>(())
    })
    .expect("write")
    .expect("change");
}

fn key_set(role: Option<RoleConfig>, secret_location: SecretLocation) -> KeySetConfig {
    KeySetConfig {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_location,
        role,
        created: 1_800_000_000,
    }
}

fn bind(registry: &str, source: BoundSource) -> Binding {
    Binding {
        registry: RegistryMatch::parse(registry).expect("a binding"),
        source,
    }
}

/// A step-free clock of a boot the fuzz target knows (`fuzz`), and a wall clock.
struct SeedClock;

impl Clock for SeedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }
    fn boot_stamp(&self) -> Option<BootStamp> {
        Some(BootStamp {
            boot_id: "fuzz".into(),
            since_boot_ms: 5_000_000,
        })
    }
}

fn cache_records(dir: &Path) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let config_file = ConfigFile::new(scratch.path().join("config.json"));
    update(&config_file, |c| {
        let role = RoleConfig {
            arn: "arn:aws:iam::123456789012:role/pull".into(),
            external_id: None,
            session_name: None,
            duration_secs: None,
        };
        c.key_sets
            .insert("acme".into(), key_set(Some(role), SecretLocation::Keychain));
        c.bindings
            .push(bind(PATTERNS[0], BoundSource::KeySet("acme".into())));
        c.bindings
            .push(bind(ACCEPTED[8], BoundSource::Profile("china".into())));
    });
    let config = config_file.load().expect("config");
    let env_of = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    };
    let aws_files: &[(&str, &str)] = &[
        ("AWS_PROFILE", "work"),
        ("AWS_CONFIG_FILE", "/home/u/.aws/config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/home/u/.aws/credentials"),
    ];
    let endpoints: &[(&str, &str)] = &[
        ("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:4566"),
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4567"),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    ];
    let registry = |host: &str| Registry::parse(host).expect("registry");
    let scopes = [
        TokenScope::from(registry(ACCEPTED[0]), &|_| None),
        TokenScope::from(registry(ACCEPTED[6]), &env_of(aws_files)),
        TokenScope::from(registry(ACCEPTED[15]), &env_of(endpoints)),
        TokenScope::resolve(registry(ACCEPTED[2]), &config, &env_of(endpoints)).expect("key set"),
        TokenScope::resolve(registry(ACCEPTED[8]), &config, &env_of(aws_files)).expect("profile"),
        TokenScope::stored(registry(ACCEPTED[13])),
    ];
    let cache = TokenCache::new(scratch.path().join("tokens"));
    let password = token_password();
    for (i, scope) in scopes.iter().enumerate() {
        let clock: &dyn Clock = if i % 2 == 0 { &SeedClock } else { &SystemClock };
        let received_at = clock.now();
        let token = Token::lasting(
            Secret::new(&password),
            received_at,
            Duration::from_secs(43_200),
        );
        cache.store(scope, &token, clock).expect("store");
        let entry = cache
            .entries(clock)
            .into_iter()
            .find(|e| &e.scope == scope)
            .expect("listed");
        // The entry's directory holds this one token file (erased after it is copied).
        let dir_name = if entry.key.is_login() { "login" } else { "shared" };
        let path = fs::read_dir(scratch.path().join("tokens").join(dir_name))
            .expect("entry dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "json"))
            .expect("the entry's file");
        seed(
            dir,
            &format!("record-{i:02}"),
            &fs::read(&path).expect("record"),
        );
        let erased = cache
            .erase_where(clock, |s| s == scope)
            .expect("erase");
        assert_eq!(erased, 1);
    }
}

/// The first input byte of `client_config_edit`: the edit, absence, the client, the hosts.
fn flags(unroute: bool, absent: bool, kind: u8, hosts: u8) -> u8 {
    u8::from(unroute) | (u8::from(absent) << 1) | (kind << 2) | (hosts << 3)
}

fn client_configs(dir: &Path) {
    // As `docker login`, Docker Desktop, podman and Helm leave them (tab-indented, as they write).
    let bodies: &[(&str, u8, &str)] = &[
        (
            "docker-login",
            0,
            "{\n\t\"auths\": {\n\t\t\"https://index.docker.io/v1/\": {\n\t\t\t\"auth\": \"dXNlcjpwYXNz\"\n\t\t}\n\t}\n}",
        ),
        (
            "docker-desktop",
            0,
            "{\n\t\"auths\": {\n\t\t\"123456789012.dkr.ecr.us-east-1.amazonaws.com\": {}\n\t},\n\t\"credsStore\": \"desktop\",\n\t\"currentContext\": \"desktop-linux\"\n}",
        ),
        (
            "cred-helpers",
            0,
            "{\n\t\"credHelpers\": {\n\t\t\"gcr.io\": \"gcloud\",\n\t\t\"123456789012.dkr.ecr.us-east-1.amazonaws.com\": \"ecr-login\",\n\t\t\"public.ecr.aws\": \"ecr\"\n\t},\n\t\"proxies\": {\n\t\t\"default\": {\n\t\t\t\"httpProxy\": \"http://proxy:3128\"\n\t\t}\n\t}\n}",
        ),
        (
            "podman-auth",
            1,
            "{\n\t\"auths\": {\n\t\t\"123456789012.dkr.ecr.us-east-1.amazonaws.com\": {\n\t\t\t\"auth\": \"QVdTOng=\"\n\t\t}\n\t}\n}",
        ),
        (
            "helm-registry",
            2,
            "{\"auths\":{\"ghcr.io\":{\"auth\":\"dXNlcjpwYXNz\"}}}",
        ),
        ("empty", 0, ""),
        ("broken", 0, "{\"credHelpers\": {"),
        ("not-object", 0, "[]"),
        ("helpers-array", 0, "{\"credHelpers\": [\"ecr\"]}"),
    ];
    let scratch = tempfile::tempdir().expect("temp dir");
    for (i, (name, kind, body)) in bodies.iter().enumerate() {
        let all = 0b11111;
        for (edit, unroute) in [("route", false), ("unroute", true)] {
            let mut bytes = vec![flags(unroute, false, *kind, all)];
            bytes.extend_from_slice(body.as_bytes());
            seed(dir, &format!("{i:02}-{name}-{edit}"), &bytes);
        }
        // After a real route: the shape unroute meets.
        let path = scratch.path().join(format!("{name}.json"));
        fs::write(&path, body).expect("body");
        let client = ClientConfig::new(client_kind(*kind), &path);
        let hosts: Vec<String> = ACCEPTED[..3].iter().map(|h| h.to_string()).collect();
        if client.route(&hosts, "ecr").is_ok() {
            let mut bytes = vec![flags(true, false, *kind, 0b00111)];
            bytes.extend_from_slice(&fs::read(&path).expect("routed"));
            seed(dir, &format!("{i:02}-{name}-routed-unroute"), &bytes);
        }
    }
    seed(dir, "absent-route", &[flags(false, true, 0, 0b00001)]);
}

fn client_kind(kind: u8) -> ClientKind {
    match kind {
        0 => ClientKind::Docker,
        1 => ClientKind::Containers,
        _ => ClientKind::Helm,
    }
}

/// A password shaped like ECR's: base64 of a JSON payload with an `expiration`.
fn token_password() -> String {
    use base64::Engine;
    let payload = r#"{"payload":"ZmFrZQ==","datakey":"ZmFrZQ==","version":"2","type":"DATA_KEY","expiration":1800043200}"#;
    base64::engine::general_purpose::STANDARD.encode(payload)
}
