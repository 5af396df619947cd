#!/usr/bin/env bash
# Benchmarks `bulwark push` and `bulwark pull` against `skopeo copy` of the
# same image to and from a docker-registry on 127.0.0.1, and records the
# results in the `registry` section of BENCHMARKS.md. Usually run through
# bench/run.sh. Needs the host's Debian APT sources (to build the image) and
# the tools scripts/setup.sh installs.
#
#   bench/registry.sh            # results into BENCHMARKS.md
#   RUNS=3 bench/registry.sh     # fewer runs
#
# The image is examples/python.yaml, signed, so bulwark also moves its
# attestations (SBOMs, provenance, signatures: artifact manifests and their
# referrers tag), which skopeo 1.9 does not copy: bulwark does more work.
# Targets: push and pull at least as fast as skopeo copy; a push of an image
# the registry already holds (nothing to upload) ≤ 100 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
export SOURCE_DATE_EPOCH=1700000000
cargo build --release --quiet -p bulwark
BIN=$PWD/target/release/bulwark
WORK=$(mktemp -d /tmp/bulwark-registry-bench.XXXXXX)
REGISTRY_PID=
cleanup() {
  [ -z "$REGISTRY_PID" ] || kill "$REGISTRY_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS=$WORK/results.md
export BULWARK_CACHE_DIR=$WORK/cache

echo "bench: building examples/python.yaml (signed)" >&2
"$BIN" key generate --quiet --out "$WORK/key" >/dev/null
"$BIN" build --quiet examples/python.yaml -o "oci:$WORK/python:latest" --sign "$WORK/key" >/dev/null
image_mb=$(du -sm "$WORK/python/blobs" | cut -f1)
blobs=$(find "$WORK/python/blobs/sha256" -type f | wc -l)

# A registry on a free loopback port, with its storage in the work dir.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
STORAGE=$WORK/storage
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $STORAGE}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port, secret: bench-secret}
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
HOST=127.0.0.1:$port

echo "bench: push into an empty registry" >&2
hyperfine --style basic --shell=bash --runs "$RUNS" --output=null \
  --prepare "rm -rf $STORAGE/docker $BULWARK_CACHE_DIR/records/registry-mounts" \
  --export-json "$WORK/push.json" \
  -n "bulwark push" "$BIN push --no-progress oci:$WORK/python:latest docker://$HOST/bw:latest" \
  -n "skopeo copy --all" "skopeo copy --quiet --all --preserve-digests --dest-tls-verify=false oci:$WORK/python:latest docker://$HOST/sk:latest" >&2

echo "bench: no-op push (the registry holds everything)" >&2
"$BIN" push --quiet oci:"$WORK/python:latest" "docker://$HOST/bw:latest" >/dev/null
skopeo copy --quiet --all --preserve-digests --dest-tls-verify=false "oci:$WORK/python:latest" "docker://$HOST/sk:latest"
hyperfine --style basic --shell=none --warmup 2 --runs "$((RUNS * 4))" --output=null \
  --export-json "$WORK/noop.json" \
  -n "bulwark push (no-op)" "$BIN push --no-progress oci:$WORK/python:latest docker://$HOST/bw:latest" \
  -n "skopeo copy --all (no-op)" "skopeo copy --quiet --all --preserve-digests --dest-tls-verify=false oci:$WORK/python:latest docker://$HOST/sk:latest" >&2
# Nothing was uploaded by the no-op push.
uploaded=$("$BIN" push --format json oci:"$WORK/python:latest" "docker://$HOST/bw:latest" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["uploaded"])')
[ "$uploaded" = 0 ] || { echo "bench: a no-op push uploaded $uploaded blobs" >&2; exit 1; }

echo "bench: pull into an empty layout" >&2
hyperfine --style basic --shell=bash --runs "$RUNS" --output=null \
  --prepare "rm -rf $WORK/pulled $WORK/skopeo-pulled" \
  --export-json "$WORK/pull.json" \
  -n "bulwark pull" "$BIN pull --no-progress docker://$HOST/bw:latest oci:$WORK/pulled:latest" \
  -n "skopeo copy --all" "skopeo copy --quiet --all --preserve-digests --src-tls-verify=false docker://$HOST/bw:latest oci:$WORK/skopeo-pulled:latest" >&2
# The pulled image verifies offline, attestations included.
"$BIN" pull --quiet "docker://$HOST/bw:latest" "oci:$WORK/pulled:latest" >/dev/null
"$BIN" verify --quiet "oci:$WORK/pulled:latest" --key "$WORK/key.pub" >/dev/null

mean() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join('%.3f' % x['mean'] for x in r))" "$1"; }
read -r bw_push sk_push <<<"$(mean "$WORK/push.json")"
read -r bw_noop sk_noop <<<"$(mean "$WORK/noop.json")"
read -r bw_pull sk_pull <<<"$(mean "$WORK/pull.json")"
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print('%.1f× faster' % (b / a) if a <= b else '%.1f× slower' % (a / b))" "$1" "$2"; }
ms() { python3 -c "import sys; print('%.0f ms' % (float(sys.argv[1]) * 1000))" "$1"; }
rss_push=$( { rm -rf "$STORAGE/docker"; /usr/bin/time -v "$BIN" push --no-progress "oci:$WORK/python:latest" "docker://$HOST/rss:latest" >/dev/null; } 2>&1 \
  | sed -n 's/.*Maximum resident set size (kbytes): //p' | awk '{printf "%.0f", $1/1024}')

{
  echo "### Run of $(date -u +%Y-%m-%d) on $(nproc) cores ($(uname -m)), ${RUNS} runs each"
  echo
  echo "| benchmark | bulwark | skopeo copy --all | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| push into an empty registry | ${bw_push} s | ${sk_push} s | $(ratio "$bw_push" "$sk_push") | at least as fast |"
  echo "| pull into an empty layout | ${bw_pull} s | ${sk_pull} s | $(ratio "$bw_pull" "$sk_pull") | at least as fast |"
  echo "| push, registry holds everything | $(ms "$bw_noop") | $(ms "$sk_noop") | $(ratio "$bw_noop" "$sk_noop") | ≤ 100 ms |"
  echo "| peak RSS, push | ${rss_push} MB | | | |"
  echo
  echo "The image is examples/python.yaml, signed: ${blobs} blobs, ${image_mb} MB in the layout. bulwark moves the image and its attestations (SBOMs, provenance, signatures, listed under the \`sha256-<hex>\` referrers tag, as docker-registry 2.8 has no referrers API); skopeo 1.9 copies the image only. The registry is Debian's docker-registry on 127.0.0.1 (filesystem storage, emptied before each push run); both tools run \`--preserve-digests\`-equivalent (bulwark always sends manifests as their bytes). The pulled layout was checked with \`bulwark verify\` offline."
  echo
} >"$RESULTS"
cat "$RESULTS"
python3 bench/record.py registry "$RESULTS"
