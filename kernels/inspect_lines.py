"""Floating-point instructions and vectorised loops of compiled kernels, per Python source line.

    simd_summary(asm)                 packed / scalar / FMA counts of assembly text
    capture_remarks(fn)               (fn(), LLVM loop-vectoriser remarks printed while it ran)
    line_counts(asm)                  {(symbol, path, line): Tally} from the .loc line table
    Source                            the functions of the kernels' files and who calls whom

The assembly of a function compiled with line tables (kernels/debuglines.py) carries `.loc FILE
LINE` directives: every instruction after one belongs to that source line, as the debugger would
say. Code LLVM or Numba inlined keeps the line of the function it came from (relu's max is
activations.py:24 wherever it lands). Line 0 marks code the compiler made up (spills, loop set-up
shared by several lines): it belongs to no line and is counted apart.
"""
import ast
import os
import re
import sys
import tempfile
from collections import Counter, defaultdict

_FP = re.compile(r"^\s*(v?)(fn?m(?:add|sub)\d*|add|sub|mul|div|max|min|sqrt|cmp[a-z]*?|blendv?)"
                 r"(ps|pd|ss|sd)\s+(.*)$")
_MOVSYM = re.compile(r"^\s*movabsq\s+\$([\w.@]+),\s*%(\w+)")
_CALL = re.compile(r"^\s*callq?\s+(\*%(\w+)|[\w.@]+)")
_MATH = re.compile(r"exp|log|tanh|pow|sqrt|svml|sin|cos", re.I)
_LANES = {("ps", "xmm"): 4, ("ps", "ymm"): 8, ("ps", "zmm"): 16, ("pd", "xmm"): 2, ("pd", "ymm"): 4,
          ("pd", "zmm"): 8}
_FILE = re.compile(r'^\s*\.file\s+(\d+)\s+"([^"]*)"(?:\s+"([^"]*)")?')
_LOC = re.compile(r"^\s*\.loc\s+(\d+)\s+(\d+)")
_TYPE = re.compile(r"^\s*\.type\s+([^,\s]+),\s*@function")
_LABEL = re.compile(r"^([^\s:#]+):")
_REMARK = re.compile(r"remark: (.+?):(\d+):\d+: (.*)$")
_VEC = re.compile(r"vectorized loop \(vectorization width: (\d+), interleaved count: (\d+)\)")
KEYS = ("packed", "scalar", "fma_packed", "fma_scalar", "packed_xmm", "packed_ymm", "packed_zmm")


def _fp(m, c):
    """Count one matched floating-point instruction into Counter c."""
    _, op, suffix, operands = m.groups()
    fma = op.startswith("fm") or op.startswith("fnm")
    if suffix in ("ps", "pd"):
        reg = next((r for r in ("zmm", "ymm", "xmm") if r in operands), "xmm")
        c["packed"] += 1
        c[f"packed_{reg}"] += 1
        c["max_lanes"] = max(c["max_lanes"], _LANES[(suffix, reg)])
        c["fma_packed"] += fma
    else:
        c["scalar"] += 1
        c["fma_scalar"] += fma


def _call_target(line, regs):
    """The symbol a call instruction calls (through a register loaded by movabsq), or None."""
    m = _MOVSYM.match(line)
    if m:
        regs[m.group(2)] = m.group(1)
        return None
    m = _CALL.match(line)
    if m:
        return regs.get(m.group(2), "?") if m.group(2) else m.group(1)
    return None


def simd_summary(asm):
    """Count floating-point instructions in assembly text.

    Returns a dict: packed / scalar / fma_packed / fma_scalar counts, packed counts per register
    width (xmm, ymm, zmm), math-library calls, and `vectorised` (any packed arithmetic).
    """
    c, calls, regs = Counter(), Counter(), {}
    for line in asm.splitlines():
        m = _FP.match(line)
        if m:
            _fp(m, c)
            continue
        target = _call_target(line, regs)
        if target and _MATH.search(target) and not target.startswith("_ZN"):
            calls[target] += 1                     # not other numba functions
    out = {k: c[k] for k in KEYS}
    out["max_lanes"] = c["max_lanes"] or 1
    out["calls"] = dict(calls)
    out["vectorised"] = out["packed"] > 0
    return out


def line_counts(asm):
    """{(symbol, path, line): Counter} of the floating-point instructions in the text sections of
    `asm`, keyed by the function symbol they are in and their .loc line (path None and line 0:
    no line). A Counter holds the KEYS of simd_summary, max_lanes, `call:TARGET` per call, and
    `insns`, all instructions. Floating-point instructions: arithmetic, FMA, min/max, square root,
    compares and blends (a select such as relu's is a compare and a masked move)."""
    files, out = {}, defaultdict(Counter)
    functions, symbol, where, regs = set(), None, (None, 0), {}
    for line in asm.splitlines():
        s = line.strip()
        if s.startswith("."):
            m = _FILE.match(line)
            if m and m.group(3) is not None:
                files[int(m.group(1))] = os.path.join(m.group(2), m.group(3))
            elif (m := _LOC.match(line)):
                ln = int(m.group(2))
                where = (files.get(int(m.group(1))), ln) if ln else (None, 0)
            elif (m := _TYPE.match(line)):
                functions.add(m.group(1))
            elif s.startswith(".section") and ".debug" in s:
                symbol = None
            continue
        m = _LABEL.match(line)
        if m:
            if m.group(1) in functions:
                symbol, where, regs = m.group(1), (None, 0), {}
            continue
        if symbol is None or not s or s.startswith("#"):
            continue
        out[(symbol, *where)]["insns"] += 1
        m = _FP.match(line)
        if m:
            _fp(m, out[(symbol, *where)])
            continue
        target = _call_target(line, regs)
        if target:
            out[(symbol, *where)][f"call:{target}"] += 1
    return dict(out)


