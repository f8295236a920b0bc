"""Softmax and cross-entropy, fused and numerically stable.

For logits z (N,C) and integer labels y (N,):
    p[i, c]  = exp(z[i, c] - m_i) / sum_c' exp(z[i, c'] - m_i),   m_i = max_c z[i, c]
    loss     = (1/N) sum_i ( m_i + log sum_c exp(z[i, c] - m_i) - z[i, y_i] )      (log-sum-exp)
    dL/dz    = (p - onehot(y)) / N
`softmax_row` is the one place the row's softmax and log-sum-exp are computed; the plain kernels
and the fused `softmax_xent_grad` (the training epoch's loss) call it.
"""
import math

import numpy as np
from numba import njit


@njit(inline="always")
def softmax_row(z, i, p):
    """p[i] = softmax(z[i]), shifted by the row max m; returns log sum_c exp(z[i, c]) = m + log s."""
    C = z.shape[1]
    m = z[i, 0]
    for c in range(1, C):
        if z[i, c] > m:
            m = z[i, c]
    s = 0.0
    for c in range(C):
        e = math.exp(z[i, c] - m)
        p[i, c] = e
        s += e
    inv = 1.0 / s
    for c in range(C):
        p[i, c] *= inv
    return np.float64(m) + math.log(s)


@njit(cache=True)
def softmax_forward(z, p):
    """p = softmax(z) row by row, shifted by the row max so exp never overflows.  z, p (N,C)."""
    for i in range(z.shape[0]):
        softmax_row(z, i, p)


@njit(cache=True)
def softmax_cross_entropy_forward(z, y, p):
    """Fused softmax + mean cross-entropy.  z, p (N,C), y (N,) ints in [0, C).

    Writes p = softmax(z) and returns the mean loss (accumulated in float64):
    loss_i = log sum_c exp(z[i, c]) - z[i, y_i].
    """
    N = z.shape[0]
    total = 0.0
    for i in range(N):
        total += softmax_row(z, i, p) - np.float64(z[i, y[i]])
    return total / N


@njit(cache=True)
def softmax_cross_entropy_backward(p, y, dz):
    """dz = (p - onehot(y)) / N.  p, dz (N,C), y (N,)."""
    N, C = p.shape
    inv_n = 1.0 / N
    for i in range(N):
        for c in range(C):
            dz[i, c] = p[i, c] * inv_n
        dz[i, y[i]] -= inv_n


@njit(cache=True)
def softmax_xent_grad(Z, y, dZ):
    """Softmax, mean cross-entropy and its gradient in one pass over the logits.

        loss = (1/N) sum_i (log sum_c exp(z_ic) - z_{i,y_i}),   dZ = (softmax(Z) - onehot(y)) / N
    Z, dZ (N,C), y (N,) ints. Equals `softmax_cross_entropy_forward` then
    `softmax_cross_entropy_backward` bit for bit (the same row kernel, then the same scaling).
    """
    N, C = Z.shape
    inv_n = 1.0 / N
    total = 0.0
    for i in range(N):
        total += softmax_row(Z, i, dZ) - np.float64(Z[i, y[i]])
        for c in range(C):
            dZ[i, c] = dZ[i, c] * inv_n
        dZ[i, y[i]] -= inv_n
    return total / N


@njit(cache=True)
def argmax_rows(p, out):
    """out[i] = argmax_c p[i, c] (first maximum on ties).  p (N,C), out (N,) ints."""
    N, C = p.shape
    for i in range(N):
        best = 0
        for c in range(1, C):
            if p[i, c] > p[i, best]:
                best = c
        out[i] = best
