//! OCI image layouts (image-spec v1.1 `image-layout.md`): `oci-layout`,
//! `index.json` and `blobs/sha256/`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::descriptor::Descriptor;
use crate::document::{to_json, Index, LayoutFile};
use crate::store::{BlobStore, ImageStore, MAX_DOCUMENT};
use crate::{annotation, media_type, open_regular, sha256_hex, write_atomic, Error};

/// The file that makes a directory an OCI layout.
pub(crate) const OCI_LAYOUT_FILE: &str = "oci-layout";
const INDEX_FILE: &str = "index.json";

/// An OCI image layout directory.
///
/// Reading never writes. Writers take [`Layout::lock`] (an exclusive
/// `flock` on `oci-layout`) around their read-modify-write of
/// `index.json`, which is replaced atomically; blobs are content-addressed,
/// so writing one before anything names it is safe.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
    blobs: PathBuf,
}

impl Layout {
    /// Opens the layout at `root`, checking its `oci-layout` file.
    pub fn open(root: &Path) -> Result<Self, Error> {
        let path = root.join(OCI_LAYOUT_FILE);
        let file = match open_regular(&path) {
            Ok(file) => file,
            Err(Error::Io { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Err(Error::NotALayout(root.to_owned()))
            }
            Err(Error::NotAFile(..)) => return Err(Error::NotALayout(root.to_owned())),
            Err(err) => return Err(err),
        };
        let bytes = read_bounded(file, &path, 1 << 16)?;
        let layout: LayoutFile =
            serde_json::from_slice(&bytes).map_err(|source| Error::InvalidJson {
                what: path.display().to_string(),
                source,
            })?;
        if !layout.image_layout_version.starts_with("1.") {
            return Err(Error::UnsupportedLayoutVersion {
                path,
                version: layout.image_layout_version,
            });
        }
        Ok(Self::at(root))
    }

    /// Makes an empty layout in the existing, empty directory `root`.
    pub fn create(root: &Path) -> Result<Self, Error> {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(root, fs::Permissions::from_mode(0o755))
            .map_err(|source| Error::io("set permissions of", root, source))?;
        let layout = Self::at(root);
        fs::create_dir_all(&layout.blobs)
            .map_err(|source| Error::io("create directory", &layout.blobs, source))?;
        write_atomic(
            &root.join(OCI_LAYOUT_FILE),
            &to_json(&LayoutFile::default(), "oci-layout file")?,
        )?;
        layout.write_index(&Index::new(Vec::new(), BTreeMap::new()))?;
        Ok(layout)
    }

    fn at(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            blobs: root.join("blobs").join("sha256"),
        }
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `blobs/sha256` directory.
    pub fn blob_dir(&self) -> &Path {
        &self.blobs
    }

    /// Takes the layout's exclusive advisory lock (`flock` on
    /// `oci-layout`), held until the returned file is dropped, so that
    /// concurrent writers adding tags do not lose each other's `index.json`
    /// entries.
    pub fn lock(&self) -> Result<File, Error> {
        let path = self.root.join(OCI_LAYOUT_FILE);
        let file = File::open(&path).map_err(|source| Error::io("open", &path, source))?;
        fs4::FileExt::lock(&file).map_err(|source| Error::io("lock", &path, source))?;
        Ok(file)
    }

    /// The path of the blob with `digest`; only well-formed sha256 digests
    /// name one, so a hostile document cannot name a file outside
    /// `blobs/sha256`.
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, Error> {
        let hex = sha256_hex(digest).ok_or_else(|| Error::InvalidDigest(digest.to_owned()))?;
        Ok(self.blobs.join(hex))
    }

    /// Whether the blob of `descriptor` is there with its size (its content
    /// is not read).
    pub fn has_blob(&self, descriptor: &Descriptor) -> bool {
        self.blob_path(&descriptor.digest).is_ok_and(|path| {
            fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == descriptor.size)
        })
    }

