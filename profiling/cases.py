"""The kernel registry: every @njit kernel in `kernels/`, how to build its arguments at a given
shape, its NumPy equivalent, and how many FLOPs and bytes one call moves.

`discover()` imports every module of the `kernels` package (including `kernels.fast` and
`kernels.epoch` when they exist) and collects its public Numba dispatchers (names without a
leading underscore), so new kernels show up in
`python -m kernels` and in the benchmarks without being registered by hand. A kernel is
benchmarked when a CASE matches it: its name is the case's name, or starts with the case's name
plus "_" (e.g. `matmul_nn_blocked`), and it takes the same number of arguments.

Shapes ("dims") depend on the case's scope:
    layer   (N, K, M): batch N, fan-in K, fan-out M of one fully connected layer
    hidden  (N, M):    a hidden layer's activations
    output  (N, C):    the logits
    params  (P,):      one flat parameter array
    input   (N, 784):  a batch of images
NumPy equivalents are the expressions the NumPy reference network runs
(profiling/numpy_reference.py), so they allocate their results as idiomatic NumPy does.
"""
import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Callable

import numpy as np

from profiling import numpy_reference as R

# Modules listed first keep the bare kernel name when another module defines the same name.
_FIRST = ("matmul", "activations", "loss", "optim", "dropout", "augment", "fast", "epoch")


@dataclass
class KernelInfo:
    name: str        # display name: bare, or "module.name" when the bare name is taken
    module: str      # e.g. "kernels.matmul"
    func: object     # the numba dispatcher
    doc: str         # first line of the docstring

    @property
    def qualname(self):
        return f"{self.module.split('.', 1)[1]}.{self.func.__name__}"

    @property
    def n_params(self):
        return len(inspect.signature(self.func.py_func).parameters)

    @property
    def n_required(self):
        return sum(p.default is inspect.Parameter.empty
                   for p in inspect.signature(self.func.py_func).parameters.values())


def full_args(kernel, args):
    """args padded with the kernel's default values, passed explicitly: when Numba has to fill in
    omitted defaults itself, every call from Python takes the dispatcher's slow path (~0.2 ms)."""
    params = list(inspect.signature(kernel.func.py_func).parameters.values())
    return tuple(args) + tuple(p.default for p in params[len(args):])


def _is_dispatcher(obj):
    return hasattr(obj, "py_func") and hasattr(obj, "signatures") and hasattr(obj, "inspect_types")


def discover(package="kernels"):
    """(kernels, errors): every Numba kernel defined in the package's modules, in a stable order.

    errors maps module names that failed to import to their error message (e.g. a module that is
    being written); the other modules are still listed.
    """
    pkg = importlib.import_module(package)
    names = [m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")]
    names.sort(key=lambda n: (_FIRST.index(n) if n in _FIRST else len(_FIRST), n))
    found, errors, taken = [], {}, set()
    for short in names:
        modname = f"{package}.{short}"
        try:
            mod = importlib.import_module(modname)
        except Exception as e:  # noqa: BLE001 - a broken optional module must not hide the rest
            errors[modname] = f"{type(e).__name__}: {e}"
            continue
        for attr, obj in vars(mod).items():
            if (attr.startswith("_") or not _is_dispatcher(obj)
                    or getattr(obj.py_func, "__module__", None) != modname):
                continue  # private helpers, and kernels re-exported from another module
            doc = (inspect.getdoc(obj.py_func) or "").strip().splitlines()
            name = attr if attr not in taken else f"{short}.{attr}"
            taken.add(name)
            found.append(KernelInfo(name, modname, obj, doc[0] if doc else "(no docstring)"))
    return found, errors


def find(kernels, name):
    """The kernel called `name` (display name or module.name), or None."""
    for k in kernels:
        if name in (k.name, k.qualname):
            return k
    return None


# ------------------------------------------------------------------------------ the cases
@dataclass
class Case:
    name: str                      # reference kernel name
    scope: str                     # layer | hidden | output | params | input
    make: Callable                 # (dims, dtype, rng) -> args tuple for the kernel
    numpy: Callable                # (args) -> zero-argument callable doing the same in NumPy
    flops: Callable = None         # dims -> floating-point operations (matmul-like cases)
    nbytes: Callable = None        # (dims, itemsize) -> bytes read + written (memory-bound cases)
    op: str = ""                   # category for plots: matmul, bias, activation, softmax-CE, ...
    pick: Callable = None          # (args, return value) -> the kernel's result; default: last arg
    np_pick: Callable = None       # (args, return value) -> NumPy's result; default: return value

    @property
    def kind(self):
        return "matmul" if self.flops is not None else "memory"


def _r(rng, shape, dtype, lo=-1.0, hi=1.0):
    return (rng.random(shape) * (hi - lo) + lo).astype(dtype)


def _e(shape, dtype):
    return np.zeros(shape, dtype)


def _labels(rng, n, c):
    return rng.integers(0, c, n).astype(np.int64)


def _prob(rng, n, c, dtype):
    p = rng.random((n, c)) + 0.1
    return (p / p.sum(1, keepdims=True)).astype(dtype)


def _cat(*arrays):
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in arrays])


