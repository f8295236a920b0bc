"""The benchmark cases: for each kernel object, its NumPy equivalent and how many FLOPs or bytes
one call moves. Arguments come from the kernel's own builder in kernels/registry.py, so a case is
bound to the kernel itself, never matched by name or argument count; `BENCH_EXEMPT` says why the
few kernels without a case have none, and tests/test_profiling.py fails when a public kernel has
neither. NumPy equivalents are the expressions the NumPy reference network runs
(profiling/numpy_reference.py), so they allocate their results as idiomatic NumPy does.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

import kernels as K
from kernels.registry import (EXAMPLE_DIMS, EXAMPLES, LR, MU, discover, example_args,  # noqa: F401
                              find, full_args)
from profiling import numpy_reference as R


@dataclass
class Case:
    kernel: object                 # the numba dispatcher this case times
    numpy: Callable                # (args) -> zero-argument callable doing the same in NumPy
    flops: Callable = None         # dims -> floating-point operations (matmul-like cases)
    nbytes: Callable = None        # (dims, itemsize) -> bytes read + written (memory-bound cases)
    op: str = ""                   # category for plots: matmul, bias, activation, softmax-CE, ...
    pick: Callable = None          # (args, return value) -> the kernel's result; default: last arg
    np_pick: Callable = None       # (args, return value) -> NumPy's result; default: return value

    @property
    def name(self):
        return self.kernel.__name__

    @property
    def scope(self):
        return EXAMPLES[self.kernel][0]

    def make(self, dims, dtype, rng):
        return EXAMPLES[self.kernel][1](dims, np.dtype(dtype), rng)

    @property
    def kind(self):
        return "matmul" if self.flops is not None else "memory"


def _cat(*arrays):
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in arrays])


def _first(a, r):
    return a[0]


def _T(a):
    return np.ascontiguousarray(a.T)


def _mm(d):
    return 2 * d[0] * d[1] * d[2]


def _elementwise(n_arrays):
    return lambda d, s: n_arrays * d[0] * d[1] * s


CASES = [
    # --- matrix products (N, K, M): forward Y = X W, backward dX = dY W.T, dW = X.T dY
    Case(K.matmul_nn, lambda a: lambda: a[0] @ a[1], flops=_mm, op="matmul"),
    Case(K.matmul_nt, lambda a: lambda: a[0] @ a[1].T, flops=_mm, op="matmul"),
    Case(K.matmul_tn, lambda a: lambda: a[0].T @ a[1], flops=_mm, op="matmul"),
    Case(K.matmul_nn_fast, lambda a: lambda: a[0] @ a[1], flops=_mm, op="matmul"),
    Case(K.matmul_nt_fast, lambda a: lambda: a[0] @ a[1].T, flops=_mm, op="matmul"),
    Case(K.matmul_tn_fast, lambda a: lambda: a[0].T @ a[1], flops=_mm, op="matmul"),
    Case(K.linear_forward, lambda a: lambda: a[0] @ a[1] + a[2],
         flops=lambda d: _mm(d) + d[0] * d[2], op="matmul"),
    Case(K.linear_backward, lambda a: lambda: (a[0].T @ a[2], a[2].sum(axis=0), a[2] @ a[1].T),
         flops=lambda d: 2 * _mm(d) + d[0] * d[2], op="matmul",
         pick=lambda a, r: _cat(a[4], a[5], a[3]), np_pick=lambda a, r: _cat(*r)),
    # single-threaded microkernels (the fast products split their output over threads in panels)
    Case(K.nn_block, lambda a: (lambda B: lambda: a[0] @ B)(np.ascontiguousarray(a[1][:, :a[6]])),
         flops=_mm, op="matmul", pick=lambda a, r: a[2][:, :a[6]]),
    Case(K.tn_block, lambda a: (lambda B: lambda: a[0].T @ B)(np.ascontiguousarray(a[1][:, :a[6]])),
         flops=_mm, op="matmul", pick=lambda a, r: a[2][:, :a[6]]),
    Case(K.nn_packed_block, lambda a: (lambda B: lambda: a[0] @ B)(np.ascontiguousarray(a[1][:, :a[6]])),
         flops=_mm, op="matmul", pick=lambda a, r: a[2][:, :a[6]]),
    Case(K.tn_packed_block, lambda a: (lambda B: lambda: a[0].T @ B)(np.ascontiguousarray(a[1][:, :a[6]])),
         flops=_mm, op="matmul", pick=lambda a, r: a[2][:, :a[6]]),
    Case(K.nt_block, lambda a: lambda: a[0] @ a[1].T, flops=_mm, op="matmul", pick=lambda a, r: a[2]),
    # fused layers (weights held transposed, WT (M,K)), against the NumPy lines they replace
    Case(K.linear_act_forward, lambda a: (lambda W: lambda: R.relu(a[0] @ W + a[2]))(_T(a[1])),
         flops=lambda d: _mm(d) + 2 * d[0] * d[2], op="matmul", pick=lambda a, r: a[5]),
    Case(K.linear_input_grad, lambda a: (lambda W: lambda: R.relu_grad(a[2], a[0] @ W.T))(_T(a[1])),
         flops=_mm, op="matmul"),
    Case(K.weight_grad_step,   # dW = H.T @ dZ and the SGD step  vs  W -= lr * (H.T @ dZ)
         lambda a: (lambda W: lambda: (lambda g: (W.__isub__(LR * g), g))(a[1].T @ a[0]))(_T(a[3])),
         flops=lambda d: _mm(d) + 2 * d[1] * d[2], op="matmul",
         pick=lambda a, r: a[2].T, np_pick=lambda a, r: r[1]),
    Case(K.bias_grad_step,     # db = sum_n dZ and the SGD step  vs  b -= lr * dZ.sum(axis=0)
         lambda a: lambda: (lambda g: (a[2].__isub__(LR * g), g))(a[0].sum(axis=0)),
         nbytes=lambda d, s: (d[0] * d[2] + 3 * d[2]) * s, op="update",
         pick=lambda a, r: a[1], np_pick=lambda a, r: r[1]),
    # --- bias (N, K, M): only N and M matter
    Case(K.bias_forward, lambda a: lambda: a[1] + a[0], nbytes=lambda d, s: (2 * d[0] * d[2] + d[2]) * s,
         op="bias"),
    Case(K.bias_backward, lambda a: lambda: a[0].sum(axis=0), nbytes=lambda d, s: (d[0] * d[2] + d[2]) * s,
         op="bias"),
    # --- activations (N, M)
    *[Case(getattr(K, f"{act}_forward"), (lambda f: lambda a: lambda: f(a[0]))(R.ACTIVATION_FUNCS[act][0]),
           nbytes=_elementwise(2), op="activation") for act in ("relu", "tanh", "sigmoid")],
    *[Case(getattr(K, f"{act}_backward"), (lambda g: lambda a: lambda: g(a[0], a[1]))(R.ACTIVATION_FUNCS[act][1]),
           nbytes=_elementwise(3), op="activation") for act in ("relu", "tanh", "sigmoid")],
    Case(K.activation_forward, lambda a: lambda: R.relu(a[1]), nbytes=_elementwise(2), op="activation"),
    Case(K.activation_backward, lambda a: lambda: R.relu_grad(a[1], a[2]), nbytes=_elementwise(3),
         op="activation"),
    # --- dropout (N, M), p = 0.2
    Case(K.dropout_forward, lambda a: lambda: a[0] * R.dropout_mask(a[0].shape, a[1], a[2], a[0].dtype),
         nbytes=_elementwise(3), op="dropout"),
    Case(K.dropout_backward, lambda a: lambda: a[0] * a[1], nbytes=_elementwise(3), op="dropout"),
    # --- softmax and cross-entropy (N, C)
    Case(K.softmax_forward, lambda a: lambda: R.softmax(a[0]), nbytes=_elementwise(2), op="softmax-CE"),
    Case(K.softmax_cross_entropy_forward, lambda a: lambda: R.softmax_cross_entropy(a[0], a[1]),
         nbytes=lambda d, s: 2 * d[0] * d[1] * s + 8 * d[0], op="softmax-CE",
         pick=lambda a, r: _cat(a[2], r), np_pick=lambda a, r: _cat(*r)),
    Case(K.softmax_cross_entropy_backward, lambda a: lambda: R.softmax_cross_entropy_grad(a[0], a[1]),
         nbytes=lambda d, s: 2 * d[0] * d[1] * s + 8 * d[0], op="softmax-CE"),
    Case(K.softmax_xent_grad,
         lambda a: lambda: (lambda pl: (R.softmax_cross_entropy_grad(pl[0], a[1]), pl[1]))(
             R.softmax_cross_entropy(a[0], a[1])),
         nbytes=lambda d, s: 2 * d[0] * d[1] * s + 8 * d[0], op="softmax-CE",
         pick=lambda a, r: _cat(a[2], r), np_pick=lambda a, r: _cat(*r)),
    Case(K.argmax_rows, lambda a: lambda: np.argmax(a[0], axis=1), nbytes=lambda d, s: d[0] * d[1] * s + 8 * d[0],
         op="inference"),
    # --- optimizers on one flat parameter array (P,)
    Case(K.sgd_update, lambda a: lambda: a[0].__isub__(LR * a[1]), nbytes=lambda d, s: 3 * d[0] * s,
         op="update", pick=_first, np_pick=_first),
    Case(K.momentum_update, lambda a: lambda: (a[2].__imul__(MU), a[2].__isub__(LR * a[1]), a[0].__iadd__(a[2])),
         nbytes=lambda d, s: 5 * d[0] * s, op="update", pick=_first, np_pick=_first),
    Case(K.adam_update, lambda a: lambda: _numpy_adam(a[:4] + a[4:9]), nbytes=lambda d, s: 7 * d[0] * s,
         op="update", pick=_first, np_pick=_first),
    Case(K.optimizer_step,   # Adam on a flat parameter array, through the fused kernels' update
         lambda a: lambda: _numpy_adam(a[:4] + (a[5],) + a[8:12]), nbytes=lambda d, s: 7 * d[0] * s,
         op="update", pick=_first, np_pick=_first),
    # --- augmentation and layout (N, 784)
    Case(K.shift_images, lambda a: lambda: R.shift_images(a[0], a[1], a[2]), nbytes=_elementwise(2), op="augment"),
    Case(K.gather_rows, lambda a: lambda: a[0][a[1]], nbytes=lambda d, s: 2 * d[0] * d[1] * s + 8 * d[0],
         op="layout"),
    Case(K.transpose, lambda a: lambda: np.ascontiguousarray(a[0].T), nbytes=_elementwise(2), op="layout"),
]
CASES_BY_KERNEL = {c.kernel: c for c in CASES}
CASES_BY_NAME = {c.name: c for c in CASES}

# Public kernels without a case, and why (inline scalar/span functions are exempt by rule: they
# have no compiled body of their own and are timed inside the kernels that inline them).
BENCH_EXEMPT = {
    K.layout: "integer offsets of the flat parameter arrays, computed once per network",
    K.train_epoch_compiled: "a whole epoch: timed by profiling.bench_epoch",
}
# The augmentation warps have no NumPy equivalent (their oracle is scipy.ndimage, in
# tests/kernels/test_warp.py); they are timed inside the compiled epoch's gather.
from kernels import elastic as _EL, warp as _W  # noqa: E402
BENCH_EXEMPT.update({f: "augmentation warp: no NumPy equivalent to time against (scipy.ndimage is its "
                        "test oracle); timed inside the compiled epoch"
                     for f in (_W.warp_images, _W.augment_images, _W.draw_params_batch, _W.augment_image,
                               _W.warp_image, _W.draw_params, _W.sampling_map, _EL.elastic_fields,
                               _EL.gaussian_taps, K.gather_warp)})


def case_for(kernel):
    """The Case bound to `kernel` (a KernelInfo or a dispatcher), or None."""
    return CASES_BY_KERNEL.get(getattr(kernel, "func", kernel))


def _numpy_adam(a):
    p, g, m, v, lr, b1, b2, eps, t = a
    p[:], m[:], v[:] = R.adam_step(p, g, m, v, lr, b1, b2, eps, t, 0.0)


_EXTRA_CHECK_DIMS = {"layer": [(3, 9, 10)]}  # odd sizes and a product narrower than a 16-wide tile


def validate(case, kernel, dims=None, dtype=np.float64, seed=0):
    """None if `kernel` on the case's arguments computes what the NumPy equivalent computes (to
    float tolerance), else a one-line reason. Guards the benchmark against comparing unlike things
    (e.g. a kernel whose argument layout changed)."""
    if dims is None:
        for d in [EXAMPLE_DIMS[case.scope]] + _EXTRA_CHECK_DIMS.get(case.scope, []):
            why = validate(case, kernel, d, dtype, seed)
            if why:
                return f"at {d}: {why}"
        return None
    dt = np.dtype(dtype)
    kargs = case.make(dims, dt, np.random.default_rng(seed))
    nargs = case.make(dims, dt, np.random.default_rng(seed))
    try:
        got = (case.pick or (lambda a, r: a[-1]))(kargs, kernel.func(*full_args(kernel, kargs)))
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160]}"
    want = (case.np_pick or (lambda a, r: r))(nargs, case.numpy(nargs)())
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return f"result shape {got.shape}, NumPy's {want.shape}"
    tol = 1e-9 if dt == np.float64 else 2e-4
    err = float(np.max(np.abs(got - want))) if got.size else 0.0
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    if not np.isfinite(err) or err > tol * max(1.0, scale):
        return f"differs from NumPy by up to {err:.3g} (scale {scale:.3g})"
    return None
