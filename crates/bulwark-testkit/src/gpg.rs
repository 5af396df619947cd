//! Throwaway OpenPGP keys made by `gpg`, one of each kind per test process.
//!
//! Generating an RSA key takes a second or two, so each key is generated
//! once (in a temporary `GNUPGHOME` that is removed right after, its agent
//! killed) and kept in memory as an armored secret key. Signing imports it
//! into a fresh temporary home, signs, and kills that home's agent: no
//! `gpg-agent` outlives the operation and nothing is left on disk.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::util;

/// A generated signing key.
#[derive(Debug)]
pub(crate) struct Key {
    /// The primary key's fingerprint.
    pub(crate) fingerprint: String,
    /// The secret key, armored (no passphrase).
    secret: String,
    /// The public key as a binary keyring (`gpg --export`).
    pub(crate) public_binary: Vec<u8>,
    /// The public key, armored (`gpg --armor --export`).
    pub(crate) public_armored: Vec<u8>,
}

/// Which throwaway key to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Which {
    /// The key whose keyring fixture repositories export.
    Main,
    /// A key no keyring trusts.
    Other,
}

static MAIN: OnceLock<Key> = OnceLock::new();
static OTHER: OnceLock<Key> = OnceLock::new();

/// Returns the process-wide key of that kind, generating it on first use.
pub(crate) fn key(which: Which) -> &'static Key {
    match which {
        Which::Main => MAIN.get_or_init(|| generate("bulwark test <test@invalid>")),
        Which::Other => OTHER.get_or_init(|| generate("bulwark other <other@invalid>")),
    }
}

/// A temporary `GNUPGHOME` whose agent is killed when it is dropped.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = util::tempdir("bulwark-gpg-");
        util::set_mode(dir.path(), 0o700);
        Home { dir }
    }

    fn gpg(&self) -> Command {
        let mut cmd = Command::new("gpg");
        cmd.arg("--homedir")
            .arg(self.dir.path())
            .args(["--batch", "--quiet", "--no-tty", "--yes"])
            .args(["--pinentry-mode", "loopback", "--passphrase", ""])
            .env("LC_ALL", "C");
        cmd
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        // Best effort: the directory is removed by TempDir either way.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.dir.path())
            .args(["--kill", "all"])
            .output();
    }
}

fn generate(uid: &str) -> Key {
    let home = Home::new();
    util::run(
        home.gpg()
            .args(["--quick-gen-key", uid, "rsa3072", "sign", "never"]),
        &format!("generating the test key `{uid}`"),
    );
    let listing = util::run(
        home.gpg()
            .args(["--with-colons", "--list-secret-keys", uid]),
        "listing the test key",
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    let Some(fingerprint) = listing
        .lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| !f.is_empty()))
    else {
        panic!("no fingerprint in `gpg --list-secret-keys` output: {listing}");
    };
    let fingerprint = fingerprint.to_string();
    let secret = util::run(
        home.gpg()
            .args(["--armor", "--export-secret-keys", &fingerprint]),
        "exporting the test key",
    )
    .stdout;
    let public_binary = util::run(
        home.gpg().args(["--export", &fingerprint]),
        "exporting the test keyring",
    )
    .stdout;
    let public_armored = util::run(
        home.gpg().args(["--armor", "--export", &fingerprint]),
        "exporting the armored test keyring",
    )
    .stdout;
    Key {
        fingerprint,
        secret: String::from_utf8_lossy(&secret).into_owned(),
        public_binary,
        public_armored,
    }
}

/// Signs `release` with `key` as Debian does: a clear-signed `inrelease`
/// and an armored detached `release_gpg`, both with SHA-512.
pub(crate) fn sign(key: &Key, release: &Path, inrelease: &Path, release_gpg: &Path) {
    let home = Home::new();
    let secret = home.dir.path().join("secret.asc");
    util::write(&secret, key.secret.as_bytes());
    util::run(
        home.gpg().arg("--import").arg(&secret),
        "importing the test key",
    );
    let sign = |mode: &str, out: &Path| {
        util::run(
            home.gpg()
                .args(["--local-user", &key.fingerprint])
                .args(["--digest-algo", "SHA512"])
                .args(mode.split(' '))
                .arg("--output")
                .arg(out)
                .arg(release),
            &format!("signing `{}`", release.display()),
        );
    };
    sign("--clearsign", inrelease);
    sign("--armor --detach-sign", release_gpg);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature gpg makes verifies with gpgv against the exported
    /// binary keyring, and not against the other key's.
    #[test]
    fn signatures_verify_with_gpgv() {
        let dir = util::tempdir("t-");
        let release = dir.path().join("Release");
        util::write(&release, b"Origin: Test\nSuite: stable\n");
        let (inrelease, detached) = (dir.path().join("InRelease"), dir.path().join("Release.gpg"));
        sign(key(Which::Main), &release, &inrelease, &detached);
        let text = String::from_utf8(util::read(&inrelease)).unwrap();
        assert!(
            text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Test\n")
        );

        let main_ring = dir.path().join("main.gpg");
        util::write(&main_ring, &key(Which::Main).public_binary);
        let other_ring = dir.path().join("other.gpg");
        util::write(&other_ring, &key(Which::Other).public_binary);
        let gpgv = |ring: &Path, args: &[&Path]| {
            Command::new("gpgv")
                .arg("--keyring")
                .arg(ring)
                .args(args)
                .output()
                .unwrap()
                .status
                .success()
        };
        assert!(gpgv(&main_ring, &[&inrelease]));
        assert!(gpgv(&main_ring, &[&detached, &release]));
        assert!(!gpgv(&other_ring, &[&inrelease]));
        assert_ne!(key(Which::Main).fingerprint, key(Which::Other).fingerprint);
        assert!(key(Which::Main)
            .public_armored
            .starts_with(b"-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    }
}
