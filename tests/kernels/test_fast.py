"""The optimised kernels (kernels/tiles.py, layers.py and the fused pieces), each against the
plain kernels kernels/pairs.py pairs it with.

Each fast kernel against the plain kernel it replaces and against NumPy, at shapes that exercise
every edge: batch 1, odd sizes, fewer columns than a tile (padded panel), a column count that is
not a multiple of the tile's (shifted last panel), row counts that are not multiples of the tile's
(clamped last tile), products large enough to pack their operands, and the real layer shapes (large enough to run on several threads); in float32 (held to
rigorous rounding bounds) and float64. The compiled epoch against the readable per-batch
Python loop lives in tests/network/test_epoch.py. The last section walks the table itself: every
row has a check here, and every optimised kernel has a row.
"""
import numba
import numpy as np
import pytest

import kernels as K
from kernels import runtime
from conftest import assert_within_bound, dot_error_bound
from kernels.pairs import NOT_PAIRED, PAIRS

# these tests call the kernels directly: flush on-disk caches a kernels/ edit made stale, as
# training and the benchmarks do before they start (kernels/runtime.py)
runtime.ensure_fresh_cache()

DTYPES = [np.float32, np.float64]
# (N, K, M) of out = A @ B with A (N,K), B (K,M): every edge case plus the network's layers;
# 64x128x64, 64x784x128, 33x300x70 and 65x333x50 are big enough (1 MFLOP) to be split over
# threads, the last two ragged.
SHAPES = [(1, 1, 1), (1, 784, 128), (3, 7, 5), (5, 3, 16), (7, 33, 17), (65, 33, 47),
          (64, 64, 10), (64, 128, 64), (64, 784, 128), (33, 300, 70), (65, 333, 50)]
IDS = ["x".join(map(str, s)) for s in SHAPES]
ACTS = {"relu": K.ACT_RELU, "tanh": K.ACT_TANH, "sigmoid": K.ACT_SIGMOID}


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
    K.matmul_nn_fast(A, B, out)
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
    K.matmul_tn_fast(A, B, out)
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
    K.matmul_nt_fast(A, B, out)
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
    K.nn_block(A, B, out, 2, 9, 21, 37)     # 16 columns from 21: the panel is 21..36
    ref = exact(A) @ exact(B)
    inside = np.zeros(out.shape, bool)
    inside[2:9, 21:37] = True
    assert np.isnan(out[~inside]).all()
    assert_within_bound(out[inside], ref[inside], dot_error_bound(A, B, np.float32)[inside])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cut", [0, 2], ids=["to-the-last-column", "inner-block"])
@pytest.mark.parametrize("shape", [(12, 9, 37), (64, 300, 1030), (5, 2, 70)], ids=str)
def test_packed_blocks_give_the_same_bits_and_stay_in_their_block(rng, shape, cut, dtype):
    """Packing only moves operands: nn_packed_block / tn_packed_block must equal nn_block /
    tn_block bit for bit, on a block with ragged rows (9 of them for N = 12: not a multiple of 4
    or 8) and a shifted last panel (or, cut = 2, an inner block ending inside a panel), and write
    nothing outside it."""
    N, Kd, M = shape
    i0, i1, j0, j1 = 2, N - 1, 3, M - cut
    inside = np.zeros((N, M), bool)
    inside[i0:i1, j0:j1] = True
    for block, packed_block, a_shape, left in (
            (K.nn_block, K.nn_packed_block, (N, Kd), lambda A: A),          # out = A @ B
            (K.tn_block, K.tn_packed_block, (Kd, N), lambda A: np.ascontiguousarray(A.T))):
        A, B = randn(rng, a_shape, dtype), randn(rng, (Kd, M), dtype)
        plain, packed = garbage((N, M), dtype), garbage((N, M), dtype)
        block(A, B, plain, i0, i1, j0, j1)
        packed_block(A, B, packed, i0, i1, j0, j1)
        np.testing.assert_array_equal(packed, plain)
        assert np.isnan(packed[~inside]).all()
        L = left(A)
        assert_within_bound(packed[inside], (exact(L) @ exact(B))[inside],
                            dot_error_bound(L, B, dtype)[inside])


