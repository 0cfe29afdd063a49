#!/usr/bin/env bash
# Copies the shared goldens, captures and reference note the tests use into testdata/, from
# ../shared beside the repository (or $SHARED). Run it when new captures or goldens arrive,
# review the diff, and update testdata/README.md (provenance, checksums) in the same commit.
#   usage: scripts/import-testdata.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
DATA=$ROOT/testdata
[[ -d "$SHARED" ]] || { echo "import-testdata: no shared folder at $SHARED (set SHARED=DIR)" >&2; exit 2; }

mkdir -p "$DATA/goldens/perf" "$DATA/reference"
rm -rf "$DATA/goldens/perf/configs"
cp -r "$SHARED/goldens/perf/configs" "$DATA/goldens/perf/"
cp "$SHARED/goldens/perf/README.md" "$DATA/goldens/perf/"
gzip -9 -n -c "$SHARED/goldens/perf/visible.jsonl" >"$DATA/goldens/perf/visible.jsonl.gz"
# Captures: copied over what is there, so files we derived beside them (requests.tsv) stay.
cp -r "$SHARED/fixtures/vllm-0.32-cpu" "$DATA/"
cp "$SHARED/reference/observability-anchors.md" "$DATA/reference/"
chmod -R u+w "$DATA"
echo "visible.jsonl sha256: $(sha256sum "$SHARED/goldens/perf/visible.jsonl" | cut -d' ' -f1)"
git -C "$ROOT" status --short -- testdata
