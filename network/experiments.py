"""The experiment grids of the report (assignment Part 4 and extensions 1-2), defined in one place,
and the machinery that runs them resumably and plots them.

A *grid* is an experiment name -> `Experiment` (shared base settings + a list of configurations);
every configuration runs once per seed. One *run* = one network trained with `network.training.fit`
on the fixed 80/20 stratified split of the 60,000 training images (split seed 0 for every run, so
all configurations are compared on the same validation set; the seed varies the initial weights,
the shuffling and the dropout masks). The model with the best validation accuracy is saved to a
temporary directory, reloaded, and evaluated once on the test set: the test set never selects.

Results, one row per run, go to ``<results>/experiments.csv`` (the whole file rewritten atomically
after each run); per-epoch histories to ``<results>/runs/<run_id>.csv``. A run's id is a hash of
everything that determines it (experiment, full configuration, seed, epochs, training-set size,
split), so rerunning the same grid skips finished runs, and changing any setting makes new ones.

A run whose loss becomes NaN/inf (`TrainingDiverged`) is a result, not a crash: its row has
``status=diverged``, the epoch it diverged at, and the best validation model from before that (or
NaN accuracies when it diverged in the first epoch).
"""
from __future__ import annotations

import csv
import hashlib
import io as _io
import json
import math
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from network.io import atomic_write

# ----------------------------------------------------------------------------- grid definitions

#: settings shared by every run unless an experiment or a configuration overrides them
BASE = dict(layers=(784, 128, 64, 10), activation="relu", init="he", optimizer="sgd", lr=0.01,
            momentum=0.9, batch_size=64, schedule="constant", l2=0.0, dropout=0.0,
            epochs=10, n_train=None)
SETTINGS = ("layers", "activation", "init", "optimizer", "lr", "momentum", "batch_size", "schedule",
            "l2", "dropout")
DEFAULT_SEEDS = (0, 1, 2)
SPLIT = dict(val_fraction=0.2, split_seed=0)   # the same train/validation split for every run
QUICK = dict(epochs=1, seeds=(0, 1), n_train=2000)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    question: str
    configs: tuple                      # dicts of overrides; an optional "label" names the row
    base: dict = field(default_factory=dict)
    plot: str = "compare"               # "compare", "curves" (ext1) or "overfit" (ext2)

    @property
    def short(self):
        return self.name.split("_")[0]

    def resolved(self):
        """[(label, full settings dict)] for every configuration, in order."""
        out = []
        full = [{**BASE, **self.base, **{k: v for k, v in c.items() if k != "label"}} for c in self.configs]
        varying = [k for k in SETTINGS if len({_canon(f[k]) for f in full}) > 1]
        for c, f in zip(self.configs, full):
            f["layers"] = tuple(int(s) for s in f["layers"])
            label = c.get("label") or ", ".join(f"{k}={_fmt_setting(k, f[k])}" for k in varying) or "base"
            out.append((label, f))
        return out


def _canon(v):
    return json.dumps(list(v) if isinstance(v, tuple) else v)


