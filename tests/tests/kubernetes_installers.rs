//! `installers/kubernetes/`: the kubelet's credential provider config and the node install
//! script. No kubelet runs here; what the kubelet would do with these files is checked against
//! its documented rules instead:
//!
//! - the config, read as YAML into the fields of `CredentialProviderConfig`
//!   (`kubelet.config.k8s.io/v1`, unknown fields refused), names the program the installer
//!   installs, the `kubelet-credential-provider` verb, a valid Go/Kubernetes duration, and the
//!   node configuration directory; its commented `tokenAttributes` block, uncommented, is a valid
//!   `ServiceAccountTokenAttributes` too;
//! - `matchImages`, matched as the kubelet matches (same number of DNS labels, each label a
//!   Go `filepath.Match` glob, the pattern's path a prefix of the image's, equal ports), routes an
//!   image of every host form the helper accepts ([`example_hosts`]) to the provider, routes no
//!   look-alike, and every pattern names only hosts `Registry::parse` accepts;
//! - `install-node.sh --root` for kubeadm (Debian's and RHEL's kubelet environment files) and
//!   k3s, with this build's binaries: files, modes, the kubelet flags, a second run that changes
//!   nothing, a missing binary refused in one line before anything is written, and a run that
//!   fails half-way leaving no half-written file;
//! - `--agent`'s systemd unit names the provider config's directories, and its command, run as
//!   systemd would, renews the node's token so that the kubelet's next run makes no call.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ecr_e2e::fake_handle::FakeEcr;
use ecr_e2e::kubelet::{API_VERSIONS, parse_go_duration, parse_response, request};
use ecr_e2e::sandbox::{EXAMPLE_ACCESS_KEY_ID, EXAMPLE_REGISTRY, Helper, Sandbox, helper_bin};
use ecr_model::paths::{CACHE_DIR_ENV, CONFIG_DIR_ENV, NODE_CACHE_DIR, NODE_CONFIG_DIR};
use ecr_model::registry::{Registry, example_hosts};
use serde::Deserialize;
use std::time::Duration;

const FRONT: &str = "docker-credential-ecr";
const FULL: &str = "docker-credential-ecr-full";

fn installer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../installers/kubernetes")
}

fn config_text() -> String {
    let path = installer_dir().join("credential-provider-config.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// The config, as the API reference names its fields.

/// `CredentialProviderConfig`, kubelet.config.k8s.io/v1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CredentialProviderConfig {
    api_version: String,
    kind: String,
    providers: Vec<CredentialProvider>,
}

/// `CredentialProvider`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CredentialProvider {
    name: String,
    match_images: Vec<String>,
    default_cache_duration: String,
    api_version: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<ExecEnvVar>,
    token_attributes: Option<ServiceAccountTokenAttributes>,
}

/// `ExecEnvVar`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecEnvVar {
    name: String,
    value: String,
}

/// `ServiceAccountTokenAttributes`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceAccountTokenAttributes {
    service_account_token_audience: String,
    cache_type: String,
    require_service_account: bool,
    #[serde(default)]
    required_service_account_annotation_keys: Vec<String>,
    #[serde(default)]
    optional_service_account_annotation_keys: Vec<String>,
}

fn parse_config(text: &str) -> CredentialProviderConfig {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("not a CredentialProviderConfig: {e}"))
}

/// Our one provider.
fn provider(config: &CredentialProviderConfig) -> &CredentialProvider {
    assert_eq!(config.providers.len(), 1, "{config:#?}");
    &config.providers[0]
}

