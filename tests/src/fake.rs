//! `fake-ecr`: the project's own fake of ECR's and ECR Public's GetAuthorizationToken, and of
//! STS's AssumeRole, AssumeRoleWithWebIdentity and GetCallerIdentity.
//!
//! The end-to-end tests point the real helper (and the Go `docker-credential-ecr-login`, for
//! comparison) at this server to provoke what real ECR rarely does on demand: short token
//! lifetimes, latency, throttling, 5xx, hangs, revoked keys, clock skew, and to count calls.
//!
//! # Layout
//!
//! - [`knobs`]: the settings that steer the answers ([`Knobs`], [`KnobsPatch`], [`Mode`]).
//! - `state`: the counters ([`Stats`]), the temporary credentials issued, and the rule that turns
//!   knobs + request into an answer.
//! - [`wire`]: the awsJson1_1 bytes (targets, SigV4 header parsing, bodies, error codes).
//! - [`sts`]: the awsQuery bytes of STS (form bodies, XML answers and errors, key ids).
//! - `clock`: the fake's clock (real time + `date_offset_secs`).
//! - `api` and `control`: the handlers of the two listeners.
//! - This module: binding the listeners, TLS, and the accept loops ([`Server`]).
//!
//! # ECR and STS on one listener
//!
//! Point both `AWS_ENDPOINT_URL_ECR` and `AWS_ENDPOINT_URL_STS` at the API listener. A request
//! with an `X-Amz-Target` header is ECR / ECR Public (awsJson1_1); one without it, with a
//! `application/x-www-form-urlencoded` body or a SigV4 credential scope of service `sts`, is STS
//! (awsQuery: `Action=AssumeRole&Version=2011-06-15&RoleArn=...&RoleSessionName=...`, XML
//! answers in the `https://sts.amazonaws.com/doc/2011-06-15/` namespace).
//!
//! AssumeRole hands out temporary credentials whose access key id is
//! [`sts::temporary_key_id`]`(role_arn, session_name, n)` for the n-th credentials this process
//! issued (`ASIA` + 12 characters from role and session + n in 4 digits). They expire
//! `sts_duration_secs` (knob; else the request's `DurationSeconds`, else 3600) after issue, on
//! the fake's clock. The fake remembers them: ECR and STS calls signed with an `ASIA...` key it
//! never issued (or with another `X-Amz-Security-Token`) are answered
//! `UnrecognizedClientException` / `InvalidClientTokenId`, and with expired ones
//! `ExpiredTokenException` / `ExpiredToken`. [`Stats::assumed`] counts successes per role and
//! [`Stats::assume_role_requests`] lists every AssumeRole request with what it sent.
//!
//! AssumeRoleWithWebIdentity is accepted unsigned, as AWS accepts it (the SDK sends it without
//! an `Authorization` header). The fake reads the token's JWT claims without verifying them
//! (`sub`, `iss`, `aud`, `exp`); a token that is not a JWT with a `sub` is answered
//! `InvalidIdentityToken`. The credentials' key id is [`sts::web_identity_key_id`]`(role_arn,
//! session_name, sub, n)`: two service accounts never share one, so `by_access_key` tells whose
//! credentials each ECR call used ([`Stats::web_identity_requests`] lists each request's role,
//! subject and issued key id, never the token). Knobs: `rejected_subjects`
//! (`--rejected-subject SUB`): `InvalidIdentityToken`; `role_subjects` (`--role-subject
//! ROLE_ARN SUB`, repeatable): a listed role's trust policy admits only those subjects, others
//! get `AccessDenied`.
//!
//! STS-only knobs: `sts_duration_secs` (`--sts-duration-secs`) and `role_external_ids`
//! (`--role-external-id ROLE_ARN EXTERNAL_ID`, repeatable): a listed role answers
//! `AccessDenied` (403) unless the request's `ExternalId` matches. The shared knobs apply to STS
//! with STS's error codes: `rejected_keys` and mode `reject_keys` -> `InvalidClientTokenId`
//! (403), `access_denied` -> `AccessDenied` (403), `signature_expired` ->
//! `SignatureDoesNotMatch` (403), `expired_token` -> `ExpiredToken` (400), `throttle` ->
//! `Throttling` (400), `server_error` and `fail_next` -> `InternalFailure` (500); `hang`,
//! `latency_ms` and `date_offset_secs` as for ECR.
//!
//! # Two listeners
//!
//! The API listener speaks HTTP/1.1, over TLS when a certificate and key are given. The control
//! listener always speaks plain HTTP and must be on loopback, so a test can steer the fake even
//! when the API side is HTTPS. Every connection runs on its own task of a multi-thread runtime:
//! a hanging or slow request never holds up another one.
//!
//! The fake verifies no signature: it reads the access key id and the region from the
//! `Authorization` header and trusts them.

