"""The text of `python -m kernels show NAME`: annotated source, costs, roofline place, tile.

Everything here reads what kernels/__main__.py compiled (assembly with line tables, the LLVM
vectoriser's remarks) and, at show time only, results/roofline.csv. Output fits 100 columns.
"""
import csv
import os
import textwrap
from collections import Counter, defaultdict

from kernels.inspect_lines import _MATH, KEYS, Source, demangle, function_text, line_counts, simd_summary, \
    vector_notes

WIDTH = 100
KDIR = os.path.dirname(os.path.abspath(__file__))
ROOFLINE_CSV = os.path.join(os.path.dirname(KDIR), "results", "roofline.csv")
_GUTTER = 34
LEGEND = ("Floating-point instructions (arithmetic, FMA, min/max, compares) per line. packed: SIMD instructions, each on several numbers at once (xN: lanes of the widest "
          "register, x16 = 16 float32 in a 512-bit zmm register); scalar: one number per "
          "instruction; FMA: fused multiply-adds among them, packed/scalar. Counts are "
          "instructions in the compiled code (a loop body counts once, however often it runs); scalar "
          "ones beside packed ones on a line usually run the iterations left over after the last "
          "full vector. Inlined code is counted on its own function's lines.")


def _wrap(text, indent="", first=None):
    return textwrap.wrap(text, WIDTH, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent) or [indent.rstrip()]


def _rel(path):
    root = os.path.dirname(KDIR)
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else os.path.basename(path)


def _row(line, c, text):
    pk = f"{c['packed']} x{c['max_lanes']}" if c["packed"] else ""
    sc = str(c["scalar"]) if c["scalar"] else ""
    fma = f"{c['fma_packed']}/{c['fma_scalar']}" if c["fma_packed"] or c["fma_scalar"] else ""
    head = f"{line:5d} {pk:>9} {sc:>7} {fma:>7}  | "
    room = WIDTH - len(head)
    return head + (text if len(text) <= room else text[:room - 3] + "...")


def _add(total, c):
    for k in KEYS:
        total[k] += c[k]
    total["max_lanes"] = max(total["max_lanes"], c["max_lanes"])
    for k, v in c.items():
        if k.startswith("call:"):
            total[k] += v


def _notes(c, vec):
    notes = []
    if vec:
        widths, missed = vec
        if widths:
            w, i = widths[0]
            text = f"LLVM vectorised this loop: {w} lanes" + (f", {i} vectors interleaved" if i > 1 else "")
            rest = [f"{w} lanes" + (f" x{i}" if i > 1 else "") for w, i in widths[1:]]
            notes.append(text + (f" (other compiled copies: {', '.join(rest)})" if rest else ""))
        elif missed and c["scalar"] and not c["packed"]:
            notes.append("LLVM did not vectorise this loop (scalar code)")
    calls = Counter({k[5:]: v for k, v in c.items() if k.startswith("call:") and v})
    for target, n in sorted(calls.items()):
        name = demangle(target)
        if name and "parfor" in name:
            notes.append("hands the loop body to Numba's thread pool (its code is shown below)")
        elif name:
            notes.append(f"calls {name.split('.')[-1]} (compiled separately)")
        elif target in ("memset", "memcpy", "memmove"):
            notes.append(f"LLVM replaced the loop by a call to {target}")
        elif _MATH.search(target):
            notes.append(f"calls the math library: {target} ({n} call site{'s' * (n > 1)})")
    return list(dict.fromkeys(notes))


