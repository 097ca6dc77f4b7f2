#!/usr/bin/env bash
# Whole-process wall time of a malloc/free loop (allocations 20 frames deep),
# natively, under memscope (LD_PRELOAD) and under heaptrack, 5 runs each;
# prints the median, the slowdown against native and memscope's overhead
# relative to heaptrack's.
#
#   scripts/bench_malloc_loop.sh [ITERATIONS per thread] [THREADS] [DEPTH] [RUNS]
#   defaults:                     2000000                 1         20      5
#
# Needs gcc, heaptrack and target/release/libmemscope.so (built if missing).
set -euo pipefail

iterations="${1:-2000000}"
threads="${2:-1}"
depth="${3:-20}"
runs="${4:-5}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

preload="$root/target/release/libmemscope.so"
if [ ! -f "$preload" ]; then
    echo "building memscope (cargo build --release)" >&2
    cargo build --release >&2
fi
command -v heaptrack >/dev/null 2>&1 || bash scripts/ensure_packages.sh heaptrack
command -v gcc >/dev/null 2>&1 || bash scripts/ensure_packages.sh gcc

work="$(mktemp -d /tmp/memscope-bench.XXXXXX)"
trap 'rm -rf "$work"' EXIT
prog="$work/malloc_loop"
gcc -O2 -g -pthread -o "$prog" scripts/malloc_loop.c

# Prints the wall time of one run of "$@" in seconds (output discarded).
time_once() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    echo "$(( (end - start) / 1000 ))" # microseconds
}

# median of the arguments (microseconds)
median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

run_native() { "$prog" "$iterations" "$threads" "$depth"; }
run_memscope() {
    rm -f "$work"/trace.*.msl
    LD_PRELOAD="$preload" MEMSCOPE_OUTPUT="$work/trace.%p.msl" "$prog" "$iterations" "$threads" "$depth"
}
run_heaptrack() {
    rm -f "$work"/heaptrack.*
    heaptrack -o "$work/heaptrack.out" "$prog" "$iterations" "$threads" "$depth"
}

# Check each mode works once before timing (and show a failure plainly).
run_native >/dev/null
run_memscope >/dev/null || { echo "error: the program failed under memscope" >&2; exit 1; }
run_heaptrack >/dev/null 2>&1 || { echo "error: the program failed under heaptrack" >&2; exit 1; }

declare -A med
for mode in native memscope heaptrack; do
    times=()
    for _ in $(seq "$runs"); do
        times+=("$(time_once "run_$mode")")
    done
    med[$mode]="$(median "${times[@]}")"
    echo "$mode: ${times[*]} us" >&2
done

trace_size=$(stat -c %s "$work"/trace.*.msl 2>/dev/null | head -1 || echo 0)

echo
echo "malloc_loop: $iterations iterations x $threads thread(s), allocation $depth frames deep; median of $runs runs"
printf '%-10s %12s %14s\n' "mode" "median (s)" "vs native"
for mode in native memscope heaptrack; do
    awk -v m="$mode" -v t="${med[$mode]}" -v n="${med[native]}" \
        'BEGIN { printf "%-10s %12.3f %13.1fx\n", m, t / 1e6, t / n }'
done
awk -v ms="${med[memscope]}" -v ht="${med[heaptrack]}" -v n="${med[native]}" \
    'BEGIN { printf "memscope overhead / heaptrack overhead: %.2f (below 1: memscope is cheaper)\n", (ms - n) / (ht - n) }'
echo "memscope trace size: $trace_size bytes"
