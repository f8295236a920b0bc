"""Figures for training and evaluation: learning curves, confusion matrix, misclassified
digits and first-layer weights.

Figures are built with ``matplotlib.figure.Figure`` directly (the object-oriented API, no
``pyplot``): nothing is shown on screen, no global figure state is kept between calls, and the
importing program's pyplot backend (e.g. a notebook's inline backend) is left alone. Saving
uses the Agg renderer, so it works on machines without a display.

Every ``plot_*`` function takes ``path``: either a file path, written atomically (rendered to a
temporary file in the same directory, then ``os.replace``; parent directories are created and
the format follows the suffix: .png, .pdf or .svg), or a writable binary file object, which
receives PNG bytes (useful to render everything before writing anything).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from network.io import atomic_write

__all__ = [
    "plot_learning_curves",
    "plot_confusion_matrix",
    "plot_misclassified",
    "plot_first_layer_weights",
    "save_figure",
    "atomic_write_bytes",
]

_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
_REQUIRED_HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc")


# --------------------------------------------------------------------------- saving


def atomic_write_bytes(data: bytes, path) -> Path:
    """Write ``data`` to ``path`` atomically (see network.io.atomic_write)."""
    atomic_write(path, lambda fh: fh.write(data))
    return Path(path)


def save_figure(fig: Figure, path, dpi: int = 120, bbox_inches=None):
    """Save ``fig`` to a path (atomically, format from the suffix) or a binary file object (PNG).

    ``bbox_inches="tight"`` trims the saved image to the drawn area. Returns the path (as
    ``Path``) or the file object.
    """
    if hasattr(path, "write"):
        fig.savefig(path, format="png", dpi=dpi, bbox_inches=bbox_inches)
        return path
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"plot path must end in one of {sorted(_FORMATS)}, got {str(path)!r}"
        )
    atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi, bbox_inches=bbox_inches), suffix=path.suffix)
    return path


# --------------------------------------------------------------------------- input checks


def _as_images(images, name: str = "images") -> np.ndarray:
    """(N, 784) or (N, 28, 28) -> (N, 28, 28) float array."""
    arr = np.asarray(images)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 2 and arr.shape[1] == 784:
        arr = arr.reshape(-1, 28, 28)
    elif not (arr.ndim == 3 and arr.shape[1:] == (28, 28)):
        raise ValueError(f"{name} must have shape (N, 784) or (N, 28, 28), got {arr.shape}")
    return arr.astype(np.float64, copy=False)


def _as_labels(y, n: int, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of length {n} (one per image), got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer labels, got dtype {arr.dtype}")
    return arr


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = min(max_cols, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / cols), cols


# --------------------------------------------------------------------------- plots


def plot_learning_curves(history, path, best_epoch: int | None = None, title: str | None = None):
    """Loss and accuracy per epoch, train vs validation, with the best validation epoch marked.

    ``history`` is a list of dicts with keys ``epoch, train_loss, train_acc, val_loss,
    val_acc`` (accuracies as fractions in [0, 1]); if every entry also has ``lr`` a third
    panel shows the learning rate. ``best_epoch`` defaults to the epoch of highest
    ``val_acc`` (the first one on ties), the criterion used to keep the best model.
    """
    if isinstance(history, dict) or not hasattr(history, "__len__") or len(history) == 0:
        raise ValueError("history must be a non-empty list of per-epoch dicts")
    for i, row in enumerate(history):
        if not isinstance(row, dict):
            raise ValueError(f"history[{i}] must be a dict, got {type(row).__name__}")
        missing = [k for k in _REQUIRED_HISTORY_KEYS if k not in row]
        if missing:
            raise ValueError(f"history[{i}] is missing keys {missing}; expected {list(_REQUIRED_HISTORY_KEYS)}")
    try:
        cols = {k: np.array([float(r[k]) for r in history]) for k in _REQUIRED_HISTORY_KEYS}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"history values must be numbers: {exc}") from None
    has_lr = all("lr" in r and r["lr"] is not None for r in history)
    epochs = cols["epoch"]
    if best_epoch is None:
        best_i = int(np.nanargmax(cols["val_acc"])) if np.isfinite(cols["val_acc"]).any() else 0
    else:
        hits = np.nonzero(epochs == best_epoch)[0]
        if hits.size == 0:
            raise ValueError(f"best_epoch {best_epoch} is not among the history's epochs")
        best_i = int(hits[0])
    best_ep = epochs[best_i]

    n_panels = 3 if has_lr else 2
    fig = Figure(figsize=(4.6 * n_panels, 3.8), layout="constrained")
    axes = fig.subplots(1, n_panels)
    marker = "o" if len(history) <= 30 else None
    for ax, key, label in ((axes[0], "loss", "cross-entropy loss"), (axes[1], "acc", "accuracy")):
        n_sub = history[0].get("train_eval_images")   # train figures from a fixed subset
        ax.plot(epochs, cols[f"train_{key}"], marker=marker, ms=3,
                label=f"train ({int(n_sub):,}-image subset)" if n_sub else "train")
        ax.plot(epochs, cols[f"val_{key}"], marker=marker, ms=3, label="validation")
        ax.axvline(best_ep, color="0.4", ls="--", lw=1,
                   label=f"best val acc (epoch {best_ep:g}: {cols['val_acc'][best_i]:.4f})")
        ax.plot([best_ep], [cols[f"val_{key}"][best_i]], "k*", ms=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_title("loss")
    axes[1].set_title("accuracy")
    axes[1].legend(loc="lower right", fontsize=8)
    if has_lr:
        lr = np.array([float(r["lr"]) for r in history])
        axes[2].plot(epochs, lr, marker=marker, ms=3, color="tab:green")
        axes[2].set_title("learning rate")
        axes[2].set_xlabel("epoch")
        axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[2].grid(alpha=0.3)
        if (lr > 0).all() and lr.max() / lr.min() > 20:
            axes[2].set_yscale("log")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_confusion_matrix(cm, path, title: str = "Confusion matrix (test set)", normalize: bool = True):
    """Confusion matrix heat map annotated with counts (rows true, columns predicted).

    With ``normalize`` the colours show each row's fraction ``C[i, j] / sum_j C[i, j]``
    (recall on the diagonal, the error distribution off it), so small classes and rare
    confusions stay visible; the text in each cell is always the raw count.
    """
    c = np.asarray(cm)
    if c.ndim != 2 or c.shape[0] != c.shape[1] or c.shape[0] == 0:
        raise ValueError(f"cm must be a non-empty square 2-D array, got shape {c.shape}")
    if c.dtype.kind not in "iu" or (c < 0).any():
        raise ValueError("cm must hold non-negative integer counts")
    k = c.shape[0]
    if normalize:
        rows = c.sum(axis=1, keepdims=True)
        colour = np.divide(c, rows, out=np.zeros(c.shape), where=rows > 0)
        vmax, clabel = 1.0, "fraction of true class"
    else:
        colour = c.astype(np.float64)
        vmax, clabel = max(1.0, colour.max()), "count"

    size = max(4.5, 0.55 * k + 1.5)
    fig = Figure(figsize=(size + 1.0, size), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(colour, cmap="Blues", vmin=0.0, vmax=vmax)
    fig.colorbar(im, ax=ax, shrink=0.8, label=clabel)
    fs = 8 if k <= 12 else 6
    for i in range(k):
        for j in range(k):
            if c[i, j] == 0 and i != j:
                continue
            dark = colour[i, j] > 0.55 * vmax
            ax.text(j, i, str(int(c[i, j])), ha="center", va="center", fontsize=fs,
                    color="white" if dark else ("black" if i == j else "firebrick"))
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    n = int(c.sum())
    acc = np.trace(c) / n if n else float("nan")
    ax.set_title(f"{title}\n{n} samples, accuracy {acc:.2%}", fontsize=10)
    return save_figure(fig, path)


def plot_misclassified(images, y_true, y_pred, confidence, path, n: int = 36, title: str | None = None):
    """Grid of up to ``n`` misclassified digits, each titled "true T / pred P (c%)".

    ``images``: (N, 784) or (N, 28, 28); ``confidence``: the probability the model gave its
    predicted class, in [0, 1]. Only samples with ``y_pred != y_true`` are shown, the most
    confident mistakes first (ties keep the input order).
    """
    imgs = _as_images(images)
    N = imgs.shape[0]
    t = _as_labels(y_true, N, "y_true")
    p = _as_labels(y_pred, N, "y_pred")
    conf = np.asarray(confidence)
    if conf.dtype.kind not in "iuf" or conf.shape != (N,):
        raise ValueError(
            f"confidence must be a 1-D numeric array of length {N}, got {conf.dtype} array of shape {conf.shape}"
        )
    conf = conf.astype(np.float64, copy=False)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")

    wrong = np.nonzero(t != p)[0]
    order = wrong[np.argsort(-conf[wrong], kind="stable")][: int(n)]
    shown = max(1, order.size)
    rows, cols = _grid(shown, max_cols=9)
    fig = Figure(figsize=(1.25 * cols + 0.3, 1.45 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, i in zip(axes, order):
        ax.imshow(imgs[i], cmap="gray_r", interpolation="nearest")
        ax.set_title(f"true {int(t[i])} / pred {int(p[i])} ({100 * conf[i]:.0f}%)", fontsize=7)
    if order.size == 0:
        axes[0].text(0.5, 0.5, "no misclassified images", ha="center", va="center")
    fig.suptitle(title or f"Most confident mistakes: {order.size} of {wrong.size} misclassified "
                          f"(of {N})", fontsize=10)
    return save_figure(fig, path)


def plot_first_layer_weights(W, path, max_units: int | None = None, title: str | None = None):
    """Each first-layer hidden unit's incoming weights ``W[:, j]`` as a 28x28 image.

    ``W`` has shape (784, H). Each unit gets its own symmetric colour range
    ``[-max|W[:, j]|, +max|W[:, j]|]`` on a diverging map (red positive, blue negative,
    white zero), so the pattern of every unit is visible whatever its scale.
    """
    w = np.asarray(W)
    if w.ndim != 2 or w.shape[0] != 784 or w.shape[1] == 0:
        raise ValueError(f"W must have shape (784, H) with H >= 1, got {w.shape}")
    if w.dtype.kind not in "iuf":
        raise ValueError(f"W must be numeric, got dtype {w.dtype}")
    H = w.shape[1] if max_units is None else min(w.shape[1], int(max_units))
    if H < 1:
        raise ValueError(f"max_units must be a positive integer, got {max_units!r}")
    rows, cols = _grid(H, max_cols=16)
    fig = Figure(figsize=(0.85 * cols + 0.3, 0.85 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    for j in range(H):
        unit = w[:, j].astype(np.float64).reshape(28, 28)
        m = float(np.max(np.abs(unit)))
        m = m if np.isfinite(m) and m > 0 else 1.0
        axes[j].imshow(unit, cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        axes[j].set_title(str(j), fontsize=6, pad=1)
    fig.suptitle(title or f"First-layer weights: {H} of {w.shape[1]} hidden units "
                          "(red +, blue -, per-unit scale)", fontsize=10)
    return save_figure(fig, path)
