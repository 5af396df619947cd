#!/usr/bin/env bash
# Runs every benchmark, each beside the peer measured in the same run, and
# records each one's results in its own section of BENCHMARKS.md.
#
#   bench/run.sh                 # build, sbom, scan and registry benchmarks
#   bench/run.sh build scan      # only those
#   RUNS=3 bench/run.sh          # fewer hyperfine runs
#
# Needs root (mmdebstrap --mode=root), the host's Debian APT sources, and
# the tools scripts/setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || set -- build sbom scan registry
for b in "$@"; do
  [ -f "bench/$b.sh" ] || { echo "bench: no benchmark named \`$b\` (bench/$b.sh)" >&2; exit 2; }
  echo "bench: == $b" >&2
  bash "bench/$b.sh"
done
