//! Reading OCI layouts, docker-archives and root filesystems.

#![allow(clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bulwark_image::{open, open_cached, parse_target, Contents, Error, FileKind, LayerCache};
use bulwark_oci::{Error as OciError, ImageRef as Target};
use common::*;
use serde_json::json;

fn oci(dir: &Path, tag: Option<&str>) -> Target {
    Target::Oci {
        dir: dir.to_owned(),
        tag: tag.map(Into::into),
    }
}

fn names(contents: &Contents) -> Vec<String> {
    contents
        .packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect()
}

/// Every file of the merged filesystem with its content.
fn all_files(contents: &Contents) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    contents
        .files
        .for_each_file(&mut |path, content| {
            let mut bytes = Vec::new();
            content.read_to_end(&mut bytes)?;
            assert!(files.insert(path.to_owned(), bytes).is_none());
            Ok(())
        })
        .unwrap();
    files
}

/// Three layers (gzip, zstd, plain) exercising whiteouts, opaque
/// directories, hard links and replaced files.
fn layered_image(dir: &Path, zstd_layer: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let big = vec![b'x'; 3 << 20];
    let l1 = tar(&[
        E::Dir("./"),
        E::Dir("./etc/"),
        E::Symlink("./etc/os-release", "../usr/lib/os-release"),
        E::Dir("./usr/"),
        E::Dir("./usr/lib/"),
        E::File(
            "./usr/lib/os-release",
            b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
        ),
        E::Dir("./var/lib/dpkg/status.d/"),
        E::File(
            "./var/lib/dpkg/status.d/bsdutils",
            &stanza("bsdutils", "1:2.38.1-5+b1", Some("util-linux (2.38.1-5)")),
        ),
        E::File(
            "./var/lib/dpkg/status.d/bsdutils.md5sums",
            b"0123456789abcdef0123456789abcdef  usr/bin/logger\n",
        ),
        E::File("./var/lib/dpkg/status.d/gone", &stanza("gone", "1.0", None)),
        E::Dir("./opt/app/"),
        E::File("./opt/app/old", b"old"),
        E::Dir("./opt/app/sub/"),
        E::File("./opt/app/sub/deep", b"deep"),
        E::File("./opt/big", &big),
        E::File("./usr/bin/logger", b"#!logger"),
        E::Dir("./replaced/"),
        E::File("./replaced/child", b"child"),
    ]);
    let l2 = tar(&[
        E::File("./var/lib/dpkg/status.d/.wh.gone", b""),
        E::File(
            "./var/lib/dpkg/status.d/base-files",
            &stanza("base-files", "12.4+deb12u5", None),
        ),
        E::File("./opt/app/new", b"new"),
        E::File("./opt/app/.wh..wh..opq", b""),
        E::Hardlink("./opt/app/big-link", "opt/big"),
        E::File("./replaced", b"now a file"),
    ]);
    let l3 = tar(&[
        E::File("./usr/bin/logger", b"#!logger v2"),
        E::File("./.wh.nothing", b""),
    ]);
    let layout = Layout::new(dir);
    let second = if zstd_layer {
        (ZSTD, zstd(&l2), l2.clone())
    } else {
        (TAR, l2.clone(), l2.clone())
    };
    let manifest = layout.image(
        &[
            (GZIP, gzip(&l1), l1.clone()),
            second,
            (TAR, l3.clone(), l3.clone()),
        ],
        "amd64",
    );
    layout.top(vec![with(
        manifest,
        json!({"annotations": {"org.opencontainers.image.ref.name": "latest"}}),
    )]);
    (l1, l2, l3)
}

