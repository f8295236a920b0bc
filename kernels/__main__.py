"""Inspect the kernels.

    python -m kernels                      list every kernel with its one-line description
    python -m kernels show NAME            the kernel as a lesson: its source annotated line by line,
                                           its cost per call and its place on the roofline
    python -m kernels show NAME --types    ... and Numba's typed IR
    python -m kernels show NAME --asm      ... and the generated assembly
    python -m kernels show NAME --dtype float32,float64 --all-lines

`show` compiles private, uncached copies of the kernel and of every kernel function it calls
(Numba cannot inspect code loaded from its on-disk cache, and cached code has no line table)
with DWARF line tables but the normal optimisations (kernels/debuglines.py), on small example
arguments from kernels/registry.py. It then reads the assembly's line table: each floating-point
instruction belongs to a source line, packed (several lanes per instruction: the loop was
vectorised) or scalar, fused multiply-adds counted apart; and LLVM's loop-vectoriser remarks say
which loops it vectorised, at what width (kernels/inspect_lines.py, kernels/lesson.py). A fused
kernel compiles everything it calls, which takes a while (about a minute for the epoch).
"""
import argparse
import importlib
import inspect
import io
import os
import pkgutil
import sys
from contextlib import contextmanager

import numpy as np

from kernels.inspect_lines import simd_summary  # noqa: F401  (part of this module's interface)


def describe_simd(s):
    """One line for a simd_summary dict."""
    if s["vectorised"]:
        verdict = f"vectorised: up to {s['max_lanes']} lanes per instruction"
    elif s["scalar"] or s["calls"]:
        verdict = "not vectorised: scalar floating-point only"
    else:
        verdict = "no floating-point arithmetic (data movement and integer code only)"
    widths = ", ".join(f"{r} {s['packed_' + r]}" for r in ("zmm", "ymm", "xmm") if s["packed_" + r])
    line = (f"{verdict}; packed FP instructions {s['packed']} ({widths or 'none'}; FMA {s['fma_packed']}), "
            f"scalar FP instructions {s['scalar']} (FMA {s['fma_scalar']})")
    if s["calls"]:
        line += "; math-library call sites " + ", ".join(f"{k} x{v}" for k, v in sorted(s["calls"].items()))
    return line


def _fresh_copy(func):
    """An uncached dispatcher of the same Python function with the same Numba options."""
    from numba import njit
    opts = {k: v for k, v in func.targetoptions.items() if k not in ("cache", "nopython")}
    return njit(**opts)(func.py_func)


@contextmanager
def _fresh_callees():
    """Every dispatcher of the package compiles afresh (with line tables) instead of loading its
    cached, line-less code; the caches are put back afterwards."""
    import kernels
    from numba.core.caching import NullCache
    saved = []
    for m in pkgutil.iter_modules(kernels.__path__):
        try:
            mod = importlib.import_module(f"kernels.{m.name}")
        except Exception:  # noqa: BLE001 - a broken optional module is reported by `list`
            continue
        for obj in vars(mod).values():
            if hasattr(obj, "_cache") and hasattr(obj, "py_func") and not isinstance(obj._cache, NullCache):
                saved.append((obj, obj._cache))
                obj._cache = NullCache()
    try:
        yield
    finally:
        for obj, cache in saved:
            obj._cache = cache


def cmd_list(kernels, errors, out=sys.stdout):
    width = max(len(k.name) for k in kernels) if kernels else 10
    mods = {}
    for k in kernels:
        mods.setdefault(k.module, []).append(k)
    for mod, ks in mods.items():
        print(f"{mod}", file=out)
        for k in ks:
            tag = "  (inline)" if k.inline else ""
            print(f"  {k.name:<{width}}  {k.doc}{tag}", file=out)
    for mod, err in errors.items():
        print(f"(module {mod} could not be imported: {err})", file=out)
    n_inline = sum(k.inline for k in kernels)
    print(f"\n{len(kernels) - n_inline} kernels and {n_inline} inline scalar/span functions they share. "
          "`python -m kernels show NAME` inspects one.", file=out)


def show_inline(kernel, out):
    from kernels.inspect_lines import Source
    from kernels.lesson import KDIR, _wrap
    name = kernel.func.__name__
    print(f"{kernel.name}  ({kernel.module}): an inline function\n  {kernel.doc}\n", file=out)
    for line in _wrap("Numba pastes its body into every kernel that calls it (inline=\"always\"), "
                      "where LLVM optimises it together with the caller's loop: it has no compiled "
                      "code of its own. Its instructions appear in the callers' annotated source, "
                      "on its own lines (`python -m kernels show CALLER`).", "  ", "  "):
        print(line, file=out)
    print("\n" + inspect.getsource(kernel.func.py_func).rstrip() + "\n", file=out)
    src, callers = Source(), []
    for f in sorted(os.listdir(KDIR)):
        path = os.path.join(KDIR, f)
        if not f.endswith(".py"):
            continue
        for first, last, fname in src.spans(path):
            lines = [ln for ln, names in src.calls(path, fname).items() if name in names]
            callers += [f"{fname} ({f}:{ln})" for ln in sorted(lines)]
    for line in _wrap("called by: " + (", ".join(callers) or "nothing in kernels/"), "  ", "  "):
        print(line, file=out)