def _first(a, r):
    return a[0]


LR, MU, L2 = 1e-6, 0.9, 0.0  # tiny steps: repeated calls leave the parameters essentially unchanged

CASES = [
    # --- matrix products (N, K, M): forward Y = X W, backward dX = dY W.T, dW = X.T dY
    Case("matmul_nn", "layer", lambda d, t, r: (_r(r, d[:2], t), _r(r, d[1:], t), _e((d[0], d[2]), t)),
         lambda a: lambda: a[0] @ a[1], flops=lambda d: 2 * d[0] * d[1] * d[2], op="matmul"),
    Case("matmul_nt", "layer", lambda d, t, r: (_r(r, (d[0], d[2]), t), _r(r, d[1:], t), _e(d[:2], t)),
         lambda a: lambda: a[0] @ a[1].T, flops=lambda d: 2 * d[0] * d[1] * d[2], op="matmul"),
    Case("matmul_tn", "layer", lambda d, t, r: (_r(r, d[:2], t), _r(r, (d[0], d[2]), t), _e(d[1:], t)),
         lambda a: lambda: a[0].T @ a[1], flops=lambda d: 2 * d[0] * d[1] * d[2], op="matmul"),
    Case("linear_forward", "layer",
         lambda d, t, r: (_r(r, d[:2], t), _r(r, d[1:], t), _r(r, d[2], t), _e((d[0], d[2]), t)),
         lambda a: lambda: a[0] @ a[1] + a[2], flops=lambda d: 2 * d[0] * d[1] * d[2] + d[0] * d[2],
         op="matmul"),
    Case("linear_backward", "layer",
         lambda d, t, r: (_r(r, d[:2], t), _r(r, d[1:], t), _r(r, (d[0], d[2]), t), _e(d[:2], t),
                          _e(d[1:], t), _e(d[2], t), True),
         lambda a: lambda: (a[0].T @ a[2], a[2].sum(axis=0), a[2] @ a[1].T),
         flops=lambda d: 4 * d[0] * d[1] * d[2] + d[0] * d[2], op="matmul",
         pick=lambda a, r: _cat(a[4], a[5], a[3]), np_pick=lambda a, r: _cat(*r)),
    # --- bias (N, K, M): only N and M matter
    Case("bias_forward", "layer", lambda d, t, r: (_r(r, d[2], t), _r(r, (d[0], d[2]), t)),
         lambda a: lambda: a[1] + a[0], nbytes=lambda d, s: (2 * d[0] * d[2] + d[2]) * s, op="bias"),
    Case("bias_backward", "layer", lambda d, t, r: (_r(r, (d[0], d[2]), t), _e(d[2], t)),
         lambda a: lambda: a[0].sum(axis=0), nbytes=lambda d, s: (d[0] * d[2] + d[2]) * s, op="bias"),
    # --- activations (N, M)
    *[Case(f"{act}_forward", "hidden", lambda d, t, r: (_r(r, d, t, -3, 3), _e(d, t)),
           (lambda f: lambda a: lambda: f(a[0]))(R.ACTIVATION_FUNCS[act][0]),
           nbytes=lambda d, s: 2 * d[0] * d[1] * s, op="activation")
      for act in ("relu", "tanh", "sigmoid")],
    *[Case(f"{act}_backward", "hidden", lambda d, t, r: (_r(r, d, t, -1, 1), _r(r, d, t), _e(d, t)),
           (lambda g: lambda a: lambda: g(a[0], a[1]))(R.ACTIVATION_FUNCS[act][1]),
           nbytes=lambda d, s: 3 * d[0] * d[1] * s, op="activation")
      for act in ("relu", "tanh", "sigmoid")],
    # --- dropout (N, M), p = 0.2
    Case("dropout_forward", "hidden",
         lambda d, t, r: (_r(r, d, t), 0.2, 12345, _e(d, t), _e(d, t)),
         lambda a: lambda: a[0] * R.dropout_mask(a[0].shape, a[1], a[2], a[0].dtype),
         nbytes=lambda d, s: 3 * d[0] * d[1] * s, op="dropout"),
    Case("dropout_backward", "hidden", lambda d, t, r: (_r(r, d, t), _r(r, d, t), _e(d, t)),
         lambda a: lambda: a[0] * a[1], nbytes=lambda d, s: 3 * d[0] * d[1] * s, op="dropout"),
    # --- softmax and cross-entropy (N, C)
    Case("softmax_forward", "output", lambda d, t, r: (_r(r, d, t, -5, 5), _e(d, t)),
         lambda a: lambda: R.softmax(a[0]), nbytes=lambda d, s: 2 * d[0] * d[1] * s, op="softmax-CE"),
    Case("softmax_cross_entropy_forward", "output",
         lambda d, t, r: (_r(r, d, t, -5, 5), _labels(r, *d), _e(d, t)),
         lambda a: lambda: R.softmax_cross_entropy(a[0], a[1]),
         nbytes=lambda d, s: 2 * d[0] * d[1] * s + 8 * d[0], op="softmax-CE",
         pick=lambda a, r: _cat(a[2], r), np_pick=lambda a, r: _cat(*r)),
    Case("softmax_cross_entropy_backward", "output",
         lambda d, t, r: (_prob(r, *d, t), _labels(r, *d), _e(d, t)),
         lambda a: lambda: R.softmax_cross_entropy_grad(a[0], a[1]),
         nbytes=lambda d, s: 2 * d[0] * d[1] * s + 8 * d[0], op="softmax-CE"),
    Case("argmax_rows", "output", lambda d, t, r: (_prob(r, *d, t), np.zeros(d[0], np.int64)),
         lambda a: lambda: np.argmax(a[0], axis=1), nbytes=lambda d, s: d[0] * d[1] * s + 8 * d[0],
         op="inference"),
    # --- optimizers on one flat parameter array (P,)
    Case("sgd_update", "params", lambda d, t, r: (_r(r, d, t), _r(r, d, t), LR, L2),
         lambda a: lambda: a[0].__isub__(LR * a[1]), nbytes=lambda d, s: 3 * d[0] * s, op="update",
         pick=_first, np_pick=_first),
    Case("momentum_update", "params",
         lambda d, t, r: (_r(r, d, t), _r(r, d, t), _e(d, t), LR, MU, L2),
         lambda a: lambda: (a[2].__imul__(MU), a[2].__isub__(LR * a[1]), a[0].__iadd__(a[2])),
         nbytes=lambda d, s: 5 * d[0] * s, op="update", pick=_first, np_pick=_first),
    Case("adam_update", "params",
         lambda d, t, r: (_r(r, d, t), _r(r, d, t), _e(d, t), _e(d, t), LR, 0.9, 0.999, 1e-8, 10, L2),
         lambda a: lambda: _numpy_adam(a), nbytes=lambda d, s: 7 * d[0] * s, op="update",
         pick=_first, np_pick=_first),
    # --- augmentation (N, 784)
    Case("shift_images", "input",
         lambda d, t, r: (_r(r, d, t, 0, 1), r.integers(-2, 3, d[0]), r.integers(-2, 3, d[0]), _e(d, t)),
         lambda a: lambda: _numpy_shift(a[0], a[1], a[2]), nbytes=lambda d, s: 2 * d[0] * d[1] * s,
         op="augment"),
]

