#!/usr/bin/env python3
"""memscope's benchmark (issue 5): the same workloads natively, under memscope, under
heaptrack and under valgrind, in one run; medians of N runs, the tools interleaved run by
run so that a noisy machine disturbs them alike.

    scripts/bench.py [--runs 5] [--quick] [--markdown] [--lib PATH] [--cli PATH] [--only TEXT]

Workloads: a malloc/free loop with mixed sizes, allocations 5, 20 and 60 frames deep, on
1 and 2 threads (same total work); python3 running an allocation-heavy script; sort of a
20 MB file; gcc -O2 -c of a generated C file; a C++ STL-heavy program; memscope's own
analyzer (Rust) reading a large trace.

Every tool traces the same processes. memscope follows children by itself; heaptrack does
not, so gcc's children (cc1, as) run under heaptrack through `gcc -wrapper`, and valgrind
gets --trace-children=yes. Trace bytes and events are summed over all trace files of a run;
events are allocations + frees, counted by each tool in its own trace (memscope: its
report's summary; heaptrack: the `+` and `-` records of its decompressed trace). Trace
bytes are the files as written (memscope: zstd chunks; heaptrack: its .zst, i.e.
compressed).

Tables: tracing (wall time, slowdown, memscope's overhead (time - native) as a fraction
of heaptrack's, events, bytes per event, tracer memory), counting mode
(MEMSCOPE_STACK_DEPTH=0 on the malloc loop), analysis (memscope analyze vs heaptrack_print
on the traces of the same runs), and issue 5's targets. Progress goes to stderr.

The "startup" row (the loop with one iteration) measures each tool's fixed cost; the
"excl. startup" column takes it off both overheads once per traced process (heaptrack's
shell script, interpreter and compressor take ~0.15 s to start, which flatters memscope on
short workloads). "RSS +MB" is the peak RSS of the run's largest process minus native's:
for heaptrack usually its heaptrack_interpret process, unless the program is bigger.

valgrind repeats a workload only while its runs there total less than --valgrind-budget
seconds, and a run is killed after --valgrind-timeout seconds.

Needs gcc, g++, heaptrack (with zstd), valgrind, python3 and a release build of memscope
(`cargo build --release`, or point --lib/--cli at another build).
"""
import argparse
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "scripts/bench")
HEAPTRACK_CHILD = os.path.join(BENCH, "heaptrack_child.sh")
TRACED_MODES = ("memscope", "heaptrack")


@dataclass
class Workload:
    name: str
    cmd: list
    compiler: bool = False  # gcc: its children run under heaptrack via -wrapper
    loop: bool = False  # the malloc/free loop: also measured in counting mode
    startup: bool = False  # measures each tool's fixed cost per traced process
    analysis: bool = False  # its traces feed the analysis table


@dataclass
class Sample:
    wall: float  # seconds
    rss_kib: int  # peak RSS of the run's largest process (/usr/bin/time's %M)


def median_sample(samples):
    """The median wall time and the median peak RSS of some samples (None if there are none)."""
    return Sample(statistics.median(s.wall for s in samples), int(statistics.median(s.rss_kib for s in samples))) if samples else None


@dataclass
class Result:
    workload: Workload
    samples: dict = field(default_factory=dict)  # mode -> [Sample]
    valgrind_note: str = ""  # why valgrind has fewer runs than the others, if it does
    traces: dict = field(default_factory=dict)  # mode -> (bytes, events, files)
    analysis: dict = field(default_factory=dict)  # tool -> [Sample]

    def median(self, mode):
        return median_sample(self.samples.get(mode))


# ---------------------------------------------------------------------------- running


