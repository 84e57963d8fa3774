//! The two programs: `docker-credential-ecr`, the small front docker runs, answers a warm `get`
//! from the cache alone, and hands everything else to `docker-credential-ecr-full`.
//!
//! Proved with the real binaries: a copy of the front with no full program beside it still
//! answers a warm `get` (so the warm path never starts the full program) and says in one line
//! what is missing for anything else; the front's own time limit answers when a file it reads
//! blocks; and the hand-off gives the full program the very stdin the front read.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, Sandbox, helper_bin};

fn start_fake() -> FakeEcr {
    FakeEcr::builder()
        .password("front-password")
        .start()
        .expect("start fake ECR")
}

fn calls(fake: &FakeEcr) -> u64 {
    fake.stats().expect("stats").calls
}

#[test]
fn a_warm_get_needs_only_the_front_program() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    assert_eq!(
        sandbox
            .helper()
            .against(&fake.url())
            .get(EXAMPLE_REGISTRY)
            .secret(),
        "front-password",
        "the cold get, through the full program"
    );
    let front = sandbox.front_alone();

    let before = calls(&fake);
    let warm = sandbox
        .helper_at(&front)
        .against(&fake.url())
        .get(EXAMPLE_REGISTRY);
    assert_eq!(warm.secret(), "front-password", "{warm:#?}");
    assert_eq!(warm.stderr, "", "{warm:#?}");
    assert_eq!(calls(&fake), before, "a warm get makes no call");

    let cold = sandbox
        .helper_at(&front)
        .against(&fake.url())
        .get("123456789012.dkr.ecr.eu-west-1.amazonaws.com");
    assert_eq!(cold.code, 1, "{cold:#?}");
    assert_eq!(cold.stdout.lines().count(), 1, "{cold:#?}");
    assert!(
        cold.stdout
            .contains("cannot find docker-credential-ecr-full"),
        "{cold:#?}"
    );
    let status = sandbox.helper_at(&front).run(&["status"], b"");
    assert_eq!(status.code, 1, "{status:#?}");
    assert!(
        status
            .stdout
            .contains("cannot find docker-credential-ecr-full")
    );
}

#[test]
fn the_hand_off_passes_on_exactly_what_the_front_read() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    // Nothing cached: the front reads the address, finds no token and hands off.
    let run = sandbox
        .helper()
        .against(&fake.url())
        .run(&["get"], format!("  {EXAMPLE_REGISTRY}\n").as_bytes());
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON answer");
    assert_eq!(v["ServerURL"], EXAMPLE_REGISTRY, "{run:#?}");
    assert_eq!(v["Secret"], "front-password", "{run:#?}");
    // Input the front does not parse is the full program's to refuse, as before the split.
    let bad = sandbox
        .helper()
        .against(&fake.url())
        .run(&["get"], b"\xff\xfe");
    assert_eq!(bad.code, 1, "{bad:#?}");
    assert!(bad.stdout.contains("not valid UTF-8"), "{bad:#?}");
    // Store's JSON goes through untouched.
    let store = sandbox.helper().run(
        &["store"],
        format!(r#"{{"ServerURL":"{EXAMPLE_REGISTRY}","Username":"AWS","Secret":"stored-token"}}"#)
            .as_bytes(),
    );
    store.assert_ok();
    assert_eq!(
        sandbox.helper().get(EXAMPLE_REGISTRY).secret(),
        "stored-token",
        "the stored token is served first, by the front"
    );
}

/// The cached token file is a FIFO nobody writes (as a file on a hung mount would block): the
/// front's read blocks, and its time limit answers, as the full program's watchdog would.
#[test]
fn the_front_answers_at_its_time_limit_when_a_file_it_reads_blocks() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let helper = || sandbox.helper().against(&fake.url());
    assert_eq!(helper().get(EXAMPLE_REGISTRY).secret(), "front-password");
    let cached = cache_files(&sandbox.token_cache_dir());
    assert_eq!(cached.len(), 1, "{cached:?}");
    fs::remove_file(&cached[0]).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(&cached[0])
        .status()
        .unwrap();
    assert!(status.success());
    // Without a limit the get would wait for a writer for good: unblock it after 20 s so that
    // the test fails on the answer and the elapsed time instead of hanging.
    let fifo = cached[0].clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(20));
        let _ = fs::OpenOptions::new().write(true).open(fifo);
    });
    let run = helper().get(EXAMPLE_REGISTRY);
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stdout.lines().count(), 1, "{run:#?}");
    assert!(run.stdout.contains("gave up after 9.2 s"), "{run:#?}");
    assert!(run.elapsed < Duration::from_secs(12), "{:?}", run.elapsed);
}

