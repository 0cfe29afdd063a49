#!/usr/bin/env bash
# Side by side on one ≥ 1 GB vLLM log (the two real captures repeated): `profilemate analyze
# log` against `grep -c Iteration` and a Python snippet that counts Iteration lines and sums
# their context and generation tokens. Builds the release binary; writes the log to /tmp.
# Usage: scripts/bench-analyze.sh [SIZE_MB]   (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-1024}
log=/tmp/profilemate-bench-analyze-${size_mb}mb.log
cargo build --release -q -p profilemate
bin=target/release/profilemate
if [[ ! -f $log ]] || (( $(stat -c %s "$log") < size_mb * 1024 * 1024 )); then
    one=$(mktemp)
    cat testdata/vllm-0.32-cpu/run1/server.log testdata/vllm-0.32-cpu/run2-sched/server.log >"$one"
    : >"$log"
    # Double the chunk to ~64 MiB, then append it until the log is large enough.
    while (( $(stat -c %s "$one") < 64 * 1024 * 1024 )); do
        cat "$one" "$one" >"$one.2" && mv "$one.2" "$one"
    done
    while (( $(stat -c %s "$log") < size_mb * 1024 * 1024 )); do
        cat "$one" >>"$log"
    done
    rm -f "$one"
fi
bytes=$(stat -c %s "$log")
echo "log: $log ($((bytes / 1024 / 1024)) MiB); warming the page cache"
cat "$log" >/dev/null

run() {
    local name=$1; shift
    local start end
    start=$(date +%s.%N)
    "$@" >/tmp/profilemate-bench-analyze.out
    end=$(date +%s.%N)
    awk -v n="$name" -v s="$start" -v e="$end" -v b="$bytes" \
        'BEGIN { t = e - s; printf "%-26s %7.2f s  %8.0f MB/s\n", n, t, b / t / 1e6 }'
    head -c 200 /tmp/profilemate-bench-analyze.out | head -3
}

run "profilemate analyze log" taskset -c 0 "$bin" analyze log --json "$log"
run "grep -c Iteration" taskset -c 0 grep -c Iteration "$log"
run "python (count + tokens)" taskset -c 0 python3 -c '
import re, sys
pat = re.compile(rb"(\d+) context tokens, \d+ generation requests, (\d+) generation tokens")
n = ctx = gen = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        if b"Iteration(" in line:
            m = pat.search(line)
            n += 1
            ctx += int(m.group(1)); gen += int(m.group(2))
print(n, ctx, gen)
' "$log"