#[test]
fn config_has_the_api_s_fields_and_names_what_the_installer_installs() {
    let config = parse_config(&config_text());
    assert_eq!(config.api_version, "kubelet.config.k8s.io/v1");
    assert_eq!(config.kind, "CredentialProviderConfig");
    let provider = provider(&config);
    // The kubelet runs the executable of this name from its bin dir: the front program.
    assert_eq!(provider.name, FRONT);
    assert_eq!(provider.args, ["kubelet-credential-provider"]);
    assert_eq!(provider.api_version, "credentialprovider.kubelet.k8s.io/v1");
    // Only for a response without cacheDuration (this provider always sends one); below the
    // helper's 5-minute guard so that it could never outlast a token the helper served.
    let duration = parse_go_duration(&provider.default_cache_duration).unwrap_or_else(|| {
        panic!(
            "defaultCacheDuration {:?} is not Go duration syntax",
            provider.default_cache_duration
        )
    });
    assert!(
        duration > Duration::ZERO && duration < Duration::from_secs(300),
        "defaultCacheDuration {duration:?}"
    );
    let env: Vec<(&str, &str)> = provider
        .env
        .iter()
        .map(|var| (var.name.as_str(), var.value.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            (CONFIG_DIR_ENV, NODE_CONFIG_DIR),
            (CACHE_DIR_ENV, NODE_CACHE_DIR)
        ]
    );
    assert!(
        provider.token_attributes.is_none(),
        "tokenAttributes stays commented: it needs a cluster set up for it"
    );
}

