#!/usr/bin/env bash
# The whole test suite, from a fresh Debian bookworm machine: installs what the
# tests need (scripts/setup.sh), checks formatting and lints, then runs every
# test: unit, property, hermetic (a signed fixture repository on 127.0.0.1)
# and live (the real Debian archive named by the host's APT sources).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
export BULWARK_VENV=${BULWARK_VENV:-$PWD/target/venv}
# One download cache for the whole run, shared by the live tests.
export BULWARK_TEST_CACHE=${BULWARK_TEST_CACHE:-$PWD/target/test-cache}
mkdir -p "$BULWARK_TEST_CACHE"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The fuzz targets live outside the workspace; keep them compiling.
cargo check --manifest-path fuzz/Cargo.toml --bins --locked --quiet
cargo test --workspace --locked --release --no-fail-fast 2>&1 | tee target/test.log