@pytest.mark.parametrize("dtype", DTYPES)
def test_products_large_enough_to_pack_equal_the_unpacked_blocks(rng, dtype):
    """At 64 x 1024 x 600 (79 MFLOP) the threaded products pack their operands where this CPU
    does (kernels/cpu.py PACK_MIN_FLOP: float32 on AVX2) and split rows in ROW_PANEL tasks; the
    sums must still be nn_block's / tn_block's on one thread, bit for bit."""
    A = randn(rng, (64, 1024), dtype)
    B, Bt = randn(rng, (1024, 600), dtype), randn(rng, (64, 600), dtype)
    fast, block = garbage((64, 600), dtype), garbage((64, 600), dtype)
    K.matmul_nn_fast(A, B, fast)
    K.nn_block(A, B, block, 0, 64, 0, 600)
    np.testing.assert_array_equal(fast, block)
    fast, block = garbage((1024, 600), dtype), garbage((1024, 600), dtype)
    K.matmul_tn_fast(A, Bt, fast)
    K.tn_block(A, Bt, block, 0, 1024, 0, 600)
    np.testing.assert_array_equal(fast, block)
    assert_within_bound(fast, exact(A).T @ exact(Bt), dot_error_bound(np.ascontiguousarray(A.T), Bt, dtype))


def test_layers_large_enough_to_pack_give_the_same_bits_on_one_thread_and_on_all():
    """The fused layers at 64 x 1024 x 600, float32 (packed on AVX2): the input gradient and the
    weight gradient + SGD step equal the plain kernels to rounding, and give the same bits on one
    thread as on all of them."""
    rng = np.random.default_rng(3)
    dt = np.float32
    dZ, WT = randn(rng, (64, 1024), dt), randn(rng, (1024, 600), dt, 0.05)
    H, saved = randn(rng, (64, 600), dt), randn(rng, (64, 600), dt)
    runs = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        try:
            dH, dWT, W1 = garbage((64, 600), dt), garbage((1024, 600), dt), WT.copy()
            S1, S2 = np.zeros_like(WT), np.zeros_like(WT)
            K.linear_input_grad(dZ, WT, saved, ACTS["relu"], saved, False, dH)
            K.weight_grad_step(dZ, H, dWT, W1, S1, S2, K.OPT_CODES["sgd"], 0.01, 0.0, 0.9, 0.9,
                               0.999, 1e-8, 1)
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        runs.append((dH, dWT, W1))
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    dH, dWT, W1 = runs[0]
    ref = garbage((64, 600), dt)
    K.matmul_nn(dZ, WT, ref)
    K.relu_backward(saved, ref, ref)
    bound = dot_error_bound(dZ, WT, dt)
    assert_within_bound(dH, ref, 2 * bound)
    refW = garbage((600, 1024), dt)
    K.matmul_tn(H, dZ, refW)
    assert_within_bound(dWT, refW.T, 2 * dot_error_bound(np.ascontiguousarray(dZ.T), H, dt))
    np.testing.assert_allclose(W1, WT - 0.01 * dWT, rtol=1e-6, atol=1e-7)