#[test]
fn commented_token_attributes_are_valid_once_uncommented() {
    let text = config_text();
    let mut uncommented = String::new();
    let mut in_block = false;
    for line in text.lines() {
        if line.trim_start() == "# tokenAttributes:" {
            in_block = true;
        } else if in_block && !line.trim_start().starts_with("#   ") {
            in_block = false;
        }
        match line.split_once("# ") {
            Some((indent, rest)) if in_block && indent.trim().is_empty() => {
                uncommented.push_str(indent);
                uncommented.push_str(rest);
            }
            _ => uncommented.push_str(line),
        }
        uncommented.push('\n');
    }
    let config = parse_config(&uncommented);
    let attributes = provider(&config)
        .token_attributes
        .as_ref()
        .expect("a commented tokenAttributes block");
    assert!(!attributes.service_account_token_audience.is_empty());
    assert_eq!(attributes.cache_type, "ServiceAccount");
    assert!(!attributes.require_service_account);
    let mut keys = attributes.optional_service_account_annotation_keys.clone();
    keys.extend(attributes.required_service_account_annotation_keys.clone());
    for key in [
        "docker-credential-ecr/role-arn",
        "eks.amazonaws.com/ecr-role-arn",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// matchImages, the kubelet's way.

/// What the kubelet reads from an image or a pattern: Go's `url.Parse("https://" + s)`, then
/// `net.SplitHostPort` of the host (no port when it has none) and the host's DNS labels.
struct ImageUrl<'a> {
    labels: Vec<&'a str>,
    port: &'a str,
    path: &'a str,
}

fn parse_schemeless(text: &str) -> ImageUrl<'_> {
    let authority_end = text.find(['/', '?', '#']).unwrap_or(text.len());
    let (authority, after) = text.split_at(authority_end);
    let path = after.split(['?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, ""));
    ImageUrl {
        labels: host.split('.').collect(),
        port,
        path,
    }
}

/// Go's `filepath.Match` for the globs a matchImages label may hold here: `*` (any run of
/// characters) and `?` (one character). Character classes and escapes are refused rather than
/// half-implemented: the config uses neither.
fn label_matches(glob: &str, label: &str) -> bool {
    assert!(
        !glob.contains(['[', '\\']),
        "{glob}: classes and escapes are not modelled"
    );
    let (glob, label): (Vec<char>, Vec<char>) = (glob.chars().collect(), label.chars().collect());
    // Classic backtracking wildcard match.
    let (mut g, mut l) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while l < label.len() {
        if g < glob.len() && (glob[g] == '?' || glob[g] == label[l]) {
            g += 1;
            l += 1;
        } else if g < glob.len() && glob[g] == '*' {
            star = Some((g, l));
            g += 1;
        } else if let Some((star_g, star_l)) = star {
            g = star_g + 1;
            l = star_l + 1;
            star = Some((star_g, star_l + 1));
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|&c| c == '*')
}

/// The kubelet's `URLsMatchStr(pattern, image)`.
fn kubelet_matches(pattern: &str, image: &str) -> bool {
    let (glob, target) = (parse_schemeless(pattern), parse_schemeless(image));
    glob.port == target.port
        && glob.labels.len() == target.labels.len()
        && target.path.starts_with(glob.path)
        && glob
            .labels
            .iter()
            .zip(&target.labels)
            .all(|(glob, label)| label_matches(glob, label))
}

fn match_images() -> Vec<String> {
    provider(&parse_config(&config_text())).match_images.clone()
}

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn the_matcher_follows_the_reference_examples() {
    // The reference's own examples and rules (Kubelet Configuration (v1), matchImages).
    assert!(kubelet_matches(
        "123456789.dkr.ecr.us-east-1.amazonaws.com",
        "123456789.dkr.ecr.us-east-1.amazonaws.com/repo:tag"
    ));
    assert!(kubelet_matches("*.azurecr.io", "example.azurecr.io/app"));
    assert!(kubelet_matches("gcr.io", "gcr.io/project/app:1"));
    assert!(kubelet_matches("*.*.registry.io", "a.b.registry.io/x"));
    assert!(!kubelet_matches("*.*.registry.io", "b.registry.io/x"));
    // Each glob matches one label: *.io does not match a.k8s.io.
    assert!(!kubelet_matches("*.io", "a.k8s.io/x"));
    assert!(kubelet_matches("k8s.*", "k8s.io/x"));
    assert!(kubelet_matches("app*.k8s.io", "app1.k8s.io/x"));
    assert!(!kubelet_matches("app*.k8s.io", "x.k8s.io/x"));
    // The path is a prefix; the port must be equal.
    assert!(kubelet_matches(
        "registry.io:8080/path",
        "registry.io:8080/path/app:1"
    ));
    assert!(!kubelet_matches(
        "registry.io:8080/path",
        "registry.io/path/app:1"
    ));
    assert!(!kubelet_matches(
        "registry.io:8080/path",
        "registry.io:8080/other/app"
    ));
    assert!(!kubelet_matches("registry.io", "registry.io:443/app"));
    assert!(label_matches("d?r", "dkr") && !label_matches("d?r", "dr"));
}

/// Images of one host, as a pod spec writes them.
fn images_of(host: &str) -> [String; 4] {
    [
        format!("{host}/repo"),
        format!("{host}/repo:tag"),
        format!("{host}/ns/repo@{DIGEST}"),
        format!("{host}/team/ns/repo:1.0@{DIGEST}"),
    ]
}

#[test]
fn match_images_route_every_ecr_host_form_to_the_provider() {
    let patterns = match_images();
    let hosts = example_hosts();
    assert!(hosts.len() > 30, "{hosts:?}");
    let mut unmatched = Vec::new();
    for host in &hosts {
        for image in images_of(host) {
            if !patterns.iter().any(|p| kubelet_matches(p, &image)) {
                unmatched.push(image);
            }
        }
    }
    assert!(
        unmatched.is_empty(),
        "no matchImages entry for {unmatched:#?}"
    );
}

#[test]
fn match_images_route_no_other_image_to_the_provider() {
    let patterns = match_images();
    let others = [
        "busybox",
        "library/busybox:1.36",
        "docker.io/library/busybox:1.36",
        "index.docker.io/library/busybox",
        "ghcr.io/owner/app:1",
        "quay.io/org/app",
        "registry.k8s.io/pause:3.9",
        "localhost:5000/app",
        "127.0.0.1:5000/app",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.com/repo:tag",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com-evil.com/repo",
        "evil.123456789012.dkr.ecr.us-east-1.amazonaws.com/repo",
        "evil.com/123456789012.dkr.ecr.us-east-1.amazonaws.com/repo",
        "123456789012.ecr.us-east-1.amazonaws.com/repo",
        "123456789012.dkr.ecr.fips.us-east-1.amazonaws.com/repo",
        "api.ecr.us-east-1.amazonaws.com/repo",
        "dkr.ecr.us-east-1.amazonaws.com/repo",
        "s3.us-east-1.amazonaws.com/bucket",
        "public.ecr.aws.evil.com/x/y",
        "evil.public.ecr.aws/x/y",
        "ecr-public.aws/x",
    ];
    for image in others {
        let matched: Vec<&String> = patterns
            .iter()
            .filter(|p| kubelet_matches(p, image))
            .collect();
        assert!(
            matched.is_empty(),
            "{image} is routed to the provider by {matched:?}"
        );
    }
}

#[test]
fn every_match_images_pattern_names_only_hosts_the_helper_accepts() {
    // Whole-label `*` in the account and region places only, filled with the example account
    // and each region the helper's own examples use: the pattern must then be an accepted host.
    let regions: Vec<String> = example_hosts()
        .iter()
        .map(|host| Registry::parse(host).unwrap().api_region().to_owned())
        .collect();
    for pattern in match_images() {
        assert!(
            !pattern.contains(['/', ':', '?', '[', '\\']),
            "{pattern}: a path, port or class would narrow or widen it unseen"
        );
        let labels: Vec<&str> = pattern.split('.').collect();
        let globs: Vec<usize> = (0..labels.len())
            .filter(|&i| labels[i].contains(['*', '?']))
            .collect();
        let accepted_fill = if globs.is_empty() {
            Registry::parse(&pattern).is_ok_and(|r| r.host() == pattern)
        } else {
            assert!(
                globs.iter().all(|&i| labels[i] == "*"),
                "{pattern}: a partial-label glob matches hosts the helper refuses"
            );
            assert!(
                globs.len() == 2 && globs[0] == 0,
                "{pattern}: globs only for the account (first label) and the region"
            );
            regions.iter().any(|region| {
                let mut filled = labels.clone();
                filled[0] = "123456789012";
                filled[globs[1]] = region;
                let host = filled.join(".");
                Registry::parse(&host)
                    .is_ok_and(|r| r.host() == host && r.api_region() == region && !r.is_public())
            })
        };
        assert!(
            accepted_fill,
            "{pattern} names no host Registry::parse accepts"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// install-node.sh

/// Every path under `root` (relative), with its mode and, for files, its bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>)> {
    let mut found = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let relative = path.strip_prefix(root).unwrap().to_path_buf();
            if meta.is_dir() {
                stack.push(path.clone());
                found.insert(relative, (mode, None));
            } else {
                found.insert(relative, (mode, Some(std::fs::read(&path).unwrap())));
            }
        }
    }
    found
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The directory of this build's two programs.
fn built_dir() -> PathBuf {
    let dir = helper_bin().parent().unwrap().to_path_buf();
    assert!(
        dir.join(FULL).is_file(),
        "{FULL} not built: cargo build --workspace"
    );
    dir
}

fn install(flavor: &str, root: &Path, from: &Path) -> Output {
    install_with(flavor, root, from, &[])
}

/// `install-node.sh --flavor FLAVOR EXTRA... --root ROOT --from FROM`.
fn install_with(flavor: &str, root: &Path, from: &Path, extra: &[&str]) -> Output {
    Command::new("bash")
        .arg(installer_dir().join("install-node.sh"))
        .args(["--flavor", flavor])
        .args(extra)
        .arg("--root")
        .arg(root)
        .arg("--from")
        .arg(from)
        .env_remove("CDPATH")
        .output()
        .expect("run install-node.sh")
}

fn assert_success(out: &Output) -> String {
    assert!(
        out.status.success(),
        "install-node.sh failed: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The programs, the config and the node configuration directory are where `flavor` puts them.
fn assert_installed(root: &Path, bin_dir: &str, config: &str) {
    let from = built_dir();
    for program in [FRONT, FULL] {
        let installed = root.join(bin_dir.trim_start_matches('/')).join(program);
        assert_eq!(mode(&installed), 0o755, "{}", installed.display());
        assert!(
            std::fs::read(&installed).unwrap() == std::fs::read(from.join(program)).unwrap(),
            "{} is not this build's {program}",
            installed.display()
        );
    }
    let config_path = root.join(config.trim_start_matches('/'));
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap(),
        config_text()
    );
    assert_eq!(mode(&config_path), 0o600);
    // The directory the config's env names for the node's bindings and key sets.
    let config = parse_config(&config_text());
    let node_dir = &provider(&config).env[0].value;
    let node_dir = root.join(node_dir.trim_start_matches('/'));
    assert!(node_dir.is_dir(), "{}", node_dir.display());
    assert_eq!(mode(&node_dir), 0o700, "{}", node_dir.display());
    // No temporary file left behind.
    for path in tree(root).keys() {
        let name = path.file_name().unwrap().to_string_lossy();
        assert!(!name.starts_with('.'), "left behind: {}", path.display());
    }
}

const KUBEADM_BIN_DIR: &str = "/usr/libexec/kubernetes/kubelet-plugins/credential-provider/exec";
const KUBEADM_CONFIG: &str = "/etc/kubernetes/credential-provider-config.yaml";
const K3S_BIN_DIR: &str = "/var/lib/rancher/credentialprovider/bin";
const K3S_CONFIG: &str = "/var/lib/rancher/credentialprovider/config.yaml";

/// The words of the last `KUBELET_EXTRA_ARGS=` line of a kubelet environment file.
fn kubelet_extra_args(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let line = text
        .lines()
        .rev()
        .find_map(|line| line.trim_start().strip_prefix("KUBELET_EXTRA_ARGS="))
        .unwrap_or_else(|| panic!("no KUBELET_EXTRA_ARGS in {text}"));
    line.trim_matches('"')
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn our_flags() -> [String; 2] {
    [
        format!("--image-credential-provider-config={KUBEADM_CONFIG}"),
        format!("--image-credential-provider-bin-dir={KUBEADM_BIN_DIR}"),
    ]
}

/// A second run: succeeds, reports every file unchanged, and leaves the tree exactly as it was.
fn assert_second_run_changes_nothing(flavor: &str, root: &Path) {
    let before = tree(root);
    let stdout = assert_success(&install(flavor, root, &built_dir()));
    assert!(!stdout.contains("installed "), "{stdout}");
    assert!(stdout.contains("unchanged "), "{stdout}");
    assert!(
        tree(root) == before,
        "a second run changed files:\n{stdout}"
    );
}

#[test]
fn kubeadm_on_debian_keeps_the_kubelet_s_args_and_adds_the_two_flags_once() {
    let root = tempfile::tempdir().unwrap();
    let env_file = root.path().join("etc/default/kubelet");
    std::fs::create_dir_all(env_file.parent().unwrap()).unwrap();
    std::fs::write(
        &env_file,
        "# set by the node's provisioning\n\
         KUBELET_EXTRA_ARGS=\"--node-ip=10.0.0.5 --image-credential-provider-config /old/config.yaml --max-pods=50\"\n\
         OTHER_SETTING=kept\n",
    )
    .unwrap();

    let stdout = assert_success(&install("kubeadm", root.path(), &built_dir()));
    assert_installed(root.path(), KUBEADM_BIN_DIR, KUBEADM_CONFIG);
    let text = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        text.starts_with("# set by the node's provisioning\n"),
        "{text}"
    );
    assert!(text.contains("\nOTHER_SETTING=kept\n"), "{text}");
    let args = kubelet_extra_args(&env_file);
    let mut expected = vec!["--node-ip=10.0.0.5".to_owned(), "--max-pods=50".to_owned()];
    expected.extend(our_flags());
    assert_eq!(args, expected, "{text}");
    assert!(!root.path().join("etc/sysconfig").exists());
    // It tells which flags it wrote, and where.
    for flag in our_flags() {
        assert!(stdout.contains(&flag), "{stdout}");
    }
    assert!(stdout.contains("/etc/default/kubelet"), "{stdout}");

    assert_second_run_changes_nothing("kubeadm", root.path());
    assert_eq!(kubelet_extra_args(&env_file), expected);
}

#[test]
fn kubeadm_on_rhel_writes_sysconfig_and_a_fresh_node_gets_etc_default() {
    let root = tempfile::tempdir().unwrap();
    let env_file = root.path().join("etc/sysconfig/kubelet");
    std::fs::create_dir_all(env_file.parent().unwrap()).unwrap();
    std::fs::write(&env_file, "KUBELET_EXTRA_ARGS=\n").unwrap();
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_success(&install("kubeadm", root.path(), &built_dir()));
    assert_installed(root.path(), KUBEADM_BIN_DIR, KUBEADM_CONFIG);
    assert_eq!(kubelet_extra_args(&env_file), our_flags());
    assert_eq!(mode(&env_file), 0o600, "the file keeps its mode");
    assert!(!root.path().join("etc/default/kubelet").exists());
    assert_second_run_changes_nothing("kubeadm", root.path());

    // No kubelet environment file yet (and no /etc/sysconfig): Debian's is created.
    let fresh = tempfile::tempdir().unwrap();
    assert_success(&install("kubeadm", fresh.path(), &built_dir()));
    let created = fresh.path().join("etc/default/kubelet");
    assert_eq!(kubelet_extra_args(&created), our_flags());
    assert_second_run_changes_nothing("kubeadm", fresh.path());
}

#[test]
fn k3s_gets_its_default_paths_and_no_flag_file() {
    let root = tempfile::tempdir().unwrap();
    let stdout = assert_success(&install("k3s", root.path(), &built_dir()));
    assert_installed(root.path(), K3S_BIN_DIR, K3S_CONFIG);
    for flag_file in ["etc/default/kubelet", "etc/sysconfig/kubelet"] {
        assert!(!root.path().join(flag_file).exists(), "{flag_file}");
    }
    assert!(stdout.contains("systemctl restart k3s"), "{stdout}");
    assert_second_run_changes_nothing("k3s", root.path());
}

#[test]
fn a_missing_binary_is_refused_in_one_line_before_anything_is_written() {
    let from = tempfile::tempdir().unwrap();
    // Only the front program: the full one is missing.
    std::fs::copy(built_dir().join(FRONT), from.path().join(FRONT)).unwrap();
    for flavor in ["kubeadm", "k3s"] {
        let root = tempfile::tempdir().unwrap();
        let out = install(flavor, root.path(), from.path());
        assert!(!out.status.success(), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("missing") && stderr.contains(FULL),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "{out:?}");
        assert!(
            tree(root.path()).is_empty(),
            "{flavor}: wrote {:?}",
            tree(root.path()).keys()
        );
    }
    // Neither program.
    let empty = tempfile::tempdir().unwrap();
    let root = tempfile::tempdir().unwrap();
    let out = install("k3s", root.path(), empty.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.lines().count() == 1,
        "{out:?}"
    );
    assert!(stderr.contains(FRONT), "{stderr}");
    assert!(tree(root.path()).is_empty());
}

/// Every file under `root` is either one of this build's programs, whole, or absent; no
/// temporary file is left.
fn assert_nothing_half_written(root: &Path) {
    let from = built_dir();
    for (path, (_, bytes)) in tree(root) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "left behind: {}", path.display());
        if let Some(bytes) = bytes
            && (name == FRONT || name == FULL)
        {
            assert!(
                bytes == std::fs::read(from.join(&name)).unwrap(),
                "{} is not whole",
                path.display()
            );
        }
    }
}

#[test]
fn a_run_that_fails_half_way_leaves_no_half_written_file() {
    // A write that fails in the middle: a file-size limit between the two programs' sizes, so
    // the front program fits and the full one is cut off while it is being copied.
    let from = built_dir();
    let size = |name: &str| std::fs::metadata(from.join(name)).unwrap().len();
    assert!(size(FRONT) < size(FULL), "the front program is the smaller");
    let limit_kib = (size(FRONT) + size(FULL)) / 2 / 1024;
    let root = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -f {limit_kib} && exec bash \"$@\""))
        .arg("bash")
        .arg(installer_dir().join("install-node.sh"))
        .args(["--flavor", "kubeadm", "--root"])
        .arg(root.path())
        .arg("--from")
        .arg(&from)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        root.path()
            .join(KUBEADM_BIN_DIR.trim_start_matches('/'))
            .join(FRONT)
            .is_file(),
        "the front program was installed before the failure: {out:?}"
    );
    assert!(
        !root
            .path()
            .join(KUBEADM_BIN_DIR.trim_start_matches('/'))
            .join(FULL)
            .exists(),
        "{out:?}"
    );
    assert_nothing_half_written(root.path());
    assert!(!root.path().join("etc/default/kubelet").exists());

    // Something not a file where the config goes: refused in one line, nothing moved into it.
    let root = tempfile::tempdir().unwrap();
    let in_the_way = root.path().join(KUBEADM_CONFIG.trim_start_matches('/'));
    std::fs::create_dir_all(&in_the_way).unwrap();
    let out = install("kubeadm", root.path(), &from);
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert_eq!(std::fs::read_dir(&in_the_way).unwrap().count(), 0);
    assert_nothing_half_written(root.path());
}

