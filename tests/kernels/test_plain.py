"""The kernels in kernels/: every forward against a plain NumPy reference, every backward against
float64 central finite differences of its forward, the optimizers against the update formulas,
and dropout / shifting / argmax against their definitions.

Float32 results are held to rigorous rounding-error bounds (gamma_K |A||B| for sums of K
products), float64 results to the same bound with the float64 unit roundoff.
"""
import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels as K
from profiling.numpy_reference import adam_step as adam_ref
from profiling.numpy_reference import log_softmax_cross_entropy as lse_reference
from profiling.numpy_reference import momentum_step as momentum_ref
from profiling.numpy_reference import relu as relu_ref
from profiling.numpy_reference import sgd_step as sgd_ref
from profiling.numpy_reference import shift_images as shift_reference
from profiling.numpy_reference import tanh as tanh_ref
from kernels import runtime
from conftest import assert_gradients_close, assert_within_bound, dot_error_bound, numerical_gradient

# these tests call the kernels directly: flush on-disk caches a kernels/ edit made stale, as
# training and the benchmarks do before they start (kernels/runtime.py)
runtime.ensure_fresh_cache()

DTYPES = [np.float32, np.float64]
# (N, K, M): batch 1, single elements, odd sizes, and the real first layer.
SHAPES = [(1, 1, 1), (1, 784, 128), (3, 7, 5), (65, 33, 17), (64, 784, 128)]
ACT_SHAPES = [(1, 1), (3, 7), (65, 33), (64, 128)]
FLOAT_TOL = {np.float32: dict(rtol=1e-6, atol=1e-7), np.float64: dict(rtol=1e-14, atol=1e-300)}


def randn(rng, shape, dtype, scale=1.0):
    return np.ascontiguousarray(rng.standard_normal(shape) * scale, dtype=dtype)


def garbage(shape, dtype):
    """Output buffers start as NaN so a kernel that skips or accumulates into an entry shows up."""
    return np.full(shape, np.nan, dtype=dtype)


# --------------------------------------------------------------------------- finite-difference helper
def test_numerical_gradient_of_known_function(rng):
    x = rng.standard_normal((3, 4))
    g = numerical_gradient(lambda v: float(np.sum(np.sin(v) * v)), x.copy())
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-8, atol=1e-9)


def test_gradient_check_detects_a_wrong_gradient(rng):
    """The gradient assertion used below is not vacuous: a 0.1 % error in one entry fails it."""
    x = rng.standard_normal(5)
    num = numerical_gradient(lambda v: float(np.sum(v ** 3)), x.copy())
    wrong = 3 * x ** 2
    wrong[2] *= 1.001
    with pytest.raises(AssertionError, match="1 of 5 entries"):
        assert_gradients_close(wrong, num)
    assert_gradients_close(3 * x ** 2, num)


# ----------------------------------------------------------------------------------- matmul forward
def _matmul_case(rng, N, Kd, M, dtype, scale=1.0):
    return randn(rng, (N, Kd), dtype, scale), randn(rng, (Kd, M), dtype, scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_nn_matches_numpy(rng, shape, dtype):
    N, Kd, M = shape
    A, B = _matmul_case(rng, N, Kd, M, dtype)
    out = garbage((N, M), dtype)
    K.matmul_nn(A, B, out)
    ref = A.astype(np.float64) @ B.astype(np.float64)
    assert_within_bound(out, ref, dot_error_bound(A, B, dtype), "matmul_nn")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_nt_matches_numpy(rng, shape, dtype):
    """out = A @ B.T with A (N,M), B (K,M): the layout of dX = dY @ W.T."""
    N, Kd, M = shape
    A, B = randn(rng, (N, M), dtype), randn(rng, (Kd, M), dtype)
    out = garbage((N, Kd), dtype)
    K.matmul_nt(A, B, out)
    ref = A.astype(np.float64) @ B.astype(np.float64).T
    assert_within_bound(out, ref, dot_error_bound(A, B.T, dtype), "matmul_nt")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul_tn_matches_numpy(rng, shape, dtype):
    """out = A.T @ B with A (N,K), B (N,M): the layout of dW = X.T @ dY."""
    N, Kd, M = shape
    A, B = randn(rng, (N, Kd), dtype), randn(rng, (N, M), dtype)
    out = garbage((Kd, M), dtype)
    K.matmul_tn(A, B, out)
    ref = A.astype(np.float64).T @ B.astype(np.float64)
    assert_within_bound(out, ref, dot_error_bound(A.T, B, dtype), "matmul_tn")


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 40), Kd=st.integers(1, 40), M=st.integers(1, 40),
       scale=st.sampled_from([1e-3, 1.0, 1e3]), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**32 - 1))
