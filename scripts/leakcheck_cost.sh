#!/usr/bin/env bash
# What the leak check at the end of a process costs, on a heap big enough to matter:
# a C program keeps NODES list nodes of 48 bytes live at exit (default 11,000,000:
# 528 MB requested, ~704 MB of glibc chunks), each node pointing at the next and at an
# earlier node of its list; half of them in a list held by a global (still reachable),
# half in a list whose head is dropped (1 block definitely lost, the rest indirectly).
# It runs
#   - natively,
#   - under memscope (LD_PRELOAD of target/release/libmemscope.so), with the leak check
#     and without it (MEMSCOPE_LEAK_CHECK=0): wall time, peak RSS, trace size, and the
#     check's own time and scanned bytes from the trace's ReachEnd record (memscope dump),
#   - under valgrind --leak-check=full (killed after TIMEOUT seconds, default 600),
# and prints a table, then the leak kinds each side found.
#
#   scripts/leakcheck_cost.sh [NODES] [TIMEOUT]
#
# Needs gcc, valgrind, GNU time (/usr/bin/time) and a release build (built if missing).
set -euo pipefail

nodes="${1:-11000000}"
timeout_s="${2:-600}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

preload="$root/target/release/libmemscope.so"
memscope="$root/target/release/memscope"
if [ ! -f "$preload" ] || [ ! -x "$memscope" ]; then
    echo "building memscope (cargo build --release)" >&2
    cargo build --release >&2
fi
command -v gcc >/dev/null 2>&1 || bash scripts/ensure_packages.sh gcc
command -v valgrind >/dev/null 2>&1 || bash scripts/ensure_packages.sh valgrind
[ -x /usr/bin/time ] || bash scripts/ensure_packages.sh time

work="$(mktemp -d /tmp/memscope-leakcost.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cat >"$work/bigheap.c" <<'EOF'
/* bigheap N: N nodes of 48 bytes live at exit, half kept by a global, half lost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
    struct node *next;
    struct node *back; /* an earlier node of the same list: more pointers to follow */
    char payload[32];
};

struct node *kept;

__attribute__((noinline)) struct node *build(long n, int fill) {
    struct node *head = NULL, *tail = NULL;
    struct node **all = malloc((size_t)n * sizeof *all);
    for (long i = 0; i < n; i++) {
        struct node *x = malloc(sizeof *x);
        if (!x) { perror("malloc"); exit(2); }
        x->next = NULL;
        x->back = i > 0 ? all[(unsigned long)(i * 2654435761UL >> 11) % (unsigned long)i] : NULL;
        memset(x->payload, fill, sizeof x->payload);
        all[i] = x;
        if (tail) tail->next = x; else head = x;
        tail = x;
    }
    /* Zeroed before it is freed: valgrind releases a freed block over 1 MB at once
     * (--freelist-big-blocks) and its old pointers then count as roots. */
    memset(all, 0, (size_t)n * sizeof *all);
    free(all);
    return head;
}

__attribute__((noinline)) void lose(long n) {
    build(n, 0x4c);
}

/* No copy of a pointer into the lost list may stay in a register or below main's frame:
 * through the back pointers, one would keep most of the list reachable. */
__attribute__((noinline)) void scrub(void) {
    volatile char area[16384];
    for (size_t i = 0; i < sizeof area; i++) area[i] = 0;
    __asm__ __volatile__("xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\t"
                         "xor %%esi, %%esi\n\txor %%edi, %%edi\n\txor %%r8d, %%r8d\n\t"
                         "xor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\txor %%r11d, %%r11d\n\t"
                         :
                         :
                         : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11");
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 11000000;
    kept = build(n / 2, 0x4b);
    lose(n - n / 2);
    scrub();
    return 0;
}
EOF
gcc -O0 -g -o "$work/bigheap" "$work/bigheap.c"
prog="$work/bigheap"

# run NAME ENV... -- CMD...: wall seconds and peak RSS (MB) of one run into $work/NAME.*
run() {
    local name="$1"
    shift
    local envs=()
    while [ "$1" != "--" ]; do
        envs+=("$1")
        shift
    done
    shift
    local start end status=0
    start=$(date +%s%N)
    env "${envs[@]}" /usr/bin/time -f "%M" -o "$work/$name.rss" timeout "$timeout_s" "$@" \
        >"$work/$name.out" 2>"$work/$name.err" || status=$?
    end=$(date +%s%N)
    echo "$status" >"$work/$name.status"
    awk -v ns="$((end - start))" 'BEGIN { printf "%.2f", ns / 1e9 }' >"$work/$name.secs"
    local rss
    rss=$(tail -n 1 "$work/$name.rss" 2>/dev/null || echo 0)
    case "$rss" in
    '' | *[!0-9]*) rss=0 ;;
    esac
    awk -v kb="$rss" 'BEGIN { printf "%.0f", kb / 1024 }' >"$work/$name.mb"
}

