"""The epoch benchmark's cold and warm start (python -m profiling.bench_epoch, see its --help):
a fresh interpreter with an empty Numba cache trains one epoch, then one with the cache it left.
The cold one compiles on two processes (network/warmup.py); its helper reports its compile times
and timeline through network.warmup.REPORT_ENV."""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from network.warmup import REPORT_ENV, compile_timeline, compile_times
from profiling.common import ROOT, log, random_mnist, write_csv
from profiling.epoch_plots import plot_startup

COMPILE_FIELDS = ["process", "kernel", "signature", "exclusive_s", "inclusive_s"]


def child_startup(n, batch, dtype, sizes, lr):
    """Run in a fresh interpreter: time import, first and second epoch; print one JSON line."""
    from numba.core import event
    with event.install_recorder("numba:compile") as rec:
        t0 = time.perf_counter()
        from network.model import NeuralNetwork
        t_import = time.perf_counter() - t0
        X, y = random_mnist(n, dtype)
        net = NeuralNetwork(sizes, activation="relu", seed=0, dtype=dtype, optimizer="sgd")
        t1, wall1 = time.perf_counter(), time.time()
        net.train_epoch(X, y, batch_size=batch, learning_rate=lr)
        t_first = time.perf_counter() - t1
    t2 = time.perf_counter()
    net.train_epoch(X, y, batch_size=batch, learning_rate=lr)
    t_second = time.perf_counter() - t2
    print(json.dumps({"import_s": t_import, "first_epoch_s": t_first, "second_epoch_s": t_second,
                      "epoch_started": wall1, "compile": compile_times(rec.buffer),
                      "timeline": compile_timeline(rec.buffer)}))


def _timeline_rows(process, timeline, t0):
    """Timeline rows, seconds from t0 (the cold process's first-epoch start)."""
    return [{"process": process, "kernel": k, "start_s": a - t0, "end_s": b - t0} for k, a, b in timeline]


def _compile_rows(process, rows):
    return [{"process": process, "kernel": k, "signature": sig, "exclusive_s": e, "inclusive_s": i}
            for k, sig, e, i in rows]


def bench_startup(n, batch, dtype, sizes, quiet=False):
    """Rows for a cold (empty Numba cache) and a warm (populated cache) start, each a subprocess."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
        report = os.path.join(cache, "helper.json")     # the cold start's helper process (network/warmup.py)
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, **{REPORT_ENV: report})
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
                         "net": "-".join(map(str, sizes)), "epoch_s": d["first_epoch_s"],
                         "epoch_min_s": d["first_epoch_s"], "images_per_s": n / d["first_epoch_s"],
                         "repeats": 1, "import_s": d["import_s"], "first_epoch_s": d["first_epoch_s"],
                         "second_epoch_s": d["second_epoch_s"], "process_s": wall,
                         "note": "epoch_s = first epoch incl. compile / cache load; process_s = whole subprocess"})
            log(f"    import {d['import_s']:.2f} s, first epoch {d['first_epoch_s']:.2f} s, "
                f"second {d['second_epoch_s']:.2f} s, process {wall:.2f} s", quiet)
            if label.startswith("kernels cold"):
                compile_rows = _compile_rows("main", d["compile"])
                rows[-1]["timeline"] = _timeline_rows("main", d["timeline"], d["epoch_started"])
                if os.path.exists(report):
                    with open(report) as f:
                        helper = json.load(f)
                    compile_rows += _compile_rows("helper", helper["compile"])
                    rows[-1]["timeline"] += (
                        _timeline_rows("helper", [("helper process", helper["started"],
                                                   helper["started"] + helper["done_s"])], d["epoch_started"])
                        + _timeline_rows("helper", helper["timeline"], d["epoch_started"]))
                    rows[-1].update(helper_ready_s=helper["ready_s"], helper_done_s=helper["done_s"])
                    log(f"    helper process: its share of the epoch's kernels compiled after "
                        f"{helper['ready_s']:.2f} s, the inference kernels after {helper['done_s']:.2f} s", quiet)
                    os.remove(report)
    return rows, compile_rows


def startup_only(n, batch, dtype, sizes, repeats, out_dir, fields, quiet, plots_dir=None):
    """`repeats` cold/warm start pairs (bench_startup); writes startup.csv with every round (the
    epoch benchmark's `fields`, and,
    for a cold start, when the helper process had its share of the epoch's kernels compiled and when
    it was done, seconds from its start), and of the round whose cold start is the median
    compile_times.csv and startup_timeline.csv (each process's outermost compilations, seconds
    from the first epoch's start), drawn in plots_dir/startup.png. Returns the paths written."""
    rounds = []
    for r in range(repeats):
        log(f"start-up round {r + 1} of {repeats}", quiet)
        rows, compile_rows = bench_startup(n, batch, dtype, sizes, quiet)
        rounds.append(([dict(row, round=r + 1) for row in rows], compile_rows))
    rows = [row for rr, _ in rounds for row in rr]
    median = sorted(rounds, key=lambda rc: rc[0][0]["first_epoch_s"])[len(rounds) // 2]
    paths = [os.path.join(out_dir, name) for name in ("startup.csv", "compile_times.csv", "startup_timeline.csv")]
    write_csv(paths[0], rows, ["round", *fields, "helper_ready_s", "helper_done_s"])
    write_csv(paths[1], median[1], COMPILE_FIELDS)
    cold = median[0][0]
    timeline = [{"process": "main", "kernel": "first epoch", "start_s": 0.0, "end_s": cold["first_epoch_s"]},
                *cold.get("timeline", [])]
    write_csv(paths[2], timeline, ["process", "kernel", "start_s", "end_s"])
    if plots_dir:
        paths.append(os.path.join(plots_dir, "startup.png"))
        plot_startup(timeline, cold["first_epoch_s"], cold.get("helper_ready_s"), paths[-1])
    cold = ", ".join(f"{rr[0]['first_epoch_s']:.2f}" for rr, _ in rounds)
    warm = ", ".join(f"{rr[1]['first_epoch_s']:.2f}" for rr, _ in rounds)
    print(f"first epoch with an empty cache (compiling included): {cold} s; with the cache: {warm} s")
    return paths