def test_matmul_layouts_property(N, Kd, M, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    X = randn(rng, (N, Kd), dtype, scale)
    W = randn(rng, (Kd, M), dtype, scale)
    dY = randn(rng, (N, M), dtype, scale)
    X64, W64, dY64 = (a.astype(np.float64) for a in (X, W, dY))
    out = garbage((N, M), dtype)
    K.matmul_nn(X, W, out)
    assert_within_bound(out, X64 @ W64, dot_error_bound(X, W, dtype), "matmul_nn")
    dX = garbage((N, Kd), dtype)
    K.matmul_nt(dY, W, dX)
    assert_within_bound(dX, dY64 @ W64.T, dot_error_bound(dY, W.T, dtype), "matmul_nt")
    dW = garbage((Kd, M), dtype)
    K.matmul_tn(X, dY, dW)
    assert_within_bound(dW, X64.T @ dY64, dot_error_bound(X.T, dY, dtype), "matmul_tn")


# ------------------------------------------------------------------------------ bias and linear
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_linear_forward_and_bias_match_numpy(rng, shape, dtype):
    N, Kd, M = shape
    X, W = _matmul_case(rng, N, Kd, M, dtype)
    b = randn(rng, M, dtype)
    out = garbage((N, M), dtype)
    K.linear_forward(X, W, b, out)
    ref = X.astype(np.float64) @ W.astype(np.float64) + b
    bound = dot_error_bound(X, W, dtype) + 2 * np.finfo(dtype).eps * np.abs(b)
    assert_within_bound(out, ref, bound, "linear_forward")

    y = randn(rng, (N, M), dtype)
    expected = y + b  # one rounding per entry, the same one the kernel does
    K.bias_forward(b, y)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_linear_backward_matches_numpy(rng, shape, dtype):
    N, Kd, M = shape
    X, W = _matmul_case(rng, N, Kd, M, dtype)
    dY = randn(rng, (N, M), dtype)
    dX, dW, db = garbage((N, Kd), dtype), garbage((Kd, M), dtype), garbage(M, dtype)
    K.linear_backward(X, W, dY, dX, dW, db, True)
    X64, W64, dY64 = (a.astype(np.float64) for a in (X, W, dY))
    assert_within_bound(dW, X64.T @ dY64, dot_error_bound(X.T, dY, dtype), "dW")
    assert_within_bound(dX, dY64 @ W64.T, dot_error_bound(dY, W.T, dtype), "dX")
    ones = np.ones((1, N))
    assert_within_bound(db[None, :], ones @ dY64, dot_error_bound(ones, dY, dtype), "db")


def test_linear_backward_skips_dx_when_not_needed(rng):
    X, W = _matmul_case(rng, 4, 6, 3, np.float64)
    dY = randn(rng, (4, 3), np.float64)
    dX = np.full((4, 6), 7.0)
    dW, db = garbage((6, 3), np.float64), garbage(3, np.float64)
    K.linear_backward(X, W, dY, dX, dW, db, False)
    assert np.all(dX == 7.0)
    np.testing.assert_allclose(dW, X.T @ dY, rtol=1e-13)
    np.testing.assert_allclose(db, dY.sum(0), rtol=1e-13)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 5, 4), (3, 7, 5), (6, 4, 9)],
                         ids=lambda s: "x".join(map(str, s)))
