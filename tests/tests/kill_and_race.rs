//! Every write survives its writer being killed and its neighbours writing at once.
//!
//! - Parallel edits: 16 `configure-docker` runs on distinct hosts into one docker config (and
//!   the podman `auth.json` and Helm's registry config), 12 parallel `add --store file`, then
//!   parallel `remove`s beside more `add`s: every entry survives, every file is valid JSON, and
//!   the user's original file is kept byte for byte as `<file>.orig`.
//! - `kill -9` loops (150 each) at a random moment of `configure-docker`, of `add` and of a cold
//!   `get` (which writes the token cache and the registry's state): after every kill each file
//!   parses, nothing committed before is lost, and at the end at most one temp file is left per
//!   directory, none once a writer of that file has completed.
//!
//! Processes are spawned directly (no shell) so the kill hits the helper itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, EXAMPLE_SECRET_ACCESS_KEY, OTHER_ACCESS_KEY_ID,
    OTHER_SECRET_ACCESS_KEY, Run, Sandbox, helper_bin,
};
use serde_json::Value;

/// Iterations of each kill loop.
const KILLS: usize = 150;

/// Regions with ECR: the example account's registry in each is a distinct host.
const REGIONS: [&str; 16] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "sa-east-1",
];

fn host(i: usize) -> String {
    format!(
        "123456789012.dkr.ecr.{}.amazonaws.com",
        REGIONS[i % REGIONS.len()]
    )
}

/// The user's docker config before the product touched it, oddly formatted on purpose: the
/// `.orig` copy must be these very bytes.
const ORIGINAL: &str = "{ \"auths\": {\"ghcr.io\": {\"auth\": \"dXNlcjpwYXNz\"}},\n  \"credHelpers\": {\"gcr.io\": \"gcloud\"}, \"psFormat\": \"table\" }\n";

struct Files {
    docker: PathBuf,
    podman: PathBuf,
    helm: PathBuf,
}

impl Files {
    fn in_sandbox(sandbox: &Sandbox) -> Files {
        let podman = sandbox.root().join("containers/auth.json");
        let helm = sandbox.root().join("helm/registry/config.json");
        std::fs::create_dir_all(podman.parent().unwrap()).unwrap();
        std::fs::create_dir_all(helm.parent().unwrap()).unwrap();
        Files {
            docker: sandbox.docker_config_dir().join("config.json"),
            podman,
            helm,
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "REGISTRY_AUTH_FILE".into(),
                self.podman.display().to_string(),
            ),
            (
                "HELM_REGISTRY_CONFIG".into(),
                self.helm.display().to_string(),
            ),
        ]
    }

    fn all(&self) -> [&Path; 3] {
        [&self.docker, &self.podman, &self.helm]
    }
}

fn product_config(sandbox: &Sandbox) -> PathBuf {
    sandbox
        .config_home()
        .join("docker-credential-ecr/config.json")
}

fn key_file(sandbox: &Sandbox) -> PathBuf {
    sandbox
        .config_home()
        .join("docker-credential-ecr/keys.json")
}

/// The file's JSON; panics naming the file when it is not valid JSON (a torn write).
fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{} is not valid JSON ({e}): {:?}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// The file's JSON, `None` when it does not exist.
fn read_json_if_present(path: &Path) -> Option<Value> {
    path.exists().then(|| read_json(path))
}

fn cred_helpers(path: &Path) -> BTreeSet<String> {
    read_json_if_present(path)
        .and_then(|v| v.get("credHelpers").and_then(Value::as_object).cloned())
        .map(|helpers| {
            helpers
                .into_iter()
                .filter(|(_, v)| v == "ecr")
                .map(|(k, _)| k)
                .collect()
        })
        .unwrap_or_default()
}

/// The temp files (`*.tmp-*`) in `dir`.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect()
}

fn assert_at_most_one_temp_file(dir: &Path) {
    let left = temp_files(dir);
    assert!(
        left.len() <= 1,
        "{} temp files left in {}: {left:?}",
        left.len(),
        dir.display()
    );
}

fn assert_no_temp_file(dir: &Path) {
    let left = temp_files(dir);
    assert!(left.is_empty(), "left in {}: {left:?}", dir.display());
}

