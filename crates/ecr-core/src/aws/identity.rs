//! The credentials behind a token, by source:
//! - the standard chain: environment keys, shared config and credentials files (the profile,
//!   SSO, `credential_process`, assumed roles), web identity, container credentials, and
//!   instance metadata, in the SDK's order, each provider given the scope's recorded inputs
//!   ([`ChainInputs`]) rather than left to read this process's environment: the refresher,
//!   whose environment is not the shell's, resolves exactly the identity the `get` did;
//! - a bound AWS profile, read from the recorded shared files whatever the environment holds;
//! - a key set: its access key id from the config and its secret from [`SecretKeys`] (the
//!   keychain), then its role assumed through STS when it has one;
//! - a service account: its role assumed through STS `AssumeRoleWithWebIdentity` with the
//!   token the caller presents, and only when that token carries the scope's subject.
//!
//! Resolution happens before the API call, on its own, so that "no identity at all" (docker
//! should go on anonymously) is told apart from "credentials exist but failed". Instance
//! metadata gets one attempt with one-second timeouts: on a laptop where it does not exist,
//! the chain gives up in about a second instead of the SDK's default retries. It is reached
//! directly, never through `HTTPS_PROXY`: it is a link-local address.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use aws_config::ecs::EcsCredentialsProvider;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::imds;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::web_identity_token::{StaticConfiguration, WebIdentityTokenCredentialsProvider};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_types::region::Region;

use crate::chain_inputs::{
    ChainInputs, ContainerCredentials, FileInput, InstanceMetadata, SharedFiles, digest_of,
};
use crate::clock::Deadline;
use crate::config::SecretLocation;
use crate::fetch::{FetchError, FetchErrorKind};
use crate::secret::Secret;
use crate::service_account;
use crate::source::{CredentialSource, TokenScope};

const IMDS_TIMEOUT: Duration = Duration::from_secs(1);

/// A secret being read, off the async runtime: the future only awaits the answer.
pub type SecretRead = Pin<Box<dyn Future<Output = Result<Secret, FetchError>> + Send>>;

/// Where a key set's secret access key comes from (the keychain, in the product).
pub trait SecretKeys {
    /// The secret access key of key set `name`, kept at `location`. A keychain or file read
    /// blocks: implementations run it off the async runtime (`spawn_blocking`).
    fn secret_access_key(&self, name: &str, location: SecretLocation) -> SecretRead;
}

/// For callers that never use key sets.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecretKeys;

impl SecretKeys for NoSecretKeys {
    fn secret_access_key(&self, name: &str, _: SecretLocation) -> SecretRead {
        Box::pin(std::future::ready(Err(FetchError::new(
            FetchErrorKind::KeychainUnavailable,
            format!("no key store is available to read key set {name}"),
        ))))
    }
}

/// Resolved credentials, and when they stop working (assumed roles only).
pub struct Identity {
    pub credentials: Credentials,
    pub expires_at: Option<SystemTime>,
}