def test_linear_backward_against_finite_differences(rng, shape):
    """L = sum(R * (X @ W + b)) for a random R; dL/dX, dL/dW, dL/db from linear_backward(dY=R)."""
    N, Kd, M = shape
    X, W = _matmul_case(rng, N, Kd, M, np.float64)
    b = randn(rng, M, np.float64)
    R = randn(rng, (N, M), np.float64)
    out = np.empty((N, M))

    def loss(_):
        K.linear_forward(X, W, b, out)
        return float(np.sum(R * out))

    dX, dW, db = np.empty((N, Kd)), np.empty((Kd, M)), np.empty(M)
    K.linear_backward(X, W, R, dX, dW, db, True)
    assert_gradients_close(dX, numerical_gradient(loss, X), name="dX")
    assert_gradients_close(dW, numerical_gradient(loss, W), name="dW")
    assert_gradients_close(db, numerical_gradient(loss, b), name="db")


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 4), (5, 8, 3)], ids=lambda s: "x".join(map(str, s)))
def test_matmul_nt_and_tn_are_the_gradients_of_matmul_nn(rng, shape):
    """For L = sum(R * (A @ B)):  dL/dA = R @ B.T (matmul_nt),  dL/dB = A.T @ R (matmul_tn)."""
    N, Kd, M = shape
    A, B = _matmul_case(rng, N, Kd, M, np.float64)
    R = randn(rng, (N, M), np.float64)
    out = np.empty((N, M))

    def loss(_):
        K.matmul_nn(A, B, out)
        return float(np.sum(R * out))

    dA, dB = np.empty((N, Kd)), np.empty((Kd, M))
    K.matmul_nt(R, B, dA)
    K.matmul_tn(A, R, dB)
    assert_gradients_close(dA, numerical_gradient(loss, A), name="dA")
    assert_gradients_close(dB, numerical_gradient(loss, B), name="dB")


# --------------------------------------------------------------------------------- activations
def _sigmoid_ref(z):
    return scipy.special.expit(z.astype(np.float64))


# the NumPy oracle (profiling/numpy_reference.py) in float64; sigmoid against scipy's expit
ACT_REFS = {"relu": lambda z: relu_ref(z.astype(np.float64)),
            "tanh": lambda z: tanh_ref(z.astype(np.float64)),
            "sigmoid": _sigmoid_ref}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ACT_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", list(ACT_REFS))
def test_activation_forward_matches_numpy(rng, name, shape, dtype):
    z = randn(rng, shape, dtype, scale=3.0)
    out = garbage(shape, dtype)
    K.ACTIVATIONS[name][0](z, out)
    np.testing.assert_allclose(out, ACT_REFS[name](z), **FLOAT_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACT_REFS))
def test_activation_forward_extreme_inputs(name, dtype):
    """No overflow for huge |z|: sigmoid(-1e4) = 0, sigmoid(1e4) = 1, tanh saturates to +-1."""
    z = np.array([[-1e4, -700.0, -100.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 100.0, 700.0, 1e4]], dtype=dtype)
    out = garbage(z.shape, dtype)
    with np.errstate(all="raise"):
        K.ACTIVATIONS[name][0](z, out)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ACT_REFS[name](z), **FLOAT_TOL[dtype])
    if name == "sigmoid":
        assert np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACT_REFS))
