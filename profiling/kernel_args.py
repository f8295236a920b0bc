"""Arguments for every costed kernel at its training shape, and a compiled loop to time it.

    args_for(name, batch, dtype)   (kernel, args): the kernel from `import kernels` and every one of
                                   its arguments (built by kernels/registry.py), at the dims
                                   kernels/costs.py gives for `batch`
    compiled_loop(kernel, nargs)   an @njit loop(reps, *args) calling the kernel reps times
    time_per_call(kernel, args)    median seconds per call of that loop (compile time excluded)

Kernels are looked up only as attributes of the `kernels` package (never by submodule), and every
argument is passed explicitly: Numba filling in omitted defaults takes its slow dispatch path.
The timing loop is compiled, as the training epoch calls the kernels from compiled code, so a
per-call figure carries no Python dispatch overhead (a few microseconds, more than the whole
run time of the small element-wise kernels).
"""
import inspect

import numba
import numpy as np

import kernels
from kernels.costs import COSTS
from kernels.registry import EXAMPLES, example_args
from profiling.common import median_per_call

def kernel_constant(kernel, name, default):
    """A module constant (ACT_RELU, OPT_SGD...) of the module that defines `kernel`, wherever the
    kernels package puts it."""
    return kernel.py_func.__globals__.get(name, default)


def args_for(name, batch, dtype=np.float32, seed=0, dims=None):
    """(kernel, args) for kernels.<name> at its training dims for `batch` (or at `dims`).

    Raises KeyError for a kernel without a cost entry or builder, and TypeError when the kernel's
    signature no longer takes the number of arguments built here (trailing parameters with
    defaults are filled in from the signature)."""
    kernel = getattr(kernels, name)
    dims = COSTS[name].dims(batch) if dims is None else dims
    args = example_args(kernel, dtype, dims=tuple(dims), seed=seed)   # kernels/registry.py
    if args is None:
        raise KeyError(f"kernels/registry.py has no argument builder for {name}")
    params = list(inspect.signature(kernel.py_func).parameters.values())
    if len(args) > len(params) or any(p.default is inspect.Parameter.empty
                                      for p in params[len(args):]):
        raise TypeError(f"{name} takes {len(params)} arguments; the builder makes {len(args)}")
    return kernel, tuple(args) + tuple(p.default for p in params[len(args):])


def builder_names():
    """The costed kernels the registry can build arguments for."""
    return sorted(n for n in COSTS if getattr(kernels, n, None) in EXAMPLES)


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
    return median_per_call(lambda reps: loop(reps, *args), repeats, min_time, max_number=1 << 24,
                           max_growth=100)


def describe(a):
    """An argument in a few words, for a report's header: arrays by shape and dtype (0-d ones by
    value), named tuples field by field, anything else by a repr cut to 60 characters."""
    if hasattr(a, "shape") and hasattr(a, "dtype"):
        return f"{a.dtype}({a.item()!r})" if a.shape == () else f"{a.shape} {a.dtype}"
    if isinstance(a, tuple) and hasattr(a, "_fields"):
        return type(a).__name__ + "(" + ", ".join(f"{k}={describe(v)}" for k, v in zip(a._fields, a)) + ")"
    text = repr(a)
    return text if len(text) <= 60 else text[:57] + "..."
