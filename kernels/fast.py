"""Optimised matrix products with fused epilogues: the kernels the compiled training epoch runs.

Every kernel here computes exactly what a plain kernel in `kernels/matmul.py`,
`kernels/activations.py`, `kernels/dropout.py`, `kernels/loss.py` or `kernels/optim.py` computes
(the docstring names which); `tests/test_fast.py` holds each pair equal to float32 tolerance
(the sums are taken in another order, that is all) and both to NumPy.

One layout does all the work: the dot-product form ("NT")

    out[i, j] = sum_k A[i, k] * B[j, k]          A (N,K), B (M,K), out (N,M)  =  A @ B.T

whose inner loop reads two contiguous rows. With fastmath LLVM turns it into SIMD fused
multiply-adds over k (8 float32 lanes with AVX2, 16 with AVX-512) and, because a 2x4 block of
outputs is computed per sweep over k, each loaded element of A is used 4 times and each of B twice
from registers ("register blocking"). The other layouts become NT by transposing a panel once:

    A @ B    = NT(A, B.T)          forward        Z  = H @ W   uses W.T  (kept transposed: WT)
    A @ B.T  = NT(A, B)            input grad     dH = dZ @ W.T uses W as stored
    A.T @ B  = NT(A.T, B.T)        weight grad    dW.T = dZ.T @ H  = NT(dZ.T, H.T)

Work is split over threads by panels of PANEL columns of `out` (`prange`): every output is summed
by one thread in a fixed order, so results do not depend on the thread count or scheduling.
Products smaller than PARALLEL_MIN_FLOP run on one thread (a parallel region costs microseconds).

Epilogues are applied to each panel right after it is computed, while it is still in cache:
bias + activation (forward), dropout mask + activation derivative + a transposed copy (input
gradient), bias gradient + optimizer step (weight gradient).
"""
import math

import numpy as np
from numba import njit, prange

from kernels.dropout import hash_uniform

PANEL = 16                    # columns of `out` per parallel task
PARALLEL_MIN_FLOP = 1 << 21   # 2 MFLOP: below this one thread is faster than waking two

# activation codes (kernels/__init__.py ACTIVATIONS order)
ACT_NONE, ACT_RELU, ACT_TANH, ACT_SIGMOID = 0, 1, 2, 3
ACT_CODES = {"relu": ACT_RELU, "tanh": ACT_TANH, "sigmoid": ACT_SIGMOID}
# optimizer codes
OPT_SGD, OPT_MOMENTUM, OPT_ADAM = 0, 1, 2
OPT_CODES = {"sgd": OPT_SGD, "momentum": OPT_MOMENTUM, "adam": OPT_ADAM}

_FLAGS = dict(cache=True, fastmath=True, error_model="numpy")


# ------------------------------------------------------------------------------- the microkernel
@njit(**_FLAGS)
def nt_panel(A, B, out, j0, j1):
    """out[:, j0:j1] = A @ B[j0:j1].T, in 2x4 register blocks.  A (N,K), B (M,K), out (N,M).

    Equals `matmul_nt(A, B, out)` restricted to columns j0..j1-1. For each block of 4 rows of B
    (kept in L1 cache) it sweeps all rows of A two at a time; the 8 sums of a block live in
    registers and the k loop is vectorised by LLVM (fastmath allows reordering the sums).
    """
    N, K = A.shape
    zero = A.dtype.type(0.0)
    j = j0
    while j + 4 <= j1:
        i = 0
        while i + 2 <= N:
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            for k in range(K):
                a0 = A[i, k]
                a1 = A[i + 1, k]
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
            out[i + 1, j] = s10
            out[i + 1, j + 1] = s11
            out[i + 1, j + 2] = s12
            out[i + 1, j + 3] = s13
            i += 2
        if i < N:                      # odd N: last row against the 4 rows of B
            s0 = s1 = s2 = s3 = zero
            for k in range(K):
                a = A[i, k]
                s0 += a * B[j, k]
                s1 += a * B[j + 1, k]
                s2 += a * B[j + 2, k]
                s3 += a * B[j + 3, k]
            out[i, j] = s0
            out[i, j + 1] = s1
            out[i, j + 2] = s2
            out[i, j + 3] = s3
        j += 4
    while j < j1:                      # leftover columns (j1 - j0 not a multiple of 4)
        for i in range(N):
            s = zero
            for k in range(K):
                s += A[i, k] * B[j, k]
            out[i, j] = s
        j += 1


