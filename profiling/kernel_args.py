"""Arguments for every costed kernel at its training shape, and a compiled loop to time it.

    args_for(name, batch, dtype)   (kernel, args): the kernel from `import kernels` and every one of
                                   its arguments, at the dims kernels/costs.py gives for `batch`
    compiled_loop(kernel, nargs)   an @njit loop(reps, *args) calling the kernel reps times
    time_per_call(kernel, args)    median seconds per call of that loop (compile time excluded)

Kernels are looked up only as attributes of the `kernels` package (never by submodule), and every
argument is passed explicitly: Numba filling in omitted defaults takes its slow dispatch path.
The timing loop is compiled, as the training epoch calls the kernels from compiled code, so a
per-call figure carries no Python dispatch overhead (a few microseconds, more than the whole
run time of the small element-wise kernels).
"""
import inspect
import statistics
import time

import numba
import numpy as np

import kernels
from kernels.costs import COSTS

LR, MU, L2 = 1e-6, 0.9, 0.0      # tiny steps: repeated calls leave the parameters almost unchanged
ADAM = (0.9, 0.999, 1e-8, 1)     # beta1, beta2, eps, t


def kernel_constant(kernel, name, default):
    """A module constant (ACT_RELU, OPT_SGD...) of the module that defines `kernel`, wherever the
    kernels package puts it."""
    return kernel.py_func.__globals__.get(name, default)


def _builders(N_, t, rng):
    def r(*shape, lo=-1.0, hi=1.0):
        return rng.uniform(lo, hi, shape).astype(t)

    def e(*shape):
        return np.zeros(shape, t)

    def labels(n, c):
        return rng.integers(0, c, n).astype(np.int64)

    def prob(n, c):
        p = rng.random((n, c)).astype(t) + t(0.01)
        return p / p.sum(axis=1, keepdims=True)

    relu = kernel_constant(kernels.linear_act_forward, "ACT_RELU", 1)
    sgd = kernel_constant(kernels.optimizer_step, "OPT_SGD", 0)
    b1, b2, eps, step = ADAM
    # name -> function of the dims from kernels/costs.py, returning the argument tuple
    return {
        "matmul_nn": lambda N, K, M: (r(N, K), r(K, M), e(N, M)),
        "matmul_nn_fast": lambda N, K, M: (r(N, K), r(K, M), e(N, M)),
        "nn_block": lambda N, K, M: (r(N, K), r(K, M), e(N, M), 0, N, 0, M),
        "matmul_nt": lambda N, K, M: (r(N, K), r(M, K), e(N, M)),
        "matmul_nt_fast": lambda N, K, M: (r(N, K), r(M, K), e(N, M)),
        "nt_block": lambda N, K, M: (r(N, K), r(M, K), e(N, M), 0, M),
        "matmul_tn": lambda N, K, M: (r(N, K), r(N, M), e(K, M)),
        "matmul_tn_fast": lambda N, K, M: (r(N, K), r(N, M), e(K, M)),
        "tn_block": lambda N, K, M: (r(N, K), r(N, M), e(K, M), 0, K, 0, M),
        "linear_forward": lambda N, K, M: (r(N, K), r(K, M), r(M), e(N, M)),
        "linear_backward": lambda N, K, M: (r(N, K), r(K, M), r(N, M), e(N, K), e(K, M), e(M), True),
        "linear_act_forward": lambda N, K, M: (r(N, K), r(M, K), r(M), relu, e(N, M), e(N, M), 0.0,
                                               np.uint64(0), e(N, M), e(N, M)),
        "linear_input_grad": lambda N, K, M: (r(N, M), r(M, K), r(N, K), relu, e(N, K), False,
                                              e(N, K)),
        "weight_grad_step": lambda N, K, M: (r(N, M), r(N, K), e(M, K), r(M, K), e(M, K), e(M, K),
                                             sgd, LR, L2, MU, b1, b2, eps, step),
        "bias_forward": lambda N, M: (r(M), r(N, M)),
        "bias_backward": lambda N, M: (r(N, M), e(M)),
        "bias_grad_step": lambda N, M: (r(N, M), e(M), r(M), e(M), e(M), sgd, LR, MU, b1, b2, eps,
                                        step),
        **{f"{a}_forward": (lambda N, M: (r(N, M, lo=-3, hi=3), e(N, M)))
           for a in ("relu", "tanh", "sigmoid")},
        **{f"{a}_backward": (lambda N, M: (r(N, M), r(N, M), e(N, M)))
           for a in ("relu", "tanh", "sigmoid")},
        "dropout_forward": lambda N, M: (r(N, M), 0.2, np.uint64(12345), e(N, M), e(N, M)),
        "dropout_backward": lambda N, M: (r(N, M), r(N, M), e(N, M)),
        "softmax_forward": lambda N, C: (r(N, C, lo=-5, hi=5), e(N, C)),
        "softmax_cross_entropy_forward": lambda N, C: (r(N, C, lo=-5, hi=5), labels(N, C), e(N, C)),
        "softmax_cross_entropy_backward": lambda N, C: (prob(N, C), labels(N, C), e(N, C)),
        "softmax_xent_grad": lambda N, C: (r(N, C, lo=-5, hi=5), labels(N, C), e(N, C)),
        "argmax_rows": lambda N, C: (prob(N, C), np.zeros(N, np.int64)),
        "sgd_update": lambda P: (r(P), r(P), LR, L2),
        "momentum_update": lambda P: (r(P), r(P), e(P), LR, MU, L2),
        "adam_update": lambda P: (r(P), r(P), e(P), e(P), LR, b1, b2, eps, step, L2),
        "optimizer_step": lambda P: (r(P), r(P), e(P), e(P), sgd, LR, L2, MU, b1, b2, eps, step),
        "shift_images": lambda N, K: (r(N, K, lo=0, hi=1), rng.integers(-2, 3, N), rng.integers(-2, 3, N),
                                      e(N, K)),
        "gather_rows": lambda N, K, n: (r(n, K, lo=0, hi=1), rng.permutation(n)[:N],
                                        np.zeros(0, np.int64), np.zeros(0, np.int64), False, e(N, K)),
    }


