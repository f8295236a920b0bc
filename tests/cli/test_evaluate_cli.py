"""evaluate.py as a user runs it: bad inputs give exit 2 and one 'error:' line, nothing
written; a good run writes consistent metrics and the three plots."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PNGS = ("confusion_matrix.png", "misclassified.png", "first_layer_weights.png")


def run_cli(*args, timeout=300):
    return subprocess.run([sys.executable, "evaluate.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def assert_clean_failure(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for frag in fragments:
        assert frag in lines[0]


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    from network.model import NeuralNetwork

    path = tmp_path_factory.mktemp("model") / "tiny.npz"
    NeuralNetwork([784, 16, 10], seed=3).save(path, epoch=3, val_acc=0.5, note="random init")
    return path


def _outputs(tmp_path):
    out, plots = tmp_path / "results", tmp_path / "plots"
    return out, plots, ["--out-dir", out, "--plots-dir", plots]


def _assert_nothing_written(tmp_path):
    assert not (tmp_path / "results").exists() and not (tmp_path / "plots").exists()


def test_help():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for opt in ("--model", "--data-dir", "--cache-dir", "--out-dir", "--plots-dir", "--subset"):
        assert opt in proc.stdout


def test_missing_model(tmp_path):
    out, plots, opts = _outputs(tmp_path)
    proc = run_cli("--model", tmp_path / "nope.npz", *opts)
    assert_clean_failure(proc, "nope.npz", "does not exist")
    _assert_nothing_written(tmp_path)


def test_corrupt_model(tmp_path):
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    out, plots, opts = _outputs(tmp_path)
    assert_clean_failure(run_cli("--model", bad, *opts), "corrupt.npz")
    _assert_nothing_written(tmp_path)


def test_truncated_model(tmp_path, good_model):
    bad = tmp_path / "truncated.npz"
    bad.write_bytes(good_model.read_bytes()[:3000])
    out, plots, opts = _outputs(tmp_path)
    assert_clean_failure(run_cli("--model", bad, *opts), "truncated.npz")
    _assert_nothing_written(tmp_path)


def test_pickled_model(tmp_path):
    bad = tmp_path / "pickled.npz"
    np.savez(bad, W0=np.array([{"evil": 1}, None], dtype=object))
    out, plots, opts = _outputs(tmp_path)
    assert_clean_failure(run_cli("--model", bad, *opts), "pickled.npz", "pickle")
    _assert_nothing_written(tmp_path)


def test_wrong_shapes(tmp_path, good_model):
    with np.load(good_model) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["W0"] = arrays["W0"][:, :8]  # no longer matches layer_sizes [784, 16, 10]
    bad = tmp_path / "shapes.npz"
    np.savez(bad, **arrays)
    out, plots, opts = _outputs(tmp_path)
    assert_clean_failure(run_cli("--model", bad, *opts), "shapes.npz", "W0")
    _assert_nothing_written(tmp_path)


@pytest.mark.parametrize("sizes", [[100, 10], [784, 8, 5]])
def test_model_not_for_mnist(tmp_path, sizes):
    from network.model import NeuralNetwork

    path = tmp_path / "other.npz"
    NeuralNetwork(sizes).save(path)
    out, plots, opts = _outputs(tmp_path)
    assert_clean_failure(run_cli("--model", path, *opts), "784 inputs and 10 outputs")
    _assert_nothing_written(tmp_path)


def test_output_dir_is_a_file(tmp_path, good_model):
    blocker = tmp_path / "plots"
    blocker.write_text("not a directory")
    proc = run_cli("--model", good_model, "--out-dir", tmp_path / "results",
                   "--plots-dir", blocker / "sub", "--subset", 10)
    assert_clean_failure(proc, "--plots-dir", "not a directory")
    assert not (tmp_path / "results").exists()  # checked before anything is written


def test_unusable_data_dir(tmp_path, good_model):
    # empty cache + a --data-dir that does not exist: DataError, reported without a traceback
    out, plots, opts = _outputs(tmp_path)
    proc = run_cli("--model", good_model, "--cache-dir", tmp_path / "cache",
                   "--data-dir", tmp_path / "no-such-dir", "--quiet", *opts)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")
    _assert_nothing_written(tmp_path)


@pytest.mark.parametrize("value", ["0", "-3", "ten"])
def test_bad_subset(value):
    proc = run_cli("--subset", value)
    assert proc.returncode == 2 and "--subset" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def mnist_test():
    from data import DataError, load_mnist

    try:
        _, test = load_mnist(progress=False)
    except DataError as e:  # no cache and no reachable source on this machine
        pytest.skip(f"MNIST unavailable: {str(e).splitlines()[0]}")
    return test


def test_good_run(tmp_path, good_model, mnist_test):
    from data import preprocess
    from network.model import NeuralNetwork

    n = 500
    out, plots, opts = _outputs(tmp_path)
    proc = run_cli("--model", good_model, "--subset", n, "--quiet", *opts)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr

    m = json.loads((out / "metrics.json").read_text())
    for key in ("test_accuracy", "n_test", "per_class", "macro_avg", "confusion_matrix",
                "most_confused", "model_path", "model_metadata"):
        assert key in m
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (10, 10) and m["n_test"] == n == cm.sum()
    assert 0.0 <= m["test_accuracy"] <= 1.0
    assert m["test_accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-12)
    assert m["model_metadata"]["epoch"] == 3 and m["model_metadata"]["note"] == "random init"
    assert Path(m["model_path"]) == good_model

    # independently: the same model on the first n test images, in this process
    x_test, y_test = mnist_test
    y = y_test[:n].astype(np.int64)
    pred = NeuralNetwork.load(good_model).predict(preprocess(x_test[:n]))
    assert m["test_accuracy"] == pytest.approx(np.mean(pred == y), abs=1e-12)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(y, minlength=10))
    np.testing.assert_array_equal(cm.sum(axis=0), np.bincount(pred, minlength=10))
    for d in range(10):
        pc = m["per_class"][str(d)]
        assert pc["support"] == int(np.sum(y == d))
        tp, npred = int(np.sum((pred == d) & (y == d))), int(np.sum(pred == d))
        assert pc["precision"] == pytest.approx(tp / npred if npred else 0.0, abs=1e-12)

    # stdout: accuracy, table, confusion matrix, confused pairs as "T -> P: k times"
    assert f"Test accuracy: {m['test_accuracy']:.2%}" in proc.stdout
    top = m["most_confused"][0]
    assert f"{top['true']} -> {top['pred']}: {top['count']} time" in proc.stdout
    assert "precision" in proc.stdout and "Confusion matrix" in proc.stdout

    # the three PNGs, and no temp files left behind by the atomic writes
    for name in PNGS:
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(os.listdir(plots)) == sorted(PNGS)
    assert os.listdir(out) == ["metrics.json"]