def test_activation_backward_matches_formula(rng, name, dtype):
    z = randn(rng, (65, 33), dtype, scale=3.0)
    dout = randn(rng, z.shape, dtype)
    fwd, bwd = K.ACTIVATIONS[name]
    a = np.empty_like(z)
    fwd(z, a)
    saved = a if K.BACKWARD_FROM_OUTPUT[name] else z
    dz = garbage(z.shape, dtype)
    bwd(saved, dout, dz)
    z64, d64 = z.astype(np.float64), dout.astype(np.float64)
    deriv = {"relu": (z64 > 0).astype(np.float64), "tanh": 1 - np.tanh(z64) ** 2,
             "sigmoid": _sigmoid_ref(z64) * (1 - _sigmoid_ref(z64))}[name]
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dz, d64 * deriv, **tol)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (8, 5)], ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", list(ACT_REFS))
def test_activation_backward_against_finite_differences(rng, name, shape):
    """L = sum(R * f(z)); dL/dz from the backward kernel given dout = R."""
    z = randn(rng, shape, np.float64, scale=2.0)
    if name == "relu":  # keep clear of the kink at 0, where relu is not differentiable
        z = np.where(np.abs(z) < 1e-2, np.sign(z + 1e-12) * 1e-2 + z, z)
        assert np.all(np.abs(z) > 1e-3)
    R = randn(rng, shape, np.float64)
    fwd, bwd = K.ACTIVATIONS[name]
    a = np.empty(shape)

    def loss(_):
        fwd(z, a)
        return float(np.sum(R * a))

    loss(z)
    saved = a.copy() if K.BACKWARD_FROM_OUTPUT[name] else z.copy()
    dz = np.empty(shape)
    bwd(saved, R, dz)
    assert_gradients_close(dz, numerical_gradient(loss, z), name=f"{name}'")


@pytest.mark.parametrize("name", list(ACT_REFS))
def test_activation_backward_in_place(rng, name):
    """The docstring allows dz to alias dout; the result must be the same."""
    z = randn(rng, (9, 11), np.float64)
    dout = randn(rng, z.shape, np.float64)
    fwd, bwd = K.ACTIVATIONS[name]
    a = np.empty_like(z)
    fwd(z, a)
    saved = a if K.BACKWARD_FROM_OUTPUT[name] else z
    dz = np.empty_like(z)
    bwd(saved, dout, dz)
    buf = dout.copy()
    bwd(saved, buf, buf)
    np.testing.assert_array_equal(buf, dz)


# ------------------------------------------------------------------------------ softmax and loss


