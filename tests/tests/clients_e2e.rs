//! Every real client of the helper, end to end, under the genuine ECR host name: podman, buildah
//! and skopeo (the containers tools), docker-compose 1.29 (Python, docker-py), and a retagged
//! `docker push` (the KOTS guide's mirror step).
//!
//! All run against the [`ClientRig`] (a TLS registry on `127.0.0.2:443` under
//! `123456789012.dkr.ecr.us-east-1.amazonaws.com`, basic auth for user `AWS` with the password the
//! fake ECR hands out, a private dockerd). Each client gets a fresh sandbox whose only route to a
//! credential is `credHelpers` naming the helper, written where that client reads it, and each
//! step proves two things:
//! - with that route the client succeeds, and the fake ECR answered a GetAuthorizationToken call
//!   for it (the sandbox's token cache starts empty, so only the helper can have made it);
//! - without the route the same command is refused by the registry: the credential came from
//!   nowhere else.
//!
//! One test runs the steps in order on one rig (the rig needs root, port 443 and `/etc/hosts`,
//! serialised by the [`SystemLock`]) and prints each step's duration. A missing client is a
//! visible skip, and a failure under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Instant;

use ecr_e2e::client_rig::{ClientRig, IMAGE};
use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, Sandbox};
use ecr_e2e::skip::{missing_programs, skip};
use ecr_e2e::system::{SystemLock, run_ok, skip_unless_root};

/// The clients this file drives (dockerd and the docker CLI come with the rig).
const CLIENTS: [&str; 4] = ["podman", "buildah", "skopeo", "docker-compose"];
/// The repository the retagged image is pushed to (a customer's mirror of the vendor's image).
const MIRROR_REPOSITORY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/customer/app";

#[test]
fn every_client_authenticates_through_cred_helpers() {
    let name = "clients_e2e::every_client_authenticates_through_cred_helpers";
    if skip_unless_root(name) {
        return;
    }
    let missing = missing_programs(CLIENTS);
    if !missing.is_empty() && skip(name, &missing.join(", ")) {
        return;
    }
    let lock = SystemLock::acquire();
    let rig = ClientRig::start(&lock);
    rig.seed(IMAGE);

    timed_step("podman pull", || podman_pulls_into_vfs_storage(&rig));
    timed_step("buildah pull", || buildah_pulls_into_vfs_storage(&rig));
    timed_step("skopeo copy", || skopeo_copies_without_a_daemon(&rig));
    timed_step("docker-compose pull", || compose_pulls_the_env_image(&rig));
    timed_step("docker push of a retag", || {
        retagged_image_is_pushed_and_pulled_by_digest(&rig)
    });
}

/// Runs `step` and prints how long it took (on stderr: `--nocapture` shows it).
fn timed_step(what: &str, step: impl FnOnce()) {
    let started = Instant::now();
    step();
    eprintln!("clients_e2e: {what}: {:.1?}", started.elapsed());
}

/// Panics unless the fake ECR answered a call since `before`: the helper ran for the client.
fn assert_helper_fetched(rig: &ClientRig, before: u64, what: &str, sandbox: &Sandbox) {
    assert!(
        rig.api_calls() > before,
        "{what} succeeded without a GetAuthorizationToken call: the helper was not used\n{}",
        sandbox.log()
    );
}

/// A private containers storage (vfs, its own root and run root) for podman or buildah.
struct ContainersStorage {
    dir: tempfile::TempDir,
}

impl ContainersStorage {
    fn new() -> ContainersStorage {
        let dir = tempfile::Builder::new()
            .prefix("ecr-e2e-storage-")
            .tempdir()
            .expect("storage dir");
        std::fs::create_dir_all(dir.path().join("xdg-runtime")).expect("runtime dir");
        ContainersStorage { dir }
    }

    /// The global flags that keep the tool in this storage.
    fn flags(&self) -> Vec<String> {
        let path = |name: &str| self.dir.path().join(name).display().to_string();
        vec![
            "--storage-driver".into(),
            "vfs".into(),
            "--root".into(),
            path("root"),
            "--runroot".into(),
            path("runroot"),
        ]
    }

    /// Podman's state directory (else it writes `/run/libpod`, shared by the machine).
    fn podman_tmpdir(&self) -> PathBuf {
        self.dir.path().join("podman-tmp")
    }

    /// `XDG_RUNTIME_DIR` for the tool: a private one, so no login of the machine's user
    /// (`/run/containers/0/auth.json`) can supply a credential.
    fn runtime_dir(&self) -> PathBuf {
        self.dir.path().join("xdg-runtime")
    }
}

/// `TOOL <storage flags> ARGS...` as a client of `sandbox`.
fn containers_tool(
    rig: &ClientRig,
    sandbox: &Sandbox,
    storage: &ContainersStorage,
    tool: &str,
    extra_global: &[&str],
    args: &[&str],
) -> Output {
    let flags = storage.flags();
    let mut all: Vec<&str> = flags.iter().map(String::as_str).collect();
    all.extend(extra_global);
    all.extend(args);
    rig.client(sandbox, tool, &all)
        .env("XDG_RUNTIME_DIR", storage.runtime_dir())
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"))
}

