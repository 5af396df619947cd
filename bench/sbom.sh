#!/usr/bin/env bash
# Benchmarks SBOMs and provenance, and records the results in the `sbom`
# section of BENCHMARKS.md. Usually run through bench/run.sh. Needs root
# (mmdebstrap --mode=root) and the host's Debian APT sources.
#
#   bench/sbom.sh            # results into BENCHMARKS.md
#   RUNS=5 bench/sbom.sh     # fewer runs
#
# (a) What SBOMs and provenance add to a warm build of examples/python.yaml.
#     bulwark has no switch to build without attestations; a build with
#     --verbose prints the wall time of each of its phases
#     (`timing: resolve … attest … publish …, total …`), so the overhead is
#     the attest phase against the rest of the whole run's wall time.
#     Target: ≤ 10 %. A warm build finds what reading each layer back found
#     in the cache; the "no layer read cached"
#     rows delete those records (`records/layer-scan`) first, so the attest
#     phase decompresses every layer, the worst case (a changed package
#     only re-reads its own layer).
# (b) `bulwark sbom rootfs:DIR` of a ~300-package mmdebstrap root file
#     system, beside `dpkg-query -W` on the same dpkg database (the floor:
#     it only lists names and versions). Target: ≤ 200 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
export SOURCE_DATE_EPOCH=1700000000
cargo build --release --quiet -p bulwark
BIN=$PWD/target/release/bulwark
WORK=$(mktemp -d /tmp/bulwark-sbom-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.md
export BULWARK_CACHE_DIR=$WORK/cache

# The host's Debian mirror, read from its APT configuration at run time.
mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | tr ' ' '\n' | grep -v -- '-security' | grep '/debian$' | head -1)
security=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
  | tr ' ' '\n' | grep -- '-security$' | head -1)
[ -n "$mirror" ] || { echo "bench: no Debian mirror in the host's APT sources" >&2; exit 2; }

# (a) Attestation overhead on warm builds, unsigned and signed.
echo "bench: warming bulwark's cache with examples/python.yaml" >&2
"$BIN" build --quiet examples/python.yaml -o "oci:$WORK/warm" >/dev/null
"$BIN" key generate --quiet --out "$WORK/key" >/dev/null
phases() { # RUNS warm builds (fresh output each); one JSON line per run
  for i in $(seq "$RUNS"); do
    rm -rf "$WORK/p"
    [ -z "${READ_BACK:-}" ] || rm -rf "$BULWARK_CACHE_DIR/records/layer-scan"
    start=$(date +%s.%N)
    "$BIN" build --verbose --no-progress examples/python.yaml -o "oci:$WORK/p" "$@" \
      2>"$WORK/build.err" >/dev/null
    end=$(date +%s.%N)
    python3 - "$start" "$end" "$WORK/build.err" <<'PY'
import json, re, sys
start, end, err = float(sys.argv[1]), float(sys.argv[2]), open(sys.argv[3]).read()
line = next(l for l in err.splitlines() if "timing:" in l)
phases = {k: float(v) for k, v in re.findall(r"(\w+) ([0-9.]+) s", line)}
phases["wall"] = end - start
print(json.dumps(phases))
PY
  done
}
echo "bench: python, warm, unsigned" >&2
phases >"$WORK/unsigned.jsonl"
echo "bench: python, warm, --sign" >&2
phases --sign "$WORK/key" >"$WORK/signed.jsonl"
echo "bench: python, warm, image read back" >&2
READ_BACK=1 phases >"$WORK/readback.jsonl"
READ_BACK=1 phases --sign "$WORK/key" >"$WORK/readback-signed.jsonl"
summary() { # median wall, attest, publish and the overhead of one series
  python3 - "$1" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
med = lambda k: statistics.median(r[k] for r in runs)
overhead = statistics.median(r["attest"] / (r["wall"] - r["attest"]) for r in runs)
print("%.3f %.3f %.3f %.1f" % (med("wall"), med("attest"), med("publish"), 100 * overhead))
PY
}
read -r u_wall u_attest u_publish u_pct <<<"$(summary "$WORK/unsigned.jsonl")"
read -r s_wall s_attest s_publish s_pct <<<"$(summary "$WORK/signed.jsonl")"
read -r r_wall r_attest r_publish r_pct <<<"$(summary "$WORK/readback.jsonl")"
read -r rs_wall rs_attest rs_publish rs_pct <<<"$(summary "$WORK/readback-signed.jsonl")"
py_pkgs=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len([p for p in d["packages"] if p.get("externalRefs")]))' \
  <(SOURCE_DATE_EPOCH=1700000000 "$BIN" sbom "oci:$WORK/p:latest"))

