"""Every kernel of the package, and example arguments for each at a given shape: what
`python -m kernels` lists and `show` compiles, and what the benchmarks (profiling/cases.py) build
their timed calls from. Arguments are bound to the kernel objects, not matched by name.

Shapes ("dims") by scope:
    layer   (N, K, M): batch N, fan-in K, fan-out M of one fully connected layer
    hidden  (N, M):    a hidden layer's activations
    output  (N, C):    the logits
    params  (P,):      one flat parameter array
    input   (N, 784):  a batch of images
"""
import importlib
import inspect
import pkgutil
from dataclasses import dataclass

import numpy as np

import kernels as K
from kernels import elastic as EL
from kernels import epoch as E
from kernels import warp as W
from kernels.calls import epoch_calls
from kernels.tiles import tile_cols

# Modules listed first keep the bare kernel name when another module defines the same name.
_ORDER = ("matmul", "activations", "loss", "optim", "dropout", "augment", "tiles", "products", "layers",
          "epoch")
_SKIP = ("registry", "pairs", "runtime")
# Small shapes for compiling a kernel before inspecting it, and for validating it against NumPy.
EXAMPLE_DIMS = {"layer": (5, 7, 18), "hidden": (4, 5), "output": (4, 10), "params": (30,),
                "input": (4, 784)}
LR, MU, L2 = 1e-6, 0.9, 0.0  # tiny steps: repeated calls leave the parameters essentially unchanged


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
    def inline(self):
        """An inline scalar or span function: it has no compiled body of its own."""
        return self.func.targetoptions.get("inline") == "always"

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


