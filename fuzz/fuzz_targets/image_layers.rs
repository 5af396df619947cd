//! Image layers (tar streams, whiteouts across layers, symlinks, hard
//! links, the dpkg database and os-release inside them): opening an OCI
//! layout whose two layers are arbitrary bytes never panics, and whatever
//! it then reads stays inside the image.
#![no_main]
use std::fs;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fn put(dir: &Path, bytes: &[u8]) -> String {
    let hex = hex::encode(Sha256::digest(bytes));
    let _ = fs::write(dir.join("blobs/sha256").join(&hex), bytes);
    format!("sha256:{hex}")
}

fn descriptor(media_type: &str, digest: &str, size: usize) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = rest.len() * usize::from(split) / 255;
    let layers = [&rest[..at], &rest[at..]];
    let Ok(tmp) = tempfile::tempdir() else {
        return;
    };
    let dir = tmp.path();
    if fs::create_dir_all(dir.join("blobs/sha256")).is_err() {
        return;
    }
    let _ = fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#);
    let tar = "application/vnd.oci.image.layer.v1.tar";
    let mut layer_descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    for layer in layers {
        let digest = put(dir, layer);
        layer_descriptors.push(descriptor(tar, &digest, layer.len()));
        diff_ids.push(format!("\"{digest}\""));
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let config_digest = put(dir, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[{}]}}"#,
        descriptor(
            "application/vnd.oci.image.config.v1+json",
            &config_digest,
            config.len()
        ),
        layer_descriptors.join(",")
    );
    let manifest_digest = put(dir, manifest.as_bytes());
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
        descriptor(
            "application/vnd.oci.image.manifest.v1+json",
            &manifest_digest,
            manifest.len()
        )
    );
    let _ = fs::write(dir.join("index.json"), index);

    let Ok((target, _)) = bulwark_image::parse_target(&format!("oci:{}", dir.display())) else {
        return;
    };
    let Ok(images) = bulwark_image::open(&target, None) else {
        return;
    };
    for image in images {
        let files = &image.files;
        let Ok(list) = files.list() else {
            continue;
        };
        for path in list.iter().take(64) {
            assert!(path.starts_with('/') && !path.split('/').any(|p| p == ".."), "{path}");
            let _ = files.read(path, 1 << 20);
            let _ = files.metadata(path);
        }
        for path in ["/etc/os-release", "/var/lib/dpkg/status", "/etc/../../etc/passwd"] {
            let _ = files.read(path, 1 << 20);
        }
        let _ = files.for_each_file(&mut |_, _| Ok(()));
    }
});
