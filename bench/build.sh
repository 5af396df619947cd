#!/usr/bin/env bash
# Benchmarks `bulwark build` against mmdebstrap, side by side in one run,
# and records the results in the `build` section of BENCHMARKS.md. Needs
# root (mmdebstrap --mode=root is the fastest mode here) and the host's
# Debian APT sources. Usually run through bench/run.sh.
#
#   bench/build.sh           # results into BENCHMARKS.md
#   RUNS=3 bench/build.sh    # fewer hyperfine runs
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
export SOURCE_DATE_EPOCH=1700000000
cargo build --release --quiet
BIN=$PWD/target/release/bulwark
WORK=$(mktemp -d /tmp/bulwark-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.md

# The host's Debian mirror, read from its APT configuration at run time.
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | tr ' ' '\n' | grep -v -- '-security' | grep '/debian$' | head -1)
security=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | tr ' ' '\n' | grep -- '-security$' | head -1)
[ -n "$mirror" ] || { echo "bench: no Debian mirror in the host's APT sources" >&2; exit 2; }
MM_SOURCES=("deb $mirror bookworm main" "deb $security bookworm-security main")

pkgs_of() { # the package set bulwark resolves for a spec, comma-separated
  cp "examples/$1.yaml" "$WORK/$1.yaml"
  BULWARK_CACHE_DIR=$WORK/cache-warm "$BIN" lock --quiet "$WORK/$1.yaml"
  python3 -c 'import sys, tomllib; print(",".join(p["name"] for p in tomllib.load(open(sys.argv[1], "rb"))["package"]))' "$WORK/$1.lock"
}

rss_mb() { # peak RSS in MB of a command
  /usr/bin/time -v "$@" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p' | awk '{printf "%.0f", $1/1024}'
}

echo "bench: warming bulwark's cache" >&2
BULWARK_CACHE_DIR=$WORK/cache-warm "$BIN" build --quiet examples/base.yaml -o "oci:$WORK/warm-base" >/dev/null
BULWARK_CACHE_DIR=$WORK/cache-warm "$BIN" build --quiet examples/essential.yaml -o "oci:$WORK/warm-essential" >/dev/null
BASE_PKGS=$(pkgs_of base)

hf() { hyperfine --style basic --export-json "$WORK/$1.json" --runs "$RUNS" "${@:2}" >&2; }
mean() { python3 -c "import json,sys; r=json.load(open('$WORK/$1.json'))['results']; print(' '.join('%.3f' % x['mean'] for x in r))"; }

echo "bench: base, warm" >&2
hf base-warm \
  -n "bulwark base (warm)" "BULWARK_CACHE_DIR=$WORK/cache-warm $BIN build --quiet examples/base.yaml -o oci:$WORK/b1" \
  -n "mmdebstrap extract base" "mmdebstrap --quiet --mode=root --variant=extract --include=$BASE_PKGS bookworm $WORK/mm-base.tar '${MM_SOURCES[0]}' '${MM_SOURCES[1]}'"
read -r bw mw <<<"$(mean base-warm)"

echo "bench: base, cold" >&2
hf base-cold --prepare "rm -rf $WORK/cache-cold" \
  -n "bulwark base (cold)" "BULWARK_CACHE_DIR=$WORK/cache-cold $BIN build --quiet examples/base.yaml -o oci:$WORK/b2" \
  -n "mmdebstrap extract base" "mmdebstrap --quiet --mode=root --variant=extract --include=$BASE_PKGS bookworm $WORK/mm-base.tar '${MM_SOURCES[0]}' '${MM_SOURCES[1]}'"
read -r bc mc <<<"$(mean base-cold)"

echo "bench: essential, warm" >&2
hf essential-warm \
  -n "bulwark essential (warm)" "BULWARK_CACHE_DIR=$WORK/cache-warm $BIN build --quiet examples/essential.yaml -o oci:$WORK/e1" \
  -n "mmdebstrap essential" "mmdebstrap --quiet --mode=root --variant=essential bookworm $WORK/mm-ess.tar '${MM_SOURCES[0]}' '${MM_SOURCES[1]}'"
read -r ew me <<<"$(mean essential-warm)"