/// The token files (`*.json`) under `dir`, at any depth.
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(cache_files(&path));
        } else if path.extension().is_some_and(|e| e == "json") {
            found.push(path);
        }
    }
    found
}

/// The front program is small by construction: it loads no shared library but the C library
/// (no unwinder, no TLS or crypto library), which is what keeps a warm `get` near the cost of
/// starting a process at all.
#[test]
fn the_front_program_loads_only_the_c_library() {
    let out = std::process::Command::new("readelf")
        .args(["-d"])
        .arg(helper_bin())
        .output()
        .expect("readelf (binutils) runs");
    assert!(out.status.success(), "{out:?}");
    let dynamic = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = dynamic
        .lines()
        .filter(|line| line.contains("(NEEDED)"))
        .filter_map(|line| line.split('[').nth(1)?.split(']').next())
        .collect();
    assert!(!needed.is_empty(), "{dynamic}");
    for library in &needed {
        assert!(
            library.starts_with("libc.so") || library.starts_with("ld-linux"),
            "the front program needs {library}: {needed:?}"
        );
    }
}

/// Input over the protocol's 1 MiB limit is refused by both programs alike, even when it holds
/// a registry whose token is cached (a host followed by 1 MiB of blank space).
#[test]
fn input_over_the_limit_is_refused_even_with_a_cached_token() {
    let fake = start_fake();
    let sandbox = Sandbox::new();
    assert_eq!(
        sandbox
            .helper()
            .against(&fake.url())
            .get(EXAMPLE_REGISTRY)
            .secret(),
        "front-password"
    );
    let mut input = EXAMPLE_REGISTRY.as_bytes().to_vec();
    input.extend(std::iter::repeat_n(b' ', 1 << 20));
    let run = sandbox.helper().against(&fake.url()).run(&["get"], &input);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("larger than 1 MiB"), "{}", run.stdout);
}

#[test]
fn the_front_reads_the_cache_directory_the_environment_names() {
    // Both programs choose the directories the same way (`ecr_model::paths`): a token the full
    // program cached under DOCKER_CREDENTIAL_ECR_CACHE_DIR is the one the front's warm path
    // serves, with no HOME at all, and a front copy alone proves no hand-off happened.
    let fake = start_fake();
    let sandbox = Sandbox::new();
    let node = sandbox.root().join("node");
    let in_node = |helper: ecr_e2e::sandbox::Helper| {
        helper
            .against(&fake.url())
            .env_remove("HOME")
            .env("DOCKER_CREDENTIAL_ECR_CACHE_DIR", node.join("cache"))
            .env("DOCKER_CREDENTIAL_ECR_CONFIG_DIR", node.join("config"))
    };
    assert_eq!(
        in_node(sandbox.helper()).get(EXAMPLE_REGISTRY).secret(),
        "front-password"
    );
    assert!(node.join("cache/tokens").is_dir());
    let front = sandbox.front_alone();
    let warm = in_node(sandbox.helper_at(&front)).get(EXAMPLE_REGISTRY);
    assert_eq!(warm.secret(), "front-password", "{warm:#?}");
    assert_eq!(calls(&fake), 1);
    // The user's own directories hold nothing, so a get without the variable is cold.
    let user = sandbox
        .helper_at(&front)
        .against(&fake.url())
        .get(EXAMPLE_REGISTRY);
    assert_eq!(user.code, 1, "the front alone cannot fetch: {user:#?}");
}

#[cfg(unix)]
#[test]
fn a_host_that_is_neither_ecr_nor_an_alias_is_not_found_by_the_front_alone() {
    // Docker goes on anonymously: the front says so itself (no full program beside it), also
    // when the product config is not a plain file (a FIFO would block a reader).
    let sandbox = Sandbox::new();
    let front = sandbox.front_alone();
    let config_dir = sandbox.config_home().join("docker-credential-ecr");
    for config in ["absent", "fifo"] {
        if config == "fifo" {
            fs::create_dir_all(&config_dir).unwrap();
            let made = std::process::Command::new("mkfifo")
                .arg(config_dir.join("config.json"))
                .status()
                .unwrap();
            assert!(made.success());
        }
        for host in ["docker.io", "ghcr.io", "localhost:5000"] {
            let run = sandbox.helper_at(&front).get(host);
            assert_eq!(run.code, 1, "{config} {host}: {run:#?}");
            assert_eq!(
                run.stdout.trim(),
                ecr_e2e::sandbox::NOT_FOUND,
                "{config} {host}: {run:#?}"
            );
            assert!(run.elapsed < Duration::from_secs(5), "{run:#?}");
        }
    }
}