fn check_layered(image: &Contents) {
    assert_eq!(
        names(image),
        ["base-files 12.4+deb12u5", "bsdutils 1:2.38.1-5+b1"]
    );
    let bsdutils = &image.packages[1];
    assert_eq!(bsdutils.source_name, "util-linux");
    assert_eq!(bsdutils.source_version, "2.38.1-5");
    assert!(bsdutils.installed);
    assert_eq!(bsdutils.files, ["/usr/bin/logger"]);
    assert_eq!(
        bsdutils.md5sums["/usr/bin/logger"],
        "0123456789abcdef0123456789abcdef"
    );
    let base = &image.packages[0];
    assert_eq!(
        (base.source_name.as_str(), base.source_version.as_str()),
        ("base-files", "12.4+deb12u5")
    );
    let os = image.os.as_ref().unwrap();
    assert_eq!(os.id, "debian");
    assert_eq!(os.version_id.as_deref(), Some("12"));
    assert_eq!(image.platform.as_deref(), Some("linux/amd64"));

    let files = all_files(image);
    let list = image.files.list().unwrap();
    assert_eq!(list, files.keys().cloned().collect::<Vec<_>>());
    assert_eq!(
        list,
        [
            "/opt/app/big-link",
            "/opt/app/new",
            "/opt/big",
            "/replaced",
            "/usr/bin/logger",
            "/usr/lib/os-release",
            "/var/lib/dpkg/status.d/base-files",
            "/var/lib/dpkg/status.d/bsdutils",
            "/var/lib/dpkg/status.d/bsdutils.md5sums",
        ]
    );
    let read = |p: &str| image.files.read(p, 64 << 20).unwrap();
    assert_eq!(
        read("/usr/bin/logger").as_deref(),
        Some(&b"#!logger v2"[..])
    );
    assert_eq!(
        read("/opt/app/old"),
        None,
        "opaque directory hides lower files"
    );
    assert_eq!(read("/opt/app/sub/deep"), None);
    assert_eq!(read("/opt/app/new").as_deref(), Some(&b"new"[..]));
    assert_eq!(read("/replaced").as_deref(), Some(&b"now a file"[..]));
    assert_eq!(read("/replaced/child"), None);
    assert_eq!(read("/var/lib/dpkg/status.d/gone"), None);
    assert_eq!(read("/etc/os-release"), read("/usr/lib/os-release"));
    assert_eq!(read("/opt/app/big-link").unwrap().len(), 3 << 20);
    assert_eq!(files["/opt/big"], files["/opt/app/big-link"]);
    let meta = |p: &str| image.files.metadata(p).unwrap();
    let link = meta("/etc/os-release").unwrap();
    assert_eq!(
        (link.kind, link.link.as_deref()),
        (FileKind::Symlink, Some("../usr/lib/os-release"))
    );
    let big = meta("/opt/app/big-link").unwrap();
    assert_eq!(
        (big.kind, big.size, big.mode, big.uid),
        (FileKind::File, 3 << 20, 0o644, 0)
    );
    assert_eq!(meta("/opt/app").unwrap().kind, FileKind::Dir);
    assert_eq!(
        meta("/usr/bin").unwrap().kind,
        FileKind::Dir,
        "implied by its files"
    );
    assert_eq!(meta("/opt/app/old"), None);
    for (path, bytes) in &files {
        assert_eq!(read(path).as_ref(), Some(bytes), "{path}");
    }
}

#[test]
fn oci_layout_layers_merge_with_whiteouts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("img");
    layered_image(&dir, true);
    let images = open(&oci(&dir, None), Some("linux/arm64")).unwrap();
    assert_eq!(images.len(), 1, "a single manifest ignores the platform");
    let image = &images[0];
    check_layered(image);
    assert_eq!(image.kind, "oci");
    assert_eq!(image.annotations["org.example"], "amd64");
    assert_eq!(image.config.as_ref().unwrap()["config"]["User"], "65532");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        image.manifest_digest.as_deref(),
        index["manifests"][0]["digest"].as_str()
    );
    // The same through the tag.
    let tagged = open(&oci(&dir, Some("latest")), None).unwrap();
    assert_eq!(names(&tagged[0]), names(image));
}

