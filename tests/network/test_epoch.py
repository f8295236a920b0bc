"""The compiled epoch (kernels/epoch.py, driven by network/engine.py) against the readable
per-batch Python loop (`train_epoch_reference`): the same weights, optimizer state, counters and
losses, to float64 rounding and to float32 tolerance. Same seed, same weights bit for bit, also
across thread counts and thread switches mid-epoch.
"""
import numba
import numpy as np
import pytest

from network.engine import ThreadGuard
from network.model import NeuralNetwork


# --------------------------------------------------------------------- compiled epoch vs loop
def _data(rng, n, n_in=784, n_out=10, dtype=np.float32):
    return rng.random((n, n_in)).astype(dtype), rng.integers(0, n_out, n)


def _pair(**kw):
    return NeuralNetwork(seed=5, **kw), NeuralNetwork(seed=5, **kw)


def _assert_same_state(a, b, rtol, atol):
    for name in ("weights", "biases", "dweights", "dbiases"):
        for i, (x, r) in enumerate(zip(getattr(a, name), getattr(b, name))):
            np.testing.assert_allclose(x, r, rtol=rtol, atol=atol, err_msg=f"{name}[{i}]")
    for key in a.opt_state:
        for i, (x, r) in enumerate(zip(a.opt_state[key], b.opt_state[key])):
            np.testing.assert_allclose(x, r, rtol=rtol, atol=atol, err_msg=f"{key}[{i}]")
    assert (a.step, a.dropout_calls) == (b.step, b.dropout_calls)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    np.testing.assert_allclose(a.loss, b.loss, rtol=rtol)


CONFIGS = [
    dict(layer_sizes=[784, 128, 64, 10]),
    dict(layer_sizes=[784, 32, 20, 10], optimizer="adam", dropout=0.1, l2=1e-3),
    dict(layer_sizes=[784, 24, 10], optimizer="momentum", activation="tanh", l2=1e-4),
    dict(layer_sizes=[784, 17, 9, 5, 10], optimizer="adam", activation="sigmoid", dropout=0.25),
    dict(layer_sizes=[784, 10]),
]


@pytest.mark.parametrize("shift", [0, 2])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(map(str, c["layer_sizes"])))
def test_compiled_epoch_equals_reference_loop_float64(rng, cfg, shift):
    """Two epochs, the last batch partial, a per-batch learning-rate schedule: the compiled epoch
    and the per-batch Python loop agree to float64 rounding in everything they leave behind."""
    X, y = _data(rng, 150, dtype=np.float64)
    fast, ref = _pair(dtype=np.float64, **cfg)
    for epoch in range(2):
        lrs = np.linspace(0.05, 0.01, 5) if cfg.get("optimizer") != "adam" else np.full(5, 2e-3)
        lf = fast.train_epoch(X, y, batch_size=32, learning_rate=lrs, augment_shift=shift)
        lr_ = ref.train_epoch_reference(X, y, batch_size=32, learning_rate=lrs, augment_shift=shift)
        np.testing.assert_allclose(lf, lr_, rtol=1e-12)
    _assert_same_state(fast, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cfg", [dict(optimizer="sgd"), dict(optimizer="momentum", l2=1e-4)])
def test_compiled_epoch_equals_reference_loop_float32(rng, cfg):
    """In float32 the sums are taken in another order, so agreement is to float32 tolerance.
    (Adam is checked in float64 only: it divides by sqrt(v), so a gradient entry that is 0 up to
    rounding can turn into a full step of either sign.)"""
    X, y = _data(rng, 300)
    fast, ref = _pair(layer_sizes=[784, 128, 64, 10], **cfg)
    lf = fast.train_epoch(X, y, batch_size=64, learning_rate=0.05, augment_shift=1)
    lr_ = ref.train_epoch_reference(X, y, batch_size=64, learning_rate=0.05, augment_shift=1)
    np.testing.assert_allclose(lf, lr_, rtol=1e-5)
    _assert_same_state(fast, ref, rtol=2e-3, atol=2e-5)


def test_reference_comparison_can_fail(rng):
    """The float64 comparison above is not vacuous: one different learning rate shows up."""
    X, y = _data(rng, 96, dtype=np.float64)
    fast, ref = _pair(layer_sizes=[784, 16, 10], dtype=np.float64)
    fast.train_epoch(X, y, batch_size=32, learning_rate=[0.05, 0.05, 0.05])
    ref.train_epoch_reference(X, y, batch_size=32, learning_rate=[0.05, 0.05, 0.0500001])
    with pytest.raises(AssertionError):
        _assert_same_state(fast, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 7, 500])
