//! The one HTTP client every AWS call of ours goes through.
//!
//! The SDK's default client ignores `HTTPS_PROXY` and `AWS_CA_BUNDLE`; corporate networks need
//! both. This client trusts the platform roots ([`trust_roots`]: `SSL_CERT_FILE`/`SSL_CERT_DIR`,
//! else the system's bundle file and, after an unknown issuer only, its certificate
//! directories, through [`FallbackClient`]) plus the PEM bundle named by `AWS_CA_BUNDLE` or by
//! `ca_bundle` in the selected AWS profile, and routes through the proxy named by
//! `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` except for hosts matched by `NO_PROXY`. Instance
//! metadata is link-local and never proxied: it gets [`direct_client`].

use std::path::{Path, PathBuf};

use aws_runtime::env_config::file::EnvConfigFiles;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, Connector};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_types::os_shim_internal::{Env, Fs};

use super::tls_fallback::{BuildClient, FallbackClient};
use super::trust_roots::{self, Roots};
use crate::chain_inputs::SharedFiles;
use crate::clock::Deadline;
use crate::fetch::{FetchError, FetchErrorKind};
use crate::source::TokenScope;

/// The client for fetching `scope`'s token: this process's proxy settings, and the CA bundle of
/// `AWS_CA_BUNDLE` or else of the scope's AWS profile (the bound one, or the one its recorded
/// inputs select) in its recorded files.
pub async fn client_for(
    scope: &TokenScope,
    deadline: Deadline,
) -> Result<SharedHttpClient, FetchError> {
    let bundle = match ca_bundle_path(scope, deadline).await {
        Some(path) => {
            let shown = path.display().to_string();
            Some(
                super::files::read_off_runtime(
                    move || format!("the CA bundle {shown}"),
                    deadline,
                    move || read_bundle(&path),
                )
                .await?,
            )
        }
        None => None,
    };
    // The first fetch of the process reads the roots: off the runtime, like any file.
    super::files::read_off_runtime(
        || "the trust roots".to_string(),
        deadline,
        || Ok(trust_roots::primary().len()),
    )
    .await?;
    client_with_bundle(bundle, ProxyConfig::from_env())
}

/// A client that never uses a proxy, for link-local endpoints (instance metadata).
pub fn direct_client() -> Result<SharedHttpClient, FetchError> {
    client_with_bundle(None, ProxyConfig::disabled())
}

/// A client trusting the platform roots plus `extra`, with `proxy`: the primary roots first,
/// the certificate directories after an unknown issuer.
fn client_with_bundle(
    extra: Option<Roots>,
    proxy: ProxyConfig,
) -> Result<SharedHttpClient, FetchError> {
    let primary = trust_roots::primary();
    let primary_client = client_trusting([primary].into_iter().chain(&extra), proxy.clone())?;
    let widened: Option<BuildClient> = trust_roots::has_deferred_directories().then(|| {
        let build: BuildClient = Box::new(move || {
            let (extra, proxy) = (extra.clone(), proxy.clone());
            Box::pin(async move {
                let directories = tokio::task::spawn_blocking(trust_roots::directories)
                    .await
                    .map_err(|e| ConnectorError::other(e.into(), None))?;
                let roots = [primary, directories].into_iter().chain(&extra);
                client_trusting(roots, proxy).map_err(|e| ConnectorError::other(e.into(), None))
            })
        });
        build
    });
    Ok(FallbackClient::shared(primary_client, widened))
}

/// A client of the SDK's trusting exactly `roots` (none of its own native roots), with `proxy`.
fn client_trusting<'a>(
    roots: impl IntoIterator<Item = &'a Roots>,
    proxy: ProxyConfig,
) -> Result<SharedHttpClient, FetchError> {
    let mut trust = TrustStore::empty().with_native_roots(false);
    for roots in roots.into_iter().filter(|r| !r.is_empty()) {
        trust = trust.with_pem_certificate(roots.pem());
    }
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| {
            FetchError::new(
                FetchErrorKind::BadConfiguration,
                format!("TLS set-up failed: {e}"),
            )
        })?;
    Ok(
        Builder::new().build_with_connector_fn(move |settings, components| {
            let mut builder = Connector::builder().proxy_config(proxy.clone());
            builder.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                builder.set_sleep_impl(components.sleep_impl());
            }
            builder
                .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(tls.clone())
                .build()
        }),
    )
}

/// `AWS_CA_BUNDLE`, else `ca_bundle` of the scope's profile in its files.
async fn ca_bundle_path(scope: &TokenScope, deadline: Deadline) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let (name, files) = scope.source.profile()?;
    let files = files.clone();
    let files = super::files::read_off_runtime(
        || "the AWS shared files".to_string(),
        deadline,
        move || Ok(settings_files(&files)),
    )
    .await
    .ok()??;
    let profiles = aws_config::profile::load(
        &Fs::real(),
        &Env::real(),
        &files,
        Some(name.to_string().into()),
    )
    .await
    .ok()?;
    profiles
        .get("ca_bundle")
        .filter(|p| !p.trim().is_empty())
        .map(|p| PathBuf::from(p.trim()))
}

/// The contents of the shared files that exist, for settings that do not select the identity
/// (`ca_bundle`): read also when the identity came from environment keys and the scope
/// recorded no digest of them.
fn settings_files(files: &SharedFiles) -> Option<EnvConfigFiles> {
    super::identity::env_config_files(files, |_, bytes| Ok(bytes.map(<[u8]>::to_vec)))
        .ok()
        .flatten()
}

/// Every root this process trusts outside an AWS profile, for a client that cannot widen its
/// roots after an unknown issuer (the mirror's registry client): the primary roots, the
/// certificate directories, and the PEM bundle of `AWS_CA_BUNDLE`. Reads files: call it once.
pub fn process_roots() -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, FetchError> {
    let mut certs = trust_roots::primary().certs().to_vec();
    if trust_roots::has_deferred_directories() {
        certs.extend_from_slice(trust_roots::directories().certs());
    }
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        certs.extend_from_slice(read_bundle(Path::new(&path))?.certs());
    }
    Ok(certs)
}

/// The certificates of the CA bundle at `path`.
fn read_bundle(path: &Path) -> Result<Roots, FetchError> {
    let pem = std::fs::read(path).map_err(|e| {
        FetchError::new(
            FetchErrorKind::BadConfiguration,
            format!("cannot read the CA bundle {}: {e}", path.display()),
        )
    })?;
    trust_roots::parse_bundle(pem, path)
}
