//! Hand-made OCI image layouts, for tests that need an image bulwark did
//! not build: crafted layers, other tools' conventions, hostile contents.

use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;

use crate::util::sha256_hex;

/// One regular file of a [`layer`]: its path in the image, its size and
/// where its bytes come from (which may be [`io::repeat`], so that a
/// layer can hold a file far larger than the test's memory would like).
pub struct LayerFile<'a> {
    /// The path in the image, without a leading `/`.
    pub path: &'a str,
    /// The size the tar header declares, and the bytes read from `data`.
    pub size: u64,
    /// The contents.
    pub data: Box<dyn Read + 'a>,
}

impl<'a> LayerFile<'a> {
    /// A file holding `bytes`.
    pub fn bytes(path: &'a str, bytes: &'a [u8]) -> LayerFile<'a> {
        LayerFile {
            path,
            size: bytes.len() as u64,
            data: Box::new(bytes),
        }
    }

    /// A file of `size` zero bytes, never held in memory.
    pub fn zeros(path: &'a str, size: u64) -> LayerFile<'a> {
        LayerFile {
            path,
            size,
            data: Box::new(io::repeat(0).take(size)),
        }
    }
}

/// A gzip-compressed tar layer of `files` (mode 0644, root-owned, mtime
/// 0), their parent directories included. Returns the compressed bytes
/// and the digest of the uncompressed tar (the config's diff ID).
pub fn layer(files: Vec<LayerFile<'_>>) -> (Vec<u8>, String) {
    let mut hasher = HashingWriter {
        inner: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()),
        sha256: <sha2::Sha256 as sha2::Digest>::new(),
    };
    {
        let mut tar = tar::Builder::new(&mut hasher);
        let mut dirs = std::collections::BTreeSet::new();
        for file in files {
            let mut parent = Path::new(file.path).parent();
            let mut missing = Vec::new();
            while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
                if dirs.insert(dir.to_path_buf()) {
                    missing.push(dir.to_path_buf());
                }
                parent = dir.parent();
            }
            for dir in missing.into_iter().rev() {
                let mut header = tar::Header::new_ustar();
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                header.set_mtime(0);
                header.set_uid(0);
                header.set_gid(0);
                tar.append_data(&mut header, format!("{}/", dir.display()), io::empty())
                    .unwrap();
            }
            let mut header = tar::Header::new_ustar();
            header.set_mode(0o644);
            header.set_size(file.size);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            tar.append_data(&mut header, file.path, file.data).unwrap();
        }
        tar.finish().unwrap();
    }
    let diff_id = hex::encode(sha2::Digest::finalize(hasher.sha256));
    (hasher.inner.finish().unwrap(), format!("sha256:{diff_id}"))
}

struct HashingWriter<W> {
    inner: W,
    sha256: sha2::Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.sha256, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes an OCI image layout at `dir` holding one linux/amd64 image of
/// `layers` (as [`layer`] returns them) tagged `tag`. Returns the
/// manifest's digest.
pub fn write_layout(dir: &Path, tag: &str, layers: &[(Vec<u8>, String)]) -> String {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let diff_ids: Vec<String> = layers.iter().map(|(_, id)| format!("\"{id}\"")).collect();
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{}},\
         \"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[{}]}}}}",
        diff_ids.join(",")
    );
    let (config_digest, config_size) = put(config.as_bytes());
    let layer_descriptors: Vec<String> = layers
        .iter()
        .map(|(bytes, _)| {
            let (digest, size) = put(bytes);
            format!(
                "{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\
                 \"digest\":\"{digest}\",\"size\":{size}}}"
            )
        })
        .collect();
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\
         \"digest\":\"{config_digest}\",\"size\":{config_size}}},\"layers\":[{}]}}",
        layer_descriptors.join(",")
    );
    let (manifest_digest, manifest_size) = put(manifest.as_bytes());
    fs::write(dir.join("oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}").unwrap();
    fs::write(
        dir.join("index.json"),
        format!(
            "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\
             \"manifests\":[{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
             \"digest\":\"{manifest_digest}\",\"size\":{manifest_size},\
             \"platform\":{{\"architecture\":\"amd64\",\"os\":\"linux\"}},\
             \"annotations\":{{\"org.opencontainers.image.ref.name\":\"{tag}\"}}}}]}}"
        ),
    )
    .unwrap();
    manifest_digest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// umoci, an independent OCI implementation, unpacks what this writes.
    #[test]
    fn umoci_unpacks_a_written_layout() {
        let dir = crate::util::tempdir("oci-");
        let layout = dir.path().join("image");
        let layer = layer(vec![
            LayerFile::bytes("etc/hello", b"hello\n"),
            LayerFile::zeros("var/big", 1 << 20),
        ]);
        write_layout(&layout, "t", &[layer]);
        let bundle = dir.path().join("bundle");
        let out = std::process::Command::new("umoci")
            .args(["raw", "unpack", "--rootless", "--image"])
            .arg(format!("{}:t", layout.display()))
            .arg(&bundle)
            .output()
            .expect("umoci (installed by scripts/setup.sh) is needed for this test");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(fs::read(bundle.join("etc/hello")).unwrap(), b"hello\n");
        assert_eq!(fs::metadata(bundle.join("var/big")).unwrap().len(), 1 << 20);
    }
}
