"""The analysis package and `python -m analysis`: saliency against float64 finite differences, hidden
activations against a NumPy forward pass, dead/saturated units on constructed networks, plots,
and the CLI (files written on success, one-line exit-2 errors otherwise)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_gradients_close, numerical_gradient

import analysis as A
from network.model import NeuralNetwork

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
F = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh, "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z))}


def numpy_forward(model, X):
    """Reference forward pass in float64 NumPy: (hidden activations, logits)."""
    a, hidden = np.asarray(X, np.float64), []
    for l, (W, b) in enumerate(zip(model.weights, model.biases)):
        z = a @ W.astype(np.float64) + b.astype(np.float64)
        if l == model.n_layers - 1:
            return hidden, z
        a = F[model.activation](z)
        hidden.append(a)


# --------------------------------------------------------------------------- saliency


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("score", ["logit", "log_prob"])
def test_saliency_matches_finite_differences(rng, activation, score):
    model = NeuralNetwork([13, 9, 7, 5], activation=activation, dtype=np.float64, seed=4)
    for b in model.biases:  # non-zero biases, so every term of the backward pass matters
        b[:] = rng.normal(0, 0.3, b.shape)
    X = rng.random((6, 13))
    classes = rng.integers(0, 5, 6)
    sal = A.saliency(model, X, classes, score=score, batch_size=4)  # two chunks: 4 + 2 rows
    assert sal.shape == X.shape and sal.dtype == np.float64
    for i in range(X.shape[0]):
        def f(x, i=i):
            z = numpy_forward(model, x[None, :])[1][0]
            if score == "log_prob":
                z = z - (z.max() + np.log(np.exp(z - z.max()).sum()))
            return z[classes[i]]
        num = numerical_gradient(f, X[i].copy())
        assert np.abs(num).max() > 1e-3  # the check is not trivially passed by zeros
        assert_gradients_close(sal[i], num, name=f"saliency row {i} ({activation}, {score})")


def test_saliency_depends_on_the_class_and_accepts_a_scalar(rng):
    model = NeuralNetwork([10, 8, 4], dtype=np.float64, seed=1)
    X = rng.random((3, 10))
    s0 = A.saliency(model, X, 0)
    np.testing.assert_array_equal(s0, A.saliency(model, X, np.zeros(3, np.int64)))
    assert not np.allclose(s0, A.saliency(model, X, 1))
    # d z_c / dx summed over all classes c equals the gradient of sum_c z_c
    total = sum(A.saliency(model, X, c) for c in range(4))
    num = numerical_gradient(lambda x: numpy_forward(model, x[None, :])[1].sum(), X[0].copy())
    assert_gradients_close(total[0], num)


def test_saliency_float32_agrees_with_float64(rng):
    m64 = NeuralNetwork([20, 12, 6, 10], dtype=np.float64, seed=2)
    m32 = NeuralNetwork([20, 12, 6, 10], dtype=np.float32, seed=2)
    m32.weights = [w.astype(np.float32) for w in m64.weights]
    m32.biases = [b.astype(np.float32) for b in m64.biases]
    X = rng.random((50, 20))
    c = rng.integers(0, 10, 50)
    s32, s64 = A.saliency(m32, X, c), A.saliency(m64, X, c)
    assert s32.dtype == np.float32
    np.testing.assert_allclose(s32, s64, rtol=1e-4, atol=1e-5 * np.abs(s64).max())


def test_saliency_input_checks(rng):
    model = NeuralNetwork([10, 8, 4], seed=1)
    X = rng.random((3, 10))
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 3\]"):
        A.saliency(model, X, [0, 1, 4])
    with pytest.raises(ValueError, match="classes must be an integer class label or 3"):
        A.saliency(model, X, [0, 1])
    with pytest.raises(ValueError, match="score must be"):
        A.saliency(model, X, 0, score="prob")
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, 10\)"):
        A.saliency(model, X[:, :9], 0)


# --------------------------------------------------------------------------- activations


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_hidden_activations_match_numpy(rng, dtype, activation):
    model = NeuralNetwork([30, 16, 8, 10], activation=activation, dtype=dtype, seed=5, dropout=0.5)
    X = rng.random((37, 30))
    acts = A.hidden_activations(model, X, batch_size=10)   # chunks of 10, 10, 10, 7
    ref, _ = numpy_forward(model, X)
    assert [a.shape for a in acts] == [(37, 16), (37, 8)]
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for a, r in zip(acts, ref):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol)  # dropout is off (training=False)


def _constructed_relu_net():
    """[4, 5, 3, 3] relu net on inputs in [0, 1] whose dead units are known by construction.

    Layer 1: unit 1 has bias -1000 (dead); unit 3 is active only when x0 > 0.8 (not dead,
    but zero on most inputs);
    the others have bias +10 and small weights (always active). Layer 2: unit 2 has bias -1000.
    """
    net = NeuralNetwork([4, 5, 3, 3], dtype=np.float64, seed=0)
    net.weights[0][:] = 0.1
    net.biases[0][:] = 10.0
    net.biases[0][1] = -1000.0
    net.weights[0][:, 3] = [1.0, 0.0, 0.0, 0.0]
    net.biases[0][3] = -0.8
    net.weights[1][:] = 0.05
    net.biases[1][:] = 1.0
    net.biases[1][2] = -1000.0
    return net


def test_dead_relu_units_on_a_constructed_network(rng):
    net = _constructed_relu_net()
    X = rng.random((200, 4))
    y = rng.integers(0, 3, 200)
    y[y == 1] = 0  # class 1 absent: its mean row must be NaN, not 0
    pat = A.activation_patterns(net, X, y)
    l1, l2 = pat["layers"]
    np.testing.assert_array_equal(l1["inactive_units"], [False, True, False, False, False])
    np.testing.assert_array_equal(l2["inactive_units"], [False, False, True])
    assert l1["inactive_kind"] == "dead" and l1["dead_fraction"] == pytest.approx(0.2)
    assert l2["dead_fraction"] == pytest.approx(1 / 3) and "saturated_fraction" not in l1
    acts, _ = numpy_forward(net, X)
    assert l1["zero_fraction"] == pytest.approx(np.mean(acts[0] == 0))
    # the dead unit's zeros plus unit 3's zeros (x0 <= 0.8), over 5 units
    assert l1["zero_fraction"] == pytest.approx((1 + np.mean(X[:, 0] <= 0.8)) / 5)
    for layer, a in zip(pat["layers"], acts):
        for c in (0, 2):
            np.testing.assert_allclose(layer["mean_per_class"][c], a[y == c].mean(axis=0))
        assert np.isnan(layer["mean_per_class"][1]).all()
        np.testing.assert_allclose(layer["mean"], a.mean(axis=0))
    np.testing.assert_array_equal(pat["class_counts"], np.bincount(y, minlength=3))


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_saturated_units_for_tanh_and_sigmoid(rng, activation):
    net = NeuralNetwork([4, 4, 3], activation=activation, dtype=np.float64, seed=0)
    net.weights[0][:] = rng.normal(0, 0.3, (4, 4))
    net.biases[0][:] = 0.0
    net.biases[0][0] = 50.0    # saturated high
    net.biases[0][2] = -50.0   # saturated low (tanh -1, sigmoid 0)
    X = rng.random((300, 4))
    layer = A.activation_patterns(net, X, rng.integers(0, 3, 300))["layers"][0]
    assert layer["inactive_kind"] == "saturated" and "dead_fraction" not in layer
    np.testing.assert_array_equal(layer["inactive_units"], [True, False, True, False])
    assert layer["saturated_fraction"] == 0.5 and "zero_fraction" not in layer


def test_activation_pattern_checks(rng):
    net = NeuralNetwork([4, 3, 2], seed=0)
    with pytest.raises(ValueError, match=r"y must be an integer class label or 5"):
        A.activation_patterns(net, rng.random((5, 4)), np.zeros(4, np.int64))


# --------------------------------------------------------------------------- plots


def _assert_png(path):
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000
    assert sorted(os.listdir(Path(path).parent)) == [Path(path).name]  # no temp files left


def test_plot_activation_patterns(tmp_path, rng):
    net = _constructed_relu_net()
    pat = A.activation_patterns(net, rng.random((100, 4)), rng.integers(0, 3, 100))
    out = tmp_path / "a" / "patterns.png"
    assert A.plot_activation_patterns(pat, out) == out
    _assert_png(out)
    with pytest.raises(ValueError, match="activation_patterns"):
        A.plot_activation_patterns({"nope": 1}, tmp_path / "x.png")


def test_plot_saliency(tmp_path, rng):
    imgs = rng.integers(0, 256, (3, 28, 28)).astype(np.uint8)
    sal = rng.normal(size=(3, 784))
    out = tmp_path / "s" / "sal.png"
    A.plot_saliency(imgs, sal, np.array([1, 2, 3]), np.array([1, 2, 4]), out, sal_true=-sal)
    _assert_png(out)
    with pytest.raises(ValueError, match=r"sal must have one map per image \(3\)"):
        A.plot_saliency(imgs, sal[:2], np.array([1, 2, 3]), np.array([1, 2, 4]), tmp_path / "y.png")


# --------------------------------------------------------------------------- CLI


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def assert_clean_failure(proc, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for frag in fragments:
        assert frag in lines[0], lines[0]


def test_cli_writes_figures_and_stats(tmp_path):
    from data import load_mnist, preprocess

    model_path = tmp_path / "tiny.npz"
    net = NeuralNetwork([784, 16, 10], seed=3)
    net.biases[0][5] = -1e3   # one dead unit for sure
    net.save(model_path)
    plots, results = tmp_path / "plots", tmp_path / "results"
    proc = run_cli("--model", model_path, "--plots-dir", plots, "--results-dir", results,
                   "--subset", 300, "--n-examples", 3, "--quiet")
    assert proc.returncode == 0, proc.stderr
    for name in ("activation_patterns.png", "saliency_correct.png", "saliency_misclassified.png"):
        assert (plots / name).read_bytes()[:8] == PNG_MAGIC
    stats = json.loads((results / "activation_stats.json").read_text())
    # cross-check against the library on the same 300 test images
    _, (x, y) = load_mnist(progress=False)
    X, y = preprocess(x[:300]), y[:300].astype(np.int64)
    layer = A.activation_patterns(net, X, y)["layers"][0]
    assert stats["n_images"] == 300 and stats["activation"] == "relu"
    assert stats["layers"][0]["dead_fraction"] == layer["dead_fraction"] >= 1 / 16
    assert stats["layers"][0]["dead_units"] == np.flatnonzero(layer["inactive_units"]).tolist()
    assert 5 in stats["layers"][0]["dead_units"]
    assert stats["test_accuracy"] == pytest.approx(np.mean(net.predict(X) == y))
    assert len(stats["saliency"]["correct_examples"]) == 3
    assert "dead" in proc.stdout


def test_cli_missing_model(tmp_path):
    proc = run_cli("--model", tmp_path / "nope.npz", "--plots-dir", tmp_path / "p",
                   "--results-dir", tmp_path / "r")
    assert_clean_failure(proc, "nope.npz", "does not exist")
    assert not (tmp_path / "p").exists() and not (tmp_path / "r").exists()


def test_cli_corrupt_and_wrongly_shaped_models(tmp_path):
    bad = tmp_path / "corrupt.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(2048))
    assert_clean_failure(run_cli("--model", bad, "--plots-dir", tmp_path / "p", "--results-dir", tmp_path / "r"), "corrupt.npz")
    small = tmp_path / "small.npz"
    NeuralNetwork([10, 4, 10]).save(small)
    assert_clean_failure(run_cli("--model", small, "--plots-dir", tmp_path / "p", "--results-dir", tmp_path / "r"), "784 inputs")
    assert not (tmp_path / "p").exists()


def test_cli_bad_option():
    assert_clean_failure(run_cli("--subset", "0"), "--subset")
