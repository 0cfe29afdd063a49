#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, cargo-fuzz + libFuzzer on the nightly toolchain; release code
# with debug assertions and overflow checks on, so arithmetic that wraps is a crash) for a fixed
# time each, starting from the checked-in seeds, and prints one line per target: executions,
# seconds, and whether it found a crash (the input is kept under fuzz/artifacts/TARGET/).
# Not run by CI. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 120, all)
# Needs: rustup toolchain nightly, `cargo install cargo-fuzz`.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-120}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O -a >/dev/null 2>&1
for target in "${targets[@]}"; do
    corpus=corpus/$target
    mkdir -p "$corpus"
    [[ -d seeds/$target ]] && cp -n seeds/"$target"/* "$corpus"/ 2>/dev/null
    log=$(mktemp)
    cargo +nightly fuzz run -O -a "$target" "$corpus" -- -max_total_time="$seconds" \
        -max_len=65536 -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    [[ -z $execs ]] && execs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')
    verdict=ok
    ((rc != 0)) && verdict="CRASH (see fuzz/artifacts/$target/; log $log)"
    printf '%-18s %12s execs in %4ss  %s\n' "$target" "${execs:-?}" "$seconds" "$verdict"
    ((rc == 0)) && rm -f "$log"
done
