//! Writes images and checks them with real OCI tools: skopeo and umoci.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bulwark_emit::{
    compress_layer, write, Compression, Error, History, ImageSpec, LayerBlob, Target, Written,
};
use bulwark_oci::media_type::{
    INDEX as MEDIA_TYPE_INDEX, LAYER_ZSTD as MEDIA_TYPE_LAYER_ZSTD, MANIFEST as MEDIA_TYPE_MANIFEST,
};
use bulwark_oci::Error as OciError;
use serde_json::Value;

/// An uncompressed layer tar holding `files` (and their parent directories),
/// with deterministic metadata.
fn layer_tar(files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _) in files {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(format!("{}/", p.display()));
            parent = p.parent();
        }
    }
    for dir in dirs {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder
            .append_data(&mut header, dir, std::io::empty())
            .unwrap();
    }
    for (path, content) in files {
        let mut header = tar::Header::new_ustar();
        header.set_mode(0o644);
        header.set_size(content.len() as u64);
        builder
            .append_data(&mut header, path, content.as_bytes())
            .unwrap();
    }
    builder.into_inner().unwrap()
}

fn layer(dir: &Path, files: &[(&str, &str)], compression: Compression) -> LayerBlob {
    compress_layer(&layer_tar(files)[..], compression, dir).unwrap()
}

fn image(arch: &str, layers: Vec<LayerBlob>) -> ImageSpec {
    let history = layers
        .iter()
        .enumerate()
        .map(|(i, _)| History {
            created_by: format!("bulwark layer {i}"),
            comment: None,
            empty_layer: false,
        })
        .chain([History {
            created_by: "bulwark config".into(),
            comment: Some("entrypoint".into()),
            empty_layer: true,
        }])
        .collect();
    ImageSpec {
        architecture: arch.into(),
        layers,
        history,
        entrypoint: Some(vec!["/bin/hello".into()]),
        cmd: Some(vec!["--world".into()]),
        env: vec!["PATH=/usr/bin:/bin".into(), "LANG=C.UTF-8".into()],
        workdir: Some("/srv".into()),
        user: Some("65532:65532".into()),
        labels: BTreeMap::from([
            ("z.last".into(), "2".into()),
            ("a.first".into(), "1".into()),
        ]),
        created: 1_700_000_000,
        manifest_annotations: BTreeMap::from([(
            "org.opencontainers.image.title".into(),
            "hello".into(),
        )]),
        ..ImageSpec::default()
    }
}

fn layout(dir: &Path, tag: &str) -> Target {
    Target::OciLayout {
        dir: dir.to_owned(),
        tag: tag.into(),
    }
}

fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("`{program}` must be installed: {err}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn skopeo(args: &[&str]) -> Value {
    let mut all = vec!["--insecure-policy"];
    all.extend_from_slice(args);
    serde_json::from_slice(&run("skopeo", &all)).unwrap()
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn umoci_unpack(image: &str, bundle: &Path) {
    run(
        "umoci",
        &["unpack", "--rootless", "--image", image, path_str(bundle)],
    );
}

fn layer_digests(blobs: &[&LayerBlob]) -> Vec<Value> {
    blobs
        .iter()
        .map(|b| Value::String(b.digest.clone()))
        .collect()
}

#[test]
fn layout_reads_back_with_skopeo_and_umoci() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let base = layer(
        &cache,
        &[("etc/os-release", "ID=debian\n")],
        Compression::Gzip,
    );
    let app = layer(
        &cache,
        &[
            ("srv/hello.txt", "hello world\n"),
            ("bin/hello", "#!/bin/sh\n"),
        ],
        Compression::Gzip,
    );
    let dir = tmp.path().join("out/layout");
    let written = write(
        &layout(&dir, "1.0"),
        &[image("amd64", vec![base.clone(), app.clone()])],
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(written.media_type, MEDIA_TYPE_MANIFEST);

    let target = format!("oci:{}:1.0", dir.display());
    let info = skopeo(&["inspect", &target]);
    assert_eq!(info["Digest"], written.digest.as_str());
    assert_eq!(info["Architecture"], "amd64");
    assert_eq!(info["Os"], "linux");
    assert_eq!(info["Created"], "2023-11-14T22:13:20Z");
    assert_eq!(info["Layers"], Value::Array(layer_digests(&[&base, &app])));
    assert_eq!(info["Labels"]["a.first"], "1");
    assert_eq!(info["Env"][1], "LANG=C.UTF-8");

    let config = skopeo(&["inspect", "--config", &target]);
    assert_eq!(config["config"]["Entrypoint"][0], "/bin/hello");
    assert_eq!(config["config"]["Cmd"][0], "--world");
    assert_eq!(config["config"]["WorkingDir"], "/srv");
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        Value::Array(vec![
            base.diff_id.clone().into(),
            app.diff_id.clone().into()
        ])
    );
    assert_eq!(config["history"].as_array().unwrap().len(), 3);
    assert_eq!(config["history"][2]["empty_layer"], true);

    let raw = skopeo(&["inspect", "--raw", &target]);
    assert_eq!(raw["mediaType"], MEDIA_TYPE_MANIFEST);
    assert_eq!(
        raw["annotations"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );

    let bundle = tmp.path().join("bundle");
    umoci_unpack(&format!("{}:1.0", dir.display()), &bundle);
    let rootfs = bundle.join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("srv/hello.txt")).unwrap(),
        "hello world\n"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/os-release")).unwrap(),
        "ID=debian\n"
    );
    // No staging directory or temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["layout"]);
}

#[test]
fn tags_accumulate_and_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let one = layer(tmp.path(), &[("one", "1")], Compression::Gzip);
    let two = layer(tmp.path(), &[("two", "2")], Compression::Gzip);
    let three = layer(tmp.path(), &[("three", "3")], Compression::Gzip);
    let dir = tmp.path().join("layout");
    let a = write(
        &layout(&dir, "a"),
        &[image("amd64", vec![one])],
        &BTreeMap::new(),
    )
    .unwrap();
    let b = write(
        &layout(&dir, "b"),
        &[image("amd64", vec![two])],
        &BTreeMap::new(),
    )
    .unwrap();
    assert_ne!(a.digest, b.digest);
    let inspect = |tag: &str| skopeo(&["inspect", &format!("oci:{}:{tag}", dir.display())]);
    assert_eq!(inspect("a")["Digest"], a.digest.as_str());
    assert_eq!(inspect("b")["Digest"], b.digest.as_str());

    // Re-tagging `a` replaces its entry and keeps `b`.
    let a2 = write(
        &layout(&dir, "a"),
        &[image("amd64", vec![three])],
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(inspect("a")["Digest"], a2.digest.as_str());
    assert_eq!(inspect("b")["Digest"], b.digest.as_str());
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let tags: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(tags, ["b", "a"]);

    // Rewriting the same image is idempotent.
    let again = write(
        &layout(&dir, "b"),
        &[image("amd64", vec![two_again(&tmp)])],
        &BTreeMap::new(),
    );
    assert_eq!(again.unwrap().digest, b.digest);
}

fn two_again(tmp: &tempfile::TempDir) -> LayerBlob {
    layer(tmp.path(), &[("two", "2")], Compression::Gzip)
}

