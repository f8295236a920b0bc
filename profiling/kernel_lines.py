"""Where an @njit kernel's time goes, source line by source line (a sampling profile).

    python -m profiling.kernel_lines matmul_nn_fast            at batch 64, for 3 s
    python -m profiling.kernel_lines linear_act_forward --batch 512 --seconds 5
    python -m profiling.kernel_lines path/to/file.py:func      func(*func_args()) from that file

line_profiler stops at the boundary of compiled code: it times the Python line that calls a
kernel, never the loops inside it. This tool samples inside. A child process calls the kernel
in a compiled loop, at its training shape (profiling/kernel_args.py), built with DWARF line tables
but otherwise as optimised as the normal build (profiling/sampling.py says how). `perf record`
samples the program counter of every thread of the child with the cpu-clock software event (a
timer interrupt; no hardware counters needed) about 1000 times a second; gdb, attached once
afterwards, maps each sampled address to file:line through the line tables LLVM registered with
its JIT interface. Each source line then gets its share of all samples; code LLVM inlined from a
helper (nn_block into matmul_nn_fast, say) is charged to the helper's own lines, and each function
that got samples is printed with its source.

A sample is where the CPU was when the timer fired: lines that stall (a load missing the cache)
collect more samples than their instruction count suggests, as they should. At ~1000 Hz for 3 s,
a line's share has a standard error of about sqrt(share / 3000) (1% at 30%).

Writes results/kernel_lines_NAME.txt (or --out).
"""
import argparse
import ast
import os
import sys
import time
from collections import Counter

from profiling import sampling
from profiling.common import RESULTS_DIR, log


def function_spans(path):
    """[(first, last, name)] of every function in a Python file, innermost last."""
    try:
        with open(path) as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError):
        return []
    spans = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans.append((first, node.end_lineno, node.name))
    return sorted(spans, key=lambda s: s[1] - s[0], reverse=True)


def enclosing(spans, line):
    hit = [s for s in spans if s[0] <= line <= s[1]]
    return hit[-1] if hit else None


def attribute(samples, lines):
    """(per_line Counter[(file, line)], outside Counter[dso or 'unmapped']) from the samples."""
    per_line, outside = Counter(), Counter()
    for _tid, ip, dso in samples:
        where = lines.get(ip)
        if where and where[0].endswith(".py"):
            per_line[where] += 1
        elif where and where[0].endswith("<string>"):
            outside["the compiled timing loop around the kernel"] += 1
        elif where:
            outside[f"C code: {os.path.basename(where[0])}"] += 1
        elif dso and not dso.startswith("perf-") and dso != "[unknown]":
            outside[f"no line table: {dso}"] += 1
        else:
            outside["JIT code without a line"] += 1
    return per_line, outside


def report(title, header, per_line, outside, total, min_share=0.0):
    """The text: per function that got samples, its source with share and samples per line."""
    out = [title, "=" * len(title), *header, ""]
    mapped = sum(per_line.values())
    out.append(f"samples: {total} in all; {mapped} ({mapped / total:.1%}) on a source line of "
               f"JIT-compiled code; the rest:")
    for what, n in outside.most_common():
        out.append(f"    {n / total:6.1%}  {n:6d}  {what}")
    by_file = {}
    for (path, line), n in per_line.items():
        by_file.setdefault(path, Counter())[line] += n
    blocks = []
    for path, counts in by_file.items():
        spans = function_spans(path)
        funcs = Counter()
        for line, n in counts.items():
            funcs[enclosing(spans, line) or (line, line, "?")] += n
        for span, n in funcs.items():
            blocks.append((n, path, span))
    for n, path, (first, last, name) in sorted(blocks, reverse=True):
        if n / total < min_share:
            continue
        inside = os.path.abspath(path).startswith(sampling.ROOT + os.sep)
        rel = os.path.relpath(path, sampling.ROOT) if inside else path
        if not inside and "site-packages" + os.sep in rel:      # numba/..., not this machine's venv
            rel = rel.split("site-packages" + os.sep, 1)[1]
        out += ["", f"{rel}: {name} (lines {first}-{last}), {n / total:.1%} of samples",
                f"{'share':>7s} {'samples':>7s} {'line':>5s}  source"]
        try:
            with open(path) as f:
                src = f.read().splitlines()
        except OSError:
            src = []
        counts = by_file[path]
        for ln in range(first, last + 1):
            text = src[ln - 1] if ln - 1 < len(src) else "(source not available)"
            c = counts.get(ln, 0)
            share = f"{c / total:7.1%}" if c else " " * 7
            out.append(f"{share} {c if c else '':>7} {ln:5d}  {text}")
    return "\n".join(out) + "\n"