/// Routes the registry for the containers tools with the product's own writer
/// (`configure-docker --podman`, which writes `$REGISTRY_AUTH_FILE` or
/// `$XDG_CONFIG_HOME/containers/auth.json`), then empties docker's config it wrote too, so the
/// containers `auth.json` is the only route.
fn route_for_containers_tools(sandbox: &Sandbox, env: &[(&str, &Path)]) {
    let mut helper = sandbox.helper();
    for (key, value) in env {
        helper = helper.env(key, value);
    }
    let routed = helper.run(&["configure-docker", EXAMPLE_REGISTRY, "--podman"], b"");
    assert_eq!(
        routed.code, 0,
        "configure-docker --podman failed: {routed:#?}"
    );
    write_empty_docker_config(sandbox);
}

/// A sandbox whose clients have no route to any credential: docker's config is `{}`.
fn unrouted_sandbox() -> Sandbox {
    let sandbox = Sandbox::new();
    write_empty_docker_config(&sandbox);
    sandbox
}

/// Docker's config without routes. (Podman stops with "stat .../config.json: no such file" when
/// `DOCKER_CONFIG` names a directory without one, so the file stays, empty.)
fn write_empty_docker_config(sandbox: &Sandbox) {
    std::fs::write(sandbox.docker_config_dir().join("config.json"), "{}\n")
        .expect("write docker's config");
}

/// `podman pull` reads the route from `$XDG_CONFIG_HOME/containers/auth.json`, trusts the
/// registry through `--cert-dir`, and lists the image afterwards.
fn podman_pulls_into_vfs_storage(rig: &ClientRig) {
    let storage = ContainersStorage::new();
    let cert_dir = rig.cert_dir().display().to_string();
    let tmpdir = storage.podman_tmpdir().display().to_string();
    let podman_globals = [
        "--events-backend",
        "file",
        "--cgroup-manager",
        "cgroupfs",
        "--tmpdir",
        &tmpdir,
    ];
    let pull = ["pull", "--cert-dir", &cert_dir, IMAGE];

    let unrouted = unrouted_sandbox();
    rig.assert_refused("podman pull without credHelpers", &unrouted, || {
        containers_tool(rig, &unrouted, &storage, "podman", &podman_globals, &pull)
    });

    let sandbox = Sandbox::new();
    route_for_containers_tools(&sandbox, &[]);
    let before = rig.api_calls();
    let pulled = containers_tool(rig, &sandbox, &storage, "podman", &podman_globals, &pull);
    rig.assert_success("podman pull", &pulled, &sandbox);
    assert_helper_fetched(rig, before, "podman pull", &sandbox);

    let listed = containers_tool(
        rig,
        &sandbox,
        &storage,
        "podman",
        &podman_globals,
        &["images", "--format", "{{.Repository}}:{{.Tag}}"],
    );
    rig.assert_success("podman images", &listed, &sandbox);
    assert_lists(&listed, IMAGE, "podman images");
}

/// `buildah pull` reads the route from `$REGISTRY_AUTH_FILE`, written there by
/// `configure-docker --podman`, and lists the image afterwards.
fn buildah_pulls_into_vfs_storage(rig: &ClientRig) {
    let storage = ContainersStorage::new();
    let cert_dir = rig.cert_dir().display().to_string();
    let pull = ["pull", "--cert-dir", &cert_dir, IMAGE];

    let unrouted = unrouted_sandbox();
    rig.assert_refused("buildah pull without credHelpers", &unrouted, || {
        containers_tool(rig, &unrouted, &storage, "buildah", &[], &pull)
    });

    let sandbox = Sandbox::new();
    let auth_file = sandbox.root().join("registry-auth.json");
    route_for_containers_tools(&sandbox, &[("REGISTRY_AUTH_FILE", &auth_file)]);
    let before = rig.api_calls();
    let mut cmd = rig.client(&sandbox, "buildah", &[]);
    cmd.args(storage.flags())
        .args(pull)
        .env("XDG_RUNTIME_DIR", storage.runtime_dir())
        .env("REGISTRY_AUTH_FILE", &auth_file);
    let pulled = cmd.output().expect("run buildah");
    rig.assert_success("buildah pull", &pulled, &sandbox);
    assert_helper_fetched(rig, before, "buildah pull", &sandbox);

    let listed = containers_tool(
        rig,
        &sandbox,
        &storage,
        "buildah",
        &[],
        &["images", "--format", "{{.Name}}:{{.Tag}}"],
    );
    rig.assert_success("buildah images", &listed, &sandbox);
    assert_lists(&listed, IMAGE, "buildah images");
}

