"""One parameter layout: the network's per-layer arrays are views into the flat arrays the
compiled epoch trains on, nothing is packed or copied per epoch, and every call into the kernels
passes all its arguments (an omitted default sends Numba's dispatcher down its slow path)."""
import inspect
import os

import numpy as np
import pytest

import kernels as K
from network.model import NeuralNetwork

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_weights_are_views_of_the_flat_arrays():
    net = NeuralNetwork([784, 12, 7, 10], seed=3)
    P = net.params.flat
    for l, (n_in, n_out) in enumerate([(784, 12), (12, 7), (7, 10)]):
        assert net.weights[l].shape == (n_in, n_out) and net.biases[l].shape == (n_out,)
        for arr, flat in ((net.weights[l], P.w), (net.dweights[l], P.dw), (net.biases[l], P.b),
                          (net.dbiases[l], P.db)):
            assert np.shares_memory(arr, flat)
        assert net.params.weights_t(l).flags.c_contiguous      # stored (n_out, n_in), one row per unit
    net.weights[1][2, 3] = 42.0                                 # writing into a view ...
    off = net.params.w_off[1]
    assert P.w[off + 3 * 12 + 2] == 42.0                        # ... writes W.T's row 3, column 2
    net.weights[0] = np.ones((784, 12))                         # item assignment copies in
    assert np.all(P.w[:784 * 12] == 1.0) and np.shares_memory(net.weights[0], P.w)
    with pytest.raises(ValueError, match=r"shape \(12, 7\)"):
        net.weights[1] = np.ones((7, 12))


def test_optimizer_state_views_share_the_flat_state():
    net = NeuralNetwork([20, 6, 3], optimizer="adam")
    m, v = net.opt_state["m"], net.opt_state["v"]
    assert len(m) == len(v) == 4                                # weights, then biases
    assert np.shares_memory(m[0], net.params.flat.s1w) and np.shares_memory(v[3], net.params.flat.s2b)
    assert NeuralNetwork([20, 6, 3], optimizer="sgd").opt_state == {}


@pytest.mark.parametrize("fast", [True, False])
def test_an_epoch_trains_the_arrays_in_place(rng, fast):
    """No per-epoch packing: the same buffers before and after, and the views see the update."""
    X, y = rng.random((96, 784)).astype(np.float32), rng.integers(0, 10, 96)
    net = NeuralNetwork([784, 16, 10], optimizer="momentum")
    buffers = [id(a) for a in net.params.flat]
    views = [id(w) for w in net.weights]
    w0 = net.weights[0].copy()
    net.train_epoch(X, y, batch_size=32, learning_rate=0.1, fast=fast)
    assert [id(a) for a in net.params.flat] == buffers and [id(w) for w in net.weights] == views
    assert not np.array_equal(net.weights[0], w0)
    assert np.any(net.opt_state["velocity"][0] != 0)


def test_a_model_file_written_before_the_flat_layout_loads_unchanged():
    """tests/network/fixtures/model_before_flat_layout.npz is models/best_model.npz as committed in
    9553f25, written by the per-layer-array code: the file layout did not change, so its arrays
    load into the views as they are and predict the same."""
    path = os.path.join(ROOT, "tests", "network", "fixtures", "model_before_flat_layout.npz")
    raw = np.load(path)
    net = NeuralNetwork.load(path)
    L = len(net.weights)
    for l in range(L):
        np.testing.assert_array_equal(net.weights[l], raw[f"W{l}"])
        np.testing.assert_array_equal(net.biases[l], raw[f"b{l}"])
    X = np.random.default_rng(0).random((50, 784)).astype(np.float32)
    h = X.astype(np.float64)
    for l in range(L):
        h = h @ raw[f"W{l}"] + raw[f"b{l}"]
        h = np.maximum(h, 0) if l < L - 1 else h
    np.testing.assert_array_equal(net.predict(X), np.argmax(h, axis=1))


# ----------------------------------------------------------- no omitted default arguments
def _spy_on_kernels(monkeypatch):
    calls = []
    for name in dir(K):
        f = getattr(K, name)
        if hasattr(f, "py_func"):
            n = len(inspect.signature(f.py_func).parameters)

            def spy(*args, _f=f, _n=n, _name=name, **kw):
                calls.append((_name, len(args) + len(kw), _n))
                return _f(*args, **kw)
            monkeypatch.setattr(K, name, spy)
    return calls


def test_no_kernel_call_omits_a_default_argument(rng, monkeypatch):
    """Every kernel call the network makes (training on both paths, inference, updates) passes
    every argument: an omitted default costs ~0.2 ms per call in Numba's dispatcher."""
    calls = _spy_on_kernels(monkeypatch)
    X, y = rng.random((70, 784)).astype(np.float32), rng.integers(0, 10, 70)
    for opt in ("sgd", "momentum", "adam"):
        net = NeuralNetwork([784, 16, 8, 10], optimizer=opt, dropout=0.1, activation="tanh")
        net.train_epoch(X, y, batch_size=32, learning_rate=0.01, augment_shift=1)
        net.train_epoch_reference(X, y, batch_size=32, learning_rate=0.01, augment_shift=1)
        net.evaluate(X, y)
        net.predict(X)
        net.forward(X)
    names = {c[0] for c in calls}
    assert {"train_epoch_compiled", "matmul_nn_fast", "bias_forward", "linear_forward", "linear_backward",
            "adam_update", "momentum_update", "sgd_update", "softmax_forward", "shift_images"} <= names
    short = [c for c in calls if c[1] != c[2]]
    assert not short, f"calls that leave defaults to Numba: {sorted(set(short))}"


def test_the_spy_notices_an_omitted_default(monkeypatch):
    calls = _spy_on_kernels(monkeypatch)
    K.bias_backward(np.ones((2, 3)), np.zeros(3))
    assert calls == [("bias_backward", 2, 2)]
    import numba

    @numba.njit
    def with_default(a, b=1):
        return a + b
    monkeypatch.setattr(K, "with_default", with_default, raising=False)
    calls2 = _spy_on_kernels(monkeypatch)
    K.with_default(1)
    assert calls2 == [("with_default", 1, 2)]
