"""train.py from the command line: input checks before any data is loaded, and a short real run."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "MNIST_CACHE_DIR": "/nonexistent/should-not-be-read"})


BAD = [
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-5"], "--batch-size"),
    (["--epochs", "0"], "--epochs"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-0.1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--val-split", "0"], "--val-split"),
    (["--val-split", "1"], "--val-split"),
    (["--layers", "784,128,64,9"], "--layers"),
    (["--layers", "100,10"], "--layers"),
    (["--layers", "784,0,10"], "--layers"),
    (["--layers", "784,abc,10"], "--layers"),
    (["--l2", "-1"], "--l2"),
    (["--dropout", "1"], "--dropout"),
    (["--augment-shift", "-1"], "--augment-shift"),
    (["--augment", "rotate"], "--augment"),
    (["--rotate", "-5"], "--rotate"),
    (["--scale", "1.5"], "--scale"),
    (["--shear", "nan"], "--shear"),
    (["--elastic-sigma", "-1"], "--elastic-sigma"),
    (["--elastic-alpha", "inf"], "--elastic-alpha"),
    (["--seed", "-1"], "--seed"),
    (["--subset", "0"], "--subset"),
    (["--activation", "softplus"], "--activation"),
    (["--init", "orthogonal"], "--init"),
    (["--optimizer", "rmsprop"], "--optimizer"),
    (["--schedule", "step"], "--schedule"),
    (["--batch-size", "ten"], "--batch-size"),
    (["--lr", "fast"], "--lr"),
    (["--out", "/dev/null/m.npz"], "--out"),
    (["--history", "/proc/version/h.csv"], "--history"),
    (["--plot", "/"], "--plot"),
    (["--checkpoint", "/dev/null/c.npz"], "--checkpoint"),
]


@pytest.mark.parametrize("args,flag", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_nonzero_no_traceback(args, flag, tmp_path):
    r = run("--out", str(tmp_path / "m.npz"), *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and flag in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, no data loaded (the cache dir is bogus)


def test_help_lists_every_flag():
    r = run("--help")
    assert r.returncode == 0
    for flag in ("--layers", "--activation", "--init", "--optimizer", "--lr", "--batch-size", "--epochs",
                 "--seed", "--val-split", "--l2", "--dropout", "--data-dir", "--out", "--augment",
                 "--rotate", "--scale", "--shear", "--elastic-sigma", "--elastic-alpha", "--quiet"):
        assert flag in r.stdout
    assert "degrees" in r.stdout and "pixels" in r.stdout


def test_short_run_on_real_mnist_writes_model_history_plot(tmp_path):
    env_cache = {}
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), "--subset", "1000", "--epochs", "2",
                        "--out", str(tmp_path / "m.npz"), "--history", str(tmp_path / "h.csv"),
                        "--summary", str(tmp_path / "s.json"), "--plot", str(tmp_path / "lc.png"),
                        "--checkpoint", str(tmp_path / "ckpt.npz"), "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, **env_cache})
    assert r.returncode == 0, r.stderr
    assert "epoch   2/2" in r.stdout
    from network.model import NeuralNetwork
    net = NeuralNetwork.load(tmp_path / "m.npz")
    assert net.layer_sizes == [784, 128, 64, 10]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["n_train"] == 1000 and summary["n_val"] == 12000
    assert net.metadata["val_accuracy"] == summary["best_val_accuracy"] > 0.5
    assert (tmp_path / "lc.png").stat().st_size > 1000
    assert len((tmp_path / "h.csv").read_text().strip().splitlines()) == 3
    assert "img/s" in r.stdout and "GFLOP/s" in r.stdout            # the epoch lines
    header = (tmp_path / "h.csv").read_text().splitlines()[0].split(",")
    assert {"images_per_s", "gflops", "time_s", "train_eval_images", "eval_time_s"} <= set(header)
    assert set(summary["time_to_val_accuracy_s"]) == {"97%", "98%", "98.5%", "99%"}
    assert summary["train_eval_images"] == 1000 and 0 < summary["eval_share"] < 10


def test_quiet_prints_no_bar_and_no_epoch_lines(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), "--subset", "500", "--epochs", "2",
                        "--augment", "affine", *_outputs(tmp_path)[:-1], "--quiet"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "epoch   1/2" not in r.stdout + r.stderr and "img/s" not in r.stdout + r.stderr
    assert "best validation accuracy" in r.stdout
    rows = (tmp_path / "h.csv").read_text().strip().splitlines()
    assert len(rows) == 3 and float(rows[1].split(",")[rows[0].split(",").index("gflops")]) > 0


def _outputs(d):
    return ["--out", str(d / "m.npz"), "--history", str(d / "h.csv"), "--summary", str(d / "s.json"),
            "--plot", str(d / "lc.png"), "--checkpoint", str(d / "ckpt.npz"), "--no-progress"]


TIMINGS = ("epoch_time_s", "time_s", "images_per_s", "gflops", "eval_time_s")


@pytest.mark.parametrize("augment", [["--augment", "shift"],
                                     ["--augment", "elastic", "--rotate", "12", "--elastic-alpha", "2"]],
                         ids=["shift", "elastic"])
def test_sigterm_writes_checkpoint_and_resume_gives_identical_weights(tmp_path, augment):
    """An interrupted run, resumed, ends with bit-identical weights, optimizer state and history."""
    import signal
    import time

    from network.io import load_arrays
    settings = ["--subset", "1500", "--epochs", "4", "--dropout", "0.2", "--augment-shift", "1", "--seed", "5",
                *augment]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    full, part = tmp_path / "full", tmp_path / "part"
    r = subprocess.run([sys.executable, str(ROOT / "train.py"), *settings, *_outputs(full)], cwd=ROOT,
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr

    p = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *settings, *_outputs(part)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in p.stdout:  # wait for the first epoch to finish, then ask the run to stop
        if line.startswith("epoch   1/4"):
            p.send_signal(signal.SIGTERM)
            break
    out, err = p.communicate(timeout=600)
    assert p.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "--resume" in err
    stopped = checkpoint_epoch(part / "ckpt.npz")
    assert 1 <= stopped < 4

    r = subprocess.run([sys.executable, str(ROOT / "train.py"), "--resume", str(part / "ckpt.npz"),
                        *_outputs(part)], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    assert f"after epoch {stopped} of 4" in r.stdout
    a, b = load_arrays(full / "ckpt.npz"), load_arrays(part / "ckpt.npz")
    assert sorted(a) == sorted(b)
    for key in a:
        if key != "metadata":
            assert np.array_equal(a[key], b[key]), key
    ha = [{k: v for k, v in row.items() if k not in TIMINGS} for row in json.loads(str(a["metadata"]))["checkpoint"]["history"]]
    hb = [{k: v for k, v in row.items() if k not in TIMINGS} for row in json.loads(str(b["metadata"]))["checkpoint"]["history"]]
    assert ha == hb and len(ha) == 4
    assert np.array_equal(load_arrays(full / "m.npz")["W0"], load_arrays(part / "m.npz")["W0"])
    saved = json.loads(str(b["metadata"]))["checkpoint"]["run"]["args"]
    assert saved["augment"] == augment[1] and saved["augment_shift"] == 1
    if augment[1] == "elastic":
        assert saved["rotate"] == 12 and saved["elastic_alpha"] == 2
        assert json.loads(str(b["metadata"]))["checkpoint"]["state"]["augment_epochs"] == 4


def checkpoint_epoch(path):
    from network.training import load_checkpoint
    return load_checkpoint(path)[1]["epoch"]


def test_resume_rejects_a_plain_model_file(tmp_path):
    from network.model import NeuralNetwork
    NeuralNetwork([784, 8, 10]).save(tmp_path / "plain.npz")
    r = run("--resume", str(tmp_path / "plain.npz"), *_outputs(tmp_path / "o"))
    assert r.returncode == 2 and "not a training checkpoint" in r.stderr and "Traceback" not in r.stderr