/// umoci, an independent implementation, unpacks the same layers to the
/// same files.
#[test]
fn whiteouts_agree_with_umoci() {
    assert!(have("umoci"), "umoci is needed: run scripts/setup.sh");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("img");
    layered_image(&dir, false); // umoci 0.4 cannot unpack zstd
    let bundle = tmp.path().join("bundle");
    let out = Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:latest", dir.display()))
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = all_files(&open(&oci(&dir, None), None).unwrap()[0]);
    let rootfs = open(
        &Target::Rootfs {
            dir: bundle.join("rootfs"),
        },
        None,
    )
    .unwrap();
    let theirs = all_files(&rootfs[0]);
    assert_eq!(ours, theirs);
    assert_eq!(
        names(&rootfs[0]),
        ["base-files 12.4+deb12u5", "bsdutils 1:2.38.1-5+b1"]
    );
}

#[test]
fn one_changed_byte_in_a_layer_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("img");
    layered_image(&dir, true);
    let manifest: serde_json::Value = {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        let digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
        serde_json::from_slice(&std::fs::read(dir.join("blobs/sha256").join(&digest[7..])).unwrap())
            .unwrap()
    };
    for i in 0..3 {
        let digest = manifest["layers"][i]["digest"].as_str().unwrap();
        let path = dir.join("blobs/sha256").join(&digest[7..]);
        let original = std::fs::read(&path).unwrap();
        for offset in [original.len() / 2, original.len() - 1] {
            let mut bytes = original.clone();
            bytes[offset] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            let err = open(&oci(&dir, None), None).err().unwrap();
            assert!(
                matches!(err, Error::Oci(OciError::DigestMismatch { .. })),
                "layer {i}: {err}"
            );
            let msg = err.to_string();
            assert!(msg.contains(&digest[7..]), "{msg}");
            assert!(msg.contains("does not match its digest"), "{msg}");
        }
        std::fs::write(&path, &original).unwrap();
    }
    // The config and the manifest are checked too.
    for digest in [manifest["config"]["digest"].as_str().unwrap().to_owned(), {
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
        index["manifests"][0]["digest"].as_str().unwrap().to_owned()
    }] {
        let path = dir.join("blobs/sha256").join(&digest[7..]);
        let original = std::fs::read(&path).unwrap();
        let mut bytes = original.clone();
        let last = bytes.len() - 1;
        bytes[last] = b' ';
        std::fs::write(&path, &bytes).unwrap();
        let err = open(&oci(&dir, None), None).err().unwrap();
        assert!(err.to_string().contains(&digest[7..]), "{err}");
        std::fs::write(&path, &original).unwrap();
    }
    assert!(open(&oci(&dir, None), None).is_ok());
}

/// An index with two platforms (and a bulwark-style SBOM artifact and
/// referrers tag beside the image).
fn multi_platform(dir: &Path) {
    let layout = Layout::new(dir);
    let mut manifests = Vec::new();
    for (arch, variant, pkg) in [
        ("amd64", None, "only-amd64"),
        ("arm64", Some("v8"), "only-arm64"),
    ] {
        let l = tar(&[E::File(
            &format!("var/lib/dpkg/status.d/{pkg}"),
            &stanza(pkg, "1.0", None),
        )]);
        let m = layout.image(&[(GZIP, gzip(&l), l.clone())], arch);
        let mut platform = json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = json!(v);
        }
        manifests.push(with(m, json!({"platform": platform})));
    }
    let index = layout.index(manifests);
    let empty = layout.blob("application/vnd.oci.empty.v1+json", b"{}");
    let sbom = layout.blob("application/spdx+json", b"{\"spdxVersion\":\"SPDX-2.3\"}");
    let artifact = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/spdx+json",
        "config": empty,
        "layers": [sbom],
        "subject": index,
    });
    let artifact = layout.blob(
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&artifact).unwrap(),
    );
    let referrers = layout.index(vec![with(
        artifact.clone(),
        json!({"artifactType": "application/spdx+json"}),
    )]);
    let hex = index["digest"].as_str().unwrap()[7..].to_owned();
    layout.top(vec![
        with(
            index,
            json!({"annotations": {"org.opencontainers.image.ref.name": "v1"}}),
        ),
        with(artifact, json!({"artifactType": "application/spdx+json"})),
        with(
            referrers,
            json!({"annotations": {"org.opencontainers.image.ref.name": format!("sha256-{hex}")}}),
        ),
    ]);
}

