//! Support code for the end-to-end tests of docker-credential-ecr.
//!
//! The tests under `tests/tests/` run the real helper binary against real parts started by the
//! tests themselves: the project's own fake ECR server (`fake-ecr`, built from this crate), moto,
//! a Docker daemon, a registry, a proxy. This library owns starting, configuring and stopping them.

pub mod child_output;
pub mod client_rig;
pub mod desktop;
pub mod docker_creds;
pub mod fake;
pub mod fake_handle;
pub mod keychain;
pub mod kubelet;
pub mod mirror_lines;
pub mod mirror_rig;
pub mod oci_images;
pub mod proxy;
pub mod registry_state;
pub mod sandbox;
pub mod service_account_token;
pub mod skip;
pub mod system;
pub mod tls;