    /// Reads `index.json`; a missing one reads as empty.
    pub fn read_index(&self) -> Result<Index, Error> {
        let path = self.root.join(INDEX_FILE);
        let file = match open_regular(&path) {
            Ok(file) => file,
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(Index::new(Vec::new(), BTreeMap::new()))
            }
            Err(err) => return Err(err),
        };
        let bytes = read_bounded(file, &path, MAX_DOCUMENT)?;
        serde_json::from_slice(&bytes).map_err(|source| Error::InvalidJson {
            what: path.display().to_string(),
            source,
        })
    }

    /// Replaces `index.json` atomically.
    pub fn write_index(&self, index: &Index) -> Result<(), Error> {
        write_atomic(&self.root.join(INDEX_FILE), &to_json(index, "index.json")?)
    }

    /// Points `tag` at `descriptor` in `index.json`, replacing the entry
    /// that had this tag, if any, and keeping every other entry in order.
    /// The caller holds [`Layout::lock`].
    pub fn set_tag(&self, tag: &str, mut descriptor: Descriptor) -> Result<(), Error> {
        let mut index = self.read_index()?;
        index.manifests.retain(|d| d.ref_name() != Some(tag));
        descriptor
            .annotations
            .insert(annotation::REF_NAME.to_owned(), tag.to_owned());
        index.manifests.push(descriptor);
        if index.media_type.is_none() {
            index.media_type = Some(media_type::INDEX.to_owned());
        }
        self.write_index(&index)
    }

    /// Stores `bytes` as a blob and returns their descriptor. A blob that is
    /// already there with the right size is left alone.
    pub fn write_blob(&self, media_type: &str, bytes: &[u8]) -> Result<Descriptor, Error> {
        let descriptor = Descriptor::of_bytes(media_type, bytes);
        if !self.has_blob(&descriptor) {
            write_atomic(&self.blob_path(&descriptor.digest)?, bytes)?;
        }
        Ok(descriptor)
    }

    /// Stores a copy of the file at `src` as the blob of `descriptor`
    /// (which the caller computed); its size must be the descriptor's.
    ///
    /// Never a hard link: a layout shares no inode with a cache or another
    /// layout, so a blob overwritten in place in one of them cannot corrupt
    /// the others. The copy goes through `copy_file_range`, which file
    /// systems that can (btrfs, XFS) turn into a reflink.
    pub fn import_blob(&self, src: &Path, descriptor: &Descriptor) -> Result<(), Error> {
        let dest = self.blob_path(&descriptor.digest)?;
        let meta = crate::open_regular(src)?
            .metadata()
            .map_err(|source| Error::io("read", src, source))?;
        if meta.len() != descriptor.size {
            return Err(Error::SizeMismatch {
                blob: src.display().to_string(),
                expected: descriptor.size,
                actual: meta.len(),
            });
        }
        if self.has_blob(descriptor) {
            return Ok(());
        }
        fs::create_dir_all(&self.blobs)
            .map_err(|source| Error::io("create directory", &self.blobs, source))?;
        crate::copy_atomic(src, &dest).map(|_| ())
    }
}

/// Reads at most `limit` bytes of `file`; more is [`Error::TooLarge`].
fn read_bounded(file: File, path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::io("read", path, source))?;
    if bytes.len() as u64 > limit {
        return Err(Error::TooLarge {
            blob: path.display().to_string(),
            limit,
        });
    }
    Ok(bytes)
}

impl BlobStore for Layout {
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + Send + '_>, Error> {
        let path = self.blob_path(digest)?;
        match open_regular(&path) {
            Ok(file) => Ok(Box::new(file)),
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobMissing {
                    digest: digest.to_owned(),
                    location: self.root.display().to_string(),
                })
            }
            Err(Error::NotAFile(_, kind)) => Err(Error::BlobNotAFile {
                digest: digest.to_owned(),
                location: self.root.display().to_string(),
                kind,
            }),
            Err(err) => Err(err),
        }
    }

    fn blob_size(&self, digest: &str) -> Option<u64> {
        let path = self.blob_path(digest).ok()?;
        fs::metadata(path).ok().map(|m| m.len())
    }

    fn describe_blob(&self, digest: &str) -> String {
        match self.blob_path(digest) {
            Ok(path) => path.display().to_string(),
            Err(_) => format!("{}@{digest}", self.root.display()),
        }
    }
}

impl ImageStore for Layout {
    fn location(&self) -> String {
        format!("oci:{}", self.root.display())
    }

    /// The entry of `index.json` that `tag` names, or without a tag its only
    /// image (see [`Index::resolve`]).
    fn resolve(&self, tag: Option<&str>) -> Result<Descriptor, Error> {
        self.read_index()?.resolve(tag, &self.location())
    }

    /// The manifests the referrers index of `subject` (tagged
    /// `sha256-<hex>`) lists, then the untagged artifact manifests of
    /// `index.json` not listed there.
    fn referrer_candidates(&self, subject: &str) -> Result<Vec<(Descriptor, bool)>, Error> {
        let tag = crate::referrers_tag(subject)
            .ok_or_else(|| Error::InvalidDigest(subject.to_owned()))?;
        let index = self.read_index()?;
        let mut candidates: Vec<(Descriptor, bool)> = Vec::new();
        if let Some(referrers) = index.tagged(&tag) {
            let listed: Index = crate::read_json(self, referrers)?;
            candidates.extend(listed.manifests.into_iter().map(|d| (d, true)));
        }
        for descriptor in &index.manifests {
            if descriptor.artifact_type.is_some()
                && descriptor.media_type == media_type::MANIFEST
                && !candidates
                    .iter()
                    .any(|(d, _)| d.digest == descriptor.digest)
            {
                let mut descriptor = descriptor.clone();
                descriptor.annotations.remove(annotation::REF_NAME);
                candidates.push((descriptor, false));
            }
        }
        Ok(candidates)
    }
}