@njit(**_FLAGS)
def _use_threads(N, K, M):
    return 2 * N * K * M >= PARALLEL_MIN_FLOP and M > PANEL


@njit(parallel=True, **_FLAGS)
def _nt_parallel(A, B, out):
    M = B.shape[0]
    for p in prange((M + PANEL - 1) // PANEL):
        nt_panel(A, B, out, p * PANEL, min(M, (p + 1) * PANEL))


@njit(**_FLAGS)
def matmul_nt_fast(A, B, out):
    """out = A @ B.T.  A (N,K), B (M,K), out (N,M).  Equals `matmul_nt`.

    Multi-threaded over column panels when the product is large enough.
    """
    N, K = A.shape
    M = B.shape[0]
    if _use_threads(N, K, M):
        _nt_parallel(A, B, out)
    else:
        nt_panel(A, B, out, 0, M)


@njit(**_FLAGS)
def transpose(A, out):
    """out = A.T (a copy).  A (N,M), out (M,N). Walks 8x8 tiles so reads and writes stay in cache."""
    N, M = A.shape
    for i0 in range(0, N, 8):
        i1 = min(N, i0 + 8)
        for j0 in range(0, M, 8):
            j1 = min(M, j0 + 8)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    out[j, i] = A[i, j]


@njit(**_FLAGS)
def matmul_nn_fast(A, B, out):
    """out = A @ B.  A (N,K), B (K,M), out (N,M).  Equals `matmul_nn`.

    Packs B.T once (K*M copies, small next to the N*K*M multiply-adds), then the NT kernel.
    """
    BT = np.empty((B.shape[1], B.shape[0]), B.dtype)
    transpose(B, BT)
    matmul_nt_fast(A, BT, out)


@njit(**_FLAGS)
def matmul_tn_fast(A, B, out):
    """out = A.T @ B.  A (N,K), B (N,M), out (K,M).  Equals `matmul_tn`.

    Packs A.T and B.T (both now contiguous along the summed index N), then out = NT(A.T, B.T).
    """
    AT = np.empty((A.shape[1], A.shape[0]), A.dtype)
    BT = np.empty((B.shape[1], B.shape[0]), B.dtype)
    transpose(A, AT)
    transpose(B, BT)
    matmul_nt_fast(AT, BT, out)


# ------------------------------------------------------------------------------------ epilogues
@njit(**_FLAGS)
def _act_value(z, act):
    """f(z) for an activation code; as in kernels/activations.py."""
    if act == ACT_RELU:
        return z if z > 0 else 0.0
    if act == ACT_TANH:
        return math.tanh(z)
    if act == ACT_SIGMOID:
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)
    return z


@njit(**_FLAGS)
def _act_grad(g, saved, act):
    """g * f'(.) read off `saved` (z for relu, a = f(z) for tanh/sigmoid); as in activations.py."""
    if act == ACT_RELU:
        return g if saved > 0 else 0.0
    if act == ACT_TANH:
        return g * (1.0 - saved * saved)
    if act == ACT_SIGMOID:
        return g * saved * (1.0 - saved)
    return g


@njit(**_FLAGS)
def _forward_epilogue(Z, b, act, Aout, j0, j1):
    N = Z.shape[0]
    for i in range(N):
        for j in range(j0, j1):
            z = Z[i, j] + b[j]
            Z[i, j] = z
            if act != ACT_NONE:
                Aout[i, j] = _act_value(z, act)


