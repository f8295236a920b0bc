"""The NumPy reference (profiling.numpy_reference.NumpyNetwork) matches the kernel-backed network
number for number: forward, gradients, every optimizer with L2 and dropout, and whole epochs."""
import numpy as np
import pytest

from network.model import NeuralNetwork
from profiling.numpy_reference import NumpyNetwork


def _data(n=40, d=20, c=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, c, n)



@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
@pytest.mark.parametrize("sizes", [[20, 16, 10], [20, 16, 12, 10]])
def test_reference_matches_network_float64(activation, sizes):
    X, y = _data()
    net = NeuralNetwork(sizes, activation=activation, seed=3, dtype=np.float64)
    ref = NumpyNetwork(sizes, activation=activation, seed=3, dtype=np.float64)
    for w, v in zip(net.weights, ref.weights):  # same seed -> same initial weights
        np.testing.assert_array_equal(w, v)
    np.testing.assert_allclose(ref.forward(X), net.forward(X), rtol=1e-12, atol=1e-15)
    for step in range(3):
        loss_net, loss_ref = net.backward(X, y), ref.backward(X, y)
        assert loss_ref == pytest.approx(loss_net, rel=1e-12)
        for g, h in zip(net.dweights + net.dbiases, ref.dweights + ref.dbiases):
            np.testing.assert_allclose(h, g, rtol=1e-10, atol=1e-14)
        net.update_weights(0.1)
        ref.update_weights(0.1)
    for w, v in zip(net.weights + net.biases, ref.weights + ref.biases):
        np.testing.assert_allclose(v, w, rtol=1e-10, atol=1e-14)
    assert not np.allclose(net.weights[0], NeuralNetwork(sizes, seed=3, dtype=np.float64).weights[0])


def test_reference_matches_network_float32():
    X, y = _data(n=64, d=784)
    net = NeuralNetwork([784, 128, 64, 10], seed=0)
    ref = NumpyNetwork.from_network(net)
    np.testing.assert_allclose(ref.forward(X), net.forward(X), rtol=1e-4, atol=1e-6)
    for _ in range(3):
        assert ref.backward(X, y) == pytest.approx(net.backward(X, y), rel=1e-5)
        net.update_weights(0.05)
        ref.update_weights(0.05)
    for w, v in zip(net.weights, ref.weights):
        assert v.dtype == np.float32
        np.testing.assert_allclose(v, w, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_reference_matches_optimizers_l2_and_dropout(optimizer):
    X, y = _data()
    kw = dict(activation="tanh", seed=5, dtype=np.float64, optimizer=optimizer, l2=1e-3, dropout=0.25)
    net, ref = NeuralNetwork([20, 16, 12, 10], **kw), NumpyNetwork([20, 16, 12, 10], **kw)
    for _ in range(4):
        assert ref.backward(X, y) == pytest.approx(net.backward(X, y), rel=1e-12)
        net.update_weights(0.01)
        ref.update_weights(0.01)
    for w, v in zip(net.weights + net.biases, ref.weights + ref.biases):
        np.testing.assert_allclose(v, w, rtol=1e-9, atol=1e-13)


def test_reference_train_epoch_matches_step_by_step_network():
    """NumpyNetwork.train_epoch shuffles like NeuralNetwork and ends at the same weights as the
    network's Python reference path (backward + update_weights per mini-batch)."""
    X, y = _data(n=100)
    net = NeuralNetwork([20, 16, 10], seed=2, dtype=np.float64)
    ref = NumpyNetwork.from_network(net)
    loss_ref = ref.train_epoch(X, y, batch_size=32, learning_rate=0.1)
    perm = np.random.default_rng([2, 1]).permutation(len(X))
    total = 0.0
    for s in range(0, len(X), 32):
        idx = perm[s:s + 32]
        total += net.backward(X[idx], y[idx]) * len(idx)
        net.update_weights(0.1)
    assert loss_ref == pytest.approx(total / len(X), rel=1e-12)
    for w, v in zip(net.weights, ref.weights):
        np.testing.assert_allclose(v, w, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="augment"):
        ref.train_epoch(X, y, augment_shift=1)


def test_reference_train_epoch_matches_compiled_train_epoch():
    X, y = _data(n=100)
    net = NeuralNetwork([20, 16, 12, 10], activation="sigmoid", seed=4, dtype=np.float64)
    ref = NumpyNetwork.from_network(net)
    assert ref.train_epoch(X, y, batch_size=16, learning_rate=0.2) == pytest.approx(
        net.train_epoch(X, y, batch_size=16, learning_rate=0.2), rel=1e-9)
    for w, v in zip(net.weights + net.biases, ref.weights + ref.biases):
        np.testing.assert_allclose(v, w, rtol=1e-9, atol=1e-12)
