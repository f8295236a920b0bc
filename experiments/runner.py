"""Running the grid: the data every run shares, one run, and the grid itself, serially or fanned
out over worker processes (joblib) or a Dask cluster (joblib's dask backend).

A run is deterministic given its configuration and seed, and the kernels sum every output in one
thread, so where a run executes (which process, how many Numba threads) does not change its row
or its history; only the timing columns differ. In parallel, each worker trains in a temporary
directory and sends back its row and its history; the parent process alone writes the results
(the CSV after each finished run, in grid order), so an interrupted grid keeps every finished run
and a rerun skips them, as the serial runner does.
"""
from __future__ import annotations

import math
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.grid import SETTINGS, SPLIT, ExperimentError
from experiments.store import read_history

BACKENDS = ("local", "dask")


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
                history_path=history_path, progress=False, log=log, augment=_augmentation(cfg))
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
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            **({"augment": cfg["augment"]} if "augment" in cfg else {})}


def _augmentation(cfg):
    """The run's augmentation: cfg["augment"] (absent: none) at its kind's default amounts."""
    from network.augmentation import Augmentation, defaults_for
    kind = cfg.get("augment", "none")
    return Augmentation(kind, **defaults_for(kind))


# ----------------------------------------------------------------------------- parallel execution

def _set_threads(threads):
    """Numba threads for the kernels of the runs in this worker (per calling thread)."""
    import numba
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _dask_threads(threads_per_host):
    """cores / (Dask worker threads on this host): the Numba threads of one task on a Dask worker."""
    from distributed import get_worker
    host = get_worker().address.rsplit(":", 1)[0]
    return max(1, (os.cpu_count() or 1) // max(1, threads_per_host.get(host, 1)))


def run_remote(run, data, threads=None, threads_per_host=None):
    """run_one in a worker process: trains in a temporary directory and returns (row, history CSV
    bytes), so the parent writes every file and no worker needs the parent's filesystem."""
    if threads_per_host is not None:
        threads = _dask_threads(threads_per_host)
    if threads is not None:
        _set_threads(threads)
    with tempfile.TemporaryDirectory(prefix="exp-worker-") as tmp:
        runs_dir = Path(tmp) / "runs"
        row = run_one(run, data, runs_dir)
        history = (runs_dir / f"{run.run_id}.csv").read_bytes()
    return row, history


def execute(todo, data, runs_dir, jobs=1, backend="local", scheduler=None, log=lambda line: None):
    """Yield (run, row) for every run of `todo` as it finishes. jobs == 1 on the local backend runs
    them here, in order; otherwise joblib fans them out: `jobs` worker processes on this machine
    (each kernel on cores / jobs threads), or the Dask cluster at `scheduler` (at most `jobs` runs
    at a time; each on cores / worker threads of its host)."""
    if backend == "local" and jobs == 1:
        for run in todo:
            yield run, run_one(run, data, runs_dir, log=log)
        return
    from joblib import Parallel, delayed, parallel_config

    from network.io import atomic_write
    by_id = {r.run_id: r for r in todo}
    if backend == "local":
        threads = max(1, (os.cpu_count() or 1) // jobs)
        tasks = (delayed(run_remote)(run, data, threads) for run in todo)
        config = parallel_config(backend="loky", n_jobs=jobs)
    else:
        client = _dask_client(scheduler)
        per_host = {}
        for w in client.scheduler_info()["workers"].values():
            host = w["host"] if "host" in w else w["id"].rsplit(":", 1)[0]
            per_host[host] = per_host.get(host, 0) + w["nthreads"]
        tasks = (delayed(run_remote)(run, data, None, per_host) for run in todo)
        config = parallel_config(backend="dask", n_jobs=jobs, scatter=[data], wait_for_workers_timeout=60)
    try:
        with config:
            for row, history in Parallel(return_as="generator_unordered")(tasks):
                atomic_write(Path(runs_dir) / f"{row['run_id']}.csv", lambda f, b=history: f.write(b))
                yield by_id[row["run_id"]], row
    finally:
        if backend == "dask":
            client.close()


def _dask_client(scheduler):
    try:
        from distributed import Client
    except ImportError:
        raise ExperimentError("--backend dask needs dask[distributed]: pip install 'mnist-from-scratch[dask]'") from None
    try:
        return Client(scheduler, timeout=30)
    except (OSError, TimeoutError) as e:
        raise ExperimentError(f"cannot reach the Dask scheduler at {scheduler!r} ({e})") from None


# ----------------------------------------------------------------------------- the grid

def _postfix(line):
    """'epoch   3/10  train loss ... val loss 0.1 acc 0.9700 ...' -> 'epoch 3/10 val acc 0.9700'."""
    m = re.search(r"epoch\s+(\d+/\d+).*val loss \S+ acc (\S+)", line)
    return f"epoch {m.group(1)} val acc {m.group(2)}" if m else ""


def run_grid(a, names, grid, overrides, results_dir, plots_dir):
    from tqdm.auto import tqdm

    from experiments.grid import build_grid
    from experiments.plots import PLOT_FILES, make_plots
    from experiments.store import append_result, read_results, summarize_grid, write_summary
    t_start = time.perf_counter()
    csv_path, runs_dir = results_dir / "experiments.csv", results_dir / "runs"
    rows_by_id = {r["run_id"]: r for r in read_results(csv_path)}
    todo = [r for r in grid if r.run_id not in rows_by_id]
    print(f"{len(grid)} runs in {len(names)} experiment(s): {len(grid) - len(todo)} already done "
          f"(skipped), {len(todo)} to run; results in {csv_path}", flush=True)
    executed, plotted = 0, []
    if todo and not a.plots_only:
        data = load_data(a.data_dir, a.cache_dir, progress=not a.no_progress)
        bar = tqdm(total=len(grid), initial=len(grid) - len(todo), unit="run", disable=a.no_progress,
                   dynamic_ncols=True)
        serial = a.backend == "local" and a.jobs == 1
        order = None if serial else {r.run_id: i for i, r in enumerate(grid)}   # rows in grid order
        if serial:
            _describe = lambda run: bar.set_description(f"{run.experiment.split('_')[0]} {run.label} seed {run.seed}")  # noqa: E731
            _describe(todo[0])
        else:
            bar.set_description(f"{a.jobs if a.jobs > 0 else 'all'} {a.backend} worker(s)")
        runs = execute(todo, data, runs_dir, a.jobs, a.backend, a.scheduler,
                       log=lambda line: bar.set_postfix_str(_postfix(line)))
        try:
            for run, row in runs:
                append_result(csv_path, row, order)
                rows_by_id[run.run_id] = {k: str(v) for k, v in row.items()}
                executed += 1
                bar.update(1)
                msg = (f"{run.experiment} | {run.label} | seed {run.seed}: {row['status']}, best val "
                       f"{row['best_val_acc']:.4f} (epoch {row['best_epoch'] or '-'}), "
                       f"test {row['test_acc']:.4f}, {row['wall_time_s']:.1f} s")
                if a.no_progress:
                    print(msg, flush=True)
                else:
                    tqdm.write(msg)
                if all(r.run_id in rows_by_id for r in grid if r.experiment == run.experiment):
                    plotted += make_plots([run.experiment], grid, rows_by_id, runs_dir, plots_dir)
                nxt = todo.index(run) + 1 if serial else len(todo)
                if nxt < len(todo):
                    _describe(todo[nxt])
        finally:
            runs.close()
            bar.close()
    rows_by_id = {r["run_id"]: r for r in read_results(csv_path)}
    done_plots = {p.name for p in plotted}
    plots = plotted + make_plots([n for n in names if PLOT_FILES[n] not in done_plots], grid, rows_by_id,
                                 runs_dir, plots_dir)
    session = {"experiments": names, "runs_executed": executed, "runs_skipped": len(grid) - len(todo),
               "wall_time_s": time.perf_counter() - t_start,
               "command": "python -m experiments " + " ".join(sys.argv[1:])}
    # the summary covers every experiment under the same overrides, so partial runs show as incomplete
    full = build_grid(None, *overrides)
    summary = summarize_grid(full, rows_by_id, session)
    write_summary(results_dir / "experiments_summary.json", summary)
    for p in plots:
        print(f"plot: {p}")
    print(f"{executed} run(s) executed in {session['wall_time_s']:.1f} s; grid total "
          f"{summary['finished_runs']}/{summary['total_runs']} runs, {summary['total_wall_time_s'] / 60:.1f} min "
          f"of run wall time; summary {results_dir / 'experiments_summary.json'}")
