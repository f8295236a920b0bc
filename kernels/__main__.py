"""Inspect the kernels.

    python -m kernels                     list every kernel with its one-line description
    python -m kernels show NAME           compiled signatures, typed source, SIMD use of one kernel
    python -m kernels show NAME --asm     ... and the generated assembly
    python -m kernels show NAME --dtype float64 --no-types

`show` compiles a private, uncached copy of the kernel (Numba cannot inspect code loaded from its
on-disk cache) for float32 and float64 with small example arguments from kernels/registry.py, then
counts the floating-point instructions in the generated assembly: packed (ps/pd on xmm/ymm/zmm
registers: several lanes per instruction, i.e. the loop was vectorised) against scalar (ss/sd),
with fused multiply-adds (vfmadd...) counted separately. The counts cover the whole compiled
function (wrapper code included), which is dominated by its loops.
"""
import argparse
import io
import re
import sys
from collections import Counter

import numpy as np

_FP = re.compile(r"^\s*(v?)(fn?m(?:add|sub)\d*|add|sub|mul|div|max|min|sqrt)(ps|pd|ss|sd)\s+(.*)$")
_MOVSYM = re.compile(r"^\s*movabsq\s+\$([\w.@]+),\s*%(\w+)")
_CALL = re.compile(r"^\s*callq?\s+(\*%(\w+)|[\w.@]+)")
_MATH = re.compile(r"exp|log|tanh|pow|sqrt|svml|sin|cos", re.I)
_LANES = {("ps", "xmm"): 4, ("ps", "ymm"): 8, ("ps", "zmm"): 16, ("pd", "xmm"): 2, ("pd", "ymm"): 4,
          ("pd", "zmm"): 8}


def simd_summary(asm):
    """Count floating-point instructions in assembly text.

    Returns a dict: packed / scalar / fma_packed / fma_scalar counts, packed counts per register
    width (xmm, ymm, zmm), math-library calls, and `vectorised` (any packed arithmetic).
    """
    c = Counter()
    calls = Counter()
    regs = {}  # register -> symbol loaded by movabsq, for calls through a register
    for line in asm.splitlines():
        m = _FP.match(line)
        if m:
            _, op, suffix, operands = m.groups()
            fma = op.startswith("fm") or op.startswith("fnm")
            if suffix in ("ps", "pd"):
                reg = next((r for r in ("zmm", "ymm", "xmm") if r in operands), "xmm")
                c["packed"] += 1
                c[f"packed_{reg}"] += 1
                c[f"lanes_{_LANES[(suffix, reg)]}"] += 1
                c["fma_packed"] += fma
            else:
                c["scalar"] += 1
                c["fma_scalar"] += fma
            continue
        m = _MOVSYM.match(line)
        if m:
            regs[m.group(2)] = m.group(1)
            continue
        m = _CALL.match(line)
        if m:
            target = regs.get(m.group(2), "") if m.group(2) else m.group(1)
            if _MATH.search(target) and not target.startswith("_ZN"):  # not other numba functions
                calls[target] += 1
    out = {k: c[k] for k in ("packed", "scalar", "fma_packed", "fma_scalar",
                             "packed_xmm", "packed_ymm", "packed_zmm")}
    out["max_lanes"] = max((int(k[6:]) for k in c if k.startswith("lanes_")), default=1)
    out["calls"] = dict(calls)
    out["vectorised"] = out["packed"] > 0
    return out


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


def cmd_show(kernel, dtypes, types=True, asm=False, out=sys.stdout):
    from kernels.registry import example_args, full_args

    fresh = _fresh_copy(kernel.func)
    print(f"{kernel.name}  ({kernel.module})\n  {kernel.doc}\n", file=out)
    compiled = []
    for dt in dtypes:
        args = example_args(kernel, dt)
        if args is None:
            continue
        fresh(*full_args(kernel, args))  # compiles for these types (and runs once on the example)
        sig = fresh.signatures[-1]
        if sig not in compiled:
            compiled.append(sig)
    if not compiled:
        sigs = list(kernel.func.signatures)
        for sig in sigs:
            fresh.compile(sig)
        compiled = list(fresh.signatures)
    if not compiled:
        print("no example arguments are known for this kernel and it has not been compiled in this\n"
              "process; its Python source:\n", file=out)
        import inspect
        print(inspect.getsource(kernel.func.py_func), file=out)
        return
    print("compiled signatures:", file=out)
    for sig in compiled:
        print(f"  ({', '.join(str(t) for t in sig)})", file=out)
    if types:
        buf = io.StringIO()
        fresh.inspect_types(file=buf, signature=compiled[0])
        print(f"\ntyped source for {compiled[0]}:\n", file=out)
        print(buf.getvalue().rstrip(), file=out)
    print("\nSIMD use in the generated machine code:", file=out)
    for sig in compiled:
        text = fresh.inspect_asm(sig)
        print(f"  {', '.join(str(t) for t in sig)}", file=out)
        print(f"    {describe_simd(simd_summary(text))}", file=out)
        if asm:
            print(text, file=out)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m kernels", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    sub.add_parser("list", help="list the kernels (the default)")
    sp = sub.add_parser("show", help="inspect one kernel")
    sp.add_argument("name")
    sp.add_argument("--dtype", default="float32,float64",
                    help="comma-separated dtypes to compile for (default float32,float64)")
    sp.add_argument("--no-types", action="store_true", help="omit the typed source")
    sp.add_argument("--asm", action="store_true", help="also print the full assembly")
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
    cmd_show(kernel, dtypes, types=not a.no_types, asm=a.asm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
