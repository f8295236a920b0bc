"""Optimised matrix products with fused epilogues: the kernels the compiled training epoch runs.

Every kernel here computes what a plain kernel of `kernels/matmul.py`, `activations.py`,
`dropout.py`, `loss.py` or `optim.py` computes (each docstring names which); `tests/test_fast.py`
holds each pair equal, to float32 rounding (sums are taken in another order), and both to NumPy.

Two microkernels do all the multiply-adds:

* Tile (A @ B and A.T @ B): a 4 x 16 block of `out` is accumulated in a small stack array that
  LLVM keeps in registers (8 AVX2 or 4 AVX-512 registers), over the summed index t:
      acc[r, c] += a_r * B[t, j + c]      a_r = A[i + r, t]  (A @ B)   or  A[t, i + r]  (A.T @ B)
  The 16 columns are contiguous in B, so each step is 2 vector loads, 4 broadcasts and 8 fused
  multiply-adds: every loaded value of B is used 4 times and every a_r 16 times from registers.
  No operand is transposed and there is no horizontal sum at the end, so short sums (the
  batch of 64 in a weight gradient) run as fast as long ones.
* Dot (A @ B.T): out[i, j] = sum_k A[i, k] * B[j, k] reads two contiguous rows; a 2 x 4 block of
  outputs per sweep over k, vectorised by LLVM as 8 vector sums (fastmath lets it reorder each
  sum) and reduced horizontally once per output: best for long sums (784 inputs).

The training epoch holds each layer's weights transposed, WT = W.T (n_out, n_in), so its three
products need no copies: forward Z = H @ WT.T (dot, sums over the inputs), input gradient
dH = dZ @ WT (tile), weight gradient dWT = dZ.T @ H (tile, sums over the batch).

Ragged edges need no special code path: a last row tile re-reads the last row (only real rows
are stored), a last column panel is shifted left to end at the last column (overlapping columns
are recomputed bit-identically and not stored twice), and a B narrower than 16 columns is copied
into a zero-padded panel.

Threads (`prange`) split `out` into panels of 16 units; every output is summed by one thread in a
fixed order, so results do not depend on the thread count. Products below PARALLEL_MIN_FLOP run
on one thread. Epilogues run on each panel right after it is computed, while it is in cache:
bias + activation + dropout (forward), dropout mask + activation derivative (input gradient),
optimizer step (weight gradient).
"""
import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import carray

from kernels.dropout import hash_uniform

TILE_ROWS, TILE_COLS = 4, 16   # register tile of the A @ B and A.T @ B kernels
PANEL = 16                     # columns (A @ B) or rows (A.T @ B, A @ B.T) per parallel task
SHORT_SUM = 128                # A @ B.T with fewer terms per sum goes through the tile kernel
STATE_FLUSH = 1e-30            # optimizer state below this is stored as 0 (see optimizer_step)
PARALLEL_MIN_FLOP = 1 << 21    # 2 MFLOP (~60 us on one core): smaller products stay on one thread,
                               # which beats two once the data moving between cores is counted

ACT_NONE, ACT_RELU, ACT_TANH, ACT_SIGMOID = 0, 1, 2, 3
ACT_CODES = {"relu": ACT_RELU, "tanh": ACT_TANH, "sigmoid": ACT_SIGMOID}
OPT_SGD, OPT_MOMENTUM, OPT_ADAM = 0, 1, 2
OPT_CODES = {"sgd": OPT_SGD, "momentum": OPT_MOMENTUM, "adam": OPT_ADAM}

_FLAGS = dict(cache=True, fastmath=True, error_model="numpy")

# Start numba's thread pool now. A cached function that calls a parallel one, when it is loaded
# from the on-disk cache and run before anything else has started the pool, jumps to a null
# pointer (numba issue #8578); get_num_threads() starts the pool as a side effect.
numba.get_num_threads()


# ---------------------------------------------------------------------------- register tile
@intrinsic
def _stack_alloc(typingctx, n, dtype):
    """Pointer to n (a compile-time constant) elements of dtype on the stack: an LLVM alloca in
    the function's entry block."""
    if not isinstance(n, types.IntegerLiteral):
        return None
    size, elem = n.literal_value, dtype.dtype

    def codegen(context, builder, signature, args):
        return cgutils.alloca_once(builder, context.get_value_type(elem), size=size)

    return types.CPointer(elem)(n, dtype), codegen


