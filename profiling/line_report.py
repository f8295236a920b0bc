"""line_profiler reports of training steps through the kernel-backed network and the NumPy reference.

    python -m profiling.line_report [--batch 64] [--steps 50] [--breakdown-batches 32,64,128,512]
        [--sizes 784-128-64-10] [--dtype float32] [--quick] [--out-dir results] [--plots-dir plots]

The kernel-backed network is profiled on its Python reference path, NeuralNetwork._backward (which
calls _forward) + update_weights: every line there is one kernel call, so the per-line times say
which kernel the step spends its time in. The NumPy reference (profiling/numpy_reference.py) is
profiled the same way: one whole-array operation per line. Both run `--steps` SGD steps on the
same random batch of MNIST's shape after a warm-up step (JIT compilation excluded), using
line_profiler's LineProfiler API.

Writes results/line_profile_numba.txt and results/line_profile_numpy.txt (line_profiler's own
report at --batch), results/step_breakdown.csv (microseconds per step by operation, at every
--breakdown-batches size) and plots/step_breakdown.png. Operations: matmul (+bias) = the linear
layers forward and backward (bias add and bias gradient included: they share a line with the
products in the kernel path), activation, softmax-CE, update (the optimizer), dropout, and Python
overhead = every other line (loop headers, list indexing, buffer look-ups, reshapes). A line
that calls another profiled function is not counted twice. line_profiler itself adds roughly a
microsecond per executed line; the unprofiled step time is recorded beside the breakdown.
"""
import io
import linecache
import os
import re
import sys
import time

import numpy as np

from profiling.common import (add_common_options, csv_list, log, machine_info, make_parser, positive_int,
                              random_mnist, record_machine, save_figure, write_csv)

OPS = ("matmul (+bias)", "activation", "softmax-CE", "update", "dropout", "Python overhead")
LR = 0.01
_RULES = [
    (re.compile(r"self\._forward\(|\._backward\(|\.update_weights\("), None),  # counted in the callee
    (re.compile(r"linear_(forward|backward)|@|\.sum\(axis=0\)"), "matmul (+bias)"),
    (re.compile(r"softmax|cross_entropy"), "softmax-CE"),
    (re.compile(r"act_fwd\(|act_bwd\(|\bf\(z\)|f_grad\("), "activation"),
    (re.compile(r"dropout_(forward|backward|mask)\(|\* self\._masks"), "dropout"),
    (re.compile(r"_update\(|\bp -= |\bp \+= |self\.velocity\[i\]|self\.m\[i\] =|self\.v\[i\] =|g = grads"),
     "update"),
]
FIELDS = ["impl", "batch", "steps", "op", "us_per_step", "share", "profiled_step_us", "unprofiled_step_us"]


def classify(source_line):
    """The operation a source line belongs to, or None for a call into another profiled function."""
    code = source_line.split("#", 1)[0]
    for rx, op in _RULES:
        if rx.search(code):
            return op
    return "Python overhead"


def _setup(sizes, dtype, batch, seed=0):
    from network.model import NeuralNetwork
    from profiling.numpy_reference import NumpyNetwork
    net = NeuralNetwork(sizes, activation="relu", seed=seed, dtype=dtype, optimizer="sgd")
    ref = NumpyNetwork.from_network(net)
    X, y = random_mnist(batch, dtype)
    return net, ref, X, y


def _targets(impl):
    from network.model import NeuralNetwork
    from profiling.numpy_reference import NumpyNetwork
    cls = NeuralNetwork if impl == "numba" else NumpyNetwork
    return [cls._backward, cls._forward, cls.update_weights]


def profile_steps(impl, model, X, y, steps):
    """Run `steps` SGD steps under a LineProfiler; returns (profiler, profiled seconds per step)."""
    from line_profiler import LineProfiler

    model._backward(X, y)  # warm-up: compiles the kernels (or loads them from the cache)
    model.update_weights(LR)
    lp = LineProfiler()
    for f in _targets(impl):
        lp.add_function(f)
    lp.enable_by_count()
    t0 = time.perf_counter()
    try:
        for _ in range(steps):
            model._backward(X, y)
            model.update_weights(LR)
    finally:
        lp.disable_by_count()
    return lp, (time.perf_counter() - t0) / steps


def unprofiled_step(model, X, y, steps):
    model._backward(X, y)
    model.update_weights(LR)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(steps):
            model._backward(X, y)
            model.update_weights(LR)
        ts.append((time.perf_counter() - t0) / steps)
    return float(np.median(ts))


def breakdown(lp, steps):
    """{op: microseconds per step} from a profiler's line timings."""
    stats = lp.get_stats()
    out = dict.fromkeys(OPS, 0.0)
    for (filename, _, _), lines in stats.timings.items():
        for lineno, _, total in lines:
            op = classify(linecache.getline(filename, lineno))
            if op is not None:
                out[op] += total * stats.unit * 1e6 / steps
    return out


def report_text(lp, title):
    buf = io.StringIO()
    lp.print_stats(stream=buf, output_unit=1e-6)
    return title + "\n" + buf.getvalue()


