"""Epoch benchmark: one training epoch of the kernel-backed network against NumPy and scikit-learn,
cold and warm start, and (optionally) scaling curves over batch size and hidden width.

    python -m profiling.bench_epoch [--n 48000] [--batch 64] [--repeats 3] [--dtypes float32,float64]
        [--batch-sizes 32,64,128,256,512,1024] [--hidden 128,256,512,1024,2048] [--scaling-n 8192]
        [--scaling-only] [--no-startup] [--no-peers] [--quick] [--out-dir results] [--plots-dir plots]

Implementations, all plain SGD (lr 0.01, no momentum) on the 784-128-64-10 ReLU net:
    kernels train_epoch   NeuralNetwork.train_epoch (whatever fast path the class uses)
    kernels step loop     the Python reference path (NeuralNetwork.train_epoch_reference): per
                          mini-batch _backward + update_weights, one Python call per plain kernel
    numpy                 profiling.numpy_reference.NumpyNetwork.train_epoch (vectorised NumPy)
    sklearn               MLPClassifier(solver="sgd", momentum=0, max_iter=1), like
                          shared/tools/bench_peers.py (includes its input validation)
    torch                 only when PyTorch is installed (never a dependency)
Each is timed after one warm-up epoch (JIT compilation excluded), median of --repeats.

Cold / warm start: a fresh interpreter (subprocess) with NUMBA_CACHE_DIR set to an empty temporary
directory imports the package, builds the net and trains one epoch, so the first call compiles
every kernel ("cold cache"); a second subprocess reuses that cache directory ("warm cache", the
kernels are loaded from disk). Reported: import time, first-epoch time (compile or cache load
included), second-epoch time, and the whole process's wall time.

The data are random arrays of MNIST's shape (48,000 x 784 in [0, 1), labels 0..9): the timing of
these dense kernels does not depend on the pixel values, so no download is needed.

Writes results/epoch_benchmark.csv and plots/epoch_benchmark.png; with --batch-sizes and/or
--hidden also results/scaling_batch.csv, results/scaling_width.csv and plots/scaling.png
(hidden width H means the net 784-H-(H/2)-10, so H = 128 is the default net).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from profiling.common import (ROOT, add_common_options, csv_list, log, make_parser, positive_int, random_mnist,
                              record_machine, save_figure, write_csv)

SIZES = [784, 128, 64, 10]
LR = 0.01
FIELDS = ["impl", "dtype", "n", "batch", "net", "epoch_s", "epoch_min_s", "images_per_s",
          "ratio_to_numpy", "repeats", "import_s", "first_epoch_s", "second_epoch_s", "process_s", "note"]
SCALING_FIELDS = ["impl", "dtype", "net", "hidden", "batch", "n", "steps", "seconds", "step_ms",
                  "us_per_image", "ratio_to_numpy"]


# ------------------------------------------------------------------------------ runners
def _net(sizes, dtype, seed=0):
    from network.model import NeuralNetwork
    return NeuralNetwork(sizes, activation="relu", init="he", seed=seed, dtype=dtype, optimizer="sgd")


def runner(impl, sizes, dtype, X, y, batch):
    """A zero-argument callable that trains one epoch with `impl`; raises ImportError if unavailable."""
    if impl == "kernels train_epoch":
        net = _net(sizes, dtype)
        return lambda: net.train_epoch(X, y, batch_size=batch, learning_rate=LR)
    if impl == "kernels step loop":
        net = _net(sizes, dtype)
        if hasattr(net, "train_epoch_reference"):
            return lambda: net.train_epoch_reference(X, y, batch_size=batch, learning_rate=LR)
        Xc = np.ascontiguousarray(X, dtype=dtype)
        yc = np.ascontiguousarray(y, dtype=np.int64)

        def loop():  # the same per-batch path, for a NeuralNetwork without train_epoch_reference
            perm = net.rng.permutation(len(Xc))
            for s in range(0, len(Xc), batch):
                idx = perm[s:s + batch]
                net._backward(Xc[idx], yc[idx])
                net.update_weights(LR)
        return loop
    if impl == "numpy":
        from profiling.numpy_reference import NumpyNetwork
        ref = NumpyNetwork(sizes, activation="relu", seed=0, dtype=dtype)
        return lambda: ref.train_epoch(X, y, batch_size=batch, learning_rate=LR)
    if impl == "sklearn":
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        def fit():
            clf = MLPClassifier(tuple(sizes[1:-1]), solver="sgd", learning_rate_init=LR, batch_size=batch,
                                max_iter=1, momentum=0, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(X, y)
            return clf
        return fit
    if impl == "torch":
        import torch
        torch.manual_seed(0)
        torch.set_num_threads(os.cpu_count() or 1)
        tdt = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
        layers = []
        for i, (a, o) in enumerate(zip(sizes, sizes[1:])):
            layers.append(torch.nn.Linear(a, o, dtype=tdt))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        m = torch.nn.Sequential(*layers)
        opt = torch.optim.SGD(m.parameters(), lr=LR)
        lf = torch.nn.CrossEntropyLoss()
        Xt, yt = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype)), torch.from_numpy(y.astype(np.int64))

        def epoch():
            perm = torch.randperm(len(Xt))
            for s in range(0, len(Xt), batch):
                idx = perm[s:s + batch]
                opt.zero_grad()
                lf(m(Xt[idx]), yt[idx]).backward()
                opt.step()
        return epoch
    raise ValueError(f"unknown implementation {impl!r}")


def time_epochs(fn, repeats):
    """(median, min) seconds of fn() over `repeats` calls after one warm-up call."""
    fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), float(min(ts))


def bench_epochs(n, batch, dtypes, repeats, peers=True, quiet=False):
    impls = ["kernels train_epoch", "kernels step loop", "numpy"] + (["sklearn", "torch"] if peers else [])
    rows = []
    for dtype in dtypes:
        X, y = random_mnist(n, dtype)
        base = None
        for impl in impls:
            log(f"  epoch: {impl:<20} {np.dtype(dtype).name}  n {n}  batch {batch} ...", quiet)
            try:
                fn = runner(impl, SIZES, dtype, X, y, batch)
            except ImportError as e:
                log(f"    skipped ({e})", quiet)
                continue
            med, mn = time_epochs(fn, repeats)
            note = ""
            if impl == "sklearn":
                note = f"sklearn computes in {fn().coefs_[0].dtype}"
            if impl == "numpy":
                base = med
            rows.append({"impl": impl, "dtype": np.dtype(dtype).name, "n": n, "batch": batch,
                         "net": "-".join(map(str, SIZES)), "epoch_s": med, "epoch_min_s": mn,
                         "images_per_s": n / med, "repeats": repeats, "note": note})
            log(f"    {med:.3f} s", quiet)
        for r in rows:
            if r["dtype"] == np.dtype(dtype).name and base:
                r["ratio_to_numpy"] = r["epoch_s"] / base
    return rows


# ------------------------------------------------------------------------ cold/warm start
def _child_startup(n, batch, dtype):
    """Run in a fresh interpreter: time import, first and second epoch; print one JSON line."""
    t0 = time.perf_counter()
    from network.model import NeuralNetwork
    t_import = time.perf_counter() - t0
    X, y = random_mnist(n, dtype)
    net = NeuralNetwork(SIZES, activation="relu", seed=0, dtype=dtype, optimizer="sgd")
    t1 = time.perf_counter()
    net.train_epoch(X, y, batch_size=batch, learning_rate=LR)
    t_first = time.perf_counter() - t1
    t2 = time.perf_counter()
    net.train_epoch(X, y, batch_size=batch, learning_rate=LR)
    t_second = time.perf_counter() - t2
    print(json.dumps({"import_s": t_import, "first_epoch_s": t_first, "second_epoch_s": t_second}))


def bench_startup(n, batch, dtype, quiet=False):
    """Rows for a cold (empty Numba cache) and a warm (populated cache) start, each a subprocess."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("kernels cold start (empty cache)", "kernels warm start (cached)"):
            log(f"  {label}: subprocess, n {n} ...", quiet)
            cmd = [sys.executable, "-m", "profiling.bench_epoch", "--_child-startup", "--n", str(n),
                   "--batch", str(batch), "--dtypes", np.dtype(dtype).name]
            t0 = time.perf_counter()
            res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if res.returncode != 0:
                raise RuntimeError(f"startup subprocess failed:\n{res.stderr[-2000:]}")
            d = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append({"impl": label, "dtype": np.dtype(dtype).name, "n": n, "batch": batch,
                         "net": "-".join(map(str, SIZES)), "epoch_s": d["first_epoch_s"],
                         "epoch_min_s": d["first_epoch_s"], "images_per_s": n / d["first_epoch_s"],
                         "repeats": 1, "import_s": d["import_s"], "first_epoch_s": d["first_epoch_s"],
                         "second_epoch_s": d["second_epoch_s"], "process_s": wall,
                         "note": "epoch_s = first epoch incl. compile / cache load; process_s = whole subprocess"})
            log(f"    import {d['import_s']:.2f} s, first epoch {d['first_epoch_s']:.2f} s, "
                f"second {d['second_epoch_s']:.2f} s, process {wall:.2f} s", quiet)
    return rows