def args_for(name, batch, dtype=np.float32, seed=0, dims=None):
    """(kernel, args) for kernels.<name> at its training dims for `batch` (or at `dims`).

    Raises KeyError for a kernel without a cost entry or builder, and TypeError when the kernel's
    signature no longer takes the number of arguments built here (trailing parameters with
    defaults are filled in from the signature)."""
    kernel = getattr(kernels, name)
    dims = COSTS[name].dims(batch) if dims is None else dims
    args = _builders(batch, np.dtype(dtype).type, np.random.default_rng(seed))[name](*dims)
    params = list(inspect.signature(kernel.py_func).parameters.values())
    if len(args) > len(params) or any(p.default is inspect.Parameter.empty
                                      for p in params[len(args):]):
        raise TypeError(f"{name} takes {len(params)} arguments; the builder makes {len(args)}")
    return kernel, tuple(args) + tuple(p.default for p in params[len(args):])


def builder_names():
    return sorted(_builders(1, np.float32, np.random.default_rng(0)))


def compiled_loop(kernel, nargs):
    """@njit loop(reps, a0, ..., a{nargs-1}) calling kernel(a0, ...) reps times."""
    names = ", ".join(f"a{i}" for i in range(nargs))
    ns = {"kernel": kernel}
    exec(f"def loop(reps, {names}):\n    for _ in range(reps):\n        kernel({names})\n", ns)
    return numba.njit(ns["loop"])


def time_per_call(kernel, args, repeats=5, min_time=0.02, loop=None):
    """Median seconds per call over `repeats` samples of a compiled loop, each at least min_time
    long; the first call (compilation, first touch of the arrays) is not timed."""
    loop = loop or compiled_loop(kernel, len(args))
    loop(1, *args)
    reps = 1
    while True:
        t0 = time.perf_counter()
        loop(reps, *args)
        dt = time.perf_counter() - t0
        if dt >= min_time or reps >= 1 << 24:
            break
        reps *= 2 if dt <= 0 else max(2, min(100, int(min_time / dt * 1.2) + 1))
    samples = [dt / reps]
    for _ in range(repeats - 1):
        t0 = time.perf_counter()
        loop(reps, *args)
        samples.append((time.perf_counter() - t0) / reps)
    return statistics.median(samples)
