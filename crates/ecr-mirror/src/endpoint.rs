//! One registry as the mirror uses it: an OCI client with its credentials, and the few
//! distribution-API calls a copy makes, each failure turned into a [`MirrorError`] that names
//! this registry and where its credentials came from.
//!
//! The HTTP stack is the OCI client's reqwest with rustls, trusting exactly the roots it is
//! given ([`HttpSettings`]: the caller passes the product's, so that `SSL_CERT_FILE`,
//! `SSL_CERT_DIR`, `AWS_CA_BUNDLE` and the system store mean what they mean for a token fetch)
//! and taking `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` from the environment (reqwest's
//! system proxy, which the client keeps unless told otherwise).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use crate::error::{MirrorError, RegistryFailure};
use crate::manifest::{self, Descriptor, Manifest};
use crate::naming;

/// Longest wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the next bytes of a source's response: a stalled registry must not hang
/// the copy. (Not for the target: reqwest's read timeout runs from the request's start, so an
/// upload longer than it would always fail; uploads are watched by the copy instead.)
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Which side of the copy a registry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Read from.
    Source,
    /// Written to.
    Target,
}

/// How every registry is reached.
#[derive(Clone, Default)]
pub struct HttpSettings {
    /// The trust roots, DER-encoded; empty means reqwest's own.
    pub roots: Vec<Vec<u8>>,
}

/// A registry, its client and its credentials.
pub struct Endpoint {
    client: Client,
    auth: RegistryAuth,
    host: String,
    origin: String,
    /// Blobs this run found or put in a repository of this registry, by digest: another
    /// repository can mount them instead of uploading them again.
    known_blobs: Mutex<HashMap<String, Reference>>,
}

