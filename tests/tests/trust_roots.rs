//! Where the helper finds the CA of the server it talks to, and what it reads to find it.
//!
//! The fake ECR serves TLS with a certificate from a throwaway CA (for `127.0.0.1` and
//! `localhost`). Each test puts that CA in one place: the bundle file (`SSL_CERT_FILE`), a
//! certificate directory hashed by `openssl rehash` (`SSL_CERT_DIR`), the system's certificate
//! directory `/etc/ssl/certs` (as an administrator's `c_rehash` would: root only, undone on
//! drop), or nowhere. The helper must trust it wherever OpenSSL would, yet read a certificate
//! directory only when the bundle file does not know the server's CA: `strace -e trace=openat`
//! of the helper shows which files it opened.
//!
//! The AWS_CA_BUNDLE, profile `ca_bundle` and plain SSL_CERT_FILE cases are in `network.rs`.

use std::path::{Path, PathBuf};

use ecr_e2e::sandbox::{EXAMPLE_REGISTRY, Run, Sandbox};
use ecr_e2e::tls::{SYSTEM_CERT_DIR, SYSTEM_ROOTS, SystemCertDirEntry, TlsFake};

/// The password the fake hands out.
const PASSWORD: &str = "trust-roots-test-password";

/// What the helper logs (at debug) when it consults the certificate directories.
const FALLBACK_LOG: &str = "retrying with the certificate directories";

/// What these tests ask of the TLS fake.
trait RootsFake {
    /// A directory holding the CA alone, hashed by `openssl rehash`.
    fn rehashed_ca_dir(&self) -> PathBuf;
    /// `get` for the example registry against the fake, logging at debug, with `env` added;
    /// under `strace` (the trace written to `trace`) when one is given.
    fn get(&self, sandbox: &Sandbox, env: &[(&str, &Path)], trace: Option<&Path>) -> Run;
}

impl RootsFake for TlsFake {
    fn rehashed_ca_dir(&self) -> PathBuf {
        self.pki.rehashed_dir(&self.dir.path().join("certs"))
    }