class Lesson:
    """Per source function: the lines of compiled code they own, from one compiled kernel."""

    def __init__(self, kernel_func, asm, remarks):
        self.src = Source()
        self.asm = asm
        self.vec = vector_notes(remarks)
        code = kernel_func.py_func.__code__
        self.path, self.name = os.path.realpath(code.co_filename), kernel_func.py_func.__name__
        self.module = kernel_func.py_func.__module__
        self.sections = defaultdict(lambda: defaultdict(Counter))  # (path, span) -> line -> tally
        self.symbols = defaultdict(set)                            # (path, span) -> symbols
        self.inlined = defaultdict(lambda: defaultdict(Counter))   # caller line -> callee -> tally
        self.no_line = defaultdict(Counter)                        # symbol -> tally
        self.elsewhere = defaultdict(Counter)                      # file basename -> tally
        self.kernel_symbols = []
        for (sym, path, line), c in line_counts(asm).items():
            dotted = demangle(sym)
            if dotted is None:
                continue                                           # CPython / cfunc wrappers
            if dotted == f"{self.module}.{self.name}" and sym not in self.kernel_symbols:
                self.kernel_symbols.append(sym)
            if path is None:
                _add(self.no_line[sym], c)
                continue
            path = os.path.realpath(path)
            span = self.src.function_at(path, line) if path.startswith(KDIR + os.sep) else None
            if span is None:
                _add(self.elsewhere[os.path.basename(path)], c)
                continue
            _add(self.sections[(path, span)][line], c)
            self.symbols[(path, span)].add(sym)
            self._charge_inlined(dotted, path, span, line, c)

    def _charge_inlined(self, dotted, path, span, line, c):
        """Code of function span[2] compiled inside the function `dotted`: charge it to the
        line of `dotted` that calls it (by name, through the kernels' call graph)."""
        mod, _, fname = dotted.rpartition(".")
        if not mod.startswith("kernels.") or fname == span[2]:
            return
        fpath = os.path.join(KDIR, mod.split(".", 1)[1].replace(".", os.sep) + ".py")
        lines = self.src.call_lines(fpath, fname, span[2])
        if lines:
            _add(self.inlined[(fpath, fname, lines[0])][span[2]], c)

    def _key(self):
        return next(((p, s) for (p, s) in self.sections if p == self.path and s[2] == self.name),
                    (self.path, self.src.function_at(self.path, self.kernel_func_line())))

    def kernel_func_line(self):
        spans = [s for s in self.src.spans(self.path) if s[2] == self.name]
        return spans[0][0] if spans else 1

    def _role(self, key):
        path, (_, _, name) = key
        syms = self.symbols.get(key, ())
        own = [s for s in syms if (demangle(s) or "").endswith("." + name)]
        hosts = sorted({demangle(s).split(".")[-1] for s in syms if s not in own})
        parts = []
        if own:
            parts.append("compiled as its own function" + (f" ({len(own)} copies)" if len(own) > 1 else ""))
        for h in hosts:
            parts.append("a prange loop body, run by Numba's thread pool" if "parfor" in h
                         else f"inlined into {h}")
        return "; ".join(parts) or "no compiled code"

    def render_section(self, key, all_lines):
        path, (first, last, name) = key
        lines = self.sections.get(key, {})
        src = self.src.lines(path)
        total = Counter(max_lanes=0)
        out = _wrap(f"{name}  ({_rel(path)}, lines {first}-{last}): {self._role(key)}")
        out.append(f"{'line':>5} {'packed':>9} {'scalar':>7} {'FMA p/s':>7}  | source")
        shown = 0
        for ln in range(first, last + 1):
            c = lines.get(ln, Counter(max_lanes=0))
            _add(total, c)
            base = os.path.basename(path)
            notes = _notes(c, self.vec.get((base, ln)))
            inl = self.inlined.get((path, name, ln), {})
            for callee, ci in sorted(inl.items()):
                if not (ci["packed"] or ci["scalar"]):
                    continue
                notes.append(f"inlined here from {callee}: "
                             + (f"{ci['packed']} packed x{ci['max_lanes']}, " if ci["packed"] else "")
                             + f"{ci['scalar']} scalar FP")
            if not (all_lines or c["packed"] or c["scalar"] or notes):
                continue
            text = src[ln - 1] if ln - 1 < len(src) else ""
            out.append(_row(ln, c, text))
            for n in notes:
                out += _wrap(n, " " * (_GUTTER + 2) + "  ", " " * (_GUTTER + 2) + "^ ")
            shown += 1
        out.append(_row(0, total, "total of the lines above").replace("    0 ", "      ", 1))
        return out, total

    def render(self, max_sections=8):
        key = self._key()
        out = _wrap(LEGEND) + [""]
        text, _ = self.render_section(key, all_lines=True)
        out += text
        for sym in self.kernel_symbols:
            c = self.no_line.get(sym)
            if c and (c["packed"] or c["scalar"]):
                out.append(_row(0, c, "(code with no source line: set-up shared by lines)")
                           .replace("    0 ", "      ", 1))
        for sym in self.kernel_symbols:
            s = simd_summary(function_text(self.asm, sym))
            out += _wrap(f"whole compiled function {self.name} (all its lines, inlined code and "
                         f"line 0): packed {s['packed']}, scalar {s['scalar']}, FMA "
                         f"{s['fma_packed']}/{s['fma_scalar']}", "    ", "  = ")
        fp = {k: sum(c["packed"] + c["scalar"] for c in v.values()) for k, v in self.sections.items()}

        def has_loop(k):
            return any((os.path.basename(k[0]), ln) in self.vec for ln in range(k[1][0], k[1][1] + 1))
        quiet = [k for k in self.sections if k != key and not fp[k] and not has_loop(k)]
        others = sorted((k for k in self.sections if k != key and k not in quiet), key=lambda k: -fp[k])
        if others:
            out += ["", "Functions it calls or inlines (lines with floating-point code or remarks only):"]
        for i, k in enumerate(others):
            fp = sum(c["packed"] + c["scalar"] for c in self.sections[k].values())
            if i >= max_sections:
                out.append(f"  ... and {k[1][2]} ({_rel(k[0])}): {fp} FP instructions")
                continue
            out.append("")
            out += self.render_section(k, all_lines=False)[0]
        if quiet:
            out += [""] + _wrap("Also compiled, with no floating-point instruction or vectorised loop on their own lines: "
                                + ", ".join(sorted({k[1][2] for k in quiet})))
        lib = {b: c for b, c in self.elsewhere.items() if c["packed"] or c["scalar"]}
        if lib:
            out += [""] + _wrap("Numba's own library code (array set-up, builtins): " + ", ".join(
                f"{b} {c['packed']} packed / {c['scalar']} scalar" for b, c in sorted(lib.items())))
        return out

    def files(self):
        return {os.path.basename(p) for p, _ in self.sections}


