"""The optimised kernels (kernels/fast.py) and the compiled epoch (kernels/epoch.py).

Each fast kernel against the plain kernel it replaces and against NumPy, at shapes that exercise
every edge: batch 1, odd sizes, fewer than 16 columns (padded panel), a column count that is
not a multiple of 16 (shifted last panel), row counts that are not multiples of 4 (clamped last
tile), and the real layer shapes (large enough to run on several threads); in float32 (held to
rigorous rounding bounds) and float64. Then the compiled epoch against the readable per-batch
Python loop (`train_epoch_reference`): the same weights, optimizer state, counters and losses,
to float64 rounding in float64, and to float32 tolerance in float32. Finally determinism: same
seed, same weights bit for bit, also across thread counts.
"""
import numba
import numpy as np
import pytest

import kernels as K
from conftest import assert_within_bound, dot_error_bound
from kernels import fast as F
from network.model import NeuralNetwork

DTYPES = [np.float32, np.float64]
# (N, K, M) of out = A @ B with A (N,K), B (K,M): every edge case plus the network's layers;
# 64x784x128 and 65x333x50 are big enough (2 MFLOP) to be split over threads, the latter ragged.
SHAPES = [(1, 1, 1), (1, 784, 128), (3, 7, 5), (5, 3, 16), (7, 33, 17), (65, 33, 47),
          (64, 64, 10), (64, 128, 64), (64, 784, 128), (33, 300, 70), (65, 333, 50)]
IDS = ["x".join(map(str, s)) for s in SHAPES]
ACTS = {"relu": F.ACT_RELU, "tanh": F.ACT_TANH, "sigmoid": F.ACT_SIGMOID}


def randn(rng, shape, dtype, scale=1.0):
    return np.ascontiguousarray(rng.standard_normal(shape) * scale, dtype=dtype)


def garbage(shape, dtype):
    """Outputs start as NaN, so an entry a kernel forgets to write shows up."""
    return np.full(shape, np.nan, dtype=dtype)


def exact(a):
    return a.astype(np.float64)


# ----------------------------------------------------------------------------------- products
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_matmul_nn_fast(rng, shape, dtype):
    N, Kd, M = shape
    A, B = randn(rng, (N, Kd), dtype), randn(rng, (Kd, M), dtype)
    out, plain = garbage((N, M), dtype), garbage((N, M), dtype)
    F.matmul_nn_fast(A, B, out)
    K.matmul_nn(A, B, plain)
    bound = dot_error_bound(A, B, dtype)
    assert_within_bound(out, exact(A) @ exact(B), bound, "matmul_nn_fast vs NumPy")
    assert_within_bound(out, plain, 2 * bound, "matmul_nn_fast vs matmul_nn")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_matmul_tn_fast(rng, shape, dtype):
    """out = A.T @ B with A (N,K), B (N,M): the weight-gradient layout, summed over N."""
    N, Kd, M = shape
    A, B = randn(rng, (N, Kd), dtype), randn(rng, (N, M), dtype)
    out, plain = garbage((Kd, M), dtype), garbage((Kd, M), dtype)
    F.matmul_tn_fast(A, B, out)
    K.matmul_tn(A, B, plain)
    AT = np.ascontiguousarray(A.T)
    bound = dot_error_bound(AT, B, dtype)
    assert_within_bound(out, exact(AT) @ exact(B), bound, "matmul_tn_fast vs NumPy")
    assert_within_bound(out, plain, 2 * bound, "matmul_tn_fast vs matmul_tn")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_matmul_nt_fast(rng, shape, dtype):
    """out = A @ B.T with A (N,K), B (M,K): the input-gradient layout."""
    N, Kd, M = shape
    A, B = randn(rng, (N, Kd), dtype), randn(rng, (M, Kd), dtype)
    out, plain = garbage((N, M), dtype), garbage((N, M), dtype)
    F.matmul_nt_fast(A, B, out)
    K.matmul_nt(A, B, plain)
    BT = np.ascontiguousarray(B.T)
    bound = dot_error_bound(A, BT, dtype)
    assert_within_bound(out, exact(A) @ exact(BT), bound, "matmul_nt_fast vs NumPy")
    assert_within_bound(out, plain, 2 * bound, "matmul_nt_fast vs matmul_nt")