def run_timed(cmd, extra_env=None, timeout=None):
    """Runs cmd with its output discarded; returns a Sample, "timeout", or "exit N".

    The peak RSS comes from /usr/bin/time, which forks the program from a small process;
    `env` then adds extra_env (the preload) for the program alone. (Python's own wait4
    would report at least Python's RSS: posix_spawn's vfork child inherits it.)"""
    assigns = [f"{k}={v}" for k, v in (extra_env or {}).items()]
    with tempfile.NamedTemporaryFile("r") as out:
        full = ["/usr/bin/time", "-o", out.name, "-f", "%M", "env"] + assigns + cmd
        start = time.perf_counter()
        p = subprocess.Popen(full, env=clean_env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            return "timeout"
        wall = time.perf_counter() - start
        if p.returncode != 0:
            return f"exit {p.returncode}"
        return Sample(wall, int(out.read().split()[-1]))


def clean_env():
    """The caller's environment without preloads or memscope settings."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("MEMSCOPE_")}


def command(mode, w, out_dir, args):
    """The command line and extra environment that run workload w in a mode, traces into out_dir."""
    if mode == "native":
        return w.cmd, {}
    if mode in ("memscope", "counting"):
        env = dict(LD_PRELOAD=args.lib, MEMSCOPE_OUTPUT=os.path.join(out_dir, "%e.%p.msl"))
        if mode == "counting":
            env["MEMSCOPE_STACK_DEPTH"] = "0"
        return w.cmd, env
    if mode == "heaptrack":
        cmd = w.cmd
        if w.compiler:
            cmd = [cmd[0], "-wrapper", f"{HEAPTRACK_CHILD},{out_dir}"] + cmd[1:]
        return ["heaptrack", "-o", os.path.join(out_dir, "ht.main")] + cmd, {}
    if mode == "valgrind":
        return ["valgrind", "-q", "--leak-check=no", "--trace-children=yes"] + w.cmd, {}
    raise ValueError(mode)


def measure(w, args, work):
    """Runs w natively and under each tool, interleaved, args.runs times; keeps the traces
    of the first traced run of each tool."""
    res = Result(w)
    modes = ["native", "memscope", "heaptrack"] + (["counting"] if w.loop or w.startup else [])
    for m in modes:
        res.samples[m] = []
    run_timed(*command("native", w, work, args))  # warm-up: page cache, binaries
    kept = {}
    for k in range(args.runs):
        for m in modes:
            d = tempfile.mkdtemp(dir=work, prefix=m + ".")
            s = run_timed(*command(m, w, d, args))
            if isinstance(s, Sample):
                res.samples[m].append(s)
            else:
                print(f"  {w.name}: {m} run {k + 1} failed ({s})", file=sys.stderr)
            if m in TRACED_MODES and m not in kept and isinstance(s, Sample):
                kept[m] = d
            else:
                shutil.rmtree(d, ignore_errors=True)
    measure_valgrind(w, res, args, work)
    if "memscope" in kept:
        res.traces["memscope"] = memscope_traces(kept["memscope"], args)
    if "heaptrack" in kept:
        res.traces["heaptrack"] = heaptrack_traces(kept["heaptrack"])
    if w.analysis:
        measure_analysis(res, args)
    for d in kept.values():
        shutil.rmtree(d, ignore_errors=True)
    return res


def measure_valgrind(w, res, args, work):
    """valgrind: up to args.runs runs, while they total under the budget."""
    res.samples["valgrind"] = []
    spent = 0.0
    while len(res.samples["valgrind"]) < args.runs and spent < args.valgrind_budget:
        start = time.perf_counter()
        s = run_timed(*command("valgrind", w, work, args), timeout=args.valgrind_timeout)
        spent += time.perf_counter() - start
        if not isinstance(s, Sample):
            res.valgrind_note = f"> {args.valgrind_timeout} s" if s == "timeout" else s
            break
        res.samples["valgrind"].append(s)
    n = len(res.samples["valgrind"])
    if n and n < args.runs and not res.valgrind_note:
        res.valgrind_note = f"{n} run{'s' if n > 1 else ''}"


# ---------------------------------------------------------------------------- traces


def memscope_events(trace, cli):
    """Allocations + frees in one memscope trace, from its report's summary."""
    r = subprocess.run([cli, "analyze", "--format", "json", trace], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  memscope analyze {trace} failed: {r.stderr.strip()[:200]}", file=sys.stderr)
        return None
    s = json.loads(r.stdout)["summary"]
    return s["allocations"] + s["frees"]


def heaptrack_events(trace):
    """Allocations + frees in one heaptrack trace: its `+` and `-` records."""
    unpack = "zstd" if trace.endswith(".zst") else "gzip"
    text = subprocess.Popen([unpack, "-dc", trace], stdout=subprocess.PIPE)
    count = subprocess.run(["grep", "-c", "^[+-]"], stdin=text.stdout, capture_output=True, text=True)
    text.wait()
    return int(count.stdout.strip() or 0)


def memscope_traces(d, args):
    files = sorted(glob.glob(os.path.join(d, "*.msl")))
    events = [memscope_events(f, args.cli) for f in files]
    return summed(files, None if None in events else sum(events))


def heaptrack_traces(d):
    files = sorted(glob.glob(os.path.join(d, "ht.*")))
    return summed(files, sum(heaptrack_events(f) for f in files))


def summed(files, events):
    """(total bytes, total events, files) of one run's traces."""
    return sum(os.path.getsize(f) for f in files), events, files


def measure_analysis(res, args):
    """memscope analyze and heaptrack_print on the (single) trace of the kept runs."""
    ms, ht = res.traces.get("memscope"), res.traces.get("heaptrack")
    if not ms or not ht or len(ms[2]) != 1 or len(ht[2]) != 1:
        return
    runs = {"memscope": [args.cli, "analyze", "--format", "json", ms[2][0]], "heaptrack": ["heaptrack_print", ht[2][0]]}
    res.analysis = {tool: [] for tool in runs}
    for _ in range(args.runs):
        for tool, cmd in runs.items():
            s = run_timed(cmd)
            if isinstance(s, Sample):
                res.analysis[tool].append(s)


# ---------------------------------------------------------------------------- workloads


def build_inputs(work, quick):
    """Compiles the test programs and writes the input files; returns their paths."""
    p = {k: os.path.join(work, k) for k in ("malloc_loop", "stl_heavy", "big.c", "sort.txt", "big.msl")}
    subprocess.run(["gcc", "-O2", "-g", "-pthread", "-o", p["malloc_loop"], os.path.join(ROOT, "scripts/malloc_loop.c")], check=True)
    subprocess.run(["g++", "-O2", "-g", "-o", p["stl_heavy"], os.path.join(BENCH, "stl_heavy.cpp")], check=True)
    write_c_file(p["big.c"], 300 if quick else 1500)
    write_sort_input(p["sort.txt"], (4 if quick else 20) << 20)
    return p


def write_c_file(path, functions):
    with open(path, "w") as f:
        f.write("#include <stdio.h>\n#include <string.h>\n")
        for i in range(functions):
            f.write(f"int f{i}(int x) {{ char b[64]; snprintf(b, sizeof b, \"%d\", x * {i}); return (int)strlen(b) + x % {i + 1}; }}\n")
        f.write("int main(void) { int s = 0;\n")
        for i in range(functions):
            f.write(f"  s += f{i}(s);\n")
        f.write("  printf(\"%d\\n\", s); return 0; }\n")


def write_sort_input(path, size):
    with open(path, "w") as f:
        n = i = 0
        while n < size:
            line = f"{(i * 2654435761) % 1000003:07d} line {i}\n"
            f.write(line)
            n += len(line)
            i += 1


def make_big_trace(p, args, quick):
    """The Rust workload's input: a memscope trace of the malloc loop (2 threads, depth 20)."""
    env = dict(clean_env(), LD_PRELOAD=args.lib, MEMSCOPE_OUTPUT=p["big.msl"])
    n = "300000" if quick else "1000000"
    subprocess.run([p["malloc_loop"], n, "2", "20"], env=env, stdout=subprocess.DEVNULL, check=True)


def workloads(p, args, quick):
    n = 200_000 if quick else 1_000_000
    fns = 300 if quick else 1500
    w = [Workload("startup (malloc loop, 1 iteration)", [p["malloc_loop"], "1", "1", "1"], startup=True)]
    for depth in (5, 20, 60):
        for threads in (1, 2):
            w.append(Workload(f"malloc loop depth {depth}, {threads} thr", [p["malloc_loop"], str(n // threads), str(threads), str(depth)],
                              loop=True, analysis=depth == 20))
    w += [
        Workload("python3 alloc-heavy", ["/usr/bin/python3", os.path.join(BENCH, "alloc_heavy.py"), "5000" if quick else "20000"], analysis=True),
        Workload(f"sort {4 if quick else 20} MB", ["sort", p["sort.txt"]]),
        Workload(f"gcc -O2 -c ({fns} fns)", ["gcc", "-O2", "-c", p["big.c"], "-o", "/dev/null"], compiler=True),
        Workload("C++ STL-heavy", [p["stl_heavy"], "50" if quick else "200"], analysis=True),
        Workload("memscope analyze (Rust)", [args.cli, "analyze", "--format", "json", p["big.msl"]]),
    ]
    return [x for x in w if not args.only or args.only in x.name]


# ---------------------------------------------------------------------------- tables


def secs_x(s, nat):
    return f"{s.wall:.3f} ({s.wall / nat.wall:.1f}x)" if s and nat and nat.wall > 0 else "n/a"


def overhead(r, mode):
    s, nat = r.median(mode), r.median("native")
    return s.wall - nat.wall if s and nat else None


def overhead_ratio(r, startup=None):
    """memscope's overhead (time - native) over heaptrack's; with the startup row, each
    tool's fixed cost per traced process is taken off its overhead first."""
    ms, ht = overhead(r, "memscope"), overhead(r, "heaptrack")
    if ms is None or ht is None:
        return None
    if startup:
        if r.workload.startup or None in (overhead(startup, "memscope"), overhead(startup, "heaptrack")):
            return None
        ms -= overhead(startup, "memscope") * len(r.traces.get("memscope", (0, 0, [None]))[2])
        ht -= overhead(startup, "heaptrack") * len(r.traces.get("heaptrack", (0, 0, [None]))[2])
    return ms / ht if ht > 0 else None


def bytes_per_event(r, mode):
    t = r.traces.get(mode)
    return t[0] / t[1] if t and t[1] else None


def num(x, fmt=".2f"):
    return format(x, fmt) if x is not None else "n/a"


def events_cell(r):
    ms, ht = r.traces.get("memscope"), r.traces.get("heaptrack")
    ev = lambda t: "n/a" if not t or t[1] is None else f"{t[1] / 1e6:.2f}M" if t[1] >= 100_000 else f"{t[1]:,}"
    files = lambda t: f" ({len(t[2])} files)" if t and len(t[2]) > 1 else ""
    return f"{ev(ms)}{files(ms)} / {ev(ht)}{files(ht)}"


def rss_over(r, mode):
    s, nat = r.median(mode), r.median("native")
    return f"{(s.rss_kib - nat.rss_kib) / 1024:.1f}" if s and nat else "n/a"


def tracing_table(results):
    head = ["workload", "native s", "memscope s (x)", "heaptrack s (x)", "valgrind s (x)", "ms/ht overhead",
            "ms/ht excl. startup", "events ms / ht", "ms B/event", "ht B/event", "ms RSS +MB", "ht RSS +MB"]
    rows = []
    startup = next((r for r in results if r.workload.startup), None)
    for r in results:
        nat = r.median("native")
        vg = secs_x(r.median("valgrind"), nat) if r.samples["valgrind"] else "n/a"
        if r.valgrind_note:
            vg = f"{vg} [{r.valgrind_note}]" if r.samples["valgrind"] else r.valgrind_note
        rows.append([r.workload.name, num(nat and nat.wall, ".3f"), secs_x(r.median("memscope"), nat),
                     secs_x(r.median("heaptrack"), nat), vg, num(overhead_ratio(r)),
                     num(overhead_ratio(r, startup) if startup else None), events_cell(r),
                     num(bytes_per_event(r, "memscope"), ".3g"), num(bytes_per_event(r, "heaptrack"), ".3g"),
                     rss_over(r, "memscope"), rss_over(r, "heaptrack")])
    return head, rows


def counting_table(results):
    head = ["workload", "native s", "counting s (x)", "full stacks s (x)"]
    rows = [[r.workload.name, num(r.median("native") and r.median("native").wall, ".3f"),
             secs_x(r.median("counting"), r.median("native")), secs_x(r.median("memscope"), r.median("native"))]
            for r in results if r.workload.loop or r.workload.startup]
    return head, rows


def analysis_table(results):
    head = ["trace of", "events ms / ht", "memscope analyze s", "ms events/s", "ms peak MB",
            "heaptrack_print s", "ht events/s", "ht peak MB", "speed ratio"]
    rows = []
    for r in results:
        if not r.analysis:
            continue
        a_ms, a_ht = (median_sample(r.analysis[t]) for t in ("memscope", "heaptrack"))
        ms_rate = r.traces["memscope"][1] / a_ms.wall if a_ms and r.traces["memscope"][1] else None
        ht_rate = r.traces["heaptrack"][1] / a_ht.wall if a_ht else None
        rows.append([r.workload.name, events_cell(r),
                     num(a_ms and a_ms.wall), num(ms_rate, ",.0f"), num(a_ms and a_ms.rss_kib / 1024, ".0f"),
                     num(a_ht and a_ht.wall), num(ht_rate, ",.0f"), num(a_ht and a_ht.rss_kib / 1024, ".0f"),
                     num(ms_rate / ht_rate if ms_rate and ht_rate else None)])
    return head, rows


def targets_table(results):
    """Issue 5's tracing targets: the worst case over the workloads, and how many meet it."""
    work = [r for r in results if not r.workload.startup]
    startup = next((r for r in results if r.workload.startup), None)
    by_name = {r.workload.name: r for r in results}

    def wall(r, mode):
        s = r and r.median(mode)
        return s.wall if s else None

    def div(a, b):
        return a / b if a is not None and b else None

    threads = [(div(wall(by_name.get(f"malloc loop depth {d}, 2 thr"), "memscope"),
                    wall(by_name.get(f"malloc loop depth {d}, 1 thr"), "memscope")), f"depth {d}") for d in (5, 20, 60)]
    rows = [
        target_row("memscope overhead <= 1/4 of heaptrack's", "ms/ht", 0.25,
                   [(overhead_ratio(r), r.workload.name) for r in work]),
        target_row("the same, startup costs taken off", "ms/ht", 0.25,
                   [(overhead_ratio(r, startup) if startup else None, r.workload.name) for r in work]),
        target_row("counting mode within 1.5x native", "x native", 1.5,
                   [(div(wall(r, "counting"), wall(r, "native")), r.workload.name) for r in work if r.workload.loop]),
        target_row("2 threads not slower than 1 (memscope, same work)", "2 thr / 1 thr", 1.0, threads),
        target_row("trace bytes per event <= heaptrack's", "ms/ht", 1.0,
                   [(div(bytes_per_event(r, "memscope"), bytes_per_event(r, "heaptrack")), r.workload.name) for r in work]),
    ]
    return ["target", "worst case", "met"], rows


def target_row(label, unit, limit, values):
    """One target: values are (measure, where) pairs; lower is better."""
    known = [(v, where) for v, where in values if v is not None]
    if not known:
        return [label, "n/a", "n/a"]
    v, where = max(known)
    passed = sum(1 for x, _ in known if x <= limit)
    return [label, f"{unit} {v:.2f} ({where})", f"{'yes' if passed == len(known) else 'no'}: {passed} of {len(known)}"]


def emit(title, head, rows, md):
    print(f"### {title}\n" if md else f"== {title}")
    if md:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for l in rows:
            print("| " + " | ".join(l) + " |")
    else:
        widths = [max([len(h)] + [len(l[i]) for l in rows]) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        for l in rows:
            print("  ".join(c.ljust(w) for c, w in zip(l, widths)))
    print()


# ---------------------------------------------------------------------------- main


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, help="runs per tool and workload (default 5; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="smaller workloads, 1 run: a smoke test")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    ap.add_argument("--lib", default=os.path.join(ROOT, "target/release/libmemscope.so"), help="the preload library")
    ap.add_argument("--cli", default=os.path.join(ROOT, "target/release/memscope"), help="the memscope CLI")
    ap.add_argument("--only", help="only the workloads whose name contains this text")
    ap.add_argument("--valgrind-timeout", type=int, help="kill a valgrind run after this many seconds (default 60; 10 with --quick)")
    ap.add_argument("--valgrind-budget", type=int, help="stop repeating valgrind on a workload after this many seconds (default 30; 10 with --quick)")
    args = ap.parse_args()
    args.runs = args.runs or (1 if args.quick else 5)
    args.valgrind_timeout = args.valgrind_timeout or (10 if args.quick else 60)
    args.valgrind_budget = args.valgrind_budget or (10 if args.quick else 30)
    args.lib, args.cli = os.path.abspath(args.lib), os.path.abspath(args.cli)
    for path in (args.lib, args.cli):
        if not os.path.exists(path):
            sys.exit(f"{path} is missing: run `cargo build --release` first, or pass --lib/--cli")
    for tool in ("/usr/bin/time", "gcc", "g++", "heaptrack", "heaptrack_print", "valgrind", "zstd"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (scripts/ensure_packages.sh installs it)")
    return args


def main():
    args = parse_args()
    started = time.perf_counter()
    args.work = tempfile.mkdtemp(prefix="memscope-bench.")
    try:
        p = build_inputs(args.work, args.quick)
        make_big_trace(p, args, args.quick)
        results = []
        for w in workloads(p, args, args.quick):
            results.append(measure(w, args, args.work))
            print(f"done: {w.name} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    print(f"medians of {args.runs} run(s); memscope: {args.lib}\n")
    emit("Tracing", *tracing_table(results), args.markdown)
    emit("Counting mode (MEMSCOPE_STACK_DEPTH=0)", *counting_table(results), args.markdown)
    emit("Analysis", *analysis_table(results), args.markdown)
    emit("Issue 5 targets", *targets_table(results), args.markdown)
    print(f"total time: {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
