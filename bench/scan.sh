#!/usr/bin/env bash
# Benchmarks the vulnerability database: import of the shipped OSV snapshot
# (wall time, peak memory, database size) and loading the database plus
# scanning a dpkg status file (the host's, and its Priority: required /
# Essential subset as a stand-in for the `essential` image until
# `bulwark scan` is wired).
#
#   bench/scan.sh [SNAPSHOT.zip]
#
# Targets (issue 4): import <= 10 s on 2 cores, database <= 30 MB,
# load + scan <= 100 ms, memory <= 200 MB for the scan.
set -euo pipefail
cd "$(dirname "$0")/.."
ZIP=${1:-../shared/data/osv-debian-2025-02-12.zip}
[ -f "$ZIP" ] || { echo "bench/scan.sh: no snapshot at $ZIP" >&2; exit 2; }
cargo build --release --quiet -p bulwark-vuln --examples
WORK=$(mktemp -d /tmp/bulwark-scan-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
DB=$WORK/vuln.db

echo "== import $(basename "$ZIP")"
/usr/bin/time -v target/release/examples/import "$ZIP" "$DB" >"$WORK/import.json" 2>"$WORK/import.time"
grep -E 'Elapsed \(wall|Maximum resident|Percent of CPU' "$WORK/import.time"
python3 - "$WORK/import.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"records {d['stats']['records']}, skipped {d['stats']['skipped']}")
print(f"import {d['import_seconds']:.2f} s, import+save {d['import_and_save_seconds']:.2f} s")
print(f"database {d['database_bytes'] / 1e6:.2f} MB")
PY

# The host's required/essential packages, as a small image's status file.
python3 - "$WORK/essential-status" <<'PY'
import sys
paras = [p for p in open('/var/lib/dpkg/status').read().split('\n\n') if p.strip()]
keep = [p for p in paras if 'Priority: required' in p or 'Essential: yes' in p]
open(sys.argv[1], 'w').write('\n\n'.join(keep) + '\n')
PY
for status in "$WORK/essential-status" /var/lib/dpkg/status; do
  echo "== load + scan $status"
  for _ in 1 2 3 4 5; do
    target/release/examples/scan "$DB" "$status" >/dev/null
  done 2>&1 | tail -5
  /usr/bin/time -v target/release/examples/scan "$DB" "$status" 2>&1 >/dev/null \
    | grep -E 'Elapsed \(wall|Maximum resident'
done