    fn get(&self, sandbox: &Sandbox, env: &[(&str, &Path)], trace: Option<&Path>) -> Run {
        let mut helper = match trace {
            Some(trace) => sandbox.helper_under(&[
                "strace",
                "-f",
                "-qq",
                "-e",
                "trace=openat",
                "-o",
                trace.to_str().expect("UTF-8 path"),
            ]),
            None => sandbox.helper(),
        };
        helper = helper
            .against(&self.fake.url())
            .env("DOCKER_CREDENTIAL_ECR_LOG", "debug");
        for (key, value) in env {
            helper = helper.env(key, value);
        }
        helper.get(EXAMPLE_REGISTRY)
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

/// The paths of the helper's `openat` calls that succeeded, from an strace log.
fn opened_files(trace: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace).expect("read strace log");
    text.lines()
        .filter(|line| !line.contains("= -1 "))
        .filter_map(|line| {
            let (_, rest) = line.split_once("openat(")?;
            let (_, rest) = rest.split_once('"')?;
            let (path, _) = rest.split_once('"')?;
            Some(path.to_string())
        })
        .collect()
}

/// The opened paths inside `dir` (the directory itself included).
fn opened_in(opened: &[String], dir: &Path) -> Vec<String> {
    let dir = dir.to_str().expect("UTF-8 path");
    opened
        .iter()
        .filter(|path| {
            path.strip_prefix(dir)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .cloned()
        .collect()
}

#[test]
fn a_ca_in_ssl_cert_file_is_trusted_without_reading_ssl_cert_dir() {
    let tls = TlsFake::start(PASSWORD);
    let dir = tls.rehashed_ca_dir();
    let sandbox = Sandbox::new();
    let trace = sandbox.root().join("openat.trace");
    let run = tls.get(
        &sandbox,
        &[("SSL_CERT_FILE", &tls.pki.bundle), ("SSL_CERT_DIR", &dir)],
        Some(&trace),
    );
    assert_got_password(&run, &sandbox);

    let opened = opened_files(&trace);
    let bundle = tls.pki.bundle.to_str().expect("UTF-8 path");
    assert_eq!(
        opened.iter().filter(|p| *p == bundle).count(),
        1,
        "the bundle file is read once: {opened:#?}"
    );
    assert_eq!(
        opened_in(&opened, &dir),
        Vec::<String>::new(),
        "the bundle knew the CA: the directory must not be read"
    );
    assert!(!sandbox.log().contains(FALLBACK_LOG), "{}", sandbox.log());
}

#[test]
fn the_system_locations_read_only_the_bundle_file_when_it_knows_the_ca() {
    let tls = TlsFake::start(PASSWORD);
    let sandbox = Sandbox::new();
    let trace = sandbox.root().join("openat.trace");
    // The CA comes from AWS_CA_BUNDLE; the system's own locations are probed as for any user.
    let run = tls.get(
        &sandbox,
        &[("AWS_CA_BUNDLE", &tls.pki.ca_cert)],
        Some(&trace),
    );
    assert_got_password(&run, &sandbox);

    let opened = opened_files(&trace);
    assert_eq!(
        opened_in(&opened, Path::new(SYSTEM_CERT_DIR)),
        [SYSTEM_ROOTS],
        "one read of the bundle file, nothing else of the certificate directory"
    );
}

#[test]
fn a_ca_only_in_ssl_cert_dir_is_trusted_after_an_unknown_issuer() {
    let tls = TlsFake::start(PASSWORD);
    let dir = tls.rehashed_ca_dir();
    let sandbox = Sandbox::new();
    let run = tls.get(
        &sandbox,
        &[
            ("SSL_CERT_FILE", Path::new(SYSTEM_ROOTS)),
            ("SSL_CERT_DIR", &dir),
        ],
        None,
    );
    assert_got_password(&run, &sandbox);
    assert_eq!(tls.calls(), 1, "the failed handshake never reached the API");
    assert!(sandbox.log().contains(FALLBACK_LOG), "{}", sandbox.log());
}

#[test]
fn a_ca_linked_only_into_the_system_certificate_directory_is_trusted() {
    let tls = TlsFake::start(PASSWORD);
    let _entry = SystemCertDirEntry::install(&tls.pki);
    let sandbox = Sandbox::new();
    let run = tls.get(&sandbox, &[], None);
    assert_got_password(&run, &sandbox);
    assert!(sandbox.log().contains(FALLBACK_LOG), "{}", sandbox.log());
}

#[test]
fn a_ca_in_no_location_fails_with_one_line_naming_the_untrusted_certificate() {
    let tls = TlsFake::start(PASSWORD);
    let sandbox = Sandbox::new();
    let run = tls.get(&sandbox, &[], None);

    assert_eq!(run.code, 1, "expected exit 1: {run:#?}");
    let line = run.stdout.trim();
    assert_eq!(line.lines().count(), 1, "one line: {run:#?}");
    for says in [
        EXAMPLE_REGISTRY,
        "not signed by a trusted CA",
        "UnknownIssuer",
    ] {
        assert!(
            line.contains(says),
            "the error should say {says:?}: {run:#?}"
        );
    }
    assert!(
        sandbox.log().contains(FALLBACK_LOG),
        "the certificate directories were consulted first: {}",
        sandbox.log()
    );
    assert_eq!(tls.calls(), 0);
}

#[test]
fn a_malformed_aws_ca_bundle_fails_with_one_line_not_a_panic() {
    let tls = TlsFake::start(PASSWORD);
    let sandbox = Sandbox::new();
    let bundle = sandbox.root().join("corp-ca.pem");
    std::fs::write(
        &bundle,
        "-----BEGIN CERTIFICATE-----\nthis is not base64!\n-----END CERTIFICATE-----\n",
    )
    .expect("write bundle");
    let run = tls.get(&sandbox, &[("AWS_CA_BUNDLE", &bundle)], None);

    assert_eq!(run.code, 1, "expected exit 1, not a panic: {run:#?}");
    let line = run.stdout.trim();
    assert_eq!(line.lines().count(), 1, "one line: {run:#?}");
    assert!(
        line.contains(bundle.to_str().unwrap()) && line.contains("not valid PEM"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains("panicked"), "{run:#?}");
    assert_eq!(tls.calls(), 0);
}