def test_blocks_write_only_their_own_rows_and_columns(rng):
    """A block call must leave everything outside [i0, i1) x [j0, j1) untouched, also when its
    last panel is shifted left over columns that belong to the previous block."""
    A, B = randn(rng, (11, 9), np.float32), randn(rng, (9, 37), np.float32)
    out = garbage((11, 37), np.float32)
    F.nn_block(A, B, out, 2, 9, 21, 37)     # 16 columns from 21: the panel is 21..36
    ref = exact(A) @ exact(B)
    inside = np.zeros(out.shape, bool)
    inside[2:9, 21:37] = True
    assert np.isnan(out[~inside]).all()
    assert_within_bound(out[inside], ref[inside], dot_error_bound(A, B, np.float32)[inside])


def test_a_wrong_product_fails_the_bound(rng):
    """The bound the products are held to is tight enough to catch a single wrong term."""
    A, B = randn(rng, (8, 50), np.float32), randn(rng, (50, 20), np.float32)
    out = garbage((8, 20), np.float32)
    F.matmul_nn_fast(A, B, out)
    out[3, 7] += A[3, 49] * B[49, 7]        # as if one product had been added twice
    with pytest.raises(AssertionError, match="1 of 160"):
        assert_within_bound(out, exact(A) @ exact(B), dot_error_bound(A, B, np.float32))