@njit(inline="always")
def _tile(dtype):
    """The 4 x 16 accumulator tile, flat: acc[16 r + c]. Being a non-escaping stack array of
    constant size, LLVM promotes it to registers once the loops over c are vectorised."""
    return carray(_stack_alloc(64, dtype), (64,))


@njit(**_FLAGS)
def _store_tile(acc, out, i, i1, js, j0, j1):
    """out[i + r, js + c] = acc[16 r + c] for rows < i1 and columns in [j0, j1)."""
    if i + TILE_ROWS <= i1 and j0 == js and js + TILE_COLS <= j1:     # a whole tile
        for r in range(TILE_ROWS):
            o = out[i + r, js:js + TILE_COLS]
            for c in range(TILE_COLS):
                o[c] = acc[TILE_COLS * r + c]
        return
    for r in range(TILE_ROWS):
        if i + r < i1:
            for c in range(TILE_COLS):
                if j0 <= js + c < j1:
                    out[i + r, js + c] = acc[TILE_COLS * r + c]


@njit(**_FLAGS)
def nn_block(A, B, out, i0, i1, j0, j1):
    """out[i0:i1, j0:j1] = A[i0:i1] @ B[:, j0:j1].  A (N,K), B (K,M) with M >= 16, out (N,M').

    Equals the same block of `matmul_nn(A, B, out)`. For every 16-column panel of B and every
    4 rows of A: acc[r, c] += A[i + r, t] * B[t, js + c] over t = 0..K-1.
    """
    K = A.shape[1]
    M = B.shape[1]
    acc = _tile(A.dtype)
    for jp in range(j0, j1, TILE_COLS):
        js = min(jp, M - TILE_COLS)            # a last partial panel is shifted left
        jend = min(jp + TILE_COLS, j1)
        for i in range(i0, i1, TILE_ROWS):
            r1, r2, r3 = min(i + 1, i1 - 1), min(i + 2, i1 - 1), min(i + 3, i1 - 1)
            for c in range(TILE_ROWS * TILE_COLS):
                acc[c] = 0.0
            for t in range(K):
                a0, a1, a2, a3 = A[i, t], A[r1, t], A[r2, t], A[r3, t]
                Bt = B[t, js:js + TILE_COLS]
                for c in range(TILE_COLS):
                    b = Bt[c]
                    acc[c] += a0 * b
                    acc[16 + c] += a1 * b
                    acc[32 + c] += a2 * b
                    acc[48 + c] += a3 * b
            _store_tile(acc, out, i, i1, js, jp, jend)


@njit(**_FLAGS)
def tn_block(A, B, out, i0, i1, j0, j1):
    """out[i0:i1, j0:j1] = (A.T @ B)[i0:i1, j0:j1].  A (N,K), B (N,M) with M >= 16, out (K,M').

    Equals the same block of `matmul_tn(A, B, out)`: acc[r, c] += A[t, i + r] * B[t, js + c]
    over the shared index t = 0..N-1 (the batch, for a weight gradient).
    """
    N = A.shape[0]
    M = B.shape[1]
    acc = _tile(A.dtype)
    for jp in range(j0, j1, TILE_COLS):
        js = min(jp, M - TILE_COLS)
        jend = min(jp + TILE_COLS, j1)
        for i in range(i0, i1, TILE_ROWS):
            r1, r2, r3 = min(i + 1, i1 - 1), min(i + 2, i1 - 1), min(i + 3, i1 - 1)
            for c in range(TILE_ROWS * TILE_COLS):
                acc[c] = 0.0
            for t in range(N):
                a0, a1, a2, a3 = A[t, i], A[t, r1], A[t, r2], A[t, r3]
                Bt = B[t, js:js + TILE_COLS]
                for c in range(TILE_COLS):
                    b = Bt[c]
                    acc[c] += a0 * b
                    acc[16 + c] += a1 * b
                    acc[32 + c] += a2 * b
                    acc[48 + c] += a3 * b
            _store_tile(acc, out, i, i1, js, jp, jend)


@njit(**_FLAGS)
def _wide(B):
    """B itself if it has at least 16 columns, else a copy zero-padded to 16 columns."""
    if B.shape[1] >= TILE_COLS:
        return B
    Bp = np.zeros((B.shape[0], TILE_COLS), B.dtype)
    for i in range(B.shape[0]):
        for j in range(B.shape[1]):
            Bp[i, j] = B[i, j]
    return Bp


