"""KernelMLPClassifier against scikit-learn's MLPClassifier: fit time and accuracy on MNIST with
the same settings, in one process, plus 5-fold cross-validation on scikit-learn's 8x8 digits.

    python -m profiling.bench_sklearn [--seeds 0,1,2] [--epochs 10] [--batch 64] [--hidden 128,64]
        [--lr 0.001] [--no-cold-start] [--no-digits] [--quick] [--out-dir results] [--plots-dir plots]

MNIST part: the project's split (data.train_val_split, 20% validation, seed 0) gives
48,000 training images, scaled to [0, 1] as float32; accuracy is on the 10,000 test images.
Both contenders get the same float32 arrays and the same settings: hidden layers --hidden,
solver adam, learning_rate_init --lr, batch_size --batch, max_iter --epochs, alpha 1e-4,
shuffle, early stopping off, n_iter_no_change above --epochs (every epoch runs), random_state
= seed. MLPClassifier keeps float32 input in float32 (NumPy/BLAS products); KernelMLPClassifier
runs the Numba kernels in float32. For each seed the two fits are interleaved (the order
alternates between seeds), so a slow period on a shared machine hits both. Each contender is
warmed up first (one short fit), so the timed fits exclude JIT compilation; the kernels' cold
start (empty Numba cache, a fresh interpreter: import, compile, a 1-epoch fit on 1,000 images)
and warm start (cached kernels) are measured separately in subprocesses.

Digits part: cross_val_score(Pipeline(MinMaxScaler, classifier), cv=5) on load_digits, both
classifiers with --hidden, adam, their default batch size and max_iter 200, random_state 0.

Writes results/sklearn_benchmark.csv, results/sklearn_digits.csv, plots/sklearn_benchmark.png
and the machine record (CPU model, BLAS, threads, load) under "bench_sklearn" in
results/machine.json. --quick: a smoke run for tests (random MNIST-shaped data, 1,000 images,
1 epoch, one seed, digits with max_iter 5, no cold start); its figures mean nothing.
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

from profiling.common import (PLOTS_DIR, RESULTS_DIR, ROOT, _cpu_model, csv_list, log, random_mnist,
                              record_machine, save_figure, write_csv)

FIELDS = ["impl", "seed", "data", "n_train", "n_test", "hidden", "batch", "epochs", "dtype", "fit_s",
          "test_accuracy", "final_loss", "n_iter", "ratio_to_sklearn", "cpu", "note"]
DIGITS_FIELDS = ["impl", "fold", "accuracy", "mean_accuracy", "std_accuracy", "fit_s", "cpu"]
IMPLS = ("kernels", "sklearn")


def load_data(quick):
    """(X_train, y_train, X_test, y_test, name): the only place this benchmark reads data."""
    if quick:
        X, y = random_mnist(1200, np.float32)
        return X[:1000], y[:1000], X[1000:], y[1000:], "random"
    from data import load_mnist, preprocess, train_val_split
    (xtr, ytr), (xte, yte) = load_mnist(progress=False)
    (xtr, ytr), _ = train_val_split(xtr, ytr, 0.2, seed=0)
    return preprocess(xtr), ytr, preprocess(xte), yte, "mnist"


def make(impl, hidden, epochs, batch, lr, seed, **extra):
    """The contender `impl` with the shared settings."""
    common = dict(hidden_layer_sizes=tuple(hidden), solver="adam", learning_rate_init=lr, alpha=1e-4,
                  max_iter=epochs, shuffle=True, early_stopping=False, n_iter_no_change=epochs + 1,
                  random_state=seed)
    common.update(extra)
    if batch is not None:
        common["batch_size"] = batch
    if impl == "kernels":
        from network.estimator import KernelMLPClassifier
        return KernelMLPClassifier(dtype="float32", **common)
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(**common)


def timed_fit(clf, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the epoch budget here
        t0 = time.perf_counter()
        clf.fit(X, y)
        return time.perf_counter() - t0


def bench_mnist(a, data, cpu):
    Xtr, ytr, Xte, yte, name = data
    log(f"warm-up: a 1-epoch fit of each contender on {min(2000, len(Xtr))} images", a.quiet)
    for impl in IMPLS:
        timed_fit(make(impl, a.hidden, 1, a.batch, a.lr, 0), Xtr[:2000], ytr[:2000])
    rows = []
    for i, seed in enumerate(a.seeds):
        for impl in (IMPLS if i % 2 == 0 else IMPLS[::-1]):
            clf = make(impl, a.hidden, a.epochs, a.batch, a.lr, seed)
            dt = timed_fit(clf, Xtr, ytr)
            acc = float(clf.score(Xte, yte))
            rows.append({"impl": impl, "seed": seed, "data": name, "n_train": len(Xtr), "n_test": len(Xte),
                         "hidden": "-".join(map(str, a.hidden)), "batch": a.batch, "epochs": a.epochs,
                         "dtype": "float32", "fit_s": dt, "test_accuracy": acc, "final_loss": clf.loss_,
                         "n_iter": clf.n_iter_, "cpu": cpu, "note": "warm (compile excluded)"})
            log(f"  seed {seed} {impl:<8} fit {dt:7.2f} s  test acc {acc:.4f}  loss {clf.loss_:.4f}", a.quiet)
    for seed in a.seeds:
        by = {r["impl"]: r for r in rows if r["seed"] == seed}
        by["kernels"]["ratio_to_sklearn"] = by["kernels"]["fit_s"] / by["sklearn"]["fit_s"]
    for impl in IMPLS:
        sel = [r for r in rows if r["impl"] == impl and r["seed"] in a.seeds]
        fit = [r["fit_s"] for r in sel]
        acc = [r["test_accuracy"] for r in sel]
        summary = {**sel[0], "seed": "mean", "fit_s": float(np.mean(fit)), "test_accuracy": float(np.mean(acc)),
                   "final_loss": float(np.mean([r["final_loss"] for r in sel])),
                   "note": f"mean of {len(sel)} seeds; fit_s std {np.std(fit):.3g}, accuracy std {np.std(acc):.3g}"}
        summary.pop("ratio_to_sklearn", None)
        rows.append(summary)
    rows[-2]["ratio_to_sklearn"] = rows[-2]["fit_s"] / rows[-1]["fit_s"]
    return rows


def _child_cold_start():
    """In a fresh interpreter: import time, then a first and a second 1-epoch fit; one JSON line."""
    t0 = time.perf_counter()
    from network.estimator import KernelMLPClassifier  # noqa: F401  (import only; make() imports again)
    t_import = time.perf_counter() - t0
    X, y = random_mnist(1000, np.float32)
    first = timed_fit(make("kernels", (128, 64), 1, 64, 1e-3, 0), X, y)
    second = timed_fit(make("kernels", (128, 64), 1, 64, 1e-3, 0), X, y)
    print(json.dumps({"import_s": t_import, "first_fit_s": first, "second_fit_s": second}))


def bench_cold_start(cpu, quiet):
    rows = []
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for label in ("kernels cold start (empty cache)", "kernels warm start (cached)"):
            log(f"  {label}: subprocess ...", quiet)
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-m", "profiling.bench_sklearn", "--_child-cold-start"],
                                 cwd=ROOT, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if res.returncode != 0:
                raise RuntimeError(f"cold-start subprocess failed:\n{res.stderr[-2000:]}")
            d = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append({"impl": label, "seed": 0, "data": "random", "n_train": 1000, "hidden": "128-64",
                         "batch": 64, "epochs": 1, "dtype": "float32", "fit_s": d["first_fit_s"], "cpu": cpu,
                         "note": f"first fit incl. compile/cache load; import {d['import_s']:.2f} s, second fit "
                                 f"{d['second_fit_s']:.3f} s, whole process {wall:.2f} s"})
            log(f"    import {d['import_s']:.2f} s, first fit {d['first_fit_s']:.2f} s, "
                f"second {d['second_fit_s']:.3f} s", quiet)
    return rows


def bench_digits(a, cpu):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler
    X, y = load_digits(return_X_y=True)
    rows = []
    for impl in IMPLS:
        pipe = make_pipeline(MinMaxScaler(), make(impl, a.hidden, a.digits_max_iter, None, 1e-3, 0,
                                                  n_iter_no_change=10))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            scores = cross_val_score(pipe, X, y, cv=5)
            dt = time.perf_counter() - t0
        rows += [{"impl": impl, "fold": k, "accuracy": float(s), "cpu": cpu} for k, s in enumerate(scores)]
        rows.append({"impl": impl, "fold": "mean", "accuracy": float(scores.mean()), "cpu": cpu,
                     "mean_accuracy": float(scores.mean()), "std_accuracy": float(scores.std()), "fit_s": dt})
        log(f"  digits 5-fold {impl:<8} {scores.mean():.4f} +- {scores.std():.4f}  ({dt:.1f} s)", a.quiet)
    return rows


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    per_seed = [r for r in rows if r["impl"] in IMPLS and r["seed"] != "mean"]
    seeds = sorted({r["seed"] for r in per_seed})
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.38
    for j, impl in enumerate(IMPLS):
        sel = {r["seed"]: r for r in per_seed if r["impl"] == impl}
        xs = np.arange(len(seeds)) + (j - 0.5) * width
        label = "KernelMLPClassifier (Numba kernels)" if impl == "kernels" else "sklearn MLPClassifier"
        axes[0].bar(xs, [sel[s]["fit_s"] for s in seeds], width, label=label, color=f"C{j}")
        axes[1].bar(xs, [100 * sel[s]["test_accuracy"] for s in seeds], width, label=label, color=f"C{j}")
    r0 = per_seed[0]
    for ax, ylabel in zip(axes, ("fit time (s, compile excluded)", "test accuracy (%)")):
        ax.set(xticks=range(len(seeds)), xticklabels=[f"seed {s}" for s in seeds], ylabel=ylabel)
        ax.grid(axis="y", alpha=0.3)
    accs = [100 * r["test_accuracy"] for r in per_seed]
    axes[1].set_ylim(max(0.0, min(accs) - 2), min(100.0, max(accs) + 1))
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{r0['data']}: {r0['n_train']} images, {r0['hidden']}, adam, batch {r0['batch']}, "
                 f"{r0['epochs']} epochs; {r0['cpu']}", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def seed_list(text):
    """'0,1,2' -> [0, 1, 2] (argparse type; non-negative integers)."""
    try:
        seeds = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers; got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected non-negative integers; got {text!r}")
    return seeds


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m profiling.bench_sklearn", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=seed_list, default=[0, 1, 2], help="random_state values (default 0,1,2)")
    ap.add_argument("--epochs", type=int, default=10, help="max_iter of both (default 10)")
    ap.add_argument("--batch", type=int, default=64, help="batch_size of both (default 64)")
    ap.add_argument("--hidden", type=csv_list, default=[128, 64], help="hidden layer sizes (default 128,64)")
    ap.add_argument("--lr", type=float, default=1e-3, help="learning_rate_init (default 0.001)")
    ap.add_argument("--digits-max-iter", type=int, default=200, help="max_iter for the digits part (default 200)")
    ap.add_argument("--no-cold-start", action="store_true", help="skip the cold/warm start subprocesses")
    ap.add_argument("--no-digits", action="store_true", help="skip the load_digits cross-validation")
    ap.add_argument("--quick", action="store_true", help="smoke run for tests (figures mean nothing)")
    ap.add_argument("--out-dir", default=RESULTS_DIR, help="where the CSVs and machine.json go")
    ap.add_argument("--plots-dir", default=PLOTS_DIR, help="where the PNG goes")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--_child-cold-start", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a._child_cold_start:
        _child_cold_start()
        return 0
    if a.epochs < 1 or a.batch < 1 or a.digits_max_iter < 1 or not a.lr > 0:
        ap.error("--epochs, --batch, --digits-max-iter and --lr must be positive")
    if a.quick:
        a.seeds, a.epochs, a.digits_max_iter, a.no_cold_start = a.seeds[:1], 1, 5, True
    cpu = _cpu_model()
    os.makedirs(a.out_dir, exist_ok=True)
    log(f"sklearn benchmark on {cpu}", a.quiet)
    rows = bench_mnist(a, load_data(a.quick), cpu)
    if not a.no_cold_start:
        rows += bench_cold_start(cpu, a.quiet)
    written = [os.path.join(a.out_dir, "sklearn_benchmark.csv"), os.path.join(a.plots_dir, "sklearn_benchmark.png")]
    write_csv(written[0], rows, FIELDS)
    plot(rows, written[1])
    if not a.no_digits:
        written.append(os.path.join(a.out_dir, "sklearn_digits.csv"))
        write_csv(written[-1], bench_digits(a, cpu), DIGITS_FIELDS)
    record_machine(a.out_dir, "bench_sklearn", a, extra={"quick": a.quick})
    for r in rows:
        if r["seed"] == "mean":
            ratio = f"  fit time {r['ratio_to_sklearn']:.2f}x MLPClassifier" if r.get("ratio_to_sklearn") else ""
            print(f"{r['impl']:<8} mean fit {r['fit_s']:.2f} s  test accuracy {r['test_accuracy']:.4f}{ratio}")
    for p in written:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
