//! `pull-secret` against the project's fake ECR, compared with kubectl: the `.dockerconfigjson`
//! is the one `kubectl create secret docker-registry --dry-run=client` writes for the same
//! server, username and password; the Secret has kubectl's shape in JSON and in YAML (the YAML
//! read back by kubectl's own parser); registries of two identities get their own entries and
//! one call each; a registry that is not ECR (or a token that cannot be had) leaves stdout
//! empty; and the tokens are fresh: one with less than half its life left is renewed.
//!
//! kubectl comes with the machine image here (google-cloud-cli); without it these tests skip
//! visibly, and under `CI=true` they fail.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, OTHER_ACCESS_KEY_ID, OTHER_SECRET_ACCESS_KEY, Run,
    Sandbox,
};
use serde_json::{Value, json};

/// A password shaped like ECR's (base64 of a JSON payload: letters, digits, `+`, `/`, `=`).
const PASSWORD: &str = "eyJwYXlsb2FkIjoiZXhhbXBsZSIsImRhdGFrZXkiOiJhYmMrLz0ifQ+/0xEXAMPLE==";

/// Another account's registry in the example registry's region (bound to other keys below).
const OTHER_ACCOUNT: &str = "210987654321.dkr.ecr.us-east-1.amazonaws.com";

/// A third account (AWS's other documentation account id), served by the example keys too.
const THIRD_ACCOUNT: &str = "111122223333.dkr.ecr.us-east-1.amazonaws.com";

/// Whether kubectl is missing (then the test says it skips; under CI=true it fails).
fn no_kubectl(test_name: &str) -> bool {
    !ecr_e2e::skip::on_path("kubectl")
        && ecr_e2e::skip::skip(
            test_name,
            "kubectl (/usr/bin/kubectl from google-cloud-cli)",
        )
}

/// Runs kubectl offline, returning its stdout parsed as JSON.
fn kubectl_json(args: &[&str]) -> Value {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("kubectl prints JSON")
}

/// `kubectl create secret docker-registry NAME --docker-server=SERVER --docker-username=AWS
/// --docker-password=PASSWORD [-n NAMESPACE] --dry-run=client -o json`, without the
/// `creationTimestamp: null` kubectl adds to every object it makes.
fn kubectl_secret(name: &str, namespace: Option<&str>, server: &str, password: &str) -> Value {
    let server = format!("--docker-server={server}");
    let password = format!("--docker-password={password}");
    let mut args = vec![
        "create",
        "secret",
        "docker-registry",
        name,
        &server,
        "--docker-username=AWS",
        &password,
        "--dry-run=client",
        "-o",
        "json",
    ];
    if let Some(namespace) = namespace {
        args.extend(["--namespace", namespace]);
    }
    let mut secret = kubectl_json(&args);
    let metadata = secret["metadata"].as_object_mut().expect("metadata");
    assert_eq!(metadata.remove("creationTimestamp"), Some(Value::Null));
    secret
}

/// The object in `file` (JSON or YAML) as kubectl's own decoder reads it: an empty local merge
/// patch, which needs no API server, printed as JSON (a merge patch drops null fields).
fn kubectl_reads(file: &Path) -> Value {
    let file = file.to_str().expect("utf-8 path");
    kubectl_json(&[
        "patch", "--local", "-f", file, "--type", "merge", "-p", "{}", "-o", "json",
    ])
}

/// The decoded `.dockerconfigjson` of a Secret: its bytes, and the document.
fn docker_config_of(secret: &Value) -> (String, Value) {
    let data = secret["data"].as_object().expect("data");
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        [".dockerconfigjson"],
        "{secret}"
    );
    let decoded = STANDARD
        .decode(data[".dockerconfigjson"].as_str().expect("base64 string"))
        .expect("base64");
    let text = String::from_utf8(decoded).expect("utf-8");
    let document = serde_json::from_str(&text).expect("JSON document");
    (text, document)
}

/// Binds [`OTHER_ACCOUNT`] to a key set of its own (`globex`, AWS's second example keys, in the
/// file store), unverified.
fn add_other_keys(sandbox: &Sandbox) {
    sandbox
        .helper()
        .add_keys(
            OTHER_ACCOUNT,
            "globex",
            (OTHER_ACCESS_KEY_ID, OTHER_SECRET_ACCESS_KEY),
            &["--store", "file", "--no-verify"],
        )
        .assert_ok();
}

