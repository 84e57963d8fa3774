//! The fault battery: one bad thing breaks one thing. Broken config entries, busy and blocked
//! fetches for ECR Public, cache directories that are another user's, read-only or full, a
//! `credential_process` that hangs, a CA bundle or key file that never delivers; all through the real
//! binary. (5xx, throttling, hangs, revoked keys and a corrupt cache file are in `get.rs`.)
//!
//! The tests that need another uid or a mount run as root (CI does); leftovers of a killed run
//! (mounts under a sandbox in the temp dir) are unmounted by the next one's guard.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, NOT_FOUND, Run, Sandbox};
use ecr_e2e::system::skip_unless_root;

const OTHER_REGISTRY: &str = "210987654321.dkr.ecr.eu-west-1.amazonaws.com";
const PUBLIC: &str = "public.ecr.aws";

fn start_fake() -> FakeEcr {
    FakeEcr::builder()
        .password("e2e-password")
        .start()
        .expect("start fake ECR")
}

fn calls(fake: &FakeEcr) -> u64 {
    fake.stats().expect("stats").calls
}

fn product_config(sandbox: &Sandbox) -> PathBuf {
    sandbox
        .config_home()
        .join("docker-credential-ecr")
        .join("config.json")
}

fn write_product_config(sandbox: &Sandbox, text: &str) {
    let path = product_config(sandbox);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
}

fn run_ok(program: &str, args: &[&str]) {
    let status = Command::new(program).args(args).status().expect(program);
    assert!(status.success(), "{program} {args:?}: {status}");
}

/// Every regular file under `dir` with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = fs::read(&path).unwrap_or_default();
                found.push((path, bytes));
            }
        }
    }
    found.sort();
    found
}

fn assert_not_found_with_cause(run: &Run, cause: &str) {
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stdout.trim_end(), NOT_FOUND, "{run:#?}");
    assert!(run.stderr.contains(cause), "expected {cause:?}: {run:#?}");
}

#[test]
fn a_host_that_is_not_ecr_is_not_found_before_any_config_or_cache_work() {
    let sandbox = Sandbox::new();
    write_product_config(&sandbox, "{not json at all");
    for address in ["registry.example.com", "https://index.docker.io/v1/"] {
        let run = sandbox.helper().get(address);
        assert_eq!(run.code, 1, "{run:#?}");
        assert_eq!(run.stdout.trim_end(), NOT_FOUND, "{address}: {run:#?}");
        assert_eq!(run.stderr, "", "{address}");
    }
    assert!(
        !sandbox.token_cache_dir().exists(),
        "no cache work for a host that is not ECR"
    );
}

#[test]
fn a_binding_that_does_not_parse_breaks_only_its_own_registry() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let config = format!(
        r#"{{"bindings": [
            {{"registry": "{EXAMPLE_REGISTRY}", "source": {{"key_sett": "acme"}}}},
            42,
            {{"registry": "{OTHER_REGISTRY}", "source": "default_chain"}}
        ]}}"#
    );
    write_product_config(&sandbox, &config);

    let other = sandbox.helper().against(&fake.url()).get(OTHER_REGISTRY);
    assert_eq!(other.secret(), "e2e-password", "the good binding works");

    // The registry the bad entry names is refused, not served by the default chain.
    let named = sandbox.helper().against(&fake.url()).get(EXAMPLE_REGISTRY);
    assert_eq!(named.code, 1, "{named:#?}");
    assert_eq!(named.stdout.lines().count(), 1);
    assert!(
        named.stdout.contains("binding 1") && named.stdout.contains(EXAMPLE_REGISTRY),
        "{}",
        named.stdout
    );
    assert_eq!(calls(&fake), 1, "no fetch for the refused registry");
    let log = sandbox.log();
    assert!(
        log.contains("binding 2"),
        "the bad entries are logged: {log}"
    );

    // A command that rewrites the file refuses, and the user's entries stay as written.
    let remove = sandbox.helper().run(&["remove", OTHER_REGISTRY], b"");
    assert_ne!(remove.code, 0, "{remove:#?}");
    assert_eq!(
        fs::read_to_string(product_config(&sandbox)).unwrap(),
        config
    );
}

#[test]
fn ecr_public_answers_not_found_on_a_binding_it_cannot_use() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    write_product_config(
        &sandbox,
        r#"{"bindings": [{"registry": "public.ecr.aws", "source": {"key_set": "gone"}}]}"#,
    );
    let run = sandbox.helper().against(&fake.url()).get(PUBLIC);
    assert_not_found_with_cause(&run, "gone");
    assert_eq!(calls(&fake), 0);
}

