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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;

use futures_util::{StreamExt, TryStreamExt};
use oci_client::Reference;

use crate::endpoint::Endpoint;
use crate::error::MirrorError;
use crate::manifest::{Descriptor, Manifest, Refers};
use crate::naming::{self, Job};

/// Blobs copied at once.
const PARALLEL_BLOBS: usize = 4;
/// How long an upload may go without the target taking any bytes (or, after the last, without
/// its answer) before it counts as stalled.
const STALL: Duration = Duration::from_secs(300);
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
        let progress = Arc::new(Progress::new());
        let counted = (observer.clone(), progress.clone());
        let body =
            to_the_end(stream, blob, naming::display(&job.source)).inspect_ok(move |piece| {
                counted.0.advanced(piece.len() as u64);
                counted.1.touch();
            });
        let upload = target.push_blob(&job.target, body, &blob.digest, blob.size);
        tokio::select! {
            uploaded = upload => uploaded?,
            () = progress.stalled(STALL) => {
                return Err(MirrorError::Stalled {
                    host: target.host().to_string(),
                    reference: naming::display(&job.target),
                    secs: STALL.as_secs(),
                });
            }
        }
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

/// When an upload last made progress, for [`Progress::stalled`].
struct Progress {
    started: tokio::time::Instant,
    last_ms: AtomicU64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            started: tokio::time::Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once `limit` has passed with no [`Progress::touch`].
    async fn stalled(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let idle = self.started.elapsed().saturating_sub(last);
            if idle >= limit {
                return;
            }
            tokio::time::sleep((limit - idle).max(Duration::from_millis(100))).await;
        }
    }
}

/// `stream` (blob `blob` as the source sends it) with its last piece held back until the
/// stream has ended: the upload's `Content-Length` is the blob's size, and the HTTP client
/// stops reading a body once that many bytes went, so without the hold-back the source's digest
/// check (made at the end of its stream) would never run. A stream longer or shorter than the
/// descriptor's size, or whose digest is not the blob's, ends in an error before its last byte
/// is sent, so the target never completes the upload.
fn to_the_end<S>(
    stream: S,
    blob: &Descriptor,
    source: String,
) -> impl futures_util::Stream<Item = oci_client::errors::Result<Bytes>> + Send + 'static
where
    S: futures_util::Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static,
{
    struct State<S> {
        stream: Option<S>,
        held: Option<Bytes>,
        sent: u64,
        size: u64,
        digest: String,
        source: String,
    }
    let start = State {
        stream: Some(stream),
        held: None,
        sent: 0,
        size: blob.size,
        digest: blob.digest.clone(),
        source,
    };
    futures_util::stream::try_unfold(start, |mut state| async move {
        let bad = |state: &State<S>, why: String| {
            oci_client::errors::OciDistributionError::IoError(std::io::Error::other(
                MirrorError::BadBlob {
                    reference: state.source.clone(),
                    digest: state.digest.clone(),
                    why,
                },
            ))
        };
        loop {
            let Some(stream) = state.stream.as_mut() else {
                return Ok(None);
            };
            match stream.try_next().await {
                Ok(Some(piece)) => {
                    state.sent += piece.len() as u64;
                    if state.sent > state.size {
                        let why = format!("is longer than its {} bytes", state.size);
                        return Err(bad(&state, why));
                    }
                    if let Some(previous) = state.held.replace(piece) {
                        return Ok(Some((previous, state)));
                    }
                }
                Ok(None) => {
                    state.stream = None;
                    if state.sent != state.size {
                        let why = format!(
                            "has {} bytes, not the {} its manifest says",
                            state.sent, state.size
                        );
                        return Err(bad(&state, why));
                    }
                    return Ok(state.held.take().map(|last| (last, state)));
                }
                Err(e) => {
                    let why = format!("failed its check: {e}");
                    return Err(bad(&state, why));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    fn blob(size: u64) -> Descriptor {
        Descriptor {
            media_type: "l".into(),
            digest: "sha256:d".into(),
            size,
        }
    }

    fn pieces(
        parts: Vec<std::io::Result<&'static [u8]>>,
    ) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + Unpin + 'static {
        futures_util::stream::iter(parts.into_iter().map(|p| p.map(Bytes::from_static)))
    }

    /// The pieces `to_the_end` lets out before its end or its error.
    async fn let_out(
        parts: Vec<std::io::Result<&'static [u8]>>,
        size: u64,
    ) -> (Vec<Bytes>, Option<String>) {
        let mut out = Vec::new();
        let mut body = Box::pin(to_the_end(pieces(parts), &blob(size), "s/a:1".into()));
        loop {
            match body.try_next().await {
                Ok(Some(piece)) => out.push(piece),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    #[tokio::test]
    async fn the_last_piece_waits_for_the_end_of_the_source_and_its_check() {
        let (out, error) = let_out(vec![Ok(b"ab"), Ok(b"cd"), Ok(b"e")], 5).await;
        assert_eq!(error, None);
        assert_eq!(out.concat(), b"abcde");

        // The digest check fails at the end: the last piece is never let out.
        let (out, error) = let_out(
            vec![
                Ok(b"ab"),
                Ok(b"cd"),
                Err(std::io::Error::other("digest mismatch")),
            ],
            4,
        )
        .await;
        assert_eq!(
            out.concat(),
            b"ab",
            "the last piece went out before the check"
        );
        assert!(error.unwrap().contains("digest mismatch"));
    }

    #[tokio::test]
    async fn a_blob_longer_or_shorter_than_its_descriptor_fails_before_its_end() {
        let (out, error) = let_out(vec![Ok(b"ab"), Ok(b"cd")], 3).await;
        assert_eq!(out.concat(), b"", "{out:?}");
        assert!(error.unwrap().contains("longer than its 3 bytes"));
        let (out, error) = let_out(vec![Ok(b"ab"), Ok(b"cd")], 9).await;
        assert_eq!(out.concat(), b"ab");
        assert!(error.unwrap().contains("has 4 bytes, not the 9"));
        let (out, error) = let_out(vec![], 0).await;
        assert!(out.is_empty() && error.is_none(), "an empty blob is fine");
    }

    #[tokio::test(start_paused = true)]
    async fn an_upload_is_stalled_only_after_the_limit_without_progress() {
        let progress = Progress::new();
        let limit = Duration::from_secs(300);
        tokio::time::sleep(Duration::from_secs(200)).await;
        progress.touch();
        let waited = tokio::time::Instant::now();
        progress.stalled(limit).await;
        assert!(
            waited.elapsed() >= Duration::from_secs(299),
            "{:?}",
            waited.elapsed()
        );
    }
}
