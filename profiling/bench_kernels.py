"""Per-kernel benchmark: every kernel against its NumPy equivalent at the network's real shapes.

    python -m profiling.bench_kernels [--batch-sizes 32,64,128,512]
        [--nets 784-128-64-10,784-1024-1024-10] [--dtypes float32,float64] [--repeats 5]
        [--min-time 0.02] [--kernels matmul,relu] [--quick] [--out-dir results] [--plots-dir plots]
    python -m profiling.bench_kernels --replot [--out-dir results] [--plots-dir plots]

For each network, dtype and batch size N, every kernel with a case in profiling/cases.py (every
public kernel of `kernels/` but the few BENCH_EXEMPT names) runs on the shapes training gives it: the matrix products
and bias kernels per layer (N, fan-in, fan-out), activations and dropout per hidden layer, softmax
and cross-entropy on the (N, 10) logits, the optimizers on each weight matrix (these do not depend
on N and are measured once per network and dtype, with an empty batch column), and the shift
augmentation on (N, 784). Each is timed after a warm-up call (JIT compilation excluded) as the
median of --repeats samples, each sample a run of back-to-back calls long enough (--min-time) to
swamp timer resolution; the samples of a kernel and of its NumPy equivalent alternate, with a
0.2 s pause before each, so neither runs while the other's thread pool is still spinning.

Writes results/kernel_benchmarks.csv (one row per kernel and shape) with GFLOP/s for matrix
products, GB/s (bytes read + written, counted from the arrays each kernel touches) for the others,
and speedup_vs_numpy = NumPy time / kernel time (> 1: the kernel is faster); results/kernel_pairs.csv
walks kernels/pairs.py: each optimised kernel beside the plain kernel it must equal, at the same
shape (where they take the same shape); the machine record in results/machine.json; and
plots/kernel_benchmarks.png (profiling/kernel_plots.py: with one batch size, every product and
fused layer against np.dot layer by layer). --replot redraws that figure from --out-dir's
kernel_benchmarks.csv without measuring anything.
"""
import argparse
import os
import sys

import numpy as np

from profiling import cases as C
from profiling.common import (PLOTS_DIR, RESULTS_DIR, blas_peak, csv_list, log, record_machine,
                              write_csv)
from profiling.kernel_plots import plot, read_rows
from profiling.timing import interleaved_per_call

FIELDS = ["net", "dtype", "batch", "op", "case", "kernel", "layer", "shape", "flop", "bytes",
          "kernel_us", "numpy_us", "kernel_gflops", "numpy_gflops", "kernel_gbs", "numpy_gbs",
          "speedup_vs_numpy", "spell_rounds", "busy"]
# In training the first layer never computes dX (the gradient of the images), so the kernels that
# compute it run on layers 2.. only.
SKIP_FIRST_LAYER = {"matmul_nt", "linear_backward", "linear_input_grad"}


def parse_net(text):
    sizes = [int(s) for s in text.split("-")]
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise ValueError(f"a net is layer sizes joined by '-', e.g. 784-128-64-10; got {text!r}")
    return sizes


def shapes_for(case, sizes, batch):
    """[(layer label, dims)] the case runs on in one training step of the net `sizes`."""
    layers = list(zip(sizes[:-1], sizes[1:]))
    if case.scope == "layer":
        return [(f"L{l + 1}", (batch, k, m)) for l, (k, m) in enumerate(layers)
                if not (l == 0 and case.name in SKIP_FIRST_LAYER)]
    if case.scope == "hidden":
        return [(f"L{l + 1}", (batch, m)) for l, (_, m) in enumerate(layers[:-1])]
    if case.scope == "output":
        return [("out", (batch, sizes[-1]))]
    if case.scope == "params":
        return [(f"W{l + 1}", (k * m,)) for l, (k, m) in enumerate(layers)]
    if case.scope == "input":
        return [("in", (batch, sizes[0]))] if sizes[0] == 784 else []
    raise ValueError(f"unknown scope {case.scope!r}")


def implementations(kernels):
    """{index of the case in CASES: [KernelInfo]}: the kernel each case is bound to."""
    impls = {}
    for k in kernels:
        c = C.case_for(k)
        if c is not None:
            impls.setdefault(next(i for i, x in enumerate(C.CASES) if x is c), []).append(k)
    return impls


def _rate(case, dims, itemsize, seconds):
    if case.kind == "matmul":
        return {"flop": case.flops(dims), "gflops": case.flops(dims) / seconds / 1e9}
    return {"bytes": case.nbytes(dims, itemsize), "gbs": case.nbytes(dims, itemsize) / seconds / 1e9}