#[test]
fn multi_arch_index() {
    let tmp = tempfile::tempdir().unwrap();
    let amd = layer(tmp.path(), &[("arch", "amd64\n")], Compression::Gzip);
    let arm = layer(tmp.path(), &[("arch", "arm64\n")], Compression::Gzip);
    let dir = tmp.path().join("layout");
    let annotations = BTreeMap::from([("org.opencontainers.image.version".into(), "1".into())]);
    let written = write(
        &layout(&dir, "multi"),
        &[
            image("amd64", vec![amd.clone()]),
            image("arm64", vec![arm.clone()]),
        ],
        &annotations,
    )
    .unwrap();
    assert_eq!(written.media_type, MEDIA_TYPE_INDEX);
    assert_eq!(written.manifests.len(), 2);

    let target = format!("oci:{}:multi", dir.display());
    let raw = skopeo(&["inspect", "--raw", &target]);
    assert_eq!(raw["mediaType"], MEDIA_TYPE_INDEX);
    assert_eq!(raw["annotations"]["org.opencontainers.image.version"], "1");
    let manifests = raw["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    assert_eq!(manifests[0]["platform"]["architecture"], "amd64");
    assert_eq!(manifests[1]["platform"]["architecture"], "arm64");
    assert_eq!(manifests[1]["platform"]["variant"], "v8");
    assert_eq!(manifests[1]["digest"], written.manifests[1].digest.as_str());

    let arm_info = skopeo(&["--override-arch", "arm64", "inspect", &target]);
    assert_eq!(arm_info["Architecture"], "arm64");
    // `Digest` is that of the index the tag names; `Layers` are arm64's.
    assert_eq!(arm_info["Digest"], written.digest.as_str());
    assert_eq!(arm_info["Layers"], Value::Array(layer_digests(&[&arm])));
    let amd_info = skopeo(&["--override-arch", "amd64", "inspect", &target]);
    assert_eq!(amd_info["Architecture"], "amd64");
    assert_eq!(amd_info["Layers"], Value::Array(layer_digests(&[&amd])));

    // umoci can't unpack an index: copy the arm64 image out, then unpack it.
    let single = tmp.path().join("single");
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "--override-arch",
            "arm64",
            "copy",
            &target,
            &format!("oci:{}:arm", single.display()),
        ],
    );
    let bundle = tmp.path().join("bundle");
    umoci_unpack(&format!("{}:arm", single.display()), &bundle);
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/arch")).unwrap(),
        "arm64\n"
    );

    let dup = write(
        &layout(&tmp.path().join("dup"), "x"),
        &[image("amd64", vec![amd.clone()]), image("amd64", vec![amd])],
        &BTreeMap::new(),
    );
    assert!(matches!(dup, Err(Error::DuplicatePlatform(_))), "{dup:?}");
}

#[test]
fn docker_archive_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let base = layer(tmp.path(), &[("etc/hostname", "box\n")], Compression::Gzip);
    let app = layer(tmp.path(), &[("srv/hello.txt", "hi\n")], Compression::Gzip);
    let file = tmp.path().join("image.tar");
    let target = Target::DockerArchive {
        file: file.clone(),
        reference: "bulwark/hello:1.0".into(),
    };
    let written = write(
        &target,
        &[image("arm64", vec![base.clone(), app.clone()])],
        &BTreeMap::new(),
    )
    .unwrap();

    let archive = format!("docker-archive:{}", file.display());
    let info = skopeo(&["inspect", &archive]);
    assert_eq!(info["Architecture"], "arm64");
    // docker-archive layers are addressed by their uncompressed diff IDs.
    assert_eq!(
        info["Layers"],
        Value::Array(vec![
            base.diff_id.clone().into(),
            app.diff_id.clone().into()
        ])
    );
    let config = skopeo(&["inspect", "--config", &archive]);
    assert_eq!(config["config"]["Entrypoint"][0], "/bin/hello");

    // The same file is an OCI archive with our exact manifest.
    let oci = skopeo(&["inspect", &format!("oci-archive:{}:1.0", file.display())]);
    assert_eq!(oci["Digest"], written.digest.as_str());

    let other = tmp.path().join("other");
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            &archive,
            &format!("oci:{}:t", other.display()),
        ],
    );
    let bundle = tmp.path().join("bundle");
    umoci_unpack(&format!("{}:t", other.display()), &bundle);
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/srv/hello.txt")).unwrap(),
        "hi\n"
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/hostname")).unwrap(),
        "box\n"
    );

    // Entries are sorted, owned by 0:0, stamped with the creation time.
    let listing = String::from_utf8(run(
        "tar",
        &[
            "--list",
            "--verbose",
            "--numeric-owner",
            "--full-time",
            "-f",
            path_str(&file),
        ],
    ))
    .unwrap();
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert!(names.contains(&"manifest.json") && names.contains(&"repositories"));
    for line in listing.lines() {
        assert!(line.contains(" 0/0 "), "{line}");
        assert!(line.contains("2023-11-14 22:13:20"), "{line}");
    }
    // `manifest.json` names the image as docker does.
    let out = run("tar", &["-xOf", path_str(&file), "manifest.json"]);
    let manifest: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(manifest[0]["RepoTags"][0], "bulwark/hello:1.0");
}

