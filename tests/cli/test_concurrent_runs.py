"""Two train.py runs at the same time (issue 13): with different --out each finishes with valid files
and its own history; writing the same --out they leave one complete model, never a mix."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--subset", "300", "--epochs", "2", "--no-progress"]


def start(*args):
    return subprocess.Popen([sys.executable, "train.py", *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(p):
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return out


def test_two_runs_with_different_out_keep_their_own_files(tmp_path):
    from network.model import NeuralNetwork
    from network.training import load_checkpoint
    runs = {seed: start(*TINY, "--seed", seed, "--out", tmp_path / f"s{seed}" / "m.npz") for seed in (1, 2)}
    for p in runs.values():
        finish(p)
    for seed in runs:
        d = tmp_path / f"s{seed}"
        assert sorted(p.name for p in d.iterdir()) == [
            "m.checkpoint.npz", "m.curves.png", "m.history.csv", "m.npz", "m.summary.json"]
        net = NeuralNetwork.load(d / "m.npz")
        assert net.metadata["train_args"]["seed"] == seed
        _, ckpt = load_checkpoint(d / "m.checkpoint.npz")
        assert ckpt["run"]["args"]["seed"] == seed and ckpt["epoch"] == 2
        rows = list(csv.DictReader(open(d / "m.history.csv")))
        assert [r["epoch"] for r in rows] == ["1", "2"]
        assert [float(r["val_acc"]) for r in rows] == [h["val_acc"] for h in ckpt["history"]]
        assert json.loads((d / "m.summary.json").read_text())["args"]["seed"] == seed
    a = NeuralNetwork.load(tmp_path / "s1" / "m.npz").weights[0]
    b = NeuralNetwork.load(tmp_path / "s2" / "m.npz").weights[0]
    assert not np.array_equal(a, b)


def test_two_runs_writing_the_same_out_leave_one_complete_model(tmp_path):
    """Every file is written to a temporary file and renamed into place, so the last rename wins
    whole: the model equals, bit for bit, the one its recorded seed gives when run alone."""
    from network.model import NeuralNetwork
    out = tmp_path / "same" / "m.npz"
    runs = [start(*TINY, "--seed", seed, "--out", out) for seed in (3, 4)]
    for p in runs:
        finish(p)
    net = NeuralNetwork.load(out)
    seed = net.metadata["train_args"]["seed"]
    assert seed in (3, 4)
    assert not [p for p in os.listdir(out.parent) if p.startswith(".tmp-")], "temporary files left behind"
    alone = tmp_path / "alone" / "m.npz"
    finish(start(*TINY, "--seed", seed, "--out", alone))
    ref = NeuralNetwork.load(alone)
    ref_hist = list(csv.DictReader(open(alone.parent / "m.history.csv")))
    epoch = net.metadata["epoch"]
    assert float(ref_hist[epoch - 1]["val_acc"]) == net.metadata["val_accuracy"]
    if epoch == ref.metadata["epoch"]:
        for w, r in zip(net.weights + net.biases, ref.weights + ref.biases):
            assert np.array_equal(w, r)
    rows = list(csv.DictReader(open(out.parent / "m.history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