def _fmt_setting(key, value):
    if key == "layers":
        return "-".join(str(s) for s in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


EXPERIMENTS = {e.name: e for e in (
    Experiment(
        "exp1_learning_rate", "Exp 1: learning rate (plain SGD)",
        "Plain mini-batch SGD at the assignment's rates 0.001, 0.005, 0.01, and at 0.1 and 1.0 "
        "outside that range: how does the step size trade speed against stability?",
        tuple({"lr": lr} for lr in (0.001, 0.005, 0.01, 0.1, 1.0))),
    Experiment(
        "exp2_depth", "Exp 2: depth (2-layer vs 3-layer)",
        "One hidden layer of 128 units (784-128-10) against the assignment's two hidden layers "
        "(784-128-64-10), both ReLU + He, plain SGD at 0.01.",
        ({"layers": (784, 128, 10), "label": "784-128-10 (1 hidden layer)"},
         {"layers": (784, 128, 64, 10), "label": "784-128-64-10 (2 hidden layers)"})),
    Experiment(
        "exp3_activation", "Exp 3: activation function",
        "Sigmoid, tanh and ReLU in both hidden layers, each with its customary initialisation "
        "(Xavier for sigmoid/tanh, He for ReLU; Exp 4 crosses the two), plain SGD at 0.01.",
        ({"activation": "sigmoid", "init": "xavier", "label": "sigmoid (Xavier)"},
         {"activation": "tanh", "init": "xavier", "label": "tanh (Xavier)"},
         {"activation": "relu", "init": "he", "label": "relu (He)"})),
    Experiment(
        "exp4_init", "Exp 4: weight initialisation",
        "Zeros (every hidden unit identical: the symmetry problem), small N(0, 0.01^2), Xavier "
        "and He, each with ReLU, tanh and sigmoid hidden layers, plain SGD at 0.01.",
        tuple({"init": i, "activation": a, "label": f"{a}, {i}"} for a in ("relu", "tanh", "sigmoid")
              for i in ("zeros", "normal", "xavier", "he"))),
    Experiment(
        "ext1_optimizers", "Ext 1: optimizers",
        "Plain SGD (lr 0.01), heavy-ball momentum 0.9 (lr 0.01) and Adam (lr 0.001), each at its "
        "customary rate, 20 epochs: how fast does each reach a good validation loss?",
        ({"optimizer": "sgd", "lr": 0.01, "label": "SGD, lr 0.01"},
         {"optimizer": "momentum", "lr": 0.01, "label": "momentum 0.9, lr 0.01"},
         {"optimizer": "adam", "lr": 0.001, "label": "Adam, lr 0.001"}),
        base={"epochs": 20}, plot="curves"),
    Experiment(
        "ext2_regularization", "Ext 2: regularisation against overfitting",
        "Adam (lr 0.001) on only 5,000 training images for 40 epochs, where the network memorises "
        "the training set: no regularisation, L2 (1e-3), dropout (0.3) and both.",
        ({"l2": 0.0, "dropout": 0.0, "label": "none"},
         {"l2": 1e-3, "dropout": 0.0, "label": "L2 1e-3"},
         {"l2": 0.0, "dropout": 0.3, "label": "dropout 0.3"},
         {"l2": 1e-3, "dropout": 0.3, "label": "L2 1e-3 + dropout 0.3"}),
        base={"optimizer": "adam", "lr": 0.001, "epochs": 40, "n_train": 5000}, plot="overfit"),
)}


class ExperimentError(ValueError):
    """Bad experiment name, override or results file; the message is one line."""


def select(names):
    """Experiment names in definition order for the given names or short names (exp1, ext2);
    all experiments when names is empty."""
    if not names:
        return list(EXPERIMENTS)
    by_short = {e.short: e.name for e in EXPERIMENTS.values()}
    chosen = set()
    for n in names:
        name = n if n in EXPERIMENTS else by_short.get(n)
        if name is None:
            raise ExperimentError(f"unknown experiment {n!r}; choose from "
                                  f"{', '.join(EXPERIMENTS)} (or {', '.join(by_short)})")
        chosen.add(name)
    return [n for n in EXPERIMENTS if n in chosen]


@dataclass(frozen=True)
class Run:
    experiment: str
    label: str
    config: dict          # every setting, plus epochs and n_train
    seed: int
    run_id: str


def run_id(experiment, config, seed):
    """Stable id: <short name>-<10 hex digits of SHA-1 over everything that determines the run>."""
    key = {"experiment": experiment, "config": {k: _canon(v) for k, v in sorted(config.items())},
           "seed": int(seed), "split": SPLIT}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return f"{experiment.split('_')[0]}-{digest}"


def build_grid(names=None, epochs=None, seeds=None, n_train=None):
    """List of `Run` for the chosen experiments; epochs / seeds / n_train override every one."""
    seeds = tuple(DEFAULT_SEEDS if seeds is None else seeds)
    runs = []
    for name in select(names or []):
        for label, cfg in EXPERIMENTS[name].resolved():
            cfg = dict(cfg)
            if epochs is not None:
                cfg["epochs"] = int(epochs)
            if n_train is not None:
                cfg["n_train"] = int(n_train)
            for seed in seeds:
                runs.append(Run(name, label, cfg, int(seed), run_id(name, cfg, seed)))
    return runs


# ----------------------------------------------------------------------------- results CSV

FIELDS = ("run_id", "experiment", "setting", "seed", "status", "epochs", "n_train", *SETTINGS,
          "best_val_acc", "best_epoch", "test_acc", "test_loss", "final_train_loss",
          "final_train_acc", "final_val_loss", "final_val_acc", "epochs_run", "diverged_epoch",
          "mean_epoch_time_s", "wall_time_s", "history", "finished_at")
FLOAT_FIELDS = ("lr", "momentum", "l2", "dropout", "best_val_acc", "test_acc", "test_loss",
                "final_train_loss", "final_train_acc", "final_val_loss", "final_val_acc",
                "mean_epoch_time_s", "wall_time_s")
INT_FIELDS = ("seed", "epochs", "n_train", "batch_size", "best_epoch", "epochs_run", "diverged_epoch")
FINISHED = ("ok", "diverged")


def read_results(path):
    """Rows of an experiments CSV as dicts of strings ([] if the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [k for k in ("run_id", "experiment", "setting", "seed", "status") if k not in (reader.fieldnames or ())]
        if missing:
            raise ExperimentError(f"{path} is not an experiments CSV: it lacks columns {missing}")
        return list(reader)


def write_results(path, rows):
    """Rewrite the whole CSV atomically (FIELDS first, then any unknown columns found in rows)."""
    extra = [k for r in rows for k in r if k not in FIELDS]
    fields = list(FIELDS) + list(dict.fromkeys(extra))
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", restval="")
    w.writeheader()
    w.writerows(rows)
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def append_result(path, row):
    """Re-read the CSV, replace any row with the same run_id, append `row`, rewrite atomically."""
    rows = [r for r in read_results(path) if r["run_id"] != row["run_id"]]
    rows.append({k: _cell(v) for k, v in row.items()})
    write_results(path, rows)


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, tuple) or isinstance(v, list):
        return "-".join(str(s) for s in v)
    return str(v)


def to_float(s):
    """CSV cell -> float (NaN for empty or unparsable cells)."""
    try:
        return float(s)
    except (TypeError, ValueError):
        return math.nan


def read_history(path):
    """A run's per-epoch history CSV as a dict of float arrays ({} if missing or empty)."""
    path = Path(path)
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: np.array([to_float(r[k]) for r in rows]) for k in rows[0]}


