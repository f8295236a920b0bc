"""Random affine and elastic warps of 28x28 images, bilinear sampling (augmentation, forward only).

Coordinates. Pixel (r, c) is row r (down), column c (right), sampled at the point (r, c); the
image spans [0, 27] x [0, 27] and its centre is C = (13.5, 13.5). A warp is an INVERSE map: for
each output pixel p = (r, c) it gives the source point q at which the input is sampled,

    q = A @ (p - C - t) + C + d[:, r, c]  =  A @ p + b + d[:, r, c],   b = C - A @ (C + t)

    A = M^-1 for the content transform M = R(theta) @ H(shear) @ S(scale_r, scale_c) about C
        (scale, then shear, then rotate):
        R = [[cos, -sin], [sin, cos]]   theta > 0 turns the digit counter-clockwise on screen
        H = [[1, 0], [shear, 1]]        c' = c + shear * r: lower rows move right
        S = diag(scale_r, scale_c)      scale > 1 enlarges the digit
        A = [[cos / scale_r,                  sin / scale_r],
             [-(sin + shear cos) / scale_c,  (cos - shear sin) / scale_c]]
    t = (shift_r, shift_c)   moves the digit down / right by that many pixels (as shift_images)
    d (2, 28, 28)            optional elastic displacement field (px, source coordinates;
                             d[0] rows, d[1] columns), one of a bank made by kernels.elastic

With d = 0 this is scipy.ndimage.affine_transform(x, matrix=A, offset=b, order=1) (scipy's matrix
also maps output to input coordinates). Coordinates and interpolation weights are float64; pixels
are read in the image's dtype, blended in float64 and stored in the output's dtype.

Sampling. The image is 0 outside [0, 27]^2 and bilinear inside: a point within one pixel of the
border blends the edge pixel with 0 (scipy mode='grid-constant', cval=0; torch grid_sample with
zeros padding and align_corners=True). scipy's mode='constant' instead returns 0 for any point past
the outermost pixel centres; the two agree whenever the border pixels are 0, as in MNIST.
Identity parameters give q = p exactly, so the output is the input bit for bit; whole-pixel shifts
equal kernels.augment.shift_images.

Random parameters (counter-based, so independent of thread count, batch split and order): image
number `counter` of a call seeded `seed` uses u_j = hash_uniform(seed, counter * PARAM_STRIDE + j):
    j = 0  rotation   theta   = max_rotation (2 u_0 - 1)           degrees
    j = 1  scale      s       = 1 + max_scale (2 u_1 - 1)           isotropic: scale_r = scale_c = s
    j = 2  shear              = max_shear (2 u_2 - 1)
    j = 3  shift_r            = floor(u_3 (2 m + 1)) - m            whole px, m = max_shift
    j = 4  shift_c            = floor(u_4 (2 m + 1)) - m
    j = 5  field index        = floor(u_5 B) for a bank of B fields, -1 when B = 0 (no elastic)
    j = 6, 7 unused (reserved)
A parameter row (PARAM_* columns below) holds these 7 numbers; the field index is stored as float.
"""
import math

import numpy as np
from numba import njit

from kernels.dropout import hash_uniform

# Proposed defaults, the amounts of issue 11's PyTorch runs: degrees, fraction, factor, whole px
DEFAULT_MAX_ROTATION, DEFAULT_MAX_SCALE, DEFAULT_MAX_SHEAR, DEFAULT_MAX_SHIFT = 10.0, 0.1, 0.15, 2
CENTRE = 13.5                 # image centre (row and column) in pixel coordinates
PARAM_STRIDE = 8              # hash counters per image: counter * PARAM_STRIDE + j, j < 8
# columns of a parameter row (N, N_PARAMS)
(PARAM_ROTATION, PARAM_SCALE_R, PARAM_SCALE_C, PARAM_SHEAR, PARAM_SHIFT_R, PARAM_SHIFT_C,
 PARAM_FIELD) = range(7)
N_PARAMS = 7
PAD = 31                      # width of the zero-padded copy of an image in the work buffer
_TAP, _FR, _FC = PAD * PAD, PAD * PAD + 28, PAD * PAD + 56   # work offsets of one row's taps
WORK_SIZE = PAD * PAD + 3 * 28                                # float64 scratch of warp_image


