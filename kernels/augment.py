"""Data augmentation, and the batch gather that applies it on the way into the compiled epoch.

shift_images is the readable kernel; gather_rows fetches a mini-batch's rows from anywhere in the
training set and shifts them in the same pass (no extra pass over the batch); gather_warp does the
same with the random affine / elastic warps of kernels/warp.py (readable form: augment_images).
"""
import numpy as np
from numba import njit, prange

from kernels.runtime import FAST, INNER
from kernels.warp import WORK_SIZE, augment_image


@njit(cache=True)
def shift_images(x, dr, dc, out):
    """Translate each 28x28 image by (dr[n], dc[n]) pixels, filling with zeros.

    x, out (N, 784) flattened row-major images; dr, dc (N,) integer shifts (down, right).
    out[n, r, c] = x[n, r - dr, c - dc] when that pixel lies inside the image, else 0.
    """
    N = x.shape[0]
    for n in range(N):
        sr = dr[n]
        sc = dc[n]
        for r in range(28):
            rr = r - sr
            for c in range(28):
                cc = c - sc
                if 0 <= rr < 28 and 0 <= cc < 28:
                    out[n, r * 28 + c] = x[n, rr * 28 + cc]
                else:
                    out[n, r * 28 + c] = 0.0


@njit(**INNER)
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


@njit(parallel=True, **FAST)
def gather_rows(X, idx, shift_r, shift_c, use_shift, out):
    """out[r] = X[idx[r]], translated by (shift_r[idx[r]], shift_c[idx[r]]) pixels if use_shift.

    X (n,K) (28x28 images flattened when shifting), idx (N,) row numbers, out (N,K). Equals
    `X[idx]`, then `shift_images(X[idx], shift_r[idx], shift_c[idx], out)`. The rows come from
    anywhere in a large X (memory latency bound), so two threads fetch them when there are many.
    One compiled kernel holds both branches (the epoch calls it by address, kernels/calls.py).
    """
    N, K = out.shape
    if N * K >= 1 << 14:
        for r in prange(N):
            _gather_row(X, idx[r], shift_r, shift_c, use_shift, out, np.uint64(r))
    else:
        # the row unsigned here, as prange's index is above: one compiled _gather_row, not two
        for q in range(N):
            _gather_row(X, idx[q], shift_r, shift_c, use_shift, out, np.uint64(q))


# No fastmath here: the warp must round exactly as kernels.warp does (readable path = fast path).
@njit(parallel=True, cache=True)
def gather_warp(X, idx, seed, counter0, max_rotation, max_scale, max_shear, max_shift, fields, out):
    """out[r] = X[idx[r]] under a random affine (and, if fields has B > 0, elastic) warp, in one pass.

    Row r is kernels.warp.augment_image of image idx[r] with counter counter0 + idx[r]: its random
    parameters depend on the sample's number, not on the batch, the chunk or the thread, so this
    equals `augment_images(X[idx], seed, counter0 + idx, ..., out)` bit for bit. X (n, 784), idx
    (N,), amounts as in augment_image (degrees, fraction, factor, whole px), fields (B, 2, 28, 28)
    float64 (B = 0: affine only), out (N, 784). Two threads share the rows when there are many
    (one compiled kernel for both branches, as gather_rows).
    """
    N = out.shape[0]
    if N * out.shape[1] >= 1 << 14:
        for r in prange(N):
            work = np.empty(WORK_SIZE)          # per-row scratch: no state shared between threads
            s = idx[r]
            augment_image(X[s], seed, counter0 + s, max_rotation, max_scale, max_shear, max_shift,
                          fields, out[r], work)
    else:
        scratch = np.empty(WORK_SIZE)
        for q in range(N):
            t = idx[q]
            augment_image(X[t], seed, counter0 + t, max_rotation, max_scale, max_shear,
                          max_shift, fields, out[q], scratch)