impl Endpoint {
    /// The registry `host` with `auth`, which came from `origin` (said when it is refused).
    pub async fn new(
        host: &str,
        role: Role,
        auth: RegistryAuth,
        origin: String,
        http: &HttpSettings,
    ) -> Result<Endpoint, MirrorError> {
        let config = ClientConfig {
            protocol: ClientProtocol::Https,
            tls_certs_only: http
                .roots
                .iter()
                .map(|der| Certificate {
                    encoding: CertificateEncoding::Der,
                    data: der.clone(),
                })
                .collect(),
            platform_resolver: None,
            // One PUT per blob (see `push_blob`), never PATCH chunks.
            use_monolithic_push: true,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: (role == Role::Source).then_some(READ_TIMEOUT),
            user_agent: concat!("docker-credential-ecr/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let client = Client::try_from(config)
            .map_err(|e| MirrorError::Client(crate::error::one_line(&e)))?;
        // The client looks credentials up by the resolved registry of each reference.
        let resolved = Reference::with_tag(host.to_string(), "x".into(), "x".into())
            .resolve_registry()
            .to_string();
        client.store_auth_if_needed(&resolved, &auth).await;
        Ok(Endpoint {
            client,
            auth,
            host: host.to_string(),
            origin,
            known_blobs: Mutex::new(HashMap::new()),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn error(
        &self,
        reference: &Reference,
        e: oci_client::errors::OciDistributionError,
    ) -> MirrorError {
        MirrorError::from_registry(e, &self.host, &naming::display(reference), &self.origin)
    }

    /// The error of a write to `reference`'s repository: "not found" there means the
    /// repository does not exist (ECR, for one, creates none on push).
    fn write_error(
        &self,
        reference: &Reference,
        e: oci_client::errors::OciDistributionError,
    ) -> MirrorError {
        match self.error(reference, e) {
            MirrorError::NotFound { .. } => MirrorError::NoRepository {
                host: self.host.clone(),
                repository: reference.repository().to_string(),
            },
            other => other,
        }
    }

    /// The manifest `reference` names, as served, its digest verified.
    pub async fn manifest(&self, reference: &Reference) -> Result<Manifest, MirrorError> {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(reference, &self.auth, manifest::ACCEPTED)
            .await
            .map_err(|e| self.error(reference, e))?;
        Manifest::parse(bytes, digest).map_err(|why| MirrorError::BadManifest {
            reference: naming::display(reference),
            why,
        })
    }

    /// The digest of the manifest `reference` names, or `None` when there is none.
    pub async fn manifest_digest(
        &self,
        reference: &Reference,
    ) -> Result<Option<String>, MirrorError> {
        match self
            .client
            .fetch_manifest_digest(reference, &self.auth)
            .await
        {
            Ok(digest) => Ok(Some(digest)),
            Err(e) if RegistryFailure::of(&e) == RegistryFailure::NotFound => Ok(None),
            Err(e) => Err(self.error(reference, e)),
        }
    }

    /// Whether the repository of `reference` holds blob `digest`.
    pub async fn has_blob(&self, reference: &Reference, digest: &str) -> Result<bool, MirrorError> {
        self.client
            .blob_exists(reference, digest)
            .await
            .map_err(|e| self.error(reference, e))
    }

    /// Records that the repository of `reference` holds blob `digest`.
    pub fn remember_blob(&self, reference: &Reference, digest: &str) {
        let mut known = self.known_blobs.lock().unwrap_or_else(|e| e.into_inner());
        known.insert(digest.to_string(), reference.clone());
    }

    /// A repository of this registry other than `reference`'s known to hold blob `digest`.
    pub fn other_repository_holding(
        &self,
        reference: &Reference,
        digest: &str,
    ) -> Option<Reference> {
        let known = self.known_blobs.lock().unwrap_or_else(|e| e.into_inner());
        known
            .get(digest)
            .filter(|holder| holder.repository() != reference.repository())
            .cloned()
    }

    /// Asks the registry to mount blob `digest` of `from`'s repository into `reference`'s (a
    /// cross-repository mount: no bytes move). `false` when it would not, for any reason (the
    /// registry does not mount, or the blob went): the caller uploads it instead.
    pub async fn mount_blob(&self, reference: &Reference, from: &Reference, digest: &str) -> bool {
        match self.client.mount_blob(reference, from, digest).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(digest, error = %e, "no cross-repository mount; uploading");
                false
            }
        }
    }

    /// Blob `blob` of the repository of `reference`, streamed; the stream ends in an error
    /// unless the bytes have the blob's digest.
    pub async fn blob_stream(
        &self,
        reference: &Reference,
        blob: &Descriptor,
    ) -> Result<oci_client::client::SizedStream, MirrorError> {
        let descriptor = OciDescriptor {
            media_type: blob.media_type.clone(),
            digest: blob.digest.clone(),
            size: i64::try_from(blob.size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        self.client
            .pull_blob_stream(reference, &descriptor)
            .await
            .map_err(|e| self.error(reference, e))
    }

    /// Uploads `stream` (`size` bytes) as blob `digest` into the repository of `reference`:
    /// a session (`POST`), then the whole blob streamed in one `PUT` with its digest, which the
    /// registry checks before it keeps the blob. That is the upload every registry must take
    /// (the OCI distribution spec's "POST then PUT", what ORAS sends, to ECR too). Chunked
    /// `PATCH` uploads are avoided: ECR refuses parts under 5 MiB but the last
    /// (`LayerPartTooSmallException`) and, reported in aws/containers-roadmap#2831, drops the
    /// body of every `PATCH` after the first.
    pub async fn push_blob<S>(
        &self,
        reference: &Reference,
        stream: S,
        digest: &str,
        size: u64,
    ) -> Result<(), MirrorError>
    where
        S: futures_util::Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static,
    {
        self.client
            .push_blob_stream(reference, stream, digest, Some(size))
            .await
            .map(|_| ())
            .map_err(|e| self.write_error(reference, e))
    }

    /// Stores `manifest`'s exact bytes as `reference` (its tag, else its digest).
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        manifest: &Manifest,
    ) -> Result<(), MirrorError> {
        let content_type = manifest
            .media_type
            .parse()
            .expect("the media types are valid header values");
        // The URL names the tag, or the digest in the tag's place: the OCI client, when a
        // registry answers without a `Location` (ECR does), rebuilds it from the URL minus the
        // tag, and panics on a reference whose URL does not end with its tag.
        let at = Reference::with_tag(
            reference.registry().to_string(),
            reference.repository().to_string(),
            reference
                .tag()
                .or(reference.digest())
                .unwrap_or("latest")
                .to_string(),
        );
        self.client
            .push_manifest_raw(&at, manifest.bytes.clone(), content_type)
            .await
            .map(|_| ())
            .map_err(|e| self.write_error(reference, e))
    }
}
