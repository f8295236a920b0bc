"""Augmentation kernels (kernels/warp.py, kernels/elastic.py) against scipy.ndimage and their own
stated conventions: bilinear affine and elastic warps, exact identity, whole-pixel shifts equal to
shift_images, counter-based parameter draws, and the statistics of the displacement-field bank."""
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit, prange, set_num_threads, get_num_threads

from kernels.augment import shift_images
from kernels.dropout import hash_uniform
from kernels.elastic import elastic_fields, field_bank, gaussian_taps
from kernels.warp import (N_PARAMS, PARAM_FIELD, PARAM_ROTATION, PARAM_SCALE_C, PARAM_SCALE_R,
                          PARAM_SHEAR, PARAM_SHIFT_C, PARAM_SHIFT_R, WORK_SIZE, augment_image,
                          augment_images, draw_params_batch, sampling_map, warp_image, warp_images)

NO_FIELDS = np.zeros((0, 2, 28, 28))


def random_params(rng, n, big=False):
    """(n, N_PARAMS) parameter rows with per-axis scales and fractional shifts, no field."""
    k = 3.0 if big else 1.0
    p = np.zeros((n, N_PARAMS))
    p[:, PARAM_ROTATION] = rng.uniform(-60 * k, 60 * k, n)
    p[:, PARAM_SCALE_R] = rng.uniform(0.7, 1.4, n)
    p[:, PARAM_SCALE_C] = rng.uniform(0.7, 1.4, n)
    p[:, PARAM_SHEAR] = rng.uniform(-0.4 * k, 0.4 * k, n)
    p[:, PARAM_SHIFT_R] = rng.uniform(-4 * k, 4 * k, n)
    p[:, PARAM_SHIFT_C] = rng.uniform(-4 * k, 4 * k, n)
    p[:, PARAM_FIELD] = -1
    return p


def matrix_offset(row):
    a00, a01, a10, a11, b0, b1 = sampling_map(*row[:PARAM_FIELD])
    return np.array([[a00, a01], [a10, a11]]), np.array([b0, b1])


def ink_images(rng, n, border):
    """(n, 784) random images; with a zero band of `border` px around the edge."""
    X = rng.uniform(-0.5, 1.0, (n, 28, 28))
    if border:
        X[:, :border] = X[:, -border:] = X[:, :, :border] = X[:, :, -border:] = 0.0
    return X.reshape(n, 784)


@pytest.mark.parametrize("big", [False, True])
def test_affine_matches_scipy_zero_padding(big):
    # Every pixel non-zero, so points within a pixel of the border test the zero padding.
    rng = np.random.default_rng(1 + big)
    X = ink_images(rng, 40, border=0)
    P = random_params(rng, 40, big)
    out = np.empty_like(X)
    warp_images(X, P, NO_FIELDS, out)
    for n in range(len(X)):
        A, b = matrix_offset(P[n])
        ref = ndi.affine_transform(X[n].reshape(28, 28), A, offset=b, order=1,
                                   mode="grid-constant", cval=0.0)
        np.testing.assert_allclose(out[n], ref.ravel(), rtol=0, atol=1e-12)


def test_affine_matches_scipy_constant_mode_on_zero_border():
    # scipy's mode='constant' drops points past the outer pixel centres; with a zero border
    # (as MNIST has) that is the same image as zero padding. Small digit: a 6x6 patch of ink.
    rng = np.random.default_rng(3)
    X = ink_images(rng, 30, border=11)
    P = random_params(rng, 30)
    out = np.empty_like(X)
    warp_images(X, P, NO_FIELDS, out)
    for n in range(len(X)):
        A, b = matrix_offset(P[n])
        ref = ndi.affine_transform(X[n].reshape(28, 28), A, offset=b, order=1, mode="constant")
        np.testing.assert_allclose(out[n], ref.ravel(), rtol=0, atol=1e-12)
    assert np.abs(out).max() > 0.1                       # the digit stayed in view


def test_elastic_matches_scipy_map_coordinates():
    rng = np.random.default_rng(4)
    fields = field_bank(seed=7, n_fields=5, sigma=3.0, amplitude=3.0)
    X = ink_images(rng, 20, border=0)
    P = random_params(rng, 20)
    P[:, PARAM_FIELD] = np.arange(20) % 5
    out = np.empty_like(X)
    warp_images(X, P, fields, out)
    r, c = np.mgrid[0:28, 0:28].astype(np.float64)
    for n in range(len(X)):
        A, b = matrix_offset(P[n])
        d = fields[int(P[n, PARAM_FIELD])]
        q = np.stack([A[0, 0] * r + A[0, 1] * c + b[0] + d[0],
                      A[1, 0] * r + A[1, 1] * c + b[1] + d[1]])
        ref = ndi.map_coordinates(X[n].reshape(28, 28), q, order=1, mode="grid-constant")
        np.testing.assert_allclose(out[n], ref.ravel(), rtol=0, atol=1e-12)


