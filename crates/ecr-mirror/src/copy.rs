//! Copying one image from the source registry to the target: the order that makes an
//! interrupted copy safe to run again.
//!
//! 1. The source's top manifest (an index for a multi-arch image). When the target already
//!    serves the same digest under the target reference, the image is up to date: nothing else
//!    is read or written.
//! 2. Every manifest under it (an index's platform images, nested indexes) and every blob they
//!    refer to, each blob once.
//! 3. The blobs the target lacks (asked with a HEAD per blob), a few at a time: mounted from
//!    another repository of the target when this run saw one holding it (the base layers the
//!    images of a batch share move once), else streamed from the source into one upload (see
//!    [`Endpoint::push_blob`]); the source stream is checked against the blob's digest and the
//!    target checks it again before it keeps the blob. Nothing is held on disk.
//! 4. The manifests, children first and by digest, their exact bytes; the top manifest last,
//!    under the target's tag. Until that last write the target has no tag to pull, so a copy
//!    killed at any point leaves nothing half-visible, and a re-run finds the blobs already
//!    there and copies only the rest.
//! 5. The target's digest for the tag is read back and must be the source's.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt, TryStreamExt};
use oci_client::Reference;

use crate::endpoint::Endpoint;
use crate::error::MirrorError;
use crate::manifest::{Descriptor, Manifest, Refers};
use crate::naming::{self, Job};

/// Blobs copied at once.
const PARALLEL_BLOBS: usize = 4;
/// How deep indexes may nest (an index of indexes is legal, a loop is not).
const MAX_DEPTH: usize = 4;

/// What a copy reports as it goes (a progress display, or nothing).
pub trait Observer: Send + Sync {
    /// The copy will look at `blobs` blobs of `bytes` bytes in all.
    fn planned(&self, blobs: usize, bytes: u64);
    /// `bytes` more are done (copied, or found on the target).
    fn advanced(&self, bytes: u64);
}

/// An observer that shows nothing.
pub struct Unobserved;

impl Observer for Unobserved {
    fn planned(&self, _: usize, _: u64) {}
    fn advanced(&self, _: u64) {}
}

/// How one image's copy ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The top manifest's digest, the same on both sides.
    pub digest: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The target already served this digest: nothing was written.
    UpToDate,
    Copied {
        blobs_copied: usize,
        blobs_total: usize,
        bytes_copied: u64,
        manifests_copied: usize,
        manifests_total: usize,
        elapsed: Duration,
    },
}

/// A source and a target registry.
pub struct Mirror<'a> {
    pub source: &'a Endpoint,
    pub target: &'a Endpoint,
}

impl Mirror<'_> {
    /// Copies `job.source` to `job.target`.
    pub async fn copy(
        &self,
        job: &Job,
        observer: Arc<dyn Observer>,
    ) -> Result<Copied, MirrorError> {
        let started = Instant::now();
        let top = self.source.manifest(&job.source).await?;
        if self.target.manifest_digest(&job.target).await?.as_deref() == Some(top.digest.as_str()) {
            return Ok(Copied {
                digest: top.digest,
                outcome: Outcome::UpToDate,
            });
        }
        let mut children = Vec::new();
        let mut blobs = Vec::new();
        self.gather(&job.source, &top, 0, &mut children, &mut blobs)
            .await?;
        let blobs = unique(blobs);
        observer.planned(blobs.len(), blobs.iter().map(|b| b.size).sum());

        let results: Vec<Option<u64>> = futures_util::stream::iter(blobs.iter())
            .map(|blob| self.copy_blob(job, blob, observer.clone()))
            .buffer_unordered(PARALLEL_BLOBS)
            .try_collect()
            .await?;
        let copied: Vec<u64> = results.into_iter().flatten().collect();

        let mut manifests_copied = 0;
        for child in &children {
            let at = naming::with_digest(&job.target, &child.digest);
            if self.target.manifest_digest(&at).await?.is_none() {
                self.target.push_manifest(&at, child).await?;
                manifests_copied += 1;
            }
        }
        self.target.push_manifest(&job.target, &top).await?;
        manifests_copied += 1;
        match self.target.manifest_digest(&job.target).await? {
            Some(stored) if stored == top.digest => {}
            stored => {
                return Err(MirrorError::Registry {
                    host: self.target.host().to_string(),
                    message: format!(
                        "{} holds {} after the copy, not {}",
                        naming::display(&job.target),
                        stored.as_deref().unwrap_or("nothing"),
                        top.digest
                    ),
                });
            }
        }
        Ok(Copied {
            digest: top.digest,
            outcome: Outcome::Copied {
                blobs_copied: copied.len(),
                blobs_total: blobs.len(),
                bytes_copied: copied.iter().sum(),
                manifests_copied,
                manifests_total: children.len() + 1,
                elapsed: started.elapsed(),
            },
        })
    }

    /// The manifests under `manifest` (children before their parents) and every blob they
    /// refer to.
    async fn gather(
        &self,
        source: &Reference,
        manifest: &Manifest,
        depth: usize,
        children: &mut Vec<Manifest>,
        blobs: &mut Vec<Descriptor>,
    ) -> Result<(), MirrorError> {
        match &manifest.refers {
            Refers::Blobs(referred) => blobs.extend(referred.iter().cloned()),
            Refers::Manifests(referred) => {
                if depth >= MAX_DEPTH {
                    return Err(MirrorError::BadManifest {
                        reference: naming::display(source),
                        why: format!("indexes nest deeper than {MAX_DEPTH}"),
                    });
                }
                for descriptor in referred {
                    let at = naming::with_digest(source, &descriptor.digest);
                    let child = self.source.manifest(&at).await?;
                    Box::pin(self.gather(source, &child, depth + 1, children, blobs)).await?;
                    if !children.iter().any(|c| c.digest == child.digest) {
                        children.push(child);
                    }
                }
            }
        }
        Ok(())
    }

    /// Copies `blob` unless the target's repository has it (or can mount it from another of
    /// its repositories that this run saw holding it); the bytes copied, or `None` when none
    /// had to move.
    async fn copy_blob(
        &self,
        job: &Job,
        blob: &Descriptor,
        observer: Arc<dyn Observer>,
    ) -> Result<Option<u64>, MirrorError> {
        let target = self.target;
        if target.has_blob(&job.target, &blob.digest).await? {
            target.remember_blob(&job.target, &blob.digest);
            observer.advanced(blob.size);
            return Ok(None);
        }
        if let Some(holder) = target.other_repository_holding(&job.target, &blob.digest)
            && target.mount_blob(&job.target, &holder, &blob.digest).await
        {
            target.remember_blob(&job.target, &blob.digest);
            observer.advanced(blob.size);
            return Ok(None);
        }
        let stream = self.source.blob_stream(&job.source, blob).await?;
        let counted = observer.clone();
        let counted_stream = stream
            .map_err(oci_client::errors::OciDistributionError::IoError)
            .inspect_ok(move |piece| counted.advanced(piece.len() as u64));
        target
            .push_blob(&job.target, counted_stream, &blob.digest, blob.size)
            .await?;
        target.remember_blob(&job.target, &blob.digest);
        Ok(Some(blob.size))
    }
}

/// `blobs` without repeats, in their first order.
fn unique(blobs: Vec<Descriptor>) -> Vec<Descriptor> {
    let mut seen = HashSet::new();
    blobs
        .into_iter()
        .filter(|blob| seen.insert(blob.digest.clone()))
        .collect()
}
