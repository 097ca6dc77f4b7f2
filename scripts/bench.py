#!/usr/bin/env python3
"""memscope's benchmark: the same workloads natively, under memscope, under heaptrack and
(where it finishes in reasonable time) under valgrind, in one run; medians of N runs.

    scripts/bench.py [--runs 5] [--quick] [--markdown]

Prints two tables: tracing (wall time, slowdown against native, memscope's overhead as a
fraction of heaptrack's, trace bytes per event, tracer memory overhead) and analysis
(memscope analyze vs heaptrack_print on the traces of the same runs: events per second
and peak memory). Needs a release build (cargo build --release), gcc, g++, heaptrack,
valgrind, python3. The machine is noisy: read medians and ratios, not single runs.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRELOAD = os.path.join(ROOT, "target/release/libmemscope.so")
MEMSCOPE = os.path.join(ROOT, "target/release/memscope")


def timed(cmd, env=None, timeout=None):
    """Runs cmd with output discarded; returns (wall seconds, max RSS in KiB) or None on timeout/failure."""
    with tempfile.NamedTemporaryFile("r") as out:
        full = ["/usr/bin/time", "-o", out.name, "-f", "%M"] + cmd
        start = time.perf_counter()
        try:
            r = subprocess.run(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        wall = time.perf_counter() - start
        if r.returncode != 0:
            return None
        return wall, int(out.read().split()[-1])


def build(work):
    exe = {}
    loop = os.path.join(work, "malloc_loop")
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", loop, os.path.join(ROOT, "scripts/malloc_loop.c")], check=True)
    stl = os.path.join(work, "stl_heavy")
    subprocess.run(["g++", "-O2", "-g", "-o", stl, os.path.join(ROOT, "scripts/bench/stl_heavy.cpp")], check=True)
    big_c = os.path.join(work, "big.c")
    with open(big_c, "w") as f:
        f.write("#include <stdio.h>\n#include <string.h>\n")
        for i in range(1500):
            f.write(f"int f{i}(int x) {{ char b[64]; snprintf(b, sizeof b, \"%d\", x * {i}); return (int)strlen(b) + x % {i + 1}; }}\n")
        f.write("int main(void) { int s = 0;\n")
        for i in range(1500):
            f.write(f"  s += f{i}(s);\n")
        f.write("  printf(\"%d\\n\", s); return 0; }\n")
    sort_in = os.path.join(work, "sort.txt")
    with open(sort_in, "w") as f:
        n = 0
        i = 0
        while n < 20 << 20:
            line = f"{(i * 2654435761) % 1000003:07d} line {i}\n"
            f.write(line)
            n += len(line)
            i += 1
    exe.update(loop=loop, stl=stl, big_c=big_c, sort_in=sort_in)
    return exe


def workloads(exe, quick):
    n = 200_000 if quick else 1_000_000
    w = []
    for depth in (5, 20, 60):
        for threads in (1, 2):
            w.append((f"malloc loop depth {depth}, {threads} thr", [exe["loop"], str(n // threads), str(threads), str(depth)], True))
    w += [
        ("python3 alloc-heavy", ["/usr/bin/python3", os.path.join(ROOT, "scripts/bench/alloc_heavy.py")], True),
        ("sort 20 MB", ["sort", exe["sort_in"]], False),
        ("gcc -O2 -c (1500 fns)", ["gcc", "-O2", "-c", exe["big_c"], "-o", "/dev/null"], False),
        ("C++ STL-heavy", [exe["stl"], "50" if quick else "200"], True),
    ]
    return w


def trace_events(trace):
    r = subprocess.run([MEMSCOPE, "analyze", "--format", "json", trace], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    s = json.loads(r.stdout)["summary"]
    return s["allocations"] + s["frees"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller workloads")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    ap.add_argument("--valgrind-timeout", type=int, default=120)
    args = ap.parse_args()
    if not (os.path.exists(PRELOAD) and os.path.exists(MEMSCOPE)):
        sys.exit("run `cargo build --release` first")
    work = tempfile.mkdtemp(prefix="memscope-bench.")
    exe = build(work)
    wl = workloads(exe, args.quick)
    # The Rust workload: memscope's own analyzer reading a large trace (made here).
    big_trace = os.path.join(work, "big.msl")
    env = dict(os.environ, LD_PRELOAD=PRELOAD, MEMSCOPE_OUTPUT=big_trace)
    subprocess.run([exe["loop"], "300000" if args.quick else "1000000", "2", "20"], env=env, stdout=subprocess.DEVNULL, check=True)
    wl.append(("memscope analyze (Rust)", [MEMSCOPE, "analyze", "--format", "json", big_trace], False))

    rows, analysis = [], []
    for name, cmd, with_valgrind in wl:
        res = {}
        sizes = {}
        for mode in ("native", "memscope", "heaptrack"):
            samples = []
            for k in range(args.runs):
                d = tempfile.mkdtemp(dir=work)
                if mode == "native":
                    r = timed(cmd)
                elif mode == "memscope":
                    e = dict(os.environ, LD_PRELOAD=PRELOAD, MEMSCOPE_OUTPUT=os.path.join(d, "t.%p.msl"))
                    r = timed(cmd, env=e)
                else:
                    r = timed(["heaptrack", "-o", os.path.join(d, "ht")] + cmd)
                if r:
                    samples.append(r)
                files = sorted(os.listdir(d))
                if k == 0 and mode != "native":
                    sizes[mode] = (d, files)
                elif files:
                    subprocess.run(["rm", "-rf", d])
            res[mode] = (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)) if samples else None
        if with_valgrind:
            r = timed(["valgrind", "-q", "--leak-check=no"] + cmd, timeout=args.valgrind_timeout)
            res["valgrind"] = r
        # Trace sizes per event (events counted from memscope's report of the root trace).
        events = None
        ms_bytes = ht_bytes = None
        if "memscope" in sizes:
            d, files = sizes["memscope"]
            traces = [os.path.join(d, f) for f in files if f.endswith(".msl")]
            if traces:
                # /usr/bin/time itself runs under the preload too: the workload's trace is
                # the largest one.
                root = max(traces, key=os.path.getsize)
                events = trace_events(root)
                ms_bytes = sum(os.path.getsize(t) for t in traces)
        ht_file = None
        if "heaptrack" in sizes:
            d, files = sizes["heaptrack"]
            hts = [os.path.join(d, f) for f in files if f.startswith("ht")]
            if hts:
                ht_file = hts[0]
                ht_bytes = sum(os.path.getsize(h) for h in hts)
        rows.append((name, res, events, ms_bytes, ht_bytes))
        # Analysis throughput on the same program's traces.
        if events and ht_file and "memscope" in sizes and name.startswith(("malloc loop depth 20", "python3", "C++")):
            ms_trace = root
            a_ms = timed([MEMSCOPE, "analyze", "--format", "json", ms_trace])
            a_ht = timed(["heaptrack_print", ht_file])
            analysis.append((name, events, a_ms, a_ht))
        print(f"done: {name}", file=sys.stderr)

    print_tables(rows, analysis, args)


def fmt_ratio(x):
    return f"{x:.2f}" if x is not None else "-"


def print_tables(rows, analysis, args):
    md = args.markdown
    head = ["workload", "native s", "memscope s (x)", "heaptrack s (x)", "valgrind s (x)", "ms/ht overhead", "ms B/event", "ht B/event", "ms RSS +MB", "ht RSS +MB"]
    lines = []
    for name, res, events, ms_bytes, ht_bytes in rows:
        nat = res.get("native")
        def cell(mode):
            r = res.get(mode)
            if not r or not nat or nat[0] <= 0:
                return "n/a"
            return f"{r[0]:.3f} ({r[0] / nat[0]:.1f}x)"
        ratio = None
        if nat and nat[0] > 0 and res.get("memscope") and res.get("heaptrack"):
            ht_over = res["heaptrack"][0] - nat[0]
            if ht_over > 0:
                ratio = (res["memscope"][0] - nat[0]) / ht_over
        def rss(mode):
            r = res.get(mode)
            return f"{(r[1] - nat[1]) / 1024:.1f}" if r and nat else "n/a"
        lines.append([
            name,
            f"{nat[0]:.3f}" if nat else "n/a",
            cell("memscope"),
            cell("heaptrack"),
            cell("valgrind") if "valgrind" in res else "skipped",
            fmt_ratio(ratio),
            f"{ms_bytes / events:.2f}" if events and ms_bytes else "n/a",
            f"{ht_bytes / events:.2f}" if events and ht_bytes else "n/a",
            rss("memscope"),
            rss("heaptrack"),
        ])
    emit(head, lines, md)
    print()
    head2 = ["trace of", "events", "memscope analyze s", "memscope events/s", "memscope peak MB", "heaptrack_print s", "heaptrack_print events/s", "heaptrack_print peak MB", "speed ratio"]
    lines2 = []
    for name, events, a_ms, a_ht in analysis:
        ms_rate = events / a_ms[0] if a_ms and a_ms[0] > 0 else None
        ht_rate = events / a_ht[0] if a_ht and a_ht[0] > 0 else None
        lines2.append([
            name, str(events),
            f"{a_ms[0]:.2f}" if a_ms else "n/a", f"{ms_rate:,.0f}" if ms_rate else "n/a", f"{a_ms[1] / 1024:.0f}" if a_ms else "n/a",
            f"{a_ht[0]:.2f}" if a_ht else "n/a", f"{ht_rate:,.0f}" if ht_rate else "n/a", f"{a_ht[1] / 1024:.0f}" if a_ht else "n/a",
            fmt_ratio(ms_rate / ht_rate) if ms_rate and ht_rate else "-",
        ])
    emit(head2, lines2, md)


def emit(head, lines, md):
    if md:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for l in lines:
            print("| " + " | ".join(l) + " |")
    else:
        widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        for l in lines:
            print("  ".join(c.ljust(w) for c, w in zip(l, widths)))


if __name__ == "__main__":
    main()
