//! Corporate-network support, end to end: private CAs and HTTP proxies between the helper and
//! the ECR API.
//!
//! The fake ECR serves TLS with a certificate from a throwaway CA (for `127.0.0.1` and
//! `localhost`), so the helper reaches it only when told to trust that CA: through
//! `AWS_CA_BUNDLE` (what the AWS CLI and the Go helper honour), `SSL_CERT_FILE` (what rustls-based
//! and OpenSSL-based tools honour), or `ca_bundle` in the AWS config file's profile. Without any of
//! them the helper must fail with one line that names the registry and the cause.
//!
//! The proxy tests start Debian's `tinyproxy` on a free loopback port with a private config and log
//! at level Info, which records every `CONNECT`. The helper's HTTP client proxies loopback
//! destinations too (hyper-util's matcher has no implicit `localhost` exception; only `NO_PROXY`
//! excludes hosts), so `HTTPS_PROXY=http://127.0.0.1:<port>` with an empty `NO_PROXY` sends the
//! API call for `https://127.0.0.1:<fake port>` through the proxy: no hosts entry, no root.
//!
//! Every test owns its fake, CA and proxy, so they run in parallel.

use ecr_e2e::proxy::Tinyproxy;
use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, Run, Sandbox};
use ecr_e2e::tls::TlsFake;

/// The password the fake hands out.
const PASSWORD: &str = "network-test-password";

/// What these tests ask of the TLS fake.
trait NetworkFake {
    /// `get` for the example registry, the API pointed at the fake, with `env` added.
    fn get(&self, sandbox: &Sandbox, env: &[(&str, String)]) -> Run;
    fn ca(&self) -> String;
}

impl NetworkFake for TlsFake {
    fn get(&self, sandbox: &Sandbox, env: &[(&str, String)]) -> Run {
        let mut helper = sandbox.helper().against(&self.fake.url());
        for (key, value) in env {
            helper = helper.env(key, value);
        }
        helper.get(EXAMPLE_REGISTRY)
    }

    fn ca(&self) -> String {
        self.pki.ca_cert.to_string_lossy().into_owned()
    }
}

/// Asserts a successful `get` that answered the fake's password.
fn assert_got_password(run: &Run, sandbox: &Sandbox) {
    assert_eq!(
        run.code,
        0,
        "helper failed: {run:#?}\n--- helper log ---\n{}",
        sandbox.log()
    );
    assert_eq!(run.secret(), PASSWORD, "{run:#?}");
}

#[test]
fn aws_ca_bundle_alone_trusts_a_private_ca() {
    let tls = TlsFake::start(PASSWORD);
    let sandbox = Sandbox::new();
    let run = tls.get(&sandbox, &[("AWS_CA_BUNDLE", tls.ca())]);
    assert_got_password(&run, &sandbox);
    assert_eq!(tls.calls(), 1);
}

#[test]
fn ssl_cert_file_alone_trusts_a_private_ca() {
    let tls = TlsFake::start(PASSWORD);
    let sandbox = Sandbox::new();
    let run = tls.get(&sandbox, &[("SSL_CERT_FILE", tls.ca())]);
    assert_got_password(&run, &sandbox);
    assert_eq!(tls.calls(), 1);
}

#[test]
fn ca_bundle_in_the_aws_config_profile_trusts_a_private_ca() {
    let tls = TlsFake::start(PASSWORD);
    let sandbox = Sandbox::new();
    std::fs::write(
        sandbox.aws_config_file(),
        format!("[default]\nca_bundle = {}\n", tls.ca()),
    )
    .expect("write AWS config");
    let run = tls.get(&sandbox, &[]);
    assert_got_password(&run, &sandbox);
}

#[test]
fn untrusted_ca_fails_with_one_line_naming_registry_and_cause() {
    let tls = TlsFake::start(PASSWORD);
    let sandbox = Sandbox::new();
    let run = tls.get(&sandbox, &[]);

    assert_eq!(run.code, 1, "expected exit 1: {run:#?}");
    let messages: Vec<&str> = [run.stderr.trim(), run.stdout.trim()]
        .into_iter()
        .filter(|text| !text.is_empty())
        .collect();
    assert!(!messages.is_empty(), "no error message at all: {run:#?}");
    for message in &messages {
        assert_eq!(
            message.lines().count(),
            1,
            "the error should be one line: {run:#?}"
        );
    }
    let names_registry = messages.iter().any(|m| m.contains(EXAMPLE_REGISTRY));
    assert!(
        names_registry,
        "the error does not name the registry: {run:#?}"
    );
    let causes = [
        "tls",
        "certificate",
        "issuer",
        "trust",
        "unreachable",
        "connect",
    ];
    let names_cause = messages.iter().any(|m| {
        let lower = m.to_lowercase();
        causes.iter().any(|cause| lower.contains(cause))
    });
    assert!(
        names_cause,
        "the error names no TLS/unreachable cause (one of {causes:?}): {run:#?}"
    );
}

#[test]
fn https_proxy_carries_the_api_call() {
    let tls = TlsFake::start(PASSWORD);
    let proxy = Tinyproxy::start(tls.fake.api_addr().port());
    let sandbox = Sandbox::new();

    let run = tls.get(
        &sandbox,
        &[
            ("AWS_CA_BUNDLE", tls.ca()),
            ("HTTPS_PROXY", proxy.url()),
            ("NO_PROXY", String::new()),
        ],
    );

    assert_got_password(&run, &sandbox);
    let target = format!("CONNECT {}", tls.fake.api_addr());
    let connects = proxy.connect_requests();
    assert!(
        connects.iter().any(|line| line.contains(&target)),
        "the API call did not go through the proxy (no `{target}` in its log):\n{}",
        proxy.log()
    );
    assert_eq!(tls.calls(), 1);
}

#[test]
fn no_proxy_covering_the_host_bypasses_the_proxy() {
    let tls = TlsFake::start(PASSWORD);
    let proxy = Tinyproxy::start(tls.fake.api_addr().port());
    let sandbox = Sandbox::new();

    let run = tls.get(
        &sandbox,
        &[
            ("AWS_CA_BUNDLE", tls.ca()),
            ("HTTPS_PROXY", proxy.url()),
            ("NO_PROXY", "localhost,127.0.0.1".into()),
        ],
    );

    assert_got_password(&run, &sandbox);
    assert!(
        proxy.connect_requests().is_empty(),
        "NO_PROXY covers 127.0.0.1, yet the proxy saw a CONNECT:\n{}",
        proxy.log()
    );
    assert_eq!(tls.calls(), 1);
}