#[test]
fn ecr_public_answers_not_found_when_another_get_holds_the_lock() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    sandbox
        .helper()
        .against(&fake.url())
        .get(PUBLIC)
        .assert_ok();
    let dir = sandbox.token_cache_dir().join("tokens").join("shared");
    let mut locks = Vec::new();
    for entry in fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => fs::remove_file(&path).unwrap(),
            Some("lock") => {
                let file = File::options().write(true).open(&path).unwrap();
                file.lock().unwrap();
                locks.push(file);
            }
            _ => {}
        }
    }
    assert!(!locks.is_empty(), "the first get left its lock file");
    let run = sandbox.helper().against(&fake.url()).get(PUBLIC);
    assert_not_found_with_cause(&run, "kept fetching it until the time limit");
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
    drop(locks);
}

/// The product config is a FIFO nobody writes: reading it blocks, and only the watchdog can
/// answer. For ECR Public its answer is "not found" too.
#[test]
fn ecr_public_answers_not_found_when_the_watchdog_gives_up() {
    let sandbox = Sandbox::new();
    let config = product_config(&sandbox);
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    run_ok("mkfifo", &[config.to_str().unwrap()]);
    let run = sandbox.helper().against("http://127.0.0.1:9").get(PUBLIC);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stdout.trim_end(), NOT_FOUND, "{run:#?}");
    assert!(run.stderr.contains(PUBLIC), "the cause on stderr: {run:#?}");
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
}

/// A cache directory owned by another user (or that others may write) holds a token someone
/// else could have put there: it is neither read nor written, and `get` fetches uncached.
#[test]
fn a_cache_directory_another_user_owns_or_may_write_is_neither_read_nor_written() {
    if skip_unless_root(
        "a_cache_directory_another_user_owns_or_may_write_is_neither_read_nor_written",
    ) {
        return;
    }
    let fake = start_fake();
    let cache = |sandbox: &Sandbox| sandbox.token_cache_dir();
    type Spoil = fn(&Path);
    let cases: [(&str, Spoil); 3] = [
        ("owned by nobody", |dir| {
            run_ok("chown", &["-R", "nobody:nogroup", dir.to_str().unwrap()])
        }),
        ("tokens dir others may write", |dir| {
            run_ok("chmod", &["0777", dir.join("tokens").to_str().unwrap()])
        }),
        ("entry dir the group may write", |dir| {
            let registry = dir.join("tokens").join("shared");
            run_ok("chmod", &["0770", registry.to_str().unwrap()])
        }),
    ];
    for (case, spoil) in cases {
        fake.set_knobs(&KnobsPatch {
            password: Some("e2e-password".into()),
            ..Default::default()
        })
        .unwrap();
        let sandbox = Sandbox::new();
        sandbox
            .helper()
            .against(&fake.url())
            .get(EXAMPLE_REGISTRY)
            .assert_ok();
        spoil(&cache(&sandbox));
        let before = files_under(&cache(&sandbox));
        let calls_before = calls(&fake);
        fake.set_knobs(&KnobsPatch {
            password: Some("fresh-password".into()),
            ..Default::default()
        })
        .unwrap();
        for _ in 0..2 {
            let run = sandbox.helper().against(&fake.url()).get(EXAMPLE_REGISTRY);
            assert_eq!(
                run.secret(),
                "fresh-password",
                "{case}: not the planted token"
            );
        }
        assert_eq!(calls(&fake), calls_before + 2, "{case}: every get fetches");
        assert_eq!(
            files_under(&cache(&sandbox)),
            before,
            "{case}: nothing written"
        );
    }
}

/// Unmounts `path` on drop (and at creation, should a killed run have left a mount there).
struct Mount(PathBuf);