def _compile(fresh, kernel, dt):
    """Compile (and run once on the example) for dtype dt; the signature, or None."""
    from kernels.registry import example_args, full_args
    args = example_args(kernel, dt)
    if args is None:
        return None
    fresh(*full_args(kernel, args))
    return fresh.signatures[-1]


def cmd_show(kernel, dtypes, types=False, asm=False, all_lines=False, out=sys.stdout):
    from kernels.debuglines import line_tables
    from kernels.inspect_lines import capture_remarks, enable_remarks
    from kernels.lesson import Lesson, _wrap, costs_text, tile_text

    if kernel.inline:
        show_inline(kernel, out)
        return
    print(f"{kernel.name}  ({kernel.module})\n  {kernel.doc}\n", file=out)
    fresh = _fresh_copy(kernel.func)
    enable_remarks()
    compiled, remarks = [], {}
    print(f"(compiling {kernel.name} and what it calls with line tables ...)", file=sys.stderr, flush=True)
    with _fresh_callees(), line_tables():
        for dt in dtypes:
            sig, rem = capture_remarks(lambda dt=dt: _compile(fresh, kernel, dt))
            if sig is not None and sig not in compiled:
                compiled.append(sig)
                remarks[sig] = rem
    if not compiled:
        print("no example arguments are known for this kernel (kernels/registry.py); its Python "
              "source:\n", file=out)
        print(inspect.getsource(kernel.func.py_func), file=out)
        return
    sigs = "; ".join(f"({', '.join(str(t) for t in sig)})" for sig in compiled)
    print("\n".join(_wrap(f"compiled for: {sigs}", "    ")), file=out)
    texts = {sig: fresh.inspect_asm(sig) for sig in compiled}
    for sig in compiled:
        text = f"SIMD in all of the compiled code, {_dtype_of(sig)}: {describe_simd(simd_summary(texts[sig]))}"
        print("\n".join(_wrap(text, "    ", "  ")), file=out)
    sig = compiled[0]
    lesson = Lesson(kernel.func, texts[sig], remarks[sig])
    print(f"\nSource, line by line, as compiled for {_dtype_of(sig)}:", file=out)
    print("\n".join(lesson.render(max_sections=100 if all_lines else 8)), file=out)
    if "tiles.py" in lesson.files() or kernel.module in ("kernels.tiles", "kernels.products"):
        print("\n" + "\n".join(tile_text()), file=out)
    print("\n" + "\n".join(costs_text(kernel.func.__name__)), file=out)
    if types:
        buf = io.StringIO()
        fresh.inspect_types(file=buf, signature=sig)
        print(f"\ntyped source for {sig}:\n", file=out)
        print(buf.getvalue().rstrip(), file=out)
    if asm:
        for s in compiled:
            print(f"\nassembly for {s}:\n", file=out)
            print(texts[s], file=out)


def _dtype_of(sig):
    """The float dtype of a signature's arrays, for headings."""
    text = ", ".join(str(t) for t in sig)
    return next((d for d in ("float32", "float64") if f"array({d}" in text), "these types")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m kernels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    sub.add_parser("list", help="list the kernels (the default)")
    sp = sub.add_parser("show", help="inspect one kernel")
    sp.add_argument("name")
    sp.add_argument("--dtype", default="float32",
                    help="comma-separated dtypes to compile for (default float32; the annotated "
                         "source is for the first)")
    sp.add_argument("--types", action="store_true", help="also print Numba's typed IR")
    sp.add_argument("--no-types", action="store_true", help=argparse.SUPPRESS)  # the old default
    sp.add_argument("--asm", action="store_true", help="also print the full assembly")
    sp.add_argument("--all-lines", action="store_true",
                    help="every called function in full, not only its lines with floating-point code")
    a = ap.parse_args(argv)

    from kernels.registry import discover, find
    kernels, errors = discover()
    if a.cmd in (None, "list"):
        cmd_list(kernels, errors)
        return 0
    kernel = find(kernels, a.name)
    if kernel is None:
        print(f"unknown kernel {a.name!r}; valid names: {', '.join(k.name for k in kernels)}", file=sys.stderr)
        return 2
    try:
        dtypes = [np.dtype(d.strip()) for d in a.dtype.split(",") if d.strip()]
    except TypeError:
        dtypes = []
    if not dtypes or any(d not in (np.float32, np.float64) for d in dtypes):
        print(f"--dtype must be float32, float64 or both (comma-separated); got {a.dtype!r}", file=sys.stderr)
        return 2
    cmd_show(kernel, dtypes, types=a.types, asm=a.asm, all_lines=a.all_lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
