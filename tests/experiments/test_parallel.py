"""`python -m experiments --jobs N` and `--backend dask`: the same rows and histories as a serial
run (only the timing columns differ), on a tiny grid; a Dask LocalCluster of 2 worker processes
that the test starts and stops; and an interrupted parallel grid keeps its finished runs."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ["exp2", "--epochs", "1", "--seeds", "0,1", "--subset", "500", "--no-progress"]
TIMING = {"wall_time_s", "mean_epoch_time_s", "finished_at"}


def cli(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "experiments", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def run_tiny(base, *extra):
    res, plots = base / "results", base / "plots"
    r = cli(*TINY, "--results-dir", str(res), "--plots-dir", str(plots), *extra)
    assert r.returncode == 0, r.stderr + r.stdout
    return res


def assert_same_results(a, b):
    """Rows (in order) and histories agree in every column but the timing ones."""
    rows_a, rows_b = read_csv(a / "experiments.csv"), read_csv(b / "experiments.csv")
    assert [r["run_id"] for r in rows_a] == [r["run_id"] for r in rows_b] and len(rows_a) == 4
    for ra, rb in zip(rows_a, rows_b):
        assert {k: v for k, v in ra.items() if k not in TIMING} == {k: v for k, v in rb.items() if k not in TIMING}
        ha, hb = read_csv(a / ra["history"]), read_csv(b / rb["history"])
        assert len(ha) == len(hb) == 1
        for ea, eb in zip(ha, hb):
            for k in ("epoch_time_s", "time_s", "images_per_s", "gflops", "eval_time_s"):   # timing columns
                ea.pop(k), eb.pop(k)
            assert ea == eb
    assert sorted(os.listdir(a / "runs")) == sorted(os.listdir(b / "runs"))


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    return run_tiny(tmp_path_factory.mktemp("serial"))


def test_two_worker_processes_give_the_serial_rows_and_histories(serial, tmp_path):
    assert_same_results(serial, run_tiny(tmp_path, "--jobs", "2"))


def test_a_dask_local_cluster_gives_the_serial_rows_and_histories(serial, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  scheduler_port=0, silence_logs=40) as cluster:
        assert len(cluster.workers) == 2
        res = run_tiny(tmp_path, "--backend", "dask", "--scheduler", cluster.scheduler_address)
    assert cluster.status.name == "closed"
    assert_same_results(serial, res)


def test_dask_without_a_reachable_scheduler_is_one_line_exit_2(tmp_path):
    r = cli(*TINY, "--results-dir", str(tmp_path / "r"), "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9",
            timeout=300)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Dask scheduler" in lines[0], r.stderr


def test_interrupting_a_parallel_grid_keeps_finished_runs_and_a_rerun_skips_them(tmp_path):
    res = tmp_path / "results"
    args = ["exp1", "--epochs", "1", "--seeds", "0", "--subset", "500", "--no-progress", "--jobs", "2",
            "--results-dir", str(res), "--plots-dir", str(tmp_path / "plots")]
    p = subprocess.Popen([sys.executable, "-m", "experiments", *args], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while not ((res / "experiments.csv").exists() and read_csv(res / "experiments.csv")):
        assert p.poll() is None and time.monotonic() < deadline, "no run finished"
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    rows = read_csv(res / "experiments.csv")
    if p.returncode == 0:   # every run had finished before the signal arrived: nothing to resume
        assert len(rows) == 5
        return
    assert p.returncode == 130 and "interrupted; finished runs are kept" in err, err
    assert 1 <= len(rows) < 5 and all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert len(read_csv(res / r["history"])) == 1
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert f"{len(rows)} already done (skipped), {5 - len(rows)} to run" in r.stdout
    after = {row["run_id"]: row for row in read_csv(res / "experiments.csv")}
    assert len(after) == 5 and all(after[row["run_id"]] == row for row in rows)
