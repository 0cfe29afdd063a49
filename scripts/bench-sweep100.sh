#!/usr/bin/env bash
# Issue 14's benchmark (BENCHMARKS.md, "sim sweep: a recommendation over 100 configurations"):
# `sim sweep` over 5 GPUs × 5 --max-num-seqs × 4 --max-num-batched-tokens, each searched for the
# highest request rate that keeps p99 TTFT ≤ 500 ms and p99 TPOT ≤ 50 ms on 10-minute workloads
# of Llama-3.1-8B, 1024-in/128-out. Prints wall, user and system time and peak RSS per build.
#   usage: scripts/bench-sweep100.sh [PROFILEMATE ...]   (default: target/release/profilemate)
# Several builds are run alternately, twice each, so a busy host slows them alike.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILDS=("$@")
[ ${#BUILDS[@]} -gt 0 ] || BUILDS=("$ROOT/target/release/profilemate")
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
python3 - "$OUT/serve100.json" <<'PY'
import json, sys
json.dump([{"gpu": g, "max_num_seqs": s, "max_num_batched_tokens": m}
           for g in ["h100-sxm", "h200", "a100-80gb", "b200", "l40s"]
           for s in [16, 32, 64, 128, 256] for m in [2048, 4096, 8192, 16384]],
          open(sys.argv[1], "w"))
PY
for round in 1 2; do
  for i in "${!BUILDS[@]}"; do
    /usr/bin/time -o "$OUT/time" -f "%e s wall, %U s user, %S s system, %M KB peak RSS" \
      "${BUILDS[$i]}" sim sweep --serve-params "$OUT/serve100.json" --slo ttft_p99_ms:500 \
      --slo tpot_p99_ms:50 --workload-seconds 600 -o "$OUT/sweep-$i-$round.json" -- \
      --model llama-3.1-8b --num-prompts 2000 --random-input-len 1024 --random-output-len 128 \
      --disable-tqdm > "$OUT/out-$i-$round.txt"
    echo "round $round, ${BUILDS[$i]}: $(cat "$OUT/time")"
    grep -m1 "^Recommendation" "$OUT/out-$i-$round.txt" || true
  done
done
