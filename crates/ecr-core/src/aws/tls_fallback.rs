//! The second chance of a handshake that failed for an unknown issuer: the same request again,
//! once, through a client that also trusts the certificate directories.
//!
//! [`FallbackClient`] is the SDK's HTTP client for every call of ours (ECR, STS, SSO, instance
//! metadata). It sends through the client with the primary roots (see
//! [`super::trust_roots`]); when the handshake fails with rustls's `UnknownIssuer`, it builds the
//! widened client (the first time only: it reads the directories), sends a copy of the request
//! through it, and from then on sends every request of this client through the widened one.
//!
//! # Below the SDK's retries
//! The SDK's standard retry classifier sees a TLS failure as a connector I/O error, which is
//! transient: it retries after a backoff of up to a second, then two. The fallback happens
//! inside one attempt, so it waits for no backoff. An unknown issuer that remains once every
//! root was consulted cannot heal by retrying: it is handed to the SDK as an unclassified
//! connector error (`ConnectorError::other(_, None)`), which the classifier does not retry, so an
//! untrusted server fails at once.
//!
//! Nothing here verifies certificates: rustls does, with the roots it was given.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use rustls::CertificateError;

/// A client being built.
pub type ClientFuture =
    Pin<Box<dyn Future<Output = Result<SharedHttpClient, ConnectorError>> + Send>>;
/// Builds the widened client; called until it succeeds once.
pub type BuildClient = Box<dyn Fn() -> ClientFuture + Send + Sync>;

type ConnectorFuture =
    Pin<Box<dyn Future<Output = Result<SharedHttpConnector, ConnectorError>> + Send>>;
/// The widened connector for one request's settings, built on first use.
type MakeConnector = Arc<dyn Fn() -> ConnectorFuture + Send + Sync>;

/// The primary client, and the widened one to fall back to when there is one.
pub struct FallbackClient {
    primary: SharedHttpClient,
    widened: Option<Arc<Widened>>,
}

/// The widened client: how to build it, the client once built, and whether requests go
/// straight to it (once the primary roots failed).
struct Widened {
    build: BuildClient,
    client: tokio::sync::OnceCell<SharedHttpClient>,
    preferred: AtomicBool,
}

impl Widened {
    async fn client(&self) -> Result<SharedHttpClient, ConnectorError> {
        let client = self.client.get_or_try_init(|| (self.build)()).await?;
        self.preferred.store(true, Ordering::Release);
        Ok(client.clone())
    }

    fn preferred(&self) -> Option<&SharedHttpClient> {
        self.preferred
            .load(Ordering::Acquire)
            .then(|| self.client.get())
            .flatten()
    }
}

impl FallbackClient {
    /// `primary`, falling back to what `widened` builds (when there are roots to widen with).
    pub fn shared(primary: SharedHttpClient, widened: Option<BuildClient>) -> SharedHttpClient {
        SharedHttpClient::new(FallbackClient {
            primary,
            widened: widened.map(|build| {
                Arc::new(Widened {
                    build,
                    client: tokio::sync::OnceCell::new(),
                    preferred: AtomicBool::new(false),
                })
            }),
        })
    }
}

impl fmt::Debug for FallbackClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackClient")
            .field("primary", &self.primary)
            .field("has_fallback", &self.widened.is_some())
            .finish()
    }
}

impl HttpClient for FallbackClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let Some(widened) = &self.widened else {
            return FallbackConnector::shared(
                self.primary.http_connector(settings, components),
                None,
            );
        };
        if let Some(client) = widened.preferred() {
            return FallbackConnector::shared(client.http_connector(settings, components), None);
        }
        let make: MakeConnector = {
            let (widened, settings, components) =
                (widened.clone(), settings.clone(), components.clone());
            Arc::new(move || {
                let (widened, settings, components) =
                    (widened.clone(), settings.clone(), components.clone());
                Box::pin(async move {
                    let client = widened.client().await?;
                    Ok(client.http_connector(&settings, &components))
                })
            })
        };
        FallbackConnector::shared(
            self.primary.http_connector(settings, components),
            Some(make),
        )
    }

    // No `validate_base_client_config`: the SDK's client builds a connector there only to load
    // the native roots early, which would parse our roots once more per SDK client.

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.primary.connector_metadata()
    }
}

/// One request's connector: the primary, then the widened one after an unknown issuer.
struct FallbackConnector {
    primary: SharedHttpConnector,
    fallback: Option<MakeConnector>,
}

impl FallbackConnector {
    fn shared(
        primary: SharedHttpConnector,
        fallback: Option<MakeConnector>,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(FallbackConnector { primary, fallback })
    }
}

impl fmt::Debug for FallbackConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackConnector")
            .field("primary", &self.primary)
            .field("has_fallback", &self.fallback.is_some())
            .finish()
    }
}

