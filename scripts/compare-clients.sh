#!/usr/bin/env bash
# Side by side in one run: profilemate's `bench serve` client vs vLLM 0.32's Python client
# (`vllm bench serve`), both against `profilemate sim serve` on loopback.
#
#   1. Client speed: --time-scale 0 (the engine streams as fast as clients read), 2000 requests
#      x 256 output tokens, 1000 concurrent streams: output tokens per second.
#   2. Ground-truth accuracy: fixed timing (first token at exactly 50 ms, then one every 10 ms,
#      100 tokens) at 1, 100 and 1000 concurrent streams: measured-minus-true TTFT (mean, p99)
#      and the ITL standard deviation (truth: 0). Conditions, each printed with the table:
#      ACC_INPUT_LEN prompt tokens (default 32), ACC_PER_SLOT requests per concurrency slot
#      (default 1: C requests at C streams, so every request of vLLM's client opens its own
#      connection inside its TTFT), ACC_STREAMS (default "1 100 1000"). Our client runs twice:
#      "ours-cold" (--cold-connections: connects inside the TTFT, as vLLM's client does) and
#      "ours" (default: the connections are opened before the timed run and their connect time
#      is reported apart).
#
# usage: scripts/compare-clients.sh [speed|accuracy|all]   (default: all)
# env:   PROFILEMATE (default: target/release/profilemate, built if missing),
#        VLLM_REF_VENV (default: ~/.cache/vllm-ref/venv), PORT (default: 18123),
#        VLLM_REF_TOOLS (default: ../shared/tools/vllm-ref), OUT (results; default: a temp dir),
#        PIN=1 (server on CPU 0, client on CPU 1, so neither steals the other's core),
#        REPEAT (speed runs per client; default 3), CLIENTS (default "ours vllm"; "ours" alone
#        measures a build of ours without vLLM's client)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WHAT=${1:-all}
VENV=${VLLM_REF_VENV:-$HOME/.cache/vllm-ref/venv}
PORT=${PORT:-18123}
OUT=${OUT:-$(mktemp -d)}
URL="http://127.0.0.1:$PORT"
MODEL=llama-3.1-8b
PM=${PROFILEMATE:-}
if [[ -z "$PM" ]]; then
  (cd "$ROOT" && cargo build --release -q -p profilemate)
  PM="${CARGO_TARGET_DIR:-$ROOT/target}/release/profilemate"
fi
SERVER_PID=
SERVER_CPU=()
CLIENT_CPU=()
if [[ "${PIN:-0}" == 1 ]]; then
  SERVER_CPU=(taskset -c 0)
  CLIENT_CPU=(taskset -c 1)
fi

# The tokenizer vLLM's client needs (a tiny local BPE; no download).
tokenizer() {
  if [[ ! -f "$OUT/tok/tokenizer.json" ]]; then
    "$VENV/bin/python" "${VLLM_REF_TOOLS:-$ROOT/../shared/tools/vllm-ref}/make-tiny-model.py" "$OUT/tok" >/dev/null
  fi
}

# start_server ARGS...: `profilemate sim serve` on $PORT, waiting for /health.
start_server() {
  "${SERVER_CPU[@]}" "$PM" sim serve --port "$PORT" --disable-log-stats --max-num-seqs 1024 \
    --max-num-batched-tokens 8192 "$@" >"$OUT/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    curl -sf "$URL/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "sim serve did not start; see $OUT/server.log" >&2
  exit 2
}

stop_server() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
trap stop_server EXIT

# The workload flags both clients share (vLLM's spelling).
common() { # NAME PROMPTS OUTPUT_LEN CONCURRENCY [INPUT_LEN]
  echo --base-url "$URL" --model "$MODEL" --backend openai --dataset-name random \
    --random-input-len "${5:-16}" --random-output-len "$3" --num-prompts "$2" \
    --max-concurrency "$4" --ignore-eos --percentile-metrics ttft,tpot,itl,e2el \
    --metric-percentiles 50,99 --save-result --result-dir "$OUT" --result-filename "$1.json"
}

