"""Hardening round 2 (issue 13), from the command line: inputs the user names are checked first and
never ignored, special files never block, an exploding run stops, and a run's outputs follow --out.

Every subprocess has a timeout, so a command that blocks on a named pipe fails the test, not CI.
"""
import hashlib
import json
import os
import stat
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120
COMMITTED = ("models", "results", "plots")


def cmd(*args, env=None, timeout=TIMEOUT):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


def one_error(r, *words, code=2):
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == code, (r.returncode, r.stderr)
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def tree_digest(*dirs):
    """SHA-256 of every file under the committed output folders (path and bytes)."""
    h = hashlib.sha256()
    for d in dirs:
        for p in sorted((ROOT / d).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def mnist_cached():
    from data import DataError, load_mnist
    try:
        return load_mnist(progress=False)
    except DataError as e:  # pragma: no cover - no cache and no network
        pytest.skip(f"MNIST not available: {e}")


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory, mnist_cached):
    """The real MNIST written as the four raw IDX files."""
    (xtr, ytr), (xte, yte) = mnist_cached
    d = tmp_path_factory.mktemp("idx")
    for name, a in (("train-images-idx3-ubyte", xtr), ("train-labels-idx1-ubyte", ytr),
                    ("t10k-images-idx3-ubyte", xte), ("t10k-labels-idx1-ubyte", yte)):
        magic = 0x800 + a.ndim
        header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in a.shape)
        (d / name).write_bytes(header + np.ascontiguousarray(a, np.uint8).tobytes())
    return d


TINY = ["--subset", "200", "--epochs", "1", "--no-progress"]


# ------------------------------------------------------------------ --data-dir is never ignored
@pytest.mark.parametrize("case", ["missing", "a-file", "empty-dir", "fifo-inside"])
def test_explicit_data_dir_problems_are_errors_even_with_the_cache(tmp_path, mnist_cached, case):
    d = tmp_path / "d"
    if case == "a-file":
        d.write_text("x")
    elif case == "empty-dir":
        d.mkdir()
    elif case == "fifo-inside":
        d.mkdir()
        os.mkfifo(d / "train-images-idx3-ubyte")
    for script in ("train.py", "evaluate.py"):
        extra = TINY if script == "train.py" else ["--subset", "10", "--quiet", "--out-dir", tmp_path / "e",
                                                   "--plots-dir", tmp_path / "e"]
        r = cmd(script, "--data-dir", d, "--out", tmp_path / "m.npz", *extra) if script == "train.py" else \
            cmd(script, "--data-dir", d, *extra)
        one_error(r, "--data-dir")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ([] if case == "missing" else ["d"]), "nothing may be written"


def test_corrupt_idx_files_are_an_error_even_when_the_cache_could_serve(tmp_path, idx_dir):
    bad = tmp_path / "bad"
    bad.mkdir()
    for p in idx_dir.iterdir():
        os.symlink(p, bad / p.name)
    (bad / "t10k-labels-idx1-ubyte").unlink()
    data = bytearray((idx_dir / "t10k-labels-idx1-ubyte").read_bytes())
    data[100] = (data[100] + 1) % 10
    (bad / "t10k-labels-idx1-ubyte").write_bytes(bytes(data))
    r = cmd("train.py", "--data-dir", bad, "--out", tmp_path / "m.npz", *TINY)
    one_error(r, "--data-dir", "y_test has sha256")
    assert not (tmp_path / "m.npz").exists()


