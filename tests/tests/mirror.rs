//! `docker-credential-ecr mirror`, end to end, between two real registries and with no Docker
//! daemon anywhere (`DOCKER_HOST` names a socket that does not exist).
//!
//! The [`MirrorRig`] serves the source under the genuine ECR host (its password comes only from
//! the fake ECR, through the product's own credential chain) and the target under
//! `mirror.example.test` with a login of its own, found in the docker config. Images are built by
//! hand ([`ecr_e2e::oci_images`]) and seeded with skopeo, so every digest is known before either
//! registry sees it.
//!
//! Each test checks what the registries really hold, not only what the mirror says: the target's
//! manifests read back byte for byte with `skopeo inspect --raw` (and compared with the source's
//! and with the bytes as built), `skopeo inspect` digests, the target's storage (blobs, manifest
//! links, tags) and its access log (which uploads and manifest pushes a run made). The mirror's
//! stdout lines are read strictly ([`MirrorLine`]): their shape is part of the contract.
//!
//! The tests need root (port 443 of two loopback addresses, `/etc/hosts`) and are serialised on
//! the [`SystemLock`]; without root or without skopeo, docker-registry or htpasswd they skip
//! visibly, and under `CI=true` they fail instead.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ecr_e2e::docker_creds::{DockerConfig, ScriptedHelper};
use ecr_e2e::fake::KnobsPatch;
use ecr_e2e::fake::knobs::FakeImage;
use ecr_e2e::mirror_lines::{MirrorLine, Outcome};
use ecr_e2e::mirror_rig::{
    MirrorRig, MirrorRun, SOURCE_HOST, TARGET_HOST, TARGET_PASSWORD, TARGET_USER,
};
use ecr_e2e::oci_images::{Built, LINUX_AMD64, LINUX_ARM64};
use ecr_e2e::proxy::Tinyproxy;
use ecr_e2e::registry_state::LogMark;
use ecr_e2e::sandbox::Sandbox;
use ecr_e2e::skip::{missing_programs, skip};
use ecr_e2e::system::{SystemLock, skip_unless_root};

/// The programs the rig and the checks run.
const TOOLS: [&str; 5] = [
    "skopeo",
    "docker-registry",
    "htpasswd",
    "tinyproxy",
    "script",
];
/// What every failure line of the mirror starts with.
const ERROR_PREFIX: &str = "docker-credential-ecr mirror: ";
/// How long the killed copy may take to land its first layer before the test gives up.
const FIRST_LAYER_TIMEOUT: Duration = Duration::from_secs(180);
const MIB: usize = 1 << 20;

/// The machine lock, or `None` when the test must skip (no root, a tool missing).
fn lock_or_skip(name: &str) -> Option<SystemLock> {
    let name = format!("mirror::{name}");
    if skip_unless_root(&name) {
        return None;
    }
    let missing = missing_programs(TOOLS);
    if !missing.is_empty() && skip(&name, &missing.join(", ")) {
        return None;
    }
    Some(SystemLock::acquire())
}

/// A sandbox whose docker config logs in to the target the way `docker login` leaves it.
fn logged_in_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    DockerConfig::new()
        .auth(TARGET_HOST, TARGET_USER, TARGET_PASSWORD)
        .write(&sandbox);
    sandbox
}

fn src(repo_and_tag: &str) -> String {
    format!("{SOURCE_HOST}/{repo_and_tag}")
}

fn dst(repo_and_tag: &str) -> String {
    format!("{TARGET_HOST}/{repo_and_tag}")
}

/// Panics with the whole run unless it exited 0; prints its lines (shown with `--nocapture`).
fn assert_succeeded(rig: &MirrorRig, run: &MirrorRun, sandbox: &Sandbox, what: &str) {
    eprintln!("mirror ({what}): {}", run.stdout.trim_end());
    assert_eq!(
        run.code,
        Some(0),
        "{what}: the mirror failed\n{}",
        rig.report(run, sandbox)
    );
}

/// The run's stdout lines, each read strictly, keyed by source as printed.
fn lines_by_source(
    rig: &MirrorRig,
    run: &MirrorRun,
    sandbox: &Sandbox,
) -> Vec<(String, MirrorLine)> {
    let lines = MirrorLine::parse_all(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one contract line per image ({e})\n{}",
            rig.report(run, sandbox)
        )
    });
    lines.into_iter().map(|l| (l.source.clone(), l)).collect()
}

/// The one line for `source`, panicking unless exactly one names it.
fn line_for<'a>(lines: &'a [(String, MirrorLine)], source: &str, run: &str) -> &'a MirrorLine {
    let found: Vec<&MirrorLine> = lines
        .iter()
        .filter(|(s, _)| s == source)
        .map(|(_, l)| l)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one line for {source}, found {}:\n{run}",
        found.len()
    );
    found[0]
}

/// Panics unless `line` reports a first copy of all of `built`: every blob and every manifest
/// copied, the bytes of every blob, `source -> target` as given, the top manifest's digest.
fn assert_first_copy(line: &MirrorLine, source: &str, target: &str, built: &Built) {
    assert_eq!(line.source, source, "{line:?}");
    assert_eq!(line.target, target, "{line:?}");
    assert_eq!(line.digest, built.digest(), "{line:?}");
    let blobs = built.blobs().len() as u64;
    let manifests = built.manifest_count() as u64;
    match line.outcome {
        Outcome::Copied {
            blobs_copied,
            blobs: blobs_total,
            bytes,
            manifests_copied,
            manifests: manifests_total,
            ..
        } => {
            assert_eq!(
                (blobs_copied, blobs_total),
                (blobs, blobs),
                "blobs k/n of a first copy: {line:?}"
            );
            assert_eq!(bytes, built.blob_bytes(), "bytes of a first copy: {line:?}");
            assert_eq!(
                (manifests_copied, manifests_total),
                (manifests, manifests),
                "manifests m/mm of a first copy: {line:?}"
            );
        }
        Outcome::UpToDate => panic!("a first copy said `up to date`: {line:?}"),
    }
}