#[test]
fn platforms_are_selected_from_an_index() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("multi");
    multi_platform(&dir);
    for (platform, pkg) in [
        ("linux/amd64", "only-amd64"),
        ("amd64", "only-amd64"),
        ("x86_64", "only-amd64"),
        ("linux/arm64", "only-arm64"),
        ("linux/arm64/v8", "only-arm64"),
        ("aarch64", "only-arm64"),
    ] {
        let images = open(&oci(&dir, None), Some(platform)).unwrap();
        assert_eq!(images.len(), 1, "{platform}");
        assert_eq!(images[0].packages[0].name, pkg, "{platform}");
    }
    let all = open(&oci(&dir, Some("v1")), None).unwrap();
    let platforms: Vec<_> = all.iter().map(|c| c.platform.clone().unwrap()).collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
    assert_ne!(all[0].manifest_digest, all[1].manifest_digest);

    let err = open(&oci(&dir, None), Some("linux/s390x")).err().unwrap();
    assert!(matches!(err, Error::NoPlatform { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("linux/s390x") && msg.contains("linux/amd64, linux/arm64"),
        "{msg}"
    );
    assert!(matches!(
        open(&oci(&dir, None), Some("linux//x")).err().unwrap(),
        Error::BadPlatform { .. }
    ));
}

#[test]
fn an_index_cannot_relabel_an_image_as_another_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("relabelled");
    let layout = Layout::new(&dir);
    let l = tar(&[E::File(
        "var/lib/dpkg/status.d/only-arm64",
        &stanza("only-arm64", "1.0", None),
    )]);
    // An arm64 image (its config says so), listed in the index as amd64.
    let m = layout.image(&[(GZIP, gzip(&l), l.clone())], "arm64");
    let listed = with(
        m.clone(),
        json!({"platform": {"os": "linux", "architecture": "amd64"}}),
    );
    let index = layout.index(vec![listed]);
    layout.top(vec![with(
        index,
        json!({"annotations": {"org.opencontainers.image.ref.name": "latest"}}),
    )]);
    for platform in [Some("linux/amd64"), None] {
        let err = open(&oci(&dir, None), platform).err().unwrap();
        let msg = err.to_string();
        assert!(
            msg.contains(m["digest"].as_str().unwrap())
                && msg.contains("as linux/amd64, but its config says linux/arm64"),
            "{msg}"
        );
    }
}