impl HttpConnector for FallbackConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let fallback = self.fallback.clone();
        // The body of an SDK request is in memory: the copy is cheap, and made only when there
        // is somewhere to resend it.
        let again = fallback.as_ref().and_then(|_| request.try_clone());
        let sent = self.primary.call(request);
        HttpConnectorFuture::new(async move {
            match (sent.await, fallback, again) {
                (Err(e), Some(fallback), Some(again)) if is_unknown_issuer(&e) => {
                    tracing::debug!(
                        "the server's certificate issuer is not among the primary trust roots: \
                         retrying with the certificate directories"
                    );
                    let widened = fallback().await?;
                    widened.call(again).await.map_err(final_error)
                }
                (result, _, _) => result.map_err(final_error),
            }
        })
    }
}

/// `error`, made non-retryable for the SDK when it is an unknown issuer: every root was tried.
fn final_error(error: ConnectorError) -> ConnectorError {
    if is_unknown_issuer(&error) {
        ConnectorError::other(Box::new(error), None)
    } else {
        error
    }
}

/// Whether rustls's `InvalidCertificate(UnknownIssuer)` is anywhere in `error`'s chain.
///
/// `std::io::Error::source()` skips the error it wraps (it returns that error's source), and
/// the TLS stream reports handshake failures as an `io::Error` wrapping the rustls error: so an
/// `io::Error`'s inner error is walked through `get_ref()`.
pub fn is_unknown_issuer(error: &(dyn Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) =
            error.downcast_ref::<rustls::Error>()
        {
            return true;
        }
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            && is_unknown_issuer(inner)
        {
            return true;
        }
        next = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::Mutex;

    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_types::body::SdkBody;

    /// An error wrapping another the way hyper-util's does: through `source()`.
    #[derive(Debug)]
    struct Wrapper(Box<dyn Error + Send + Sync>);
    impl fmt::Display for Wrapper {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self.0.as_ref())
        }
    }

    /// A handshake failure as the SDK's connector reports it: ConnectorError > hyper-util's
    /// error > io::Error(Other) > io::Error(InvalidData) > rustls::Error.
    fn handshake_failure(cause: rustls::Error) -> ConnectorError {
        let tls = io::Error::new(io::ErrorKind::InvalidData, cause);
        ConnectorError::io(Box::new(Wrapper(Box::new(io::Error::other(tls)))))
    }

    fn unknown_issuer() -> ConnectorError {
        handshake_failure(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ))
    }

    #[test]
    fn an_unknown_issuer_is_found_inside_io_errors() {
        assert!(is_unknown_issuer(&unknown_issuer()));

        let mut through_sources = false;
        let error = unknown_issuer();
        let mut next: Option<&(dyn Error + 'static)> = Some(&error);
        while let Some(e) = next {
            through_sources |= e.downcast_ref::<rustls::Error>().is_some();
            next = e.source();
        }
        assert!(
            !through_sources,
            "source() alone never reaches the rustls error: io::Error skips it"
        );
    }

    #[test]
    fn other_failures_are_no_unknown_issuer() {
        for cause in [
            CertificateError::Expired,
            CertificateError::NotValidForName,
            CertificateError::BadSignature,
        ] {
            let error = handshake_failure(rustls::Error::InvalidCertificate(cause.clone()));
            assert!(!is_unknown_issuer(&error), "{cause:?}");
        }
        let refused =
            ConnectorError::io(Box::new(io::Error::from(io::ErrorKind::ConnectionRefused)));
        assert!(!is_unknown_issuer(&refused));
        let text = ConnectorError::other("invalid peer certificate: UnknownIssuer".into(), None);
        assert!(!is_unknown_issuer(&text), "a message is no TLS error");
    }

    /// A connector answering from a script, recording what it was sent.
    #[derive(Debug, Clone)]
    struct Scripted {
        name: &'static str,
        fails_with_unknown_issuer: bool,
        sent: Arc<Mutex<Vec<&'static str>>>,
    }

    impl HttpConnector for Scripted {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            assert_eq!(request.uri(), "https://api.example.com/");
            self.sent.lock().unwrap().push(self.name);
            HttpConnectorFuture::ready(if self.fails_with_unknown_issuer {
                Err(unknown_issuer())
            } else {
                Ok(HttpResponse::new(200.try_into().unwrap(), SdkBody::empty()))
            })
        }
    }

    fn request() -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::from("Action=GetCallerIdentity"));
        request.set_uri("https://api.example.com/").unwrap();
        request
    }

    fn connector(
        primary_fails: bool,
        widened_fails: Option<bool>,
        sent: &Arc<Mutex<Vec<&'static str>>>,
        builds: &Arc<Mutex<u32>>,
    ) -> SharedHttpConnector {
        let primary = Scripted {
            name: "primary",
            fails_with_unknown_issuer: primary_fails,
            sent: sent.clone(),
        };
        let fallback = widened_fails.map(|fails| {
            let widened = Scripted {
                name: "widened",
                fails_with_unknown_issuer: fails,
                sent: sent.clone(),
            };
            let builds = builds.clone();
            let make: MakeConnector = Arc::new(move || {
                *builds.lock().unwrap() += 1;
                let widened = SharedHttpConnector::new(widened.clone());
                Box::pin(async move { Ok(widened) })
            });
            make
        });
        FallbackConnector::shared(SharedHttpConnector::new(primary), fallback)
    }

    fn send(connector: &SharedHttpConnector) -> Result<HttpResponse, ConnectorError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(connector.call(request()))
    }

    #[test]
    fn an_unknown_issuer_is_retried_once_with_the_widened_roots() {
        let (sent, builds) = Default::default();
        let result = send(&connector(true, Some(false), &sent, &builds));
        assert_eq!(result.unwrap().status().as_u16(), 200);
        assert_eq!(*sent.lock().unwrap(), ["primary", "widened"]);
        assert_eq!(*builds.lock().unwrap(), 1);
    }

    #[test]
    fn a_trusted_server_never_builds_the_widened_roots() {
        let (sent, builds) = Default::default();
        send(&connector(false, Some(false), &sent, &builds)).unwrap();
        assert_eq!(*sent.lock().unwrap(), ["primary"]);
        assert_eq!(*builds.lock().unwrap(), 0);
    }

    #[test]
    fn an_issuer_unknown_to_every_root_is_final_for_the_sdk() {
        for widened in [Some(true), None] {
            let (sent, builds) = Default::default();
            let error = send(&connector(true, widened, &sent, &builds)).unwrap_err();
            assert!(is_unknown_issuer(&error), "{error:?}");
            assert!(
                error.is_other() && error.as_other().is_none(),
                "the SDK's classifier would retry {error:?}"
            );
            let expected: &[&str] = match widened {
                Some(_) => &["primary", "widened"],
                None => &["primary"],
            };
            assert_eq!(*sent.lock().unwrap(), expected);
        }
    }

    /// What a fake connector answers: an unknown issuer, or GetCallerIdentity's answer.
    fn answer(fails_with_unknown_issuer: bool) -> Result<HttpResponse, ConnectorError> {
        const IDENTITY: &str = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
            <GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/test</Arn>\
            <UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult>\
            <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
        if fails_with_unknown_issuer {
            return Err(unknown_issuer());
        }
        Ok(HttpResponse::new(
            200.try_into().unwrap(),
            SdkBody::from(IDENTITY),
        ))
    }

    /// A client whose connectors count their requests in `sent` and answer `answer(fails)`.
    fn counting_client(fails: bool, sent: Arc<Mutex<u32>>) -> SharedHttpClient {
        aws_smithy_runtime_api::client::http::http_client_fn(move |_, _| {
            let sent = sent.clone();
            SharedHttpConnector::new(CountingConnector { fails, sent })
        })
    }

    #[derive(Debug)]
    struct CountingConnector {
        fails: bool,
        sent: Arc<Mutex<u32>>,
    }

    impl HttpConnector for CountingConnector {
        fn call(&self, _: HttpRequest) -> HttpConnectorFuture {
            *self.sent.lock().unwrap() += 1;
            HttpConnectorFuture::ready(answer(self.fails))
        }
    }

    /// Sends `calls` GetCallerIdentity requests through an STS client (three attempts each, as
    /// ours have) over a [`FallbackClient`] of a primary and a widened fake; returns how many
    /// requests each fake saw and how many calls succeeded.
    fn through_the_sdk(calls: u32, widened_fails: bool) -> (u32, u32, u32) {
        use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
        use aws_smithy_types::retry::RetryConfig;
        let (primary, widened) = (Arc::new(Mutex::new(0)), Arc::new(Mutex::new(0)));
        let build: BuildClient = {
            let widened = widened.clone();
            Box::new(move || {
                let client = counting_client(widened_fails, widened.clone());
                Box::pin(async move { Ok(client) })
            })
        };
        let http = FallbackClient::shared(counting_client(true, primary.clone()), Some(build));
        let config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url("https://api.example.com")
            .credentials_provider(Credentials::new(
                "AKIAIOSFODNN7EXAMPLE",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                None,
                None,
                "test",
            ))
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .http_client(http)
            .build();
        let sts = aws_sdk_sts::Client::from_conf(config);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut ok = 0;
        for _ in 0..calls {
            if runtime.block_on(sts.get_caller_identity().send()).is_ok() {
                ok += 1;
            }
        }
        let (primary, widened) = (*primary.lock().unwrap(), *widened.lock().unwrap());
        (primary, widened, ok)
    }

    #[test]
    fn once_widened_a_client_sends_straight_through_the_widened_roots() {
        assert_eq!(
            through_the_sdk(3, false),
            (1, 3, 3),
            "(primary requests, widened requests, successes)"
        );
    }

    #[test]
    fn the_sdk_does_not_retry_an_issuer_unknown_to_every_root() {
        assert_eq!(
            through_the_sdk(1, true),
            (1, 1, 0),
            "one attempt of three: (primary requests, widened requests, successes)"
        );
    }
}
