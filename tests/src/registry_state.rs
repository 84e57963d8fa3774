//! What a [`Registry`] fixture really holds and was really asked, read from its own files rather
//! than through a client: its filesystem storage (distribution's `docker/registry/v2` layout) and
//! its access log.
//!
//! # Storage
//!
//! A blob the registry accepted is `blobs/sha256/<2 hex>/<hex>/data`; a manifest pushed to a
//! repository is linked from `repositories/<repo>/_manifests/revisions/sha256/<hex>/link`, and a
//! tag from `repositories/<repo>/_manifests/tags/<tag>/current/link`. Uploads in progress live
//! under `repositories/<repo>/_uploads/` and are not blobs yet; a finished upload is linked into
//! its repository from `repositories/<repo>/_layers/sha256/<hex>/link`.
//!
//! # Requests
//!
//! The access log has one combined-log-format line per request (`"METHOD /v2/... HTTP/1.1"
//! STATUS ...`). [`RequestLog::since`] cuts the log at a mark taken before a step, so a test sees
//! only the requests of that step.

use std::path::{Path, PathBuf};

use crate::system::Registry;

/// The storage of one registry.
pub struct RegistryStorage {
    root: PathBuf,
}

impl RegistryStorage {
    pub fn of(registry: &Registry) -> RegistryStorage {
        RegistryStorage {
            root: registry
                .storage()
                .join("docker")
                .join("registry")
                .join("v2"),
        }
    }

    /// True when the registry holds the blob `digest` (`sha256:<hex>`) in full.
    pub fn holds_blob(&self, digest: &str) -> bool {
        self.blob_data(digest).is_file()
    }

    /// Where the registry keeps the bytes of blob `digest` (for a test that corrupts them).
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = hex_of(digest);
        self.root
            .join("blobs")
            .join("sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// True when `repo` has the blob `digest`: held in full and linked into the repository
    /// (what a `HEAD /v2/<repo>/blobs/<digest>` answers 200 for). A blob whose upload finished
    /// while its client was killed can be in the blob store without the link.
    pub fn repository_has_blob(&self, repo: &str, digest: &str) -> bool {
        self.holds_blob(digest)
            && self
                .repository(repo)
                .join("_layers")
                .join("sha256")
                .join(hex_of(digest))
                .join("link")
                .is_file()
    }

    /// True when the manifest `digest` was pushed to `repo` (by tag or by digest).
    pub fn holds_manifest(&self, repo: &str, digest: &str) -> bool {
        self.repository(repo)
            .join("_manifests")
            .join("revisions")
            .join("sha256")
            .join(hex_of(digest))
            .join("link")
            .is_file()
    }

    /// The digest `repo:tag` points at, if the tag exists.
    pub fn tag(&self, repo: &str, tag: &str) -> Option<String> {
        let link = self
            .repository(repo)
            .join("_manifests")
            .join("tags")
            .join(tag)
            .join("current")
            .join("link");
        std::fs::read_to_string(link)
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// The tags of `repo`, sorted (none for a repository pushed to by digest only).
    pub fn tag_names(&self, repo: &str) -> Vec<String> {
        let dir = self.repository(repo).join("_manifests").join("tags");
        let mut tags: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        tags.sort();
        tags
    }

    /// Every repository holding at least one manifest, sorted (`acme/app`, ...).
    pub fn repositories(&self) -> Vec<String> {
        let base = self.root.join("repositories");
        let mut found = Vec::new();
        collect_repositories(&base, &base, &mut found);
        found.sort();
        found
    }

    fn repository(&self, repo: &str) -> PathBuf {
        self.root.join("repositories").join(repo)
    }
}

/// Adds to `found` every directory under `dir` that has a `_manifests` directory, as a path
/// relative to `base`.
fn collect_repositories(base: &Path, dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let name = entry.file_name();
        if name == "_manifests" {
            let repo = dir.strip_prefix(base).expect("under base");
            found.push(repo.to_string_lossy().into_owned());
        } else if !name.to_string_lossy().starts_with('_') {
            collect_repositories(base, &path, found);
        }
    }
}

fn hex_of(digest: &str) -> &str {
    let hex = digest
        .strip_prefix("sha256:")
        .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    assert_eq!(hex.len(), 64, "not a sha256 digest: {digest}");
    hex
}

/// A mark in a registry's log: the log's length when it was taken.
#[derive(Debug, Clone, Copy)]
pub struct LogMark(usize);

impl LogMark {
    pub fn now(registry: &Registry) -> LogMark {
        LogMark(registry.log().len())
    }