# ----------------------------------------------------------------------------- running

@dataclass
class Data:
    x_tr: np.ndarray
    y_tr: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_data(data_dir=None, cache_dir=None, progress=True):
    """MNIST preprocessed to float32 [0, 1], split 80/20 (stratified, split seed 0)."""
    from data import load_mnist, preprocess, train_val_split
    (x_train, y_train), (x_test, y_test) = load_mnist(data_dir=data_dir, cache_dir=cache_dir, progress=progress)
    (x_tr, y_tr), (x_val, y_val) = train_val_split(x_train, y_train, val_fraction=SPLIT["val_fraction"],
                                                   seed=SPLIT["split_seed"])
    return Data(preprocess(x_tr), y_tr.astype(np.int64), preprocess(x_val), y_val.astype(np.int64),
                preprocess(x_test), y_test.astype(np.int64))


def run_one(run, data, runs_dir, log=lambda line: None):
    """Train one run; return its results row (a dict). Writes runs_dir/<run_id>.csv."""
    from network.model import NeuralNetwork
    from network.training import TrainingDiverged, fit, write_history

    cfg = run.config
    n = cfg["n_train"] or len(data.x_tr)
    if n > len(data.x_tr):
        raise ExperimentError(f"n_train {n} exceeds the {len(data.x_tr)} images of the training split")
    x_tr, y_tr = data.x_tr[:n], data.y_tr[:n]
    history_path = Path(runs_dir) / f"{run.run_id}.csv"
    t0 = time.perf_counter()
    net = NeuralNetwork(list(cfg["layers"]), activation=cfg["activation"], init=cfg["init"], seed=run.seed,
                        optimizer=cfg["optimizer"], l2=cfg["l2"], dropout=cfg["dropout"],
                        momentum=cfg["momentum"])
    status, diverged_epoch = "ok", None
    with tempfile.TemporaryDirectory(prefix="exp-run-") as tmp:
        best_path = Path(tmp) / "best.npz"
        try:
            fit(net, x_tr, y_tr, data.x_val, data.y_val, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                learning_rate=cfg["lr"], schedule=cfg["schedule"], out=best_path,
                history_path=history_path, progress=False, log=log)
        except TrainingDiverged as e:
            status, diverged_epoch = "diverged", e.epoch
            if not history_path.exists():  # diverged in the first epoch: an empty history
                write_history(history_path, [])
        hist = read_history(history_path)
        test_loss = test_acc = math.nan
        if best_path.exists():
            best = NeuralNetwork.load(best_path)
            test_loss, test_acc = best.evaluate(data.x_test, data.y_test)
    wall = time.perf_counter() - t0
    done = len(hist.get("epoch", ()))
    if done:
        i = int(np.argmax(hist["val_acc"]))          # first epoch of the maximum, like fit
        best_val, best_epoch = float(hist["val_acc"][i]), int(hist["epoch"][i])
    else:
        best_val, best_epoch = math.nan, None
    last = (lambda k: float(hist[k][-1])) if done and status == "ok" else (lambda k: math.nan)
    return {"run_id": run.run_id, "experiment": run.experiment, "setting": run.label, "seed": run.seed,
            "status": status, "epochs": cfg["epochs"], "n_train": n,
            **{k: cfg[k] for k in SETTINGS},
            "best_val_acc": best_val, "best_epoch": best_epoch, "test_acc": float(test_acc),
            "test_loss": float(test_loss), "final_train_loss": last("train_loss"),
            "final_train_acc": last("train_acc"), "final_val_loss": last("val_loss"),
            "final_val_acc": last("val_acc"), "epochs_run": done, "diverged_epoch": diverged_epoch,
            "mean_epoch_time_s": float(np.mean(hist["epoch_time_s"])) if done else math.nan,
            "wall_time_s": wall, "history": os.path.relpath(history_path, Path(runs_dir).parent),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}