#[test]
fn docker_archive_rejects_zstd_and_multi_arch() {
    let tmp = tempfile::tempdir().unwrap();
    let zstd = layer(tmp.path(), &[("a", "a")], Compression::Zstd);
    let gzip = layer(tmp.path(), &[("a", "a")], Compression::Gzip);
    let file = tmp.path().join("image.tar");
    let target = Target::DockerArchive {
        file: file.clone(),
        reference: "app".into(),
    };
    let err = write(&target, &[image("amd64", vec![zstd])], &BTreeMap::new()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("docker-archive needs gzip layers"),
        "{err}"
    );
    let err = write(
        &target,
        &[
            image("amd64", vec![gzip.clone()]),
            image("arm64", vec![gzip]),
        ],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::DockerArchiveOneImage(2)), "{err}");
    assert!(!file.exists());
}

#[test]
fn docker_archive_does_not_replace_a_directory_or_a_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let gzip = layer(tmp.path(), &[("a", "a")], Compression::Gzip);
    let dir = tmp.path().join("a-dir");
    std::fs::create_dir(&dir).unwrap();
    let fifo = tmp.path().join("a-fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for path in [&dir, &fifo] {
        let target = Target::DockerArchive {
            file: path.clone(),
            reference: "app".into(),
        };
        let err = write(
            &target,
            &[image("amd64", vec![gzip.clone()])],
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Oci(OciError::NotAFile(..))), "{err}");
        assert!(err.to_string().contains("is not a regular file"), "{err}");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    assert!(dir.is_dir());
    // A regular file is replaced, as before.
    let file = tmp.path().join("old.tar");
    std::fs::write(&file, b"old").unwrap();
    let target = Target::DockerArchive {
        file: file.clone(),
        reference: "app".into(),
    };
    write(&target, &[image("amd64", vec![gzip])], &BTreeMap::new()).unwrap();
    assert_ne!(std::fs::read(&file).unwrap(), b"old");
}

#[test]
fn zstd_layout_inspects() {
    let tmp = tempfile::tempdir().unwrap();
    let blob = layer(tmp.path(), &[("etc/motd", "zstd!\n")], Compression::Zstd);
    let dir = tmp.path().join("layout");
    let written = write(
        &layout(&dir, "z"),
        &[image("amd64", vec![blob.clone()])],
        &BTreeMap::new(),
    )
    .unwrap();
    let target = format!("oci:{}:z", dir.display());
    let info = skopeo(&["inspect", &target]);
    assert_eq!(info["Digest"], written.digest.as_str());
    assert_eq!(info["Layers"][0], blob.digest.as_str(), "{info}");
    let raw = skopeo(&["inspect", "--raw", &target]);
    assert_eq!(raw["layers"][0]["mediaType"], MEDIA_TYPE_LAYER_ZSTD);
    // skopeo decompresses it while converting to gzip: the content survives.
    let gz = tmp.path().join("gz");
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "--dest-compress-format",
            "gzip",
            &target,
            &format!("oci:{}:g", gz.display()),
        ],
    );
    let bundle = tmp.path().join("bundle");
    umoci_unpack(&format!("{}:g", gz.display()), &bundle);
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/motd")).unwrap(),
        "zstd!\n"
    );
}