echo "bench: peak RSS" >&2
rss_base=$(rss_mb env BULWARK_CACHE_DIR=$WORK/cache-warm "$BIN" build --quiet examples/base.yaml -o "oci:$WORK/b3")
rss_ess=$(rss_mb env BULWARK_CACHE_DIR=$WORK/cache-warm "$BIN" build --quiet examples/essential.yaml -o "oci:$WORK/e3")
rss_mm=$(rss_mb mmdebstrap --quiet --mode=root --variant=essential bookworm "$WORK/mm-ess2.tar" "${MM_SOURCES[0]}" "${MM_SOURCES[1]}")

echo "bench: one package changed" >&2
# The same spec with one package pinned to another version: only its layer
# should change. tzdata is in both bookworm and bookworm-updates/-security
# rarely, so pin libssl3 to the version in bookworm (older than -security).
old_ssl=$(apt-cache madison libssl3 | awk -F'|' '$3 ~ /bookworm\/main/ && $3 !~ /security/ {gsub(/ /,"",$2); print $2; exit}')
layers() { python3 - "$1" <<'PY'
import json,sys,os
d=sys.argv[1]; idx=json.load(open(os.path.join(d,'index.json')))
# The tagged image, not one of the attestations index.json also lists.
tagged=[e for e in idx['manifests'] if 'org.opencontainers.image.ref.name' in e.get('annotations',{})]
m=json.load(open(os.path.join(d,'blobs/sha256',tagged[0]['digest'][7:])))
print('\n'.join(l['digest'] for l in m['layers']))
PY
}
sed "s/  - libssl3$/  - libssl3=$old_ssl/" examples/base.yaml > "$WORK/base-pinned.yaml"
# The old libssl3 .deb is fetched first, so the timed build is the rebuild
# itself: one layer unpacked and compressed anew, the others from the cache.
BULWARK_CACHE_DIR=$WORK/cache-warm "$BIN" lock --quiet "$WORK/base-pinned.yaml"
BULWARK_CACHE_DIR=$WORK/cache-warm "$BIN" build --quiet --locked "$WORK/base-pinned.yaml" -o "oci:$WORK/pinned-fetch" >/dev/null
rm -rf "$WORK/cache-warm/records/layer"
BULWARK_CACHE_DIR=$WORK/cache-warm "$BIN" build --quiet "$WORK/base.yaml" -o "oci:$WORK/b1" >/dev/null
start=$(date +%s.%N)
BULWARK_CACHE_DIR=$WORK/cache-warm "$BIN" build --quiet --locked "$WORK/base-pinned.yaml" -o "oci:$WORK/pinned" >/dev/null
pinned_warm=$(python3 -c "print('%.3f' % ($(date +%s.%N) - $start))")
changed=$(comm -13 <(layers "$WORK/b1" | sort) <(layers "$WORK/pinned" | sort) | wc -l)
total=$(layers "$WORK/pinned" | wc -l)

ratio() { python3 -c "print('%.1f' % ($1 / $2))"; }
{
  echo "### Run of $(date -u +%Y-%m-%d) on $(nproc) cores ($(uname -m)), ${RUNS} runs each"
  echo
  echo "| benchmark | bulwark | mmdebstrap | ratio | target |"
  echo "|---|---|---|---|---|"
  echo "| base, warm cache | ${bw} s | ${mw} s | $(ratio "$mw" "$bw")× faster | ≤ 1 s and ≥ 10× |"
  echo "| base, cold cache | ${bc} s | ${mc} s | $(ratio "$mc" "$bc")× faster | ≥ 3× |"
  echo "| essential, warm cache | ${ew} s | ${me} s | $(ratio "$me" "$ew")× faster | ≤ 3 s |"
  echo "| peak RSS, base warm | ${rss_base} MB | | | ≤ 300 MB |"
  echo "| peak RSS, essential warm | ${rss_ess} MB | ${rss_mm} MB (essential) | | ≤ 300 MB |"
  echo "| one package changed (libssl3 $old_ssl) | ${changed} of ${total} layers rewritten, rebuild ${pinned_warm} s | | | only that package's layer (+ system layer) |"
  echo
  echo "mmdebstrap runs \`--mode=root\`; it is given bulwark's resolved set for examples/base.yaml ($BASE_PKGS) as \`--include\`, and apt adds what bulwark's \`exclude\` leaves out (mawk, openssl, debconf). It keeps no cache between runs, so its warm and cold figures differ only by noise."
  echo
} > "$RESULTS"
cat "$RESULTS"
python3 bench/record.py build "$RESULTS"