# ----------------------------------------------------------------------------- aggregation

def group_runs(exp_name, runs, rows_by_id, runs_dir):
    """Per configuration label (in grid order): the finished rows and their histories."""
    groups = {}
    for r in runs:
        if r.experiment != exp_name:
            continue
        g = groups.setdefault(r.label, {"rows": [], "histories": []})
        row = rows_by_id.get(r.run_id)
        if row is not None and row["status"] in FINISHED:
            g["rows"].append(row)
            g["histories"].append(read_history(Path(runs_dir) / f"{r.run_id}.csv"))
    return groups


def stack_curve(histories, key):
    """(epochs, mean, std) of history[key] over seeds; shorter (diverged) runs count where present."""
    n = max((len(h.get(key, ())) for h in histories), default=0)
    if n == 0:
        return np.array([]), np.array([]), np.array([])
    m = np.full((len(histories), n), np.nan)
    for i, h in enumerate(histories):
        v = h.get(key, np.array([]))
        m[i, :len(v)] = v
    with warnings.catch_warnings():   # all-NaN columns (every seed diverged) stay NaN quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(m, axis=0)
        std = np.nanstd(m, axis=0, ddof=1) if len(histories) > 1 else np.zeros(n)
    return np.arange(1, n + 1), mean, np.nan_to_num(std)