@njit(cache=True)
def _pad_image(x, work):
    """work[:961] = x (784,) as float64 in a 31x31 grid, x[r, c] at (r + 1, c + 1): one zero row and
    column before the image, two after, so every tap of a clamped point (below) lies in the grid."""
    for i in range(PAD):                      # padded row 0
        work[i] = 0.0
    for r in range(28):                       # padded rows 1..28: 0, x[r, :], 0, 0
        o = (r + 1) * PAD
        work[o] = 0.0
        for c in range(28):
            work[o + c + 1] = x[r * 28 + c]
        work[o + 29] = 0.0
        work[o + 30] = 0.0
    for i in range(29 * PAD, PAD * PAD):      # padded rows 29, 30
        work[i] = 0.0


@njit(cache=True, inline="always")
def _locate(qr, qc, work, tap, c):
    """Pass 1 for output column c: the padded point (qr, qc) = source point + 1, clamped to
    [0, 29]^2, split into its top-left tap index tap[c] = r0 * 31 + c0 and fractions fr, fc.
    A point clamped on either axis lay at least one pixel outside the image and reads only zero
    taps; NaN clamps to 0."""
    qr = qr if qr > 0.0 else 0.0
    qr = qr if qr < 29.0 else 29.0
    qc = qc if qc > 0.0 else 0.0
    qc = qc if qc < 29.0 else 29.0
    r0 = int(qr)                              # floor, as qr >= 0
    c0 = int(qc)
    tap[c] = r0 * PAD + c0
    work[_FR + c] = qr - r0
    work[_FC + c] = qc - c0


@njit(cache=True, inline="always")
def _bilinear(work, tap, c):
    """Pass 2 for output column c: bilinear sample of the padded image at the point _locate stored.
    v_ij = padded[r0 + i, c0 + j]:
        top = v00 + fc (v01 - v00);  bottom = v10 + fc (v11 - v10);  value = top + fr (bottom - top)
    so a whole-pixel point (fr = fc = 0) gives v00 exactly."""
    k = tap[c]
    fr = work[_FR + c]
    fc = work[_FC + c]
    top = work[k] + fc * (work[k + 1] - work[k])
    bottom = work[k + PAD] + fc * (work[k + PAD + 1] - work[k + PAD])
    return top + fr * (bottom - top)


@njit(cache=True)
def sampling_map(rotation, scale_r, scale_c, shear, shift_r, shift_c):
    """(a00, a01, a10, a11, b0, b1): q = A @ p + b maps output pixel p to its source point q.

    rotation in degrees, scales as factors (1 = unchanged), shear as a factor, shifts in px; see
    the module docstring for A = M^-1 and b = C - A @ (C + t).
    """
    th = math.radians(rotation)
    cs = math.cos(th)
    sn = math.sin(th)
    a00 = cs / scale_r
    a01 = sn / scale_r
    a10 = -(sn + shear * cs) / scale_c
    a11 = (cs - shear * sn) / scale_c
    pr = CENTRE + shift_r
    pc = CENTRE + shift_c
    b0 = CENTRE - (a00 * pr + a01 * pc)
    b1 = CENTRE - (a10 * pr + a11 * pc)
    return a00, a01, a10, a11, b0, b1


@njit(cache=True)
def warp_image(x, a00, a01, a10, a11, b0, b1, fields, f, out, work):
    """out = x warped: out[r, c] = bilinear(x, A @ (r, c) + b + fields[f, :, r, c]), row by row.

    x, out (784,) 28x28 images; (a00..b1) from sampling_map; fields (B, 2, 28, 28) displacement
    bank (px; [f, 0] rows, [f, 1] columns); f the field to add, or -1 for none; work (WORK_SIZE,)
    C-contiguous float64 scratch, overwritten (one per thread, or np.empty(WORK_SIZE) per image:
    an allocation costs little next to the warp). Each row: pass 1 locates its 28 source points
    (arithmetic only, so it vectorises), pass 2 reads their taps and blends them.
    """
    _pad_image(x, work)
    tap = work[_TAP:_TAP + 28].view(np.int64)   # the row's tap indices, int64 in the scratch
    for r in range(28):
        qr0 = a00 * r + b0 + 1.0              # padded source point of (r, 0), before the field
        qc0 = a10 * r + b1 + 1.0
        if f < 0:
            for c in range(28):
                _locate(qr0 + a01 * c, qc0 + a11 * c, work, tap, c)
        else:
            for c in range(28):
                _locate(qr0 + a01 * c + fields[f, 0, r, c], qc0 + a11 * c + fields[f, 1, r, c],
                        work, tap, c)
        for c in range(28):
            out[r * 28 + c] = _bilinear(work, tap, c)


