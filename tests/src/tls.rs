//! Throwaway TLS material for tests, made with the `openssl` command-line tool.
//!
//! [`TestPki::generate`] writes, into a directory the caller owns:
//!
//! - `ca.pem` / `ca.key`: a self-signed certificate authority that exists only for this test run;
//! - `server.pem` / `server.key`: a server certificate signed by that CA, valid for the given DNS
//!   names and IP addresses (as `subjectAltName`, which is all rustls, Go and OpenSSL look at);
//! - `chain.pem`: the server certificate followed by the CA, for servers that want a full chain;
//! - `bundle.pem`: the system's trusted roots plus the throwaway CA, for clients that must trust
//!   both (an `SSL_CERT_FILE` that should not break every other HTTPS peer).
//!
//! Keys are ECDSA P-256: fast to make and accepted by rustls, Go's crypto/tls and OpenSSL alike.
//! Callers decide where the CA is trusted: a file, a certificate directory hashed by
//! `openssl rehash` ([`TestPki::rehashed_dir`]), or, for the length of one guard's life, the
//! system's certificate directory ([`SystemCertDirEntry`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::fake_handle::FakeEcr;

/// Where Debian keeps the system's trusted roots as one PEM file.
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Where Debian keeps them one file each, with OpenSSL's subject-hash links.
pub const SYSTEM_CERT_DIR: &str = "/etc/ssl/certs";

/// The files of one throwaway CA and one server certificate it signed.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA certificate (PEM): what clients must trust.
    pub ca_cert: PathBuf,
    /// The CA private key (PEM).
    pub ca_key: PathBuf,
    /// The server certificate (PEM), leaf only.
    pub server_cert: PathBuf,
    /// The server private key (PEM, PKCS#8).
    pub server_key: PathBuf,
    /// The server certificate followed by the CA certificate.
    pub chain: PathBuf,
    /// The system roots followed by the CA certificate.
    pub bundle: PathBuf,
}

impl TestPki {
    /// Makes a CA and a server certificate for `dns_names` and `ips` in `dir` (created if
    /// missing). Panics with openssl's output when a step fails: a test cannot go on without it.
    pub fn generate(dir: &Path, dns_names: &[&str], ips: &[&str]) -> TestPki {
        assert!(
            !dns_names.is_empty() || !ips.is_empty(),
            "a server certificate needs at least one DNS name or IP address"
        );
        std::fs::create_dir_all(dir).expect("create TLS dir");
        let pki = TestPki {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            chain: dir.join("chain.pem"),
            bundle: dir.join("bundle.pem"),
        };
        pki.make_ca(dir);
        pki.make_server_cert(dir, dns_names, ips);
        pki.write_chain();
        pki.write_bundle();
        pki
    }

    /// The self-signed CA, with the extensions a verifier demands of a CA.
    fn make_ca(&self, dir: &Path) {
        let config = dir.join("ca.cnf");
        std::fs::write(
            &config,
            "[req]\n\
             distinguished_name = dn\n\
             x509_extensions = v3_ca\n\
             prompt = no\n\
             [dn]\n\
             CN = ecr-e2e throwaway test CA\n\
             [v3_ca]\n\
             basicConstraints = critical, CA:TRUE\n\
             keyUsage = critical, keyCertSign, cRLSign\n\
             subjectKeyIdentifier = hash\n",
        )
        .expect("write CA config");
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "3",
            "-config",
            path_str(&config),
            "-keyout",
            path_str(&self.ca_key),
            "-out",
            path_str(&self.ca_cert),
        ]);
    }

    /// A key, a signing request and the CA's signature with the subjectAltName extension.
    fn make_server_cert(&self, dir: &Path, dns_names: &[&str], ips: &[&str]) {
        let csr = dir.join("server.csr");
        let common_name = dns_names.first().or(ips.first()).expect("a name");
        openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={common_name}"),
            "-keyout",
            path_str(&self.server_key),
            "-out",
            path_str(&csr),
        ]);
        let extensions = dir.join("server.ext");
        std::fs::write(&extensions, server_extensions(dns_names, ips)).expect("write extensions");
        openssl(&[
            "x509",
            "-req",
            "-in",
            path_str(&csr),
            "-CA",
            path_str(&self.ca_cert),
            "-CAkey",
            path_str(&self.ca_key),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            path_str(&extensions),
            "-out",
            path_str(&self.server_cert),
        ]);
    }

    /// The CA's OpenSSL subject hash (`openssl x509 -hash`): the name of its links in a
    /// certificate directory (`<hash>.0`, `<hash>.1`, ...).
    pub fn ca_subject_hash(&self) -> String {
        openssl_output(&["x509", "-hash", "-noout", "-in", path_str(&self.ca_cert)])
            .trim()
            .to_string()
    }

    /// Makes `dir` a certificate directory holding the CA alone, as `c_rehash` or
    /// `update-ca-certificates` leave one: the CA's file and its hash link, made by
    /// `openssl rehash`.
    pub fn rehashed_dir(&self, dir: &Path) -> PathBuf {
        std::fs::create_dir_all(dir).expect("create certificate dir");
        std::fs::copy(&self.ca_cert, dir.join("ecr-e2e-test-ca.pem")).expect("copy CA");
        openssl(&["rehash", path_str(dir)]);
        let link = dir.join(format!("{}.0", self.ca_subject_hash()));
        assert!(
            link.is_symlink(),
            "openssl rehash made no link {}",
            link.display()
        );
        dir.to_path_buf()
    }

    fn write_chain(&self) {
        let chain = read(&self.server_cert) + &read(&self.ca_cert);
        std::fs::write(&self.chain, chain).expect("write chain");
    }

    fn write_bundle(&self) {
        let system = std::fs::read_to_string(SYSTEM_ROOTS).unwrap_or_default();
        let mut bundle = system;
        if !bundle.is_empty() && !bundle.ends_with('\n') {
            bundle.push('\n');
        }
        bundle.push_str(&read(&self.ca_cert));
        std::fs::write(&self.bundle, bundle).expect("write bundle");
    }
}

