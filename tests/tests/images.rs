//! `images REGISTRY/REPOSITORY`: a repository's tags newest pushed first, every page of the
//! fake's `DescribeImages` read, with the registry's bound key set (not the environment's keys);
//! `--latest` and `--json` for scripts; failures one line on stderr in the user's terms, with
//! nothing on stdout; no token fetched or cached.

use std::collections::BTreeMap;
use std::path::Path;

use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::fake::knobs::FakeImage;
use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::sandbox::{
    EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, Helper, OTHER_ACCESS_KEY_ID, OTHER_SECRET_ACCESS_KEY,
    Run, Sandbox,
};

const DESCRIBE_IMAGES: &str = "AmazonEC2ContainerRegistry_V20150921.DescribeImages";
const GET_TOKEN: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
const REPOSITORY: &str = "vendor/charts/app";

/// A sandbox whose registry is bound to key set `acme` (the example keys, kept in the file
/// store), a fake ECR, and other keys in the environment that must not be used.
struct World {
    sandbox: Sandbox,
    fake: FakeEcr,
}

impl World {
    fn start() -> World {
        let sandbox = Sandbox::new();
        let fake = FakeEcr::start().unwrap();
        let world = World { sandbox, fake };
        world
            .helper()
            .add_example_keys(EXAMPLE_REGISTRY, "acme", &["--store", "file"])
            .assert_ok();
        world.fake.reset().unwrap();
        world
    }

    fn helper(&self) -> Helper {
        self.sandbox
            .helper()
            .env("AWS_ENDPOINT_URL_ECR", self.fake.url())
            .env("AWS_ACCESS_KEY_ID", OTHER_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", OTHER_SECRET_ACCESS_KEY)
    }

    fn images(&self, args: &[&str]) -> Run {
        let mut all = vec!["images"];
        all.extend_from_slice(args);
        self.helper().run(&all, b"")
    }

    fn set_repository(&self, name: &str, images: Vec<FakeImage>) {
        self.fake
            .set_knobs(&KnobsPatch {
                repositories: Some(BTreeMap::from([(name.to_string(), images)])),
                images_page_size: Some(3),
                ..KnobsPatch::default()
            })
            .unwrap();
    }

    fn calls_to(&self, target: &str) -> u64 {
        let stats = self.fake.stats().unwrap();
        stats.by_target.get(target).copied().unwrap_or(0)
    }
}

fn image(n: u32, tags: &[&str], pushed_at_secs: u64) -> FakeImage {
    FakeImage {
        digest: format!("sha256:{n:064x}"),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        pushed_at_ms: pushed_at_secs * 1000 + 250,
        size_bytes: 1000 + u64::from(n),
    }
}

/// Seven tagged images and one untagged, in an order that is not the push order: three pages.
fn seven_out_of_order() -> Vec<FakeImage> {
    // 2026-01-01T00:00:00Z = 1767225600.
    let day = |d: u64| 1_767_225_600 + d * 86_400;
    vec![
        image(1, &["1.0.0"], day(0)),
        image(2, &["1.3.0", "stable"], day(5)),
        image(3, &["1.1.0"], day(1)),
        image(4, &[], day(9)),
        image(5, &["1.4.0"], day(6)),
        image(6, &["1.2.0"], day(3)),
        image(7, &["1.0.1"], day(0) + 60),
        image(8, &["1.2.1"], day(4)),
    ]
}

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

/// The names of the files under `dir` (recursively), sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.display().to_string());
            }
        }
    }
    found.sort();
    found
}

