//! `configure-docker` through the real binary: docker's config and, with `--podman`, the
//! containers auth.json get the registry routed to the helper, everything else in them kept, and
//! a refused command changes no file.

use std::path::{Path, PathBuf};

use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, Run, Sandbox};

fn docker_config(sandbox: &Sandbox) -> PathBuf {
    sandbox.docker_config_dir().join("config.json")
}

fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn configure(sandbox: &Sandbox, args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut helper = sandbox.helper();
    for (key, value) in env {
        helper = helper.env(key, value);
    }
    let mut argv = vec!["configure-docker"];
    argv.extend_from_slice(args);
    helper.run(&argv, b"")
}

#[test]
fn routes_the_registry_in_docker_config_keeping_the_rest() {
    let sandbox = Sandbox::new();
    let path = docker_config(&sandbox);
    let before = serde_json::json!({
        "auths": { "ghcr.io": { "auth": "dXNlcjpwYXNz" } },
        "credHelpers": { "gcr.io": "gcloud" },
        "psFormat": "table {{.ID}}",
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&before).unwrap()).unwrap();

    // Docker may be given any spelling; the file gets the canonical host.
    let spelled = format!("https://{}/v2/", EXAMPLE_REGISTRY.to_uppercase());
    let run = configure(&sandbox, &[&spelled], &[]);
    run.assert_ok();
    assert_eq!(
        run.stdout.trim(),
        format!("routed {EXAMPLE_REGISTRY} in {}", path.display())
    );
    assert_eq!(run.stderr, "", "nothing to warn about");
    let mut expected = before.clone();
    expected["credHelpers"][EXAMPLE_REGISTRY] = "ecr".into();
    assert_eq!(read_json(&path), expected);
    let backup = sandbox.docker_config_dir().join("config.json.bak");
    assert_eq!(read_json(&backup), before, "the previous version is kept");

    // A second run changes nothing and says so.
    let written = std::fs::read(&path).unwrap();
    std::fs::remove_file(&backup).unwrap();
    let again = configure(&sandbox, &[EXAMPLE_REGISTRY], &[]);
    again.assert_ok();
    assert!(again.stdout.starts_with("already routed in "), "{again:#?}");
    assert_eq!(std::fs::read(&path).unwrap(), written);
    assert!(!backup.exists(), "no new backup");
}

#[test]
fn podman_routes_the_registry_auth_file_too_and_warns_about_stored_logins() {
    let sandbox = Sandbox::new();
    let auth_file = sandbox.root().join("containers").join("auth.json");
    std::fs::create_dir_all(auth_file.parent().unwrap()).unwrap();
    std::fs::write(
        &auth_file,
        format!(r#"{{"auths": {{"{EXAMPLE_REGISTRY}": {{"auth": "QVdTOnN0YWxl"}}}}}}"#),
    )
    .unwrap();

    let run = configure(
        &sandbox,
        &[EXAMPLE_REGISTRY, "--podman"],
        &[("REGISTRY_AUTH_FILE", &auth_file)],
    );
    run.assert_ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "routed {EXAMPLE_REGISTRY} in {}",
                docker_config(&sandbox).display()
            ),
            format!("routed {EXAMPLE_REGISTRY} in {}", auth_file.display()),
        ],
        "{run:#?}"
    );
    assert_eq!(
        read_json(&docker_config(&sandbox))["credHelpers"][EXAMPLE_REGISTRY],
        "ecr"
    );
    let auth = read_json(&auth_file);
    assert_eq!(auth["credHelpers"][EXAMPLE_REGISTRY], "ecr");
    assert_eq!(
        auth["auths"][EXAMPLE_REGISTRY]["auth"], "QVdTOnN0YWxl",
        "a stored login is the user's to remove"
    );
    assert!(
        run.stderr.lines().any(|l| l.starts_with("warning: ")
            && l.contains("auths")
            && l.contains(&format!("podman logout {EXAMPLE_REGISTRY}"))),
        "{run:#?}"
    );
    assert!(
        !sandbox.config_home().join("containers").exists(),
        "REGISTRY_AUTH_FILE wins over XDG_CONFIG_HOME"
    );
}

#[test]
fn a_refused_command_changes_no_file() {
    let sandbox = Sandbox::new();
    let path = docker_config(&sandbox);
    let broken_auth = sandbox.root().join("auth.json");
    std::fs::write(&broken_auth, b"{\"auths\": ").unwrap();

    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "name at least one registry host"),
        (vec!["123456789012.dkr.ecr.*.amazonaws.com"], "pattern"),
        (vec!["ghcr.io"], "not an Amazon ECR registry"),
        (vec![EXAMPLE_REGISTRY, "--podman"], "not valid JSON"),
    ];
    for (args, says) in cases {
        let run = configure(&sandbox, &args, &[("REGISTRY_AUTH_FILE", &broken_auth)]);
        assert_ne!(run.code, 0, "{args:?}: {run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run:#?}");
        assert!(run.stderr.contains(says), "{args:?}: {run:#?}");
        assert!(!path.exists(), "{args:?}: docker's config was not created");
        assert_eq!(std::fs::read(&broken_auth).unwrap(), b"{\"auths\": ");
    }
}