echo "bigheap $nodes nodes of 48 bytes; timeout ${timeout_s} s per run" >&2

echo "native..." >&2
run native -- "$prog" "$nodes"

echo "memscope with the leak check..." >&2
# The wrappers (GNU time, timeout) inherit the preload too: each trace is named after its
# executable, and bigheap's is the one read.
run traced LD_PRELOAD="$preload" MEMSCOPE_OUTPUT="$work/with.%e.msl" -- "$prog" "$nodes"

echo "memscope without the leak check (MEMSCOPE_LEAK_CHECK=0)..." >&2
run nocheck LD_PRELOAD="$preload" MEMSCOPE_OUTPUT="$work/without.%e.msl" MEMSCOPE_LEAK_CHECK=0 \
    -- "$prog" "$nodes"

echo "valgrind --leak-check=full..." >&2
run valgrind -- valgrind --tool=memcheck --leak-check=full --run-libc-freeres=no \
    "--log-file=$work/valgrind.log" "$prog" "$nodes"

size_mb() {
    if [ -f "$1" ]; then
        awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'
    else
        echo "-"
    fi
}

# The ReachEnd record: "ReachEnd { blocks: B, roots: R, scanned_bytes: S, ns: N, ... }".
reach_end=""
if [ -f "$work/with.bigheap.msl" ]; then
    reach_end=$("$memscope" dump "$work/with.bigheap.msl" 2>/dev/null | grep -m1 'ReachEnd' || true)
fi
field() { sed -n "s/.*[{ ]$1: \([0-9]*\).*/\1/p" <<<"$reach_end"; }
if [ -n "$reach_end" ]; then
    check_s=$(awk -v ns="$(field ns)" 'BEGIN { printf "%.2f", ns / 1e9 }')
    check_note="leak check ${check_s} s: $(field blocks) blocks, $(field roots) roots, $(field scanned_bytes) bytes scanned, $(field threads) other threads stopped ($(field unresponsive) unresponsive)"
else
    check_s="-"
    check_note="no ReachEnd record in the trace (the tracer's leak check did not run or did not finish)"
fi

status_note() {
    local s
    s=$(cat "$work/$1.status")
    case "$s" in
    0) echo "ok" ;;
    124) echo "TIMEOUT" ;;
    *) echo "exit $s" ;;
    esac
}

native_s=$(cat "$work/native.secs")
slowdown() { awk -v a="$1" -v b="$native_s" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }'; }

printf '\n| %-34s | %9s | %8s | %9s | %12s | %-8s |\n' "run" "wall (s)" "vs native" "peak (MB)" "trace (MB)" "status"
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------------------------" "-----------" "----------" "-----------" "--------------" "----------"
for r in native traced nocheck valgrind; do
    case "$r" in
    native) label="native" trace="" ;;
    traced) label="memscope (leak check)" trace="$work/with.bigheap.msl" ;;
    nocheck) label="memscope (MEMSCOPE_LEAK_CHECK=0)" trace="$work/without.bigheap.msl" ;;
    valgrind) label="valgrind --leak-check=full" trace="" ;;
    esac
    secs=$(cat "$work/$r.secs")
    printf '| %-34s | %9s | %8s | %9s | %12s | %-8s |\n' "$label" "$secs" "$(slowdown "$secs")" \
        "$(cat "$work/$r.mb")" "$([ -n "$trace" ] && size_mb "$trace" || echo "-")" "$(status_note "$r")"
done
printf '\nmemscope: %s (%s s)\n' "$check_note" "$check_s"

echo
echo "leak kinds, memscope (analyze --format json, summary.leak_kinds):"
if [ -f "$work/with.bigheap.msl" ]; then
    "$memscope" analyze "$work/with.bigheap.msl" --format json 2>/dev/null |
        python3 -c '
import json, sys
k = json.load(sys.stdin)["summary"].get("leak_kinds")
if k is None:
    print("  null (no leak check in the trace)")
for name, v in (k or {}).items():
    print("  %s: %s bytes in %s blocks" % (name, format(v["bytes"], ","), format(v["blocks"], ",")))
' ||
        echo "  (analyze failed)"
fi
echo "leak kinds, valgrind:"
grep -E "definitely lost:|indirectly lost:|possibly lost:|still reachable:" "$work/valgrind.log" 2>/dev/null |
    sed 's/^==[0-9]*== */  /' || echo "  (no leak summary: $(status_note valgrind))"