fn assert_one_line_failure(run: &Run, expected: &str) {
    assert_eq!(run.code, 1, "{run:#?}");
    assert_eq!(run.stdout, "", "{run:#?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(run.stderr.contains(expected), "{run:#?}");
}

#[test]
fn every_page_is_listed_newest_pushed_first_with_the_bound_keys() {
    let world = World::start();
    world.set_repository(REPOSITORY, seven_out_of_order());
    // `add` cached its verification's token: without it, a token fetch would write one.
    let cache = world.sandbox.token_cache_dir();
    assert!(!files_under(&cache).is_empty(), "add caches a token");
    std::fs::remove_dir_all(&cache).unwrap();
    let run = world.images(&[&format!("https://{EXAMPLE_REGISTRY}/{REPOSITORY}")]);
    run.assert_ok();
    let expected = [
        ("1.4.0", "2026-01-07T00:00:00.25Z", 5),
        ("1.3.0", "2026-01-06T00:00:00.25Z", 2),
        ("stable", "2026-01-06T00:00:00.25Z", 2),
        ("1.2.1", "2026-01-05T00:00:00.25Z", 8),
        ("1.2.0", "2026-01-04T00:00:00.25Z", 6),
        ("1.1.0", "2026-01-02T00:00:00.25Z", 3),
        ("1.0.1", "2026-01-01T00:01:00.25Z", 7),
        ("1.0.0", "2026-01-01T00:00:00.25Z", 1),
    ]
    .map(|(tag, at, n)| format!("{tag}  {at}  {}\n", digest(n)))
    .concat();
    assert_eq!(run.stdout, expected, "{run:#?}");
    assert_eq!(run.stderr, "");
    // Eight images at three a page: three DescribeImages calls, all with the bound keys.
    assert_eq!(world.calls_to(DESCRIBE_IMAGES), 3);
    assert_eq!(world.fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(), 3);
    assert_eq!(world.fake.calls_by(OTHER_ACCESS_KEY_ID).unwrap(), 0);
    // No token is fetched, and none is cached.
    assert_eq!(world.calls_to(GET_TOKEN), 0);
    assert_eq!(files_under(&cache), Vec::<String>::new());
}

#[test]
fn latest_prints_the_newest_images_first_tag_alone() {
    let world = World::start();
    world.set_repository(REPOSITORY, seven_out_of_order());
    let run = world.images(&[&format!("{EXAMPLE_REGISTRY}/{REPOSITORY}"), "--latest"]);
    run.assert_ok();
    assert_eq!(run.stdout, "1.4.0\n");
    assert_eq!(world.calls_to(DESCRIBE_IMAGES), 3);
}

#[test]
fn json_lists_tagged_images_with_their_push_time_digest_and_size() {
    let world = World::start();
    world.set_repository(REPOSITORY, seven_out_of_order());
    let run = world.images(&[&format!("{EXAMPLE_REGISTRY}/{REPOSITORY}"), "--json"]);
    run.assert_ok();
    let listed: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let listed = listed.as_array().expect("an array");
    assert_eq!(
        listed.len(),
        7,
        "the untagged image is left out: {listed:#?}"
    );
    assert_eq!(
        listed[1],
        serde_json::json!({
            "tags": ["1.3.0", "stable"],
            "pushedAt": "2026-01-06T00:00:00.25Z",
            "digest": digest(2),
            "sizeBytes": 1002,
        })
    );
    assert!(
        listed
            .iter()
            .all(|i| !i["tags"].as_array().unwrap().is_empty())
    );
}

#[test]
fn a_repository_without_tags_lists_nothing_and_has_no_latest() {
    let world = World::start();
    world.set_repository(REPOSITORY, vec![image(1, &[], 1_767_225_600)]);
    let target = format!("{EXAMPLE_REGISTRY}/{REPOSITORY}");
    let run = world.images(&[&target]);
    run.assert_ok();
    assert_eq!(run.stdout, "");
    let latest = world.images(&[&target, "--latest"]);
    assert_one_line_failure(
        &latest,
        &format!("repository {REPOSITORY} in {EXAMPLE_REGISTRY} has no tagged images"),
    );
}

#[test]
fn an_unknown_repository_is_named_with_its_registry() {
    let world = World::start();
    world.set_repository(REPOSITORY, seven_out_of_order());
    let run = world.images(&[&format!("{EXAMPLE_REGISTRY}/vendor/other"), "--latest"]);
    assert_one_line_failure(
        &run,
        &format!("repository vendor/other does not exist in {EXAMPLE_REGISTRY}"),
    );
}

#[test]
fn keys_without_describe_images_are_told_to_ask_the_vendor() {
    let world = World::start();
    world.set_repository(REPOSITORY, seven_out_of_order());
    world
        .fake
        .set_knobs(&KnobsPatch {
            images_denied_keys: Some(vec![EXAMPLE_ACCESS_KEY_ID.to_string()]),
            ..KnobsPatch::default()
        })
        .unwrap();
    let run = world.images(&[&format!("{EXAMPLE_REGISTRY}/{REPOSITORY}")]);
    assert_one_line_failure(
        &run,
        "acme: its keys may not call ecr:DescribeImages (ask them to allow it)",
    );
}

#[test]
fn rejected_keys_are_reported_as_refresh_reports_them() {
    let world = World::start();
    world.set_repository(REPOSITORY, seven_out_of_order());
    world
        .fake
        .set_knobs(&KnobsPatch {
            rejected_keys: Some(vec![EXAMPLE_ACCESS_KEY_ID.to_string()]),
            ..KnobsPatch::default()
        })
        .unwrap();
    let run = world.images(&[&format!("{EXAMPLE_REGISTRY}/{REPOSITORY}")]);
    assert_one_line_failure(&run, "acme: AWS rejected its keys");
    let refresh = world.helper().run(&["refresh", EXAMPLE_REGISTRY], b"");
    assert!(
        refresh
            .stderr
            .contains("acme: AWS rejected its keys; they may have been revoked"),
        "{refresh:#?}"
    );
    assert!(
        run.stderr
            .contains("acme: AWS rejected its keys; they may have been revoked"),
        "{run:#?}"
    );
}

#[test]
fn a_host_that_is_not_ecr_is_one_line_and_no_call() {
    let world = World::start();
    let run = world.images(&["ghcr.io/vendor/app", "--latest"]);
    assert_one_line_failure(&run, "ghcr.io is not an Amazon ECR registry");
    assert_eq!(world.fake.stats().unwrap().calls, 0);
}