#[test]
fn tags_choose_among_images() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("dir:with:colons");
    let layout = Layout::new(&dir);
    let mut top = Vec::new();
    for tag in ["v1", "v2"] {
        let l = tar(&[E::File(
            &format!("var/lib/dpkg/status.d/pkg-{tag}"),
            &stanza(&format!("pkg-{tag}"), "1.0", None),
        )]);
        let m = layout.image(&[(TAR, l.clone(), l)], "amd64");
        top.push(with(
            m,
            json!({"annotations": {"org.opencontainers.image.ref.name": tag}}),
        ));
    }
    layout.top(top);
    let reference = |s: &str| {
        parse_target(&format!("oci:{}{s}", dir.display()))
            .unwrap()
            .0
    };
    let err = open(&reference(""), None).err().unwrap();
    assert!(
        matches!(err, Error::Oci(OciError::AmbiguousImage { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("v1, v2"), "{err}");
    let v2 = open(&reference(":v2"), None).unwrap();
    assert_eq!(v2[0].packages[0].name, "pkg-v2");
    assert_eq!(v2[0].target, format!("oci:{}:v2", dir.display()));
    let err = open(&reference(":v3"), None).err().unwrap();
    assert!(
        matches!(err, Error::Oci(OciError::TagNotFound { .. })),
        "{err}"
    );
}

#[test]
fn docker_archives_classic_and_oci_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("img");
    let (l1, l2, l3) = layered_image(&dir, false);

    // Docker 25's form: the OCI layout plus `manifest.json`, in one tar.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let mdigest = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("blobs/sha256").join(&mdigest[7..])).unwrap(),
    )
    .unwrap();
    let blob =
        |d: &serde_json::Value| format!("blobs/sha256/{}", &d["digest"].as_str().unwrap()[7..]);
    let docker_manifest = json!([{
        "Config": blob(&manifest["config"]),
        "RepoTags": ["example:latest"],
        "Layers": manifest["layers"].as_array().unwrap().iter().map(blob).collect::<Vec<_>>(),
    }]);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&docker_manifest).unwrap(),
    )
    .unwrap();
    let archive = tmp.path().join("docker25.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&archive).unwrap());
    builder.append_dir_all(".", &dir).unwrap();
    builder.into_inner().unwrap();
    let (target, kind) = parse_target(archive.to_str().unwrap()).unwrap();
    assert_eq!(kind, Some("docker-archive"));
    let images = open(&target, None).unwrap();
    check_layered(&images[0]);
    assert_eq!(images[0].kind, "docker-archive");
    assert_eq!(images[0].manifest_digest.as_deref(), Some(mdigest));

    // The classic form: `HEX.json` config, `HEX/layer.tar` layers checked
    // against the diff IDs, one of them a symlink as `docker save` writes.
    let config = std::fs::read(dir.join(blob(&manifest["config"]))).unwrap();
    let config_hex = &sha256(&config)[7..];
    let classic = tmp.path().join("classic.tar");
    let mut builder = tar::Builder::new(std::fs::File::create(&classic).unwrap());
    let mut add = |path: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        builder.append_data(&mut h, path, bytes).unwrap();
    };
    add(&format!("{config_hex}.json"), &config);
    let mut layer_names = Vec::new();
    for (i, l) in [&l1, &l2, &l3].into_iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        if i != 2 {
            add(&name, l);
        }
        layer_names.push(name);
    }
    // The last layer is a symlink to a copy elsewhere.
    add("shared/layer.tar", &l3);
    add(
        "manifest.json",
        &serde_json::to_vec(&json!([{"Config": format!("{config_hex}.json"), "RepoTags": null, "Layers": layer_names}]))
            .unwrap(),
    );
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    builder
        .append_link(&mut h, "layer2/layer.tar", "../shared/layer.tar")
        .unwrap();
    builder.into_inner().unwrap();
    let target = Target::DockerArchive {
        file: classic.clone(),
    };
    let images = open(&target, None).unwrap();
    check_layered(&images[0]);
    assert_eq!(images[0].manifest_digest, None);

    // Tampering with a classic layer is caught through the diff IDs.
    let mut bytes = std::fs::read(&classic).unwrap();
    let needle = b"#!logger v2";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    bytes[at + 3] = b'L';
    std::fs::write(&classic, &bytes).unwrap();
    let err = open(&target, None).err().unwrap();
    assert!(
        matches!(err, Error::Oci(OciError::DigestMismatch { .. })),
        "{err}"
    );
    assert!(
        err.to_string().contains("classic.tar!layer2/layer.tar"),
        "{err}"
    );
}

/// A test whose tool is missing fails, naming the tool, instead of passing
/// without having checked anything: this test binary runs the skopeo test
/// below again with a `PATH` where no tool can be found.
#[test]
fn a_missing_tool_fails_its_test() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "skopeo_docker_archive_reads_like_the_layout"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("1 failed"), "{text}");
    assert!(
        text.contains("skopeo (installed by scripts/setup.sh) is needed"),
        "{text}"
    );
}

