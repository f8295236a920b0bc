"""Shared helpers for the tests (conftest.py holds fixtures only).

    numerical_gradient(f, x, eps)   float64 central finite differences (seed hint 2)
    assert_gradients_close(a, n)    |a - n| < atol  or  |a - n| / max(|a|, |n|) < rtol, entrywise
    dot_error_bound(A, B, dtype)    rigorous bound on the rounding error of A @ B in `dtype`
    run_json(code, cache_dir, ...)  run code in a fresh interpreter; the JSON of its last line
    AVX2_ENV                        the environment that holds Numba to the AVX2 path

Import them in a test module with `from helpers import ...` (pytest puts tests/, the directory of
conftest.py, on sys.path).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
AVX2_ENV = {"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": "+avx,+avx2,+fma,+sse4.2,-avx512f"}
"""Numba compiles for Haswell (AVX2, FMA) without AVX-512: the AVX2 path on an AVX-512 host."""


def run_json(code, cache_dir, timeout=600, **env):
    """Run `code` in a fresh interpreter at the project root with NUMBA_CACHE_DIR=cache_dir (and
    `env` on top of os.environ); it must exit 0. Returns the JSON of its last line of output."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), **env)
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def numerical_gradient(f, x, eps=1e-6):
    """Gradient of the scalar function f at x by central differences, in float64.

        grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)      error O(eps^2) + O(u / eps)

    x is perturbed in place one entry at a time and restored, so f may read x (or an array that
    aliases it, e.g. a network's weight matrix) instead of taking it as an argument.
    """
    if x.dtype != np.float64:
        raise TypeError(f"finite differences need float64 arrays; got {x.dtype}")
    if not x.flags.c_contiguous:
        raise ValueError("x must be C-contiguous so x.flat writes into it")
    grad = np.zeros_like(x)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + eps
        pos = f(x)
        x.flat[i] = old - eps
        neg = f(x)
        x.flat[i] = old
        grad.flat[i] = (pos - neg) / (2.0 * eps)
    return grad


def gradient_errors(analytic, numeric):
    """(max absolute error, max relative error) between two gradients."""
    a = np.asarray(analytic, np.float64)
    n = np.asarray(numeric, np.float64)
    abs_err = np.abs(a - n)
    scale = np.maximum(np.abs(a), np.abs(n))
    rel_err = np.where(scale > 0, abs_err / np.where(scale > 0, scale, 1.0), 0.0)
    return float(abs_err.max(initial=0.0)), float(rel_err.max(initial=0.0))


def assert_gradients_close(analytic, numeric, atol=1e-6, rtol=1e-5, name="gradient"):
    """Every entry must have absolute error < atol or relative error < rtol."""
    a = np.asarray(analytic, np.float64)
    n = np.asarray(numeric, np.float64)
    assert a.shape == n.shape, f"{name}: shape {a.shape} != {n.shape}"
    assert np.all(np.isfinite(a)), f"{name}: analytic gradient has non-finite entries"
    abs_err = np.abs(a - n)
    scale = np.maximum(np.abs(a), np.abs(n))
    ok = (abs_err < atol) | (abs_err < rtol * scale)
    if not ok.all():
        i = np.unravel_index(np.argmax(np.where(ok, 0.0, abs_err)), a.shape)
        raise AssertionError(
            f"{name}: {np.count_nonzero(~ok)} of {a.size} entries differ; worst at {i}: "
            f"analytic {a[i]!r} vs numerical {n[i]!r} (abs err {abs_err[i]:.3g})")


def dot_error_bound(A, B, dtype):
    """Entrywise bound on |fl(A @ B) - A @ B| for sums of K products computed in `dtype`.

    The classical bound gamma_K |A| @ |B| with gamma_K = K u / (1 - K u), u the unit roundoff;
    doubled to also cover the reference product's own rounding, plus the smallest normal number
    so that all-zero rows compare exactly.
    """
    K = A.shape[1]
    u = np.finfo(dtype).eps / 2
    gamma = (K + 1) * u / (1 - (K + 1) * u)   # K products and sums, plus one bias add
    mag = np.abs(A.astype(np.float64)) @ np.abs(B.astype(np.float64))
    return 2 * gamma * mag + np.finfo(dtype).tiny


def assert_within_bound(got, ref, bound, name="result"):
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64))
    bad = ~(err <= bound)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(bad, err - bound, -np.inf)), err.shape)
        raise AssertionError(f"{name}: {np.count_nonzero(bad)} of {err.size} entries exceed the rounding "
                             f"bound; worst at {i}: got {got[i]!r}, reference {ref[i]!r}, bound {bound[i]:.3g}")