def test_zero_field_equals_affine_path():
    rng = np.random.default_rng(5)
    X = ink_images(rng, 10, border=0)
    P = random_params(rng, 10)
    a, e = np.empty_like(X), np.empty_like(X)
    warp_images(X, P, NO_FIELDS, a)
    P[:, PARAM_FIELD] = 0
    warp_images(X, P, np.zeros((1, 2, 28, 28)), e)
    np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identity_is_exact(dtype):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(8, 784)).astype(dtype) * dtype(100)
    P = np.zeros((8, N_PARAMS))
    P[:, PARAM_SCALE_R] = P[:, PARAM_SCALE_C] = 1.0
    P[:, PARAM_FIELD] = -1
    out = np.full_like(X, np.nan)
    warp_images(X, P, NO_FIELDS, out)
    assert out.tobytes() == X.tobytes()
    out[:] = np.nan                                       # all amounts zero, no bank
    augment_images(X, 3, np.arange(8), 0.0, 0.0, 0.0, 0, NO_FIELDS.astype(dtype), out)
    assert out.tobytes() == X.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_whole_pixel_shifts_equal_shift_images(dtype):
    rng = np.random.default_rng(7)
    X = ink_images(rng, 60, border=0).astype(dtype)
    dr, dc = rng.integers(-6, 7, 60), rng.integers(-6, 7, 60)
    P = np.zeros((60, N_PARAMS))
    P[:, PARAM_SCALE_R] = P[:, PARAM_SCALE_C] = 1.0
    P[:, PARAM_SHIFT_R], P[:, PARAM_SHIFT_C], P[:, PARAM_FIELD] = dr, dc, -1
    out, ref = np.empty_like(X), np.empty_like(X)
    warp_images(X, P, NO_FIELDS, out)
    shift_images(X, dr, dc, ref)
    assert out.tobytes() == ref.tobytes()


def test_conventions_rotation_scale_shear_shift():
    """The docstring's directions: +rotation turns counter-clockwise on screen, scale > 1
    enlarges, +shear moves lower rows right, shifts move down / right."""
    def warped(point, **kw):
        x = np.zeros((1, 784))
        x[0, point[0] * 28 + point[1]] = 1.0
        p = np.zeros((1, N_PARAMS))
        p[0, [PARAM_ROTATION, PARAM_SCALE_R, PARAM_SCALE_C, PARAM_SHEAR, PARAM_SHIFT_R,
              PARAM_SHIFT_C, PARAM_FIELD]] = [kw.get("rot", 0), kw.get("sr", 1), kw.get("sc", 1),
                                              kw.get("shear", 0), kw.get("dr", 0),
                                              kw.get("dc", 0), -1]
        out = np.empty_like(x)
        warp_images(x, p, NO_FIELDS, out)
        return np.unravel_index(np.argmax(out[0]), (28, 28))

    # (10, 20) is offset (-3.5, 6.5) from the centre; +90 degrees takes it to (-6.5, -3.5)
    assert warped((10, 20), rot=90.0) == (7, 10)
    assert warped((10, 20), rot=-90.0) == (20, 17)
    assert warped((10, 20), rot=180.0) == (17, 7)
    assert warped((13, 16), sr=3.0, sc=3.0) == (12, 21)   # offset (-0.5, 2.5) -> (-1.5, 7.5)
    assert warped((23, 13), shear=0.5)[1] > 13            # lower row moves right
    assert warped((4, 13), shear=0.5)[1] < 13             # upper row moves left
    assert warped((10, 10), dr=3, dc=-2) == (13, 8)
    assert warped((10, 20), rot=90.0, dr=2, dc=-1) == (9, 9)   # rotate about C, then shift


def test_param_draws_deterministic_chunk_and_order_independent():
    counters = np.arange(1000) + 123456
    full = np.empty((1000, N_PARAMS))
    draw_params_batch(11, counters, 10.0, 0.1, 0.15, 2, 64, full)
    again = np.empty_like(full)
    draw_params_batch(11, counters, 10.0, 0.1, 0.15, 2, 64, again)
    np.testing.assert_array_equal(full, again)
    parts = np.empty_like(full)
    for lo, hi in [(0, 7), (7, 500), (500, 1000)]:
        draw_params_batch(11, counters[lo:hi], 10.0, 0.1, 0.15, 2, 64, parts[lo:hi])
    np.testing.assert_array_equal(full, parts)
    rev = np.empty_like(full)
    draw_params_batch(11, counters[::-1].copy(), 10.0, 0.1, 0.15, 2, 64, rev)
    np.testing.assert_array_equal(full, rev[::-1])
    other = np.empty_like(full)
    draw_params_batch(12, counters, 10.0, 0.1, 0.15, 2, 64, other)
    assert not np.any(full[:, PARAM_ROTATION] == other[:, PARAM_ROTATION])