pub mod knobs;
pub mod sts;
pub mod wire;

mod api;
mod clock;
mod control;
mod state;

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject as _};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};

pub use knobs::{Knobs, KnobsPatch, Mode};
pub use state::{AssumeRoleRecord, Stats, WebIdentityRecord};

use state::State;

/// How long a client may take to finish a TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pause after a failed `accept` (for example, out of file descriptors) before trying again.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// What to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address of the API listener (port 0 picks a free one).
    pub api: SocketAddr,
    /// Address of the control listener; must be a loopback address.
    pub control: SocketAddr,
    /// Serve the API over TLS with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// Knobs at start.
    pub knobs: Knobs,
}

/// PEM files of the API listener's certificate chain and private key.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("the control listener must be on loopback, not {0}")]
    ControlNotLoopback(SocketAddr),
    #[error("cannot read {}", path.display())]
    ReadPem {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} holds no usable PEM {what}", path.display())]
    BadPem {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: pem::Error,
    },
    #[error("the TLS certificate and key do not make a server configuration")]
    Tls(#[from] rustls::Error),
}

/// The fake, bound and ready to serve.
pub struct Server {
    api: TcpListener,
    api_addr: SocketAddr,
    control: TcpListener,
    control_addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
}

impl Server {
    /// Loads TLS material and binds both listeners; serves nothing yet.
    pub async fn bind(config: Config) -> Result<Server, FakeError> {
        if !config.control.ip().is_loopback() {
            return Err(FakeError::ControlNotLoopback(config.control));
        }
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let (api, api_addr) = listen(config.api).await?;
        let (control, control_addr) = listen(config.control).await?;
        Ok(Server {
            api,
            api_addr,
            control,
            control_addr,
            tls,
            state: Arc::new(State::new(config.knobs)),
        })
    }

    /// The address the API listener actually bound.
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The address the control listener actually bound.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    /// Whether the API listener speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Serves both listeners forever.
    pub async fn serve(self) {
        let api = accept_loop(self.api, self.tls, Endpoint::Api, Arc::clone(&self.state));
        let control = accept_loop(self.control, None, Endpoint::Control, self.state);
        tokio::join!(api, control);
    }
}

async fn listen(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), FakeError> {
    let bind_error = |source| FakeError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

/// Which handler a listener's requests go to.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Api,
    Control,
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    endpoint: Endpoint,
    state: Arc<State>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let connection = connection(stream, tls.clone(), endpoint, Arc::clone(&state));
                tokio::spawn(connection);
            }
            Err(error) => {
                eprintln!("fake-ecr: accept failed on {endpoint:?} listener: {error}");
                tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
            }
        }
    }
}

/// Serves one connection; errors (mostly clients hanging up) end it quietly.
async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    endpoint: Endpoint,
    state: Arc<State>,
) {
    // Small answers: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    match tls {
        None => serve_http(stream, endpoint, state).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            if let Ok(Ok(tls_stream)) = handshake.await {
                serve_http(tls_stream, endpoint, state).await;
            }
        }
    }
}

async fn serve_http<S>(io: S, endpoint: Endpoint, state: Arc<State>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| route(endpoint, Arc::clone(&state), request));
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn route(
    endpoint: Endpoint,
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    match endpoint {
        Endpoint::Api => api::answer(state, request).await,
        Endpoint::Control => control::answer(state, request).await,
    }
}

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, FakeError> {
    let cert_pem = read_pem(&files.cert)?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .and_then(|certs| match certs.is_empty() {
            true => Err(pem::Error::NoItemsFound),
            false => Ok(certs),
        })
        .map_err(|source| FakeError::BadPem {
            path: files.cert.clone(),
            what: "certificate",
            source,
        })?;
    let key_pem = read_pem(&files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|source| FakeError::BadPem {
        path: files.key.clone(),
        what: "private key",
        source,
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_pem(path: &Path) -> Result<Vec<u8>, FakeError> {
    std::fs::read(path).map_err(|source| FakeError::ReadPem {
        path: path.to_owned(),
        source,
    })
}