def mean_std(values):
    """(mean, sample std with ddof=1, count) over the finite values; NaN where undefined."""
    v = np.array([x for x in values if math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan, 0
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan, int(v.size)


# ----------------------------------------------------------------------------- plots

def plot_experiment(exp, groups, path):
    """Dispatch to the experiment's plot kind; returns the path written."""
    kind = {"compare": _plot_compare, "curves": _plot_curves, "overfit": _plot_overfit}[exp.plot]
    from matplotlib.figure import Figure
    from network.plots import save_figure
    fig = kind(Figure, exp, groups)
    n_runs = sum(len(g["rows"]) for g in groups.values())
    fig.suptitle(f"{exp.title}  ({n_runs} runs; mean over seeds, band = ±1 std)", fontsize=11)
    return save_figure(fig, path)


def _colors(n):
    import matplotlib
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i) for i in range(n)]


def _band(ax, groups, key, colors, style="-", legend=True, log=False):
    for (label, g), c in zip(groups.items(), colors):
        x, mean, std = stack_curve(g["histories"], key)
        if x.size == 0:
            continue
        ax.plot(x, mean, style, color=c, lw=1.5, marker="o" if x.size <= 12 else None, ms=3,
                label=label if legend else None)
        ax.fill_between(x, mean - std, mean + std, color=c, alpha=0.15, lw=0)
    if log:
        ax.set_yscale("log")
    _epoch_axis(ax)


def _epoch_axis(ax):
    from matplotlib.ticker import MaxNLocator
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _bars(ax, groups, colors):
    labels = list(groups)
    x = np.arange(len(labels))
    for off, key, name, hatch in ((-0.2, "best_val_acc", "best val", None), (0.2, "test_acc", "test", "//")):
        stats = [mean_std([to_float(r[key]) for r in g["rows"]]) for g in groups.values()]
        means = np.array([s[0] for s in stats])
        stds = np.nan_to_num(np.array([s[1] for s in stats]))
        ax.bar(x + off, np.nan_to_num(means), 0.4, yerr=stds, capsize=3, color=colors, hatch=hatch,
               edgecolor="0.2", lw=0.5, label=name)
        for xi, m, s, g in zip(x + off, means, stds, groups.values()):
            div = sum(r["status"] == "diverged" for r in g["rows"])
            txt = "n/a" if not math.isfinite(m) else f"{100 * m:.1f}"
            if div:
                txt += f" ({div} div.)"
            ax.text(xi, (m + s if math.isfinite(m) else 0) + 0.015, txt, ha="center", va="bottom", fontsize=6,
                    rotation=90)
    ax.set_xticks(x, labels, rotation=35 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center",
                  fontsize=7)
    ax.set_ylim(0, 1.18)
    ax.set_ylabel("accuracy")
    ax.set_title("best-val model: val (plain) and test (hatched)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)


def _plot_compare(Figure, exp, groups):
    colors = _colors(len(groups))
    fig = Figure(figsize=(15, 5.2), layout="constrained")
    a0, a1, a2 = fig.subplots(1, 3, width_ratios=[1.3, 1, 1])
    _bars(a0, groups, colors)
    _band(a1, groups, "val_acc", colors)
    a1.set_ylabel("validation accuracy")
    a1.set_title("validation accuracy per epoch", fontsize=9)
    handles, labels = a1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), fontsize=8)
    _band(a2, groups, "train_loss", colors, legend=False, log=True)
    a2.set_ylabel("training loss (log scale)")
    a2.set_title("training cross-entropy per epoch (no dropout)", fontsize=9)
    return fig