// ---------------------------------------------------------------------------------------------
// The installed programs, run as the kubelet runs them.

/// The installed front program run as the kubelet runs it: by its path in the bin dir, as
/// root, with no HOME or XDG variables, and the config's `env` (its directories moved under
/// `root`).
fn as_the_kubelet(sandbox: &Sandbox, root: &Path, bin_dir: &str) -> Helper {
    let front = root.join(bin_dir.trim_start_matches('/')).join(FRONT);
    let mut helper = sandbox
        .helper_at(&front)
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_STATE_HOME")
        // Not on PATH: the kubelet runs the plugin by its path.
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    let config = parse_config(&config_text());
    for var in &provider(&config).env {
        helper = helper.env(&var.name, root.join(var.value.trim_start_matches('/')));
    }
    helper
}

#[test]
fn the_installed_front_finds_the_full_program_and_answers_the_kubelet() {
    for (flavor, bin_dir) in [("kubeadm", KUBEADM_BIN_DIR), ("k3s", K3S_BIN_DIR)] {
        let root = tempfile::tempdir().unwrap();
        assert_success(&install(flavor, root.path(), &built_dir()));
        let sandbox = Sandbox::new();
        // Not ECR: the front hands the command to the full program, which answers an empty
        // auth in the request's version (no keys, no endpoint needed).
        for version in API_VERSIONS {
            let run = as_the_kubelet(&sandbox, root.path(), bin_dir).run(
                &["kubelet-credential-provider"],
                request(version, "ghcr.io/org/app:1").as_bytes(),
            );
            assert_eq!(run.code, 0, "{flavor}: {run:#?}");
            let response = parse_response(&run.stdout);
            assert_eq!(response.api_version, version);
            assert!(response.auth.is_empty(), "{flavor}: {}", run.stdout);
        }
    }
}

