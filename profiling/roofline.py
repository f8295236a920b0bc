"""Roofline of every kernel at the training shapes, against ceilings measured on this machine.

    python -m profiling.roofline                       full run (a few minutes): batches 64 and 512
    python -m profiling.roofline --quick --out-dir D   a smoke run, written to D
    python -m profiling.roofline --kernels matmul_nn_fast,relu_forward --batches 64

Ceilings (profiling/ceilings.py): peak FMA throughput of a register-only kernel on all cores and
on one, OpenBLAS sgemm for reference, and triad bandwidth with the data in L2, in L3 and in DRAM,
on all cores and on one. Each kernel of kernels/costs.py is then timed at its training shape
(compiled loop, median of >= 5 samples after a warm-up call; profiling/kernel_args.py) and placed
at intensity AI = flops / bytes (both from kernels/costs.py).

A kernel is timed warm (the same arguments call after call), so its data sit in the smallest cache
level that holds its bytes: that level's bandwidth is its memory ceiling (L2: per core for the
one-core roof, all cores' L2 together for the machine roof). Its roof is
min(peak FMA, AI x bandwidth); it is compute-bound when AI is at or above the ridge point
peak / bandwidth, memory-bound below it; `fraction` is its GFLOP/s over that roof (for the 0-FLOP
copies, GB/s over the bandwidth). fraction_1core does the same against the one-core ceilings,
which is the fair measure for the kernels that run on one thread.

Writes results/roofline.csv (rows: machine, ceilings, kernels) and plots/roofline.png.
"""
import argparse
import os
import sys
import time

import numpy as np

from kernels.costs import COSTS
from profiling import ceilings as C
from profiling.common import PLOTS_DIR, RESULTS_DIR, log, write_csv
from profiling.kernel_args import args_for, compiled_loop, time_per_call

FIELDS = ["kind", "name", "batch", "dims", "flops", "bytes", "ai", "seconds", "gflops", "gbs",
          "level", "roof_gflops", "ridge", "bound", "fraction", "roof1_gflops", "fraction_1core",
          "note"]
LEVELS = ("L2", "L3", "DRAM")
QUICK_KERNELS = ("matmul_nn_fast", "relu_forward", "softmax_xent_grad", "gather_rows")