# ------------------------------------------------------------------------ dot microkernel
@njit(**_FLAGS)
def nt_block(A, B, out, j0, j1):
    """out[:, j0:j1] = A @ B[j0:j1].T, in 2x4 register blocks.  A (N,K), B (M,K), out (N,M).

    Equals `matmul_nt(A, B, out)` on columns j0..j1-1. For each 4 rows of B it sweeps the rows
    of A two at a time; the 8 sums of a block are vector registers (the k loop is vectorised).
    """
    N, K = A.shape
    zero = A.dtype.type(0.0)
    j = j0
    while j + 4 <= j1:
        for i in range(0, N, 2):
            i1 = min(i + 1, N - 1)             # odd N: the last row is paired with itself
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            for k in range(K):
                a0 = A[i, k]
                a1 = A[i1, k]
                b0 = B[j, k]
                b1 = B[j + 1, k]
                b2 = B[j + 2, k]
                b3 = B[j + 3, k]
                s00 += a0 * b0
                s01 += a0 * b1
                s02 += a0 * b2
                s03 += a0 * b3
                s10 += a1 * b0
                s11 += a1 * b1
                s12 += a1 * b2
                s13 += a1 * b3
            out[i, j] = s00
            out[i, j + 1] = s01
            out[i, j + 2] = s02
            out[i, j + 3] = s03
            out[i1, j] = s10
            out[i1, j + 1] = s11
            out[i1, j + 2] = s12
            out[i1, j + 3] = s13
        j += 4
    while j < j1:                              # the last 1-3 columns
        for i in range(N):
            s = zero
            for k in range(K):
                s += A[i, k] * B[j, k]
            out[i, j] = s
        j += 1


# ---------------------------------------------------------------------- plain products
@njit(**_FLAGS)
def _check_product(N, K, K2, M, No, Mo):
    """The shapes of an (N,K) x (K2,M) product written into (No,Mo) must agree: the kernels do
    not check bounds, so a mismatch would read and write past the arrays."""
    if K != K2 or No != N or Mo != M:
        raise ValueError("matrix shapes do not match for this product")


@njit(**_FLAGS)
def _threads(N, K, M):
    return 2 * N * K * M >= PARALLEL_MIN_FLOP and M > PANEL