/// Panics unless the target holds `built` at `target` exactly as the source holds it at
/// `source` and as it was built: the top manifest byte for byte (and by `skopeo inspect`'s
/// digest), every child manifest by digest, every blob in the target's storage.
fn assert_mirrored(rig: &MirrorRig, source: &str, target: &str, built: &Built) {
    let target_raw = rig.raw_manifest(target);
    assert!(
        target_raw == built.manifest(),
        "{target}'s manifest differs from the one built:\n{}\n---\n{}",
        String::from_utf8_lossy(&target_raw),
        String::from_utf8_lossy(built.manifest())
    );
    assert_eq!(
        target_raw,
        rig.raw_manifest(source),
        "{target} and {source} differ"
    );
    assert_eq!(rig.inspect_digest(target), rig.inspect_digest(source));
    assert_eq!(rig.inspect_digest(target), built.digest());
    let repo = repository_of(target);
    let storage = rig.target_storage();
    assert!(
        storage.holds_manifest(&repo, built.digest()),
        "no manifest link for {} in {repo}",
        built.digest()
    );
    if let Built::Index { children, .. } = built {
        for child in children {
            let by_digest = format!("{}@{}", repository_with_host(target), child.digest);
            assert_eq!(
                rig.raw_manifest(&by_digest),
                child.manifest,
                "{by_digest} ({}) differs from the one built",
                child.platform.architecture
            );
        }
    }
    for blob in built.blobs() {
        assert!(
            storage.repository_has_blob(&repo, &blob.digest),
            "the target's {repo} lacks blob {}",
            blob.digest
        );
    }
}

/// `HOST/REPO` of `HOST/REPO:TAG` or `HOST/REPO@DIGEST`.
fn repository_with_host(reference: &str) -> String {
    let without_digest = reference.split('@').next().expect("a reference");
    let last_slash = without_digest.rfind('/').expect("HOST/REPO");
    match without_digest[last_slash..].find(':') {
        Some(colon) => without_digest[..last_slash + colon].to_string(),
        None => without_digest.to_string(),
    }
}

/// `REPO` of `HOST/REPO:TAG`.
fn repository_of(reference: &str) -> String {
    let repo = repository_with_host(reference);
    repo.split_once('/').expect("HOST/REPO").1.to_string()
}

/// Panics unless the run failed with exit 1, nothing on stdout, and exactly `count` stderr lines,
/// each starting with the mirror's prefix; returns them.
fn assert_failed_lines<'a>(
    rig: &MirrorRig,
    run: &'a MirrorRun,
    sandbox: &Sandbox,
    count: usize,
) -> Vec<&'a str> {
    eprintln!("mirror stderr: {}", run.stderr.trim_end());
    let report = rig.report(run, sandbox);
    assert_eq!(run.code, Some(1), "exit code\n{report}");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), count, "stderr lines\n{report}");
    for line in &lines {
        assert!(
            line.starts_with(ERROR_PREFIX),
            "a stderr line without {ERROR_PREFIX:?}: {line:?}\n{report}"
        );
    }
    lines
}

#[test]
fn one_image_is_copied_byte_for_byte_to_the_prefix_plus_its_last_path_component() {
    let Some(lock) = lock_or_skip(
        "one_image_is_copied_byte_for_byte_to_the_prefix_plus_its_last_path_component",
    ) else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("one");
    let built = layout.image("1.0", LINUX_AMD64, &[64 * 1024, 300 * 1024]);
    let source = src("vendor/app:1.0");
    rig.seed(&layout, "1.0", &source);
    let sandbox = logged_in_sandbox();
    let calls_before = rig.fake.stats().expect("fake stats").calls;

    // A prefix without its trailing slash means the same as with it.
    let run = rig.mirror(&sandbox, &[&source, "--to", &dst("acme")]);

    assert_succeeded(&rig, &run, &sandbox, "one image");
    let target = dst("acme/app:1.0");
    let lines = lines_by_source(&rig, &run, &sandbox);
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_first_copy(&lines[0].1, &source, &target, &built);
    assert_mirrored(&rig, &source, &target, &built);
    assert_eq!(rig.target_storage().repositories(), ["acme/app"]);
    assert_eq!(rig.target_storage().tag_names("acme/app"), ["1.0"]);
    assert!(
        rig.fake.stats().expect("fake stats").calls > calls_before,
        "the source's password came from somewhere other than the product's ECR call"
    );
}