def measure_ceilings(quick, threads):
    """Rows of kind 'ceiling' and a dict of the figures the kernels are compared with."""
    m = C.machine()
    secs = 0.03 if quick else 0.3
    rep = 3 if quick else 7
    # floats per array per thread, so the 3 arrays fill: a quarter of a core's L2 (L2); a quarter
    # of L3 across the threads (L3, beyond every L2); 4x L3 in all (DRAM; 1.5x with --quick)
    sizes = {"L2": m["l2_per_core"] // 48, "L3": m["l3"] // (48 * threads),
             "DRAM": m["l3"] * (3 if quick else 8) // (24 * threads)}
    ceil = {}
    log(f"ceilings on {m['cpu']} ({m['isa']}, {m['cores']} cores, numba {threads} threads)")
    ceil["peak_1"] = C.peak_fma(1, secs, rep)
    ceil["peak_all"] = C.peak_fma(threads, secs, rep)
    log(f"  peak FMA      {ceil['peak_all']:8.1f} GFLOP/s all cores, {ceil['peak_1']:.1f} one core")
    ceil["sgemm"] = C.sgemm(256 if quick else 2048, rep)
    log(f"  sgemm         {ceil['sgemm']:8.1f} GFLOP/s (OpenBLAS np.dot, float32)")
    for lv in LEVELS:
        ceil[f"{lv}_1"] = C.triad(sizes[lv] * threads if lv == "DRAM" else sizes[lv], 1, secs, rep)
        ceil[f"{lv}_all"] = C.triad(sizes[lv], threads, secs, rep)
        log(f"  triad {lv:5s}   {ceil[f'{lv}_all']:8.1f} GB/s all cores, {ceil[f'{lv}_1']:.1f} one "
            f"core ({_footprint(sizes, lv, 'all', threads) / 2**20:.1f} MiB in all)")
    for key in ("peak", *LEVELS):     # on a busy machine the other cores may add nothing
        if ceil[f"{key}_all"] < ceil[f"{key}_1"]:
            log(f"  note: {key} on all cores measured below one core (busy machine?); the "
                f"one-core figure is used as the machine's ceiling")
            ceil[f"{key}_all"] = ceil[f"{key}_1"]
            ceil.setdefault("clamped", []).append(key)
    fma = ", ".join(f"{k} x{v}" for k, v in C.fma_instructions().items())
    peak_note = ("; measured below one core, one-core figure used"
                 if "peak" in ceil.get("clamped", ()) else "")
    rows = [dict(kind="machine", name=m["cpu"], note=f"{m['isa']}; {m['cores']} cores; numba "
                 f"{threads} threads; L2 {m['l2_per_core'] >> 10} KiB/core; L3 {m['l3'] >> 20} MiB"
                 + ("; --quick (smoke-test sizes)" if quick else ""))]
    for key, note in (("peak_all", f"register-only FMA kernel, all cores: {fma}{peak_note}"),
                      ("peak_1", "register-only FMA kernel, one core"),
                      ("sgemm", f"OpenBLAS np.dot float32 {256 if quick else 2048}^3, reference")):
        rows.append(dict(kind="ceiling", name=key, gflops=ceil[key], note=note))
    for lv in LEVELS:
        for scope in ("all", "1"):
            rows.append(dict(kind="ceiling", name=f"{lv}_{scope}", gbs=ceil[f"{lv}_{scope}"],
                             note=f"triad, {_footprint(sizes, lv, scope, threads) >> 10} KiB "
                                  f"in all, {'all threads' if scope == 'all' else 'one thread'}"
                                  + ("; measured below one thread, one-thread figure used"
                                     if scope == "all" and lv in ceil.get("clamped", ()) else "")))
    ceil["l2_1"], ceil["l2_all"], ceil["l3"] = m["l2_per_core"], m["l2_per_core"] * threads, m["l3"]
    return rows, ceil


def _footprint(sizes, level, scope, threads):
    """Bytes of the three triad arrays together (one-thread DRAM runs use all threads' data)."""
    return 12 * sizes[level] * (threads if scope == "all" or level == "DRAM" else 1)


def level_of(nbytes, capacity):
    """The smallest level whose capacity (bytes) holds nbytes."""
    return "L2" if nbytes <= capacity[0] else "L3" if nbytes <= capacity[1] else "DRAM"


def place(name, batch, dims, flops, nbytes, seconds, ceil):
    """A kernel row: achieved figures, its roofs, bound and fractions."""
    ai = flops / nbytes
    gflops, gbs = flops / seconds / 1e9, nbytes / seconds / 1e9
    row = dict(kind="kernel", name=name, batch=batch, dims="x".join(map(str, dims)), flops=flops,
               bytes=nbytes, ai=ai, seconds=seconds, gflops=gflops, gbs=gbs)
    for scope, cap in (("all", (ceil["l2_all"], ceil["l3"])), ("1", (ceil["l2_1"], ceil["l3"]))):
        lv = level_of(nbytes, cap)
        bw, peak = ceil[f"{lv}_{scope}"], ceil[f"peak_{scope}"]
        roof = min(peak, ai * bw)
        frac = gbs / bw if flops == 0 else gflops / roof
        if scope == "all":
            row.update(level=lv, roof_gflops=roof, ridge=peak / bw, fraction=frac,
                       bound="compute" if ai >= peak / bw else "memory")
        else:
            row.update(roof1_gflops=roof, fraction_1core=frac)
    row["note"] = COSTS[name].how
    return row


def measure_kernels(names, batches, quick, progress=True):
    """(rows without placement, skipped): seconds per call of each kernel at each batch."""
    out, skipped = [], []
    total = len(names) * len(batches)
    for i, name in enumerate(names):
        loop = None
        for j, batch in enumerate(batches):
            t0 = time.perf_counter()
            try:
                kernel, args = args_for(name, batch)
            except (KeyError, TypeError, AttributeError) as e:
                skipped.append((name, str(e)))
                log(f"  skip {name}: {e}")
                break
            loop = loop or compiled_loop(kernel, len(args))
            sec = time_per_call(kernel, args, repeats=3 if quick else 7,
                                min_time=0.002 if quick else 0.05, loop=loop)
            dims, flops, nbytes = COSTS[name].at(batch, np.dtype(np.float32).itemsize)
            out.append((name, batch, dims, flops, nbytes, sec))
            log(f"  [{i * len(batches) + j + 1}/{total}] {name:30s} batch {batch:4d} "
                f"{sec * 1e6:10.2f} us  {flops / sec / 1e9:7.2f} GFLOP/s  "
                f"({time.perf_counter() - t0:.1f} s)", quiet=not progress)
    return out, skipped


def main(argv=None):
    from network.cli import output_dir_problem, positive_int
    ap = argparse.ArgumentParser(prog="python -m profiling.roofline",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: short ceilings, batch 64, few kernels (unless --kernels)")
    ap.add_argument("--kernels", help="comma-separated kernel names (default: every costed kernel)")
    ap.add_argument("--batches", type=positive_int, nargs="+", help="batch sizes (default 64 512)")
    ap.add_argument("--out-dir", help="write roofline.csv and roofline.png here instead of "
                    "results/ and plots/")
    ap.add_argument("--no-plot", action="store_true", help="write the CSV only")
    ap.add_argument("--quiet", action="store_true", help="no per-kernel progress lines")
    a = ap.parse_args(argv)
    names = a.kernels.split(",") if a.kernels else list(QUICK_KERNELS if a.quick else COSTS)
    unknown = [n for n in names if n not in COSTS]
    if unknown:
        ap.error(f"no cost entry for {', '.join(unknown)}; known: {', '.join(COSTS)}")
    batches = a.batches or ([64] if a.quick else [64, 512])
    if a.out_dir is not None and (problem := output_dir_problem(a.out_dir, "--out-dir")):
        ap.error(problem)
    csv_path = os.path.join(a.out_dir or RESULTS_DIR, "roofline.csv")
    png_path = os.path.join(a.out_dir or PLOTS_DIR, "roofline.png")
    for d in {os.path.dirname(csv_path), os.path.dirname(png_path)}:
        os.makedirs(d, exist_ok=True)

    import numba
    threads = numba.get_num_threads()
    t0 = time.perf_counter()
    rows, ceil = measure_ceilings(a.quick, threads)
    log(f"kernels at batch {', '.join(map(str, batches))} (float32):")
    measured, skipped = measure_kernels(names, batches, a.quick, progress=not a.quiet)
    krows = [place(*m, ceil) for m in measured]
    rows += krows + [dict(kind="skipped", name=n, note=why) for n, why in skipped]
    write_csv(csv_path, rows, FIELDS)
    log(f"wrote {csv_path}")
    if not a.no_plot:
        from profiling.roofline_plot import plot_roofline
        plot_roofline(krows, ceil, rows[0]["name"], png_path, quick=a.quick)
        log(f"wrote {png_path}")
    print(summary(krows))
    log(f"done in {time.perf_counter() - t0:.0f} s")
    return 0 if not skipped else 1


def summary(krows):
    """A fixed-width table of the placed kernels."""
    lines = [f"{'kernel':30s} {'batch':>5s} {'AI':>7s} {'GFLOP/s':>8s} {'GB/s':>7s} {'level':>5s} "
             f"{'bound':>7s} {'of roof':>7s} {'1-core':>7s}"]
    for r in krows:
        lines.append(f"{r['name']:30s} {r['batch']:5d} {r['ai']:7.2f} {r['gflops']:8.2f} "
                     f"{r['gbs']:7.1f} {r['level']:>5s} {r['bound']:>7s} {r['fraction']:7.1%} "
                     f"{r['fraction_1core']:7.1%}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
