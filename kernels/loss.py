"""Softmax and cross-entropy, fused and numerically stable.

For logits z (N,C) and integer labels y (N,):
    p[i, c]  = exp(z[i, c] - m_i) / sum_c' exp(z[i, c'] - m_i),   m_i = max_c z[i, c]
    loss     = (1/N) sum_i ( m_i + log sum_c exp(z[i, c] - m_i) - z[i, y_i] )      (log-sum-exp)
    dL/dz    = (p - onehot(y)) / N
"""
import math

import numpy as np
from numba import njit


@njit(cache=True)
def _softmax_row(z, i, p):
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
        _softmax_row(z, i, p)


@njit(cache=True)
def softmax_cross_entropy_forward(z, y, p):
    """Fused softmax + mean cross-entropy.  z, p (N,C), y (N,) ints in [0, C).

    Writes p = softmax(z) and returns the mean loss (accumulated in float64):
    loss_i = log sum_c exp(z[i, c]) - z[i, y_i].
    """
    N = z.shape[0]
    total = 0.0
    for i in range(N):
        total += _softmax_row(z, i, p) - np.float64(z[i, y[i]])
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
