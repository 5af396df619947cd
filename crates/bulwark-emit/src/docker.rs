//! Writing docker-archive tarballs (the `docker save` format).
//!
//! The archive is laid out like `docker save` of Docker 25+: the blobs sit in
//! `blobs/sha256/`, `manifest.json` and `repositories` name them for the
//! legacy loaders (`docker load`, `skopeo … docker-archive:`), and an OCI
//! `oci-layout` + `index.json` make the same file an `oci-archive:` too.
//! Layers stay gzip-compressed: every docker-archive reader decompresses
//! layers, and the config's diff IDs name the uncompressed content.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read};
use std::path::Path;

use bulwark_oci::{
    annotation, check_repository, check_tag, media_type, open_regular, to_json, ArchiveEntry,
    AtomicFile, Index, LayoutFile,
};

use crate::image::BuiltImage;
use crate::{Error, Written};

/// Writes `image` as a docker-archive at `file`, named `reference`
/// (`name:tag`; `name` alone means `name:latest`).
pub(crate) fn write_docker_archive(
    file: &Path,
    reference: &str,
    image: &BuiltImage<'_>,
    created: u64,
) -> Result<Written, Error> {
    let (name, tag) = split_reference(reference)?;
    let full = format!("{name}:{tag}");
    for layer in image.layers {
        if layer.media_type != media_type::LAYER_GZIP {
            return Err(Error::DockerArchiveNeedsGzip {
                digest: layer.digest.clone(),
                media_type: layer.media_type.clone(),
            });
        }
    }
    let blob_path = |digest: &str| format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let config_hex = image.config.descriptor.digest.trim_start_matches("sha256:");

    let manifest = [ArchiveEntry {
        config: blob_path(&image.config.descriptor.digest),
        repo_tags: Some(vec![full]),
        layers: image.layers.iter().map(|l| blob_path(&l.digest)).collect(),
    }];
    let repositories = BTreeMap::from([(name, BTreeMap::from([(tag, config_hex)]))]);
    let mut tagged = image.index_entry();
    tagged
        .annotations
        .insert(annotation::REF_NAME.to_owned(), tag.to_owned());
    let index = Index::new(vec![tagged], BTreeMap::new());
    let layout = LayoutFile::default();

    // Every entry, sorted by path: small JSON documents in memory, layers
    // streamed from their files.
    let mut entries: BTreeMap<String, Entry<'_>> = BTreeMap::new();
    entries.insert("blobs/".into(), Entry::Dir);
    entries.insert("blobs/sha256/".into(), Entry::Dir);
    entries.insert(
        blob_path(&image.config.descriptor.digest),
        Entry::Bytes(image.config.bytes.clone()),
    );
    entries.insert(
        blob_path(&image.manifest.descriptor.digest),
        Entry::Bytes(image.manifest.bytes.clone()),
    );
    for layer in image.layers {
        entries.insert(
            blob_path(&layer.digest),
            Entry::File(&layer.path, layer.size),
        );
    }
    entries.insert(
        "index.json".into(),
        Entry::Bytes(to_json(&index, "index.json")?),
    );
    entries.insert(
        "manifest.json".into(),
        Entry::Bytes(to_json(&manifest, "manifest.json")?),
    );
    entries.insert(
        "oci-layout".into(),
        Entry::Bytes(to_json(&layout, "oci-layout file")?),
    );
    entries.insert(
        "repositories".into(),
        Entry::Bytes(to_json(&repositories, "repositories file")?),
    );

    // Renaming over a device or pipe would replace it: `AtomicFile` refuses
    // one before anything is written. (A symlink is replaced, as any atomic
    // write replaces it, never its target.)
    let temp = AtomicFile::create(file)?;
    let temp_path = temp.path().to_owned();
    let write_err = |source| Error::io("write", &temp_path, source);
    let mut builder = tar::Builder::new(BufWriter::with_capacity(256 * 1024, temp));
    for (path, entry) in &entries {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(created);
        match entry {
            Entry::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, io::empty())
                    .map_err(write_err)?;
            }
            Entry::Bytes(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(bytes.len() as u64);
                builder
                    .append_data(&mut header, path, &bytes[..])
                    .map_err(write_err)?;
            }
            Entry::File(src, size) => {
                let reader = open_regular(src)?;
                let actual = reader
                    .metadata()
                    .map_err(|source| Error::io("read", src, source))?
                    .len();
                if actual != *size {
                    return Err(bulwark_oci::Error::SizeMismatch {
                        blob: src.display().to_string(),
                        expected: *size,
                        actual,
                    }
                    .into());
                }
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(*size);
                // `take` guards against the file growing meanwhile; a file
                // that shrank makes `append_data` fail.
                builder
                    .append_data(&mut header, path, reader.take(*size))
                    .map_err(|source| Error::io("copy a layer from", src, source))?;
            }
        }
    }
    let temp = builder
        .into_inner()
        .map_err(write_err)?
        .into_inner()
        .map_err(|err| write_err(err.into_error()))?;
    temp.commit()?;
    let manifest = &image.manifest.descriptor;
    Ok(Written {
        digest: manifest.digest.clone(),
        size: manifest.size,
        media_type: manifest.media_type.clone(),
        manifests: vec![image.index_entry()],
    })
}

enum Entry<'a> {
    Dir,
    Bytes(Vec<u8>),
    File(&'a Path, u64),
}

/// Splits `name[:tag]` and checks it is a valid docker reference: a
/// repository name ([`check_repository`]) and a tag ([`check_tag`]).
fn split_reference(reference: &str) -> Result<(&str, &str), Error> {
    let invalid = |reason: String| Error::InvalidReference {
        reference: reference.to_owned(),
        reason,
    };
    if reference.contains('@') {
        return Err(invalid(
            "digest references can't name an archived image".to_owned(),
        ));
    }
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    };
    check_tag(tag).map_err(invalid)?;
    check_repository(name).map_err(invalid)?;
    Ok((name, tag))
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references() {
        assert_eq!(split_reference("app").unwrap(), ("app", "latest"));
        assert_eq!(split_reference("app:1.0").unwrap(), ("app", "1.0"));
        assert_eq!(
            split_reference("localhost:5000/team/app:v2").unwrap(),
            ("localhost:5000/team/app", "v2")
        );
        assert_eq!(
            split_reference("localhost:5000/app").unwrap(),
            ("localhost:5000/app", "latest")
        );
        for bad in [
            "App:1",
            "app:",
            "app:-x",
            "app@sha256:00",
            "a//b",
            "",
            "app:1 2",
        ] {
            assert!(split_reference(bad).is_err(), "{bad}");
        }
    }
}