#[test]
fn keys_added_as_the_readme_says_serve_the_kubelet_through_the_installed_programs() {
    let fake = FakeEcr::start().unwrap();
    let root = tempfile::tempdir().unwrap();
    assert_success(&install("k3s", root.path(), &built_dir()));
    let sandbox = Sandbox::new();
    let config_dir = root.path().join(NODE_CONFIG_DIR.trim_start_matches('/'));
    let cache_dir = root.path().join(NODE_CACHE_DIR.trim_start_matches('/'));
    // `docker-credential-ecr --config-dir /etc/docker-credential-ecr --cache-dir
    // /var/cache/docker-credential-ecr add REGISTRY --store file`, run by an administrator
    // (with a HOME) through the installed program, as the README says.
    let front = root
        .path()
        .join(K3S_BIN_DIR.trim_start_matches('/'))
        .join(FRONT);
    sandbox
        .helper_at(&front)
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .add_node_keys(&config_dir, &cache_dir, EXAMPLE_REGISTRY)
        .assert_ok();
    assert_eq!(mode(&config_dir), 0o700, "still private after add");
    // The kubelet's run is served from the token add's verification cached.
    fake.reset().unwrap();
    let run = as_the_kubelet(&sandbox, root.path(), K3S_BIN_DIR)
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .run(
            &["kubelet-credential-provider"],
            request(
                API_VERSIONS[0],
                &format!("{EXAMPLE_REGISTRY}/vendor/app@{DIGEST}"),
            )
            .as_bytes(),
        );
    assert_eq!(run.code, 0, "{run:#?}");
    let response = parse_response(&run.stdout);
    assert_eq!(response.cache_key_type, "Registry");
    assert_eq!(response.auth[EXAMPLE_REGISTRY].username, "AWS");
    assert!(!response.auth[EXAMPLE_REGISTRY].password.is_empty());
    // add and the kubelet's run share the node's cache directory the config names.
    assert!(cache_dir.join("tokens").is_dir(), "{}", cache_dir.display());
    assert_eq!(
        fake.calls_by(EXAMPLE_ACCESS_KEY_ID).unwrap(),
        0,
        "the kubelet's run was served from the cache add filled"
    );
}

