//! A manifest as pulled: its exact bytes (what is pushed again, so the digest stays the same),
//! its digest and media type, and what it refers to: the manifests of an index (multi-arch
//! images) or the config and layers of an image.
//!
//! Only what copying needs is read from the JSON; the bytes are never re-serialised. Docker
//! schema 2 and OCI manifests and indexes (and OCI artifacts such as Helm charts, which are OCI
//! manifests) are copied; schema 1 is refused. Foreign and non-distributable layers (Windows
//! base layers, by their media type) are not copied, as docker does not push them.

use serde::Deserialize;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The media types asked for (`Accept`) and copied.
pub const ACCEPTED: &[&str] = &[
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// A blob or manifest a manifest refers to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
}

/// What a manifest refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refers {
    /// An index: these manifests.
    Manifests(Vec<Descriptor>),
    /// An image or artifact: these blobs (config first).
    Blobs(Vec<Descriptor>),
}

/// A manifest as the registry served it.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: bytes::Bytes,
    pub digest: String,
    pub media_type: &'static str,
    pub refers: Refers,
}

#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "schemaVersion", default)]
    schema_version: Option<i64>,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Option<Vec<Descriptor>>,
}

impl Manifest {
    /// Reads `bytes`, whose digest is `digest`.
    pub fn parse(bytes: bytes::Bytes, digest: String) -> Result<Manifest, String> {
        let shape: Shape =
            serde_json::from_slice(&bytes).map_err(|e| format!("not a manifest: {e}"))?;
        if shape.schema_version != Some(2) {
            return Err(format!(
                "schema version {} is not supported (only schema 2 and OCI manifests)",
                shape
                    .schema_version
                    .map_or_else(|| "none".to_string(), |v| v.to_string())
            ));
        }
        let named = shape.media_type.as_deref();
        // An OCI manifest or index may leave `mediaType` out: its fields tell which it is.
        let media_type = match named {
            Some(named) => ACCEPTED
                .iter()
                .copied()
                .find(|known| *known == named)
                .ok_or_else(|| format!("media type {named} is not supported"))?,
            None if shape.manifests.is_some() => OCI_INDEX,
            None => OCI_MANIFEST,
        };
        let refers = match media_type {
            OCI_INDEX | DOCKER_MANIFEST_LIST => {
                Refers::Manifests(shape.manifests.unwrap_or_default())
            }
            _ => {
                let config = shape
                    .config
                    .ok_or_else(|| "an image manifest without a config".to_string())?;
                let layers = shape.layers.unwrap_or_default();
                Refers::Blobs(
                    std::iter::once(config)
                        .chain(
                            layers
                                .into_iter()
                                .filter(|layer| !is_foreign(&layer.media_type)),
                        )
                        .collect(),
                )
            }
        };
        Ok(Manifest {
            bytes,
            digest,
            media_type,
            refers,
        })
    }
}

/// A layer registries do not hold (docker's foreign layers, OCI's non-distributable ones): its
/// bytes come from the URLs it names.
fn is_foreign(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.docker.image.rootfs.foreign.")
        || media_type.starts_with("application/vnd.oci.image.layer.nondistributable.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Manifest, String> {
        Manifest::parse(bytes::Bytes::from(json.to_string()), "sha256:x".into())
    }

    const D: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn an_image_refers_to_its_config_then_its_distributable_layers() {
        let m = parse(&format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
                "config":{{"mediaType":"c","digest":"{D}","size":7}},
                "layers":[{{"mediaType":"l","digest":"sha256:b","size":9,"urls":["https://mirror"]}},
                          {{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"sha256:c","size":1,"urls":["https://x"]}},
                          {{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip","digest":"sha256:d","size":1}}]}}"#
        ))
        .unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        let Refers::Blobs(blobs) = &m.refers else {
            panic!("no blobs")
        };
        let digests: Vec<&str> = blobs.iter().map(|b| b.digest.as_str()).collect();
        assert_eq!(digests, [D, "sha256:b"]);
    }

    #[test]
    fn an_oci_index_without_a_media_type_is_known_by_its_manifests() {
        let m = parse(&format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":3}}]}}"#
        ))
        .unwrap();
        assert_eq!(m.media_type, OCI_INDEX);
        assert!(matches!(m.refers, Refers::Manifests(_)));
    }

    #[test]
    fn schema_1_and_unknown_types_are_refused() {
        assert!(parse(r#"{"schemaVersion":1,"fsLayers":[]}"#).is_err());
        assert!(parse(r#"{"schemaVersion":2,"mediaType":"text/plain"}"#).is_err());
        assert!(parse("not json").is_err());
    }
}