def test_a_good_data_dir_is_read_and_the_output_says_so(tmp_path, idx_dir):
    r = cmd("evaluate.py", "--data-dir", idx_dir, "--subset", "10", "--out-dir", tmp_path, "--plots-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"verified MNIST from the IDX files in {idx_dir}" in r.stderr


# ------------------------------------------------------------------ special files never block
@pytest.mark.parametrize("option", ["evaluate --model", "train --resume", "train --cache-dir",
                                    "experiments --results-dir"])
def test_named_pipes_are_refused_up_front(tmp_path, option):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    if option == "evaluate --model":
        r = cmd("evaluate.py", "--model", fifo, "--subset", "5")
    elif option == "train --resume":
        r = cmd("train.py", "--resume", fifo, "--no-progress")
    elif option == "train --cache-dir":   # the cache file itself is a pipe
        cache = tmp_path / "cache"
        cache.mkdir()
        os.mkfifo(cache / "mnist.npz")
        r = cmd("train.py", "--cache-dir", cache, "--out", tmp_path / "m.npz", *TINY)
    else:
        res = tmp_path / "res"
        res.mkdir()
        os.mkfifo(res / "experiments.csv")
        r = cmd("-m", "experiments", "--results-dir", res, "--list")
    line = one_error(r)
    assert "named pipe" in line and "regular file" in line


@pytest.mark.parametrize("target", ["pipe", "dir"])
def test_special_output_paths_are_refused_before_training(tmp_path, target):
    # a named pipe stands in for /dev/null: were the check to regress, the run would replace the
    # special file it was given, and the real /dev/null must never be at stake
    out = tmp_path
    if target == "pipe":
        out = tmp_path / "special"
        os.mkfifo(out)
    one_error(cmd("train.py", "--out", out, *TINY), "--out")
    assert target != "pipe" or stat.S_ISFIFO(os.stat(out).st_mode)


# ------------------------------------------------------------------ exploding loss
def test_exploding_finite_loss_is_divergence_exit_3_and_no_model(tmp_path):
    out = tmp_path / "m.npz"
    r = cmd("train.py", "--lr", "100", "--subset", "4000", "--epochs", "2", "--no-progress", "--out", out)
    line = one_error(r, "diverged at epoch 1", "exploded", "--lr 10", code=3)
    assert "no model was written" in line
    assert not out.exists() and not (tmp_path / "m.summary.json").exists()


# ------------------------------------------------------------------ outputs follow --out
def test_non_default_out_writes_its_side_outputs_beside_it(tmp_path):
    before = tree_digest(*COMMITTED)
    out = tmp_path / "runs" / "a.npz"
    r = cmd("train.py", "--out", out, *TINY)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "a.checkpoint.npz", "a.curves.png", "a.history.csv", "a.npz", "a.summary.json"]
    summary = json.loads((out.parent / "a.summary.json").read_text())
    assert summary["outputs"]["history"] == str(out.parent / "a.history.csv")
    assert tree_digest(*COMMITTED) == before, "a run with --out elsewhere changed the committed results"


def test_help_states_the_naming_scheme_and_batch_clipping():
    r = cmd("train.py", "--help")
    for words in ("NAME.history.csv", "NAME.checkpoint.npz", "results/history.csv", "clipped"):
        assert words in r.stdout, words


def test_batch_size_larger_than_the_training_set_is_clipped_with_a_warning(tmp_path):
    out = tmp_path / "m.npz"
    r = cmd("train.py", "--out", out, "--batch-size", "100000", *TINY)
    assert r.returncode == 0, r.stderr
    assert "warning: --batch-size 100000 is larger than the 200 training images; clipped to 200" in r.stderr
    assert json.loads((tmp_path / "m.summary.json").read_text())["args"]["batch_size"] == 200


def test_resume_writes_where_the_interrupted_run_wrote_bit_identical(tmp_path):
    """Started with --out runs/a.npz, stopped with SIGTERM, resumed with --resume alone: the rest of
    the run goes to runs/a.*, the committed files are untouched, the weights match an uninterrupted run."""
    from network.io import load_arrays
    before = tree_digest(*COMMITTED)
    settings = ["--subset", "1000", "--epochs", "3", "--seed", "2", "--no-progress"]
    full = cmd("train.py", *settings, "--out", tmp_path / "full" / "a.npz")
    assert full.returncode == 0, full.stderr
    out = tmp_path / "runs" / "a.npz"
    p = subprocess.Popen([sys.executable, "train.py", *settings, "--out", str(out)], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in p.stdout:
        if line.startswith("epoch   1/3"):
            p.send_signal(signal.SIGTERM)
            break
    _, err = p.communicate(timeout=TIMEOUT)
    assert p.returncode == 128 + signal.SIGTERM, err
    ckpt = tmp_path / "runs" / "a.checkpoint.npz"
    assert f"--resume {ckpt}" in err

    one_error(cmd("train.py", "--resume", ckpt, "--out", tmp_path / "other.npz"), "--out", "differs")
    from train import DEFAULTS    # the interrupted run used the default learning rate
    one_error(cmd("train.py", "--resume", ckpt, "--lr", "0.5"), f"--lr {DEFAULTS['lr']}")
    r = cmd("train.py", "--resume", ckpt, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert f"writing to {out}" in r.stdout
    a, b = load_arrays(tmp_path / "full" / "a.checkpoint.npz"), load_arrays(ckpt)
    for key in a:
        if key != "metadata":
            assert np.array_equal(a[key], b[key]), key
    assert np.array_equal(load_arrays(tmp_path / "full" / "a.npz")["W0"], load_arrays(out)["W0"])
    hist = (tmp_path / "runs" / "a.history.csv").read_text().splitlines()
    assert len(hist) == 4
    assert not (tmp_path / "other.npz").exists()
    assert tree_digest(*COMMITTED) == before