/// Writes the same inputs under different paths, layer caches and times.
#[test]
fn output_is_reproducible() {
    let write_all = |root: &Path| -> (Written, Written, Vec<u8>, Vec<u8>) {
        let cache = root.join("some/cache");
        std::fs::create_dir_all(&cache).unwrap();
        let a = layer(&cache, &[("usr/bin/a", "aaa")], Compression::Gzip);
        let b = layer(&cache, &[("usr/bin/b", "bbb")], Compression::Gzip);
        let dir = root.join("x").join("layout");
        let oci = write(
            &layout(&dir, "t"),
            &[
                image("amd64", vec![a.clone(), b.clone()]),
                image("armhf", vec![a.clone()]),
            ],
            &BTreeMap::new(),
        )
        .unwrap();
        let file = root.join("image.tar");
        let docker = write(
            &Target::DockerArchive {
                file: file.clone(),
                reference: "r:t".into(),
            },
            &[image("amd64", vec![a, b])],
            &BTreeMap::new(),
        )
        .unwrap();
        (
            oci,
            docker,
            std::fs::read(dir.join("index.json")).unwrap(),
            std::fs::read(file).unwrap(),
        )
    };
    let one = tempfile::tempdir().unwrap();
    let first = write_all(one.path());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let two = tempfile::Builder::new().prefix("other").tempdir().unwrap();
    let second = write_all(two.path());
    assert_eq!(first.0, second.0);
    assert_eq!(first.1, second.1);
    assert_eq!(first.2, second.2, "index.json differs");
    assert!(first.3 == second.3, "docker archives differ");
    // The single-image docker-archive and the amd64 entry of the index are
    // the same manifest.
    assert_eq!(first.1.digest, first.0.manifests[0].digest);
}

#[test]
fn failures_leave_previous_state() {
    let tmp = tempfile::tempdir().unwrap();
    let good = layer(tmp.path(), &[("ok", "ok")], Compression::Gzip);
    let mut missing = layer(tmp.path(), &[("gone", "gone")], Compression::Gzip);
    std::fs::remove_file(&missing.path).unwrap();

    // A new layout: nothing appears, no staging directory remains.
    let parent = tmp.path().join("out");
    let dir = parent.join("layout");
    let err = write(
        &layout(&dir, "t"),
        &[image("amd64", vec![good.clone(), missing.clone()])],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Oci(OciError::Io { .. })), "{err}");
    assert!(err.to_string().contains(path_str(&missing.path)), "{err}");
    assert!(!dir.exists());
    assert_eq!(std::fs::read_dir(&parent).unwrap().count(), 0);

    // An existing layout: `index.json` is untouched.
    write(
        &layout(&dir, "keep"),
        &[image("amd64", vec![good.clone()])],
        &BTreeMap::new(),
    )
    .unwrap();
    let before = std::fs::read(dir.join("index.json")).unwrap();
    write(
        &layout(&dir, "new"),
        &[image("amd64", vec![good.clone(), missing.clone()])],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert_eq!(std::fs::read(dir.join("index.json")).unwrap(), before);
    let blobs = dir.join("blobs/sha256");
    assert!(std::fs::read_dir(&blobs).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with('.')));

    // An existing archive is untouched, and no temporary file remains.
    let file = parent.join("image.tar");
    std::fs::write(&file, b"previous").unwrap();
    let archive = Target::DockerArchive {
        file: file.clone(),
        reference: "app:1".into(),
    };
    write(
        &archive,
        &[image("amd64", vec![good.clone(), missing.clone()])],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert_eq!(std::fs::read(&file).unwrap(), b"previous");
    assert_eq!(std::fs::read_dir(&parent).unwrap().count(), 2);

    // A layer whose file doesn't match its descriptor is refused.
    std::fs::write(&missing.path, b"short").unwrap();
    missing.size += 1;
    let err = write(&archive, &[image("amd64", vec![missing])], &BTreeMap::new()).unwrap_err();
    assert!(
        matches!(err, Error::Oci(OciError::SizeMismatch { .. })),
        "{err}"
    );
}

