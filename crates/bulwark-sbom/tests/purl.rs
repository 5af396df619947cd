//! Package URLs: parsing per the purl specification, the `pkg:deb`
//! helpers, and writing then parsing back every field.

use std::collections::BTreeMap;

use bulwark_image::{InstalledPackage, OsRelease};
use bulwark_sbom::{purl, Purl};
use proptest::prelude::*;

fn parse(s: &str) -> Purl {
    Purl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn qualifiers(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn syft_and_trivy_deb_urls() {
    // syft: the epoch in the version, the source in `upstream=`.
    let syft = parse(
        "pkg:deb/debian/bsdutils@1%3A2.38.1-5%2Bb1?arch=amd64&distro=debian-12&upstream=util-linux%402.38.1-5",
    );
    assert_eq!(
        syft,
        Purl {
            kind: "deb".into(),
            namespace: Some("debian".into()),
            name: "bsdutils".into(),
            version: Some("1:2.38.1-5+b1".into()),
            qualifiers: qualifiers(&[
                ("arch", "amd64"),
                ("distro", "debian-12"),
                ("upstream", "util-linux@2.38.1-5")
            ]),
            subpath: None,
        }
    );
    assert!(syft.is_deb());
    assert_eq!(syft.arch(), Some("amd64"));
    assert_eq!(syft.distro(), Some("debian-12"));
    assert_eq!(syft.deb_version().as_deref(), Some("1:2.38.1-5+b1"));
    assert_eq!(syft.upstream(), Some(("util-linux", Some("2.38.1-5"))));

    // trivy: the epoch in a qualifier, `+` not encoded.
    let trivy = parse("pkg:deb/debian/bsdutils@2.38.1-5+b1?arch=amd64&distro=debian-12.5&epoch=1");
    assert_eq!(trivy.version.as_deref(), Some("2.38.1-5+b1"));
    assert_eq!(trivy.deb_version().as_deref(), Some("1:2.38.1-5+b1"));
    assert_eq!(trivy.upstream(), None);
    assert_eq!(trivy.distro(), Some("debian-12.5"));

    // The epoch qualifier: `0` adds none, nor does it to a version that has one.
    assert_eq!(
        parse("pkg:deb/debian/a@1.0?epoch=0")
            .deb_version()
            .as_deref(),
        Some("1.0")
    );
    assert_eq!(
        parse("pkg:deb/debian/a@2:1.0?epoch=1")
            .deb_version()
            .as_deref(),
        Some("2:1.0")
    );
    // `upstream=NAME`, `upstream=NAME@`: no version.
    assert_eq!(
        parse("pkg:deb/debian/libssl3@3.0.15-1?upstream=openssl").upstream(),
        Some(("openssl", None))
    );
    assert_eq!(
        parse("pkg:deb/debian/libssl3@3.0.15-1?upstream=openssl%40").upstream(),
        Some(("openssl", None))
    );
    // Without a version, a namespace or qualifiers.
    let bare = parse("pkg:deb/zlib1g");
    assert_eq!((&bare.namespace, &bare.version), (&None, &None));
    assert_eq!(bare.deb_version(), None);
    assert_eq!(bare.arch(), None);
    assert_eq!(
        parse("pkg:deb/debian/nettle?arch=source").arch(),
        Some("source")
    );
}

#[test]
fn specification_examples() {
    for (purl, kind, namespace, name, version, quals, subpath) in [
        (
            "pkg:maven/org.apache.commons/io@1.3.4",
            "maven",
            Some("org.apache.commons"),
            "io",
            Some("1.3.4"),
            &[][..],
            None,
        ),
        (
            "pkg:npm/%40angular/animation@12.3.1",
            "npm",
            Some("@angular"),
            "animation",
            Some("12.3.1"),
            &[],
            None,
        ),
        (
            "pkg:golang/google.golang.org/genproto#googleapis/api/annotations",
            "golang",
            Some("google.golang.org"),
            "genproto",
            None,
            &[],
            Some("googleapis/api/annotations"),
        ),
        (
            "pkg:docker/cassandra@sha256%3A244fd47e07d1004f0aed9c?repository_url=gcr.io",
            "docker",
            None,
            "cassandra",
            Some("sha256:244fd47e07d1004f0aed9c"),
            &[("repository_url", "gcr.io")],
            None,
        ),
        (
            "pkg:rpm/fedora/curl@7.50.3-1.fc25?arch=i386&distro=fedora-25",
            "rpm",
            Some("fedora"),
            "curl",
            Some("7.50.3-1.fc25"),
            &[("arch", "i386"), ("distro", "fedora-25")],
            None,
        ),
        (
            "pkg:github/package-url/purl-spec@244fd47e07d1004#everybody/loves/dogs",
            "github",
            Some("package-url"),
            "purl-spec",
            Some("244fd47e07d1004"),
            &[],
            Some("everybody/loves/dogs"),
        ),
    ] {
        let parsed = parse(purl);
        assert_eq!(
            parsed,
            Purl {
                kind: kind.into(),
                namespace: namespace.map(Into::into),
                name: name.into(),
                version: version.map(Into::into),
                qualifiers: qualifiers(quals),
                subpath: subpath.map(Into::into),
            },
            "{purl}"
        );
        // Already canonical: written back unchanged.
        assert_eq!(parsed.to_string(), purl);
    }
}

#[test]
fn normalization() {
    // The type, the qualifier keys and a deb URL's namespace and name are
    // lowercased; `pkg://` slashes, empty segments, `.` and `..` in the
    // subpath and empty qualifier values are dropped; spaces around the URL
    // are ignored.
    let p = parse("  pkg://DEB//Debian//LibFoo@1.0?ARCH=amd64&distro=&Upstream=foo#/a/./b/../c/  ");
    assert_eq!(p.kind, "deb");
    assert_eq!(p.namespace.as_deref(), Some("debian"));
    assert_eq!(p.name, "libfoo");
    assert_eq!(
        p.qualifiers,
        qualifiers(&[("arch", "amd64"), ("upstream", "foo")])
    );
    assert_eq!(p.subpath.as_deref(), Some("a/b/c"));
    assert_eq!(
        p.to_string(),
        "pkg:deb/debian/libfoo@1.0?arch=amd64&upstream=foo#a/b/c"
    );
    // Other types keep the case of their names.
    assert_eq!(parse("pkg:PyPI/Django@1.11.1").name, "Django");
    // An empty version is none.
    assert_eq!(parse("pkg:deb/debian/a@").version, None);
    // An invalid escape stays as written; `+` is a plus, not a space.
    assert_eq!(parse("pkg:generic/a%zzb@1+2").name, "a%zzb");
    assert_eq!(
        parse("pkg:generic/a%zzb@1+2").version.as_deref(),
        Some("1+2")
    );
    // Non-ASCII, decoded and encoded back.
    let p = parse("pkg:generic/caf%C3%A9@1");
    assert_eq!(p.name, "café");
    assert_eq!(p.to_string(), "pkg:generic/caf%C3%A9@1");
}

#[test]
fn invalid_urls_are_errors_naming_the_cause() {
    for (purl, cause) in [
        ("", "no `pkg:` scheme"),
        ("deb/debian/a@1", "no `pkg:` scheme"),
        ("http:deb/debian/a", "the scheme is not `pkg:`"),
        ("pkg:deb", "no `TYPE/NAME`"),
        ("pkg:deb/", "no `TYPE/NAME`"),
        ("pkg:deb/debian/@1", "no name"),
        ("pkg:1deb/a", "the type"),
        ("pkg:d%65b/a", "the type"),
        ("pkg:deb/a?arch", "not KEY=VALUE"),
        ("pkg:deb/a?ar ch=x", "qualifier key"),
        ("pkg:deb/a?1arch=x", "qualifier key"),
        ("pkg:deb/a?arch=amd64&ARCH=arm64", "given twice"),
        ("pkg:deb/a%FF", "not UTF-8"),
        ("pkg:deb/a?arch=%C3", "not UTF-8"),
    ] {
        let err = Purl::parse(purl).unwrap_err().to_string();
        assert!(err.contains(cause), "{purl:?}: {err}");
        assert!(err.starts_with("invalid package URL `"), "{err}");
    }
    // The URL is escaped and shortened in the message.
    let err = Purl::parse(&format!("x\u{1b}[31m{}", "a".repeat(10_000)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("\\u{1b}[31m"), "{err}");
    assert!(!err.contains('\u{1b}'));
    assert!(err.len() < 400, "{}", err.len());
    // `FromStr` is `parse`.
    assert_eq!(
        "pkg:deb/debian/a@1".parse::<Purl>().unwrap(),
        parse("pkg:deb/debian/a@1")
    );
}

fn installed(
    name: &str,
    version: &str,
    arch: &str,
    source: &str,
    source_version: &str,
) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        architecture: arch.into(),
        source_name: source.into(),
        source_version: source_version.into(),
        maintainer: None,
        status: "install ok installed".into(),
        installed: true,
        files: Vec::new(),
        md5sums: BTreeMap::new(),
        stanza: String::new(),
    }
}

#[test]
fn bulwark_urls_parse_back_to_the_package() {
    let bookworm = OsRelease {
        id: "debian".into(),
        version_id: Some("12".into()),
        version_codename: Some("bookworm".into()),
        ..Default::default()
    };
    let noble = OsRelease {
        id: "ubuntu".into(),
        version_id: Some("24.04".into()),
        ..Default::default()
    };
    let trixie = OsRelease {
        id: "debian".into(),
        version_codename: Some("trixie".into()),
        ..Default::default()
    };
    for (package, os, distro, upstream) in [
        (
            installed(
                "bsdutils",
                "1:2.38.1-5+b1",
                "amd64",
                "util-linux",
                "2.38.1-5",
            ),
            Some(&bookworm),
            Some("debian-12"),
            Some(("util-linux", Some("2.38.1-5"))),
        ),
        (
            installed(
                "libstdc++6",
                "12.2.0-14~bpo1",
                "arm64",
                "gcc-12",
                "12.2.0-14~bpo1",
            ),
            Some(&noble),
            Some("ubuntu-24.04"),
            Some(("gcc-12", None)),
        ),
        (
            installed("libfoo1", "1.0-1+b2", "i386", "libfoo1", "1.0-1"),
            Some(&trixie),
            Some("debian"),
            Some(("libfoo1", Some("1.0-1"))),
        ),
        (
            installed("tzdata", "2025a-1", "all", "tzdata", "2025a-1"),
            None,
            None,
            None,
        ),
    ] {
        let written = purl(&package, os);
        let parsed = parse(&written);
        assert!(parsed.is_deb(), "{written}");
        assert_eq!(
            parsed.namespace.as_deref(),
            Some(os.map_or("debian", |os| os.id.as_str()))
        );
        assert_eq!(parsed.name, package.name, "{written}");
        assert_eq!(
            parsed.deb_version().as_deref(),
            Some(package.version.as_str())
        );
        assert_eq!(parsed.arch(), Some(package.architecture.as_str()));
        assert_eq!(parsed.distro(), distro);
        assert_eq!(parsed.upstream(), upstream);
        assert_eq!(parsed.subpath, None);
        // Written back byte for byte.
        assert_eq!(parsed.to_string(), written);
    }
}

/// A Purl as `parse` returns them: a valid type (not `deb`, which
/// lowercases), namespace and subpath of non-empty segments (no `.` or
/// `..` in the subpath), a non-empty name and version, valid lowercase
/// qualifier keys with non-empty values; any other character anywhere.
fn any_purl() -> impl Strategy<Value = Purl> {
    let text = "\\PC{1,12}";
    let segment = "[^/]{1,8}".prop_filter("not . or ..", |s: &String| s != "." && s != "..");
    (
        "[a-z][a-z0-9.+-]{0,8}".prop_filter("not deb", |k: &String| k != "deb"),
        prop::option::of(prop::collection::vec("[^/]{1,8}", 1..4)),
        text,
        prop::option::of(text),
        prop::collection::btree_map("[a-z_.-][a-z0-9_.-]{0,8}", text, 0..4),
        prop::option::of(prop::collection::vec(segment, 1..4)),
    )
        .prop_map(
            |(kind, namespace, name, version, qualifiers, subpath)| Purl {
                kind,
                namespace: namespace.map(|s| s.join("/")),
                name,
                version,
                qualifiers,
                subpath: subpath.map(|s| s.join("/")),
            },
        )
}

proptest! {
    #[test]
    fn every_field_is_written_and_parsed_back(purl in any_purl()) {
        let written = purl.to_string();
        prop_assert_eq!(Purl::parse(&written), Ok(purl), "{}", written);
    }

    #[test]
    fn parsing_anything_never_panics_and_is_stable(
        s in "(pkg:)?([a-zA-Z0-9:/@?#&=.+_~ -]|%[0-9A-Fa-f]{2}|\\PC){0,40}"
    ) {
        if let Ok(purl) = Purl::parse(&s) {
            let written = purl.to_string();
            prop_assert_eq!(Purl::parse(&written), Ok(purl));
        }
    }
}

#[test]
fn special_characters_in_every_field_round_trip() {
    let purl = Purl {
        kind: "generic".into(),
        namespace: Some("a b/c@d/e?f#g".into()),
        name: "n/a:m@e?#&=%+".into(),
        version: Some("1:2.0+b1~rc@x#y?z".into()),
        qualifiers: qualifiers(&[
            ("arch", "amd64"),
            ("repository_url", "https://example.invalid/x?y=z&w#v"),
            ("note", "é ✓ 100%"),
        ]),
        subpath: Some("sub dir/file#1?.txt".into()),
    };
    let written = purl.to_string();
    assert_eq!(
        written,
        "pkg:generic/a%20b/c%40d/e%3Ff%23g/n%2Fa%3Am%40e%3F%23%26%3D%25%2B@1%3A2.0%2Bb1~rc%40x%23y%3Fz\
         ?arch=amd64&note=%C3%A9%20%E2%9C%93%20100%25\
         &repository_url=https%3A%2F%2Fexample.invalid%2Fx%3Fy%3Dz%26w%23v\
         #sub%20dir/file%231%3F.txt"
    );
    assert_eq!(parse(&written), purl);
}