/// `skopeo copy` reads `credHelpers` from docker's config and talks to the registry directly: a
/// `DOCKER_HOST` that leads nowhere proves it is skopeo, not the daemon, that ran the helper.
fn skopeo_copies_without_a_daemon(rig: &ClientRig) {
    let copy = |sandbox: &Sandbox, destination: &Path| {
        rig.client(
            sandbox,
            "skopeo",
            &[
                "copy",
                &format!("docker://{IMAGE}"),
                &format!("dir:{}", destination.display()),
            ],
        )
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run skopeo")
    };

    let unrouted = unrouted_sandbox();
    rig.assert_refused("skopeo copy without credHelpers", &unrouted, || {
        copy(&unrouted, &unrouted.root().join("copied-image"))
    });

    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&[EXAMPLE_REGISTRY]);
    let destination = sandbox.root().join("copied-image");
    let before = rig.api_calls();
    let copied = copy(&sandbox, &destination);
    rig.assert_success("skopeo copy", &copied, &sandbox);
    assert!(
        destination.join("manifest.json").is_file(),
        "skopeo wrote no manifest.json into {}",
        destination.display()
    );
    assert_eq!(
        rig.api_calls(),
        before + 1,
        "skopeo's copy should have cost exactly one GetAuthorizationToken call (fresh cache)"
    );
}

/// The Currents guide's layout: a compose file (v1 syntax: services at the top, no `version`)
/// whose image is `${REGISTRY}/${IMAGE}:${TAG}`, the three values in `.env` beside it.
/// `docker-compose pull` (docker-py resolves `credHelpers` itself) pulls into the rig's daemon.
fn compose_pulls_the_env_image(rig: &ClientRig) {
    let project = tempfile::Builder::new()
        .prefix("ecr-e2e-compose-")
        .tempdir()
        .expect("compose project dir");
    let (registry, rest) = IMAGE.split_once('/').expect("image has a registry");
    let (image, tag) = rest.rsplit_once(':').expect("image has a tag");
    std::fs::write(
        project.path().join("docker-compose.yml"),
        "app:\n  image: ${REGISTRY}/${IMAGE}:${TAG}\n",
    )
    .expect("write compose file");
    std::fs::write(
        project.path().join(".env"),
        format!("REGISTRY={registry}\nIMAGE={image}\nTAG={tag}\n"),
    )
    .expect("write .env");
    let compose_pull = |sandbox: &Sandbox| {
        rig.client(sandbox, "docker-compose", &["pull"])
            .current_dir(project.path())
            .output()
            .expect("run docker-compose")
    };

    rig.remove_local_image(IMAGE);
    let unrouted = unrouted_sandbox();
    rig.assert_refused("docker-compose pull without credHelpers", &unrouted, || {
        compose_pull(&unrouted)
    });

    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&[EXAMPLE_REGISTRY]);
    let before = rig.api_calls();
    let pulled = compose_pull(&sandbox);
    rig.assert_success("docker-compose pull", &pulled, &sandbox);
    assert_helper_fetched(rig, before, "docker-compose pull", &sandbox);

    let listed =
        run_ok(
            rig.dockerd
                .docker()
                .args(["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        );
    assert!(
        listed.lines().any(|line| line == IMAGE),
        "docker images does not show {IMAGE} after docker-compose pull:\n{listed}"
    );
}

/// The KOTS guide's mirror step: pull the vendor's image, `docker tag` it into another
/// repository, push that, and pull it back by the digest the push reported.
fn retagged_image_is_pushed_and_pulled_by_digest(rig: &ClientRig) {
    let mirror = format!("{MIRROR_REPOSITORY}:1.0");
    rig.remove_local_image(IMAGE);

    let sandbox = Sandbox::new();
    sandbox.write_docker_config(&[EXAMPLE_REGISTRY]);
    let before = rig.api_calls();
    let pulled = rig.docker(&sandbox, &["pull", IMAGE]);
    rig.assert_success("docker pull of the vendor image", &pulled, &sandbox);
    assert_helper_fetched(rig, before, "docker pull", &sandbox);
    run_ok(rig.dockerd.docker().args(["tag", IMAGE, &mirror]));

    let unrouted = unrouted_sandbox();
    rig.assert_refused("docker push without credHelpers", &unrouted, || {
        rig.docker(&unrouted, &["push", &mirror])
    });

    let pushed = rig.docker(&sandbox, &["push", &mirror]);
    rig.assert_success("docker push of the retagged image", &pushed, &sandbox);
    let digest = pushed_digest(&pushed);

    rig.remove_local_image(&mirror);
    rig.remove_local_image(IMAGE);
    let by_digest = format!("{MIRROR_REPOSITORY}@{digest}");
    let pulled_back = rig.docker(&sandbox, &["pull", &by_digest]);
    rig.assert_success("docker pull by digest", &pulled_back, &sandbox);
    run_ok(rig.dockerd.docker().args(["image", "inspect", &by_digest]));
}

/// The `sha256:...` digest in `docker push`'s last line (`1.0: digest: sha256:... size: N`).
fn pushed_digest(push: &Output) -> String {
    let stdout = String::from_utf8_lossy(&push.stdout);
    stdout
        .split_whitespace()
        .find(|word| word.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("docker push reported no digest:\n{stdout}"))
        .to_string()
}

/// Panics unless the listing's stdout has `image` on a line of its own.
fn assert_lists(listed: &Output, image: &str, what: &str) {
    let stdout = String::from_utf8_lossy(&listed.stdout);
    assert!(
        stdout.lines().any(|line| line.trim() == image),
        "{what} does not list {image}:\n{stdout}"
    );
}
