"""Epoch benchmark: one training epoch of the kernel-backed network against NumPy and scikit-learn,
cold and warm start, and (optionally) scaling curves over batch size and hidden width.

    python -m profiling.bench_epoch [--n 48000] [--batch 64] [--repeats 3] [--dtypes float32,float64]
        [--batch-sizes 32,64,128,256,512,1024] [--hidden 128,256,512,1024,2048] [--scaling-n 48000]
        [--scaling-only] [--no-startup] [--no-peers] [--quick] [--out-dir results] [--plots-dir plots]

Implementations, all plain SGD (lr 0.01, no momentum) on the 784-128-64-10 ReLU net:
    kernels train_epoch   NeuralNetwork.train_epoch (whatever fast path the class uses)
    kernels step loop     the Python reference path (NeuralNetwork.train_epoch_reference): per
                          mini-batch _backward + update_weights, one Python call per plain kernel
    numpy                 profiling.numpy_reference.NumpyNetwork.train_epoch (vectorised NumPy)
    sklearn               MLPClassifier(solver="sgd", momentum=0, max_iter=1), like
                          shared/tools/bench_peers.py (includes its input validation)
    torch                 only when PyTorch is installed (never a dependency)
Each is timed after one warm-up epoch (JIT compilation excluded). The contenders' epochs are
interleaved, round by round in a rotating order, and the median and the minimum of --repeats rounds
are written with the machine's load before and after. Rounds taken in a slow spell of the machine's
threaded throughput (a probe product before or after the round below 80% of its best rate, or
gaining under 1.25x from its second thread; profiling/timing.py ThreadProbe) are left out and made
up by more rounds (spell_rounds counts them); a measurement taken on a busy machine (other
processes using over half a core, a spread above 15%, or too few rounds outside spells) is
repeated, and marked BUSY if it stays so.

Cold / warm start: a fresh interpreter (subprocess) with NUMBA_CACHE_DIR set to an empty temporary
directory imports the package, builds the net and trains one epoch, so the first call compiles
every kernel ("cold cache"); a second subprocess reuses that cache directory ("warm cache", the
kernels are loaded from disk). Reported: import time, first-epoch time (compile or cache load
included), second-epoch time, and the whole process's wall time. The cold process compiles on two
processes (network/warmup.py: a helper compiles about half of the epoch's kernels, then the
inference kernels); results/compile_times.csv has Numba's compile time per function in each
(`process` main or helper): its own (exclusive) and with the callees compiled for it (inclusive).
A process's exclusive times add up to its whole compile time; the first epoch waits for the
longer of the two shares, then compiles the epoch itself.

The data are random arrays of MNIST's shape (48,000 x 784 in [0, 1), labels 0..9): the timing of
these dense kernels does not depend on the pixel values, so no download is needed.

Writes results/epoch_benchmark.csv and plots/epoch_benchmark.png; with --batch-sizes and/or
--hidden also results/scaling_batch.csv, results/scaling_width.csv and plots/scaling.png
(hidden width H means the net 784-H-(H/2)-10, so H = 128 is the default net).
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

from profiling.epoch_plots import plot_epoch, plot_scaling
from profiling.startup import COMPILE_FIELDS, bench_startup, child_startup, startup_only
from profiling.timing import interleaved, paired_ratio
from profiling.common import (add_common_options, blas_peak, csv_list, log, make_parser, positive_int, random_mnist,
                              record_machine, write_csv)

SIZES = [784, 128, 64, 10]
LR = 0.01
FIELDS = ["impl", "dtype", "n", "batch", "net", "epoch_s", "epoch_min_s", "images_per_s",
          "ratio_to_numpy", "paired_ratio_to_numpy", "gflops", "gemm_gflops", "fraction_of_gemm", "repeats", "spread",
          "load_before", "load_after", "foreign_load", "attempts", "spell_rounds", "import_s",
          "first_epoch_s", "second_epoch_s", "process_s", "note"]
SCALING_FIELDS = ["impl", "dtype", "net", "hidden", "batch", "n", "steps", "seconds", "min_seconds",
                  "step_ms", "us_per_image", "ratio_to_numpy", "paired_ratio_to_numpy", "spread", "foreign_load", "spell_rounds",
                  "busy"]


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


def epoch_flop(n, sizes=SIZES):
    """FLOPs of one plain-SGD epoch over n images, counted as the three products of every layer
    (forward, input gradient, weight gradient: 6 n_in n_out a layer and image; 31.4 GFLOP for
    48,000 images of 784-128-64-10), the convention of ../MISSION figures and the progress bar."""
    return 6 * n * sum(a * b for a, b in zip(sizes, sizes[1:]))


def bench_epochs(n, batch, dtypes, repeats, peers=True, quiet=False):
    """One epoch of each implementation, interleaved (see `interleaved`), per dtype; with each
    epoch's GFLOP/s and its fraction of this machine's BLAS gemm rate (2048^3, best of 5)."""
    impls = ["kernels train_epoch", "kernels step loop", "numpy"] + (["sklearn", "torch"] if peers else [])
    rows = []
    for dtype in dtypes:
        X, y = random_mnist(n, dtype)
        fns = {}
        for impl in impls:
            try:
                fns[impl] = runner(impl, SIZES, dtype, X, y, batch)
            except ImportError as e:
                log(f"  epoch: {impl} skipped ({e})", quiet)
        slow = {"kernels step loop", "sklearn"}          # >10x the others: fewer repeats
        log(f"  epoch {np.dtype(dtype).name}: {', '.join(fns)} interleaved, {repeats} rounds ...", quiet)
        together = interleaved({k: f for k, f in fns.items() if k not in slow}, repeats, quiet=quiet)
        res = {**together, **interleaved({k: f for k, f in fns.items() if k in slow}, min(repeats, 3), quiet=quiet)}
        base = res.get("numpy", {}).get("median")
        gemm = blas_peak(dtype, n=2048, reps=5)
        for impl in fns:
            m = res[impl]
            note = []
            if impl == "sklearn":
                note.append(f"sklearn computes in {fns[impl]().coefs_[0].dtype}")
            if m["busy"]:
                note.append(f"BUSY machine (other processes {m['foreign_load']:.2f} cores, "
                            f"spread {m['spread']:.0%}, {m['spell_rounds']} rounds in a slow spell)")
            rows.append({"impl": impl, "dtype": np.dtype(dtype).name, "n": n, "batch": batch,
                         "net": "-".join(map(str, SIZES)), "epoch_s": m["median"], "epoch_min_s": m["min"],
                         "images_per_s": n / m["median"], "repeats": repeats,
                         "ratio_to_numpy": m["median"] / base if base else "",
                         "paired_ratio_to_numpy": paired_ratio(together, impl, "numpy") or "",
                         "spread": m["spread"], "load_before": m["load_before"],
                         "load_after": m["load_after"], "foreign_load": m["foreign_load"],
                         "attempts": m["attempts"], "spell_rounds": m["spell_rounds"],
                         "gflops": epoch_flop(n) / m["median"] / 1e9, "gemm_gflops": gemm,
                         "fraction_of_gemm": epoch_flop(n) / m["median"] / 1e9 / gemm,
                         "note": "; ".join(note)})
            log(f"    {impl:<22} {m['median']:.3f} s (min {m['min']:.3f}, spread {m['spread']:.0%})", quiet)
    return rows


# ------------------------------------------------------------------------ cold/warm start
# ------------------------------------------------------------------------------- scaling
# the readable per-op path is timed in the epoch benchmark only: on wide nets it takes minutes a point
SCALING_IMPLS = ("kernels train_epoch", "numpy")


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
        res = interleaved({impl: runner(impl, sizes, dtype, X, y, b) for impl in SCALING_IMPLS}, repeats)
        base = None
        for impl in SCALING_IMPLS:
            med = res[impl]["median"]
            steps = -(-m // b)
            row = {"impl": impl, "dtype": np.dtype(dtype).name, "net": "-".join(map(str, sizes)),
                   "hidden": h, "batch": b, "n": m, "steps": steps, "seconds": med,
                   "step_ms": med / steps * 1e3, "us_per_image": med / m * 1e6,
                   "min_seconds": res[impl]["min"], "spread": res[impl]["spread"],
                   "foreign_load": res[impl]["foreign_load"], "spell_rounds": res[impl]["spell_rounds"],
                   "busy": res[impl]["busy"]}
            if impl == "numpy":
                base = med
            rows.append(row)
            log(f"  scaling {kind} {v:>5}: {impl:<20} {med / steps * 1e3:8.3f} ms/step", quiet)
        for r in rows[-len(SCALING_IMPLS):]:
            r["ratio_to_numpy"] = r["seconds"] / base
            r["paired_ratio_to_numpy"] = paired_ratio(res, r["impl"], "numpy")
    return rows


def main(argv=None):
    ap = make_parser("python -m profiling.bench_epoch", __doc__)
    ap.add_argument("--n", type=positive_int, default=48000, help="training images per epoch")
    ap.add_argument("--batch", type=positive_int, default=64)
    ap.add_argument("--repeats", type=positive_int, default=7,
                    help="interleaved rounds per measurement (median and min are reported; default %(default)s)")
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--batch-sizes", type=csv_list, default=None, help="scaling curve over batch size")
    ap.add_argument("--hidden", type=csv_list, default=None, help="scaling curve over hidden width")
    ap.add_argument("--scaling-n", type=positive_int, default=48000,
                    help="images per scaling measurement (default %(default)s: an epoch, long enough "
                         "for the median of a few rounds to hold still on a shared machine)")
    ap.add_argument("--scaling-only", action="store_true", help="skip the epoch and start-up benchmarks")
    ap.add_argument("--no-startup", action="store_true", help="skip the cold/warm start subprocesses")
    ap.add_argument("--startup-only", action="store_true",
                    help="only the cold/warm start, --repeats times: startup.csv (every round); "
                         "compile_times.csv, startup_timeline.csv and startup.png (the median round)")
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
        child_startup(a.n, a.batch, dtypes[0], SIZES, LR)
        return 0
    if a.quick:
        a.n, a.repeats, dtypes = 512, 1, [np.dtype(np.float32)]
        a.scaling_n = min(a.scaling_n, 512)

    os.makedirs(a.out_dir, exist_ok=True)
    written = []
    if a.startup_only:
        written += startup_only(a.n, a.batch, dtypes[0], SIZES, a.repeats, a.out_dir, FIELDS, a.quiet,
                                None if a.no_plot else a.plots_dir)
    elif not a.scaling_only:
        log(f"epoch benchmark: n {a.n}, batch {a.batch}, {a.repeats} repeats", a.quiet)
        rows = bench_epochs(a.n, a.batch, dtypes, a.repeats, peers=not a.no_peers, quiet=a.quiet)
        if not a.no_startup:
            start_rows, compile_rows = bench_startup(a.n, a.batch, dtypes[0], SIZES, a.quiet)
            rows += start_rows
            written.append(os.path.join(a.out_dir, "compile_times.csv"))
            write_csv(written[-1], compile_rows, COMPILE_FIELDS)
        path = os.path.join(a.out_dir, "epoch_benchmark.csv")
        write_csv(path, rows, FIELDS)
        written.append(path)
        if not a.no_plot:
            written.append(os.path.join(a.plots_dir, "epoch_benchmark.png"))
            plot_epoch(rows, written[-1])
        for r in rows:
            ratio = f"  {r['ratio_to_numpy']:.2f}x numpy" if r.get("ratio_to_numpy") else ""
            if r.get("paired_ratio_to_numpy"):
                ratio += f" (paired by round {r['paired_ratio_to_numpy']:.2f}x)"
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
        plot_scaling(batch_rows, width_rows, written[-1], SCALING_IMPLS)
    record_machine(a.out_dir, "bench_epoch", a)
    for p in written:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