@njit(cache=True)
def _signed_uniform(seed, k, amount):
    """amount * (2u - 1), uniform in [-amount, amount), u = hash_uniform(seed, k)."""
    return amount * (2.0 * hash_uniform(seed, k) - 1.0)


@njit(cache=True)
def draw_params(seed, counter, max_rotation, max_scale, max_shear, max_shift, n_fields):
    """Parameters of image number `counter`: (rotation, scale, shear, shift_r, shift_c, field).

    Layout and distributions in the module docstring: u_j = hash_uniform(seed, counter * 8 + j).
    max_shift whole px (int); field = -1 when n_fields == 0.
    """
    k = counter * PARAM_STRIDE
    rotation = _signed_uniform(seed, k, max_rotation)
    scale = 1.0 + _signed_uniform(seed, k + 1, max_scale)
    shear = _signed_uniform(seed, k + 2, max_shear)
    width = 2 * max_shift + 1
    shift_r = int(math.floor(hash_uniform(seed, k + 3) * width)) - max_shift
    shift_c = int(math.floor(hash_uniform(seed, k + 4) * width)) - max_shift
    field = -1
    if n_fields > 0:
        field = int(math.floor(hash_uniform(seed, k + 5) * n_fields))
    return rotation, scale, shear, shift_r, shift_c, field


@njit(cache=True)
def augment_image(x, seed, counter, max_rotation, max_scale, max_shear, max_shift, fields, out,
                  work):
    """out (784,) = x (784,) under the random warp of image number `counter` (one call per image,
    e.g. from a gather loop). Elastic when fields (B, 2, 28, 28) has B > 0, affine only when B = 0;
    work (WORK_SIZE,) float64 scratch. All amounts 0 and B = 0 copy x exactly."""
    rot, s, sh, dr, dc, f = draw_params(seed, counter, max_rotation, max_scale, max_shear,
                                        max_shift, fields.shape[0])
    a00, a01, a10, a11, b0, b1 = sampling_map(rot, s, s, sh, dr, dc)
    warp_image(x, a00, a01, a10, a11, b0, b1, fields, f, out, work)


@njit(cache=True)
def draw_params_batch(seed, counters, max_rotation, max_scale, max_shear, max_shift, n_fields,
                      params):
    """params[n] = the parameter row (N_PARAMS,) of image number counters[n]; params (N, 7)."""
    for n in range(counters.shape[0]):
        rot, s, sh, dr, dc, f = draw_params(seed, counters[n], max_rotation, max_scale, max_shear,
                                            max_shift, n_fields)
        params[n, PARAM_ROTATION] = rot
        params[n, PARAM_SCALE_R] = s
        params[n, PARAM_SCALE_C] = s
        params[n, PARAM_SHEAR] = sh
        params[n, PARAM_SHIFT_R] = dr
        params[n, PARAM_SHIFT_C] = dc
        params[n, PARAM_FIELD] = f


@njit(cache=True)
def warp_images(X, params, fields, out):
    """out[n] = X[n] warped by the parameter row params[n] (N_PARAMS,).  X, out (N, 784);
    fields (B, 2, 28, 28), read only where params[n, PARAM_FIELD] >= 0."""
    work = np.empty(WORK_SIZE)
    for n in range(X.shape[0]):
        a00, a01, a10, a11, b0, b1 = sampling_map(
            params[n, PARAM_ROTATION], params[n, PARAM_SCALE_R], params[n, PARAM_SCALE_C],
            params[n, PARAM_SHEAR], params[n, PARAM_SHIFT_R], params[n, PARAM_SHIFT_C])
        warp_image(X[n], a00, a01, a10, a11, b0, b1, fields, int(params[n, PARAM_FIELD]), out[n],
                   work)


@njit(cache=True)
def augment_images(X, seed, counters, max_rotation, max_scale, max_shear, max_shift, fields, out):
    """out[n] = augment_image(X[n], seed, counters[n], ...) for each row.  X, out (N, 784)."""
    work = np.empty(WORK_SIZE)
    for n in range(X.shape[0]):
        augment_image(X[n], seed, counters[n], max_rotation, max_scale, max_shear, max_shift,
                      fields, out[n], work)