# --- the optimised kernels of kernels/fast.py that have no plain counterpart of the same name:
# fused products compared with the NumPy lines they replace (weights held transposed, WT (M,K)).
def _act_relu():
    from kernels.fast import ACT_RELU
    return ACT_RELU


def _T(a):
    return np.ascontiguousarray(a.T)


def _pad16(a):
    """a with at least 16 columns (zero-padded): the tile kernels read 16-column panels."""
    if a.shape[1] >= 16:
        return a
    out = np.zeros((a.shape[0], 16), a.dtype)
    out[:, :a.shape[1]] = a
    return out


CASES += [
    # single-threaded microkernels (the fast products split their output over threads in panels)
    Case("nn_block", "layer",  # out = A @ B with 4x16 register tiles
         lambda d, t, r: (_r(r, d[:2], t), _pad16(_r(r, d[1:], t)), _e((d[0], max(d[2], 16)), t),
                          0, d[0], 0, d[2]),
         lambda a: (lambda B: lambda: a[0] @ B)(np.ascontiguousarray(a[1][:, :a[6]])),
         flops=lambda d: 2 * d[0] * d[1] * d[2], op="matmul", pick=lambda a, r: a[2][:, :a[6]]),
    Case("tn_block", "layer",  # out = A.T @ B with 4x16 register tiles
         lambda d, t, r: (_r(r, d[:2], t), _pad16(_r(r, (d[0], d[2]), t)), _e((d[1], max(d[2], 16)), t),
                          0, d[1], 0, d[2]),
         lambda a: (lambda B: lambda: a[0].T @ B)(np.ascontiguousarray(a[1][:, :a[6]])),
         flops=lambda d: 2 * d[0] * d[1] * d[2], op="matmul", pick=lambda a, r: a[2][:, :a[6]]),
    Case("nt_block", "layer",  # out = A @ B.T by 2x4 blocks of dot products (dX = dY @ W.T)
         lambda d, t, r: (_r(r, (d[0], d[2]), t), _r(r, d[1:], t), _e(d[:2], t), 0, d[1]),
         lambda a: lambda: a[0] @ a[1].T, flops=lambda d: 2 * d[0] * d[1] * d[2], op="matmul",
         pick=lambda a, r: a[2]),
    # fused layers (weights held transposed, WT (M,K)), against the NumPy lines they replace
    Case("linear_act_forward", "layer",  # Z = H W + b, A = relu(Z)  vs  relu(H @ W + b)
         lambda d, t, r: (_r(r, d[:2], t), _r(r, (d[2], d[1]), t), _r(r, d[2], t), _act_relu(),
                          _e((d[0], d[2]), t), _e((d[0], d[2]), t), 0.0, np.uint64(0),
                          _e((d[0], d[2]), t), _e((d[0], d[2]), t)),
         lambda a: (lambda W: lambda: R.relu(a[0] @ W + a[2]))(_T(a[1])),
         flops=lambda d: 2 * d[0] * d[1] * d[2] + 2 * d[0] * d[2], op="matmul", pick=lambda a, r: a[5]),
    Case("linear_input_grad", "layer",  # dH = relu'(z) * (dZ @ W.T)
         lambda d, t, r: (_r(r, (d[0], d[2]), t), _r(r, (d[2], d[1]), t), _r(r, d[:2], t), _act_relu(),
                          _e(d[:2], t), False, _e(d[:2], t)),
         lambda a: (lambda W: lambda: R.relu_grad(a[2], a[0] @ W.T))(_T(a[1])),
         flops=lambda d: 2 * d[0] * d[1] * d[2], op="matmul"),
    Case("weight_grad_step", "layer",  # dW = H.T @ dZ and the SGD step  vs  W -= lr * (H.T @ dZ)
         lambda d, t, r: (_r(r, (d[0], d[2]), t), _r(r, d[:2], t), _e((d[2], d[1]), t),
                          _r(r, (d[2], d[1]), t), _e((d[2], d[1]), t), _e((d[2], d[1]), t),
                          0, LR, L2, MU, 0.9, 0.999, 1e-8, 1),
         lambda a: (lambda W: lambda: (lambda g: (W.__isub__(LR * g), g))(a[1].T @ a[0]))(_T(a[3])),
         flops=lambda d: 2 * d[0] * d[1] * d[2] + 2 * d[1] * d[2], op="matmul",
         pick=lambda a, r: a[2].T, np_pick=lambda a, r: r[1]),
    Case("bias_grad_step", "layer",  # db = sum_n dZ and the SGD step  vs  b -= lr * dZ.sum(axis=0)
         lambda d, t, r: (_r(r, (d[0], d[2]), t), _e(d[2], t), _r(r, d[2], t), _e(d[2], t), _e(d[2], t),
                          0, LR, MU, 0.9, 0.999, 1e-8, 1),
         lambda a: lambda: (lambda g: (a[2].__isub__(LR * g), g))(a[0].sum(axis=0)),
         nbytes=lambda d, s: (d[0] * d[2] + 3 * d[2]) * s, op="update",
         pick=lambda a, r: a[1], np_pick=lambda a, r: r[1]),
    Case("optimizer_step", "params",  # SGD on a flat parameter array  vs  p -= lr * g
         # j0, j1 passed explicitly: a call that leaves Numba to fill in omitted defaults takes
         # the dispatcher's slow path (~0.2 ms per call from Python)
         lambda d, t, r: (_r(r, d, t), _r(r, d, t), _e(d, t), _e(d, t), 0, LR, L2, MU, 0.9, 0.999, 1e-8, 1,
                          0, -1),
         lambda a: lambda: a[0].__isub__(LR * a[1]), nbytes=lambda d, s: 3 * d[0] * s, op="update",
         pick=_first, np_pick=_first),
    Case("transpose", "hidden", lambda d, t, r: (_r(r, d, t), _e((d[1], d[0]), t)),
         lambda a: lambda: np.ascontiguousarray(a[0].T), nbytes=lambda d, s: 2 * d[0] * d[1] * s,
         op="layout"),
    Case("softmax_xent_grad", "output",
         lambda d, t, r: (_r(r, d, t, -5, 5), _labels(r, *d), _e(d, t)),
         lambda a: lambda: (lambda pl: (R.softmax_cross_entropy_grad(pl[0], a[1]), pl[1]))(
             R.softmax_cross_entropy(a[0], a[1])),
         nbytes=lambda d, s: 2 * d[0] * d[1] * s + 8 * d[0], op="softmax-CE",
         pick=lambda a, r: _cat(a[2], r), np_pick=lambda a, r: _cat(*r)),
    Case("gather_rows", "input",  # out = X[idx] from a larger X  vs  X[idx]
         lambda d, t, r: (_r(r, (4 * d[0], d[1]), t), r.permutation(4 * d[0])[:d[0]],
                          np.zeros(0, np.int64), np.zeros(0, np.int64), False, _e(d, t)),
         lambda a: lambda: a[0][a[1]], nbytes=lambda d, s: 2 * d[0] * d[1] * s + 8 * d[0], op="layout"),
]
CASES_BY_NAME = {c.name: c for c in CASES}