def test_a_wrong_product_fails_the_bound(rng):
    """The bound the products are held to is tight enough to catch a single wrong term."""
    A, B = randn(rng, (8, 50), np.float32), randn(rng, (50, 20), np.float32)
    out = garbage((8, 20), np.float32)
    K.matmul_nn_fast(A, B, out)
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
    K.linear_act_forward(H, np.ascontiguousarray(W.T), b, ACTS[act], Z, A, p_drop, seed, mask, D)
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
    K.linear_act_forward(H, np.ascontiguousarray(W.T), b, K.ACT_NONE, Z, A, 0.0, np.uint64(0), A, A)
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
    K.linear_input_grad(dZ, np.ascontiguousarray(W.T), saved, ACTS[act], mask, use_mask, dH)
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
        K.weight_grad_step(dZ, H, dWT, WT, S1T, S2T, K.OPT_CODES[opt], 0.01, 1e-3, 0.9, 0.9, 0.999,
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
    K.bias_grad_step(dZ, db, b, s1, s2, K.OPT_CODES[opt], 0.05, 0.9, 0.9, 0.999, 1e-8, 4)
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
    loss = K.softmax_xent_grad(Z, y, dZ)
    p, dZr = garbage(Z.shape, dtype), garbage(Z.shape, dtype)
    loss_r = K.softmax_cross_entropy_forward(Z, y, p)
    K.softmax_cross_entropy_backward(p, y, dZr)
    assert loss == loss_r                           # the same arithmetic, so the same bits
    np.testing.assert_array_equal(dZ, dZr)


@pytest.mark.parametrize("rows", [37, 5], ids=["threaded", "one-thread"])
@pytest.mark.parametrize("use_shift", [False, True])
def test_gather_rows_equals_fancy_indexing_and_shift_images(rng, use_shift, rows):
    X = rng.random((50, 784)).astype(np.float32)
    idx = rng.permutation(50)[:rows]                # 37 x 784 rows: threaded; 5: one thread
    sr, sc = rng.integers(-3, 4, 50), rng.integers(-3, 4, 50)
    out = garbage((rows, 784), np.float32)
    K.gather_rows(X, idx, sr, sc, use_shift, out)
    ref = X[idx]
    if use_shift:
        ref = garbage((rows, 784), np.float32)
        K.shift_images(X[idx], sr[idx], sc[idx], ref)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("rows", [90, 6], ids=["threaded", "one-thread"])
@pytest.mark.parametrize("elastic", [False, True])
def test_gather_warp_equals_augment_images_on_the_gathered_rows(rng, elastic, rows, dtype=np.float32):
    from kernels.elastic import field_bank
    from kernels.warp import augment_images
    X = rng.random((120, 784)).astype(dtype)
    idx = rng.permutation(120)[:rows]                # 90 x 784 rows: threaded; 6: one thread
    fields = field_bank(3, 8 if elastic else 0)
    out = garbage((rows, 784), dtype)
    K.gather_warp(X, idx, np.uint64(11), np.int64(5000), 10.0, 0.1, 0.15, np.int64(2), fields, out)
    ref = garbage((rows, 784), dtype)
    augment_images(X[idx], np.uint64(11), 5000 + idx, 10.0, 0.1, 0.15, 2, fields, ref)
    np.testing.assert_array_equal(out, ref)
    assert not np.array_equal(out, X[idx])          # it did warp


@pytest.mark.parametrize("call", [
    lambda z: K.matmul_nn_fast(z((4, 5)), z((6, 7)), z((4, 7))),
    lambda z: K.matmul_tn_fast(z((4, 5)), z((4, 7)), z((7, 5))),
    lambda z: K.matmul_nt_fast(z((4, 5)), z((7, 6)), z((4, 7))),
    # the weights passed as stored, W (K,M), where W.T (M,K) is expected
    lambda z: K.linear_act_forward(z((4, 5)), z((5, 7)), z(7), K.ACT_RELU, z((4, 7)), z((4, 7)),
                                   0.0, np.uint64(0), z((4, 7)), z((4, 7))),
    lambda z: K.linear_input_grad(z((4, 7)), z((5, 7)), z((4, 5)), K.ACT_RELU, z((4, 5)), False,
                                  z((4, 5))),
    lambda z: K.weight_grad_step(z((4, 7)), z((4, 5)), z((7, 5)), z((5, 7)), z((7, 5)), z((7, 5)),
                                 K.OPT_SGD, 0.1, 0.0, 0.9, 0.9, 0.999, 1e-8, 1),
])
def test_mismatched_shapes_raise_instead_of_writing_out_of_bounds(call):
    with pytest.raises(ValueError, match="shape"):
        call(lambda shape: np.zeros(shape, np.float32))




@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("l2", [0.0, 1e-3])
@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
def test_optimizer_step_equals_the_plain_updates(rng, opt, dtype, l2):
    """On a 2-D array (flattened inside), over three steps, with state that must flush to 0."""
    P, G = randn(rng, (33, 17), dtype), randn(rng, (33, 17), dtype, 0.1)
    S1, S2 = randn(rng, (33, 17), dtype, 0.01), np.abs(randn(rng, (33, 17), dtype, 0.01))
    G[0], P[0] = 0.0, 0.0                           # no gradient, no weight decay
    S1[0], S2[0] = 1e-31, 1e-31                     # below STATE_FLUSH: stored as 0 on both paths
    Pr, S1r, S2r = P.copy(), S1.copy(), S2.copy()
    for t in (1, 2, 3):
        K.optimizer_step(P, G, S1, S2, K.OPT_CODES[opt], 0.01, l2, 0.9, 0.9, 0.999, 1e-8, t)
        _plain_step(opt, Pr.reshape(-1), G.reshape(-1), S1r.reshape(-1), S2r.reshape(-1), 0.01,
                    l2, t)
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(P, Pr, **tol)
    if opt != "sgd":
        np.testing.assert_allclose(S1, S1r, **tol)
        if l2 == 0:      # no gradient reaches row 0: its state stays flushed on both paths
            assert np.all(S1[0] == 0) and np.all(S1r[0] == 0)
    if opt == "adam":
        np.testing.assert_allclose(S2, S2r, **tol)


def test_transpose_equals_numpy(rng):
    A = randn(rng, (37, 21), np.float32)
    out = garbage((21, 37), np.float32)
    K.transpose(A, out)
    np.testing.assert_array_equal(out, A.T)


# ------------------------------------------------------------------ the plain-to-fast table
# One check per row of kernels.pairs.PAIRS (fast kernel name -> a call of the tests above at a
# shape that runs on several threads where the kernel has a threaded path).
CHECKS = {
    "matmul_nn_fast": lambda rng, dt: test_matmul_nn_fast(rng, (65, 333, 50), dt),
    "matmul_tn_fast": lambda rng, dt: test_matmul_tn_fast(rng, (65, 333, 50), dt),
    "matmul_nt_fast": lambda rng, dt: test_matmul_nt_fast(rng, (65, 333, 50), dt),
    "nn_block": lambda rng, dt: test_blocks_write_only_their_own_rows_and_columns(rng),
    "tn_block": lambda rng, dt: test_matmul_tn_fast(rng, (7, 33, 17), dt),
    "nt_block": lambda rng, dt: test_matmul_nt_fast(rng, (7, 33, 17), dt),
    "nn_packed_block": lambda rng, dt: test_packed_blocks_give_the_same_bits_and_stay_in_their_block(
        rng, (64, 300, 1030), 2, dt),
    "tn_packed_block": lambda rng, dt: test_packed_blocks_give_the_same_bits_and_stay_in_their_block(
        rng, (12, 9, 37), 0, dt),
    "transpose": lambda rng, dt: test_transpose_equals_numpy(rng),
    "linear_act_forward": lambda rng, dt: test_linear_act_forward_equals_plain_kernels(
        rng, (64, 784, 128), "tanh", 0.3),
    "linear_input_grad": lambda rng, dt: test_linear_input_grad_equals_plain_kernels(
        rng, (64, 128, 784), "sigmoid", True),
    "weight_grad_step": lambda rng, dt: test_weight_grad_step_equals_matmul_tn_then_update(
        rng, (64, 784, 128), "adam", dt),
    "bias_grad_step": lambda rng, dt: test_bias_grad_step_equals_bias_backward_then_update(rng, "adam"),
    "optimizer_step": lambda rng, dt: test_optimizer_step_equals_the_plain_updates(rng, "adam", dt, 1e-3),
    "softmax_xent_grad": lambda rng, dt: test_softmax_xent_grad_equals_forward_then_backward(rng, dt),
    "gather_rows": lambda rng, dt: test_gather_rows_equals_fancy_indexing_and_shift_images(rng, True, 37),
    "gather_warp": lambda rng, dt: test_gather_warp_equals_augment_images_on_the_gathered_rows(rng, True, 90, dt),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p.fast.__name__)
def test_each_pair_in_the_table_holds(rng, pair, dtype):
    CHECKS[pair.fast.__name__](rng, dtype)


def test_the_table_and_the_checks_cover_every_optimised_kernel():
    """Every kernel defined in the optimised modules (and every fused piece) is a row of PAIRS or
    exempt in NOT_PAIRED, and every row has a check."""
    from kernels import augment, epoch, layers, loss, optim, packing, products, tiles
    fast_names = {p.fast.__name__ for p in PAIRS}
    assert fast_names == set(CHECKS)
    exempt = {f.__name__ for f in NOT_PAIRED}
    for mod in (tiles, products, layers, epoch):
        for name, obj in vars(mod).items():
            if hasattr(obj, "py_func") and not name.startswith("_") and obj.py_func.__module__ == mod.__name__:
                assert name in fast_names | exempt, f"{mod.__name__}.{name} is not in kernels/pairs.py"
    for fused in (optim.optimizer_step, loss.softmax_xent_grad, augment.gather_rows, augment.gather_warp):
        assert fused.__name__ in fast_names
    for p in PAIRS:
        assert p.equal in ("bits", "rounding")
        assert all(hasattr(k, "py_func") for k in p.plain)
