//! The core of docker-credential-ecr, shared by the credential helper and (later) the tray.
//!
//! The token path reads top to bottom, one module per step:
//!
//! 1. [`registry`]: turn what docker hands us into an ECR [`Registry`], or refuse it;
//! 2. [`source`]: name the identity that will pay for the token ([`CredentialSource`]) and the
//!    endpoint it is fetched from, from the environment only (no SDK);
//! 3. [`cache`] and [`policy`]: serve a cached [`Token`] when the [`RefreshPolicy`] allows it;
//! 4. [`aws`]: otherwise fetch one from ECR through the AWS SDK, bounded in time;
//! 5. [`service`]: the orchestration of the above, with single-flight locking, which the
//!    binaries call.
//!
//! Nothing in this crate writes to stdout or stderr: diagnostics go through `tracing`, and the
//! binaries decide where that ends up. Secrets are wrapped in [`Secret`], whose `Debug` and
//! `Display` never show them.

pub use ecr_model::{
    alias, bindings, cache, chain_inputs, client_config, clock, config, endpoint, helper_protocol,
    kube_secret, kubelet, paths, policy, private_fs, registry, secret, service_account, settings,
    source, token, warm,
};

pub mod autostart;
pub mod aws;
pub mod fetch;
pub mod key_store;
pub mod keychain;
pub mod log_file;
pub mod onboarding;
pub mod refresher;
pub mod service;
pub mod state;

pub use cache::{CacheError, CacheKey, TokenCache};
pub use clock::{Clock, Deadline, SystemClock};
pub use config::{ConfigFile, ProductConfig};
pub use fetch::{FetchError, FetchErrorKind, FetchedToken, TokenSource};
pub use paths::Paths;
pub use policy::{Freshness, RefreshPolicy};
pub use registry::{NotEcr, Registry};
pub use secret::Secret;
pub use service::{CredentialService, Credentials, GetError};
pub use settings::{Settings, SettingsError};
pub use source::{CredentialSource, TokenScope};
pub use token::Token;