/// The credentials of the scope's source, or why there are none; `web_identity_token` is the
/// service account's token a [`CredentialSource::WebIdentity`] scope needs (and every other
/// source ignores).
pub async fn resolve(
    scope: &TokenScope,
    http_client: SharedHttpClient,
    secrets: &dyn SecretKeys,
    web_identity_token: Option<&Secret>,
    deadline: Deadline,
) -> Result<Identity, FetchError> {
    let region = Region::new(scope.registry.api_region().to_string());
    let conf = ProviderConfig::without_region()
        .with_http_client(http_client.clone())
        .with_region(Some(region.clone()));
    let credentials = match &scope.source {
        CredentialSource::DefaultChain(inputs) => {
            let files = load_profile_files(&inputs.files, deadline).await?;
            let chain = default_chain(inputs, files, &conf)?;
            bounded(chain.provide_credentials(), deadline).await?
        }
        CredentialSource::Profile { name, files } => {
            let files = load_profile_files(files, deadline).await?;
            let Some(provider) = profile_provider(name, files, &conf) else {
                return Err(FetchError::new(
                    FetchErrorKind::CredentialsUnavailable,
                    format!("AWS profile {name}: no AWS shared config or credentials file exists"),
                ));
            };
            bounded(provider.provide_credentials(), deadline)
                .await
                .map_err(|e| profile_error(name, e))?
        }
        CredentialSource::KeySet {
            name,
            access_key_id,
            secret_location,
            role,
        } => {
            // The keychain bounds its own reads; a key file on a hung mount is bounded here.
            let secret = tokio::time::timeout(
                deadline.remaining(),
                secrets.secret_access_key(name, *secret_location),
            )
            .await
            .map_err(|_| {
                FetchError::new(
                    FetchErrorKind::Timeout,
                    format!("reading the secret key of {name} did not finish in time"),
                )
            })??;
            let keys = Credentials::new(
                access_key_id.clone(),
                secret.expose().to_string(),
                None,
                None,
                "docker-credential-ecr key set",
            );
            if let Some(role) = role {
                let assumed =
                    super::sts::assume_role(scope, http_client, keys, role, deadline).await?;
                return Ok(assumed);
            }
            keys
        }
        CredentialSource::Stored => {
            return Err(FetchError::new(
                FetchErrorKind::BadConfiguration,
                "a token stored by docker login cannot be refreshed",
            ));
        }
        CredentialSource::WebIdentity {
            role_arn, subject, ..
        } => {
            let token = presented_token(&scope.source, role_arn, web_identity_token)?;
            return super::sts::assume_role_with_web_identity(
                scope,
                http_client,
                role_arn,
                token,
                &service_account::session_name(subject),
                deadline,
            )
            .await;
        }
    };
    Ok(Identity {
        credentials,
        expires_at: None,
    })
}

/// The token a service account's scope is fetched with: one was presented, and it carries the
/// scope's issuer, audience and subject (a token is never exchanged under another's cache
/// entry).
fn presented_token<'t>(
    source: &CredentialSource,
    role_arn: &str,
    token: Option<&'t Secret>,
) -> Result<&'t Secret, FetchError> {
    let Some(token) = token else {
        return Err(FetchError::new(
            FetchErrorKind::IdentityTokenMissing,
            format!(
                "the token of {source} can be fetched only with the service account's token, which only the kubelet's request carries"
            ),
        ));
    };
    if CredentialSource::web_identity(role_arn, token) != *source {
        return Err(FetchError::new(
            FetchErrorKind::BadConfiguration,
            format!("the token presented for {source} is not that service account's"),
        ));
    }
    Ok(token)
}

