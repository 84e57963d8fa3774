//! Which certificate authorities our AWS client trusts, and when each is read: once per process.
//!
//! # Where the roots are
//! The same places rustls-native-certs 0.8.5 reads for the SDK's own client, so that
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` keep their meaning ([`RootLocations::from_env`]):
//! - when `SSL_CERT_FILE` is set, or `SSL_CERT_DIR` names at least one directory (a
//!   colon-separated list), exactly those and nothing probed;
//! - else, on Linux and the other OpenSSL platforms, the locations openssl-probe finds: the first
//!   bundle file that exists (`/etc/ssl/certs/ca-certificates.crt` on Debian) and every
//!   certificate directory that exists (`/etc/ssl/certs`, `/etc/pki/tls/certs`, ...);
//! - else (macOS, Windows) the operating system's store.
//!
//! The extra PEM bundle of `AWS_CA_BUNDLE` or of the profile's `ca_bundle` is per fetch, not per
//! process: [`parse_bundle`].
//!
//! # When
//! The bundle file holds every root a host normally trusts: it is read the first time a client
//! is built ([`primary`]). A certificate directory holds the same roots again, one file each plus
//! a hash link (about 150 files on Debian), and sometimes a CA an administrator added with
//! `openssl rehash`/`c_rehash`/`update-ca-certificates` as a hashed link only. So the
//! directories are read only once a handshake fails for an unknown issuer ([`directories`], used
//! by [`super::tls_fallback`]). Without a bundle file the directories are the only roots: then
//! they are the primary roots and are read up front.
//!
//! # Form
//! The SDK's TLS context takes PEM, and panics on a section it cannot parse or on a certificate
//! that is no valid trust anchor. So every certificate is decoded and checked here with the
//! calls the SDK makes (rustls-pki-types' PEM reader, `rustls::RootCertStore::add`), and only
//! what passes is handed on: the file's own text when all of it passed (the common case, and
//! the cheapest: no encoding), else the certificates that passed, encoded again.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{self, PemObject};
use rustls_native_certs::CertificateResult;

use crate::fetch::{FetchError, FetchErrorKind};

/// Where this process's trust roots live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootLocations {
    /// A PEM bundle file and certificate directories (OpenSSL's layout).
    Paths {
        file: Option<PathBuf>,
        dirs: Vec<PathBuf>,
    },
    /// The operating system's store (macOS, Windows), read whole.
    OsStore,
}

impl RootLocations {
    /// This process's locations: its environment, else the platform's.
    pub fn of_process() -> RootLocations {
        RootLocations::from_env(|name| std::env::var_os(name), platform_locations)
    }

    /// `SSL_CERT_FILE` (as given, even when it does not exist) and `SSL_CERT_DIR` (its non-empty
    /// entries) when either says something, else `platform()`: rustls-native-certs 0.8.5's
    /// `load_native_certs`.
    pub fn from_env(
        var: impl Fn(&str) -> Option<OsString>,
        platform: impl FnOnce() -> RootLocations,
    ) -> RootLocations {
        let file = var("SSL_CERT_FILE").map(PathBuf::from);
        let dirs: Vec<PathBuf> = var("SSL_CERT_DIR")
            .map(|dirs| {
                std::env::split_paths(&dirs)
                    .filter(|dir| !dir.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if file.is_none() && dirs.is_empty() {
            return platform();
        }
        RootLocations::Paths { file, dirs }
    }

    /// The directories read only after an unknown issuer: those of a layout that also has a
    /// bundle file.
    fn deferred_dirs(&self) -> &[PathBuf] {
        match self {
            RootLocations::Paths {
                file: Some(_),
                dirs,
            } => dirs,
            _ => &[],
        }
    }
}

/// What openssl-probe finds, as rustls-native-certs uses it on these platforms.
#[cfg(all(unix, not(target_os = "macos")))]
fn platform_locations() -> RootLocations {
    let probed = openssl_probe::probe();
    RootLocations::Paths {
        file: probed.cert_file,
        dirs: probed.cert_dir,
    }
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn platform_locations() -> RootLocations {
    RootLocations::OsStore
}

/// Certificates that decode and are valid trust anchors, and the PEM text the SDK takes.
#[derive(Debug, Clone, Default)]
pub struct Roots {
    certs: Vec<CertificateDer<'static>>,
    pem: Vec<u8>,
}

impl Roots {
    /// Keeps the certificates of `certs` that are valid trust anchors, encoded again as PEM;
    /// `what` names their origin in the log line about those dropped.
    fn from_certs(certs: Vec<CertificateDer<'static>>, what: &dyn Fn() -> String) -> Roots {
        let certs = valid_anchors(certs, what);
        let pem = to_pem(&certs);
        Roots { certs, pem }
    }

    /// The certificates of PEM `text` that are valid trust anchors, and the sections that did
    /// not decode. When every section decoded and every certificate is an anchor, `text` itself
    /// is the PEM handed on: the SDK's parser then meets exactly the bytes checked here, and no
    /// time goes into encoding them again.
    fn from_pem_text(text: Vec<u8>, what: &dyn Fn() -> String) -> (Roots, Vec<pem::Error>) {
        let mut decoded = Vec::new();
        let mut errors = Vec::new();
        for section in CertificateDer::pem_slice_iter(&text) {
            match section {
                Ok(cert) => decoded.push(cert),
                Err(e) => errors.push(e),
            }
        }
        let count = decoded.len();
        let certs = valid_anchors(decoded, what);
        let pem = match errors.is_empty() && certs.len() == count {
            true => text,
            false => to_pem(&certs),
        };
        (Roots { certs, pem }, errors)
    }

    /// The certificates as PEM: one `CERTIFICATE` section each.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// The certificates, DER-encoded (for an HTTP stack other than the SDK's: the mirror's).
    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// The certificates of `certs` that rustls takes as trust anchors (the call the SDK makes).
fn valid_anchors(
    certs: Vec<CertificateDer<'static>>,
    what: &dyn Fn() -> String,
) -> Vec<CertificateDer<'static>> {
    let mut kept = Vec::with_capacity(certs.len());
    for cert in certs {
        match rustls::RootCertStore::empty().add(cert.clone()) {
            Ok(()) => kept.push(cert),
            Err(e) => tracing::warn!("skipping a certificate of {}: {e}", what()),
        }
    }
    kept
}

/// PEM for `certs`, one line of base64 per certificate (the SDK's PEM reader takes any line
/// length).
fn to_pem(certs: &[CertificateDer<'_>]) -> Vec<u8> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----\n";
    const END: &[u8] = b"\n-----END CERTIFICATE-----\n";
    let size = certs
        .iter()
        .map(|c| BEGIN.len() + c.len().div_ceil(3) * 4 + END.len())
        .sum();
    let mut pem = Vec::with_capacity(size);
    let mut line = String::new();
    for cert in certs {
        line.clear();
        STANDARD.encode_string(cert.as_ref(), &mut line);
        pem.extend_from_slice(BEGIN);
        pem.extend_from_slice(line.as_bytes());
        pem.extend_from_slice(END);
    }
    pem
}

/// The locations of this process and the roots read up front.
struct PrimaryRoots {
    locations: RootLocations,
    roots: Roots,
}

static PRIMARY: OnceLock<PrimaryRoots> = OnceLock::new();
static DIRECTORIES: OnceLock<Roots> = OnceLock::new();

fn primary_roots() -> &'static PrimaryRoots {
    PRIMARY.get_or_init(|| {
        let locations = RootLocations::of_process();
        let roots = load_primary(&locations);
        PrimaryRoots { locations, roots }
    })
}

/// The roots every handshake starts with: the bundle file's (or, without one, the
/// directories'), or the OS store's. Blocks on the first call of the process: it reads files.
pub fn primary() -> &'static Roots {
    &primary_roots().roots
}

/// Whether certificate directories are left to consult after an unknown issuer.
pub fn has_deferred_directories() -> bool {
    !primary_roots().locations.deferred_dirs().is_empty()
}

/// The certificates of the deferred directories that [`primary`] lacks. Blocks on the first
/// call of the process: it reads every file of the directories.
pub fn directories() -> &'static Roots {
    DIRECTORIES.get_or_init(|| {
        let primary = primary_roots();
        load_deferred(&primary.locations, &primary.roots)
    })
}

/// Reads the roots of `locations` that are read up front.
fn load_primary(locations: &RootLocations) -> Roots {
    let what = || format!("the trust roots of {locations:?}");
    let roots = match locations {
        RootLocations::Paths {
            file: Some(file), ..
        } => load_file(file),
        RootLocations::Paths { file: None, dirs } => checked(load_dirs(dirs), &what),
        RootLocations::OsStore => checked(rustls_native_certs::load_native_certs(), &what),
    };
    if roots.is_empty() {
        tracing::warn!("no trust roots found in {locations:?}");
    }
    tracing::debug!(count = roots.len(), ?locations, "trust roots loaded");
    roots
}

/// The certificates of the bundle file `file`, its errors logged (as the SDK did).
fn load_file(file: &Path) -> Roots {
    let text = match std::fs::read(file) {
        Ok(text) => text,
        Err(e) => {
            tracing::warn!("reading the trust roots of {}: {e}", file.display());
            return Roots::default();
        }
    };
    let (roots, errors) = Roots::from_pem_text(text, &|| file.display().to_string());
    for error in errors {
        tracing::warn!("reading the trust roots of {}: {error}", file.display());
    }
    roots
}

/// Reads the deferred directories of `locations`, keeping the certificates `primary` lacks.
fn load_deferred(locations: &RootLocations, primary: &Roots) -> Roots {
    let dirs = locations.deferred_dirs();
    let mut loaded = load_dirs(dirs);
    let known: HashSet<&[u8]> = primary.certs.iter().map(|c| c.as_ref()).collect();
    loaded.certs.retain(|c| !known.contains(c.as_ref()));
    let roots = checked(loaded, &|| format!("the certificate directories {dirs:?}"));
    tracing::debug!(
        count = roots.len(),
        ?dirs,
        "trust roots of the certificate directories loaded"
    );
    roots
}

/// Every certificate of `dirs`, each once.
fn load_dirs(dirs: &[PathBuf]) -> CertificateResult {
    let mut all = CertificateResult::default();
    for dir in dirs {
        let mut one = rustls_native_certs::load_certs_from_paths(None, Some(dir));
        all.certs.append(&mut one.certs);
        all.errors.append(&mut one.errors);
    }
    all.certs
        .sort_unstable_by(|a, b| a.as_ref().cmp(b.as_ref()));
    all.certs.dedup();
    all
}

/// Logs `loaded`'s errors (as the SDK did) and keeps its valid anchors.
fn checked(loaded: CertificateResult, what: &dyn Fn() -> String) -> Roots {
    for error in &loaded.errors {
        tracing::warn!("reading {}: {error}", what());
    }
    Roots::from_certs(loaded.certs, what)
}

/// The certificates of the PEM bundle read from `path` (`AWS_CA_BUNDLE`, `ca_bundle`). A
/// malformed PEM section or a bundle without a usable certificate is a configuration error; a
/// certificate that is no valid trust anchor is skipped with a log line.
pub fn parse_bundle(pem: Vec<u8>, path: &Path) -> Result<Roots, FetchError> {
    let (roots, errors) =
        Roots::from_pem_text(pem, &|| format!("the CA bundle {}", path.display()));
    if let Some(e) = errors.first() {
        return Err(FetchError::new(
            FetchErrorKind::BadConfiguration,
            format!("the CA bundle {} is not valid PEM: {e}", path.display()),
        ));
    }
    if roots.is_empty() {
        return Err(FetchError::new(
            FetchErrorKind::BadConfiguration,
            format!(
                "the CA bundle {} holds no usable PEM certificate",
                path.display()
            ),
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA_ONE: &[u8] = include_bytes!("testdata/ca-one.pem");
    const CA_TWO: &[u8] = include_bytes!("testdata/ca-two.pem");

    fn locations(vars: &[(&str, &str)]) -> RootLocations {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        RootLocations::from_env(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            || RootLocations::Paths {
                file: Some("/probed/bundle.crt".into()),
                dirs: vec!["/probed/certs".into()],
            },
        )
    }

    fn paths(file: Option<&str>, dirs: &[&str]) -> RootLocations {
        RootLocations::Paths {
            file: file.map(PathBuf::from),
            dirs: dirs.iter().map(PathBuf::from).collect(),
        }
    }

    #[test]
    fn ssl_cert_file_and_dir_replace_the_probed_locations() {
        assert_eq!(
            locations(&[]),
            paths(Some("/probed/bundle.crt"), &["/probed/certs"])
        );
        assert_eq!(
            locations(&[("SSL_CERT_FILE", "/mine.pem")]),
            paths(Some("/mine.pem"), &[]),
            "SSL_CERT_FILE alone: no directory at all"
        );
        assert_eq!(
            locations(&[("SSL_CERT_DIR", "/a::/b")]),
            paths(None, &["/a", "/b"]),
            "SSL_CERT_DIR alone: no bundle file, colon-separated, empty entries dropped"
        );
        assert_eq!(
            locations(&[("SSL_CERT_FILE", "/mine.pem"), ("SSL_CERT_DIR", "/a")]),
            paths(Some("/mine.pem"), &["/a"])
        );
        assert_eq!(
            locations(&[("SSL_CERT_DIR", ":")]),
            paths(Some("/probed/bundle.crt"), &["/probed/certs"]),
            "a directory list of empty entries says nothing"
        );
        assert_eq!(
            locations(&[("SSL_CERT_FILE", "")]),
            paths(Some(""), &[]),
            "an empty SSL_CERT_FILE is set (rustls-native-certs reads it and fails)"
        );
    }

    #[test]
    fn only_directories_beside_a_bundle_file_are_deferred() {
        assert_eq!(
            paths(Some("/f"), &["/a", "/b"]).deferred_dirs(),
            [PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert!(paths(None, &["/a"]).deferred_dirs().is_empty());
        assert!(paths(Some("/f"), &[]).deferred_dirs().is_empty());
        assert!(RootLocations::OsStore.deferred_dirs().is_empty());
    }

    /// A directory as `openssl rehash` leaves it: the CA's file and a hash-named link to it.
    fn hashed_dir(dir: &Path, name: &str, pem: &[u8]) {
        std::fs::write(dir.join(name), pem).unwrap();
        std::os::unix::fs::symlink(name, dir.join(format!("{name}.0"))).unwrap();
    }

    #[test]
    fn the_file_is_read_up_front_and_the_directories_add_only_what_it_lacks() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("bundle.pem");
        std::fs::write(&file, CA_ONE).unwrap();
        let dir = tmp.path().join("certs");
        std::fs::create_dir(&dir).unwrap();
        hashed_dir(&dir, "one.pem", CA_ONE);
        hashed_dir(&dir, "two.pem", CA_TWO);
        let locations = RootLocations::Paths {
            file: Some(file),
            dirs: vec![dir.clone()],
        };

        let primary = load_primary(&locations);
        assert_eq!(primary.len(), 1);
        let deferred = load_deferred(&locations, &primary);
        assert_eq!(deferred.len(), 1, "CA one is in the file already");
        assert_eq!(
            deferred.certs,
            parse_bundle(CA_TWO.to_vec(), &dir).unwrap().certs
        );

        let dirs_only = RootLocations::Paths {
            file: None,
            dirs: vec![dir],
        };
        assert_eq!(
            load_primary(&dirs_only).len(),
            2,
            "without a bundle file the directories are read up front"
        );
    }

    #[test]
    fn the_pem_handed_to_the_sdk_decodes_to_the_same_certificates() {
        let mut both = CA_ONE.to_vec();
        both.extend_from_slice(b"some text between sections\n");
        both.extend_from_slice(CA_TWO);
        let roots = parse_bundle(both.clone(), Path::new("both.pem")).unwrap();
        assert_eq!(roots.len(), 2);
        assert_eq!(roots.pem(), both, "a clean bundle is handed on as it is");
        assert_sdk_takes(&roots);

        let mut with_a_bad_one = both.clone();
        with_a_bad_one
            .extend_from_slice(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let roots = parse_bundle(with_a_bad_one, Path::new("bad.pem")).unwrap();
        assert_eq!(roots.len(), 2);
        assert_ne!(roots.pem(), both, "encoded again, without the bad one");
        assert_sdk_takes(&roots);
    }

    /// What the SDK does with the PEM (`expect`s included): it must decode to the same
    /// certificates and each must be accepted as an anchor.
    fn assert_sdk_takes(roots: &Roots) {
        let again: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(roots.pem())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(again, roots.certs);
        let mut store = rustls::RootCertStore::empty();
        for cert in again {
            store.add(cert).unwrap();
        }
        assert_eq!(store.len(), roots.len());
    }

    #[test]
    fn a_broken_section_of_the_bundle_file_loses_only_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("ca-certificates.crt");
        let mut text = CA_ONE.to_vec();
        text.extend_from_slice(
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        );
        text.extend_from_slice(CA_TWO);
        std::fs::write(&file, &text).unwrap();
        let roots = load_file(&file);
        assert_eq!(roots.len(), 2);
        assert_sdk_takes(&roots);
        assert!(load_file(&tmp.path().join("missing.crt")).is_empty());
    }

    #[test]
    fn a_bundle_that_is_not_usable_pem_is_a_configuration_error_not_a_panic() {
        let path = Path::new("/etc/corp-ca.pem");
        let broken =
            b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
        for (pem, says) in [
            (&broken[..], "not valid PEM"),
            (b"just text\n", "no usable PEM certificate"),
            (
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "no usable PEM certificate",
            ),
        ] {
            let error = parse_bundle(pem.to_vec(), path).unwrap_err();
            assert_eq!(error.kind, FetchErrorKind::BadConfiguration);
            assert!(error.detail.contains("/etc/corp-ca.pem"), "{error}");
            assert!(error.detail.contains(says), "{error}");
        }
        let mut one_bad = CA_ONE.to_vec();
        one_bad
            .extend_from_slice(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        assert_eq!(
            parse_bundle(one_bad, path).unwrap().len(),
            1,
            "a certificate that is no trust anchor is skipped"
        );
    }
}
