//! Debian architecture names to OCI platforms.

use crate::{Error, Platform};

/// Maps a Debian architecture (`amd64`, `armhf`, `ppc64el`, …) to the OCI
/// platform an image built from it runs on.
///
/// # Errors
///
/// [`Error::UnknownArchitecture`] for a name without an OCI counterpart.
pub fn platform_for_debian_arch(arch: &str) -> Result<Platform, Error> {
    let (architecture, variant) = match arch {
        "amd64" => ("amd64", None),
        "arm64" => ("arm64", Some("v8")),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v5")),
        "i386" => ("386", None),
        "ppc64el" => ("ppc64le", None),
        "ppc64" => ("ppc64", None),
        "s390x" => ("s390x", None),
        "riscv64" => ("riscv64", None),
        "mips64el" => ("mips64le", None),
        "mipsel" => ("mipsle", None),
        "loong64" => ("loong64", None),
        _ => return Err(Error::UnknownArchitecture(arch.to_owned())),
    };
    Ok(Platform {
        architecture: architecture.to_owned(),
        os: "linux".to_owned(),
        variant: variant.map(str::to_owned),
        ..Platform::default()
    })
}

#[cfg(test)]
mod tests {
    use super::platform_for_debian_arch;

    #[test]
    fn maps_debian_names() {
        let cases = [
            ("amd64", "linux/amd64"),
            ("arm64", "linux/arm64/v8"),
            ("armhf", "linux/arm/v7"),
            ("armel", "linux/arm/v5"),
            ("i386", "linux/386"),
            ("ppc64el", "linux/ppc64le"),
            ("s390x", "linux/s390x"),
            ("riscv64", "linux/riscv64"),
        ];
        for (debian, oci) in cases {
            assert_eq!(platform_for_debian_arch(debian).unwrap().to_string(), oci);
        }
        let err = platform_for_debian_arch("hurd-i386").unwrap_err();
        assert_eq!(
            err.to_string(),
            "Debian architecture `hurd-i386` has no OCI platform"
        );
    }
}