@njit(parallel=True, **_FLAGS)
def _linear_act_parallel(H, WT, b, act, Z, Aout):
    M = WT.shape[0]
    for p in prange((M + PANEL - 1) // PANEL):
        j0, j1 = p * PANEL, min(M, (p + 1) * PANEL)
        nt_panel(H, WT, Z, j0, j1)
        _forward_epilogue(Z, b, act, Aout, j0, j1)


@njit(**_FLAGS)
def linear_act_forward(H, WT, b, act, Z, Aout):
    """Z = H @ WT.T + b and Aout = f(Z).  H (N,K), WT (M,K) = W.T, b (M,), Z, Aout (N,M).

    Equals `linear_forward(H, W, b, Z)` followed by the activation's forward kernel (relu_forward,
    tanh_forward, sigmoid_forward); act is an ACT_* code and ACT_NONE leaves Aout untouched.
    """
    N, K = H.shape
    M = WT.shape[0]
    if _use_threads(N, K, M):
        _linear_act_parallel(H, WT, b, act, Z, Aout)
    else:
        nt_panel(H, WT, Z, 0, M)
        _forward_epilogue(Z, b, act, Aout, 0, M)


@njit(**_FLAGS)
def _input_grad_epilogue(dH, saved, act, mask, use_mask, dHT, j0, j1):
    N = dH.shape[0]
    for i in range(N):
        for j in range(j0, j1):
            g = dH[i, j]
            if use_mask:
                g = g * mask[i, j]
            g = _act_grad(g, saved[i, j], act)
            dH[i, j] = g
            dHT[j, i] = g


@njit(parallel=True, **_FLAGS)
def _input_grad_parallel(dZ, W, saved, act, mask, use_mask, dH, dHT):
    K = W.shape[0]
    for p in prange((K + PANEL - 1) // PANEL):
        j0, j1 = p * PANEL, min(K, (p + 1) * PANEL)
        nt_panel(dZ, W, dH, j0, j1)
        _input_grad_epilogue(dH, saved, act, mask, use_mask, dHT, j0, j1)


@njit(**_FLAGS)
def linear_input_grad(dZ, W, saved, act, mask, use_mask, dH, dHT):
    """Gradient flowing into the layer below, through its dropout and activation.

        dH = f'(.) * mask * (dZ @ W.T),   dHT = dH.T
    dZ (N,M) gradient of this layer's pre-activation, W (K,M) its weights as stored, saved (N,K)
    what the activation's backward kernel reads (z for relu, a for tanh/sigmoid), mask (N,K) the
    dropout mask (ignored unless use_mask), dH (N,K), dHT (K,N).
    Equals `matmul_nt(dZ, W, dH)`, then `dropout_backward`, then relu/tanh/sigmoid_backward.
    """
    N, M = dZ.shape
    K = W.shape[0]
    if _use_threads(N, M, K):
        _input_grad_parallel(dZ, W, saved, act, mask, use_mask, dH, dHT)
    else:
        nt_panel(dZ, W, dH, 0, K)
        _input_grad_epilogue(dH, saved, act, mask, use_mask, dHT, 0, K)


@njit(**_FLAGS)
def _step_panel(P, G, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t, j0, j1):
    """Optimizer step on columns j0..j1 of a 2-D parameter P with gradient G (formulas of optim.py)."""
    M = P.shape[0]
    if opt == OPT_ADAM:
        c1 = 1.0 / (1.0 - beta1 ** t)
        c2 = 1.0 / (1.0 - beta2 ** t)
    for r in range(M):
        for j in range(j0, j1):
            g = G[r, j] + l2 * P[r, j]
            if opt == OPT_SGD:
                P[r, j] -= lr * g
            elif opt == OPT_MOMENTUM:
                S1[r, j] = mu * S1[r, j] - lr * g
                P[r, j] += S1[r, j]
            else:
                S1[r, j] = beta1 * S1[r, j] + (1.0 - beta1) * g
                S2[r, j] = beta2 * S2[r, j] + (1.0 - beta2) * g * g
                P[r, j] -= lr * (S1[r, j] * c1) / (math.sqrt(S2[r, j] * c2) + eps)


@njit(parallel=True, **_FLAGS)
def _weight_grad_parallel(dZT, HT, dWT, WT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t):
    K = HT.shape[0]
    for p in prange((K + PANEL - 1) // PANEL):
        j0, j1 = p * PANEL, min(K, (p + 1) * PANEL)
        nt_panel(dZT, HT, dWT, j0, j1)
        _step_panel(WT, dWT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t, j0, j1)


@njit(**_FLAGS)
def weight_grad_step(dZT, HT, dWT, WT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t):
    """Weight gradient of a layer and the optimizer step on it, fused panel by panel.

        dWT = dZT @ HT.T  (= (H.T @ dZ).T),   then  WT <- step(WT, dWT)
    dZT (M,N) the layer's pre-activation gradient transposed, HT (K,N) its input transposed,
    dWT, WT, S1, S2 (M,K): gradient, weights and optimizer state, all transposed. opt is an OPT_*
    code; S1 is the velocity (momentum) or first moment (Adam), S2 the second moment (Adam).
    Equals `matmul_tn(H, dZ, dW)` followed by sgd_update / momentum_update / adam_update.
    """
    M, N = dZT.shape
    K = HT.shape[0]
    if _use_threads(M, N, K):
        _weight_grad_parallel(dZT, HT, dWT, WT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t)
    else:
        nt_panel(dZT, HT, dWT, 0, K)
        _step_panel(WT, dWT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t, 0, K)


@njit(**_FLAGS)
def bias_grad_step(dZT, db, b, s1, s2, opt, lr, mu, beta1, beta2, eps, t):
    """db[j] = sum_n dZT[j, n] (= bias_backward of dZ), then the optimizer step on b (no L2)."""
    M, N = dZT.shape
    for j in range(M):
        s = dZT.dtype.type(0.0)
        for n in range(N):
            s += dZT[j, n]
        db[j] = s
    _step_panel(b.reshape((1, M)), db.reshape((1, M)), s1.reshape((1, M)), s2.reshape((1, M)),
                opt, lr, 0.0, mu, beta1, beta2, eps, t, 0, M)


# --------------------------------------------------------------------- small fused pieces
@njit(**_FLAGS)
def dropout_apply(Aact, p, seed, mask, D, DT):
    """D = Aact * mask with the mask of `dropout_forward(Aact, p, seed, mask, D)`, and DT = D.T.

    With p == 0 it only copies: D = Aact (mask untouched).  Aact, mask, D (N,M), DT (M,N).
    """
    N, M = Aact.shape
    if p > 0:
        scale = 1.0 / (1.0 - p)
        for i in range(N):
            for j in range(M):
                keep = hash_uniform(seed, i * M + j) >= p
                mask[i, j] = scale if keep else 0.0
                D[i, j] = Aact[i, j] * mask[i, j]
    elif D.ctypes.data != Aact.ctypes.data:
        for i in range(N):
            for j in range(M):
                D[i, j] = Aact[i, j]
    transpose(D, DT)


@njit(cache=True, error_model="numpy")
def softmax_xent_grad(Z, y, dZ, dZT):
    """Fused softmax + mean cross-entropy + gradient in one pass over the logits.

        loss = (1/N) sum_i (m_i + log sum_c exp(z_ic - m_i) - z_{i,y_i})
        dZ   = (softmax(Z) - onehot(y)) / N,    dZT = dZ.T
    Z, dZ (N,C), dZT (C,N), y (N,) int. Equals `softmax_cross_entropy_forward` followed by
    `softmax_cross_entropy_backward`, with the same arithmetic (no fastmath: exp and log as there).
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
            pc = dZ.dtype.type(dZ[i, c] * inv)     # p[i, c] as softmax_cross_entropy_forward stores it
            dZ[i, c] = pc * inv_n
        dZ[i, y[i]] -= inv_n
        total += np.float64(m) + math.log(s) - np.float64(Z[i, y[i]])
        for c in range(C):
            dZT[c, i] = dZ[i, c]
    return total / N


@njit(**_FLAGS)
def gather_rows(X, idx, shift_r, shift_c, use_shift, out, outT):
    """out[r] = X[idx[r]] (translated by (shift_r[idx[r]], shift_c[idx[r]]) if use_shift), outT = out.T.

    X (n,784 when shifting), idx (N,) row numbers, out (N,K), outT (K,N). Equals X[idx], then
    `shift_images(X[idx], shift_r[idx], shift_c[idx], out)`.
    """
    N, K = out.shape
    for r in range(N):
        s = idx[r]
        if use_shift:
            sr = shift_r[s]
            sc = shift_c[s]
            for a in range(28):
                aa = a - sr
                for c in range(28):
                    cc = c - sc
                    if 0 <= aa < 28 and 0 <= cc < 28:
                        out[r, a * 28 + c] = X[s, aa * 28 + cc]
                    else:
                        out[r, a * 28 + c] = 0.0
        else:
            for k in range(K):
                out[r, k] = X[s, k]
    transpose(out, outT)