/// The SDK's default chain, in its order, over `inputs`: environment keys only when this
/// process's environment holds the recorded ones; the recorded profile in the recorded files
/// (`profile_files`, read already);
/// web identity from the recorded role and token file; container credentials only when this
/// process's environment names the recorded endpoint; then instance metadata (one quick
/// attempt, never through the proxy).
fn default_chain(
    inputs: &ChainInputs,
    profile_files: Option<EnvConfigFiles>,
    conf: &ProviderConfig,
) -> Result<CredentialsProviderChain, FetchError> {
    let imds_conf = conf.clone().with_http_client(super::http::direct_client()?);
    let imds_client = imds::Client::builder()
        .configure(&imds_conf)
        .connect_timeout(IMDS_TIMEOUT)
        .read_timeout(IMDS_TIMEOUT)
        .max_attempts(1)
        .build();
    let imds = ImdsCredentialsProvider::builder()
        .configure(conf)
        .imds_client(imds_client)
        .build();
    let mut chain: Option<CredentialsProviderChain> = None;
    let mut add = |name: &'static str, provider: SharedCredentialsProvider| {
        chain = Some(match chain.take() {
            None => CredentialsProviderChain::first_try(name, provider),
            Some(c) => c.or_else(name, provider),
        });
    };
    let real = |name: &str| std::env::var(name).ok();
    if let Some(key_id) = &inputs.access_key_id {
        if real("AWS_ACCESS_KEY_ID").as_deref().map(str::trim) == Some(key_id.as_str()) {
            add(
                "Environment",
                SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new()),
            );
        } else {
            return Err(elsewhere(&format!("the keys {key_id}")));
        }
    }
    if let Some(profile) = profile_provider(inputs.profile_name(), profile_files, conf) {
        add("Profile", SharedCredentialsProvider::new(profile));
    }
    if let (Some(role_arn), Some(token_file)) = (&inputs.role_arn, &inputs.web_identity_token_file)
    {
        let web_identity = WebIdentityTokenCredentialsProvider::builder()
            .configure(conf)
            .static_configuration(StaticConfiguration {
                web_identity_token_file: token_file.into(),
                role_arn: role_arn.clone(),
                session_name: inputs
                    .role_session_name
                    .clone()
                    .unwrap_or_else(|| "docker-credential-ecr".to_string()),
            })
            .build();
        add(
            "WebIdentityToken",
            SharedCredentialsProvider::new(web_identity),
        );
    }
    // The container and instance metadata providers read their endpoints from this process's
    // environment: they run only when it names the recorded ones, else an identity that a
    // `get` found there could be renewed as another (this host's instance role, say).
    if let Some(container) = &inputs.container {
        if ContainerCredentials::from_env(&real).as_ref() != Some(container) {
            return Err(elsewhere("container credentials"));
        }
        add(
            "EcsContainer",
            SharedCredentialsProvider::new(
                EcsCredentialsProvider::builder().configure(conf).build(),
            ),
        );
    }
    if InstanceMetadata::from_env(&real) == inputs.instance_metadata {
        add("Ec2InstanceMetadata", SharedCredentialsProvider::new(imds));
    }
    chain.ok_or_else(|| elsewhere("instance metadata settings"))
}

/// Nothing here can stand for what another process's environment held.
fn elsewhere(what: &str) -> FetchError {
    FetchError::new(
        FetchErrorKind::NoIdentity,
        format!("{what} were in another process's environment, not in this one's"),
    )
}

/// Profile `name` of exactly `files` (none of this process's variables), if there are files.
fn profile_provider(
    name: &str,
    files: Option<EnvConfigFiles>,
    conf: &ProviderConfig,
) -> Option<ProfileFileCredentialsProvider> {
    files.map(|files| {
        ProfileFileCredentialsProvider::builder()
            .configure(conf)
            .profile_files(files)
            .profile_name(name)
            .build()
    })
}

/// [`profile_files`], read off the async runtime within `deadline` (see [`super::files`]).
pub async fn load_profile_files(
    files: &SharedFiles,
    deadline: Deadline,
) -> Result<Option<EnvConfigFiles>, FetchError> {
    let names = files.clone();
    let files = files.clone();
    super::files::read_off_runtime(
        move || {
            let paths: Vec<String> = [&names.config, &names.credentials]
                .into_iter()
                .flatten()
                .map(|input| input.path.display().to_string())
                .collect();
            format!("the AWS shared files ({})", paths.join(", "))
        },
        deadline,
        move || profile_files(&files),
    )
    .await
}

/// The SDK's view of `files`: the contents of those that exist, and only while they hold what
/// the scope recorded (a file edited since is another identity, never fetched under this
/// scope's key); `Ok(None)` when no file exists, an error when one changed.
pub fn profile_files(files: &SharedFiles) -> Result<Option<EnvConfigFiles>, FetchError> {
    env_config_files(files, |input, bytes| {
        let Some(expected) = &input.digest else {
            return Ok(None);
        };
        if bytes.map(digest_of).as_ref() != Some(expected) {
            return Err(FetchError::new(
                FetchErrorKind::CredentialsUnavailable,
                format!(
                    "{} changed while the token was being fetched: try again",
                    input.path.display()
                ),
            ));
        }
        Ok(Some(bytes.unwrap_or_default().to_vec()))
    })
}