def function_text(asm, symbol):
    """The assembly of one function symbol (from its label to the next function's)."""
    lines, keep, functions = [], False, set()
    for line in asm.splitlines():
        m = _TYPE.match(line)
        if m:
            functions.add(m.group(1))
        m = _LABEL.match(line)
        if m and m.group(1) in functions:
            keep = m.group(1) == symbol
        elif line.strip().startswith(".section") and ".debug" in line:
            keep = False
        if keep:
            lines.append(line)
    return "\n".join(lines)


def demangle(symbol):
    """'kernels.matmul.matmul_nn' for Numba's _ZN7kernels6matmul9matmul_nnB2v1..., None for
    wrappers (cpython., cfunc., __gufunc__.) and anything else."""
    if not symbol.startswith("_ZN"):
        return None
    i, parts = 3, []
    while i < len(symbol) and symbol[i].isdigit():
        j = i
        while symbol[j].isdigit():
            j += 1
        n = int(symbol[i:j])
        parts.append(symbol[j:j + n])
        i = j + n
    if not parts or parts[0] in ("cpython", "cfunc"):
        return None
    return ".".join(parts).replace("_3c", "<").replace("_3e", ">")


def capture_remarks(fn):
    """(fn(), [(basename, line, message)]): runs fn with file descriptor 2 sent to a temporary
    file, where LLVM prints its optimisation remarks (-pass-remarks), and parses them."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            result = fn()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()
    remarks = []
    for line in text.splitlines():
        m = _REMARK.search(line)
        if m:
            remarks.append((os.path.basename(m.group(1)), int(m.group(2)), m.group(3)))
    return result, remarks


_REMARKS_ON = []


def enable_remarks():
    """Ask LLVM to print the loop vectoriser's remarks (once per process: LLVM's option parser
    rejects an option given twice)."""
    if not _REMARKS_ON:
        from numba.core.llvm_bindings import llvm    # llvmlite.binding, as numba imports it
        llvm.set_option("", "-pass-remarks=loop-vectorize")
        llvm.set_option("", "-pass-remarks-missed=loop-vectorize")
        _REMARKS_ON.append(True)


def vector_notes(remarks):
    """{(basename, line): (sorted {(width, interleave)}, missed: bool)} from the remarks."""
    done, missed = defaultdict(set), set()
    for base, line, msg in remarks:
        m = _VEC.search(msg)
        if m:
            done[(base, line)].add((int(m.group(1)), int(m.group(2))))
        elif "not vectorized" in msg:
            missed.add((base, line))
    keys = set(done) | missed
    return {k: (sorted(done.get(k, ()), reverse=True), k not in done) for k in keys}


class Source:
    """The Python functions of the files compiled code points into, by (path, line), and a
    name-level call graph over them (for charging inlined code to the line that calls it)."""

    def __init__(self):
        self._spans, self._calls, self._text = {}, {}, {}

    def lines(self, path):
        if path not in self._text:
            try:
                with open(path) as f:
                    self._text[path] = f.read().splitlines()
            except OSError:
                self._text[path] = []
        return self._text[path]

    def spans(self, path):
        """[(first, last, name)] of the functions in path, outermost first."""
        if path not in self._spans:
            spans = []
            try:
                tree = ast.parse("\n".join(self.lines(path)))
            except SyntaxError:
                tree = ast.Module(body=[], type_ignores=[])
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                    spans.append((first, node.end_lineno, node.name))
                    calls = defaultdict(set)
                    for sub in ast.walk(node):
                        if isinstance(sub, ast.Call):
                            f = sub.func
                            name = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
                            if name:
                                calls[sub.lineno].add(name)
                    self._calls[(path, node.name)] = calls
            self._spans[path] = sorted(spans, key=lambda s: s[1] - s[0], reverse=True)
        return self._spans[path]

    def function_at(self, path, line):
        """(first, last, name) of the innermost function of path holding line, or None."""
        hit = [s for s in self.spans(path) if s[0] <= line <= s[1]] if path else []
        return hit[-1] if hit else None

    def calls(self, path, name):
        """{line: names called on it} inside function `name` of path."""
        self.spans(path)
        return self._calls.get((path, name), {})

    def reaches(self, folder, name, seen=None):
        """Names of every function (in .py files of folder) that `name` calls, transitively."""
        seen = set() if seen is None else seen
        for path in self._py_files(folder):
            for line_names in self.calls(path, name).values():
                for callee in line_names - seen:
                    seen.add(callee)
                    self.reaches(folder, callee, seen)
        return seen

    def _py_files(self, folder):
        return [os.path.join(folder, f) for f in sorted(os.listdir(folder)) if f.endswith(".py")]

    def call_lines(self, path, caller, target):
        """Lines of function `caller` (in path) whose calls reach function `target`."""
        folder = os.path.dirname(path)
        out = []
        for line, names in sorted(self.calls(path, caller).items()):
            if target in names or any(target in self.reaches(folder, n, {n}) for n in names):
                out.append(line)
        return out
