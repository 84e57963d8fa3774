//! What can go wrong in a mirror, said so that the user knows which registry to look at.
//!
//! The OCI client's errors carry URLs, envelopes and reqwest's layers; [`RegistryFailure`] reads
//! the one fact that decides what to tell (401, 403, 404, unreachable, other) and
//! [`MirrorError::from_registry`] turns it into one line naming the registry, the reference and,
//! for a refused login, where the credentials came from. No message ever holds a credential: the
//! client's errors hold URLs and registry messages only.

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// One line per failure; [`MirrorError::stops_the_run`] says which make the other images
/// pointless.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{reference}: {why}")]
    BadReference { reference: String, why: String },
    #[error("{host} refused the login ({origin})")]
    LoginRefused { host: String, origin: String },
    #[error("{host} denied access to {reference} ({origin}): {message}")]
    Denied {
        host: String,
        reference: String,
        origin: String,
        message: String,
    },
    #[error("{reference} not found")]
    NotFound { reference: String },
    #[error(
        "{host} has no repository {repository} (create it first: ECR, for one, creates none on push)"
    )]
    NoRepository { host: String, repository: String },
    #[error("{reference}: {why}")]
    BadManifest { reference: String, why: String },
    #[error("{reference}: blob {digest} {why}")]
    BadBlob {
        reference: String,
        digest: String,
        why: String,
    },
    #[error("{host} took no data for {secs} s while {reference} uploaded: gave up")]
    Stalled {
        host: String,
        reference: String,
        secs: u64,
    },
    #[error("cannot reach {host}: {why}")]
    Unreachable { host: String, why: String },
    #[error("cannot get the credentials for {host}: {why}")]
    Credentials { host: String, why: String },
    #[error("{host}: {message}")]
    Registry { host: String, message: String },
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl MirrorError {
    /// Failures that every other image of the run would meet too: a refused login, missing
    /// credentials, no HTTP client.
    pub fn stops_the_run(&self) -> bool {
        matches!(
            self,
            MirrorError::LoginRefused { .. }
                | MirrorError::Credentials { .. }
                | MirrorError::Client(_)
        )
    }

    /// The error of a request to `host` about `reference`, whose credentials came from
    /// `origin`.
    pub fn from_registry(
        e: OciDistributionError,
        host: &str,
        reference: &str,
        origin: &str,
    ) -> MirrorError {
        match RegistryFailure::of(&e) {
            RegistryFailure::Unauthorized => MirrorError::LoginRefused {
                host: host.to_string(),
                origin: origin.to_string(),
            },
            RegistryFailure::Denied => MirrorError::Denied {
                host: host.to_string(),
                reference: reference.to_string(),
                origin: origin.to_string(),
                message: one_line(&e),
            },
            RegistryFailure::NotFound => MirrorError::NotFound {
                reference: reference.to_string(),
            },
            RegistryFailure::Unreachable => MirrorError::Unreachable {
                host: host.to_string(),
                why: with_hint(one_line(&e)),
            },
            RegistryFailure::Other => MirrorError::Registry {
                host: host.to_string(),
                message: format!("{reference}: {}", one_line(&e)),
            },
        }
    }
}

/// The kind of an OCI client error that decides what the user is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryFailure {
    Unauthorized,
    Denied,
    NotFound,
    Unreachable,
    Other,
}

impl RegistryFailure {
    pub fn of(e: &OciDistributionError) -> RegistryFailure {
        match e {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => RegistryFailure::Unauthorized,
            OciDistributionError::ImageManifestNotFoundError(_) => RegistryFailure::NotFound,
            OciDistributionError::RequestError(e) => match e.status() {
                Some(status) => RegistryFailure::of_status(status.as_u16()),
                None if e.is_connect() || e.is_timeout() => RegistryFailure::Unreachable,
                None => RegistryFailure::Other,
            },
            OciDistributionError::ServerError { code, .. } => RegistryFailure::of_status(*code),
            OciDistributionError::RegistryError { envelope, .. } => envelope
                .errors
                .iter()
                .map(|error| match error.code {
                    OciErrorCode::Unauthorized => RegistryFailure::Unauthorized,
                    OciErrorCode::Denied => RegistryFailure::Denied,
                    OciErrorCode::NameUnknown
                    | OciErrorCode::ManifestUnknown
                    | OciErrorCode::NotFound
                    | OciErrorCode::BlobUnknown => RegistryFailure::NotFound,
                    _ => RegistryFailure::Other,
                })
                .next()
                .unwrap_or(RegistryFailure::Other),
            _ => RegistryFailure::Other,
        }
    }