# ------------------------------------------------------------------------------ fused kernels
@pytest.mark.parametrize("p_drop", [0.0, 0.3])
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("shape", [(1, 5, 3), (7, 33, 17), (64, 784, 128)], ids=str)
def test_linear_act_forward_equals_plain_kernels(rng, shape, act, p_drop):
    """Z = H @ W + b, A = f(Z), D = A * mask: as linear_forward, the activation, dropout_forward."""
    N, Kd, M = shape
    dt = np.float64
    H, W, b = randn(rng, (N, Kd), dt), randn(rng, (Kd, M), dt, 0.2), randn(rng, M, dt)
    seed = np.uint64((7 << 32) | 3)
    Z, A, mask, D = (garbage((N, M), dt) for _ in range(4))
    F.linear_act_forward(H, np.ascontiguousarray(W.T), b, ACTS[act], Z, A, p_drop, seed, mask, D)
    Zr, Ar = garbage((N, M), dt), garbage((N, M), dt)
    K.linear_forward(H, W, b, Zr)
    K.ACTIVATIONS[act][0](Zr, Ar)
    np.testing.assert_allclose(Z, Zr, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(A, Ar, rtol=1e-12, atol=1e-12)
    if p_drop:
        mr, Dr = garbage((N, M), dt), garbage((N, M), dt)
        K.dropout_forward(A, p_drop, int(seed), mr, Dr)
        np.testing.assert_array_equal(mask, mr)
        np.testing.assert_allclose(D, Dr, rtol=1e-12, atol=1e-12)
    else:
        assert np.isnan(mask).all() and np.isnan(D).all()


def test_linear_act_forward_output_layer_leaves_activation_alone(rng):
    H, W, b = randn(rng, (5, 6), np.float32), randn(rng, (6, 10), np.float32), randn(rng, 10, np.float32)
    Z, A = garbage((5, 10), np.float32), garbage((5, 10), np.float32)
    F.linear_act_forward(H, np.ascontiguousarray(W.T), b, F.ACT_NONE, Z, A, 0.0, np.uint64(0), A, A)
    bound = dot_error_bound(H, W, np.float32)
    assert_within_bound(Z, exact(H) @ exact(W) + b, bound)
    assert np.isnan(A).all()


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("shape", [(1, 3, 2), (9, 17, 40), (64, 128, 784)], ids=str)
def test_linear_input_grad_equals_plain_kernels(rng, shape, act, use_mask):
    """dH = f'(.) * mask * (dZ @ W.T): matmul_nt, dropout_backward, then the activation backward."""
    N, M, Kd = shape
    dt = np.float64
    dZ, W = randn(rng, (N, M), dt), randn(rng, (Kd, M), dt)
    z = randn(rng, (N, Kd), dt)
    a = np.empty_like(z)
    K.ACTIVATIONS[act][0](z, a)
    saved = a if K.BACKWARD_FROM_OUTPUT[act] else z
    mask = np.where(rng.random((N, Kd)) < 0.3, 0.0, 1 / 0.7)
    dH = garbage((N, Kd), dt)
    F.linear_input_grad(dZ, np.ascontiguousarray(W.T), saved, ACTS[act], mask, use_mask, dH)
    ref = garbage((N, Kd), dt)
    K.matmul_nt(dZ, W, ref)
    if use_mask:
        K.dropout_backward(ref, mask, ref)
    K.ACTIVATIONS[act][1](saved, ref, ref)
    np.testing.assert_allclose(dH, ref, rtol=1e-12, atol=1e-12)


def _plain_step(opt, p, g, s1, s2, lr, l2, t):
    if opt == "sgd":
        K.sgd_update(p, g, lr, l2)
    elif opt == "momentum":
        K.momentum_update(p, g, s1, lr, 0.9, l2)
    else:
        K.adam_update(p, g, s1, s2, lr, 0.9, 0.999, 1e-8, t, l2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("shape", [(1, 3, 2), (13, 21, 10), (64, 784, 128), (64, 10, 40)], ids=str)
def test_weight_grad_step_equals_matmul_tn_then_update(rng, shape, opt, dtype):
    """dW.T = dZ.T @ H, then the optimizer step on W.T (all held transposed), over three steps."""
    N, Kd, M = shape
    H, dZ = randn(rng, (N, Kd), dtype), randn(rng, (N, M), dtype, 0.1)
    W = randn(rng, (Kd, M), dtype)
    S1, S2 = randn(rng, (Kd, M), dtype, 0.01), np.abs(randn(rng, (Kd, M), dtype, 0.01))
    WT, S1T, S2T = (np.ascontiguousarray(a.T) for a in (W, S1, S2))
    dWT, dWr = garbage((M, Kd), dtype), garbage((Kd, M), dtype)
    for t in (1, 2, 3):
        F.weight_grad_step(dZ, H, dWT, WT, S1T, S2T, F.OPT_CODES[opt], 0.01, 1e-3, 0.9, 0.9, 0.999,
                           1e-8, t)
        K.matmul_tn(H, dZ, dWr)
        _plain_step(opt, W.reshape(-1), dWr.reshape(-1), S1.reshape(-1), S2.reshape(-1),
                    0.01, 1e-3, t)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dWT.T, dWr, **tol)
    np.testing.assert_allclose(WT.T, W, **tol)
    if opt != "sgd":
        np.testing.assert_allclose(S1T.T, S1, **tol)
    if opt == "adam":
        np.testing.assert_allclose(S2T.T, S2, **tol)


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
def test_bias_grad_step_equals_bias_backward_then_update(rng, opt):
    dZ = randn(rng, (9, 7), np.float64)
    b, s1, s2 = randn(rng, 7, np.float64), randn(rng, 7, np.float64, 0.01), np.full(7, 1e-4)
    br, s1r, s2r = b.copy(), s1.copy(), s2.copy()
    db, dbr = garbage(7, np.float64), garbage(7, np.float64)
    F.bias_grad_step(dZ, db, b, s1, s2, F.OPT_CODES[opt], 0.05, 0.9, 0.9, 0.999, 1e-8, 4)
    K.bias_backward(dZ, dbr)
    _plain_step(opt, br, dbr, s1r, s2r, 0.05, 0.0, 4)
    np.testing.assert_allclose(db, dbr, rtol=1e-13)
    np.testing.assert_allclose(b, br, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s1, s1r, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_xent_grad_equals_forward_then_backward(rng, dtype):
    Z = randn(rng, (33, 10), dtype, 5.0)
    Z[0] = 1000.0                                   # overflow-prone row
    y = rng.integers(0, 10, 33)
    dZ = garbage(Z.shape, dtype)
    loss = F.softmax_xent_grad(Z, y, dZ)
    p, dZr = garbage(Z.shape, dtype), garbage(Z.shape, dtype)
    loss_r = K.softmax_cross_entropy_forward(Z, y, p)
    K.softmax_cross_entropy_backward(p, y, dZr)
    assert loss == loss_r                           # the same arithmetic, so the same bits
    np.testing.assert_array_equal(dZ, dZr)


@pytest.mark.parametrize("use_shift", [False, True])
def test_gather_rows_equals_fancy_indexing_and_shift_images(rng, use_shift):
    X = rng.random((50, 784)).astype(np.float32)
    idx = rng.permutation(50)[:37]
    sr, sc = rng.integers(-3, 4, 50), rng.integers(-3, 4, 50)
    out = garbage((37, 784), np.float32)
    F.gather_rows(X, idx, sr, sc, use_shift, out)
    ref = X[idx]
    if use_shift:
        ref = garbage((37, 784), np.float32)
        K.shift_images(X[idx], sr[idx], sc[idx], ref)
    np.testing.assert_array_equal(out, ref)


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


@pytest.mark.parametrize("call", [
    lambda z: F.matmul_nn_fast(z((4, 5)), z((6, 7)), z((4, 7))),
    lambda z: F.matmul_tn_fast(z((4, 5)), z((4, 7)), z((7, 5))),
    lambda z: F.matmul_nt_fast(z((4, 5)), z((7, 6)), z((4, 7))),
    # the weights passed as stored, W (K,M), where W.T (M,K) is expected
    lambda z: F.linear_act_forward(z((4, 5)), z((5, 7)), z(7), F.ACT_RELU, z((4, 7)), z((4, 7)),
                                   0.0, np.uint64(0), z((4, 7)), z((4, 7))),
    lambda z: F.linear_input_grad(z((4, 7)), z((5, 7)), z((4, 5)), F.ACT_RELU, z((4, 5)), False,
                                  z((4, 5))),
    lambda z: F.weight_grad_step(z((4, 7)), z((4, 5)), z((7, 5)), z((5, 7)), z((7, 5)), z((7, 5)),
                                 F.OPT_SGD, 0.1, 0.0, 0.9, 0.9, 0.999, 1e-8, 1),
])
def test_mismatched_shapes_raise_instead_of_writing_out_of_bounds(call):
    with pytest.raises(ValueError, match="shape"):
        call(lambda shape: np.zeros(shape, np.float32))


# ------------------------------------------------------------------------------ thread guard
def test_thread_guard_moves_to_one_thread_under_contention_and_back():
    from kernels.epoch import ThreadGuard
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
    from kernels.epoch import ThreadGuard
    g = ThreadGuard()
    if g.n_max == 1:
        pytest.skip("one thread only")
    for per_batch in [1.0, 2.0, 4.0]:    # slower on all threads, but one thread is slower still
        g._observe(per_batch)
    assert g.current == g.n_max and g.best == 2.0


def test_switching_threads_mid_epoch_changes_nothing(rng, monkeypatch):
    """Chunks of 2 batches, and a guard that always finds all threads slow: the epoch alternates
    thread counts chunk by chunk and still ends bit-identical to an undisturbed run."""
    from kernels import epoch as epoch_mod
    X, y = _data(rng, 640)
    a = NeuralNetwork([784, 128, 64, 10], seed=2, optimizer="adam", dropout=0.1)
    b = NeuralNetwork([784, 128, 64, 10], seed=2, optimizer="adam", dropout=0.1)
    la = a.train_epoch(X, y, 64, 1e-3, augment_shift=1)
    monkeypatch.setattr(epoch_mod.ThreadGuard, "CHUNK", 2)
    monkeypatch.setattr(epoch_mod.ThreadGuard, "SLOW", 0.0)
    lb = b.train_epoch(X, y, 64, 1e-3, augment_shift=1)
    assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS   # restored afterwards
    assert la == lb
    for wa, wb in zip(a.weights + a.biases, b.weights + b.biases):
        np.testing.assert_array_equal(wa, wb)