def plot(rows, batch, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    impls = list(dict.fromkeys(r["impl"] for r in rows))
    batches = sorted({r["batch"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    get = {(r["impl"], r["batch"], r["op"]): r for r in rows}
    ax = axes[0]
    for i, impl in enumerate(impls):
        left = 0.0
        for j, op in enumerate(OPS):
            v = get[(impl, batch, op)]["us_per_step"]
            ax.barh(i, v, left=left, color=f"C{j}", label=op if i == 0 else None)
            if v > 0.06 * get[(impl, batch, OPS[0])]["profiled_step_us"]:
                ax.text(left + v / 2, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color="w")
            left += v
        unprof = get[(impl, batch, OPS[0])]["unprofiled_step_us"]
        ax.plot([unprof], [i], "k|", ms=22, mew=2)
        ax.text(left, i + 0.3, f" profiled {left:.0f} µs, unprofiled {unprof:.0f} µs (|)", fontsize=7)
    names = {"numba": "Numba kernels\n(Python reference path)", "numpy": "NumPy reference"}
    ax.set_yticks(range(len(impls)))
    ax.set_yticklabels([f"{names.get(impl, impl)}\n(batch {batch})" for impl in impls], fontsize=8)
    ax.set_xlabel("µs per training step (line_profiler)")
    ax.set_title(f"where one SGD step's time goes, batch {batch}")
    ax.legend(fontsize=7, loc="lower right")
    ax.margins(x=0.25)
    ax = axes[1]
    width = 0.8 / len(impls)
    for i, impl in enumerate(impls):
        for bi, b in enumerate(batches):
            bottom = 0.0
            for j, op in enumerate(OPS):
                share = get[(impl, b, op)]["share"] * 100
                ax.bar(bi + (i - (len(impls) - 1) / 2) * width, share, width * 0.95, bottom=bottom,
                       color=f"C{j}", edgecolor="k" if i else "none", lw=0.4)
                bottom += share
    ax.set_xticks(range(len(batches)))
    ax.set_xticklabels([f"batch {b}\n" + " | ".join(impls) for b in batches], fontsize=7)
    ax.set_ylabel("% of the profiled step")
    ax.set_title("share of each operation by batch size (left bar: " + impls[0] + ")")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def main(argv=None):
    ap = make_parser("python -m profiling.line_report", __doc__)
    ap.add_argument("--batch", type=positive_int, default=64, help="batch size of the text reports")
    ap.add_argument("--steps", type=positive_int, default=50, help="profiled SGD steps per measurement")
    ap.add_argument("--breakdown-batches", type=csv_list, default=[32, 64, 128, 512])
    ap.add_argument("--sizes", default="784-128-64-10")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    add_common_options(ap, "tiny run for tests: 2 steps, batch 16")
    a = ap.parse_args(argv)
    if a.quick:
        a.steps, a.batch, a.breakdown_batches = 2, 16, [16]
    try:
        sizes = [int(s) for s in a.sizes.split("-")]
    except ValueError:
        ap.error(f"--sizes must be layer sizes joined by '-', e.g. 784-128-64-10; got {a.sizes!r}")
    if sizes[0] != 784:
        ap.error("--sizes must start with 784 (the benchmark feeds MNIST-shaped data)")
    dtype = np.dtype(a.dtype)
    batches = sorted(set(a.breakdown_batches) | {a.batch})
    os.makedirs(a.out_dir, exist_ok=True)
    rows = []
    info = machine_info()
    for b in batches:
        net, ref, X, y = _setup(sizes, dtype, b)
        for impl, model in (("numba", net), ("numpy", ref)):
            log(f"line_profiler: {impl:<5} batch {b:4d}, {a.steps} steps", a.quiet)
            lp, prof = profile_steps(impl, model, X, y, a.steps)
            unprof = unprofiled_step(model, X, y, a.steps)
            parts = breakdown(lp, a.steps)
            total = sum(parts.values())
            for op in OPS:
                rows.append({"impl": impl, "batch": b, "steps": a.steps, "op": op, "us_per_step": parts[op],
                             "share": parts[op] / total if total else 0.0, "profiled_step_us": prof * 1e6,
                             "unprofiled_step_us": unprof * 1e6})
            if b == a.batch:
                what = ("NeuralNetwork._backward + update_weights (one kernel call per line)" if impl == "numba"
                        else "NumpyNetwork._backward + update_weights (one NumPy operation per line)")
                title = (f"# line_profiler: {what}\n# net {a.sizes}, {dtype.name}, batch {b}, {a.steps} SGD steps "
                         f"after a warm-up step; times are totals over the {a.steps} steps\n"
                         f"# unprofiled step: {unprof * 1e6:.1f} us; profiled: {prof * 1e6:.1f} us\n"
                         f"# machine: {info['cpu']}, {info['usable_cpus']} cpus, numpy {info['numpy']}, "
                         f"numba {info['numba']} (shared machine; see machine.json)\n"
                         f"# regenerate: python -m profiling.line_report --batch {b} --steps {a.steps}\n")
                path = os.path.join(a.out_dir, f"line_profile_{impl}.txt")
                text = report_text(lp, title)
                from network.io import atomic_write
                atomic_write(path, lambda f, t=text: f.write(t.encode()))
                print(f"wrote {path}")
            summary = ", ".join(f"{op} {parts[op]:.0f}" for op in OPS)
            log(f"    µs/step: {summary}; unprofiled step {unprof * 1e6:.0f} µs", a.quiet)
    csv_path = os.path.join(a.out_dir, "step_breakdown.csv")
    write_csv(csv_path, rows, FIELDS)
    print(f"wrote {csv_path}")
    record_machine(a.out_dir, "line_report", a)
    if not a.no_plot:
        png = os.path.join(a.plots_dir, "step_breakdown.png")
        plot(rows, a.batch, png)
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
