//! The engine of `docker-credential-ecr mirror`: copying images registry to registry with no
//! Docker daemon, for vendors' customers who keep the vendor's images in a registry of their own.
//!
//! - [`naming`]: which source goes to which target reference;
//! - [`docker_auth`] and [`credential_helper`]: the target's credentials, from docker's config
//!   the way docker resolves them;
//! - [`endpoint`]: one registry through the OCI distribution client (oras-project's
//!   `oci-client`), with the product's trust roots and the environment's proxy;
//! - [`manifest`]: what a manifest refers to, its bytes kept as served;
//! - [`copy`]: the copy of one image, in the order that makes a re-run after a kill safe;
//! - [`error`]: one line per failure, naming the registry.
//!
//! The source's credentials (an ECR token from the product's bindings, key sets and roles) and
//! the trust roots come from the caller (`docker-credential-ecr-mirror`): this crate links no
//! AWS SDK. It is a library of the helper's mirror program only; nothing `get` runs links it.

pub mod copy;
pub mod credential_helper;
pub mod docker_auth;
pub mod endpoint;
pub mod error;
pub mod manifest;
pub mod naming;

pub use copy::{Copied, Mirror, Observer, Outcome, Unobserved};
pub use endpoint::{Endpoint, HttpSettings};
pub use error::MirrorError;
pub use naming::{Job, PathRule, TargetPrefix};
pub use oci_client::Reference;
pub use oci_client::secrets::RegistryAuth;