#[test]
fn refuses_to_clobber_other_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let blob = layer(tmp.path(), &[("a", "a")], Compression::Gzip);
    let dir = tmp.path().join("precious");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let err = write(
        &layout(&dir, "t"),
        &[image("amd64", vec![blob.clone()])],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Oci(OciError::NotALayout(_))), "{err}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    write(
        &layout(&empty, "t"),
        &[image("amd64", vec![blob])],
        &BTreeMap::new(),
    )
    .unwrap();
    assert!(empty.join("oci-layout").is_file());
}

#[test]
fn rejects_bad_input_before_writing() {
    let tmp = tempfile::tempdir().unwrap();
    let blob = layer(tmp.path(), &[("a", "a")], Compression::Gzip);
    let dir: PathBuf = tmp.path().join("layout");
    let mut spec = image("amd64", vec![blob.clone()]);
    spec.history.remove(0);
    let err = write(&layout(&dir, "t"), &[spec], &BTreeMap::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "image for `amd64` has 1 layers but 0 history entries with a layer"
    );
    let err = write(
        &layout(&dir, "t"),
        &[image("sparc", vec![blob.clone()])],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnknownArchitecture(_)), "{err}");
    let err = write(
        &layout(&dir, "bad tag"),
        &[image("amd64", vec![blob])],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::InvalidReference { .. }), "{err}");
    assert!(matches!(
        write(&layout(&dir, "t"), &[], &BTreeMap::new()),
        Err(Error::NoImages)
    ));
    assert!(!dir.exists());
}

/// Concurrent writers of different tags to one layout, new or existing, all
/// end up in `index.json`.
#[test]
fn concurrent_writers_keep_every_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let blobs: Vec<LayerBlob> = (0..6)
        .map(|i| layer(tmp.path(), &[("n", &i.to_string())], Compression::Gzip))
        .collect();
    let dir = tmp.path().join("layout");
    std::thread::scope(|scope| {
        for (i, blob) in blobs.iter().enumerate() {
            let dir = &dir;
            scope.spawn(move || {
                write(
                    &layout(dir, &format!("t{i}")),
                    &[image("amd64", vec![blob.clone()])],
                    &BTreeMap::new(),
                )
                .unwrap();
            });
        }
    });
    for (i, blob) in blobs.iter().enumerate() {
        let info = skopeo(&["inspect", &format!("oci:{}:t{i}", dir.display())]);
        assert_eq!(info["Layers"][0], blob.digest.as_str());
    }
}

#[test]
fn symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let blob = layer(tmp.path(), &[("a", "a")], Compression::Gzip);
    let real = tmp.path().join("real");
    write(
        &layout(&real, "one"),
        &[image("amd64", vec![blob.clone()])],
        &BTreeMap::new(),
    )
    .unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    write(
        &layout(&link, "two"),
        &[image("arm64", vec![blob.clone()])],
        &BTreeMap::new(),
    )
    .unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let info = skopeo(&["inspect", &format!("oci:{}:two", real.display())]);
    assert_eq!(info["Architecture"], "arm64");

    // A symlink to an empty directory is not replaced by a directory.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let to_empty = tmp.path().join("to-empty");
    std::os::unix::fs::symlink(&empty, &to_empty).unwrap();
    let err = write(
        &layout(&to_empty, "t"),
        &[image("amd64", vec![blob])],
        &BTreeMap::new(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Oci(OciError::NotALayout(_))), "{err}");
}
