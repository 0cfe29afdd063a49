#!/usr/bin/env bash
# Captures one run of the real vLLM 0.32 CPU server for testdata/vllm-0.32-cpu (issue 15): a fresh
# server with the calibration captures' engine flags, profilemate's bench serve as the client,
# /metrics before and after, then the server stopped. Run from a folder holding ./tiny-llama
# (shared/tools/vllm-ref/make-tiny-model.py) with vLLM installed (shared/tools/vllm-ref/setup.sh);
# copy the result into testdata with paths replaced (<venv>, <python>, <cache>, <tmp>).
#   usage: scripts/capture-vllm-run.sh NAME PORT "BENCH ARGS"     (PM=path/to/profilemate)
set -uo pipefail
NAME=$1; PORT=$2; BENCH=$3
PM=${PM:-profilemate}
VLLM_REF=${VLLM_REF:-$(dirname "$0")/../../shared/tools/vllm-ref}
SERVE_ARGS="--enable-logging-iteration-details --enable-mfu-metrics --max-model-len 2048 --max-num-seqs 8 --max-num-batched-tokens 512 --num-gpu-blocks-override 128 --no-enable-prefix-caching"
OUT=$PWD/$NAME; rm -rf "$OUT"; mkdir -p "$OUT"
echo "$SERVE_ARGS" > "$OUT/serve-args.txt"
echo "$BENCH" > "$OUT/bench-args.txt"
cp tiny-llama/config.json "$OUT/model-config.json"
# shellcheck disable=SC2086
bash "$VLLM_REF/serve.sh" "$PORT" $SERVE_ARGS > "$OUT/server.log" 2>&1 &
SPID=$!
for _ in $(seq 1 240); do curl -sf "localhost:$PORT/health" >/dev/null && break; sleep 1; done
curl -s "localhost:$PORT/metrics" > "$OUT/metrics-before.txt"
sleep 1
# shellcheck disable=SC2086
"$PM" bench serve --base-url "http://127.0.0.1:$PORT" --model tiny-llama --tokenizer ./tiny-llama $BENCH \
  --save-result --save-detailed --result-dir "$OUT" --result-filename bench-1.json --disable-tqdm \
  > "$OUT/bench-1.txt" 2>&1
sleep 2
curl -s "localhost:$PORT/metrics" > "$OUT/metrics-after-1.txt"
kill "$SPID"; sleep 3; pkill -f "serve ./tiny-llama"; wait "$SPID" 2>/dev/null
echo "$NAME: $(grep -c 'Iteration(' "$OUT/server.log") iterations"