def bench_case(case, kernels, dims, dtype, repeats, min_time, seed=0):
    """Rows for one case at one shape: each kernel implementation and the NumPy equivalent, timed
    side by side (profiling/timing.py interleaved_per_call: rotating rounds, a pause before each
    sample so the other side's thread pool has gone idle, samples of back-to-back calls)."""
    rng = np.random.default_rng(seed)
    args = case.make(dims, np.dtype(dtype), rng)
    fns = {"numpy": case.numpy(args)}
    for k in kernels:
        kargs = C.full_args(k, case.make(dims, np.dtype(dtype), np.random.default_rng(seed)))
        fn = (lambda f, a: lambda: f(*a))(k.func, kargs)
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - e.g. a kernel whose signature changed under us
            log(f"    skipped {k.qualname} at {dims}: {type(e).__name__}: {str(e).splitlines()[0][:120]}")
            continue
        fns[k.qualname] = fn
    res = interleaved_per_call(fns, repeats, min_time)
    t_np = res["numpy"]["median"]
    np_rate = _rate(case, dims, np.dtype(dtype).itemsize, t_np)
    rows = []
    for k in kernels:
        if k.qualname not in res:
            continue
        t = res[k.qualname]["median"]
        rate = _rate(case, dims, np.dtype(dtype).itemsize, t)
        rows.append({"op": case.op, "case": case.name, "kernel": k.qualname,
                     "shape": "x".join(map(str, dims)), "flop": rate.get("flop", ""),
                     "bytes": rate.get("bytes", ""), "kernel_us": t * 1e6, "numpy_us": t_np * 1e6,
                     "kernel_gflops": rate.get("gflops", ""), "numpy_gflops": np_rate.get("gflops", ""),
                     "kernel_gbs": rate.get("gbs", ""), "numpy_gbs": np_rate.get("gbs", ""),
                     "speedup_vs_numpy": t_np / t, "spell_rounds": res["numpy"]["spell_rounds"],
                     "busy": res["numpy"]["busy"]})
    return rows


def run(nets, batch_sizes, dtypes, repeats, min_time, only=None, quiet=False):
    from kernels import runtime
    runtime.ensure_fresh_cache()
    kernels, errors = C.discover()
    for mod, err in errors.items():
        log(f"note: {mod} not benchmarked ({err})", quiet)
    impls = implementations(kernels)
    chosen = [(i, c) for i, c in enumerate(C.CASES) if i in impls and (not only or any(s in c.name for s in only))]
    for dtype in dtypes:  # each kernel must compute what its NumPy equivalent computes
        for ci, _ in chosen:
            for k in list(impls[ci]):
                why = C.validate(C.CASES[ci], k, dtype=dtype)
                if why:
                    log(f"note: {k.qualname} left out: it does not match the NumPy equivalent of case "
                        f"{C.CASES[ci].name} in {np.dtype(dtype).name} ({why})", quiet)
                    impls[ci].remove(k)
    chosen = [(ci, c) for ci, c in chosen if impls[ci]]
    rows = []
    groups = [(s, d, b) for s in nets for d in dtypes for b in batch_sizes]
    for gi, (sizes, dtype, batch) in enumerate(groups, 1):
        net = "-".join(map(str, sizes))
        log(f"[{gi}/{len(groups)}] net {net}  {np.dtype(dtype).name}  batch {batch}", quiet)
        for ci, case in chosen:
            if case.scope == "params" and batch != batch_sizes[0]:
                continue  # independent of the batch size: measured once per net and dtype
            for layer, dims in shapes_for(case, sizes, batch):
                for r in bench_case(case, impls[ci], dims, dtype, repeats, min_time):
                    r.update(net=net, dtype=np.dtype(dtype).name, layer=layer,
                             batch="" if case.scope == "params" else batch)
                    rows.append(r)
                    log(f"    {r['kernel']:<40} {layer:<4} {r['shape']:<16} {r['kernel_us']:10.1f} us"
                        f"  numpy {r['numpy_us']:10.1f} us  x{r['speedup_vs_numpy']:.2f}", quiet)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m profiling.bench_kernels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-sizes", type=csv_list, default=[32, 64, 128, 512])
    ap.add_argument("--nets", default="784-128-64-10,784-1024-1024-10",
                    help="comma-separated nets, each layer sizes joined by '-'")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.02, help="seconds per timing sample")
    ap.add_argument("--kernels", default="", help="only cases whose name contains one of these (comma-separated)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny run for tests: batch 32, net 784-32-16-10, float32, 1 repeat")
    ap.add_argument("--out-dir", default=RESULTS_DIR)
    ap.add_argument("--plots-dir", default=PLOTS_DIR)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--no-pin", action="store_true",
                    help="leave the calling thread unbound while timing (by default it is held on the "
                         "OpenMP master's CPU, as in training: kernels/runtime.py pinned)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--replot", action="store_true",
                    help="measure nothing: redraw kernel_benchmarks.png in --plots-dir from the "
                         "kernel_benchmarks.csv in --out-dir")
    a = ap.parse_args(argv)
    if a.replot:
        return _replot(ap, a)
    if a.quick:
        a.batch_sizes, a.nets, a.dtypes, a.repeats, a.min_time = [32], "784-32-16-10", "float32", 1, 0.0
    try:
        nets = [parse_net(s) for s in a.nets.split(",") if s.strip()]
        dtypes = [np.dtype(d.strip()) for d in a.dtypes.split(",") if d.strip()]
    except (ValueError, TypeError) as e:
        ap.error(str(e))
    if any(d not in (np.float32, np.float64) for d in dtypes):
        ap.error(f"--dtypes must be float32 and/or float64; got {a.dtypes!r}")
    if a.repeats < 1:
        ap.error("--repeats must be at least 1")
    from network.cli import output_dir_problem
    for problem in (output_dir_problem(a.out_dir, "--out-dir"), output_dir_problem(a.plots_dir, "--plots-dir")):
        if problem:
            ap.error(problem)
    only = [s.strip() for s in a.kernels.split(",") if s.strip()]
    from kernels import runtime
    with runtime.pinned(not a.no_pin):
        rows = run(nets, a.batch_sizes, dtypes, a.repeats, a.min_time, only, a.quiet)
    if not rows:
        print(f"error: no kernel matched --kernels {a.kernels!r}", file=sys.stderr)
        return 2
    os.makedirs(a.out_dir, exist_ok=True)
    csv_path = os.path.join(a.out_dir, "kernel_benchmarks.csv")
    write_csv(csv_path, rows, FIELDS)
    pairs = pair_rows(rows)
    write_csv(os.path.join(a.out_dir, "kernel_pairs.csv"), pairs, PAIR_FIELDS)
    info = record_machine(a.out_dir, "bench_kernels", a, extra=None if a.quick else {
        "numpy_matmul_1024_gflops": {d.name: blas_peak(d) for d in dtypes}})
    if "numpy_matmul_1024_gflops" in info:
        print(f"NumPy matmul 1024^3: {info['numpy_matmul_1024_gflops']} GFLOP/s")
    print(f"wrote {csv_path} ({len(rows)} rows)")
    if not a.no_plot:
        _draw(rows, a.plots_dir)
    _summary(rows)
    return 0


