//! Container images built by hand, with no daemon and no build tool: random layers, an image
//! config and a manifest, or a multi-platform index over several such manifests, written as an
//! OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/<hex>`) that
//! `skopeo copy [--all] --preserve-digests oci:DIR:TAG docker://...` pushes byte for byte.
//!
//! # What the tests compare against
//!
//! Everything is known here before any registry sees it: each blob's digest and size, each
//! manifest's exact bytes and digest. A test can therefore check a registry's copy against the
//! image as it was made, not only against another registry's copy of it.
//!
//! # Shape of the images
//!
//! Layers are random bytes from `/dev/urandom` (unique per run, so no registry already holds
//! them) under the uncompressed OCI layer media type: nothing on the way unpacks them, and
//! nothing may recompress them either, or the digests would change. Manifests are written
//! pretty-printed, not in the compact form most serialisers produce: a copier that parses and
//! re-serialises a manifest changes its bytes, and its digest, and the tests see it.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

/// The media types of the images built here (OCI image spec 1.0).
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
/// The annotation naming a manifest's tag in a layout's `index.json`.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One `os/architecture` pair of an image config and an index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Platform {
    pub os: &'static str,
    pub architecture: &'static str,
}

pub const LINUX_AMD64: Platform = Platform {
    os: "linux",
    architecture: "amd64",
};
pub const LINUX_ARM64: Platform = Platform {
    os: "linux",
    architecture: "arm64",
};

/// A blob (config or layer) as stored: its `sha256:<hex>` digest and its size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: String,
    pub size: u64,
}

/// One platform's image: its manifest bytes and digest, its config and its layers.
#[derive(Debug, Clone)]
pub struct Image {
    pub platform: Platform,
    pub manifest: Vec<u8>,
    pub digest: String,
    pub config: Blob,
    pub layers: Vec<Blob>,
}

/// What a tag of a layout points at: one image, or an index over several.
#[derive(Debug, Clone)]
pub enum Built {
    Image(Image),
    Index {
        manifest: Vec<u8>,
        digest: String,
        children: Vec<Image>,
    },
}

impl Built {
    /// The digest of the top manifest (the index's, for a multi-platform image).
    pub fn digest(&self) -> &str {
        match self {
            Built::Image(image) => &image.digest,
            Built::Index { digest, .. } => digest,
        }
    }

    /// The exact bytes of the top manifest.
    pub fn manifest(&self) -> &[u8] {
        match self {
            Built::Image(image) => &image.manifest,
            Built::Index { manifest, .. } => manifest,
        }
    }

    /// The platform images: the image itself, or the index's children.
    pub fn images(&self) -> Vec<&Image> {
        match self {
            Built::Image(image) => vec![image],
            Built::Index { children, .. } => children.iter().collect(),
        }
    }

    /// Every blob: the config and the layers of every platform.
    pub fn blobs(&self) -> Vec<&Blob> {
        self.images()
            .into_iter()
            .flat_map(|image| std::iter::once(&image.config).chain(&image.layers))
            .collect()
    }

    /// The sum of the sizes of [`Built::blobs`].
    pub fn blob_bytes(&self) -> u64 {
        self.blobs().iter().map(|blob| blob.size).sum()
    }

    /// Every manifest: the image's one, or the index and its children.
    pub fn manifest_count(&self) -> usize {
        match self {
            Built::Image(_) => 1,
            Built::Index { children, .. } => 1 + children.len(),
        }
    }
}

/// An OCI image layout directory being filled with images, one tag each.
pub struct OciLayout {
    dir: PathBuf,
    refs: Vec<serde_json::Value>,
}

