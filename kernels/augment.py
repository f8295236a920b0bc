"""Data augmentation and small inference helpers."""
from numba import njit


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
