"""Compile Numba code with DWARF line tables, but otherwise exactly as optimised as the normal build.

    with line_tables():          # or enable() ... disable()
        f(*args)                 # compiles with a line table; f.inspect_asm(sig) has .loc lines

Numba's `debug=True` (or NUMBA_DEBUGINFO=1) changes the machine code it describes: it turns on
bounds checks, extends variable lifetimes, keeps every local in a stack slot and marks every
function noinline (matmul_nn_fast ran 4-6x slower so built). This module sets the debuginfo flag
and undoes those four (boundscheck and dbg_extend_lifetimes off; numba's SROA-like promotion of
locals and LLVM inlining back on), so the optimisation level, fastmath and the vectoriser act as
in the normal build. Numba's line-tables-only mode (`_dbg_directives_only`) is of no use: it emits
a .debug_line without the compile unit in .debug_info that gdb needs.

It also fixes where Numba files code it inlined itself (`inline="always"`, and a prange body in
its generated gufunc): Numba gives every line of a function the function's own file, so the body
of kernels.activations.act_forward_span pasted into kernels/layers.py came out as lines 75-81 of
layers.py. Here a statement from another file gets a DILexicalBlockFile scope naming that file
(what C compilers do for code from an #include), so the line table says activations.py:76.

Used by `python -m kernels show` (kernels/inspect_lines.py) and by the child process that
profiling/sampling.py samples. Compiling with it on does not touch the on-disk cache of the
functions compiled (the caller compiles uncached copies, or into a private cache directory).
"""
import os
from contextlib import contextmanager

_saved = {}


def _patched():
    from numba.core import cpu, debuginfo, lowering

    finalize = cpu.CPUTargetOptions.finalize
    pre_lower = lowering.Lower.pre_lower
    lower_inst = lowering.Lower.lower_inst
    di_location = debuginfo.DIBuilder._di_location

    def finalize_(self, flags, options):
        flags.debuginfo = True              # DWARF line tables (and variable info)
        flags.boundscheck = False           # debuginfo would turn these two on
        flags.dbg_extend_lifetimes = False
        finalize(self, flags, options)

    def pre_lower_(self):
        # With debuginfo numba marks every function noinline "for a better debugging experience".
        had = "noinline" in self.builder.function.attributes
        pre_lower(self)
        if not had:
            self.builder.function.attributes.discard("noinline")

    def lower_inst_(self, inst):
        di = self.debuginfo
        own = getattr(di, "filepath", None)
        fn = getattr(self.loc, "filename", None)
        foreign = bool(fn and own and fn != own and os.path.isfile(fn)
                       and os.path.realpath(fn) != os.path.realpath(own))
        di._other_file = fn if foreign else None
        try:
            return lower_inst(self, inst)
        finally:
            di._other_file = None

    def di_location_(self, line):
        fn = getattr(self, "_other_file", None)
        if not fn or not self.subprograms:
            return di_location(self, line)
        difile = self.module.add_debug_info("DIFile", {"directory": os.path.dirname(fn),
                                                       "filename": os.path.basename(fn)})
        scope = self.module.add_debug_info("DILexicalBlockFile", {
            "scope": self.subprograms[-1], "file": difile, "discriminator": 0})
        return self.module.add_debug_info("DILocation", {"line": line, "column": 1, "scope": scope})

    return [(cpu.CPUTargetOptions, "finalize", finalize, finalize_),
            (lowering.Lower, "_disable_sroa_like_opt", lowering.Lower.__dict__["_disable_sroa_like_opt"],
             property(lambda self: False)),
            (lowering.Lower, "pre_lower", pre_lower, pre_lower_),
            (lowering.Lower, "lower_inst", lower_inst, lower_inst_),
            (debuginfo.DIBuilder, "_di_location", di_location, di_location_)]


def enable():
    """From now on every function Numba compiles in this process gets line tables."""
    if _saved:
        return
    for owner, name, old, new in _patched():
        _saved[(owner, name)] = old
        setattr(owner, name, new)


def disable():
    """Back to Numba's normal compilation."""
    for (owner, name), old in _saved.items():
        setattr(owner, name, old)
    _saved.clear()


@contextmanager
def line_tables():
    was_on = bool(_saved)
    enable()
    try:
        yield
    finally:
        if not was_on:
            disable()
