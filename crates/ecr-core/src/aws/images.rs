//! ECR's `DescribeImages`: a repository's tagged images, newest pushed first.
//!
//! It calls the API with exactly what a token fetch of the same registry uses: the scope's
//! HTTP client (proxy, trust roots, CA bundles), its identity (the bound key set, its role,
//! the bound profile or the default chain) and its endpoint override (`AWS_ENDPOINT_URL_ECR`).
//! It reads every page through the SDK's paginator and names the registry's account as
//! `registryId`, so a vendor's keys list the vendor's repository, not one of their own
//! account. It never fetches, caches or writes a token.

use std::time::SystemTime;

use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_smithy_types::date_time::{DateTime, Format};

use super::{SdkTokenSource, classify, ecr};
use crate::clock::Deadline;
use crate::fetch::{FetchError, FetchErrorKind};
use crate::registry::Registry;
use crate::source::TokenScope;

/// The most images one page asks for (the API's own maximum).
const PAGE_SIZE: i32 = 1000;

/// One tagged image of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Its tags, in the API's order (never empty).
    pub tags: Vec<String>,
    pub pushed_at: SystemTime,
    /// `sha256:...`.
    pub digest: String,
    pub size_bytes: Option<i64>,
}

impl Image {
    /// When it was pushed, as RFC 3339 in UTC (`2026-01-02T03:04:05Z`).
    pub fn pushed_at_rfc3339(&self) -> String {
        DateTime::from(self.pushed_at)
            .fmt(Format::DateTime)
            .unwrap_or_else(|_| "unknown".to_string())
    }
}

/// Why a repository's images could not be listed, in the user's terms.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ImagesError {
    #[error("repository {repository} does not exist in {registry}")]
    RepositoryNotFound {
        repository: String,
        registry: String,
    },
    /// The identity works but may not call `ecr:DescribeImages` on the repository.
    #[error("{}", denied_message(key_set.as_deref(), detail))]
    AccessDenied {
        key_set: Option<String>,
        detail: String,
    },
    /// ECR Public has an API of its own; only private registries are listed.
    #[error("{registry} is ECR Public: `images` lists private ECR repositories only")]
    Public { registry: String },
    /// The registry's binding (or its key set) cannot be used.
    #[error("{0}")]
    Binding(String),
    /// Anything a token fetch could fail with (keys rejected, unreachable, ...).
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// The tagged images of `repository` in `registry`, listed with the identity a `get` of
/// `registry` uses (for `images` and `mirror --all-tags`), every page within `deadline`. Runs
/// its own runtime: call it from no async context.
pub fn list_tagged(
    paths: &crate::Paths,
    registry: Registry,
    repository: &str,
    deadline: Deadline,
) -> Result<Vec<Image>, ImagesError> {
    use crate::key_store::KeySetSecrets;
    use crate::keychain::KeychainAccess;
    use crate::service::UserService;
    let service = UserService::open(paths, KeychainAccess::UNATTENDED)
        .map_err(|e| ImagesError::Binding(e.to_string()))?;
    if let Some(rejected) = service.config().rejected_binding_for(&registry) {
        return Err(ImagesError::Binding(format!(
            "{registry}: {rejected}; fix or delete it by hand"
        )));
    }
    let scope = service
        .scope(registry)
        .map_err(|e| ImagesError::Binding(e.to_string()))?;
    let source = SdkTokenSource::new(Box::new(KeySetSecrets::new(
        paths,
        KeychainAccess::UNATTENDED,
    )));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            ImagesError::Fetch(FetchError::new(
                FetchErrorKind::BadConfiguration,
                format!("cannot start the async runtime: {e}"),
            ))
        })?;
    let images = runtime.block_on(source.images(&scope, repository, deadline));
    // A read stuck past its deadline must not keep the process alive.
    runtime.shutdown_background();
    images
}

fn denied_message(key_set: Option<&str>, detail: &str) -> String {
    match key_set {
        Some(name) => {
            format!("{name}: its keys may not call ecr:DescribeImages (ask them to allow it)")
        }
        None => format!(
            "the AWS credentials may not call ecr:DescribeImages on this repository (ask its owner to allow it): {}",
            crate::fetch::one_line(detail)
        ),
    }
}