LOSS_TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}
PROB_TOL = {np.float32: dict(rtol=1e-5, atol=1e-7), np.float64: dict(rtol=1e-12, atol=1e-300)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (3, 7), (64, 10), (65, 17)], ids=lambda s: "x".join(map(str, s)))
def test_softmax_cross_entropy_forward_matches_lse(rng, shape, dtype):
    N, C = shape
    z = randn(rng, shape, dtype, scale=4.0)
    y = rng.integers(0, C, N)
    p = garbage(shape, dtype)
    loss = K.softmax_cross_entropy_forward(z, y, p)
    p_ref, loss_ref = lse_reference(z, y)
    assert np.isfinite(loss) and loss >= 0
    assert loss == pytest.approx(loss_ref, rel=LOSS_TOL[dtype]["rtol"], abs=LOSS_TOL[dtype]["atol"])
    np.testing.assert_allclose(p, p_ref, **PROB_TOL[dtype])
    np.testing.assert_allclose(p.astype(np.float64).sum(axis=1), 1.0, rtol=0, atol=C * np.finfo(dtype).eps)

    p2 = garbage(shape, dtype)
    K.softmax_forward(z, p2)
    np.testing.assert_allclose(p2, p_ref, **PROB_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_huge_logits_are_stable(dtype):
    z = np.array([[1e4, -1e4, 0.0],      # correct class dominates: loss 0
                  [-1e4, 1e4, 0.0],      # label 0 loses by 2e4
                  [1e4, 1e4, -1e4],      # a tie at 1e4: p = (1/2, 1/2, 0)
                  [-1e4, -1e4, -1e4]],   # all equal and very negative: uniform
                 dtype=dtype)
    y = np.array([0, 0, 1, 2])
    p = garbage(z.shape, dtype)
    with np.errstate(all="raise"):
        loss = K.softmax_cross_entropy_forward(z, y, p)
    assert np.isfinite(loss) and loss >= 0
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    expected = np.mean([0.0, 2e4, np.log(2.0), np.log(3.0)])
    assert loss == pytest.approx(expected, rel=1e-6)
    assert loss == pytest.approx(lse_reference(z, y)[1], rel=1e-12)
    np.testing.assert_allclose(p[2], [0.5, 0.5, 0.0], atol=1e-7)
    np.testing.assert_allclose(p[3], [1 / 3] * 3, rtol=1e-6)
    p2 = garbage(z.shape, dtype)
    K.softmax_forward(z, p2)
    np.testing.assert_array_equal(p2, p)


@settings(max_examples=30, deadline=None)
@given(N=st.integers(1, 20), C=st.integers(1, 12), scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_softmax_cross_entropy_property(N, C, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    z = randn(rng, (N, C), dtype, scale)
    y = rng.integers(0, C, N)
    p = garbage((N, C), dtype)
    loss = K.softmax_cross_entropy_forward(z, y, p)
    p_ref, loss_ref = lse_reference(z, y)
    assert np.isfinite(loss) and loss >= 0
    # m + log(s) - z_y is summed in float64; its rounding grows with |m| (up to a few ulp of max|z|).
    tol = LOSS_TOL[dtype]["rtol"] * loss_ref + LOSS_TOL[dtype]["atol"] + 4 * np.finfo(np.float64).eps * np.abs(z).max()
    assert abs(loss - loss_ref) <= tol
    np.testing.assert_allclose(p, p_ref, **PROB_TOL[dtype])
    np.testing.assert_allclose(p.astype(np.float64).sum(axis=1), 1.0, rtol=0, atol=2 * C * np.finfo(dtype).eps)


@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (4, 3), (7, 10)], ids=lambda s: "x".join(map(str, s)))
def test_softmax_cross_entropy_backward_against_finite_differences(rng, shape):
    N, C = shape
    z = randn(rng, shape, np.float64, scale=3.0)
    y = rng.integers(0, C, N)
    p = np.empty(shape)
    loss = lambda _: K.softmax_cross_entropy_forward(z, y, p)  # noqa: E731
    loss(z)
    dz = garbage(shape, np.float64)
    K.softmax_cross_entropy_backward(p.copy(), y, dz)
    assert_gradients_close(dz, numerical_gradient(loss, z), name="dL/dz")


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_backward_matches_formula(rng, dtype):
    N, C = 65, 10
    z = randn(rng, (N, C), dtype, scale=3.0)
    y = rng.integers(0, C, N)
    p = np.empty_like(z)
    K.softmax_cross_entropy_forward(z, y, p)
    dz = garbage((N, C), dtype)
    K.softmax_cross_entropy_backward(p, y, dz)
    expected = (p.astype(np.float64) - np.eye(C)[y]) / N
    np.testing.assert_allclose(dz, expected, rtol=2 * np.finfo(dtype).eps, atol=np.finfo(dtype).eps / N)
    np.testing.assert_allclose(dz.astype(np.float64).sum(axis=1), 0.0, atol=C * np.finfo(dtype).eps / N)


# ---------------------------------------------------------------------------------- optimizers






OPT_TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-13, atol=1e-15)}
STEPS = 6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 1000])
@pytest.mark.parametrize("l2", [0.0, 1e-2])
def test_sgd_update_matches_formula(rng, dtype, size, l2):
    p = randn(rng, size, dtype)
    ref = p.astype(np.float64)
    for _ in range(STEPS):
        g = randn(rng, size, dtype)
        K.sgd_update(p, g, 0.05, l2)
        ref = sgd_ref(ref, g.astype(np.float64), 0.05, l2)
    np.testing.assert_allclose(p, ref, **OPT_TOL[dtype])
    assert p.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 1000])
