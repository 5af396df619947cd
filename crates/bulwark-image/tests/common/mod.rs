//! Builders for small OCI layouts and docker-archives.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

/// One entry of a layer tarball.
pub enum E<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
}

/// A layer tarball of `entries`, in order.
pub fn tar(entries: &[E<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        match *entry {
            E::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            E::File(path, bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, bytes).unwrap();
            }
            E::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            E::Hardlink(path, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

pub fn sha256(bytes: &[u8]) -> String {
    bulwark_oci::sha256_digest(bytes)
}

/// Writes OCI layouts.
pub struct Layout<'a> {
    pub dir: &'a Path,
}

impl<'a> Layout<'a> {
    pub fn new(dir: &'a Path) -> Self {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Self { dir }
    }

    /// Stores a blob, returning its descriptor.
    pub fn blob(&self, media_type: &str, bytes: &[u8]) -> Value {
        let digest = sha256(bytes);
        let path = self
            .dir
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        std::fs::write(path, bytes).unwrap();
        json!({"mediaType": media_type, "digest": digest, "size": bytes.len()})
    }

    /// Stores an image of `layers` (already compressed or not) for
    /// `os/arch`, returning the manifest's descriptor.
    pub fn image(&self, layers: &[(&str, Vec<u8>, Vec<u8>)], arch: &str) -> Value {
        // (media type, blob, uncompressed tar)
        let diff_ids: Vec<String> = layers.iter().map(|l| sha256(&l.2)).collect();
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "config": {"User": "65532"},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            &serde_json::to_vec(&config).unwrap(),
        );
        let layers: Vec<Value> = layers
            .iter()
            .map(|(media_type, blob, _)| self.blob(media_type, blob))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config,
            "layers": layers,
            "annotations": {"org.example": arch},
        });
        self.blob(
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        )
    }

    /// Stores an image index of `manifests` (with platforms).
    pub fn index(&self, manifests: Vec<Value>) -> Value {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        self.blob(
            "application/vnd.oci.image.index.v1+json",
            &serde_json::to_vec(&index).unwrap(),
        )
    }

    /// Writes `index.json`.
    pub fn top(&self, manifests: Vec<Value>) {
        let index = json!({"schemaVersion": 2, "manifests": manifests});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

/// `desc` with extra fields.
pub fn with(mut desc: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        desc[k] = v.clone();
    }
    desc
}

pub const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// A status.d stanza.
pub fn stanza(name: &str, version: &str, source: Option<&str>) -> Vec<u8> {
    let mut s = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: amd64\nMaintainer: Someone <a@example.org>\n"
    );
    if let Some(source) = source {
        s.push_str(&format!("Source: {source}\n"));
    }
    s.push_str("Description: test\n test package\n");
    s.into_bytes()
}

/// Whether `program` is on `PATH`.
pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