#[test]
fn a_batch_of_images_is_copied_in_one_command_as_the_currents_loop_would() {
    let Some(lock) =
        lock_or_skip("a_batch_of_images_is_copied_in_one_command_as_the_currents_loop_would")
    else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("currents");
    let services = ["api", "director", "dashboard"];
    let staged: Vec<(String, Built)> = services
        .iter()
        .map(|service| {
            let built = layout.image(service, LINUX_AMD64, &[32 * 1024, 96 * 1024]);
            let source = src(&format!("currents/on-prem/{service}:staging"));
            rig.seed(&layout, service, &source);
            (source, built)
        })
        .collect();
    // No tag means `latest`; a digest is copied and pushed by digest.
    let latest = layout.image("scheduler", LINUX_AMD64, &[40 * 1024]);
    rig.seed(
        &layout,
        "scheduler",
        &src("currents/on-prem/scheduler:latest"),
    );
    let pinned = layout.image("changestreams", LINUX_AMD64, &[50 * 1024]);
    rig.seed(
        &layout,
        "changestreams",
        &src("currents/on-prem/changestreams:staging"),
    );
    let pinned_source = src(&format!(
        "currents/on-prem/changestreams@{}",
        pinned.digest()
    ));
    let sandbox = logged_in_sandbox();

    let mut args: Vec<String> = staged.iter().map(|(s, _)| s.clone()).collect();
    args.push(src("currents/on-prem/scheduler"));
    args.push(pinned_source.clone());
    args.push("--to".into());
    args.push(dst("currents/"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = rig.mirror(&sandbox, &args);

    assert_succeeded(&rig, &run, &sandbox, "the batch");
    let lines = lines_by_source(&rig, &run, &sandbox);
    assert_eq!(lines.len(), 5, "one line per image:\n{}", run.stdout);
    for ((source, built), service) in staged.iter().zip(services) {
        let target = dst(&format!("currents/{service}:staging"));
        assert_first_copy(
            line_for(&lines, source, &run.stdout),
            source,
            &target,
            built,
        );
        assert_mirrored(&rig, source, &target, built);
    }
    let latest_source = src("currents/on-prem/scheduler:latest");
    let latest_target = dst("currents/scheduler:latest");
    assert_first_copy(
        line_for(&lines, &latest_source, &run.stdout),
        &latest_source,
        &latest_target,
        &latest,
    );
    assert_mirrored(&rig, &latest_source, &latest_target, &latest);
    let pinned_target = dst(&format!("currents/changestreams@{}", pinned.digest()));
    assert_first_copy(
        line_for(&lines, &pinned_source, &run.stdout),
        &pinned_source,
        &pinned_target,
        &pinned,
    );
    assert_mirrored(&rig, &pinned_source, &pinned_target, &pinned);
    let storage = rig.target_storage();
    assert_eq!(
        storage.repositories(),
        [
            "currents/api",
            "currents/changestreams",
            "currents/dashboard",
            "currents/director",
            "currents/scheduler"
        ]
    );
    assert!(
        storage.tag_names("currents/changestreams").is_empty(),
        "an image named by digest was pushed by tag: {:?}",
        storage.tag_names("currents/changestreams")
    );
}

#[test]
fn a_second_run_copies_nothing_and_says_up_to_date() {
    let Some(lock) = lock_or_skip("a_second_run_copies_nothing_and_says_up_to_date") else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("twice");
    let single = layout.image("1.0", LINUX_AMD64, &[128 * 1024]);
    let multi = layout.index(
        "2.0",
        &[(LINUX_AMD64, &[64 * 1024]), (LINUX_ARM64, &[80 * 1024])],
    );
    let (one, two) = (src("vendor/app:1.0"), src("vendor/app:2.0"));
    rig.seed(&layout, "1.0", &one);
    rig.seed(&layout, "2.0", &two);
    let sandbox = logged_in_sandbox();
    let args = [one.as_str(), two.as_str(), "--to", TARGET_HOST];
    let first = rig.mirror(&sandbox, &args);
    assert_succeeded(&rig, &first, &sandbox, "the first run");

    let mark = rig.target_mark();
    let second = rig.mirror(&sandbox, &args);

    assert_succeeded(&rig, &second, &sandbox, "the second run");
    let lines = lines_by_source(&rig, &second, &sandbox);
    assert_eq!(lines.len(), 2, "{}", second.stdout);
    for (source, target, built) in [
        (&one, dst("app:1.0"), &single),
        (&two, dst("app:2.0"), &multi),
    ] {
        let line = line_for(&lines, source, &second.stdout);
        assert_eq!(
            line,
            &MirrorLine {
                source: source.clone(),
                target: target.clone(),
                digest: built.digest().to_string(),
                outcome: Outcome::UpToDate,
            }
        );
        assert_mirrored(&rig, source, &target, built);
    }
    let requests = rig.target_requests_since(mark);
    assert!(
        requests.blob_uploads().is_empty(),
        "the second run uploaded blobs: {:#?}",
        requests.blob_uploads()
    );
    assert!(
        requests.manifest_puts().is_empty(),
        "the second run pushed manifests: {:#?}",
        requests.manifest_puts()
    );
    assert!(
        !requests.requests.is_empty(),
        "the second run never asked the target anything: it cannot know it is up to date"
    );
}

#[test]
fn a_copy_killed_midway_is_resumed_and_copies_only_what_is_missing() {
    let Some(lock) =
        lock_or_skip("a_copy_killed_midway_is_resumed_and_copies_only_what_is_missing")
    else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("big");
    // Layers of different sizes: whether the copy uploads them one by one or side by side, the
    // smallest lands well before the largest.
    let built = layout.image("1.0", LINUX_AMD64, &[16 * MIB, 48 * MIB, 96 * MIB]);
    let source = src("vendor/big:1.0");
    rig.seed(&layout, "1.0", &source);
    let target = dst("acme/big:1.0");
    let sandbox = logged_in_sandbox();
    let args = [source.as_str(), "--to", &dst("acme/")];
    let storage = rig.target_storage();
    let layers = &built.images()[0].layers;

    let mut child = rig.spawn_mirror(&sandbox, &args, "killed");
    let deadline = Instant::now() + FIRST_LAYER_TIMEOUT;
    while !layers
        .iter()
        .any(|l| storage.repository_has_blob("acme/big", &l.digest))
    {
        if let Some(status) = child.try_wait().expect("poll the mirror") {
            let (out, err) = rig.spawned_output("killed");
            panic!(
                "the mirror exited ({status}) before the target held any layer\n--- stdout ---\n{out}\n--- stderr ---\n{err}\n{}",
                rig.target.log_tail()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no layer reached the target within {FIRST_LAYER_TIMEOUT:?}\n{}",
            rig.target.log_tail()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill -9 the mirror");
    let status = child.wait().expect("reap the mirror");
    let (killed_out, killed_err) = rig.spawned_output("killed");
    // The registry logs a request when its handler returns, which for an upload the killed
    // client had finished sending can be after the kill. Wait until every blob the repository
    // holds has its upload logged, so that the resumed run's requests are told apart from it.
    wait_for_logged_uploads(&rig, "acme/big", &built);

    // The state the kill left: some of the image's blobs, not its manifest, no tag.
    assert!(
        !status.success(),
        "the mirror finished before the kill: {killed_out}"
    );
    assert!(
        killed_out.is_empty(),
        "a killed copy printed a line: {killed_out:?}"
    );
    assert!(
        !storage.holds_manifest("acme/big", built.digest()),
        "the manifest was already pushed when the first layer landed: the copy does not push \
         the manifest last"
    );
    assert_eq!(storage.tag("acme/big", "1.0"), None);
    let missing: BTreeSet<String> = built
        .blobs()
        .iter()
        .filter(|b| !storage.repository_has_blob("acme/big", &b.digest))
        .map(|b| b.digest.clone())
        .collect();
    assert!(
        !missing.is_empty(),
        "every blob had landed before the kill; nothing is left to resume\n{killed_err}"
    );

    let mark = rig.target_mark();
    let run = rig.mirror(&sandbox, &args);

    assert_succeeded(&rig, &run, &sandbox, "the resumed copy");
    let lines = lines_by_source(&rig, &run, &sandbox);
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    let line = &lines[0].1;
    assert_eq!(
        (
            line.source.as_str(),
            line.target.as_str(),
            line.digest.as_str()
        ),
        (source.as_str(), target.as_str(), built.digest())
    );
    let uploaded = rig.target_requests_since(mark).uploaded_digests();
    let uploaded_set: BTreeSet<String> = uploaded.iter().cloned().collect();
    assert!(
        uploaded_set.is_subset(&missing),
        "the resumed copy uploaded blobs the target already held: uploaded {uploaded:?}, \
         missing {missing:?}"
    );
    assert_eq!(
        uploaded.len(),
        uploaded_set.len(),
        "a blob uploaded twice: {uploaded:?}"
    );
    let uploaded_bytes: u64 = built
        .blobs()
        .iter()
        .filter(|b| uploaded_set.contains(&b.digest))
        .map(|b| b.size)
        .sum();
    match line.outcome {
        Outcome::Copied {
            blobs_copied,
            blobs,
            bytes,
            manifests_copied,
            manifests,
            ..
        } => {
            assert_eq!(blobs, built.blobs().len() as u64, "{line:?}");
            assert!(
                0 < blobs_copied && blobs_copied < blobs,
                "a resumed copy copies some, not all: {line:?}"
            );
            assert_eq!(
                blobs_copied,
                uploaded.len() as u64,
                "the line's count differs from the uploads the target logged ({uploaded:?}): {line:?}"
            );
            assert_eq!(bytes, uploaded_bytes, "{line:?}");
            assert_eq!((manifests_copied, manifests), (1, 1), "{line:?}");
        }
        Outcome::UpToDate => panic!("the resumed copy said `up to date`: {line:?}"),
    }
    assert_mirrored(&rig, &source, &target, &built);
}

/// Waits until the target's log shows a finished upload for every blob of `built` that `repo`
/// holds.
fn wait_for_logged_uploads(rig: &MirrorRig, repo: &str, built: &Built) {
    let storage = rig.target_storage();
    let unlogged = || {
        let logged = rig
            .target_requests_since(LogMark::start())
            .uploaded_digests();
        built
            .blobs()
            .iter()
            .filter(|b| storage.repository_has_blob(repo, &b.digest) && !logged.contains(&b.digest))
            .map(|b| b.digest.clone())
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + FIRST_LAYER_TIMEOUT;
    while !unlogged().is_empty() {
        assert!(
            Instant::now() < deadline,
            "blobs {:?} are in {repo} but their uploads never showed in the log\n{}",
            unlogged(),
            rig.target.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_multi_arch_index_and_both_its_children_keep_their_digests() {
    let Some(lock) = lock_or_skip("a_multi_arch_index_and_both_its_children_keep_their_digests")
    else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("multi");
    let built = layout.index(
        "1.0",
        &[
            (LINUX_AMD64, &[100 * 1024, 20 * 1024]),
            (LINUX_ARM64, &[90 * 1024, 30 * 1024]),
        ],
    );
    let source = src("vendor/multi:1.0");
    rig.seed(&layout, "1.0", &source);
    let sandbox = logged_in_sandbox();
    let mark = rig.target_mark();

    let run = rig.mirror(&sandbox, &[&source, "--to", &dst("acme/")]);

    assert_succeeded(&rig, &run, &sandbox, "the index");
    let target = dst("acme/multi:1.0");
    let lines = lines_by_source(&rig, &run, &sandbox);
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    // Six blobs (two configs, four layers), three manifests (the index and two children).
    assert_eq!(built.blobs().len(), 6);
    assert_first_copy(&lines[0].1, &source, &target, &built);
    assert_mirrored(&rig, &source, &target, &built);
    let storage = rig.target_storage();
    for child in built.images() {
        assert!(
            storage.holds_manifest("acme/multi", &child.digest),
            "no {} child on the target",
            child.platform.architecture
        );
    }
    // Children first, by digest; the index last, by its tag.
    let puts: Vec<String> = rig
        .target_requests_since(mark)
        .manifest_puts()
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.target.clone())
        .collect();
    let children: BTreeSet<String> = built
        .images()
        .iter()
        .map(|c| format!("/v2/acme/multi/manifests/{}", c.digest))
        .collect();
    assert_eq!(puts.len(), 3, "three manifest pushes: {puts:?}");
    assert_eq!(
        puts[..2].iter().cloned().collect::<BTreeSet<_>>(),
        children,
        "the children are not pushed first: {puts:?}"
    );
    assert_eq!(puts[2], "/v2/acme/multi/manifests/1.0", "{puts:?}");
}

#[test]
fn the_registries_are_trusted_through_the_ca_bundle_and_ssl_cert_file_and_nothing_else() {
    let Some(lock) = lock_or_skip(
        "the_registries_are_trusted_through_the_ca_bundle_and_ssl_cert_file_and_nothing_else",
    ) else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("trust");
    let built = layout.image("1.0", LINUX_AMD64, &[10 * 1024]);
    let source = src("vendor/app:1.0");
    rig.seed(&layout, "1.0", &source);
    let sandbox = logged_in_sandbox();
    let without_ca = || -> Vec<(String, String)> {
        rig.mirror_env(&sandbox)
            .into_iter()
            .filter(|(k, _)| k != "AWS_CA_BUNDLE")
            .collect()
    };

    // Without the CA the certificates are unknown: a mirror that skipped verification would copy.
    let run = rig.mirror_in_env(&[&source, "--to", &dst("untrusted/")], without_ca());
    assert!(
        run.stdout.is_empty(),
        "an untrusted copy printed on stdout\n{}",
        rig.report(&run, &sandbox)
    );
    eprintln!("mirror stderr (untrusted): {}", run.stderr.trim_end());
    let lines = run.stderr_lines();
    assert_eq!(run.code, Some(1), "{}", rig.report(&run, &sandbox));
    assert!(
        !lines.is_empty() && lines.iter().all(|l| l.starts_with(ERROR_PREFIX)),
        "{}",
        rig.report(&run, &sandbox)
    );
    assert!(
        rig.target_storage().repositories().is_empty(),
        "the target holds {:?} though its certificate is not trusted",
        rig.target_storage().repositories()
    );

    // SSL_CERT_FILE (the system roots plus the CA) is honoured like AWS_CA_BUNDLE.
    let mut env = without_ca();
    env.push((
        "SSL_CERT_FILE".into(),
        rig.pki().bundle.to_string_lossy().into_owned(),
    ));
    let run = rig.mirror_in_env(&[&source, "--to", &dst("cert-file/")], env);
    assert_succeeded(&rig, &run, &sandbox, "trust through SSL_CERT_FILE");
    assert_mirrored(&rig, &source, &dst("cert-file/app:1.0"), &built);
}

#[test]
fn a_target_that_refuses_the_login_stops_the_run_with_one_clear_line() {
    let Some(lock) =
        lock_or_skip("a_target_that_refuses_the_login_stops_the_run_with_one_clear_line")
    else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("refused");
    layout.image("1.0", LINUX_AMD64, &[10 * 1024]);
    layout.image("2.0", LINUX_AMD64, &[10 * 1024]);
    let (one, two) = (src("vendor/app:1.0"), src("vendor/app:2.0"));
    rig.seed(&layout, "1.0", &one);
    rig.seed(&layout, "2.0", &two);
    let sandbox = Sandbox::new();
    DockerConfig::new()
        .auth(TARGET_HOST, TARGET_USER, "not-the-password")
        .write(&sandbox);
    let mark = rig.target_mark();

    let run = rig.mirror(&sandbox, &[&one, &two, "--to", &dst("acme/")]);

    assert!(
        run.stdout.is_empty(),
        "a refused run printed on stdout\n{}",
        rig.report(&run, &sandbox)
    );
    let lines = assert_failed_lines(&rig, &run, &sandbox, 1);
    assert!(
        lines[0].contains("refused") && lines[0].contains(TARGET_HOST),
        "the line does not say the target {TARGET_HOST} refused the login: {:?}",
        lines[0]
    );
    assert!(
        rig.target_storage().repositories().is_empty(),
        "the target holds manifests after a refused login: {:?}",
        rig.target_storage().repositories()
    );
    let requests = rig.target_requests_since(mark);
    assert!(
        requests.requests.iter().any(|r| r.status == 401),
        "the target never refused anything: the mirror did not try to log in\n{}",
        rig.target.log_tail()
    );
    assert!(
        requests.requests.iter().all(|r| r.status >= 400),
        "the target answered a request of the refused run: {:#?}",
        requests.requests
    );
}

#[test]
fn target_credentials_are_resolved_in_dockers_order() {
    let Some(lock) = lock_or_skip("target_credentials_are_resolved_in_dockers_order") else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("creds");
    let built = layout.image("1.0", LINUX_AMD64, &[20 * 1024]);
    let source = src("vendor/app:1.0");
    rig.seed(&layout, "1.0", &source);
    let scripts = rig.scratch("helpers");
    let helper = ScriptedHelper::install(
        &scripts,
        "e2etarget",
        TARGET_HOST,
        TARGET_USER,
        TARGET_PASSWORD,
    );
    let store = ScriptedHelper::install(
        &scripts,
        "e2estore",
        TARGET_HOST,
        TARGET_USER,
        TARGET_PASSWORD,
    );
    let path = [helper.dir(), store.dir()];

    // credHelpers[host] beats a wrong auths[host].
    let sandbox = Sandbox::new();
    DockerConfig::new()
        .auth(TARGET_HOST, TARGET_USER, "not-the-password")
        .cred_helper(TARGET_HOST, "e2etarget")
        .write(&sandbox);
    let run = rig.mirror_with_path(&sandbox, &[&source, "--to", &dst("helpers/")], &path);
    assert_succeeded(&rig, &run, &sandbox, "credHelpers over auths");
    assert_mirrored(&rig, &source, &dst("helpers/app:1.0"), &built);
    assert_asked_for_the_target(&helper.calls(), "credHelpers");
    assert!(
        store.calls().is_empty(),
        "credsStore asked: {:?}",
        store.calls()
    );

    // With no credHelpers entry for the host, credsStore is asked, and beats auths[host].
    let sandbox = Sandbox::new();
    DockerConfig::new()
        .auth(TARGET_HOST, TARGET_USER, "not-the-password")
        .cred_helper("other.example.test", "e2etarget")
        .creds_store("e2estore")
        .write(&sandbox);
    let helper_calls = helper.calls().len();
    let run = rig.mirror_with_path(&sandbox, &[&source, "--to", &dst("store/")], &path);
    assert_succeeded(&rig, &run, &sandbox, "credsStore over auths");
    assert_mirrored(&rig, &source, &dst("store/app:1.0"), &built);
    assert_asked_for_the_target(&store.calls(), "credsStore");
    assert_eq!(
        helper.calls().len(),
        helper_calls,
        "the credHelpers entry of another host was asked: {:?}",
        helper.calls()
    );

    // auths alone, in its other form (username and password) under an `https://` key.
    let sandbox = Sandbox::new();
    DockerConfig::new()
        .auth_fields(
            &format!("https://{TARGET_HOST}"),
            TARGET_USER,
            TARGET_PASSWORD,
        )
        .write(&sandbox);
    let run = rig.mirror(&sandbox, &[&source, "--to", &dst("fields/")]);
    assert_succeeded(&rig, &run, &sandbox, "auths with username and password");
    assert_mirrored(&rig, &source, &dst("fields/app:1.0"), &built);
}

/// Panics unless `calls` holds a `get` for the target host (as `host` or `https://host`).
fn assert_asked_for_the_target(calls: &[String], what: &str) {
    let wanted = [
        format!("get {TARGET_HOST}"),
        format!("get https://{TARGET_HOST}"),
        format!("get https://{TARGET_HOST}/"),
    ];
    assert!(
        calls.iter().any(|c| wanted.contains(c)),
        "the {what} helper was not asked for {TARGET_HOST}: {calls:?}"
    );
}

#[test]
fn keep_path_keeps_the_whole_source_path_and_all_tags_copies_every_tag() {
    let Some(lock) =
        lock_or_skip("keep_path_keeps_the_whole_source_path_and_all_tags_copies_every_tag")
    else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("paths");
    let tools = layout.image("tools", LINUX_AMD64, &[30 * 1024]);
    let tools_source = src("vendor/tools/app:1.0");
    rig.seed(&layout, "tools", &tools_source);
    let tags: Vec<(&str, Built)> = vec![
        ("1.0", layout.image("1.0", LINUX_AMD64, &[10 * 1024])),
        ("1.1", layout.image("1.1", LINUX_AMD64, &[11 * 1024])),
        (
            "multi",
            layout.index(
                "multi",
                &[(LINUX_AMD64, &[12 * 1024]), (LINUX_ARM64, &[13 * 1024])],
            ),
        ),
    ];
    for (tag, _) in &tags {
        rig.seed(&layout, tag, &src(&format!("vendor/app:{tag}")));
    }
    let sandbox = logged_in_sandbox();

    let run = rig.mirror(
        &sandbox,
        &[&tools_source, "--to", &dst("acme/"), "--keep-path"],
    );
    assert_succeeded(&rig, &run, &sandbox, "--keep-path");
    let kept = dst("acme/vendor/tools/app:1.0");
    let lines = lines_by_source(&rig, &run, &sandbox);
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    assert_first_copy(&lines[0].1, &tools_source, &kept, &tools);
    assert_mirrored(&rig, &tools_source, &kept, &tools);

    // ECR lists the tags (DescribeImages, in pages of two here); the registry serves them.
    let listed: Vec<FakeImage> = tags
        .iter()
        .enumerate()
        .map(|(i, (tag, built))| FakeImage {
            digest: built.digest().to_string(),
            tags: vec![tag.to_string()],
            pushed_at_ms: 1_767_000_000_000 + i as u64 * 60_000,
            size_bytes: built.blob_bytes(),
        })
        .collect();
    rig.fake
        .set_knobs(&KnobsPatch {
            repositories: Some(BTreeMap::from([("vendor/app".to_string(), listed)])),
            images_page_size: Some(2),
            ..KnobsPatch::default()
        })
        .expect("list vendor/app's images in the fake ECR");
    let run = rig.mirror(
        &sandbox,
        &[&src("vendor/app"), "--to", &dst("all/"), "--all-tags"],
    );
    assert_succeeded(&rig, &run, &sandbox, "--all-tags");
    let lines = lines_by_source(&rig, &run, &sandbox);
    assert_eq!(lines.len(), tags.len(), "one line per tag:\n{}", run.stdout);
    for (tag, built) in &tags {
        let source = src(&format!("vendor/app:{tag}"));
        let target = dst(&format!("all/app:{tag}"));
        assert_first_copy(
            line_for(&lines, &source, &run.stdout),
            &source,
            &target,
            built,
        );
        assert_mirrored(&rig, &source, &target, built);
    }
    assert_eq!(
        rig.tags(&dst("all/app")),
        rig.tags(&src("vendor/app")),
        "the target's tags differ from the source's"
    );
    assert_eq!(
        rig.target_storage().repositories(),
        ["acme/vendor/tools/app", "all/app"]
    );
}

#[test]
fn a_source_that_is_not_ecr_or_does_not_exist_fails_in_one_line_and_the_rest_is_copied() {
    let Some(lock) = lock_or_skip(
        "a_source_that_is_not_ecr_or_does_not_exist_fails_in_one_line_and_the_rest_is_copied",
    ) else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("errors");
    let built = layout.image("1.0", LINUX_AMD64, &[10 * 1024]);
    let good = src("vendor/app:1.0");
    rig.seed(&layout, "1.0", &good);
    let sandbox = logged_in_sandbox();
    let to = dst("acme/");

    for (bad, names) in [
        (
            "registry.example.test/vendor/app:1.0",
            "registry.example.test",
        ),
        (&*src("vendor/missing:1.0"), "vendor/missing"),
        (&*src("vendor/app:no-such-tag"), "no-such-tag"),
    ] {
        let run = rig.mirror(&sandbox, &[bad, "--to", &to]);
        assert!(
            run.stdout.is_empty(),
            "{bad}: a failed image printed on stdout\n{}",
            rig.report(&run, &sandbox)
        );
        let lines = assert_failed_lines(&rig, &run, &sandbox, 1);
        assert!(
            lines[0].contains(names),
            "{bad}: the line does not name {names}: {:?}",
            lines[0]
        );
        assert!(
            rig.target_storage().repositories().is_empty(),
            "{bad}: the target holds {:?}",
            rig.target_storage().repositories()
        );
    }

    // In a batch, a missing image fails alone: the others are still copied.
    let missing = src("vendor/missing:1.0");
    let run = rig.mirror(&sandbox, &[&missing, &good, "--to", &to]);
    let lines = assert_failed_lines(&rig, &run, &sandbox, 1);
    assert!(lines[0].contains("vendor/missing"), "{:?}", lines[0]);
    let copied = lines_by_source(&rig, &run, &sandbox);
    assert_eq!(copied.len(), 1, "{}", run.stdout);
    assert_first_copy(&copied[0].1, &good, &dst("acme/app:1.0"), &built);
    assert_mirrored(&rig, &good, &dst("acme/app:1.0"), &built);
    assert_eq!(rig.target_storage().repositories(), ["acme/app"]);
}

#[test]
fn the_copy_goes_through_https_proxy_except_to_the_hosts_no_proxy_names() {
    let Some(lock) =
        lock_or_skip("the_copy_goes_through_https_proxy_except_to_the_hosts_no_proxy_names")
    else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let proxy = Tinyproxy::start(443);
    let mut layout = rig.layout("proxied");
    let built = layout.image("1.0", LINUX_AMD64, &[256 * 1024]);
    let source = src("vendor/proxied:1.0");
    rig.seed(&layout, "1.0", &source);
    let sandbox = logged_in_sandbox();
    let target = dst("acme/proxied:1.0");

    // Through the proxy to the source; straight to the target, which NO_PROXY names.
    let mut env = rig.mirror_env(&sandbox);
    env.push(("HTTPS_PROXY".into(), proxy.url()));
    env.push(("NO_PROXY".into(), TARGET_HOST.into()));
    let run = rig.mirror_in_env(&[&source, "--to", &dst("acme/")], env);

    assert_succeeded(&rig, &run, &sandbox, "through the proxy");
    assert_mirrored(&rig, &source, &target, &built);
    let connects = proxy.connect_requests();
    assert!(
        connects
            .iter()
            .any(|line| line.contains(&format!("CONNECT {SOURCE_HOST}:443"))),
        "the source was not reached through HTTPS_PROXY:\n{}",
        proxy.log()
    );
    assert!(
        !connects.iter().any(|line| line.contains(TARGET_HOST)),
        "NO_PROXY names the target, yet the proxy carried it:\n{}",
        proxy.log()
    );

    // Without NO_PROXY the target goes through the proxy too.
    let mut env = rig.mirror_env(&sandbox);
    env.push(("HTTPS_PROXY".into(), proxy.url()));
    let run = rig.mirror_in_env(&[&source, "--to", &dst("other/")], env);
    assert_succeeded(&rig, &run, &sandbox, "through the proxy, both sides");
    assert!(
        proxy
            .connect_requests()
            .iter()
            .any(|line| line.contains(&format!("CONNECT {TARGET_HOST}:443"))),
        "the target was not reached through HTTPS_PROXY:\n{}",
        proxy.log()
    );
}

#[test]
fn a_terminal_shows_a_progress_bar_and_a_pipe_gets_only_the_lines() {
    let Some(lock) = lock_or_skip("a_terminal_shows_a_progress_bar_and_a_pipe_gets_only_the_lines")
    else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("bar");
    let built = layout.image("1.0", LINUX_AMD64, &[24 * MIB]);
    let source = src("vendor/bar:1.0");
    rig.seed(&layout, "1.0", &source);
    let sandbox = logged_in_sandbox();

    // On a terminal (`script` gives the mirror a pseudo-terminal for stdout and stderr).
    let mut env = rig.mirror_env(&sandbox);
    env.push(("TERM".into(), "xterm".into()));
    let helper = ecr_e2e::sandbox::helper_bin();
    let command = format!("{} mirror {source} --to {}", helper.display(), dst("tty/"));
    let out = ecr_e2e::client_rig::timed("script", &["-qec", &command, "/dev/null"])
        .env_clear()
        .envs(env)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run script");
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("mirror on a terminal: {screen:?}");
    assert!(
        out.status.success(),
        "the mirror on a terminal failed: {screen}"
    );
    let target = dst("tty/bar:1.0");
    assert!(
        screen.contains("MiB") && screen.contains("] ") && screen.contains(&target),
        "no progress bar (bytes in MiB, the bar, the target) on the terminal: {screen:?}"
    );
    assert!(
        screen.contains(&format!("{source} -> {target} {} copied", built.digest())),
        "the image's line is missing on the terminal: {screen:?}"
    );
    assert_mirrored(&rig, &source, &target, &built);

    // Not a terminal: stdout holds the one line, stderr nothing at all.
    let run = rig.mirror(&sandbox, &[&source, "--to", &dst("pipe/")]);
    assert_succeeded(&rig, &run, &sandbox, "to a pipe");
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    assert_eq!(run.stderr, "", "a pipe got more than the line");
}

#[test]
fn a_base_layer_the_images_share_moves_once_and_is_mounted_into_the_others() {
    let Some(lock) =
        lock_or_skip("a_base_layer_the_images_share_moves_once_and_is_mounted_into_the_others")
    else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("shared-base");
    let base = layout.image("base", LINUX_AMD64, &[4 * MIB]);
    let base_layer = base.images()[0].layers[0].clone();
    let api = layout.image_over(
        "api",
        LINUX_AMD64,
        std::slice::from_ref(&base_layer),
        &[200 * 1024],
    );
    let web = layout.image_over(
        "web",
        LINUX_AMD64,
        std::slice::from_ref(&base_layer),
        &[300 * 1024],
    );
    let (api_src, web_src) = (
        src("currents/on-prem/api:staging"),
        src("currents/on-prem/web:staging"),
    );
    rig.seed(&layout, "api", &api_src);
    rig.seed(&layout, "web", &web_src);
    let sandbox = logged_in_sandbox();
    let mark = rig.target_mark();

    let run = rig.mirror(&sandbox, &[&api_src, &web_src, "--to", &dst("acme/")]);

    assert_succeeded(&rig, &run, &sandbox, "two images over one base");
    let (api_dst, web_dst) = (dst("acme/api:staging"), dst("acme/web:staging"));
    assert_mirrored(&rig, &api_src, &api_dst, &api);
    assert_mirrored(&rig, &web_src, &web_dst, &web);
    let lines = lines_by_source(&rig, &run, &sandbox);
    assert_first_copy(
        line_for(&lines, &api_src, &run.stdout),
        &api_src,
        &api_dst,
        &api,
    );
    // The second image moves its own blobs only: the base is mounted, not uploaded.
    match line_for(&lines, &web_src, &run.stdout).outcome {
        Outcome::Copied {
            blobs_copied,
            blobs,
            bytes,
            ..
        } => {
            assert_eq!((blobs_copied, blobs), (2, 3), "{}", run.stdout);
            assert_eq!(bytes, web.blob_bytes() - base_layer.size, "{}", run.stdout);
        }
        Outcome::UpToDate => panic!("web was not copied: {}", run.stdout),
    }
    let log = rig.target_requests_since(mark);
    let base_uploads = log
        .uploaded_digests()
        .iter()
        .filter(|d| **d == base_layer.digest)
        .count();
    assert_eq!(
        base_uploads,
        1,
        "the shared base layer was uploaded {base_uploads} times: {:#?}",
        log.blob_uploads()
    );
    let mounted = log.requests.iter().any(|r| {
        r.method == "POST"
            && r.status == 201
            && r.target.contains("mount=")
            && r.target
                .contains(base_layer.digest.trim_start_matches("sha256:"))
    });
    assert!(
        mounted,
        "no cross-repository mount of the base: {:#?}",
        log.blob_uploads()
    );
}

#[test]
fn a_source_blob_that_is_not_its_digest_is_refused_before_the_target_gets_it_whole() {
    let Some(lock) = lock_or_skip(
        "a_source_blob_that_is_not_its_digest_is_refused_before_the_target_gets_it_whole",
    ) else {
        return;
    };
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("corrupt");
    let built = layout.image("1.0", LINUX_AMD64, &[2 * MIB]);
    let source = src("vendor/corrupt:1.0");
    rig.seed(&layout, "1.0", &source);
    // The source registry serves other bytes of the same length for the layer.
    let layer = built.images()[0].layers[0].clone();
    let data = ecr_e2e::registry_state::RegistryStorage::of(&rig.source).blob_data(&layer.digest);
    let mut bytes = std::fs::read(&data).expect("read the layer's data");
    bytes[MIB] ^= 0xff;
    std::fs::write(&data, &bytes).expect("corrupt the layer");
    let sandbox = logged_in_sandbox();
    let mark = rig.target_mark();

    let run = rig.mirror(&sandbox, &[&source, "--to", &dst("acme/")]);

    assert_eq!(run.code, Some(1), "{}", rig.report(&run, &sandbox));
    assert_eq!(run.stdout, "", "a failed image printed a line");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    // Said by the mirror's own check of the source, not by the target refusing the upload.
    assert!(
        lines[0].starts_with(ERROR_PREFIX)
            && lines[0].contains(&layer.digest)
            && lines[0].contains("failed its check"),
        "{}",
        lines[0]
    );
    let storage = rig.target_storage();
    assert!(
        !storage.holds_blob(&layer.digest),
        "the target holds the corrupt layer"
    );
    assert_eq!(storage.tag("acme/corrupt", "1.0"), None, "a tag was pushed");
    let completed: Vec<_> = rig
        .target_requests_since(mark)
        .blob_uploads()
        .into_iter()
        .filter(|r| r.upload_digest().as_deref() == Some(layer.digest.as_str()))
        .filter(|r| r.status == 201)
        .cloned()
        .collect();
    assert!(
        completed.is_empty(),
        "the target completed the layer's upload: {completed:#?}"
    );
}

/// The users.md test-analytics workflow: the customer's own keys, a role the vendor lets them
/// assume, six images mirrored into their registry. Once `add` has the keys and the role, the
/// whole loop of the guide (assume-role, export, login, pull/tag/push x6) is one command.
#[test]
fn keys_and_a_vendor_role_given_once_then_six_images_mirrored_in_one_command() {
    let Some(lock) =
        lock_or_skip("keys_and_a_vendor_role_given_once_then_six_images_mirrored_in_one_command")
    else {
        return;
    };
    const ROLE: &str = "arn:aws:iam::123456789012:role/currents-pull";
    const SERVICES: [&str; 6] = [
        "director",
        "api",
        "dashboard",
        "scheduler",
        "writer",
        "change-streams",
    ];
    let rig = MirrorRig::start(&lock);
    let mut layout = rig.layout("currents");
    let base = layout.image("base", LINUX_AMD64, &[MIB]);
    let base_layer = base.images()[0].layers[0].clone();
    let mut built = Vec::new();
    for (i, service) in SERVICES.iter().enumerate() {
        let image = layout.image_over(
            service,
            LINUX_AMD64,
            std::slice::from_ref(&base_layer),
            &[64 * 1024 + i * 1024],
        );
        rig.seed(
            &layout,
            service,
            &src(&format!("currents/on-prem/{service}:staging")),
        );
        built.push(image);
    }
    let sandbox = logged_in_sandbox();
    let env = |with_keys: bool| {
        let mut env = rig.mirror_env(&sandbox);
        env.push(("AWS_ENDPOINT_URL_STS".into(), rig.fake.url()));
        if !with_keys {
            env.retain(|(k, _)| k != "AWS_ACCESS_KEY_ID" && k != "AWS_SECRET_ACCESS_KEY");
        }
        env
    };
    // Once: the customer's keys (a file store: no keychain on this machine) and the role.
    let add = sandbox.helper().envs(env(false)).add_example_keys(
        SOURCE_HOST,
        "currents",
        &["--role-arn", ROLE, "--store", "file"],
    );
    assert_eq!(add.code, 0, "add failed: {add:#?}");
    sandbox
        .helper()
        .envs(env(false))
        .run(&["erase"], SOURCE_HOST.as_bytes())
        .assert_ok();
    rig.fake.reset().expect("reset the fake");

    // Every release: one command, with no AWS keys in the environment.
    let sources: Vec<String> = SERVICES
        .iter()
        .map(|s| src(&format!("currents/on-prem/{s}:staging")))
        .collect();
    let mut args: Vec<&str> = sources.iter().map(String::as_str).collect();
    let to = dst("currents/");
    args.extend(["--to", &to]);
    let run = rig.mirror_in_env(&args, env(false));

    assert_succeeded(&rig, &run, &sandbox, "six images through the vendor's role");
    let lines = lines_by_source(&rig, &run, &sandbox);
    assert_eq!(lines.len(), SERVICES.len(), "{}", run.stdout);
    for ((service, source), image) in SERVICES.iter().zip(&sources).zip(&built) {
        let target = dst(&format!("currents/{service}:staging"));
        assert_eq!(line_for(&lines, source, &run.stdout).target, target);
        assert_mirrored(&rig, source, &target, image);
    }
    let requests = rig
        .fake
        .assume_role_requests()
        .expect("AssumeRole requests");
    assert_eq!(
        requests.len(),
        1,
        "one AssumeRole for the run: {requests:#?}"
    );
    assert_eq!(requests[0].role_arn, ROLE);
    assert_eq!(
        requests[0].access_key.as_deref(),
        Some(ecr_e2e::sandbox::EXAMPLE_ACCESS_KEY_ID),
        "the role was assumed with the customer's key set"
    );
    let issued = requests[0]
        .issued_access_key
        .clone()
        .expect("a temporary key");
    let stats = rig.fake.stats().expect("fake stats");
    assert_eq!(
        stats.by_access_key.get(&issued).copied(),
        Some(1),
        "one ECR call, signed with the role's temporary key: {stats:#?}"
    );
}