/// skopeo converts our layout into the classic docker-archive form.
#[test]
fn skopeo_docker_archive_reads_like_the_layout() {
    assert!(
        have("skopeo"),
        "skopeo (installed by scripts/setup.sh) is needed for this test"
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("img");
    layered_image(&dir, false); // docker-archives cannot hold zstd
    let archive = tmp.path().join("skopeo.tar");
    let out = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet"])
        .arg(format!("oci:{}:latest", dir.display()))
        .arg(format!(
            "docker-archive:{}:example:latest",
            archive.display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = open(&oci(&dir, None), None).unwrap();
    let theirs = open(&Target::DockerArchive { file: archive }, None).unwrap();
    check_layered(&theirs[0]);
    assert_eq!(all_files(&ours[0]), all_files(&theirs[0]));
    // A classic archive has no manifest digest; its config (the same bytes
    // as the layout's) identifies it.
    assert_eq!(theirs[0].manifest_digest, None);
    assert!(ours[0].config_digest.is_some());
    assert_eq!(theirs[0].config_digest, ours[0].config_digest);
}

#[test]
fn packages_between_unpacking_and_configuring_count_as_installed() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dpkg = root.join("var/lib/dpkg");
    std::fs::create_dir_all(&dpkg).unwrap();
    let states = [
        ("install ok installed", true),
        ("install ok unpacked", true),
        ("install ok half-configured", true),
        ("reinstreq ok half-installed", true),
        ("install ok triggers-awaited", true),
        ("install ok triggers-pending", true),
        ("hold ok installed", true),
        ("deinstall ok config-files", false),
    ];
    let status: String = states
        .iter()
        .enumerate()
        .map(|(i, (status, _))| {
            format!("Package: p{i}\nStatus: {status}\nArchitecture: amd64\nVersion: 1.0-1\n\n")
        })
        .collect();
    std::fs::write(dpkg.join("status"), status).unwrap();
    let images = open(
        &Target::Rootfs {
            dir: root.to_owned(),
        },
        None,
    )
    .unwrap();
    let found: Vec<(&str, bool)> = images[0]
        .packages
        .iter()
        .map(|p| (p.status.as_str(), p.installed))
        .collect();
    assert_eq!(found, states);
}

#[test]
fn classic_dpkg_database() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dpkg = root.join("var/lib/dpkg");
    std::fs::create_dir_all(dpkg.join("info")).unwrap();
    std::fs::write(
        dpkg.join("status"),
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\n\
         Source: glibc\nVersion: 2.36-9+deb12u4\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\n\
         Description: GNU C Library\n .\n shared libraries\n\n\
         Package: oldconf\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1.0\n\n\
         Package: purged\nStatus: purge ok not-installed\nArchitecture: amd64\n\n\
         Package: bsdutils\nStatus: install ok installed\nArchitecture: amd64\nSource: util-linux (2.38.1-5)\n\
         Version: 1:2.38.1-5+b1\n",
    )
    .unwrap();
    std::fs::write(
        dpkg.join("info/libc6:amd64.list"),
        "/.\n/lib\n/lib/libc.so.6\n",
    )
    .unwrap();
    std::fs::write(dpkg.join("info/libc6:amd64.md5sums"), "aa  lib/libc.so.6\n").unwrap();
    std::fs::write(dpkg.join("info/bsdutils.list"), "/.\n/usr/bin/logger\n").unwrap();
    let images = open(
        &Target::Rootfs {
            dir: root.to_owned(),
        },
        None,
    )
    .unwrap();
    let image = &images[0];
    assert_eq!(
        names(image),
        [
            "bsdutils 1:2.38.1-5+b1",
            "libc6 2.36-9+deb12u4",
            "oldconf 1.0"
        ]
    );
    let [bsdutils, libc6, oldconf] = &image.packages[..] else {
        panic!()
    };
    assert_eq!(
        (
            bsdutils.source_name.as_str(),
            bsdutils.source_version.as_str()
        ),
        ("util-linux", "2.38.1-5")
    );
    assert_eq!(bsdutils.files, ["/usr/bin/logger"]);
    assert_eq!(
        (libc6.source_name.as_str(), libc6.source_version.as_str()),
        ("glibc", "2.36-9+deb12u4")
    );
    assert_eq!(libc6.files, ["/lib", "/lib/libc.so.6"]);
    assert_eq!(libc6.md5sums["/lib/libc.so.6"], "aa");
    assert!(libc6.stanza.ends_with(" shared libraries"));
    assert!(!oldconf.installed);
    assert_eq!(oldconf.status, "deinstall ok config-files");
    assert!(image.os.is_none());

    // A malformed stanza names the file and the line.
    std::fs::write(
        dpkg.join("status"),
        "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nthis is not a field\n",
    )
    .unwrap();
    let err = open(
        &Target::Rootfs {
            dir: root.to_owned(),
        },
        None,
    )
    .err()
    .unwrap();
    assert_eq!(
        err.to_string(),
        "malformed dpkg database `/var/lib/dpkg/status` at line 6: expected `Field: value`"
    );
    std::fs::write(dpkg.join("status"), "Package: a\nStatus: install ok installed\n\nPackage: b\nStatus: install ok installed\nVersion: 2\n\nVersion: 1\n").unwrap();
    let err = open(
        &Target::Rootfs {
            dir: root.to_owned(),
        },
        None,
    )
    .err()
    .unwrap();
    assert_eq!(
        err.to_string(),
        "malformed dpkg database `/var/lib/dpkg/status` at line 1: stanza has no `Version` field"
    );
    std::fs::write(
        dpkg.join("status"),
        "Package: b\nStatus: install ok installed\nVersion: 2\n\nVersion: 1\n",
    )
    .unwrap();
    let err = open(
        &Target::Rootfs {
            dir: root.to_owned(),
        },
        None,
    )
    .err()
    .unwrap();
    assert!(
        err.to_string()
            .contains("at line 5: stanza has no `Package` field"),
        "{err}"
    );
}

/// The package list of a real root filesystem equals dpkg-query's.
#[test]
fn live_mmdebstrap_rootfs_matches_dpkg_query() {
    assert!(
        have("mmdebstrap") && have("dpkg-query"),
        "mmdebstrap and dpkg-query (installed by scripts/setup.sh) are needed for this test"
    );
    let uri = debian_mirror().expect("a live test needs a Debian mirror in the APT configuration");
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rootfs");
    let out = Command::new("mmdebstrap")
        .args([
            "--quiet",
            "--mode=root",
            "--variant=essential",
            "--include=base-files,libc6",
            "bookworm",
        ])
        .arg(&root)
        .arg(format!("deb {uri} bookworm main"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mmdebstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args([
            "-W",
            "-f",
            "${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\n",
        ])
        .output()
        .unwrap();
    assert!(expected.status.success());
    let mut expected: Vec<String> = String::from_utf8(expected.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    expected.sort();
    let (target, kind) = parse_target(root.to_str().unwrap()).unwrap();
    assert_eq!(kind, Some("rootfs"));
    let start = std::time::Instant::now();
    let images = open(&target, None).unwrap();
    let elapsed = start.elapsed();
    let mut ours: Vec<String> = images[0]
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {}",
                p.name, p.version, p.architecture, p.source_name, p.source_version
            )
        })
        .collect();
    ours.sort();
    assert!(expected.len() > 20, "{expected:?}");
    assert_eq!(ours, expected);
    assert!(images[0]
        .packages
        .iter()
        .all(|p| p.installed && !p.files.is_empty()));
    let os = images[0].os.as_ref().unwrap();
    assert_eq!(
        (os.id.as_str(), os.version_codename.as_deref()),
        ("debian", Some("bookworm"))
    );
    assert!(elapsed.as_millis() < 2000, "reading took {elapsed:?}");
    // Owned files agree with dpkg -L.
    let libc6 = images[0]
        .packages
        .iter()
        .find(|p| p.name == "libc6")
        .unwrap();
    let listed = Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-L", "libc6"])
        .output()
        .unwrap();
    let listed: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .filter(|l| *l != "/.")
        .map(str::to_owned)
        .collect();
    assert_eq!(libc6.files, listed);
}

/// The first Debian mirror of the host's APT configuration.
fn debian_mirror() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        for entry in dir.flatten() {
            if entry.path().extension().is_some_and(|e| e == "sources") {
                texts.push(std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
    }
    for text in &texts {
        for line in text.lines() {
            if let Some(uris) = line.strip_prefix("URIs:") {
                if let Some(uri) = uris.split_whitespace().find(|u| u.ends_with("/debian")) {
                    return Some(uri.to_owned());
                }
            }
        }
    }
    let list = std::fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    list.lines()
        .filter(|l| l.starts_with("deb "))
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.starts_with("http") && w.ends_with("/debian"))
        .map(str::to_owned)
}

/// A [`LayerCache`] in memory that counts its hits.
#[derive(Default)]
struct MemoryCache {
    values: std::sync::Mutex<BTreeMap<String, Vec<u8>>>,
    hits: std::sync::atomic::AtomicUsize,
    /// Digests the test claims to have checked itself.
    known_good: Vec<String>,
}

impl LayerCache for MemoryCache {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        let v = self.values.lock().unwrap().get(key).cloned();
        if v.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        v
    }
    fn put(&self, key: &str, value: &[u8]) {
        self.values
            .lock()
            .unwrap()
            .insert(key.to_owned(), value.to_vec());
    }
    fn known_good(&self, digest: &str) -> bool {
        self.known_good.iter().any(|d| d == digest)
    }
}