# ours|ours-cold|vllm NAME PROMPTS OUTPUT_LEN CONCURRENCY [INPUT_LEN]: one client run against
# the running server; the client's own CPU time (user + sys, s) goes to $OUT/CLIENT-NAME.cpu.
ours() {
  # shellcheck disable=SC2046
  "${CLIENT_CPU[@]}" /usr/bin/time -f "%U %S" -o "$OUT/ours-$1.cpu" \
    "$PM" bench serve $(common "ours-$1" "$2" "$3" "$4" "${5:-}") --disable-tqdm \
    >"$OUT/ours-$1.txt" 2>&1
}
ours-cold() {
  # shellcheck disable=SC2046
  "${CLIENT_CPU[@]}" /usr/bin/time -f "%U %S" -o "$OUT/ours-cold-$1.cpu" \
    "$PM" bench serve $(common "ours-cold-$1" "$2" "$3" "$4" "${5:-}") --disable-tqdm \
    --cold-connections >"$OUT/ours-cold-$1.txt" 2>&1
}
vllm() {
  # shellcheck disable=SC2046
  VLLM_TARGET_DEVICE=cpu "${CLIENT_CPU[@]}" /usr/bin/time -f "%U %S" -o "$OUT/vllm-$1.cpu" \
    "$VENV/bin/vllm" bench serve $(common "vllm-$1" "$2" "$3" "$4" "${5:-}") \
    --tokenizer "$OUT/tok" --disable-tqdm >"$OUT/vllm-$1.txt" 2>&1
}

# field FILE KEY: one number from a result JSON.
field() { "$VENV/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

# Speed runs alternate clients, a fresh server each time; REPEAT (default 3) runs per client.
speed() {
  local repeat=${REPEAT:-3}
  echo "## Client speed: 2000 requests x 256 output tokens, 1000 concurrent streams, sim serve --time-scale 0"
  printf '| run | client | output tok/s | duration (s) | completed | client CPU (s) |\n|---|---|---|---|---|---|\n'
  local clients=${CLIENTS:-ours vllm}
  for i in $(seq "$repeat"); do
    for client in $clients; do
      start_server --time-scale 0
      "$client" "speed$i" 2000 256 1000
      stop_server
      local f="$OUT/$client-speed$i.json"
      printf '| %s | %s | %.0f | %.2f | %s | %.2f |\n' "$i" "$client" \
        "$(field "$f" output_throughput)" "$(field "$f" duration)" "$(field "$f" completed)" \
        "$(awk '{print $1 + $2}' "$OUT/$client-speed$i.cpu")"
    done
  done
  for client in $clients; do # a one-request run: the client's start-up CPU, for reference
    start_server --time-scale 0
    "$client" startup 1 1 1
    stop_server
    printf '| start-up (1 request) | %s | | | | %.2f |\n' "$client" \
      "$(awk '{print $1 + $2}' "$OUT/$client-startup.cpu")"
  done
  "$VENV/bin/python" - "$OUT" "$repeat" $clients <<'PY'
import json, statistics, sys
out, n, clients = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
tps = {c: statistics.median(json.load(open(f"{out}/{c}-speed{i}.json"))["output_throughput"]
                            for i in range(1, n + 1)) for c in clients}
print("\nMedian output tok/s: " + ", ".join(f"{c} {t:.0f}" for c, t in tps.items()), end="")
print(f": {tps['ours'] / tps['vllm']:.1f}x" if len(tps) == 2 else "")
PY
}

accuracy() {
  local input=${ACC_INPUT_LEN:-32} per_slot=${ACC_PER_SLOT:-1}
  echo "## Ground truth: sim serve --fixed-ttft-ms 50 --fixed-itl-ms 10, $input prompt tokens," \
    "100 output tokens, $per_slot request(s) per concurrency slot (at least 20 requests)"
  printf '| streams | client | TTFT error mean (ms) | TTFT error p99 (ms) | ITL std (ms) | ITL p99 (ms) |\n|---|---|---|---|---|---|\n'
  for c in ${ACC_STREAMS:-1 100 1000}; do
    local n=$((c * per_slot < 20 ? 20 : c * per_slot))
    for client in ${ACC_CLIENTS:-ours-cold ours vllm}; do
      start_server --fixed-ttft-ms 50 --fixed-itl-ms 10
      "$client" "acc$c" "$n" 100 "$c" "$input"
      stop_server
      local f="$OUT/$client-acc$c.json"
      "$VENV/bin/python" - "$f" "$c" "$client" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]} | {sys.argv[3]} | {r['mean_ttft_ms'] - 50:.2f} | {r['p99_ttft_ms'] - 50:.2f} "
      f"| {r['std_itl_ms']:.2f} | {r['p99_itl_ms']:.2f} |")
PY
    done
  done
}

tokenizer
echo "profilemate: $PM; vLLM client: $VENV; results in $OUT"
case "$WHAT" in
  speed) speed ;;
  accuracy) accuracy ;;
  all) speed; accuracy ;;
  *) echo "usage: $0 [speed|accuracy|all]" >&2; exit 2 ;;
esac
