"""Inverted dropout with a counter-based random mask, and its gradient.

The mask element i of a call seeded with `seed` is a pure function of (seed, i): a splitmix64 hash
turned into a uniform u in [0, 1). Units are kept where u >= p and scaled by 1/(1-p), so the
expected activation is unchanged and inference needs no rescaling:
    mask[i] = 1/(1-p) if u(seed, i) >= p else 0;   out = x * mask;   dx = dout * mask
The same seed always gives the same mask, whatever the thread count.
"""
import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def hash_uniform(seed, i):
    """u in [0, 1) from (seed, i) by the splitmix64 finaliser (24 random bits)."""
    x = np.uint64(seed) + (np.uint64(i) + np.uint64(1)) * _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    x = x ^ (x >> np.uint64(31))
    return np.float64(x >> np.uint64(40)) * (1.0 / 16777216.0)


@njit(inline="always")
def dropout_span(x, p, seed, first, mask, out):
    """dropout_forward over a span of a row: x, mask, out (n,) views, e.g. X[i, j0:j1], whose
    element j is element first + j of the flattened (N,M) array (first = i*M + j0). The keep test
    of flat element e is u(seed, e) >= p, wherever the span lies (the fused forward layer applies
    it to one panel of columns at a time)."""
    scale = 1.0 / (1.0 - p)
    for j in range(x.shape[0]):
        keep = hash_uniform(seed, first + j) >= p
        mask[j] = scale if keep else 0.0
        out[j] = x[j] * mask[j]


@njit(cache=True)
def dropout_forward(x, p, seed, mask, out):
    """out = x * mask with a fresh mask drawn from (seed, index).  x, mask, out (N,M); 0 <= p < 1."""
    for i in range(x.shape[0]):
        dropout_span(x[i], p, seed, i * x.shape[1], mask[i], out[i])


@njit(inline="always")
def dropout_backward_span(dout, mask, dx):
    """dropout_backward over a span of a row: dout, mask, dx (n,) views; dx may be dout."""
    for j in range(dout.shape[0]):
        dx[j] = dout[j] * mask[j]


@njit(cache=True)
def dropout_backward(dout, mask, dx):
    """dx = dout * mask (the mask saved by dropout_forward).  All (N,M); dx may alias dout."""
    for i in range(dout.shape[0]):
        dropout_backward_span(dout[i], mask[i], dx[i])