impl Mount {
    fn new(path: &Path, args: &[&str]) -> Mount {
        let _ = Command::new("umount").arg(path).status();
        let mut all: Vec<&str> = args.to_vec();
        all.push(path.to_str().unwrap());
        run_ok("mount", &all);
        Mount(path.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_cache_directory_means_uncached_not_failing() {
    if skip_unless_root("a_read_only_cache_directory_means_uncached_not_failing") {
        return;
    }
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let dir = sandbox.cache_home();
    let _bind = Mount::new(&dir, &["--bind", dir.to_str().unwrap()]);
    run_ok("mount", &["-o", "remount,bind,ro", dir.to_str().unwrap()]);
    for n in 1..=2 {
        let run = sandbox.helper().against(&fake.url()).get(EXAMPLE_REGISTRY);
        assert_eq!(run.secret(), "e2e-password");
        assert_eq!(run.stderr, "");
        assert_eq!(calls(&fake), n, "nothing cached, so each get fetches");
    }
}

#[test]
fn a_full_cache_filesystem_means_uncached_not_failing() {
    if skip_unless_root("a_full_cache_filesystem_means_uncached_not_failing") {
        return;
    }
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let dir = sandbox.cache_home();
    let _tmpfs = Mount::new(&dir, &["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"]);
    // Fill it: dd stops at ENOSPC.
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k"])
        .arg(format!("of={}", dir.join("filler").display()))
        .stderr(std::process::Stdio::null())
        .status();
    for n in 1..=2 {
        let run = sandbox.helper().against(&fake.url()).get(EXAMPLE_REGISTRY);
        assert_eq!(run.secret(), "e2e-password");
        assert_eq!(run.stderr, "");
        assert_eq!(calls(&fake), n);
    }
    let leftovers: Vec<_> = files_under(&dir)
        .into_iter()
        .filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp"))
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(
        sandbox.log().contains("cannot cache the token"),
        "{}",
        sandbox.log()
    );
}

/// A profile's `credential_process` that hangs, and starts a process of its own: when `get`
/// gives up at its deadline, both are ended (the SDK only drops the shell).
#[test]
fn a_hanging_credential_process_and_its_children_end_with_the_get() {
    let sandbox = Sandbox::new();
    let pids = sandbox.root().join("pids");
    let script = format!(
        "echo $$ >> {p}; sleep 300 & echo $! >> {p}; wait",
        p = pids.display()
    );
    fs::write(
        sandbox.aws_config_file(),
        format!("[profile hangs]\ncredential_process = sh -c '{script}'\n"),
    )
    .unwrap();
    let run = sandbox
        .helper()
        .env("AWS_PROFILE", "hangs")
        .env("AWS_ENDPOINT_URL_ECR", "http://127.0.0.1:9")
        .get(EXAMPLE_REGISTRY);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stdout.contains("took too long"), "{}", run.stdout);
    let started: Vec<i32> = fs::read_to_string(&pids)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(started.len(), 2, "the process ran: {started:?}");
    let alive: Vec<i32> = started
        .iter()
        .copied()
        .filter(|pid| is_alive(*pid))
        .collect();
    for pid in &alive {
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
    }
    assert!(alive.is_empty(), "outlived the helper: {alive:?}");
}

/// Running and not a zombie.
fn is_alive(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string));
    !matches!(state.as_deref(), Some("Z") | Some("X") | None)
}

/// `AWS_CA_BUNDLE` names a FIFO nobody writes: the read is cut off by the deadline, which names
/// it, not by the watchdog.
#[test]
fn a_ca_bundle_that_never_delivers_is_cut_off_by_the_deadline() {
    let sandbox = Sandbox::new();
    let bundle = sandbox.root().join("ca.pem");
    run_ok("mkfifo", &[bundle.to_str().unwrap()]);
    let run = sandbox
        .helper()
        .against("http://127.0.0.1:9")
        .env("AWS_CA_BUNDLE", &bundle)
        .get(EXAMPLE_REGISTRY);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout.contains("reading the CA bundle") && !run.stdout.contains("gave up after"),
        "{}",
        run.stdout
    );
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
}

/// The key file of `--store file` never delivers (a FIFO, as a hung mount would): the read is
/// cut off by the fetch's deadline, which names the key set, not by the watchdog.
#[test]
fn a_key_file_that_never_delivers_is_cut_off_by_the_deadline() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let add = sandbox.helper().against(&fake.url()).add_example_keys(
        EXAMPLE_REGISTRY,
        "acme",
        &["--store", "file", "--no-verify"],
    );
    assert_eq!(add.code, 0, "{add:#?}");
    let keys = sandbox
        .config_home()
        .join("docker-credential-ecr/keys.json");
    fs::remove_file(&keys).expect("add wrote the key file");
    run_ok("mkfifo", &[keys.to_str().unwrap()]);
    let run = sandbox.helper().against(&fake.url()).get(EXAMPLE_REGISTRY);
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(
        run.stdout.contains("reading the secret key of acme")
            && !run.stdout.contains("gave up after"),
        "{}",
        run.stdout
    );
    assert!(run.elapsed < Duration::from_secs(10), "{:?}", run.elapsed);
    assert_eq!(calls(&fake), 0, "no call without the secret");
}