# ------------------------------------------------------------------------------- scaling
SCALING_IMPLS = ("kernels train_epoch", "kernels step loop", "numpy")


def bench_scaling(kind, values, n, batch, dtype, repeats, quiet=False):
    """Epoch time over n images vs batch size (kind='batch') or hidden width ('hidden').

    For widths above the default's 128 the epoch is shortened to n * 128 / H images (at least 8
    batches), since the work per image grows with H^2; step_ms and us_per_image stay comparable.
    """
    rows = []
    X_all, y_all = random_mnist(n, dtype)
    for v in values:
        b, h = (v, SIZES[1]) if kind == "batch" else (batch, v)
        sizes = [784, h, max(1, h // 2), 10]
        # wider nets: fewer images (work per image grows ~ h^2), at least 8 steps
        m = n if kind == "batch" else min(n, max(8 * b, n * SIZES[1] // h))
        X, y = X_all[:m], y_all[:m]
        base = None
        for impl in SCALING_IMPLS:
            med, _ = time_epochs(runner(impl, sizes, dtype, X, y, b), repeats)
            steps = -(-m // b)
            row = {"impl": impl, "dtype": np.dtype(dtype).name, "net": "-".join(map(str, sizes)),
                   "hidden": h, "batch": b, "n": m, "steps": steps, "seconds": med,
                   "step_ms": med / steps * 1e3, "us_per_image": med / m * 1e6}
            if impl == "numpy":
                base = med
            rows.append(row)
            log(f"  scaling {kind} {v:>5}: {impl:<20} {med / steps * 1e3:8.3f} ms/step", quiet)
        for r in rows[-len(SCALING_IMPLS):]:
            r["ratio_to_numpy"] = r["seconds"] / base
    return rows


# --------------------------------------------------------------------------------- plots
def plot_epoch(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    main = [r for r in rows if "start" not in r["impl"]]
    start = [r for r in rows if "start" in r["impl"]]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [2, 1]})
    ax = axes[0]
    labels = [f"{r['impl']}\n{r['dtype']}" for r in main]
    vals = [r["epoch_s"] for r in main]
    colors = ["C0" if r["impl"].startswith("kernels") else "C1" if r["impl"] == "numpy" else "C7" for r in main]
    ax.bar(range(len(main)), vals, color=colors)
    for i, r in enumerate(main):
        txt = f"{r['epoch_s']:.2f} s"
        if r.get("ratio_to_numpy"):
            txt += f"\n{r['ratio_to_numpy']:.2f}x numpy"
        ax.text(i, r["epoch_s"], txt, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(main)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("seconds per epoch (median)")
    if main:
        ax.set_title(f"one epoch: {main[0]['n']} images, batch {main[0]['batch']}, plain SGD, net {main[0]['net']}")
    ax.grid(alpha=0.3, axis="y")
    ax = axes[1]
    if start:
        parts = [("import_s", "import"), ("first_epoch_s", "first epoch (compile/load + train)")]
        bottom = np.zeros(len(start))
        for j, (k, lab) in enumerate(parts):
            v = np.array([r[k] for r in start])
            ax.bar(range(len(start)), v, bottom=bottom, label=lab, color=f"C{j + 2}")
            bottom += v
        for i, r in enumerate(start):
            ax.text(i, bottom[i], f"{r['process_s']:.1f} s process\n2nd epoch {r['second_epoch_s']:.2f} s",
                    ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(start)))
        ax.set_xticklabels([r["impl"].replace("kernels ", "").replace(" (", "\n(") for r in start], fontsize=8)
        ax.set_ylabel("seconds")
        ax.set_title("start-up in a fresh process")
        ax.legend(fontsize=7)
        ax.margins(y=0.25)
    else:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def plot_scaling(batch_rows, width_rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(batch_rows, "batch", "batch size", "us_per_image", "µs per image"),
              (width_rows, "hidden", "hidden width H (net 784-H-H/2-10)", "step_ms", "ms per step")]
    panels = [p for p in panels if p[0]]
    fig, axes = plt.subplots(2, len(panels), figsize=(6.5 * len(panels), 8), squeeze=False)
    for ci, (rows, key, xlabel, ykey, ylabel) in enumerate(panels):
        for j, impl in enumerate(SCALING_IMPLS):
            sel = sorted((r for r in rows if r["impl"] == impl), key=lambda r: r[key])
            xs = [r[key] for r in sel]
            axes[0, ci].plot(xs, [r[ykey] for r in sel], marker="o", color=f"C{j}", label=impl)
            if impl != "numpy":
                axes[1, ci].plot(xs, [1 / r["ratio_to_numpy"] for r in sel], marker="o", color=f"C{j}", label=impl)
        axes[0, ci].set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel,
                        title=f"training time vs {key} ({rows[0]['dtype']}"
                              + (f", batch {rows[0]['batch']})" if key == "hidden" else ")"))
        axes[1, ci].axhline(1, color="C2", lw=1, ls="--", label="numpy")
        axes[1, ci].set(xscale="log", xlabel=xlabel, ylabel="speedup vs NumPy (NumPy time / time)",
                        title="relative to the NumPy reference")
        for ax in axes[:, ci]:
            ax.set_xscale("log", base=2)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


# ---------------------------------------------------------------------------------- main
def main(argv=None):
    ap = make_parser("python -m profiling.bench_epoch", __doc__)
    ap.add_argument("--n", type=positive_int, default=48000, help="training images per epoch")
    ap.add_argument("--batch", type=positive_int, default=64)
    ap.add_argument("--repeats", type=positive_int, default=3)
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--batch-sizes", type=csv_list, default=None, help="scaling curve over batch size")
    ap.add_argument("--hidden", type=csv_list, default=None, help="scaling curve over hidden width")
    ap.add_argument("--scaling-n", type=positive_int, default=8192, help="images per scaling measurement")
    ap.add_argument("--scaling-only", action="store_true", help="skip the epoch and start-up benchmarks")
    ap.add_argument("--no-startup", action="store_true", help="skip the cold/warm start subprocesses")
    ap.add_argument("--no-peers", action="store_true", help="skip scikit-learn and PyTorch")
    add_common_options(ap, "tiny run for tests: n 512, 1 repeat, float32")
    ap.add_argument("--_child-startup", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    try:
        dtypes = [np.dtype(d.strip()) for d in a.dtypes.split(",") if d.strip()]
    except TypeError as e:
        ap.error(str(e))
    if not dtypes or any(d not in (np.float32, np.float64) for d in dtypes):
        ap.error(f"--dtypes must be float32 and/or float64; got {a.dtypes!r}")
    if a._child_startup:
        _child_startup(a.n, a.batch, dtypes[0])
        return 0
    if a.quick:
        a.n, a.repeats, dtypes = 512, 1, [np.dtype(np.float32)]
        a.scaling_n = min(a.scaling_n, 512)

    os.makedirs(a.out_dir, exist_ok=True)
    written = []
    if not a.scaling_only:
        log(f"epoch benchmark: n {a.n}, batch {a.batch}, {a.repeats} repeats", a.quiet)
        rows = bench_epochs(a.n, a.batch, dtypes, a.repeats, peers=not a.no_peers, quiet=a.quiet)
        if not a.no_startup:
            rows += bench_startup(a.n, a.batch, dtypes[0], a.quiet)
        path = os.path.join(a.out_dir, "epoch_benchmark.csv")
        write_csv(path, rows, FIELDS)
        written.append(path)
        if not a.no_plot:
            written.append(os.path.join(a.plots_dir, "epoch_benchmark.png"))
            plot_epoch(rows, written[-1])
        for r in rows:
            ratio = f"  {r['ratio_to_numpy']:.2f}x numpy" if r.get("ratio_to_numpy") else ""
            print(f"{r['impl']:<34} {r['dtype']:<8} {r['epoch_s']:8.3f} s{ratio}")
    batch_rows, width_rows = [], []
    if a.batch_sizes:
        log(f"scaling over batch size: {a.batch_sizes}, {a.scaling_n} images", a.quiet)
        batch_rows = bench_scaling("batch", a.batch_sizes, a.scaling_n, a.batch, dtypes[0], a.repeats, a.quiet)
        written.append(os.path.join(a.out_dir, "scaling_batch.csv"))
        write_csv(written[-1], batch_rows, SCALING_FIELDS)
    if a.hidden:
        log(f"scaling over hidden width: {a.hidden}, {a.scaling_n} images, batch {a.batch}", a.quiet)
        width_rows = bench_scaling("hidden", a.hidden, a.scaling_n, a.batch, dtypes[0], a.repeats, a.quiet)
        written.append(os.path.join(a.out_dir, "scaling_width.csv"))
        write_csv(written[-1], width_rows, SCALING_FIELDS)
    if (batch_rows or width_rows) and not a.no_plot:
        written.append(os.path.join(a.plots_dir, "scaling.png"))
        plot_scaling(batch_rows, width_rows, written[-1])
    record_machine(a.out_dir, "bench_epoch", a)
    for p in written:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