def _plot_curves(Figure, exp, groups):
    colors = _colors(len(groups))
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    for ax, key, title, log in ((axes[0], "train_loss", "training loss (log scale)", True),
                                (axes[1], "val_loss", "validation loss", False),
                                (axes[2], "val_acc", "validation accuracy", False)):
        _band(ax, groups, key, colors, legend=ax is axes[2], log=log)
        ax.set_ylabel(title)
        ax.set_title(f"{title} per epoch", fontsize=9)
    axes[2].legend(fontsize=8, loc="lower right")
    return fig


def _plot_overfit(Figure, exp, groups):
    colors = _colors(len(groups))
    fig = Figure(figsize=(15, 4.6), layout="constrained")
    a0, a1, a2 = fig.subplots(1, 3)
    _band(a0, groups, "train_acc", colors, "-")
    _band(a0, groups, "val_acc", colors, "--", legend=False)
    a0.set_ylabel("accuracy")
    a0.set_title("train (solid) vs validation (dashed) accuracy", fontsize=9)
    a0.legend(fontsize=7, loc="lower right")
    for (label, g), c in zip(groups.items(), colors):
        gaps = [{"gap": 100 * (h["train_acc"] - h["val_acc"])} for h in g["histories"] if h]
        x, mean, std = stack_curve(gaps, "gap")
        if x.size:
            a1.plot(x, mean, color=c, lw=1.5, label=label)
            a1.fill_between(x, mean - std, mean + std, color=c, alpha=0.15, lw=0)
    _epoch_axis(a1)
    a1.set_ylabel("train - validation accuracy (percentage points)")
    a1.set_title("generalisation gap", fontsize=9)
    _band(a2, groups, "train_loss", colors, "-", legend=False, log=True)
    _band(a2, groups, "val_loss", colors, "--", legend=False, log=True)
    a2.set_ylabel("cross-entropy (log scale)")
    a2.set_title("train (solid) vs validation (dashed) loss", fontsize=9)
    return fig


PLOT_FILES = {"exp1_learning_rate": "exp1_learning_rate.png", "exp2_depth": "exp2_depth.png",
              "exp3_activation": "exp3_activation.png", "exp4_init": "exp4_init.png",
              "ext1_optimizers": "ext1_optimizers.png", "ext2_regularization": "ext2_regularization.png"}


# ----------------------------------------------------------------------------- summary

def summarize_grid(runs, rows_by_id, session=None):
    """Per-experiment and total run counts and wall time (sum of the runs' wall times)."""
    import platform
    exps = {}
    for r in runs:
        e = exps.setdefault(r.experiment, {"runs": 0, "finished": 0, "diverged": 0, "wall_time_s": 0.0,
                                           "epochs": r.config["epochs"], "n_train": r.config["n_train"],
                                           "seeds": [], "configs": []})
        e["runs"] += 1
        if r.seed not in e["seeds"]:
            e["seeds"].append(r.seed)
        if r.label not in e["configs"]:
            e["configs"].append(r.label)
        row = rows_by_id.get(r.run_id)
        if row is not None and row["status"] in FINISHED:
            e["finished"] += 1
            e["diverged"] += row["status"] == "diverged"
            e["wall_time_s"] += to_float(row["wall_time_s"])
    total = sum(e["wall_time_s"] for e in exps.values())
    try:
        import numba
        threads = numba.config.NUMBA_NUM_THREADS
    except Exception:  # pragma: no cover
        threads = None
    return {"total_runs": sum(e["runs"] for e in exps.values()),
            "finished_runs": sum(e["finished"] for e in exps.values()),
            "complete": all(e["finished"] == e["runs"] for e in exps.values()),
            "total_wall_time_s": total, "total_wall_time_min": total / 60,
            "cpu_count": os.cpu_count(), "numba_threads": threads, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "experiments": exps,
            "last_session": session or {}}