impl OciLayout {
    /// Makes `dir` an empty layout (created if missing).
    pub fn create(dir: &Path) -> OciLayout {
        std::fs::create_dir_all(dir.join("blobs").join("sha256")).expect("create layout dirs");
        std::fs::write(
            dir.join("oci-layout"),
            "{\"imageLayoutVersion\":\"1.0.0\"}\n",
        )
        .expect("write oci-layout");
        let layout = OciLayout {
            dir: dir.to_path_buf(),
            refs: Vec::new(),
        };
        layout.write_index();
        layout
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `oci:DIR:TAG`, skopeo's name for the image tagged `tag` here.
    pub fn reference(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }

    /// Builds a single-platform image of random layers of `layer_sizes` bytes, tagged `tag`.
    pub fn image(&mut self, tag: &str, platform: Platform, layer_sizes: &[usize]) -> Built {
        self.image_over(tag, platform, &[], layer_sizes)
    }

    /// [`OciLayout::image`] whose first layers are `base` (layers of an image built in this
    /// layout before: a shared base image), then random layers of `layer_sizes` bytes.
    pub fn image_over(
        &mut self,
        tag: &str,
        platform: Platform,
        base: &[Blob],
        layer_sizes: &[usize],
    ) -> Built {
        let image = self.platform_image_over(platform, base, layer_sizes);
        self.tag(
            tag,
            MANIFEST_MEDIA_TYPE,
            &image.digest,
            image.manifest.len(),
        );
        Built::Image(image)
    }

    /// Builds an index over one image per `(platform, layer sizes)`, each with layers of its
    /// own, tagged `tag`.
    pub fn index(&mut self, tag: &str, platforms: &[(Platform, &[usize])]) -> Built {
        let children: Vec<Image> = platforms
            .iter()
            .map(|(platform, sizes)| self.platform_image(*platform, sizes))
            .collect();
        let entries: Vec<serde_json::Value> = children
            .iter()
            .map(|child| {
                json!({
                    "mediaType": MANIFEST_MEDIA_TYPE,
                    "digest": child.digest,
                    "size": child.manifest.len(),
                    "platform": {
                        "architecture": child.platform.architecture,
                        "os": child.platform.os,
                    },
                })
            })
            .collect();
        let manifest = pretty(&json!({
            "schemaVersion": 2,
            "mediaType": INDEX_MEDIA_TYPE,
            "manifests": entries,
        }));
        let digest = self.put_bytes(&manifest);
        self.tag(tag, INDEX_MEDIA_TYPE, &digest, manifest.len());
        Built::Index {
            manifest,
            digest,
            children,
        }
    }

    /// Layers, a config naming them, and a manifest over both, all written as blobs.
    fn platform_image(&self, platform: Platform, layer_sizes: &[usize]) -> Image {
        self.platform_image_over(platform, &[], layer_sizes)
    }

    /// [`OciLayout::platform_image`] over the `base` layers.
    fn platform_image_over(
        &self,
        platform: Platform,
        base: &[Blob],
        layer_sizes: &[usize],
    ) -> Image {
        let layers: Vec<Blob> = base
            .iter()
            .cloned()
            .chain(layer_sizes.iter().map(|&size| self.put_random(size)))
            .collect();
        // Uncompressed layers: each one's diff id is its digest.
        let diff_ids: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
        let config_bytes = pretty(&json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "config": {},
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
        }));
        let config = Blob {
            digest: self.put_bytes(&config_bytes),
            size: config_bytes.len() as u64,
        };
        let layer_entries: Vec<serde_json::Value> = layers
            .iter()
            .map(|l| json!({ "mediaType": LAYER_MEDIA_TYPE, "digest": l.digest, "size": l.size }))
            .collect();
        let manifest = pretty(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {
                "mediaType": CONFIG_MEDIA_TYPE,
                "digest": config.digest,
                "size": config.size,
            },
            "layers": layer_entries,
        }));
        let digest = self.put_bytes(&manifest);
        Image {
            platform,
            manifest,
            digest,
            config,
            layers,
        }
    }

    /// Records `tag` -> the manifest `digest` in `index.json`.
    fn tag(&mut self, tag: &str, media_type: &str, digest: &str, size: usize) {
        self.refs.retain(|r| r["annotations"][REF_NAME] != tag);
        self.refs.push(json!({
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": { REF_NAME: tag },
        }));
        self.write_index();
    }

    fn write_index(&self) {
        let index = json!({ "schemaVersion": 2, "manifests": self.refs });
        std::fs::write(self.dir.join("index.json"), pretty(&index)).expect("write index.json");
    }

    fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir.join("blobs").join("sha256").join(hex)
    }

    /// Writes `bytes` as a blob; returns its digest.
    fn put_bytes(&self, bytes: &[u8]) -> String {
        let digest = sha256_digest(bytes);
        std::fs::write(self.blob_path(&digest), bytes).expect("write blob");
        digest
    }

    /// Writes `size` random bytes as a blob, hashing them on the way.
    fn put_random(&self, size: usize) -> Blob {
        let staging = self.dir.join("blobs").join("staging");
        let mut out = File::create(&staging).expect("create blob");
        let mut random = File::open("/dev/urandom").expect("open /dev/urandom");
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let chunk = &mut buf[..left.min(1 << 20)];
            random.read_exact(chunk).expect("read /dev/urandom");
            hasher.update(&*chunk);
            out.write_all(chunk).expect("write blob");
            left -= chunk.len();
        }
        drop(out);
        let digest = format!("sha256:{}", hex(&hasher.finalize()));
        std::fs::rename(&staging, self.blob_path(&digest)).expect("store blob");
        Blob {
            digest,
            size: size as u64,
        }
    }
}

/// `sha256:<hex>` of `bytes`: the digest a registry names them by.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `value` pretty-printed, with a final newline.
fn pretty(value: &serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON");
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_names_its_children_and_every_blob_is_on_disk_under_its_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut layout = OciLayout::create(dir.path());
        let built = layout.index(
            "multi",
            &[(LINUX_AMD64, &[100, 200]), (LINUX_ARM64, &[300])],
        );
        assert_eq!(built.manifest_count(), 3);
        assert_eq!(built.blobs().len(), 5, "two configs and three layers");
        let configs: u64 = built.images().iter().map(|i| i.config.size).sum();
        assert_eq!(built.blob_bytes(), 600 + configs);
        for blob in built.blobs() {
            let bytes = std::fs::read(layout.blob_path(&blob.digest)).expect("blob on disk");
            assert_eq!(sha256_digest(&bytes), blob.digest);
            assert_eq!(bytes.len() as u64, blob.size);
        }
        let index: serde_json::Value =
            serde_json::from_slice(built.manifest()).expect("index JSON");
        let children: Vec<&str> = index["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|m| m["digest"].as_str().expect("digest"))
            .collect();
        let expected: Vec<&str> = built.images().iter().map(|i| i.digest.as_str()).collect();
        assert_eq!(children, expected);
        let top: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).expect("read"))
                .expect("index.json");
        assert_eq!(top["manifests"][0]["digest"], built.digest());
        assert_eq!(top["manifests"][0]["annotations"][REF_NAME], "multi");
    }

    #[test]
    fn two_images_built_alike_share_no_layer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut layout = OciLayout::create(dir.path());
        let a = layout.image("a", LINUX_AMD64, &[64]);
        let b = layout.image("b", LINUX_AMD64, &[64]);
        assert_ne!(a.images()[0].layers, b.images()[0].layers);
        assert_ne!(a.digest(), b.digest());
    }
}
