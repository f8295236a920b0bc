"""Classification metrics for the digit classifier, computed from integer label counts.

Everything here is bookkeeping on integer counts, not network math, so it is plain NumPy.
The definitions follow scikit-learn with ``zero_division=0``:

* confusion matrix ``C[i, j]`` = number of samples whose true class is ``i`` and whose
  predicted class is ``j`` (rows true, columns predicted);
* for class ``k``: ``TP = C[k, k]``, ``FP = sum_i C[i, k] - TP``, ``FN = sum_j C[k, j] - TP``;
* ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``,
  ``F1 = 2 TP / (2 TP + FP + FN)`` (the harmonic mean of precision and recall),
  each defined as 0.0 when its denominator is 0;
* ``support`` = number of true samples of the class = ``sum_j C[k, j]``;
* accuracy = ``trace(C) / sum(C)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "accuracy",
    "confusion_matrix",
    "precision_recall_f1",
    "most_confused_pairs",
    "classification_report",
]


def _check_labels(y, name: str) -> np.ndarray:
    """Return ``y`` as a 1-D int64 array, or raise ValueError saying what was expected."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {arr.shape}")
    if arr.dtype.kind not in "iu" and arr.size > 0:  # an empty list comes in as float64
        raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = _check_labels(y_true, "y_true")
    p = _check_labels(y_pred, "y_pred")
    if t.shape[0] != p.shape[0]:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {t.shape[0]} and {p.shape[0]}"
        )
    if t.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty; need at least one sample")
    return t, p


def _check_cm(cm) -> np.ndarray:
    """Return ``cm`` as a square int64 matrix of non-negative counts, or raise ValueError."""
    arr = np.asarray(cm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"confusion matrix must be a non-empty square 2-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"confusion matrix must hold integer counts, got dtype {arr.dtype}")
    if (arr < 0).any():
        raise ValueError("confusion matrix must hold non-negative counts")
    return arr.astype(np.int64, copy=False)


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples with ``y_pred == y_true``: ``(1/N) sum_n [y_pred_n == y_true_n]``."""
    t, p = _check_pair(y_true, y_pred)
    return float(np.count_nonzero(t == p) / t.shape[0])


def confusion_matrix(y_true, y_pred, n_classes: int = 10) -> np.ndarray:
    """Confusion matrix ``C`` (n_classes, n_classes), int64; ``C[i, j]`` counts true ``i``
    predicted as ``j``. Labels must lie in ``[0, n_classes)``."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}")
    n_classes = int(n_classes)
    t, p = _check_pair(y_true, y_pred)
    for name, arr in (("y_true", t), ("y_pred", p)):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n_classes:
            raise ValueError(
                f"{name} labels must lie in [0, {n_classes - 1}], got values in [{lo}, {hi}]"
            )
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64, copy=False)


def precision_recall_f1(cm) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class ``(precision, recall, f1, support)`` from a confusion matrix.

    Precision, recall and F1 are float64 arrays; a 0/0 ratio is reported as 0.0 (like
    scikit-learn's ``zero_division=0``). ``support`` is the int64 row sum.
    """
    c = _check_cm(cm)
    tp = np.diag(c).astype(np.float64)
    predicted = c.sum(axis=0).astype(np.float64)  # TP + FP
    support = c.sum(axis=1)  # TP + FN
    fp = predicted - tp
    fn = support - tp

    def ratio(num, den):
        out = np.zeros_like(num, dtype=np.float64)
        np.divide(num, den, out=out, where=den > 0)
        return out

    precision = ratio(tp, predicted)
    recall = ratio(tp, support.astype(np.float64))
    f1 = ratio(2.0 * tp, 2.0 * tp + fp + fn)
    return precision, recall, f1, support


def most_confused_pairs(cm, k: int = 5) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells as ``(true, pred, count)``, count descending.

    Cells with count 0 are never listed (so fewer than ``k`` pairs may come back); ties are
    broken by ``(true, pred)`` ascending so the result is deterministic.
    """
    c = _check_cm(cm)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer, got {k!r}")
    rows, cols = np.nonzero(c)
    pairs = [(int(i), int(j), int(c[i, j])) for i, j in zip(rows, cols) if i != j]
    pairs.sort(key=lambda t: (-t[2], t[0], t[1]))
    return pairs[: int(k)]


def classification_report(cm, k_confused: int = 5) -> dict:
    """A JSON-ready summary of a confusion matrix.

    Keys: ``accuracy``, ``n`` (total samples), ``n_correct``, ``per_class``
    (``{"0": {"precision", "recall", "f1", "support"}, ...}``), ``macro_avg`` (unweighted
    mean over all classes, including classes absent from the data, as scikit-learn does with
    explicit ``labels``), ``weighted_avg`` (support-weighted mean), ``confusion_matrix``
    (list of lists) and ``most_confused`` (``[{"true", "pred", "count"}, ...]``).
    """
    c = _check_cm(cm)
    n = int(c.sum())
    if n == 0:
        raise ValueError("confusion matrix is all zeros; need at least one sample")
    precision, recall, f1, support = precision_recall_f1(c)
    n_correct = int(np.trace(c))
    weights = support / n
    per_class = {
        str(k): {
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
            "support": int(support[k]),
        }
        for k in range(c.shape[0])
    }
    return {
        "accuracy": n_correct / n,
        "n": n,
        "n_correct": n_correct,
        "per_class": per_class,
        "macro_avg": {
            "precision": float(precision.mean()),
            "recall": float(recall.mean()),
            "f1": float(f1.mean()),
            "support": n,
        },
        "weighted_avg": {
            "precision": float(weights @ precision),
            "recall": float(weights @ recall),
            "f1": float(weights @ f1),
            "support": n,
        },
        "confusion_matrix": c.tolist(),
        "most_confused": [
            {"true": t, "pred": p, "count": cnt} for t, p, cnt in most_confused_pairs(c, k_confused)
        ],
    }