@pytest.mark.parametrize("l2", [0.0, 1e-2])
def test_momentum_update_matches_formula(rng, dtype, size, l2):
    p = randn(rng, size, dtype)
    vel = np.zeros(size, dtype)
    ref, vref = p.astype(np.float64), np.zeros(size)
    for _ in range(STEPS):
        g = randn(rng, size, dtype)
        K.momentum_update(p, g, vel, 0.05, 0.9, l2)
        ref, vref = momentum_ref(ref, g.astype(np.float64), vref, 0.05, 0.9, l2)
    np.testing.assert_allclose(vel, vref, **OPT_TOL[dtype])
    np.testing.assert_allclose(p, ref, **OPT_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [1, 7, 1000])
@pytest.mark.parametrize("l2", [0.0, 1e-2])
def test_adam_update_matches_formula_with_bias_correction(rng, dtype, size, l2):
    p = randn(rng, size, dtype)
    m, v = np.zeros(size, dtype), np.zeros(size, dtype)
    ref, mref, vref = p.astype(np.float64), np.zeros(size), np.zeros(size)
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 1e-2
    for t in range(1, STEPS + 1):
        g = randn(rng, size, dtype)
        K.adam_update(p, g, m, v, lr, b1, b2, eps, t, l2)
        ref, mref, vref = adam_ref(ref, g.astype(np.float64), mref, vref, lr, b1, b2, eps, t, l2)
    np.testing.assert_allclose(m, mref, **OPT_TOL[dtype])
    np.testing.assert_allclose(v, vref, **OPT_TOL[dtype])
    np.testing.assert_allclose(p, ref, **OPT_TOL[dtype])


def test_adam_first_step_moves_each_parameter_by_lr():
    """With bias correction the first step is lr * g / (|g| + eps) ~ lr * sign(g), whatever |g| is."""
    p = np.zeros(4)
    g = np.array([1e-3, -5.0, 200.0, -1e-2])
    K.adam_update(p, g, np.zeros(4), np.zeros(4), 0.01, 0.9, 0.999, 1e-8, 1, 0.0)
    np.testing.assert_allclose(p, -0.01 * np.sign(g), rtol=1e-4)


# ------------------------------------------------------------------------------------ dropout
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_same_seed_same_mask_and_different_seeds_differ(rng, dtype):
    x = randn(rng, (50, 40), dtype)
    masks = []
    for seed in (7, 7, 8):
        mask, out = garbage(x.shape, dtype), garbage(x.shape, dtype)
        K.dropout_forward(x, 0.5, seed, mask, out)
        masks.append(mask)
    np.testing.assert_array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[0], masks[2])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_keeps_a_fraction_one_minus_p_and_scales(rng, p, dtype):
    x = randn(rng, (200, 500), dtype)
    mask, out = garbage(x.shape, dtype), garbage(x.shape, dtype)
    K.dropout_forward(x, p, 12345, mask, out)
    n = x.size
    kept = mask != 0
    sigma = np.sqrt(n * p * (1 - p))
    assert abs(kept.sum() - n * (1 - p)) < 5 * sigma
    np.testing.assert_allclose(mask[kept], 1.0 / (1.0 - p), rtol=np.finfo(dtype).eps)
    np.testing.assert_allclose(out[kept], x[kept].astype(np.float64) / (1.0 - p), rtol=4 * np.finfo(dtype).eps)
    assert np.all(out[~kept] == 0)


