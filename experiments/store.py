"""The results store and its statistics: one CSV row per run (rewritten atomically after each
run), one per-epoch history CSV per run, the grouping of runs by configuration, mean and standard
deviation over seeds, and the grid summary."""
from __future__ import annotations

import csv
import io as _io
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np

from experiments.grid import SETTINGS, ExperimentError
from network.io import atomic_write

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


def append_result(path, row, order=None):
    """Re-read the CSV, replace any row with the same run_id, append `row`, rewrite atomically.
    With `order` (run_id -> position), rows are sorted by it (rows it lacks first, as they were),
    so runs finishing in any order leave the CSV a serial run would write."""
    rows = [r for r in read_results(path) if r["run_id"] != row["run_id"]]
    rows.append({k: _cell(v) for k, v in row.items()})
    if order is not None:
        rows.sort(key=lambda r: (r["run_id"] in order, order.get(r["run_id"], 0)))
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


def write_summary(path, summary):
    atomic_write(path, lambda f: f.write((json.dumps(summary, indent=2) + "\n").encode()))