impl SdkTokenSource {
    /// The tagged images of `repository` in `scope`'s registry, newest pushed first (images
    /// pushed at the same time keep the API's order), every page read within `deadline`.
    pub async fn images(
        &self,
        scope: &TokenScope,
        repository: &str,
        deadline: Deadline,
    ) -> Result<Vec<Image>, ImagesError> {
        let key_set = scope.source.key_set_name();
        let Registry::Private(private) = &scope.registry else {
            return Err(ImagesError::Public {
                registry: scope.registry.to_string(),
            });
        };
        let (client, identity, _) = self
            .client_and_identity(scope, None, deadline)
            .await
            .map_err(|e| e.for_key_set(key_set))?;
        let config = ecr::private_config(
            &scope.registry,
            scope.endpoint.as_deref(),
            client,
            identity.credentials,
            deadline,
        );
        let mut pages = aws_sdk_ecr::Client::from_conf(config.build())
            .describe_images()
            .registry_id(private.account_id())
            .repository_name(repository)
            .into_paginator()
            .page_size(PAGE_SIZE)
            .send();
        let mut images = Vec::new();
        // The SDK's time limit is per page: the deadline bounds them all.
        let every_page = async {
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| match e.as_service_error() {
                    Some(DescribeImagesError::RepositoryNotFoundException(_)) => {
                        ImagesError::RepositoryNotFound {
                            repository: repository.to_string(),
                            registry: scope.registry.to_string(),
                        }
                    }
                    _ => {
                        let error = classify::sdk_error(&e).for_key_set(key_set);
                        tracing::debug!(code = ?e.code(), error = %error, "DescribeImages failed");
                        match error.kind {
                            FetchErrorKind::AccessDenied => ImagesError::AccessDenied {
                                key_set: error.key_set,
                                detail: error.detail,
                            },
                            _ => ImagesError::Fetch(error),
                        }
                    }
                })?;
                images.extend(page.image_details().iter().filter_map(tagged));
            }
            Ok::<(), ImagesError>(())
        };
        match tokio::time::timeout(deadline.remaining(), every_page).await {
            Ok(listed) => listed?,
            Err(_) => {
                return Err(ImagesError::Fetch(
                    FetchError::new(
                        FetchErrorKind::Timeout,
                        format!("DescribeImages did not finish all its pages within the time limit ({} images so far)", images.len()),
                    )
                    .for_key_set(key_set),
                ));
            }
        }
        newest_first(&mut images);
        Ok(images)
    }
}

/// An image detail as an [`Image`], if it has tags (and a digest and push time, which ECR
/// always sends).
fn tagged(detail: &aws_sdk_ecr::types::ImageDetail) -> Option<Image> {
    if detail.image_tags().is_empty() {
        return None;
    }
    Some(Image {
        tags: detail.image_tags().to_vec(),
        pushed_at: detail
            .image_pushed_at()
            .and_then(|at| SystemTime::try_from(*at).ok())?,
        digest: detail.image_digest()?.to_string(),
        size_bytes: detail.image_size_in_bytes(),
    })
}

/// Sorts newest pushed first. Of images pushed at the same instant the one last in the API's
/// order comes first, as the vendors' `sort_by(imageDetails,&imagePushedAt)[-1]` (a stable
/// sort, then the last) picks it for `--latest`.
fn newest_first(images: &mut [Image]) {
    images.sort_by_key(|image| image.pushed_at);
    images.reverse();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn image(tag: &str, secs: u64) -> Image {
        Image {
            tags: vec![tag.to_string()],
            pushed_at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            digest: format!("sha256:{tag}"),
            size_bytes: Some(1),
        }
    }

    #[test]
    fn newest_first_puts_the_last_of_ties_first_as_the_cli_query_picks_it() {
        let mut images = vec![image("a", 5), image("b", 9), image("c", 5), image("d", 1)];
        newest_first(&mut images);
        let tags: Vec<_> = images.iter().map(|i| i.tags[0].as_str()).collect();
        assert_eq!(tags, ["b", "c", "a", "d"]);
        let mut tied = vec![image("first", 5), image("last", 5)];
        newest_first(&mut tied);
        assert_eq!(tied[0].tags[0], "last", "sort_by(...)[-1]");
    }

    #[test]
    fn untagged_images_are_left_out() {
        let untagged = aws_sdk_ecr::types::ImageDetail::builder()
            .image_digest("sha256:0")
            .image_pushed_at(DateTime::from_secs(10))
            .build();
        assert_eq!(tagged(&untagged), None);
        let one = aws_sdk_ecr::types::ImageDetail::builder()
            .image_digest("sha256:1")
            .image_tags("1.0")
            .image_tags("latest")
            .image_pushed_at(DateTime::from_secs(10))
            .build();
        let image = tagged(&one).expect("tagged");
        assert_eq!(image.tags, ["1.0", "latest"]);
        assert_eq!(image.pushed_at_rfc3339(), "1970-01-01T00:00:10Z");
    }

    #[test]
    fn denial_names_the_key_set_and_the_permission() {
        let e = ImagesError::AccessDenied {
            key_set: Some("acme".into()),
            detail: "AccessDeniedException: no".into(),
        };
        assert_eq!(
            e.to_string(),
            "acme: its keys may not call ecr:DescribeImages (ask them to allow it)"
        );
    }
}