def _capture_epoch_args(dtype):
    """The arguments NeuralNetwork.train_epoch passes to kernels.epoch.train_epoch_compiled, for a
    tiny 784-8-6-10 network and 8 images (captured by standing in for the kernel for one call)."""
    import kernels.epoch as E
    from network.model import NeuralNetwork

    class _Captured(Exception):
        pass

    real, seen = E.train_epoch_compiled, []

    def stand_in(*args):
        seen.append(args)
        raise _Captured

    E.train_epoch_compiled = stand_in
    try:
        X = np.random.default_rng(0).random((8, 784))
        NeuralNetwork([784, 8, 6, 10], dtype=dtype).train_epoch(X, np.arange(8) % 10, batch_size=4)
    except _Captured:
        pass
    finally:
        E.train_epoch_compiled = real
    return seen[0] if seen else None


# Kernels whose example arguments are not built from a case (scalars, the whole epoch).
SPECIAL_EXAMPLES = {"hash_uniform": lambda dtype: (np.uint64(7), 3),
                    "layout": lambda dtype: (np.array([784, 128, 64, 10], np.int64),),
                    "train_epoch_compiled": _capture_epoch_args}

# Small shapes for compiling a kernel before inspecting it (python -m kernels show NAME) and for
# validating it against NumPy before it is timed.
EXAMPLE_DIMS = {"layer": (5, 7, 18), "hidden": (4, 5), "output": (4, 10), "params": (30,),
                "input": (4, 784)}