def profile(target, batch=64, seconds=3.0, hz=999, normal_time=True):
    """(text, per_line, outside, total) of one profiling run."""
    for tool in ("gdb", "perf"):
        if not sampling.available(tool):
            raise RuntimeError(f"{tool} is not installed; it is needed to sample compiled code")
    base = None
    if normal_time and ":" not in target:        # the normal (cached, no line tables) build
        from profiling.kernel_args import args_for, time_per_call
        kernel, args = args_for(target, batch)
        base = time_per_call(kernel, args, repeats=5, min_time=0.02)
    tmp = sampling.make_tmp()
    log(f"compiling {target} with line tables in a child process ...")
    proc, info = sampling.start_child(target, batch, tmp)
    try:
        log(f"sampling pid {info['pid']} with perf for {seconds:g} s ...")
        samples = sampling.perf_samples(info["pid"], seconds, hz, tmp)
        log(f"{len(samples)} samples; mapping addresses to lines with gdb ...")
        lines = sampling.gdb_lines(info["pid"], [ip for _t, ip, _d in samples], tmp)
    finally:
        sampling.stop_child(proc)
    per_line, outside = attribute(samples, lines)
    threads = len({t for t, _ip, _d in samples})
    how = f"perf record -e cpu-clock:u -F {hz} (software timer), {seconds:g} s"
    header = [f"arguments: {', '.join(info['args'])}",
              f"sampler: {how}; {threads} thread(s) sampled; addresses mapped to lines by gdb "
              "through the DWARF line tables of a debuginfo build (numba's debug-only changes "
              "undone: no bounds checks, no extended lifetimes, locals promoted, inlining on; "
              "profiling/sampling.py)",
              f"time per call: {info['per_call'] * 1e6:.1f} us in the profiled build"
              + (f", {base * 1e6:.1f} us in the normal build" if base else "")
              + " (both on the machine as it was, other users included)"]
    title = f"Per-line profile of {target}" + ("" if ":" in target else f" at batch {batch}")
    return report(title, header, per_line, outside, len(samples), 0.001), per_line, outside, len(samples)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m profiling.kernel_lines",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("name", help="a kernel of `import kernels` (with an entry in kernels/costs.py), "
                    "or FILE.py:FUNC where FILE.py also defines FUNC_args() returning its arguments")
    ap.add_argument("--batch", type=int, default=64, help="batch size of the training shape (64)")
    ap.add_argument("--seconds", type=float, default=3.0, help="sampling time (3)")
    ap.add_argument("--hz", type=int, default=999, help="perf sampling frequency (999)")
    ap.add_argument("--out", help="output file (default results/kernel_lines_NAME.txt)")
    a = ap.parse_args(argv)
    if ":" not in a.name:
        from kernels.costs import COSTS
        if a.name not in COSTS:
            ap.error(f"unknown kernel {a.name!r}; one of: {', '.join(COSTS)}")
    short = a.name.rsplit(":", 1)[-1]
    out = a.out or os.path.join(RESULTS_DIR, f"kernel_lines_{short}.txt")
    t0 = time.perf_counter()
    try:
        text, *_ = profile(a.name, a.batch, a.seconds, a.hz)
    except RuntimeError as e:
        print(f"kernel_lines: {e}", file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    print(text)
    log(f"wrote {out} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
