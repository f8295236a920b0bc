"""The experiment plots: one figure per experiment, mean over seeds with a +-1 std band."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from experiments.store import group_runs, mean_std, stack_curve, to_float

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
              "ext1_optimizers": "ext1_optimizers.png", "ext2_regularization": "ext2_regularization.png",
              "ext3_augmentation": "ext3_augmentation.png"}


def make_plots(names, grid, rows_by_id, runs_dir, plots_dir):
    """Plot every named experiment that has finished runs; the paths written."""
    from experiments.grid import EXPERIMENTS
    written = []
    for name in names:
        groups = group_runs(name, grid, rows_by_id, runs_dir)
        if any(g["rows"] for g in groups.values()):
            written.append(plot_experiment(EXPERIMENTS[name], groups, Path(plots_dir) / PLOT_FILES[name]))
    return written