def test_param_counter_layout():
    # u_j = hash_uniform(seed, counter * 8 + j), j = rotation, scale, shear, shift_r, shift_c, field
    P = np.empty((3, N_PARAMS))
    counters = np.array([0, 5, 10**9])
    draw_params_batch(42, counters, 10.0, 0.1, 0.15, 2, 50, P)
    for n, k in enumerate(counters):
        u = [hash_uniform(42, 8 * k + j) for j in range(6)]
        expect = [10.0 * (2 * u[0] - 1), 1 + 0.1 * (2 * u[1] - 1), 1 + 0.1 * (2 * u[1] - 1),
                  0.15 * (2 * u[2] - 1), np.floor(5 * u[3]) - 2, np.floor(5 * u[4]) - 2,
                  np.floor(50 * u[5])]
        np.testing.assert_array_equal(P[n], expect)


def test_param_distributions():
    n = 20000
    P = np.empty((n, N_PARAMS))
    draw_params_batch(0, np.arange(n), 10.0, 0.1, 0.15, 2, 50, P)
    for col, lo, hi in [(PARAM_ROTATION, -10, 10), (PARAM_SCALE_R, 0.9, 1.1),
                        (PARAM_SHEAR, -0.15, 0.15)]:
        v = P[:, col]
        assert lo <= v.min() and v.max() < hi
        # uniform: mean and sd within 3% of the range of (lo + hi) / 2 and (hi - lo) / sqrt(12)
        assert abs(v.mean() - (lo + hi) / 2) < 0.03 * (hi - lo)
        assert abs(v.std() - (hi - lo) / np.sqrt(12)) < 0.03 * (hi - lo)
    np.testing.assert_array_equal(P[:, PARAM_SCALE_R], P[:, PARAM_SCALE_C])
    for col in (PARAM_SHIFT_R, PARAM_SHIFT_C):
        counts = np.bincount((P[:, col] + 2).astype(int), minlength=5)
        assert len(counts) == 5 and np.all(np.abs(counts / n - 0.2) < 0.02)
    f = P[:, PARAM_FIELD].astype(int)
    assert f.min() == 0 and f.max() == 49 and np.all(f == P[:, PARAM_FIELD])
    # no two parameters share a random number
    cols = [PARAM_ROTATION, PARAM_SCALE_R, PARAM_SHEAR, PARAM_SHIFT_R, PARAM_SHIFT_C, PARAM_FIELD]
    corr = np.corrcoef(P[:, cols].T)
    assert np.all(np.abs(corr - np.eye(len(cols))) < 0.03)
    P0 = np.empty((10, N_PARAMS))
    draw_params_batch(0, np.arange(10), 10.0, 0.1, 0.15, 2, 0, P0)
    assert np.all(P0[:, PARAM_FIELD] == -1)


@njit(parallel=True)
def _gather_augmented(X, idx, seed, epoch_base, fields, out):
    # The epoch's gather as it would call the per-image kernel: row r from X[idx[r]], counter of
    # the image = epoch_base + idx[r], one scratch buffer per image.
    for r in prange(idx.shape[0]):
        augment_image(X[idx[r]], seed, epoch_base + idx[r], 10.0, 0.1, 0.15, 2, fields, out[r],
                      np.empty(WORK_SIZE))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_per_image_kernel_inside_parallel_gather(dtype):
    rng = np.random.default_rng(8)
    X = ink_images(rng, 300, border=0).astype(dtype)
    fields = field_bank(1, 16, dtype=dtype)
    idx = rng.permutation(300)[:200]
    ref = np.empty((200, 784), dtype)
    augment_images(X[idx], 5, 1000 + idx, 10.0, 0.1, 0.15, 2, fields, ref)
    P = np.empty((200, N_PARAMS))                        # the same as draw, then warp
    draw_params_batch(5, 1000 + idx, 10.0, 0.1, 0.15, 2, 16, P)
    two_step = np.empty_like(ref)
    warp_images(X[idx], P, fields, two_step)
    np.testing.assert_array_equal(ref, two_step)
    threads = get_num_threads()
    try:
        for t in sorted({1, threads}):
            set_num_threads(t)
            out = np.empty_like(ref)
            _gather_augmented(X, idx, 5, 1000, fields, out)
            np.testing.assert_array_equal(out, ref)
    finally:
        set_num_threads(threads)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), rot=st.floats(-180, 180), sr=st.floats(0.3, 3),
       sc=st.floats(0.3, 3), shear=st.floats(-2, 2), dr=st.floats(-30, 30),
       dc=st.floats(-30, 30), lo=st.floats(-5, 0), hi=st.floats(0, 5), elastic=st.booleans())