@njit(parallel=True, **_FLAGS)
def _nn_parallel(A, B, out):
    M = out.shape[1]
    for p in prange((M + PANEL - 1) // PANEL):
        nn_block(A, B, out, 0, A.shape[0], p * PANEL, min(M, (p + 1) * PANEL))


@njit(**_FLAGS)
def matmul_nn_fast(A, B, out):
    """out = A @ B.  A (N,K), B (K,M), out (N,M).  Equals `matmul_nn`.

    The 4x16 tile kernel; split over threads by 16-column panels of out when large enough.
    """
    _check_product(A.shape[0], A.shape[1], B.shape[0], B.shape[1], out.shape[0], out.shape[1])
    N, K = A.shape
    M = B.shape[1]
    Bw = _wide(B)
    if _threads(N, K, M):
        _nn_parallel(A, Bw, out)
    else:
        nn_block(A, Bw, out, 0, N, 0, M)


@njit(parallel=True, **_FLAGS)
def _tn_parallel(A, B, out):
    K = out.shape[0]
    for p in prange((K + PANEL - 1) // PANEL):
        tn_block(A, B, out, p * PANEL, min(K, (p + 1) * PANEL), 0, out.shape[1])


@njit(**_FLAGS)
def matmul_tn_fast(A, B, out):
    """out = A.T @ B.  A (N,K), B (N,M), out (K,M).  Equals `matmul_tn`.

    The 4x16 tile kernel; split over threads by 16-row panels of out when large enough.
    """
    _check_product(A.shape[1], A.shape[0], B.shape[0], B.shape[1], out.shape[0], out.shape[1])
    N, K = A.shape
    M = B.shape[1]
    Bw = _wide(B)
    if 2 * N * K * M >= PARALLEL_MIN_FLOP and K > PANEL:
        _tn_parallel(A, Bw, out)
    else:
        tn_block(A, Bw, out, 0, K, 0, M)


@njit(parallel=True, **_FLAGS)
def _nt_parallel(A, B, out):
    M = B.shape[0]
    for p in prange((M + PANEL - 1) // PANEL):
        nt_block(A, B, out, p * PANEL, min(M, (p + 1) * PANEL))


@njit(**_FLAGS)
def transpose(A, out):
    """out = A.T (a copy).  A (N,M), out (M,N). Four rows of A at a time: four sequential read
    streams, four adjacent elements written per row of out."""
    N, M = A.shape
    i = 0
    while i + 4 <= N:
        for j in range(M):
            out[j, i] = A[i, j]
            out[j, i + 1] = A[i + 1, j]
            out[j, i + 2] = A[i + 2, j]
            out[j, i + 3] = A[i + 3, j]
        i += 4
    for r in range(i, N):
        for j in range(M):
            out[j, r] = A[r, j]


@njit(**_FLAGS)
def matmul_nt_fast(A, B, out):
    """out = A @ B.T.  A (N,K), B (M,K), out (N,M).  Equals `matmul_nt`.

    The 2x4 dot-product kernel, split over threads by 16-column panels of out when large enough.
    Sums shorter than SHORT_SUM terms lose too much to the final horizontal additions: then B.T
    is packed once (K*M copies) and the tile kernel computes A @ (B.T).
    """
    _check_product(A.shape[0], A.shape[1], B.shape[1], B.shape[0], out.shape[0], out.shape[1])
    N, K = A.shape
    M = B.shape[0]
    if K < SHORT_SUM:
        BT = np.empty((K, M), B.dtype)
        transpose(B, BT)
        matmul_nn_fast(A, BT, out)
    elif _threads(N, K, M):
        _nt_parallel(A, B, out)
    else:
        nt_block(A, B, out, 0, M)


# --------------------------------------------------------------------------- epilogues
@njit(**_FLAGS)
def _forward_epilogue(Z, b, act, Aout, p_drop, seed, mask, D, j0, j1):
    """On columns j0..j1: Z += b; Aout = f(Z); with dropout, mask and D = Aout * mask.

    The arithmetic of bias_forward, relu/tanh/sigmoid_forward and dropout_forward; one loop per
    case (the branches are outside the loops, so each loop vectorises).
    """
    N, M = Z.shape
    zero = Z.dtype.type(0.0)
    for i in range(N):
        for j in range(j0, j1):
            Z[i, j] += b[j]
        if act == ACT_RELU:
            for j in range(j0, j1):
                z = Z[i, j]
                Aout[i, j] = z if z > 0 else zero
        elif act == ACT_TANH:
            for j in range(j0, j1):
                Aout[i, j] = math.tanh(Z[i, j])
        elif act == ACT_SIGMOID:
            for j in range(j0, j1):
                z = Z[i, j]
                if z >= 0:
                    Aout[i, j] = 1.0 / (1.0 + math.exp(-z))
                else:
                    e = math.exp(z)
                    Aout[i, j] = e / (1.0 + e)
        if act != ACT_NONE and p_drop > 0:
            scale = 1.0 / (1.0 - p_drop)
            for j in range(j0, j1):
                keep = hash_uniform(seed, i * M + j) >= p_drop
                mask[i, j] = scale if keep else 0.0
                D[i, j] = Aout[i, j] * mask[i, j]


@njit(parallel=True, **_FLAGS)
def _linear_act_parallel(H, WT, b, act, Z, Aout, p_drop, seed, mask, D):
    M = Z.shape[1]
    for p in prange((M + PANEL - 1) // PANEL):
        j0, j1 = p * PANEL, min(M, (p + 1) * PANEL)
        nt_block(H, WT, Z, j0, j1)
        _forward_epilogue(Z, b, act, Aout, p_drop, seed, mask, D, j0, j1)


@njit(**_FLAGS)
def linear_act_forward(H, WT, b, act, Z, Aout, p_drop, seed, mask, D):
    """A fully connected layer, its activation and dropout in one pass over the output.

        Z = H @ W + b,   Aout = f(Z),   D = Aout * mask   (mask drawn from seed when p_drop > 0)
    H (N,K), WT (M,K) = W.T (one row of weights per unit, so each output is a dot product of two
    contiguous rows), b (M,), Z, Aout, mask, D (N,M); act an ACT_* code (ACT_NONE leaves Aout,
    mask and D alone); seed a uint64. Threads split the units (columns of Z) in panels of 16.
    Equals `linear_forward(H, W, b, Z)`, then relu/tanh/sigmoid_forward, then
    `dropout_forward(Aout, p_drop, seed, mask, D)`.
    """
    _check_product(H.shape[0], H.shape[1], WT.shape[1], WT.shape[0], Z.shape[0], Z.shape[1])
    if b.shape[0] != Z.shape[1] or (act != ACT_NONE and Aout.shape != Z.shape) or (
            act != ACT_NONE and p_drop > 0 and (mask.shape != Z.shape or D.shape != Z.shape)):
        raise ValueError("linear_act_forward: b, Aout, mask, D must match Z's shape")
    N, K = H.shape
    M = WT.shape[0]
    if _threads(N, K, M):
        _linear_act_parallel(H, WT, b, act, Z, Aout, p_drop, seed, mask, D)
    else:
        nt_block(H, WT, Z, 0, M)
        _forward_epilogue(Z, b, act, Aout, p_drop, seed, mask, D, 0, M)


@njit(**_FLAGS)
def _input_grad_epilogue(dH, saved, act, mask, use_mask, j0, j1):
    """On columns j0..j1: dH *= mask (if use_mask), then dH *= f'(.) read off `saved` (z for
    relu, a = f(z) for tanh and sigmoid): the arithmetic of dropout_backward and
    relu/tanh/sigmoid_backward, one loop per case."""
    N = dH.shape[0]
    zero = dH.dtype.type(0.0)
    for i in range(N):
        if use_mask:
            for j in range(j0, j1):
                dH[i, j] = dH[i, j] * mask[i, j]
        if act == ACT_RELU:
            for j in range(j0, j1):
                dH[i, j] = dH[i, j] if saved[i, j] > 0 else zero
        elif act == ACT_TANH:
            for j in range(j0, j1):
                v = saved[i, j]
                dH[i, j] = dH[i, j] * (1.0 - v * v)
        elif act == ACT_SIGMOID:
            for j in range(j0, j1):
                v = saved[i, j]
                dH[i, j] = dH[i, j] * v * (1.0 - v)


@njit(parallel=True, **_FLAGS)
def _input_grad_parallel(dZ, WT, saved, act, mask, use_mask, dH):
    K = WT.shape[1]
    for p in prange((K + PANEL - 1) // PANEL):
        j0, j1 = p * PANEL, min(K, (p + 1) * PANEL)
        nn_block(dZ, WT, dH, 0, dZ.shape[0], j0, j1)
        _input_grad_epilogue(dH, saved, act, mask, use_mask, j0, j1)


@njit(**_FLAGS)
def linear_input_grad(dZ, WT, saved, act, mask, use_mask, dH):
    """Gradient into the layer below, through its dropout and activation.

        dH = f'(.) * mask * (dZ @ W.T)
    dZ (N,M) this layer's pre-activation gradient; WT (M,K) = W.T its weights (the tile kernel
    reads 16 consecutive inputs of one unit from a row of WT); saved (N,K) what the activation's
    backward kernel reads (z for relu, a for tanh/sigmoid); mask (N,K) the dropout mask (read
    only if use_mask); dH (N,K). Threads split the columns of dH (the units of the layer below).
    Equals `matmul_nt(dZ, W, dH)`, then `dropout_backward`, then relu/tanh/sigmoid_backward.
    """
    _check_product(dZ.shape[0], dZ.shape[1], WT.shape[0], WT.shape[1], dH.shape[0], dH.shape[1])
    if saved.shape != dH.shape or (use_mask and mask.shape != dH.shape):
        raise ValueError("linear_input_grad: saved and mask must have dH's shape")
    N, M = dZ.shape
    K = WT.shape[1]
    WTw = _wide(WT)
    if _threads(N, M, K):
        _input_grad_parallel(dZ, WTw, saved, act, mask, use_mask, dH)
    else:
        nn_block(dZ, WTw, dH, 0, N, 0, K)
        _input_grad_epilogue(dH, saved, act, mask, use_mask, 0, K)


@njit(**_FLAGS)
def _step_1d(p, g_, s1, s2, opt, lr_, l2_, mu_, b1, b2, ob1, ob2, eps_, c1, c2):
    """The update of optimizer_step on flat arrays, coefficients already in p's dtype."""
    zero, tiny = p.dtype.type(0.0), p.dtype.type(STATE_FLUSH)
    if opt == OPT_SGD:
        for i in range(p.shape[0]):
            p[i] -= lr_ * (g_[i] + l2_ * p[i])
    elif opt == OPT_MOMENTUM:
        for i in range(p.shape[0]):
            v = mu_ * s1[i] - lr_ * (g_[i] + l2_ * p[i])
            s1[i] = v if abs(v) >= tiny else zero
            p[i] += v
    else:
        for i in range(p.shape[0]):
            g = g_[i] + l2_ * p[i]
            m = b1 * s1[i] + ob1 * g
            v = b2 * s2[i] + ob2 * g * g
            s1[i] = m if abs(m) >= tiny else zero
            s2[i] = v if v >= tiny else zero
            p[i] -= lr_ * (m * c1) / (math.sqrt(v * c2) + eps_)


@njit(**_FLAGS)
def optimizer_step(P, G, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t):
    """One optimizer step on a parameter array, in place.  P, G, S1, S2 same shape, C-contiguous.

    The formulas of kernels/optim.py with g = G + l2 * P:
        OPT_SGD       P -= lr g                                          (sgd_update)
        OPT_MOMENTUM  S1 = mu S1 - lr g;  P += S1                        (momentum_update)
        OPT_ADAM      S1 = b1 S1 + (1-b1) g;  S2 = b2 S2 + (1-b2) g^2
                      P -= lr (S1 / (1-b1^t)) / (sqrt(S2 / (1-b2^t)) + eps)   (adam_update)
    The arithmetic is in P's dtype (float32 sqrt and division cost a fraction of float64 ones,
    and the state is stored in float32 anyway), over the arrays flattened (one contiguous loop
    per optimizer, so each vectorises). State entries smaller than STATE_FLUSH in magnitude are
    stored as 0: a weight whose gradient stays 0 (a dead unit, an always-blank pixel) would
    otherwise have its velocity or moments decay by 0.9 a step through float32's subnormal range,
    where arithmetic is several times slower; what they would still add to a step is < 1e-24.
    """
    f = P.dtype.type
    c1 = f(1.0 / (1.0 - beta1 ** t))
    c2 = f(1.0 / (1.0 - beta2 ** t))
    # every coefficient in P's dtype: a float64 one would turn the whole update into float64
    coef = (f(lr), f(l2), f(mu), f(beta1), f(beta2), f(1.0 - beta1), f(1.0 - beta2), f(eps), c1, c2)
    _step_1d(P.reshape(-1), G.reshape(-1), S1.reshape(-1), S2.reshape(-1), opt, *coef)


@njit(parallel=True, **_FLAGS)
def _weight_grad_parallel(dZ, H, dWT, WT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t):
    M, K = dWT.shape
    for p in prange((M + PANEL - 1) // PANEL):
        r0, r1 = p * PANEL, min(M, (p + 1) * PANEL)
        tn_block(dZ, H, dWT, r0, r1, 0, K)
        optimizer_step(WT[r0:r1], dWT[r0:r1], S1[r0:r1], S2[r0:r1], opt, lr, l2, mu, beta1,
                       beta2, eps, t)


@njit(**_FLAGS)
def weight_grad_step(dZ, H, dWT, WT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t):
    """A layer's weight gradient and the optimizer step on it, fused panel by panel.

        dWT = dZ.T @ H  (= (H.T @ dZ).T),   then   WT <- optimizer_step(WT, dWT)
    dZ (N,M) the layer's pre-activation gradient, H (N,K) its input; dWT, WT, S1, S2 (M,K):
    gradient, weights and optimizer state (S1 velocity or first moment, S2 second moment), one
    row per unit. Threads split the units in panels of 16 rows, the same split as
    linear_act_forward, so each thread updates (contiguous rows of) the weights it reads there.
    Equals `matmul_tn(H, dZ, dW)` followed by sgd_update / momentum_update / adam_update.
    """
    _check_product(dZ.shape[1], dZ.shape[0], H.shape[0], H.shape[1], dWT.shape[0], dWT.shape[1])
    if WT.shape != dWT.shape or S1.shape != dWT.shape or S2.shape != dWT.shape:
        raise ValueError("weight_grad_step: WT, S1, S2 must have dWT's shape")
    N, M = dZ.shape
    K = H.shape[1]
    Hw = _wide(H)
    if 2 * N * K * M >= PARALLEL_MIN_FLOP and M > PANEL:
        _weight_grad_parallel(dZ, Hw, dWT, WT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t)
    else:
        tn_block(dZ, Hw, dWT, 0, M, 0, K)
        optimizer_step(WT, dWT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t)


@njit(**_FLAGS)
def bias_grad_step(dZ, db, b, s1, s2, opt, lr, mu, beta1, beta2, eps, t):
    """db = sum over the batch of dZ (`bias_backward`), then the optimizer step on b (no L2)."""
    N, M = dZ.shape
    for j in range(M):
        db[j] = 0.0
    for i in range(N):
        for j in range(M):
            db[j] += dZ[i, j]
    optimizer_step(b, db, s1, s2, opt, lr, 0.0, mu, beta1, beta2, eps, t)


# ------------------------------------------------------------------- small fused pieces
@njit(cache=True, error_model="numpy")
def softmax_xent_grad(Z, y, dZ):
    """Softmax, mean cross-entropy and its gradient in one pass over the logits.

        loss = (1/N) sum_i (m_i + log sum_c exp(z_ic - m_i) - z_{i,y_i}),   m_i = max_c z_ic
        dZ   = (softmax(Z) - onehot(y)) / N
    Z, dZ (N,C), y (N,) ints. Equals `softmax_cross_entropy_forward` then
    `softmax_cross_entropy_backward`, with the same arithmetic (no fastmath here).
    """
    N, C = Z.shape
    inv_n = 1.0 / N
    total = 0.0
    for i in range(N):
        m = Z[i, 0]
        for c in range(1, C):
            if Z[i, c] > m:
                m = Z[i, c]
        s = 0.0
        for c in range(C):
            e = math.exp(Z[i, c] - m)
            dZ[i, c] = e
            s += e
        inv = 1.0 / s
        for c in range(C):
            p = dZ.dtype.type(dZ[i, c] * inv)     # softmax as the forward kernel stores it
            dZ[i, c] = p * inv_n
        dZ[i, y[i]] -= inv_n
        total += np.float64(m) + math.log(s) - np.float64(Z[i, y[i]])
    return total / N


@njit(**_FLAGS)
def _gather_row(X, s, shift_r, shift_c, use_shift, out, r):
    """out[r] = X[s], translated by (shift_r[s], shift_c[s]) pixels if use_shift (28x28 images):
    out[r, a, c] = X[s, a - dr, c - dc] inside the image, else 0 (as shift_images), one image
    row at a time: zeros left of column dc, a copied run, zeros right of it."""
    if not use_shift:
        for k in range(out.shape[1]):
            out[r, k] = X[s, k]
        return
    dr, dc = shift_r[s], shift_c[s]
    c0, c1 = max(0, dc), min(28, 28 + dc)          # output columns with a source pixel
    xs, o_r = X[s], out[r]
    for a in range(28):
        # unsigned offsets: numba then skips its negative-index check and LLVM vectorises
        o = np.uint64(a * 28)
        if 0 <= a - dr < 28:
            src = np.uint64((a - dr) * 28 + c0 - dc)
            for c in range(c0):
                o_r[o + np.uint64(c)] = 0.0
            for c in range(c1 - c0):
                o_r[o + np.uint64(c0 + c)] = xs[src + np.uint64(c)]
            for c in range(c1, 28):
                o_r[o + np.uint64(c)] = 0.0
        else:
            for c in range(28):
                o_r[o + np.uint64(c)] = 0.0


@njit(parallel=True, **_FLAGS)
def _gather_parallel(X, idx, shift_r, shift_c, use_shift, out):
    for r in prange(out.shape[0]):
        _gather_row(X, idx[r], shift_r, shift_c, use_shift, out, r)


@njit(**_FLAGS)
def gather_rows(X, idx, shift_r, shift_c, use_shift, out):
    """out[r] = X[idx[r]], translated by (shift_r[idx[r]], shift_c[idx[r]]) pixels if use_shift.

    X (n,K) (28x28 images flattened when shifting), idx (N,) row numbers, out (N,K). Equals
    `X[idx]`, then `shift_images(X[idx], shift_r[idx], shift_c[idx], out)`. The rows come from
    anywhere in a large X (memory latency bound), so two threads fetch them when there are many.
    """
    N, K = out.shape
    if N * K >= 1 << 14:
        _gather_parallel(X, idx, shift_r, shift_c, use_shift, out)
    else:
        for r in range(N):
            _gather_row(X, idx[r], shift_r, shift_c, use_shift, out, r)