def test_compiled_epoch_odd_batch_sizes(rng, batch_size):
    X, y = _data(rng, 40, dtype=np.float64)
    fast, ref = _pair(layer_sizes=[784, 20, 10], dtype=np.float64, optimizer="adam", dropout=0.2)
    lf = fast.train_epoch(X, y, batch_size=batch_size, learning_rate=1e-3)
    lr_ = ref.train_epoch_reference(X, y, batch_size=batch_size, learning_rate=1e-3)
    np.testing.assert_allclose(lf, lr_, rtol=1e-12)
    _assert_same_state(fast, ref, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- determinism
def _train(X, y, threads):
    old = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        net = NeuralNetwork([784, 128, 64, 10], seed=11, optimizer="adam", dropout=0.1)
        losses = [net.train_epoch(X, y, 64, 1e-3, augment_shift=2) for _ in range(2)]
    finally:
        numba.set_num_threads(old)
    return net, losses


def test_same_seed_gives_bit_identical_weights_across_runs_and_thread_counts(rng):
    """Every output is summed by one thread in a fixed order, so neither a second run nor a
    different number of threads changes a single bit."""
    X, y = _data(rng, 640)
    a, la = _train(X, y, numba.config.NUMBA_NUM_THREADS)
    b, lb = _train(X, y, numba.config.NUMBA_NUM_THREADS)
    c, lc = _train(X, y, 1)
    assert la == lb == lc
    for wa, wb, wc in zip(a.weights + a.biases, b.weights + b.biases, c.weights + c.biases):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(wa, wc)


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize("kwargs,word", [
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=2.5), "batch_size"),
    (dict(learning_rate=-0.1), "learning_rate"),
    (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(learning_rate=np.full(3, 0.1)), "per mini-batch"),
    (dict(augment_shift=-1), "augment_shift"),
    (dict(augment_shift=28), "augment_shift"),
])
@pytest.mark.parametrize("fast", [True, False])
def test_train_epoch_rejects_bad_arguments(rng, kwargs, word, fast):
    X, y = _data(rng, 100)
    net = NeuralNetwork([784, 8, 10])
    w0 = net.weights[0].copy()
    with pytest.raises(ValueError, match=word):
        net.train_epoch(X, y, **{"batch_size": 32, **kwargs}, fast=fast)
    np.testing.assert_array_equal(net.weights[0], w0)


def test_shifting_needs_28x28_images(rng):
    X, y = _data(rng, 10, n_in=20)
    with pytest.raises(ValueError, match="28x28"):
        NeuralNetwork([20, 5, 10]).train_epoch(X, y, augment_shift=1)


# ------------------------------------------------------------------------------ thread guard
def test_thread_guard_moves_to_one_thread_under_contention_and_back():
    g = ThreadGuard()
    if g.n_max == 1:
        pytest.skip("one thread only")
    seen = []
    for per_batch in [1.0, 1.0, 3.0,     # quiet, quiet, contended on all threads
                      2.0,               # the probe on one thread is faster: stay there
                      2.0, 2.0,          # backoff = 2 more chunks on one thread
                      3.0,               # all threads again: still contended -> probe
                      2.0,               # the probe is faster again
                      2.0, 2.0, 2.0, 2.0,  # so 4 more chunks on one thread (backoff doubled)
                      1.0]:              # all threads again, quiet
        seen.append(g.current)
        g._observe(per_batch)
    n = g.n_max
    assert seen == [n, n, n, 1, 1, 1, n, 1, 1, 1, 1, 1, n]
    assert g.current == n and g.close() == 1.0


def test_thread_guard_accepts_a_slower_machine():
    g = ThreadGuard()
    if g.n_max == 1:
        pytest.skip("one thread only")
    for per_batch in [1.0, 2.0, 4.0]:    # slower on all threads, but one thread is slower still
        g._observe(per_batch)
    assert g.current == g.n_max and g.best == 2.0


def test_switching_threads_mid_epoch_changes_nothing(rng, monkeypatch):
    """Chunks of 2 batches, and a guard that always finds all threads slow: the epoch alternates
    thread counts chunk by chunk and still ends bit-identical to an undisturbed run in the same
    chunks (the mean loss is summed chunk by chunk, so its last bit may depend on the chunk size,
    not on the threads)."""
    X, y = _data(rng, 640)
    a = NeuralNetwork([784, 128, 64, 10], seed=2, optimizer="adam", dropout=0.1)
    b = NeuralNetwork([784, 128, 64, 10], seed=2, optimizer="adam", dropout=0.1)
    monkeypatch.setattr(ThreadGuard, "CHUNK", 2)
    monkeypatch.setattr(ThreadGuard, "SLOW", float("inf"))   # never slow: all threads throughout
    la = a.train_epoch(X, y, 64, 1e-3, augment_shift=1)
    monkeypatch.setattr(ThreadGuard, "SLOW", 0.0)
    lb = b.train_epoch(X, y, 64, 1e-3, augment_shift=1)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS   # restored afterwards
    assert la == lb
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(wa, wb)