fn configure_args(hosts: &[String], clients: bool) -> Vec<String> {
    let mut args = vec!["configure-docker".to_string()];
    args.extend(hosts.iter().cloned());
    if clients {
        args.extend(["--podman".to_string(), "--helm".to_string()]);
    }
    args
}

fn add_args(host: &str, name: &str, key_id: &str) -> Vec<String> {
    [
        "add",
        host,
        "--name",
        name,
        "--access-key-id",
        key_id,
        "--store",
        "file",
        "--no-verify",
    ]
    .map(String::from)
    .to_vec()
}

fn secret_of(key_id: &str) -> &'static str {
    if key_id == EXAMPLE_ACCESS_KEY_ID {
        EXAMPLE_SECRET_ACCESS_KEY
    } else {
        OTHER_SECRET_ACCESS_KEY
    }
}

/// Runs the helper with `args`, `stdin` and the extra environment, to completion.
fn run(sandbox: &Sandbox, args: &[String], stdin: &str, env: &[(String, String)]) -> Run {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    sandbox
        .helper()
        .envs(env.to_vec())
        .run(&argv, stdin.as_bytes())
}

/// Starts the helper (directly, no shell), feeds it `stdin`, waits `delay`, then kills it with
/// SIGKILL (a no-op when it already exited) and reaps it. Whether it was still running.
fn kill_after(
    sandbox: &Sandbox,
    args: &[String],
    stdin: &str,
    env: &[(String, String)],
    delay: Duration,
) -> bool {
    let mut child = Command::new(helper_bin())
        .args(args)
        .env_clear()
        .envs(sandbox.base_env())
        .envs(env.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn helper");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        // The helper may be gone already: ignore EPIPE.
        let _ = input.write_all(stdin.as_bytes());
    }
    std::thread::sleep(delay);
    let running = child.try_wait().expect("poll helper").is_none();
    let _ = child.kill();
    child.wait().expect("reap helper");
    running
}

/// Counts the kills that hit a running helper; at the end, checks that enough did for the
/// loop to mean something (the window is sized from complete runs, so about half do).
#[derive(Default)]
struct Kills(usize);

impl Kills {
    fn count(&mut self, running: bool) {
        self.0 += usize::from(running);
    }

    fn assert_enough(&self) {
        assert!(
            self.0 >= KILLS / 5,
            "only {} of {KILLS} kills hit a running helper",
            self.0
        );
    }
}

/// A random delay in `0..max_us` microseconds: over the whole loop, kills land everywhere in
/// a run, from before `main` to after the last rename.
fn random_delay(rng: &mut fastrand::Rng, max_us: u64) -> Duration {
    Duration::from_micros(rng.u64(0..max_us))
}

/// How long one complete run of `args` takes here (the kill window is sized from it).
fn typical_run(sandbox: &Sandbox, args: &[String], stdin: &str, env: &[(String, String)]) -> u64 {
    let mut longest = Duration::ZERO;
    for _ in 0..3 {
        let run = run(sandbox, args, stdin, env);
        run.assert_ok();
        longest = longest.max(run.elapsed);
    }
    u64::try_from(longest.as_micros())
        .unwrap_or(u64::MAX)
        .max(1000)
}