fn pull_secret(sandbox: &Sandbox, fake: &FakeEcr, args: &[&str]) -> Run {
    let mut all = vec!["pull-secret"];
    all.extend_from_slice(args);
    sandbox.helper().against(&fake.url()).run(&all, b"")
}

/// Asserts a successful run's stderr is its one expiry line and that no password leaked into it
/// or into the log.
fn assert_quiet_about_secrets(run: &Run, sandbox: &Sandbox, password: &str) {
    run.assert_ok();
    assert!(!run.stderr.contains(password), "{run:#?}");
    assert!(!sandbox.log().contains(password), "{}", sandbox.log());
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{run:#?}");
    assert!(lines[0].contains("expires at"), "{run:#?}");
}

#[test]
fn the_dockerconfigjson_is_the_one_kubectl_writes_for_the_same_values() {
    if no_kubectl("pull_secret::the_dockerconfigjson_is_the_one_kubectl_writes_for_the_same_values")
    {
        return;
    }
    let fake = FakeEcr::builder().password(PASSWORD).start().unwrap();
    let sandbox = Sandbox::new();
    let kubectl = kubectl_secret("s", None, EXAMPLE_REGISTRY, PASSWORD);
    let (kubectl_text, kubectl_document) = docker_config_of(&kubectl);
    // A host, or a URL of it, as docker and the other commands accept: the key is the host.
    for given in [
        EXAMPLE_REGISTRY.to_string(),
        format!("https://{EXAMPLE_REGISTRY}/v2/"),
    ] {
        let run = pull_secret(&sandbox, &fake, &["--dockerconfigjson", &given]);
        assert_quiet_about_secrets(&run, &sandbox, PASSWORD);
        let document: Value = serde_json::from_str(&run.stdout).expect("JSON");
        assert_eq!(document, kubectl_document, "{given}");
        assert_eq!(run.stdout, format!("{kubectl_text}\n"), "byte for byte");
    }
    // The Secret's data is then kubectl's to the byte.
    let run = pull_secret(&sandbox, &fake, &[EXAMPLE_REGISTRY]);
    assert_quiet_about_secrets(&run, &sandbox, PASSWORD);
    let secret: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(secret["data"], kubectl["data"]);
    assert_eq!(fake.stats().unwrap().calls, 1, "one token, cached");
}

#[test]
fn the_secret_has_kubectls_shape_in_json_and_yaml() {
    if no_kubectl("pull_secret::the_secret_has_kubectls_shape_in_json_and_yaml") {
        return;
    }
    let fake = FakeEcr::builder().password(PASSWORD).start().unwrap();
    let sandbox = Sandbox::new();
    let placed = [
        "--name",
        "ecr-pull",
        "--namespace",
        "team-a",
        EXAMPLE_REGISTRY,
    ];
    let json_run = pull_secret(&sandbox, &fake, &placed);
    assert_quiet_about_secrets(&json_run, &sandbox, PASSWORD);
    let secret: Value = serde_json::from_str(&json_run.stdout).expect("JSON");
    assert_eq!(
        secret,
        kubectl_secret("ecr-pull", Some("team-a"), EXAMPLE_REGISTRY, PASSWORD)
    );
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let (_, document) = docker_config_of(&secret);
    assert_eq!(
        document["auths"][EXAMPLE_REGISTRY]["password"], PASSWORD,
        "{document}"
    );

    let mut yaml_args = placed.to_vec();
    yaml_args.extend(["-o", "yaml"]);
    let yaml_run = pull_secret(&sandbox, &fake, &yaml_args);
    assert_quiet_about_secrets(&yaml_run, &sandbox, PASSWORD);
    assert!(
        yaml_run.stdout.starts_with("apiVersion: v1\n"),
        "YAML, not JSON: {}",
        yaml_run.stdout
    );
    let yaml_file = sandbox.root().join("secret.yaml");
    std::fs::write(&yaml_file, &yaml_run.stdout).unwrap();
    assert_eq!(kubectl_reads(&yaml_file), secret, "{}", yaml_run.stdout);

    // The defaults: kubectl's shape, named docker-credential-ecr, no namespace at all (not
    // even a null one: checked on the JSON, as kubectl's merge patch drops nulls).
    let plain = pull_secret(&sandbox, &fake, &[EXAMPLE_REGISTRY]);
    plain.assert_ok();
    assert_eq!(
        serde_json::from_str::<Value>(&plain.stdout).expect("JSON"),
        kubectl_secret("docker-credential-ecr", None, EXAMPLE_REGISTRY, PASSWORD)
    );
    let plain = pull_secret(&sandbox, &fake, &["-o", "yaml", EXAMPLE_REGISTRY]);
    plain.assert_ok();
    std::fs::write(&yaml_file, &plain.stdout).unwrap();
    assert_eq!(
        kubectl_reads(&yaml_file),
        kubectl_secret("docker-credential-ecr", None, EXAMPLE_REGISTRY, PASSWORD)
    );
    assert_eq!(fake.stats().unwrap().calls, 1);
}

#[test]
fn registries_of_two_identities_get_their_own_entries_and_one_call_each() {
    let fake = FakeEcr::builder().password(PASSWORD).start().unwrap();
    let sandbox = Sandbox::new();
    // The other account's registry has keys of its own; the rest use the default chain (the
    // example keys in the environment).
    add_other_keys(&sandbox);
    let registries = [
        EXAMPLE_REGISTRY,
        OTHER_ACCOUNT,
        THIRD_ACCOUNT,
        "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/",
    ];
    let mut args = vec!["--dockerconfigjson"];
    args.extend(registries);
    let run = pull_secret(&sandbox, &fake, &args);
    assert_quiet_about_secrets(&run, &sandbox, PASSWORD);
    let document: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let auth = json!({
        "username": "AWS",
        "password": PASSWORD,
        "auth": STANDARD.encode(format!("AWS:{PASSWORD}")),
    });
    assert_eq!(
        document,
        json!({"auths": {EXAMPLE_REGISTRY: auth, OTHER_ACCOUNT: auth, THIRD_ACCOUNT: auth}})
    );
    assert_eq!(fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 1, "shared");
    assert_eq!(fake.calls_by(OTHER_ACCESS_KEY_ID).unwrap(), 1, "its own");
    assert_eq!(fake.stats().unwrap().calls, 2);

    // Again: every token is fresh, so no call at all.
    pull_secret(&sandbox, &fake, &args).assert_ok();
    assert_eq!(fake.stats().unwrap().calls, 2);
}

#[test]
fn a_registry_that_is_not_ecr_or_has_no_token_leaves_stdout_empty() {
    let fake = FakeEcr::builder().password(PASSWORD).start().unwrap();
    let sandbox = Sandbox::new();
    for (args, names) in [
        (&[EXAMPLE_REGISTRY, "ghcr.io"][..], "ghcr.io"),
        (
            &["--dockerconfigjson", "https://example.com/v2/"][..],
            "example.com",
        ),
        (
            &["-o", "yaml", "127.0.0.1:5000", EXAMPLE_REGISTRY][..],
            "127.0.0.1",
        ),
    ] {
        let run = pull_secret(&sandbox, &fake, args);
        assert_ne!(run.code, 0, "{run:#?}");
        assert_eq!(run.stdout, "", "{run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run:#?}");
        assert!(run.stderr.contains(names), "{run:#?}");
        assert!(
            run.stderr.contains("not an Amazon ECR registry"),
            "{run:#?}"
        );
    }
    assert_eq!(fake.stats().unwrap().calls, 0, "refused before any call");

    // The first registry's token comes; the second's keys are refused: nothing is printed.
    fake.set_knobs(&KnobsPatch {
        rejected_keys: Some(vec![OTHER_ACCESS_KEY_ID.to_string()]),
        ..KnobsPatch::default()
    })
    .unwrap();
    add_other_keys(&sandbox);
    let run = pull_secret(&sandbox, &fake, &[EXAMPLE_REGISTRY, OTHER_ACCOUNT]);
    assert_ne!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout, "", "{run:#?}");
    assert!(run.stderr.contains(OTHER_ACCOUNT), "{run:#?}");
    assert!(!run.stderr.contains(PASSWORD), "{run:#?}");
    assert_eq!(fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 1);
}