/// `files` as the SDK's [`EnvConfigFiles`]: each named file read (when it is a regular file:
/// never a FIFO), and `contents` saying what of it the SDK sees (`None`: the file is left out);
/// `Ok(None)` when none is left.
pub fn env_config_files(
    files: &SharedFiles,
    contents: impl Fn(&FileInput, Option<&[u8]>) -> Result<Option<Vec<u8>>, FetchError>,
) -> Result<Option<EnvConfigFiles>, FetchError> {
    let mut builder = EnvConfigFiles::builder();
    let mut any = false;
    for (kind, input) in [
        (EnvConfigFileKind::Config, &files.config),
        (EnvConfigFileKind::Credentials, &files.credentials),
    ] {
        let Some(input) = input else { continue };
        let regular = std::fs::metadata(&input.path).is_ok_and(|m| m.is_file());
        let bytes = regular.then(|| std::fs::read(&input.path).ok()).flatten();
        if let Some(seen) = contents(input, bytes.as_deref())? {
            builder = builder.with_contents(kind, String::from_utf8_lossy(&seen).into_owned());
            any = true;
        }
    }
    Ok(any.then(|| builder.build()))
}

async fn bounded(
    future: aws_credential_types::provider::future::ProvideCredentials<'_>,
    deadline: Deadline,
) -> Result<Credentials, FetchError> {
    match tokio::time::timeout(deadline.remaining(), future).await {
        Ok(Ok(credentials)) => Ok(credentials),
        Ok(Err(e)) => Err(classify_credentials_error(&e)),
        Err(_) => Err(FetchError::new(
            FetchErrorKind::Timeout,
            "loading AWS credentials took too long",
        )),
    }
}

/// A bound profile that yields nothing is a configuration error, not "no identity".
fn profile_error(name: &str, error: FetchError) -> FetchError {
    match error.kind {
        FetchErrorKind::NoIdentity => FetchError::new(
            FetchErrorKind::CredentialsUnavailable,
            format!(
                "AWS profile {name} has no usable credentials ({})",
                error.detail
            ),
        ),
        _ => error,
    }
}

fn classify_credentials_error(error: &CredentialsError) -> FetchError {
    let detail = DisplayErrorContext(error).to_string();
    let kind = match error {
        CredentialsError::CredentialsNotLoaded(_) => FetchErrorKind::NoIdentity,
        CredentialsError::ProviderTimedOut(_) => FetchErrorKind::Timeout,
        _ if detail.contains("ExpiredToken") => FetchErrorKind::ExpiredCredentials,
        _ => FetchErrorKind::CredentialsUnavailable,
    };
    FetchError::new(kind, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(iss: &str, sub: &str) -> Secret {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        Secret::new(format!(
            "{}.{}.c2ln",
            b64.encode(r#"{"alg":"RS256"}"#),
            b64.encode(format!(
                r#"{{"iss":"{iss}","aud":"sts.amazonaws.com","sub":"{sub}"}}"#
            ))
        ))
    }

    #[test]
    fn a_service_account_scope_is_fetched_only_with_a_token_of_its_issuer_and_subject() {
        let puller = "system:serviceaccount:shop:puller";
        let role = "arn:aws:iam::123456789012:role/r";
        let cluster_a = "https://oidc.a.example";
        let own = jwt(cluster_a, puller);
        let source = CredentialSource::web_identity(role, &own);
        let missing = presented_token(&source, role, None).unwrap_err();
        assert_eq!(missing.kind, FetchErrorKind::IdentityTokenMissing);
        assert!(missing.to_string().contains("kubelet"), "{missing}");
        for other in [
            jwt(cluster_a, "system:serviceaccount:shop:builder"),
            // Every cluster has the same service account names: another issuer's puller.
            jwt("https://oidc.b.example", puller),
        ] {
            let wrong = presented_token(&source, role, Some(&other)).unwrap_err();
            assert_eq!(wrong.kind, FetchErrorKind::BadConfiguration);
            assert!(!wrong.to_string().contains(other.expose()));
        }
        assert_eq!(presented_token(&source, role, Some(&own)).unwrap(), &own);
    }
}