/// `KEY=VALUE` of each `Environment=` line of a systemd unit, and its `ExecStart=` words.
fn unit_service(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut env = Vec::new();
    let mut exec = Vec::new();
    for line in text.lines() {
        if let Some(assignment) = line.strip_prefix("Environment=") {
            let (key, value) = assignment.split_once('=').expect("KEY=VALUE");
            env.push((key.to_string(), value.to_string()));
        } else if let Some(command) = line.strip_prefix("ExecStart=") {
            exec = command.split_whitespace().map(str::to_string).collect();
        }
    }
    (env, exec)
}

#[test]
fn the_agent_unit_renews_the_cache_the_kubelet_reads() {
    let fake = FakeEcr::builder().lifetime_secs(20).start().unwrap();
    let root = tempfile::tempdir().unwrap();
    assert_success(&install_with(
        "kubeadm",
        root.path(),
        &built_dir(),
        &["--agent"],
    ));
    let unit = root
        .path()
        .join("etc/systemd/system/docker-credential-ecr-agent.service");
    assert_eq!(mode(&unit), 0o644);
    let (unit_env, exec) = unit_service(&std::fs::read_to_string(&unit).unwrap());
    // The agent's directories are the plugin's: the provider config's `env`.
    let config = parse_config(&config_text());
    let plugin_env: Vec<(String, String)> = provider(&config)
        .env
        .iter()
        .map(|var| (var.name.clone(), var.value.clone()))
        .collect();
    assert_eq!(unit_env, plugin_env);
    assert_eq!(
        exec,
        [format!("{KUBEADM_BIN_DIR}/{FRONT}"), "agent".to_string()]
    );
    // Run the unit's command as systemd would (root, no HOME), its paths under `root`.
    let sandbox = Sandbox::new();
    let under_root = |path: &str| root.path().join(path.trim_start_matches('/'));
    let mut agent = Command::new(under_root(&exec[0]));
    agent
        .args(&exec[1..])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", sandbox.aws_config_file())
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            sandbox.aws_credentials_file(),
        )
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (key, value) in &unit_env {
        agent.env(key, under_root(value));
    }
    let config_dir = under_root(NODE_CONFIG_DIR);
    sandbox
        .helper()
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .add_node_keys(&config_dir, &under_root(NODE_CACHE_DIR), EXAMPLE_REGISTRY)
        .assert_ok();
    assert_eq!(fake.stats().unwrap().calls, 1, "add's verification");
    let mut child = agent.spawn().unwrap();
    // The 20 s token is renewed at half-life by the agent alone.
    let started = std::time::Instant::now();
    while fake.stats().unwrap().calls < 2 && started.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        fake.stats().unwrap().calls >= 2,
        "the agent renewed the node's token"
    );
    // The kubelet's next run is served from what the agent fetched: no call of its own.
    let calls = fake.stats().unwrap().calls;
    let run = as_the_kubelet(&sandbox, root.path(), KUBEADM_BIN_DIR)
        .env("AWS_ENDPOINT_URL_ECR", fake.url())
        .run(
            &["kubelet-credential-provider"],
            request(API_VERSIONS[0], &format!("{EXAMPLE_REGISTRY}/app:1")).as_bytes(),
        );
    assert_eq!(run.code, 0, "{run:#?}");
    assert!(
        parse_response(&run.stdout)
            .auth
            .contains_key(EXAMPLE_REGISTRY)
    );
    assert_eq!(fake.stats().unwrap().calls, calls);
}

