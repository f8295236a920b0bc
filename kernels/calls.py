"""The kernels the compiled epoch calls, passed to it as first-class functions (by address).

A compiled function that calls another one by name carries a copy of its callee: Numba links the
callee's code into the caller's module, optimises the whole again and emits it again, and the
callee's callees with it. For the epoch that copy was the whole network's code: a third of a
cold start (3.5-4.7 s of 10-13 s on the Intel Xeon, Ice Lake, 2 vCPUs, 2026-12-08), one serial
step that no other process could share. Passed as first-class functions instead
(`Calls`, kernels/epoch.py), the kernels are called through their addresses: the epoch compiles
only its own loop, each kernel is compiled (or loaded from the on-disk cache) once, on its own,
and two processes can compile them side by side (network/warmup.py).

`Compiled(dispatcher, args, ret)` is one such kernel: its Numba type is the signature
ret(*args), known without compiling, so the epoch can be typed and looked up in the cache before
any kernel is compiled; the kernel itself is compiled (or loaded) the first time its address is
asked for. A call through the address is a plain C call: an error raised inside the kernel is
not propagated to the epoch (Numba prints its traceback and the call returns zero). So only
kernels that cannot raise are called this way: the epoch calls the layer kernels after their
shape checks, and builds every shape from the one layout.
"""
import numba.experimental.function_type  # noqa: F401  (registers how Numba types a Compiled)
import numpy as np
from numba import types
from numba.core.types import WrapperAddressProtocol

from kernels import epoch as E
from kernels import runtime
from kernels import signatures as S


class Compiled(WrapperAddressProtocol):
    """One compiled signature of a kernel, as a first-class function value: Numba types it as
    FunctionType(ret(*args)) and calls it through `__wrapper_address__()`, the address of its
    C-callable entry (compiled on first use, at the training engine's LLVM level)."""

    def __init__(self, dispatcher, args, ret=types.none):
        self.dispatcher, self.args = dispatcher, tuple(args)
        self._sig = ret(*self.args)
        self._addr = None

    def signature(self):
        return self._sig

    def __wrapper_address__(self):
        if self._addr is None:
            with runtime.compile_level():
                self.dispatcher.compile(self.args)
            cres = self.dispatcher.overloads[self.args]
            if cres.signature.return_type != self._sig.return_type:
                raise TypeError(f"{self.dispatcher.py_func.__name__} returns "
                                f"{cres.signature.return_type}, not {self._sig.return_type}")
            self._addr = cres.library.get_pointer_to_function(cres.fndesc.llvm_cfunc_wrapper_name)
        return self._addr

    def __repr__(self):
        return f"Compiled({self.dispatcher.py_func.__name__}, {self._sig})"


_CALLS = {}


def epoch_calls(dtype, warp, x_type=None, pack=None):
    """The `Calls` (kernels/epoch.py) of an epoch on arrays of `dtype`; warp: whether its Augment
    warps; x_type: the Numba type of its inputs X; pack: its Net.pack (signatures.epoch_kernels).
    One set per argument in a process, so each kernel's address is looked up once."""
    key = (np.dtype(dtype).name, bool(warp), x_type, pack)
    if key not in _CALLS:
        ks = S.epoch_kernels(dtype, warp, x_type, pack)
        c = lambda name, ret=types.none: Compiled(*ks[name], ret)  # noqa: E731
        _CALLS[key] = E.Calls(gather=c("augment.gather"), linear_act=c("layers._linear_act"),
                              loss_grad=c("loss.softmax_xent_grad", types.float64),
                              input_grad=c("layers._input_grad"),
                              weight_grad=c("layers._weight_grad"),
                              bias_step=c("layers.bias_grad_step"))
    return _CALLS[key]


def resolve(calls):
    """Compile (or load) every kernel of `calls` now; returns calls."""
    for c in calls:
        c.__wrapper_address__()
    return calls