def discover():
    """(kernels, errors): every Numba function defined in the package's modules (inline scalar
    functions included, flagged), in a stable order; errors maps modules that failed to import."""
    names = [m.name for m in pkgutil.iter_modules(K.__path__)
             if not m.name.startswith("_") and m.name not in _SKIP]
    names.sort(key=lambda n: (_ORDER.index(n) if n in _ORDER else len(_ORDER), n))
    found, errors, taken = [], {}, set()
    for short in names:
        modname = f"kernels.{short}"
        try:
            mod = importlib.import_module(modname)
        except Exception as e:  # noqa: BLE001 - a broken optional module must not hide the rest
            errors[modname] = f"{type(e).__name__}: {e}"
            continue
        for attr, obj in vars(mod).items():
            if (attr.startswith("_") or not hasattr(obj, "py_func") or not hasattr(obj, "targetoptions")
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


# ------------------------------------------------------------------ argument builders
def _r(rng, shape, dtype, lo=-1.0, hi=1.0):
    return (rng.random(shape) * (hi - lo) + lo).astype(dtype)


def _e(shape, dtype):
    return np.zeros(shape, dtype)


def _labels(rng, n, c):
    return rng.integers(0, c, n).astype(np.int64)


def _prob(rng, n, c, dtype):
    p = rng.random((n, c)) + 0.1
    return (p / p.sum(1, keepdims=True)).astype(dtype)


def _pad_tile(a):
    """a with at least a tile's width of columns (zero-padded): the block kernels read whole
    tile-wide panels (kernels.tiles.tile_cols: 16 to 32 columns by CPU and dtype)."""
    c = tile_cols(a.dtype)
    if a.shape[1] >= c:
        return a
    out = np.zeros((a.shape[0], c), a.dtype)
    out[:, :a.shape[1]] = a
    return out


def _act_bwd(d, t, r):
    return (_r(r, d, t, -1, 1), _r(r, d, t), _e(d, t))


def _epoch_args(d, t, r):
    """The compiled epoch on 8 images of a 784-8-6-10 network, batches of 4, Adam with dropout."""
    sizes = np.array([784, 8, 6, 10], np.int64)
    w_off, u_off = E.layout(sizes)
    z = lambda n: np.zeros(n, t)  # noqa: E731
    P = E.Params(_r(r, w_off[-1], t, -0.1, 0.1), z(u_off[-1]), z(w_off[-1]), z(u_off[-1]),
                 z(w_off[-1]), z(w_off[-1]), z(u_off[-1]), z(u_off[-1]))
    data = E.Data(_r(r, (8, 784), t, 0, 1), _labels(r, 8, 10), np.arange(8), np.full(2, 1e-3), 4)
    aug = E.Augment(False, np.zeros(0, np.int64), np.zeros(0, np.int64))
    net = E.Net(sizes, np.int64(K.ACT_RELU), 0.1, np.uint64(1 << 32))
    opt = E.Optim(np.int64(K.OPT_ADAM), 0.0, 0.9, 0.9, 0.999, 1e-8)
    return (data, aug, net, P, opt, 0, 0, 0, 2, epoch_calls(t, False))


# kernel -> (scope, make(dims, dtype, rng) -> argument tuple)
EXAMPLES = {
    K.matmul_nn: ("layer", lambda d, t, r: (_r(r, d[:2], t), _r(r, d[1:], t), _e((d[0], d[2]), t))),
    K.matmul_nt: ("layer", lambda d, t, r: (_r(r, (d[0], d[2]), t), _r(r, d[1:], t), _e(d[:2], t))),
    K.matmul_tn: ("layer", lambda d, t, r: (_r(r, d[:2], t), _r(r, (d[0], d[2]), t), _e(d[1:], t))),
    K.linear_forward: ("layer", lambda d, t, r: (_r(r, d[:2], t), _r(r, d[1:], t), _r(r, d[2], t),
                                                 _e((d[0], d[2]), t))),
    K.linear_backward: ("layer", lambda d, t, r: (_r(r, d[:2], t), _r(r, d[1:], t), _r(r, (d[0], d[2]), t),
                                                  _e(d[:2], t), _e(d[1:], t), _e(d[2], t), True)),
    K.bias_forward: ("layer", lambda d, t, r: (_r(r, d[2], t), _r(r, (d[0], d[2]), t))),
    K.bias_backward: ("layer", lambda d, t, r: (_r(r, (d[0], d[2]), t), _e(d[2], t))),
    **{f: ("hidden", lambda d, t, r: (_r(r, d, t, -3, 3), _e(d, t)))
       for f in (K.relu_forward, K.tanh_forward, K.sigmoid_forward)},
    **{f: ("hidden", _act_bwd) for f in (K.relu_backward, K.tanh_backward, K.sigmoid_backward)},
    K.activation_forward: ("hidden", lambda d, t, r: (np.int64(K.ACT_RELU), _r(r, d, t, -3, 3), _e(d, t))),
    K.activation_backward: ("hidden", lambda d, t, r: (np.int64(K.ACT_RELU),) + _act_bwd(d, t, r)),
    K.dropout_forward: ("hidden", lambda d, t, r: (_r(r, d, t), 0.2, 12345, _e(d, t), _e(d, t))),
    K.dropout_backward: ("hidden", lambda d, t, r: (_r(r, d, t), _r(r, d, t), _e(d, t))),
    K.softmax_forward: ("output", lambda d, t, r: (_r(r, d, t, -5, 5), _e(d, t))),
    K.softmax_cross_entropy_forward: ("output", lambda d, t, r: (_r(r, d, t, -5, 5), _labels(r, *d), _e(d, t))),
    K.softmax_cross_entropy_backward: ("output", lambda d, t, r: (_prob(r, *d, t), _labels(r, *d), _e(d, t))),
    K.softmax_xent_grad: ("output", lambda d, t, r: (_r(r, d, t, -5, 5), _labels(r, *d), _e(d, t))),
    K.argmax_rows: ("output", lambda d, t, r: (_prob(r, *d, t), np.zeros(d[0], np.int64))),
    K.sgd_update: ("params", lambda d, t, r: (_r(r, d, t), _r(r, d, t), LR, L2)),
    K.momentum_update: ("params", lambda d, t, r: (_r(r, d, t), _r(r, d, t), _e(d, t), LR, MU, L2)),
    K.adam_update: ("params", lambda d, t, r: (_r(r, d, t), _r(r, d, t), _e(d, t), _e(d, t), LR, 0.9,
                                              0.999, 1e-8, 10, L2)),
    K.optimizer_step: ("params", lambda d, t, r: (_r(r, d, t), _r(r, d, t), _e(d, t), _e(d, t),
                                                  np.int64(K.OPT_ADAM), LR, L2, MU, 0.9, 0.999, 1e-8, 10)),
    K.shift_images: ("input", lambda d, t, r: (_r(r, d, t, 0, 1), r.integers(-2, 3, d[0]),
                                               r.integers(-2, 3, d[0]), _e(d, t))),
    # (N, K) or (N, K, n): N rows gathered from n (default 4N)
    K.gather_rows: ("input", lambda d, t, r: (
        _r(r, (d[2] if len(d) > 2 else 4 * d[0], d[1]), t, 0, 1),
        r.permutation(d[2] if len(d) > 2 else 4 * d[0])[:d[0]], np.zeros(0, np.int64),
        np.zeros(0, np.int64), False, _e(d[:2], t))),
    # (N, 784) or (N, 784, n) warped rows gathered from n images (default 4N), affine + elastic
    # (a bank of 4 fields)
    K.gather_warp: ("input", lambda d, t, r: (
        _r(r, (d[2] if len(d) > 2 else 4 * d[0], d[1]), t, 0, 1),
        r.permutation(d[2] if len(d) > 2 else 4 * d[0])[:d[0]], np.uint64(7), np.int64(0),
        10.0, 0.1, 0.15, np.int64(2), _fields(), _e(d[:2], t))),
    # single-threaded microkernels (the fast products split their output over threads in panels)
    K.nn_block: ("layer", lambda d, t, r: (_r(r, d[:2], t), _pad_tile(_r(r, d[1:], t)),
                                           _e((d[0], max(d[2], tile_cols(t))), t), 0, d[0], 0, d[2])),
    K.tn_block: ("layer", lambda d, t, r: (_r(r, d[:2], t), _pad_tile(_r(r, (d[0], d[2]), t)),
                                           _e((d[1], max(d[2], tile_cols(t))), t), 0, d[1], 0, d[2])),
    K.nn_packed_block: ("layer", lambda d, t, r: (_r(r, d[:2], t), _pad_tile(_r(r, d[1:], t)),
                                           _e((d[0], max(d[2], tile_cols(t))), t), 0, d[0], 0, d[2])),
    K.tn_packed_block: ("layer", lambda d, t, r: (_r(r, d[:2], t), _pad_tile(_r(r, (d[0], d[2]), t)),
                                           _e((d[1], max(d[2], tile_cols(t))), t), 0, d[1], 0, d[2])),
    K.nt_block: ("layer", lambda d, t, r: (_r(r, (d[0], d[2]), t), _r(r, d[1:], t), _e(d[:2], t), 0, d[1])),
    K.matmul_nn_fast: ("layer", lambda d, t, r: (_r(r, d[:2], t), _r(r, d[1:], t), _e((d[0], d[2]), t))),
    K.matmul_nt_fast: ("layer", lambda d, t, r: (_r(r, (d[0], d[2]), t), _r(r, d[1:], t), _e(d[:2], t))),
    K.matmul_tn_fast: ("layer", lambda d, t, r: (_r(r, d[:2], t), _r(r, (d[0], d[2]), t), _e(d[1:], t))),
    K.transpose: ("hidden", lambda d, t, r: (_r(r, d, t), _e((d[1], d[0]), t))),
    # augmentation warps (kernels/warp.py, kernels/elastic.py): images (N, 784), a bank of 4 fields
    W.warp_images: ("input", lambda d, t, r: (_r(r, d, t, 0, 1), _warp_params(d[0], r), _fields(), _e(d, t))),
    W.augment_images: ("input", lambda d, t, r: (_r(r, d, t, 0, 1), 7, np.arange(d[0], dtype=np.int64),
                                                 10.0, 0.1, 0.15, 2, _fields(), _e(d, t))),
    W.draw_params_batch: ("input", lambda d, t, r: (7, np.arange(d[0], dtype=np.int64), 10.0, 0.1, 0.15, 2,
                                                    4, np.zeros((d[0], W.N_PARAMS)))),
    W.augment_image: ("input", lambda d, t, r: (_r(r, d[1], t, 0, 1), 7, 3, 10.0, 0.1, 0.15, 2, _fields(),
                                                _e(d[1], t), np.zeros(W.WORK_SIZE))),
    W.warp_image: ("input", lambda d, t, r: (_r(r, d[1], t, 0, 1), 1.0, 0.0, 0.0, 1.0, 0.5, -0.5, _fields(),
                                             1, _e(d[1], t), np.zeros(W.WORK_SIZE))),
    W.draw_params: ("params", lambda d, t, r: (7, 3, 10.0, 0.1, 0.15, 2, 4)),
    W.sampling_map: ("params", lambda d, t, r: (10.0, 1.1, 0.9, 0.1, 1, -1)),
    EL.elastic_fields: ("params", lambda d, t, r: (7, 4.0, 1.5, np.zeros((4, 2, 28, 28)))),
    EL.gaussian_taps: ("params", lambda d, t, r: (4.0,)),
    # fused layers (weights held transposed, WT (M,K))
    K.linear_act_forward: ("layer", lambda d, t, r: (
        _r(r, d[:2], t), _r(r, (d[2], d[1]), t), _r(r, d[2], t), np.int64(K.ACT_RELU),
        _e((d[0], d[2]), t), _e((d[0], d[2]), t), 0.0, np.uint64(0), _e((d[0], d[2]), t),
        _e((d[0], d[2]), t))),
    K.linear_input_grad: ("layer", lambda d, t, r: (
        _r(r, (d[0], d[2]), t), _r(r, (d[2], d[1]), t), _r(r, d[:2], t), np.int64(K.ACT_RELU),
        _e(d[:2], t), False, _e(d[:2], t))),
    K.weight_grad_step: ("layer", lambda d, t, r: (
        _r(r, (d[0], d[2]), t), _r(r, d[:2], t), _e((d[2], d[1]), t), _r(r, (d[2], d[1]), t),
        _e((d[2], d[1]), t), _e((d[2], d[1]), t), np.int64(K.OPT_SGD), LR, L2, MU, 0.9, 0.999, 1e-8, 1)),
    K.bias_grad_step: ("layer", lambda d, t, r: (
        _r(r, (d[0], d[2]), t), _e(d[2], t), _r(r, d[2], t), _e(d[2], t), _e(d[2], t),
        np.int64(K.OPT_SGD), LR, MU, 0.9, 0.999, 1e-8, 1)),
    K.hash_uniform: ("params", lambda d, t, r: (np.uint64(7), 3)),
    K.layout: ("params", lambda d, t, r: (np.array([784, 128, 64, 10], np.int64),)),
    K.train_epoch_compiled: ("params", _epoch_args),
}


def _fields():
    f = np.zeros((4, 2, 28, 28))
    EL.elastic_fields(7, 4.0, 1.5, f)
    return f


def _warp_params(n, r):
    p = np.zeros((n, W.N_PARAMS))
    p[:, W.PARAM_SCALE_R] = p[:, W.PARAM_SCALE_C] = 1.0
    p[:, W.PARAM_ROTATION] = r.uniform(-10, 10, n)
    p[:, W.PARAM_FIELD] = r.integers(0, 4, n)
    return p


def example_args(kernel, dtype, dims=None, seed=0):
    """An argument tuple for `kernel` (a KernelInfo or a dispatcher) in `dtype`, at `dims` (default:
    the small EXAMPLE_DIMS of its scope), or None if none is known (inline scalar functions)."""
    func = getattr(kernel, "func", kernel)
    if func not in EXAMPLES:
        return None
    scope, make = EXAMPLES[func]
    return make(dims or EXAMPLE_DIMS[scope], np.dtype(dtype), np.random.default_rng(seed))


def scope_of(kernel):
    return EXAMPLES[getattr(kernel, "func", kernel)][0]