#[test]
fn an_edited_config_survives_a_second_run_unless_it_is_to_be_replaced() {
    // An administrator uncommented tokenAttributes (or put keys in `env`): a re-run or an
    // upgrade must not silently drop that (pods would pull as the node).
    let root = tempfile::tempdir().unwrap();
    assert_success(&install("k3s", root.path(), &built_dir()));
    let config = root
        .path()
        .join("var/lib/rancher/credentialprovider/config.yaml");
    let edited = config_text().replace("    # tokenAttributes:", "    tokenAttributes: {}\n    #");
    std::fs::write(&config, &edited).unwrap();
    let stdout = assert_success(&install("k3s", root.path(), &built_dir()));
    assert!(stdout.contains("kept "), "{stdout}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);
    let shipped = config.with_extension("yaml.new");
    assert_eq!(std::fs::read_to_string(&shipped).unwrap(), config_text());
    assert_eq!(mode(&shipped), 0o600);
    assert_success(&install_with(
        "k3s",
        root.path(),
        &built_dir(),
        &["--replace-config"],
    ));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), config_text());
    assert_eq!(
        std::fs::read_to_string(config.with_extension("yaml.bak")).unwrap(),
        edited
    );
    assert_eq!(mode(&config), 0o600, "its env may hold keys");
}