def test_outputs_stay_within_input_range(seed, rot, sr, sc, shear, dr, dc, lo, hi, elastic):
    # A bilinear blend of the taps and zero padding is a convex combination of them.
    rng = np.random.default_rng(seed)
    x = rng.uniform(lo, hi, (1, 784))
    fields = field_bank(seed % 100, 1, sigma=2.0, amplitude=4.0)
    p = np.array([[rot, sr, sc, shear, dr, dc, 0 if elastic else -1]])
    out = np.empty_like(x)
    warp_images(x, p, fields, out)
    tol = 1e-12 * max(1.0, abs(lo), abs(hi))
    assert out.min() >= min(0.0, x.min()) - tol
    assert out.max() <= max(0.0, x.max()) + tol


# --- the displacement-field bank -------------------------------------------------------------

def predicted_correlation(sigma, lag):
    """Correlation of a smoothed component at `lag` px along an axis: sum g[t] g[t+L] / sum g^2."""
    g = gaussian_taps(sigma)
    return float(np.dot(g[:len(g) - lag], g[lag:]) / np.dot(g, g))


def test_field_bank_deterministic_and_prefix_stable():
    a = field_bank(3, 6)
    np.testing.assert_array_equal(a, field_bank(3, 6))
    np.testing.assert_array_equal(a[:4], field_bank(3, 4))
    assert not np.allclose(a, field_bank(4, 6))
    f32 = field_bank(3, 6, dtype=np.float32)
    assert f32.dtype == np.float32 and np.allclose(f32, a, atol=1e-6)
    zero = np.empty((2, 2, 28, 28))
    elastic_fields(3, 4.0, 0.0, zero)
    assert not np.any(zero)


@pytest.mark.parametrize("sigma, amplitude", [(4.0, 1.5), (2.0, 3.0)])
def test_field_bank_amplitude_and_smoothness(sigma, amplitude):
    F = field_bank(seed=0, n_fields=400, sigma=sigma, amplitude=amplitude)
    # RMS displacement length over the bank is the requested amplitude (within 5%), equally in
    # both components, at the border as in the middle (noise drawn on a padded grid).
    rms = np.sqrt(np.mean(F[:, 0] ** 2 + F[:, 1] ** 2))
    assert abs(rms / amplitude - 1) < 0.05
    comp = np.sqrt(np.mean(F ** 2, axis=(0, 2, 3)))
    assert np.all(np.abs(comp / (amplitude / np.sqrt(2)) - 1) < 0.05)
    edge = np.sqrt(np.mean(F[:, :, [0, 27], :] ** 2) * 2)
    assert abs(edge / amplitude - 1) < 0.10
    assert abs(F.mean()) < 0.05 * amplitude
    assert abs(np.mean(F[:, 0] * F[:, 1])) < 0.05 * amplitude ** 2 / 2
    var = np.mean(F ** 2)
    for lag in (1, 2, 4, 8):
        for axis in (2, 3):                              # along rows and along columns
            a = np.take(F, range(0, 28 - lag), axis=axis)
            b = np.take(F, range(lag, 28), axis=axis)
            rho = np.mean(a * b) / var
            assert abs(rho - predicted_correlation(sigma, lag)) < 0.04, (lag, axis, rho)
    # the discrete prediction is the continuous exp(-L^2 / (4 sigma^2)) to within 1%
    assert abs(predicted_correlation(sigma, 4) - np.exp(-16 / (4 * sigma ** 2))) < 0.01


def test_field_bank_rejects_bad_arguments():
    with pytest.raises(ValueError):
        field_bank(0, 2, sigma=-1.0)
    with pytest.raises(ValueError):
        field_bank(0, 2, amplitude=float("nan"))


def test_augmentation_examples_figure(tmp_path):
    from analysis.augmentation import augmentation_grid, draw_augmentation_examples
    digit = np.zeros((28, 28))
    digit[6:22, 12:16] = 1.0                              # a "1", no MNIST needed
    grid = augmentation_grid(digit, seed=0, n_draws=5)
    assert grid.shape == (4, 5, 28, 28)
    np.testing.assert_array_equal(grid[0], np.broadcast_to(digit, (5, 28, 28)))   # none
    assert all(np.abs(grid[i] - digit).max() > 0.5 for i in (1, 2, 3))
    assert np.abs(grid[3] - grid[2]).max() > 0.1          # the field changes the affine draw
    path = draw_augmentation_examples(tmp_path / "aug.png", image=digit, n_draws=5)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