def test_dropout_masks_of_neighbouring_seeds_are_independent(rng):
    """The network seeds successive calls with seed<<32 | counter: consecutive seeds must give
    unrelated masks, agreeing on p^2 + (1-p)^2 of the entries (within 5 binomial sigma)."""
    x = np.ones((100, 400))
    p = 0.5
    base = 3 << 32
    prev = None
    for seed in range(base, base + 4):
        mask, out = np.empty_like(x), np.empty_like(x)
        K.dropout_forward(x, p, seed, mask, out)
        if prev is not None:
            agree = np.count_nonzero((mask != 0) == (prev != 0))
            q = p * p + (1 - p) * (1 - p)
            assert abs(agree - x.size * q) < 5 * np.sqrt(x.size * q * (1 - q))
        prev = mask


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_p_zero_is_identity(rng, dtype):
    x = randn(rng, (13, 17), dtype)
    mask, out = garbage(x.shape, dtype), garbage(x.shape, dtype)
    K.dropout_forward(x, 0.0, 99, mask, out)
    np.testing.assert_array_equal(mask, 1.0)
    np.testing.assert_array_equal(out, x)


def test_hash_uniform_is_in_unit_interval_and_roughly_uniform():
    u = np.array([K.hash_uniform(42, i) for i in range(20000)])
    assert u.min() >= 0.0 and u.max() < 1.0
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    expected = len(u) / 10
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected * 0.9))


@pytest.mark.parametrize("shape", [(1, 1), (4, 6), (9, 3)], ids=lambda s: "x".join(map(str, s)))
def test_dropout_backward_against_finite_differences(rng, shape):
    """L = sum(R * dropout(x)) with the mask fixed by the seed: dL/dx = R * mask."""
    x = randn(rng, shape, np.float64)
    R = randn(rng, shape, np.float64)
    mask, out = np.empty(shape), np.empty(shape)

    def loss(_):
        K.dropout_forward(x, 0.3, 2024, mask, out)
        return float(np.sum(R * out))

    loss(x)
    dx = garbage(shape, np.float64)
    K.dropout_backward(R, mask.copy(), dx)
    assert_gradients_close(dx, numerical_gradient(loss, x), name="dropout dx")
    np.testing.assert_array_equal(dx, R * mask)
    buf = R.copy()
    K.dropout_backward(buf, mask, buf)  # documented: dx may alias dout
    np.testing.assert_array_equal(buf, dx)


# --------------------------------------------------------------------------- shift and argmax


@pytest.mark.parametrize("dtype", DTYPES)
def test_shift_images_matches_rolled_reference(rng, dtype):
    n = 40
    x = rng.random((n, 784)).astype(dtype)
    dr = rng.integers(-3, 4, n)
    dc = rng.integers(-3, 4, n)
    dr[:6] = [0, 27, -27, 28, -30, 1]   # no shift, edges, everything shifted out
    dc[:6] = [0, -27, 27, 0, 2, -28]
    out = garbage(x.shape, dtype)
    K.shift_images(x, dr, dc, out)
    np.testing.assert_array_equal(out, shift_reference(x, dr, dc))
    np.testing.assert_array_equal(out[0], x[0])


def test_shift_images_moves_a_single_pixel():
    x = np.zeros((1, 784))
    x[0, 10 * 28 + 5] = 1.0
    out = np.empty_like(x)
    K.shift_images(x, np.array([2]), np.array([-3]), out)
    assert out[0, 12 * 28 + 2] == 1.0 and out.sum() == 1.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 10), (65, 10), (7, 3)], ids=lambda s: "x".join(map(str, s)))
def test_argmax_rows_matches_numpy_including_ties(rng, shape, dtype):
    p = rng.integers(0, 3, shape).astype(dtype)   # few distinct values: many ties, first one wins
    out = np.full(shape[0], -1, np.int64)
    K.argmax_rows(p, out)
    np.testing.assert_array_equal(out, np.argmax(p, axis=1))
    q = randn(rng, shape, dtype)
    K.argmax_rows(q, out)
    np.testing.assert_array_equal(out, np.argmax(q, axis=1))