#[test]
fn parallel_configure_docker_keeps_every_route_in_every_client_and_the_original() {
    let sandbox = Sandbox::new();
    let files = Files::in_sandbox(&sandbox);
    for path in files.all() {
        std::fs::write(path, ORIGINAL).unwrap();
    }
    let env = files.env();
    let hosts: Vec<String> = (0..REGIONS.len()).map(host).collect();
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                let (sandbox, env) = (&sandbox, &env);
                scope.spawn(move || {
                    run(
                        sandbox,
                        &configure_args(std::slice::from_ref(h), true),
                        "",
                        env,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &runs {
        run.assert_ok();
    }
    let expected: BTreeSet<String> = hosts.iter().cloned().collect();
    for path in files.all() {
        let json = read_json(path);
        assert_eq!(
            cred_helpers(path),
            expected,
            "{} lost routes: {json:#}",
            path.display()
        );
        assert_eq!(
            json["credHelpers"]["gcr.io"],
            "gcloud",
            "{}",
            path.display()
        );
        assert_eq!(json["auths"]["ghcr.io"]["auth"], "dXNlcjpwYXNz");
        let orig = PathBuf::from(format!("{}.orig", path.display()));
        assert_eq!(
            std::fs::read_to_string(&orig).unwrap_or_else(|e| panic!("{}: {e}", orig.display())),
            ORIGINAL,
            "the user's original is kept byte for byte"
        );
        read_json(&PathBuf::from(format!("{}.bak", path.display())));
        assert_no_temp_file(path.parent().unwrap());
    }
}

#[test]
fn parallel_add_and_remove_keep_every_binding_key_and_route() {
    let sandbox = Sandbox::new();
    let files = Files::in_sandbox(&sandbox);
    std::fs::write(&files.docker, ORIGINAL).unwrap();
    let env = files.env();
    let key_id = |i: usize| {
        if i.is_multiple_of(2) {
            EXAMPLE_ACCESS_KEY_ID
        } else {
            OTHER_ACCESS_KEY_ID
        }
    };
    let add = |i: usize| {
        let key_id = key_id(i);
        run(
            &sandbox,
            &add_args(&host(i), &format!("vendor-{i}"), key_id),
            secret_of(key_id),
            &env,
        )
    };

    // Twelve adds at once: each writes the key file, the product config and docker's config.
    let first: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12).map(|i| scope.spawn(move || add(i))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &first {
        run.assert_ok();
    }

    // Then six removes beside four more adds and four configure-docker runs.
    let second: Vec<Run> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for i in 0..6 {
            let (sandbox, env) = (&sandbox, &env);
            handles.push(scope.spawn(move || {
                run(
                    sandbox,
                    &["remove".to_string(), format!("vendor-{i}")],
                    "",
                    env,
                )
            }));
        }
        for i in 12..16 {
            handles.push(scope.spawn(move || add(i)));
        }
        for i in 6..10 {
            let (sandbox, env) = (&sandbox, &env);
            handles.push(
                scope.spawn(move || run(sandbox, &configure_args(&[host(i)], false), "", env)),
            );
        }
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for run in &second {
        run.assert_ok();
    }

    let kept: Vec<usize> = (6..16).collect();
    let config = read_json(&product_config(&sandbox));
    let names: BTreeSet<String> = config["key_sets"]
        .as_object()
        .expect("key_sets")
        .keys()
        .cloned()
        .collect();
    let expected_names: BTreeSet<String> = kept.iter().map(|i| format!("vendor-{i}")).collect();
    assert_eq!(names, expected_names, "{config:#}");
    let bound: BTreeSet<String> = config["bindings"]
        .as_array()
        .expect("bindings")
        .iter()
        .map(|b| b["registry"].as_str().unwrap().to_string())
        .collect();
    let expected_hosts: BTreeSet<String> = kept.iter().map(|&i| host(i)).collect();
    assert_eq!(bound, expected_hosts, "{config:#}");

    let keys = read_json(&key_file(&sandbox));
    let stored: BTreeSet<String> = keys.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        stored, expected_names,
        "the key file keeps exactly the live keys"
    );
    for i in &kept {
        assert_eq!(keys[format!("vendor-{i}")], secret_of(key_id(*i)));
    }

    assert_eq!(cred_helpers(&files.docker), expected_hosts);
    assert_eq!(
        std::fs::read_to_string(format!("{}.orig", files.docker.display())).unwrap(),
        ORIGINAL
    );
    assert_no_temp_file(&sandbox.docker_config_dir());
    assert_no_temp_file(product_config(&sandbox).parent().unwrap());
}

#[test]
fn kill_9_during_configure_docker_tears_no_file_and_loses_no_route() {
    let sandbox = Sandbox::new();
    let files = Files::in_sandbox(&sandbox);
    for path in files.all() {
        std::fs::write(path, ORIGINAL).unwrap();
    }
    let env = files.env();
    let window = typical_run(&sandbox, &configure_args(&[host(0)], true), "", &env);
    let mut kills = Kills::default();
    let mut rng = fastrand::Rng::with_seed(9);
    // What each file held after the last run: a kill may add a route or not, never lose one.
    let mut committed: Vec<BTreeSet<String>> = files.all().map(cred_helpers).to_vec();
    // A route already there would make a run write nothing: take it out first (no helper
    // runs then, so this is the only writer).
    let unroute_by_hand = |host: &str, committed: &mut Vec<BTreeSet<String>>| {
        for (path, routes) in files.all().iter().zip(committed) {
            let mut json = read_json(path);
            json["credHelpers"]
                .as_object_mut()
                .unwrap()
                .shift_remove(host);
            std::fs::write(path, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
            routes.remove(host);
        }
    };
    for i in 0..KILLS {
        let host = host(i);
        unroute_by_hand(&host, &mut committed);
        kills.count(kill_after(
            &sandbox,
            &configure_args(std::slice::from_ref(&host), true),
            "",
            &env,
            random_delay(&mut rng, window),
        ));
        for (path, routes) in files.all().iter().zip(&mut committed) {
            let now = cred_helpers(path);
            assert!(
                now.is_superset(routes),
                "iteration {i}: {} lost {:?}",
                path.display(),
                routes.difference(&now).collect::<Vec<_>>()
            );
            let json = read_json(path);
            assert_eq!(json["auths"]["ghcr.io"]["auth"], "dXNlcjpwYXNz", "{i}");
            let orig = PathBuf::from(format!("{}.orig", path.display()));
            if orig.exists() {
                assert_eq!(std::fs::read_to_string(&orig).unwrap(), ORIGINAL, "{i}");
            }
            let bak = PathBuf::from(format!("{}.bak", path.display()));
            read_json_if_present(&bak);
            *routes = now;
        }
    }
    kills.assert_enough();
    for path in files.all() {
        assert_at_most_one_temp_file(path.parent().unwrap());
    }
    // One run that completes (and changes every file) sweeps what killed ones left.
    unroute_by_hand(&host(KILLS), &mut committed);
    run(&sandbox, &configure_args(&[host(KILLS)], true), "", &env).assert_ok();
    for path in files.all() {
        assert_no_temp_file(path.parent().unwrap());
    }
}

#[test]
fn kill_9_during_add_tears_no_file_and_loses_no_key() {
    let sandbox = Sandbox::new();
    let files = Files::in_sandbox(&sandbox);
    std::fs::write(&files.docker, ORIGINAL).unwrap();
    let env = files.env();
    let window = typical_run(
        &sandbox,
        &add_args(EXAMPLE_REGISTRY, "warm-up", EXAMPLE_ACCESS_KEY_ID),
        EXAMPLE_SECRET_ACCESS_KEY,
        &env,
    );
    let config_dir = product_config(&sandbox).parent().unwrap().to_path_buf();
    let mut kills = Kills::default();
    let mut rng = fastrand::Rng::with_seed(5);
    let mut bound: BTreeSet<String> = BTreeSet::new();
    let mut routed: BTreeSet<String> = cred_helpers(&files.docker);
    for i in 0..KILLS {
        // Each host keeps one key set, whose keys alternate: a re-add rotates them.
        let name = format!("vendor-{}", i % REGIONS.len());
        let key_id = if (i / REGIONS.len()).is_multiple_of(2) {
            OTHER_ACCESS_KEY_ID
        } else {
            EXAMPLE_ACCESS_KEY_ID
        };
        kills.count(kill_after(
            &sandbox,
            &add_args(&host(i), &name, key_id),
            secret_of(key_id),
            &env,
            random_delay(&mut rng, window),
        ));
        let config = read_json_if_present(&product_config(&sandbox)).unwrap_or_default();
        let keys = read_json_if_present(&key_file(&sandbox)).unwrap_or_default();
        let now_bound: BTreeSet<String> = config["bindings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| b["registry"].as_str().unwrap().to_string())
            .collect();
        assert!(
            now_bound.is_superset(&bound),
            "iteration {i}: lost bindings {:?}",
            bound.difference(&now_bound).collect::<Vec<_>>()
        );
        for (name, key_set) in config["key_sets"].as_object().into_iter().flatten() {
            assert_eq!(key_set["secret_location"], "file");
            assert!(
                keys[name].as_str().is_some_and(|s| !s.is_empty()),
                "iteration {i}: key set {name} has no secret in the key file"
            );
        }
        let now_routed = cred_helpers(&files.docker);
        assert!(
            now_routed.is_superset(&routed),
            "iteration {i}: docker lost {:?}",
            routed.difference(&now_routed).collect::<Vec<_>>()
        );
        read_json(&files.docker);
        (bound, routed) = (now_bound, now_routed);
    }
    kills.assert_enough();
    assert_at_most_one_temp_file(&config_dir);
    assert_at_most_one_temp_file(&sandbox.docker_config_dir());
    // The next write in each directory removes what a killed writer left there (README): a
    // host no iteration routed, so that this `add` writes docker's config too (re-routing a
    // routed host writes nothing, and a kill during docker's backup was then seen to stay).
    run(
        &sandbox,
        &add_args(
            "210987654321.dkr.ecr.us-east-1.amazonaws.com",
            "vendor-last",
            EXAMPLE_ACCESS_KEY_ID,
        ),
        EXAMPLE_SECRET_ACCESS_KEY,
        &env,
    )
    .assert_ok();
    assert_no_temp_file(&config_dir);
    assert_no_temp_file(&sandbox.docker_config_dir());
    assert_eq!(
        std::fs::read_to_string(format!("{}.orig", files.docker.display())).unwrap(),
        ORIGINAL
    );
}

/// The token files of the example registry's cache directory.
fn token_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect()
}

#[test]
fn kill_9_during_a_cold_get_tears_no_cache_or_state_file() {
    let fake = FakeEcr::builder()
        .password("kill-password")
        .start()
        .unwrap();
    let sandbox = Sandbox::new();
    let cache_dir = sandbox.token_cache_dir().join("tokens").join("shared");
    let state_dir = sandbox
        .state_home()
        .join("docker-credential-ecr/registries");
    let get = |key_id: &str| {
        sandbox
            .helper()
            .env("AWS_ENDPOINT_URL_ECR", fake.url())
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("AWS_SECRET_ACCESS_KEY", secret_of(key_id))
    };
    // A token of another identity in the same directory: committed, never to be lost.
    assert_eq!(
        get(OTHER_ACCESS_KEY_ID).get(EXAMPLE_REGISTRY).secret(),
        "kill-password"
    );
    let kept = token_files(&cache_dir);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let kept_bytes = std::fs::read(&kept[0]).unwrap();
    let env = vec![
        ("AWS_ENDPOINT_URL_ECR".to_string(), fake.url()),
        (
            "AWS_ACCESS_KEY_ID".to_string(),
            EXAMPLE_ACCESS_KEY_ID.to_string(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            EXAMPLE_SECRET_ACCESS_KEY.to_string(),
        ),
    ];
    let cold = || {
        for path in token_files(&cache_dir) {
            if path != kept[0] {
                std::fs::remove_file(path).unwrap();
            }
        }
    };
    let get_args = vec!["get".to_string()];
    let mut window = 1000;
    for _ in 0..3 {
        cold();
        let run = get(EXAMPLE_ACCESS_KEY_ID).get(EXAMPLE_REGISTRY);
        assert_eq!(run.secret(), "kill-password");
        window = window.max(u64::try_from(run.elapsed.as_micros()).unwrap());
    }
    let mut kills = Kills::default();
    let mut rng = fastrand::Rng::with_seed(150);
    for i in 0..KILLS {
        cold();
        kills.count(kill_after(
            &sandbox,
            &get_args,
            EXAMPLE_REGISTRY,
            &env,
            random_delay(&mut rng, window),
        ));
        assert_eq!(
            std::fs::read(&kept[0]).unwrap(),
            kept_bytes,
            "iteration {i}: another identity's token was lost"
        );
        for path in token_files(&cache_dir)
            .iter()
            .chain(&token_files(&state_dir))
        {
            read_json(path);
        }
    }
    kills.assert_enough();
    assert_at_most_one_temp_file(&cache_dir);
    assert_at_most_one_temp_file(&state_dir);
    cold();
    assert_eq!(
        get(EXAMPLE_ACCESS_KEY_ID).get(EXAMPLE_REGISTRY).secret(),
        "kill-password"
    );
    assert_no_temp_file(&cache_dir);
    assert_no_temp_file(&state_dir);
}