/// The `password` of `host` in a `--dockerconfigjson` answer.
fn password_of(run: &Run, host: &str) -> String {
    let document: Value = serde_json::from_str(&run.stdout).expect("JSON");
    document["auths"][host]["password"]
        .as_str()
        .expect("password")
        .to_string()
}

/// The expiry time stderr's line names (`... expires at 2026-12-02T04:23:44Z (in ...`).
fn expiry_named(run: &Run) -> SystemTime {
    let at = run
        .stderr
        .split("expires at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no expiry on stderr: {run:#?}"));
    humantime::parse_rfc3339(at).expect("RFC 3339 time")
}

#[test]
fn a_token_with_less_than_half_its_life_left_is_renewed_first() {
    const LIFETIME: u64 = 12 * 3600;
    let fake = FakeEcr::builder()
        .password("first-token")
        .lifetime_secs(LIFETIME)
        .start()
        .unwrap();
    let sandbox = Sandbox::new();
    sandbox
        .helper()
        .against(&fake.url())
        .get(EXAMPLE_REGISTRY)
        .assert_ok();
    fake.set_knobs(&KnobsPatch {
        password: Some("second-token".to_string()),
        ..KnobsPatch::default()
    })
    .unwrap();
    // The wall clock moved by `hours` (faketime: the helper's clock only, not the fake's).
    let pull_secret_at = |hours: u64, registries: &[&str]| {
        let mut args = vec!["pull-secret", "--dockerconfigjson"];
        args.extend_from_slice(registries);
        sandbox
            .helper_under(&["faketime", "-f", &format!("+{}s", hours * 3600)])
            .against(&fake.url())
            .run(&args, b"")
    };

    // 5 of 12 hours spent: the cached token is fresh enough, no call for it; the other
    // account's keys fetch their first token.
    add_other_keys(&sandbox);
    let started = SystemTime::now();
    let early = pull_secret_at(5, &[EXAMPLE_REGISTRY, OTHER_ACCOUNT]);
    assert_quiet_about_secrets(&early, &sandbox, "first-token");
    assert_eq!(password_of(&early, EXAMPLE_REGISTRY), "first-token");
    assert_eq!(password_of(&early, OTHER_ACCOUNT), "second-token");
    assert_eq!(
        fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(),
        1,
        "{}",
        sandbox.log()
    );
    // stderr names the earlier of the two: the cached one, 7 h left (the new one has 12 h).
    assert!(early.stderr.contains(EXAMPLE_REGISTRY), "{early:#?}");
    let expires = expiry_named(&early);
    let faked_now = started + Duration::from_secs(5 * 3600);
    assert!(
        expires >= faked_now + Duration::from_secs(LIFETIME / 2),
        "{early:#?}"
    );
    assert!(
        expires <= faked_now + Duration::from_secs(8 * 3600),
        "{early:#?}"
    );

    // 7 of 12 hours spent: renewed before it goes into the secret.
    let started = SystemTime::now();
    let late = pull_secret_at(7, &[EXAMPLE_REGISTRY]);
    assert_quiet_about_secrets(&late, &sandbox, "second-token");
    assert_eq!(password_of(&late, EXAMPLE_REGISTRY), "second-token");
    assert_eq!(fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 2);
    let faked_now = started + Duration::from_secs(7 * 3600);
    let expires = expiry_named(&late);
    assert!(
        expires >= faked_now + Duration::from_secs(LIFETIME - 60),
        "a whole new token's life: {late:#?}"
    );
}

#[test]
fn a_bad_name_or_namespace_is_refused_before_any_token_is_fetched() {
    let fake = FakeEcr::builder().password(PASSWORD).start().unwrap();
    let sandbox = Sandbox::new();
    for (flag, value) in [("--name", "Not_A_Name"), ("--namespace", "team.a")] {
        let run = pull_secret(&sandbox, &fake, &[EXAMPLE_REGISTRY, flag, value]);
        assert_ne!(run.code, 0, "{run:#?}");
        assert_eq!(run.stdout, "", "{run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
        assert!(run.stderr.contains(value), "{run:#?}");
    }
    assert_eq!(fake.stats().unwrap().calls, 0, "refused before any call");
}