    fn of_status(status: u16) -> RegistryFailure {
        match status {
            401 => RegistryFailure::Unauthorized,
            403 => RegistryFailure::Denied,
            404 => RegistryFailure::NotFound,
            _ => RegistryFailure::Other,
        }
    }
}

/// The error and its causes on one line (reqwest puts the cause of "error sending request" in
/// `source()`), every URL without its query: ECR serves blobs through presigned S3 URLs whose
/// query holds a session token and a signature.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    without_url_queries(&text)
}

/// `text` with the query of every `http://` or `https://` URL cut (up to the next space, quote
/// or closing parenthesis).
fn without_url_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["https://", "http://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        let (before, url_on) = rest.split_at(start);
        out.push_str(before);
        let end = url_on
            .find([' ', '"', '\'', ')', '>'])
            .unwrap_or(url_on.len());
        let url = &url_on[..end];
        match url.split_once('?') {
            Some((bare, _)) => {
                out.push_str(bare);
                out.push_str("?…");
            }
            None => out.push_str(url),
        }
        rest = &url_on[end..];
    }
    out.push_str(rest);
    out
}

/// A certificate the client could not verify gets the ways to trust its CA.
fn with_hint(why: String) -> String {
    if why.contains("UnknownIssuer") || why.contains("certificate") {
        format!(
            "{why} (trust the registry's CA: AWS_CA_BUNDLE=/path/ca.pem, SSL_CERT_FILE, or the system store)"
        )
    } else {
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_and_envelopes_decide_the_kind() {
        let server = |code| OciDistributionError::ServerError {
            code,
            url: "https://r/v2/".into(),
            message: String::new(),
        };
        assert_eq!(
            RegistryFailure::of(&server(401)),
            RegistryFailure::Unauthorized
        );
        assert_eq!(RegistryFailure::of(&server(403)), RegistryFailure::Denied);
        assert_eq!(RegistryFailure::of(&server(404)), RegistryFailure::NotFound);
        assert_eq!(RegistryFailure::of(&server(500)), RegistryFailure::Other);
        let envelope: oci_client::errors::OciEnvelope = serde_json::from_str(
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
        )
        .unwrap();
        let e = OciDistributionError::RegistryError {
            envelope,
            url: "u".into(),
        };
        assert_eq!(RegistryFailure::of(&e), RegistryFailure::NotFound);
    }

    #[test]
    fn presigned_urls_lose_their_query_and_nothing_else_changes() {
        let e = OciDistributionError::ServerError {
            code: 403,
            url: "https://prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com/a/b?X-Amz-Security-Token=SECRET&X-Amz-Signature=SIG".into(),
            message: "denied (see https://x.example/y?z=1)".into(),
        };
        let line = one_line(&e);
        assert!(
            !line.contains("SECRET") && !line.contains("SIG") && !line.contains("z=1"),
            "{line}"
        );
        assert!(line.contains("s3.us-east-1.amazonaws.com/a/b?…"), "{line}");
        assert!(line.contains("code: 403"), "{line}");
        assert_eq!(without_url_queries("no url here"), "no url here");
    }

    #[test]
    fn a_refused_login_names_the_host_and_where_the_credentials_came_from() {
        let e = MirrorError::from_registry(
            OciDistributionError::UnauthorizedError { url: "u".into() },
            "mirror.example.test",
            "mirror.example.test/a/app:1.0",
            "auths in /home/u/.docker/config.json",
        );
        assert!(e.stops_the_run());
        assert_eq!(
            e.to_string(),
            "mirror.example.test refused the login (auths in /home/u/.docker/config.json)"
        );
    }
}
