"""A bank of smooth random displacement fields for elastic distortion (Simard et al. 2003).

Each field d (2, 28, 28) (d[0] row and d[1] column displacement, px) is white Gaussian noise
smoothed by a Gaussian of width sigma px and scaled to a requested RMS length:

    z[k, i, j] ~ N(0, 1) i.i.d. on a (28 + 2R) x (28 + 2R) grid,  R = ceil(4 sigma)
    g[t] = exp(-t^2 / (2 sigma^2)) / sum_t' exp(-t'^2 / (2 sigma^2)),  t = -R..R
    d[k, r, c] = alpha * sum_{s,t} g[s] g[t] z[k, r + R + s, c + R + t]   (separable, 'valid')
    alpha = amplitude / (sqrt(2) * sum_t g[t]^2)

Each component of d is then a stationary Gaussian field with variance alpha^2 (sum g^2)^2 =
amplitude^2 / 2, so the RMS displacement length sqrt(E[d0^2 + d1^2]) is `amplitude` (each field
varies around it, as in Simard's construction), and its correlation at a lag of L px along an axis
is sum_t g[t] g[t + L] / sum_t g[t]^2 (about exp(-L^2 / (4 sigma^2))). Noise on the padded grid
avoids the weaker, shrunken displacements a zero-padded convolution would give near the border.

The normals come from the counter-based hash by Box-Muller, so field b is a pure function of
(seed, sigma, amplitude, b): the same seed gives the same bank, and a bank of B fields is the first
B fields of any larger one. The warp kernels (kernels.warp) add field f to their sampling grid.
"""
import math

import numpy as np
from numba import njit

from kernels.dropout import hash_uniform

# Proposed defaults: smoothing width and RMS displacement length (px, as in issue 11's PyTorch
# runs) and the bank size (1024 float32 fields = 6.4 MB, made in 0.3-0.6 s on one busy core)
DEFAULT_SIGMA, DEFAULT_AMPLITUDE, DEFAULT_N_FIELDS = 4.0, 1.5, 1024


@njit(cache=True, inline="always")
def _normal(seed, i):
    """Standard normal number i of `seed`: Box-Muller (cosine branch) on the uniforms 2i, 2i + 1."""
    u1 = hash_uniform(seed, 2 * i)
    u2 = hash_uniform(seed, 2 * i + 1)
    return math.sqrt(-2.0 * math.log(1.0 - u1)) * math.cos(2.0 * math.pi * u2)


@njit(cache=True)
def gaussian_taps(sigma):
    """g (2R + 1,) float64: the normalised Gaussian g[R + t] ~ exp(-t^2 / (2 sigma^2)),
    R = ceil(4 sigma); g = [1] for sigma = 0 (no smoothing)."""
    R = int(math.ceil(4.0 * sigma))
    g = np.empty(2 * R + 1)
    total = 0.0
    for t in range(-R, R + 1):
        g[R + t] = math.exp(-t * t / (2.0 * sigma * sigma)) if sigma > 0.0 else 1.0
        total += g[R + t]
    for t in range(2 * R + 1):
        g[t] /= total
    return g


@njit(cache=True)
def elastic_fields(seed, sigma, amplitude, fields):
    """Fill fields (B, 2, 28, 28) with B smoothed random displacement fields (formulas above).

    seed int, sigma >= 0 smoothing width px, amplitude >= 0 RMS displacement length px. Normal
    number ((b * 2 + k) * P + i) * P + j of `seed` is z[k, i, j] of field b, P = 28 + 2R.
    """
    g = gaussian_taps(sigma)
    T = g.shape[0]
    P = 28 + T - 1
    sum_g2 = 0.0
    for t in range(T):
        sum_g2 += g[t] * g[t]
    alpha = amplitude / (math.sqrt(2.0) * sum_g2)
    z = np.empty((P, P))
    rows = np.empty((P, 28))                  # z smoothed along columns
    for b in range(fields.shape[0]):
        for k in range(2):
            base = (b * 2 + k) * P * P
            for i in range(P):
                for j in range(P):
                    z[i, j] = _normal(seed, base + i * P + j)
            for i in range(P):                # rows[i, c] = sum_t g[t] z[i, c + t]
                for c in range(28):
                    acc = 0.0
                    for t in range(T):
                        acc += g[t] * z[i, c + t]
                    rows[i, c] = acc
            for r in range(28):               # d[r, c] = alpha sum_s g[s] rows[r + s, c]
                for c in range(28):
                    acc = 0.0
                    for s in range(T):
                        acc += g[s] * rows[r + s, c]
                    fields[b, k, r, c] = alpha * acc


def field_bank(seed, n_fields=DEFAULT_N_FIELDS, sigma=DEFAULT_SIGMA, amplitude=DEFAULT_AMPLITUDE,
               dtype=np.float64):
    """A new (n_fields, 2, 28, 28) bank from elastic_fields, in `dtype` (computed in float64)."""
    if n_fields < 0 or not (sigma >= 0.0) or not (amplitude >= 0.0):
        raise ValueError(f"need n_fields >= 0, sigma >= 0, amplitude >= 0; got "
                         f"{n_fields}, {sigma}, {amplitude}")
    fields = np.empty((n_fields, 2, 28, 28))
    elastic_fields(seed, float(sigma), float(amplitude), fields)
    return fields.astype(dtype, copy=False)