/// A test CA placed in the system's certificate directory only (not in its bundle file), as an
/// administrator's `c_rehash` would leave it: the CA's file and a `<hash>.N` link to it. Both
/// are removed on drop, even when the test panics; entries left by a run that was killed are
/// removed by the next [`SystemCertDirEntry::install`] (their names carry the dead pid).
pub struct SystemCertDirEntry {
    file: PathBuf,
}

/// The prefix of the CA files placed here: `<prefix><pid>-<n>.pem`.
const SYSTEM_ENTRY_PREFIX: &str = "ecr-e2e-test-ca-";

impl SystemCertDirEntry {
    /// Links `pki`'s CA into [`SYSTEM_CERT_DIR`] (needs root).
    pub fn install(pki: &TestPki) -> SystemCertDirEntry {
        let dir = Path::new(SYSTEM_CERT_DIR);
        remove_entries_of_dead_runs(dir);
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let name = format!("{SYSTEM_ENTRY_PREFIX}{}-{unique}.pem", std::process::id());
        let file = dir.join(&name);
        std::fs::copy(&pki.ca_cert, &file).unwrap_or_else(|e| {
            panic!("cannot write {} (the test needs root): {e}", file.display())
        });
        let entry = SystemCertDirEntry { file };
        let hash = pki.ca_subject_hash();
        let linked = (0..100).any(|n| {
            let link = dir.join(format!("{hash}.{n}"));
            match std::os::unix::fs::symlink(&name, &link) {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
                Err(e) => panic!("link {}: {e}", link.display()),
            }
        });
        assert!(linked, "no free {hash}.N name in {SYSTEM_CERT_DIR}");
        entry
    }
}

impl Drop for SystemCertDirEntry {
    fn drop(&mut self) {
        let dir = self.file.parent().expect("dir");
        let name = self.file.file_name().expect("name");
        remove_links_to(dir, name);
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Removes the links in `dir` that point to `name` (ours, and any a rehash made meanwhile).
fn remove_links_to(dir: &Path, name: &std::ffi::OsStr) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if std::fs::read_link(&path).is_ok_and(|target| target.as_os_str() == name) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// Removes the CA files (and their links) of test runs whose process is gone.
fn remove_entries_of_dead_runs(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SYSTEM_ENTRY_PREFIX))
        else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            remove_links_to(dir, &name);
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The v3 extensions of a TLS server certificate for `dns_names` and `ips`.
fn server_extensions(dns_names: &[&str], ips: &[&str]) -> String {
    let alt_names: Vec<String> = dns_names
        .iter()
        .map(|name| format!("DNS:{name}"))
        .chain(ips.iter().map(|ip| format!("IP:{ip}")))
        .collect();
    format!(
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = {}\n",
        alt_names.join(", ")
    )
}

/// Runs `openssl ARGS...`, panicking with its output unless it succeeds.
fn openssl(args: &[&str]) {
    openssl_output(args);
}

/// Runs `openssl ARGS...` and returns its stdout, panicking unless it succeeds.
fn openssl_output(args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (Debian package `openssl`)");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A fake ECR serving TLS with a certificate from a throwaway CA (for `localhost` and
/// 127.0.0.1), and the temp directory holding that CA's files.
pub struct TlsFake {
    pub fake: FakeEcr,
    pub pki: TestPki,
    pub dir: TempDir,
}

impl TlsFake {
    /// A fake handing out tokens with `password`, its PKI under a new temp directory.
    pub fn start(password: &str) -> TlsFake {
        let dir = tempfile::Builder::new()
            .prefix("ecr-e2e-tls-")
            .tempdir()
            .expect("pki dir");
        let pki = TestPki::generate(&dir.path().join("pki"), &["localhost"], &["127.0.0.1"]);
        let fake = FakeEcr::builder()
            .tls(&pki.chain, &pki.server_key)
            .password(password)
            .start()
            .expect("start fake ECR with TLS");
        TlsFake { fake, pki, dir }
    }

    /// The API calls the fake has answered.
    pub fn calls(&self) -> u64 {
        self.fake.stats().expect("fake stats").calls
    }
}