# ---------------------------------------------------------------------------- costs, roofline
def _si(x, unit):
    for div, p in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g} {p}{unit}"
    return f"{x:g} {unit}"


def costs_text(name, csv_path=ROOFLINE_CSV):
    from kernels.costs import COSTS, NOT_COSTED
    out = ["Cost per call at the training shapes (kernels/costs.py)"]
    if name not in COSTS:
        why = NOT_COSTED.get(name, "no entry in kernels/costs.py")
        return out + _wrap(f"not costed: {why}", "  ", "  ")
    cost = COSTS[name]
    out += _wrap(cost.how, "  ", "  ")
    out.append(f"  {'batch':>5}  {'dims':<14} {'FLOPs':>14} {'bytes':>12} {'FLOP/byte':>10}")
    for batch in (64, 512):
        dims, flops, nbytes = cost.at(batch)
        ai = f"{flops / nbytes:.3g}" if nbytes else "-"
        out.append(f"  {batch:>5}  {'x'.join(map(str, dims)):<14} {flops:>14,d} {nbytes:>12,d} {ai:>10}")
    out.append("  (FLOPs: a multiply-add is 2; bytes: each array read or written once, float32)")
    rows = _roofline_rows(name, csv_path)
    if rows is None:
        out.append(f"  no roofline yet: `python -m profiling.roofline` writes {_rel(csv_path)}")
        return out
    machine, ceilings, mine = rows
    out += [""] + _wrap(f"Roofline position, measured ({_rel(csv_path)}; {machine})", "  ", "")
    if not mine:
        return out + ["  this kernel is not in the CSV"]
    out.append(f"  {'batch':>5} {'GFLOP/s':>9} {'GB/s':>7} {'data in':>7} {'bound by':>9} "
               f"{'ceiling':>9} {'of ceiling':>10} {'of 1 core':>9}")
    for r in mine:
        def f(k, fmt="{:.1f}"):
            try:
                return fmt.format(float(r[k]))
            except (KeyError, ValueError):
                return "-"
        out.append(f"  {r.get('batch', ''):>5} {f('gflops'):>9} {f('gbs'):>7} {r.get('level', ''):>7} "
                   f"{r.get('bound', ''):>9} {f('roof_gflops'):>9} {f('fraction', '{:.0%}'):>10} "
                   f"{f('fraction_1core', '{:.0%}'):>9}")
    out += _wrap("ceiling: the roof at this arithmetic intensity (the lower of peak FMA throughput "
                 "and bandwidth x intensity, for the cache level the data fits in); "
                 + "; ".join(ceilings), "  ", "  ")
    return out


def _roofline_rows(name, csv_path):
    """(machine note, [ceiling notes], [rows of this kernel]) from the roofline CSV, or None."""
    try:
        with open(csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return None
    machine = next((f"{r.get('name', '')}, {r.get('note', '')}" for r in rows if r.get("kind") == "machine"), "")
    ceilings = [f"{r['name']} {float(r['gflops']):.0f} GFLOP/s" for r in rows
                if r.get("kind") == "ceiling" and r.get("name") in ("peak_all", "peak_1") and r.get("gflops")]
    return machine, ceilings, [r for r in rows if r.get("kind") == "kernel" and r.get("name") == name]


def tile_text():
    from kernels import tiles
    info = getattr(tiles, "TILE_INFO", None)
    if isinstance(info, dict):
        desc = "; ".join(f"{k}: {v}" for k, v in info.items())
    elif info:
        desc = str(info)
    else:
        cols = tiles.tile_cols("float32")
        desc = (f"{tiles.TILE_ROWS} x {cols}: a {tiles.TILE_ROWS}-row by {cols}-column (float32) "
                "block of the output held in vector registers")
    return _wrap(f"Register tile of the CPU path (kernels/tiles.py): {desc}")