/// A layer read once is not decompressed again, wherever it sits in the
/// next image, yet every byte still reads the same and a changed blob is
/// still caught.
#[test]
fn cached_layers_read_the_same_and_are_still_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("img");
    let (l1, _, _) = layered_image(&dir, true);
    let uncached = all_files(&open(&oci(&dir, None), None).unwrap()[0]);
    let cache = MemoryCache::default();
    let first = open_cached(&oci(&dir, None), None, &cache).unwrap();
    assert_eq!(cache.values.lock().unwrap().len(), 3);
    assert_eq!(cache.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(all_files(&first[0]), uncached);
    let second = open_cached(&oci(&dir, None), None, &cache).unwrap();
    assert_eq!(cache.hits.load(std::sync::atomic::Ordering::SeqCst), 3);
    check_layered(&second[0]);
    assert_eq!(all_files(&second[0]), uncached);

    // The first layer as the second of another image: its large file
    // (read from the layer stream, not kept in memory) must come from it.
    let other = tmp.path().join("other");
    let layout = Layout::new(&other);
    let top = tar(&[E::File("./top", b"top")]);
    let manifest = layout.image(
        &[(TAR, top.clone(), top), (GZIP, gzip(&l1), l1.clone())],
        "amd64",
    );
    layout.top(vec![manifest]);
    let image = open_cached(&oci(&other, None), None, &cache).unwrap();
    assert!(cache.hits.load(std::sync::atomic::Ordering::SeqCst) >= 4);
    let files = all_files(&image[0]);
    assert_eq!(files["/opt/big"], vec![b'x'; 3 << 20]);
    assert_eq!(
        files,
        all_files(&open(&oci(&other, None), None).unwrap()[0])
    );

    // A changed byte in a cached layer's blob is a digest mismatch.
    let blob = std::fs::read_dir(dir.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read(p).unwrap() == gzip(&l1))
        .expect("the gzip layer's blob");
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    let err = open_cached(&oci(&dir, None), None, &cache).err().unwrap();
    assert!(
        matches!(err, Error::Oci(OciError::DigestMismatch { .. })),
        "{err}"
    );

    // Only a layer the caller vouches for (it has just hashed it itself)
    // is taken from the cache without hashing.
    let digest = format!("sha256:{}", blob.file_name().unwrap().to_str().unwrap());
    let vouched = MemoryCache {
        values: std::sync::Mutex::new(cache.values.lock().unwrap().clone()),
        known_good: vec![digest],
        ..MemoryCache::default()
    };
    assert!(open_cached(&oci(&dir, None), None, &vouched).is_ok());
}