def _numpy_adam(a):
    p, g, m, v, lr, b1, b2, eps, t, _ = a
    m[:] = b1 * m + (1 - b1) * g
    v[:] = b2 * v + (1 - b2) * g * g
    p -= lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)


def _numpy_shift(x, dr, dc):
    """Vectorised shift_images: gather every pixel from (r - dr, c - dc), zero outside."""
    n = x.shape[0]
    r = np.arange(28)
    rr = r[None, :] - dr[:, None]
    cc = r[None, :] - dc[:, None]
    valid = ((rr >= 0) & (rr < 28))[:, :, None] & ((cc >= 0) & (cc < 28))[:, None, :]
    img = x.reshape(n, 28, 28)
    out = img[np.arange(n)[:, None, None], np.clip(rr, 0, 27)[:, :, None], np.clip(cc, 0, 27)[:, None, :]]
    return (out * valid).reshape(n, 784)


def case_for(kernel):
    """The Case that describes `kernel` (a KernelInfo), or None.

    A case matches by name (equal, or the case's name + "_" + suffix) and only if the arguments it
    builds are as many as the kernel takes, so a kernel whose signature changed is left out
    rather than called wrongly.
    """
    fname = kernel.func.__name__
    for c in CASES:
        if fname == c.name or fname.startswith(c.name + "_"):
            try:
                n_args = len(c.make(EXAMPLE_DIMS[c.scope], np.dtype(np.float32), np.random.default_rng(0)))
            except ImportError:
                continue
            if kernel.n_required <= n_args <= kernel.n_params:
                return c
    return None


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


def example_args(kernel, dtype, seed=0):
    """A small argument tuple to compile `kernel` for `dtype`, or None if none is known."""
    fname = kernel.func.__name__
    if fname in SPECIAL_EXAMPLES:
        return SPECIAL_EXAMPLES[fname](np.dtype(dtype))
    c = case_for(kernel)
    if c is None:
        return None
    return c.make(EXAMPLE_DIMS[c.scope], np.dtype(dtype), np.random.default_rng(seed))