    /// The start of the log: [`RequestLog::since`] it sees every request.
    pub fn start() -> LogMark {
        LogMark(0)
    }
}

/// One request of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path with its query string, as sent (`/v2/acme/app/blobs/uploads/<id>?digest=...`).
    pub target: String,
    pub status: u16,
}

impl Request {
    /// True for a request of the blob upload protocol (start, chunk, finish or mount).
    pub fn is_blob_upload(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PATCH" | "PUT")
            && self.path().contains("/blobs/uploads/")
    }

    /// True for a manifest push.
    pub fn is_manifest_put(&self) -> bool {
        self.method == "PUT" && self.path().contains("/manifests/")
    }

    /// The digest a finished upload names (`?digest=sha256:...`, percent-encoded or not).
    pub fn upload_digest(&self) -> Option<String> {
        let (_, query) = self.target.split_once('?')?;
        query.split('&').find_map(|pair| {
            let value = pair.strip_prefix("digest=")?;
            Some(value.replace("%3A", ":").replace("%3a", ":"))
        })
    }

    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// The requests logged after a mark.
pub struct RequestLog {
    pub requests: Vec<Request>,
}

impl RequestLog {
    pub fn since(registry: &Registry, mark: LogMark) -> RequestLog {
        let log = registry.log();
        let during = log.get(mark.0..).unwrap_or_default();
        RequestLog {
            requests: during.lines().filter_map(parse_request).collect(),
        }
    }

    /// The blob uploads among them.
    pub fn blob_uploads(&self) -> Vec<&Request> {
        self.requests
            .iter()
            .filter(|r| r.is_blob_upload())
            .collect()
    }

    /// The manifest pushes among them.
    pub fn manifest_puts(&self) -> Vec<&Request> {
        self.requests
            .iter()
            .filter(|r| r.is_manifest_put())
            .collect()
    }

    /// The digests of the uploads that completed (status 201), sorted.
    pub fn uploaded_digests(&self) -> Vec<String> {
        let mut digests: Vec<String> = self
            .blob_uploads()
            .into_iter()
            .filter(|r| r.status == 201)
            .filter_map(Request::upload_digest)
            .collect();
        digests.sort();
        digests
    }
}

/// The request of an access-log line: `... "METHOD TARGET HTTP/1.1" STATUS ...`.
fn parse_request(line: &str) -> Option<Request> {
    let (_, rest) = line.split_once('"')?;
    let (request, rest) = rest.split_once('"')?;
    let mut parts = request.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if !version.starts_with("HTTP/") {
        return None;
    }
    let status = rest.split_whitespace().next()?.parse().ok()?;
    Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_lines_are_read_and_others_skipped() {
        let line = "127.0.0.1 - - [01/Dec/2026:10:00:00 +0000] \"PUT /v2/acme/app/blobs/uploads/1a2b?_state=x&digest=sha256%3Aabc HTTP/1.1\" 201 0 \"\" \"ua\"";
        let request = parse_request(line).expect("a request");
        assert!(request.is_blob_upload());
        assert!(!request.is_manifest_put());
        assert_eq!(request.status, 201);
        assert_eq!(request.upload_digest().as_deref(), Some("sha256:abc"));
        let manifest =
            "127.0.0.1 - - [x] \"PUT /v2/acme/app/manifests/1.0 HTTP/1.1\" 201 0 \"\" \"ua\"";
        assert!(
            parse_request(manifest)
                .expect("a request")
                .is_manifest_put()
        );
        assert_eq!(
            parse_request("time=\"2026\" level=info msg=\"response completed\""),
            None
        );
    }
}
