#!/usr/bin/env bash
# Installs everything the test suite needs on a Debian bookworm machine:
# a Rust toolchain (Debian's rustc-web/cargo-web when cargo is missing or too
# old), the real tools the tests check bulwark against, and a Python venv with
# third-party validators. Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

APT_PACKAGES=(
  apt-utils dpkg-dev gnupg gpgv ca-certificates curl xz-utils zstd
  skopeo umoci mmdebstrap crun docker-registry hyperfine time
  uidmap python3-venv gcc libc6-dev lz4 apache2-utils openssl
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# docker-registry's maintainer scripts try to start a service listening on all
# interfaces; forbid service starts for the duration of the install.
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  if [ "$had_policy" -eq 0 ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$had_policy" -eq 1 ] || $SUDO rm -f "$policy"
  # Never leave a registry listening on all interfaces.
  $SUDO systemctl stop docker-registry 2>/dev/null || true
  $SUDO systemctl disable docker-registry 2>/dev/null || true
fi

# The resolver's tests compare with apt on the host's own lists.
if ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
  $SUDO apt-get update -qq
fi

# Rust: use the machine's toolchain when it is new enough, else Debian's.
need_minor=88
have_minor=$(cargo --version 2>/dev/null | sed -n 's/^cargo 1\.\([0-9]*\).*/\1/p')
if [ -z "$have_minor" ] || [ "$have_minor" -lt "$need_minor" ]; then
  echo "setup: installing rustc-web and cargo-web (cargo missing or older than 1.$need_minor)" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rustc-web cargo-web >/dev/null
  have_minor=$(cargo --version 2>/dev/null | sed -n 's/^cargo 1\.\([0-9]*\).*/\1/p')
  if [ -z "$have_minor" ] || [ "$have_minor" -lt "$need_minor" ]; then
    echo "setup: cargo-web is $(cargo --version 2>/dev/null || echo missing), bulwark needs 1.$need_minor" >&2
    echo "hint: add the bookworm-security source to APT; it carries a newer rustc-web" >&2
    exit 2
  fi
fi

# Python validators, in a venv beside the checkout's target directory.
VENV=${BULWARK_VENV:-$PWD/target/venv}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -r tests/python-requirements.txt
echo "setup: ok" >&2