# (b) `bulwark sbom rootfs:` of a ~300-package root file system.
echo "bench: making a root file system with mmdebstrap --variant=standard" >&2
ROOTFS=$WORK/rootfs
mmdebstrap --quiet --mode=root --variant=standard --include=build-essential bookworm "$ROOTFS" \
  "deb $mirror bookworm main" "deb $security bookworm-security main"
pkgs=$(dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f '${db:Status-Status}\n' | grep -c '^installed$')
# The SBOM lists exactly the packages dpkg-query lists.
diff <(dpkg-query --admindir="$ROOTFS/var/lib/dpkg" -W -f '${db:Status-Status} ${Package} ${Version}\n' \
         | awk '$1 == "installed" {print $2, $3}' | sort) \
     <("$BIN" sbom "rootfs:$ROOTFS" 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p.get("externalRefs"):
        print(p["name"], p["versionInfo"])' | sort) >&2 \
  || { echo "bench: the SBOM does not list what dpkg-query lists" >&2; exit 1; }
echo "bench: sbom rootfs: ($pkgs packages)" >&2
hyperfine --style basic --shell=none --warmup 3 --runs "$((RUNS * 3))" --output=null \
  --export-json "$WORK/rootfs.json" \
  -n "bulwark sbom (SPDX)" "$BIN sbom rootfs:$ROOTFS" \
  -n "bulwark sbom (CycloneDX)" "$BIN sbom rootfs:$ROOTFS --format cyclonedx-json" \
  -n "dpkg-query -W" "dpkg-query --admindir=$ROOTFS/var/lib/dpkg -W -f '\${Package} \${Version}\n'" >&2
read -r spdx_ms cdx_ms dpkg_ms <<<"$(python3 -c "import json; r=json.load(open('$WORK/rootfs.json'))['results']; print(' '.join('%.1f' % (x['mean'] * 1000) for x in r))")"
rss_mb=$(/usr/bin/time -v "$BIN" sbom "rootfs:$ROOTFS" 2>&1 >/dev/null \
  | sed -n 's/.*Maximum resident set size (kbytes): //p' | awk '{printf "%.0f", $1/1024}')

{
  echo "### Run of $(date -u +%Y-%m-%d) on $(nproc) cores ($(uname -m)), ${RUNS} builds each"
  echo
  echo "| benchmark | bulwark | peer / baseline | target |"
  echo "|---|---|---|---|"
  echo "| python, warm build, unsigned: attest phase (SBOMs + provenance) | ${u_attest} s of ${u_wall} s (publish ${u_publish} s) | ${u_pct} % added | ≤ 10 % |"
  echo "| python, warm build, \`--sign\`: attest phase (+ DSSE, signature) | ${s_attest} s of ${s_wall} s (publish ${s_publish} s) | ${s_pct} % added | ≤ 10 % |"
  echo "| python, no layer read cached (every layer decompressed), unsigned | ${r_attest} s of ${r_wall} s (publish ${r_publish} s) | ${r_pct} % added | |"
  echo "| python, no layer read cached (every layer decompressed), \`--sign\` | ${rs_attest} s of ${rs_wall} s (publish ${rs_publish} s) | ${rs_pct} % added | |"
  echo "| \`sbom rootfs:\` SPDX, ${pkgs} packages | ${spdx_ms} ms | dpkg-query -W ${dpkg_ms} ms | ≤ 200 ms |"
  echo "| \`sbom rootfs:\` CycloneDX, ${pkgs} packages | ${cdx_ms} ms | | ≤ 200 ms |"
  echo "| peak RSS, \`sbom rootfs:\` | ${rss_mb} MB | | |"
  echo
  echo "Builds are medians of ${RUNS} warm builds of examples/python.yaml (${py_pkgs} packages) into a fresh layout; the attest phase is timed by the build itself (\`--verbose\` prints \`timing:\` per phase) and its share is attest / (whole run − attest). A warm build reuses what reading each layer found (cached under the layer's digest; the layers the build has just written and hashed are not hashed again); the \"no layer read cached\" rows measure the attest phase when it decompresses every layer again, the worst case. The root file system is mmdebstrap \`--variant=standard --include=build-essential\` of bookworm; the SBOM was checked to list exactly dpkg-query's packages and versions. dpkg-query only prints names and versions: it is the floor, not a peer that writes an SBOM."
  echo
} >"$RESULTS"
cat "$RESULTS"
python3 bench/record.py sbom "$RESULTS"
