//! The data of docker-credential-ecr and the files that hold it, with no AWS SDK, keychain or
//! async runtime: what a registry host is ([`registry`], [`bindings`]), the product config
//! ([`config`]), the identity a token belongs to and the endpoint it comes from ([`source`],
//! [`chain_inputs`], [`endpoint`], [`service_account`]), tokens and when to renew them
//! ([`token`], [`policy`], [`clock`]), the token cache ([`cache`]) and the container clients'
//! config files ([`client_config`]), written safely ([`private_fs`]), the credential-helper
//! protocol's input ([`helper_protocol`]) and the kubelet's credential provider API
//! ([`kubelet`]), where the files live ([`paths`], [`settings`]), what a `get` can answer from
//! the cache alone ([`warm`]), and Kubernetes image-pull secrets ([`kube_secret`]).
//!
//! Everything that parses untrusted input lives here, so that the fuzz targets (`fuzz/`) build
//! quickly with sanitizers; `ecr-core` re-exports every module under the same name.

pub mod alias;
pub mod bindings;
pub mod cache;
pub mod chain_inputs;
pub mod client_config;
pub mod clock;
pub mod config;
pub mod endpoint;
pub mod helper_protocol;
pub mod kube_secret;
pub mod kubelet;
pub mod paths;
pub mod policy;
pub mod private_fs;
pub mod registry;
pub mod secret;
pub mod service_account;
pub mod settings;
pub mod source;
pub mod token;
pub mod warm;
