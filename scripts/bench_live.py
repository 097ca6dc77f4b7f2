#!/usr/bin/env python3
"""Large live sets (issue 16): record and analyze programs that hold millions of blocks
at once, with memscope and with heaptrack, side by side; medians of N runs, the tools
interleaved run by run.

    scripts/bench_live.py [--runs 3] [--record-runs 1] [--big] [--bench-rows] [--base CLI]
                          [--only TEXT] [--markdown]

Workloads (C/C++ sources in scripts/live_set/):
- scatter 5M x2: 5,000,000 blocks of 16-80 B allocated, then freed in a scattered order,
  twice (20 M events, 5 M live at the peak);
- std::map 200k x5: a std::map<int, std::string> of 200,000 entries filled and cleared 5
  times (2 M allocations, 400 k live at the peak);
- scatter 50M x1 (with --big): 50,000,000 blocks live at the peak;
- empty: a program that allocates nothing (the analyzer's fixed cost);
- with --bench-rows, scripts/bench.py's four workloads that have an analysis row.

For each: the program natively, recorded by memscope (LD_PRELOAD) and by heaptrack;
then `memscope analyze --format json` and `heaptrack_print` on one trace of each,
--runs times, interleaved. "B/live block" is memscope analyze's peak RSS less its peak
RSS on the empty trace, divided by the blocks live at the peak. "end to end" is record +
analyze. With --base, a second memscope CLI (e.g. the build before a change) analyzes
the same memscope trace, in the same interleaving.

Needs gcc, g++, heaptrack, heaptrack_print, /usr/bin/time and a release build.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import ROOT, Sample, clean_env, run_timed  # noqa: E402

LIVE = os.path.join(ROOT, "scripts/live_set")


def build(work):
    exe = {k: os.path.join(work, k) for k in ("scatter", "map", "empty", "malloc_loop", "stl_heavy")}
    subprocess.run(["gcc", "-O2", "-g", "-o", exe["scatter"], os.path.join(LIVE, "scatter.c")], check=True)
    subprocess.run(["g++", "-O2", "-g", "-o", exe["map"], os.path.join(LIVE, "map.cpp")], check=True)
    subprocess.run(["gcc", "-O2", "-g", "-o", exe["empty"], os.path.join(LIVE, "empty.c")], check=True)
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", exe["malloc_loop"], os.path.join(ROOT, "scripts/malloc_loop.c")], check=True)
    subprocess.run(["g++", "-O2", "-g", "-o", exe["stl_heavy"], os.path.join(ROOT, "scripts/bench/stl_heavy.cpp")], check=True)
    return exe


def workloads(exe, big, bench_rows):
    # (name, command, blocks live at the peak; 0: small or not known)
    w = []
    if bench_rows:
        # scripts/bench.py's rows with an analysis column, same arguments.
        w += [
            ("malloc loop depth 20, 1 thr", [exe["malloc_loop"], "1000000", "1", "20"], 0),
            ("malloc loop depth 20, 2 thr", [exe["malloc_loop"], "500000", "2", "20"], 0),
            ("python3 alloc-heavy", ["/usr/bin/python3", os.path.join(ROOT, "scripts/bench/alloc_heavy.py"), "20000"], 0),
            ("C++ STL-heavy", [exe["stl_heavy"], "200"], 0),
        ]
    w += [
        ("scatter 5M x2", [exe["scatter"], "5000000", "2"], 5_000_000),
        ("std::map 200k x5", [exe["map"], "200000", "5"], 400_000),
    ]
    if big:
        w.append(("scatter 50M x1", [exe["scatter"], "50000000", "1"], 50_000_000))
    w.append(("empty", [exe["empty"]], 0))
    return w


def median(samples):
    ok = [s for s in samples if isinstance(s, Sample)]
    if not ok:
        return None
    return Sample(statistics.median(s.wall for s in ok), int(statistics.median(s.rss_kib for s in ok)))


def record(cmd, args, work, runs):
    """Native, memscope and heaptrack runs, interleaved; returns medians and one trace each."""
    samples = {"native": [], "memscope": [], "heaptrack": []}
    traces = {}
    for k in range(runs):
        samples["native"].append(run_timed(cmd))
        d = tempfile.mkdtemp(dir=work, prefix="ms.")
        samples["memscope"].append(run_timed(cmd, dict(LD_PRELOAD=args.lib, MEMSCOPE_OUTPUT=os.path.join(d, "t.%p.msl"))))
        files = [os.path.join(d, f) for f in os.listdir(d) if f.endswith(".msl")]
        if "memscope" not in traces and len(files) == 1:
            traces["memscope"] = files[0]
        else:
            shutil.rmtree(d, ignore_errors=True)
        d = tempfile.mkdtemp(dir=work, prefix="ht.")
        samples["heaptrack"].append(run_timed(["heaptrack", "-o", os.path.join(d, "ht")] + cmd))
        files = [os.path.join(d, f) for f in os.listdir(d) if f.startswith("ht")]
        if "heaptrack" not in traces and len(files) == 1:
            traces["heaptrack"] = files[0]
        else:
            shutil.rmtree(d, ignore_errors=True)
    return {m: median(s) for m, s in samples.items()}, traces


def analyze(traces, args):
    runs = {}
    if "memscope" in traces:
        runs["memscope"] = [args.cli, "analyze", "--format", "json", traces["memscope"]]
        if args.base:
            runs["base"] = [args.base, "analyze", "--format", "json", traces["memscope"]]
    if "heaptrack" in traces:
        runs["heaptrack"] = ["heaptrack_print", traces["heaptrack"]]
    samples = {t: [] for t in runs}
    for _ in range(args.runs):
        for tool, cmd in runs.items():
            samples[tool].append(run_timed(cmd))
    return {t: median(s) for t, s in samples.items()}


def cell(s, what):
    if s is None:
        return "n/a"
    return f"{s.wall:.2f}" if what == "s" else f"{s.rss_kib / 1024:.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="analysis runs per tool (default 3)")
    ap.add_argument("--record-runs", type=int, default=1, help="recording runs per tool (default 1)")
    ap.add_argument("--big", action="store_true", help="also the 50 M live block workload (minutes)")
    ap.add_argument("--only", help="only the workloads whose name contains this text (and empty)")
    ap.add_argument("--bench-rows", action="store_true", help="also scripts/bench.py's workloads that have an analysis row")
    ap.add_argument("--lib", default=os.path.join(ROOT, "target/release/libmemscope.so"))
    ap.add_argument("--cli", default=os.path.join(ROOT, "target/release/memscope"))
    ap.add_argument("--base", help="another memscope CLI to analyze the same traces (before a change)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    args.lib, args.cli = os.path.abspath(args.lib), os.path.abspath(args.cli)
    for tool in ("/usr/bin/time", "gcc", "g++", "heaptrack", "heaptrack_print"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing")
    work = tempfile.mkdtemp(prefix="memscope-live.")
    try:
        exe = build(work)
        rows = []
        empty_rss = None
        todo = workloads(exe, args.big, args.bench_rows)
        # The empty trace first: its RSS is the constant the others are measured against.
        todo = todo[-1:] + todo[:-1]
        for name, cmd, live in todo:
            if args.only and name != "empty" and args.only not in name:
                continue
            print(f"{name}: recording", file=sys.stderr)
            rec, traces = record(cmd, args, work, args.record_runs)
            print(f"{name}: analyzing", file=sys.stderr)
            an = analyze(traces, args)
            ms, ht, base = an.get("memscope"), an.get("heaptrack"), an.get("base")
            if name == "empty" and ms:
                empty_rss = ms.rss_kib
            per_block = "n/a"
            if live and ms and empty_rss is not None:
                per_block = f"{(ms.rss_kib - empty_rss) * 1024 / live:.1f}"
            ratio = f"{ht.wall / ms.wall:.2f}" if ms and ht and ms.wall > 0 else "n/a"
            e2e_ms = rec["memscope"].wall + ms.wall if ms and isinstance(rec["memscope"], Sample) else None
            e2e_ht = rec["heaptrack"].wall + ht.wall if ht and isinstance(rec["heaptrack"], Sample) else None
            row = [name, f"{live:,}",
                   cell(rec["native"], "s"), cell(rec["memscope"], "s"), cell(rec["heaptrack"], "s"),
                   cell(ms, "s"), cell(ht, "s"), ratio,
                   cell(ms, "mb"), cell(ht, "mb"), per_block,
                   f"{e2e_ms:.2f}" if e2e_ms else "n/a", f"{e2e_ht:.2f}" if e2e_ht else "n/a"]
            if args.base:
                row += [cell(base, "s"), cell(base, "mb")]
            rows.append(row)
        head = ["workload", "live at peak", "native s", "record ms s", "record ht s",
                "analyze ms s", "heaptrack_print s", "ht/ms speed", "ms peak MB", "ht peak MB",
                "ms B/live block", "end to end ms s", "end to end ht s"]
        if args.base:
            head += ["base analyze s", "base peak MB"]
        if args.markdown:
            print("| " + " | ".join(head) + " |")
            print("|" + "---|" * len(head))
            for r in rows:
                print("| " + " | ".join(r) + " |")
        else:
            widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
            for r in [head] + rows:
                print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