def _replot(ap, a):
    csv_path = os.path.join(a.out_dir, "kernel_benchmarks.csv")
    if not os.path.isfile(csv_path):
        ap.error(f"--replot: no {csv_path} (run the benchmark with this --out-dir first)")
    try:
        rows = read_rows(csv_path)
    except (KeyError, ValueError) as e:
        ap.error(f"--replot: {csv_path} is not a kernel_benchmarks.csv ({type(e).__name__}: {e})")
    if not rows:
        ap.error(f"--replot: {csv_path} has no rows")
    from network.cli import output_dir_problem
    problem = output_dir_problem(a.plots_dir, "--plots-dir")   # --out-dir is only read here
    if problem:
        ap.error(problem)
    _draw(rows, a.plots_dir)
    return 0


def _draw(rows, plots_dir):
    """plots_dir/kernel_benchmarks.png from the rows (a measured run's or --replot's)."""
    png = os.path.join(plots_dir, "kernel_benchmarks.png")
    plot(rows, png)
    print(f"wrote {png}")


PAIR_FIELDS = ["net", "dtype", "batch", "layer", "shape", "fast", "plain", "fast_us", "plain_us",
               "speedup_vs_plain", "equal"]


def pair_rows(rows):
    """For each row of kernels.pairs.PAIRS: the optimised kernel's time beside its first plain
    kernel's at the same net, dtype, batch, layer and shape (pairs whose plain kernel runs on
    other shapes, such as the fused optimizer steps, are left out)."""
    from kernels.pairs import PAIRS
    by = {(r["net"], r["dtype"], r["batch"], r["layer"], r["shape"], r["kernel"].split(".")[-1]): r
          for r in rows}
    out = []
    for p in PAIRS:
        if not p.plain:
            continue
        fast, plain = p.fast.__name__, p.plain[0].__name__
        for key, r in by.items():
            q = by.get(key[:5] + (plain,))
            if key[5] == fast and q is not None:
                out.append({"net": r["net"], "dtype": r["dtype"], "batch": r["batch"], "layer": r["layer"],
                            "shape": r["shape"], "fast": fast, "plain": plain, "fast_us": r["kernel_us"],
                            "plain_us": q["kernel_us"], "speedup_vs_plain": q["kernel_us"] / r["kernel_us"],
                            "equal": p.equal})
    return out


def _summary(rows):
    """Print matmul GFLOP/s at batch 64 (or the first batch) for the first net and dtype."""
    if not rows:
        return
    batches = sorted({r["batch"] for r in rows if r["batch"] != ""})
    b = 64 if 64 in batches else batches[0]
    net, dtype = rows[0]["net"], rows[0]["dtype"]
    print(f"\nmatrix products, net {net}, {dtype}, batch {b}:")
    for r in rows:
        if r["net"] == net and r["dtype"] == dtype and r["batch"] == b and r["case"].startswith("matmul_"):
            print(f"  {r['kernel']:<28} {r['layer']:<4} {r['shape']:<14} {r['kernel_gflops']:7.1f} GFLOP/s"
                  f"   numpy {r['numpy_gflops']:7.1f}   x{r['speedup_vs_numpy']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
