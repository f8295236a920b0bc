"""`python -m kernels show NAME` as a lesson: the source annotated from the line table of the
optimised code, the counts adding up, the costs, the flags that keep the raw dumps available."""
import inspect
import os
import re
import subprocess
import sys

import pytest

from kernels import matmul
from kernels.inspect_lines import demangle, line_counts, simd_summary
from kernels.lesson import costs_text, tile_text

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROW = re.compile(r"^\s*(\d+)?\s+(?:(\d+) x(\d+))?\s+(\d+)?\s+(?:(\d+)/(\d+))?\s+\| (.*)$")


def _show(*args):
    return subprocess.run([sys.executable, "-m", "kernels", "show", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def matmul_nn_out():
    res = _show("matmul_nn")
    assert res.returncode == 0, res.stderr
    return res.stdout


def _section(out, name):
    """{line: (packed, scalar)} and the note lines after each row, of one function's section."""
    rows, notes, inside, last = {}, {}, False, None
    for text in out.splitlines():
        if text.startswith(f"{name}  (kernels/"):
            inside = True
            continue
        if not inside:
            continue
        m = ROW.match(text)
        if m and m.group(1):
            last = int(m.group(1))
            rows[last] = (int(m.group(2) or 0), int(m.group(4) or 0))
        elif m:          # the section's total row
            return rows, notes, (int(m.group(2) or 0), int(m.group(4) or 0))
        elif text.strip().startswith("^") and last is not None:
            notes.setdefault(last, []).append(text.strip())
    raise AssertionError(f"no section for {name} in:\n{out}")


def test_matmul_nn_leads_with_its_source_and_the_inner_loop_is_vectorised(matmul_nn_out):
    src, first = inspect.getsourcelines(matmul.matmul_nn.py_func)
    # the j loop of the multiply-add: the second `for j in range(M):` of the function
    j_loop = first + [i for i, s in enumerate(src) if s.strip() == "for j in range(M):"][1]
    assert "out[i, j] += a * B[k, j]" in src[j_loop - first + 1]
    rows, notes, _ = _section(matmul_nn_out, "matmul_nn")
    assert set(range(first, first + len(src))) <= set(rows)          # every source line shown
    assert matmul_nn_out.index("matmul_nn  (kernels/matmul.py") < matmul_nn_out.index("Cost per call")
    widths = [int(w) for n in notes.get(j_loop, ())
              for w in re.findall(r"vectorised this loop: (\d+) lanes", n)]
    assert widths and max(widths) >= 4, notes
    packed, scalar = rows[j_loop + 1]
    assert packed > 0                  # the multiply-add's line holds the packed instructions
    # the zeroing loop's line is not vectorised arithmetic
    assert rows[first + src.index("            out[i, j] = 0.0\n")][0] == 0


def test_per_line_counts_add_up_to_the_whole_function(matmul_nn_out):
    rows, _, total = _section(matmul_nn_out, "matmul_nn")
    summed = (sum(p for p, _ in rows.values()), sum(s for _, s in rows.values()))
    assert summed == total
    m = re.search(r"whole compiled function matmul_nn .*?: packed (\d+), scalar\s+(\d+)", matmul_nn_out, re.S)
    line0 = re.search(r"^\s+(?:(\d+) x\d+)?\s+(\d+)?\s+\S*\s+\| \(code with no source line", matmul_nn_out, re.M)
    extra = (int(line0.group(1) or 0), int(line0.group(2) or 0)) if line0 else (0, 0)
    assert (int(m.group(1)), int(m.group(2))) == (summed[0] + extra[0], summed[1] + extra[1])
    assert summed[0] > 0


def test_costs_section_has_the_flops_of_the_training_shapes(matmul_nn_out):
    assert "Cost per call at the training shapes" in matmul_nn_out
    assert f"{2 * 64 * 784 * 128:,d}" in matmul_nn_out and f"{2 * 512 * 784 * 128:,d}" in matmul_nn_out
    assert f"{4 * (64 * 784 + 784 * 128 + 64 * 128):,d}" in matmul_nn_out        # bytes at batch 64
    assert all(len(line) <= 100 for line in matmul_nn_out.splitlines())
    assert "typed source" not in matmul_nn_out and ".loc" not in matmul_nn_out  # dumps behind flags


def test_unknown_name_is_a_one_line_error():
    res = _show("matmul_xx")
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown kernel 'matmul_xx'" in lines[0]


def test_types_and_asm_stay_available():
    res = _show("relu_backward", "--types", "--asm")
    assert res.returncode == 0, res.stderr
    assert "typed source for" in res.stdout and "activation_backward(" in res.stdout
    assert "assembly for" in res.stdout and re.search(r"^\s+\.loc\s+\d+ \d+", res.stdout, re.M)
    # a select is a compare: relu_backward's loop is vectorised even without arithmetic
    assert "relu_grad  (kernels/activations.py" in res.stdout
    assert "Cost per call" in res.stdout and "8,192" in res.stdout


def test_fused_kernel_shows_inlined_code_on_its_own_files_lines():
    res = _show("linear_act_forward")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    # the relu loop Numba inlined into kernels/layers.py is reported in activations.py
    rows, notes, _ = _section(out, "act_forward_span")
    assert any(p for p, _ in rows.values())
    assert "inlined into _forward_epilogue" in out and "inlined here from act_forward_span" in out
    assert "Register tile of the CPU path (kernels/tiles.py)" in out
    assert all(len(line) <= 100 for line in out.splitlines())


def test_inline_function_says_so_and_shows_its_source():
    res = _show("relu")
    assert res.returncode == 0, res.stderr
    assert "an inline function" in res.stdout and "return z if z > 0 else 0.0" in res.stdout
    assert "act_forward_span (activations.py:" in res.stdout


ASM = """\t.text
\t.file\t"<string>"
\t.type\t_ZN7kernels6matmul9matmul_nnB2v1Exyz,@function
_ZN7kernels6matmul9matmul_nnB2v1Exyz:
\t.file\t1 "/k" "matmul.py"
\t.loc\t1 29 1
\tvmulps\t%zmm1, %zmm2, %zmm3
\tvfmadd231ps\t%ymm1, %ymm2, %ymm3
\t.loc\t1 30 1
\tvaddss\t%xmm0, %xmm1, %xmm1
\tvcmpltps\t%zmm0, %zmm1, %k1
\t.loc\t1 0 1
\tvmulsd\t%xmm0, %xmm1, %xmm1
\tmovabsq\t$memset, %rax
\t.loc\t1 30 1
\tcallq\t*%rax
\t.section\t.debug_info
\tvaddps\t%zmm1, %zmm2, %zmm3
"""


def test_line_counts_attribute_each_instruction_to_its_loc():
    c = line_counts(ASM)
    sym = "_ZN7kernels6matmul9matmul_nnB2v1Exyz"
    assert demangle(sym) == "kernels.matmul.matmul_nn"
    assert (c[(sym, "/k/matmul.py", 29)]["packed"], c[(sym, "/k/matmul.py", 29)]["fma_packed"]) == (2, 1)
    assert c[(sym, "/k/matmul.py", 29)]["max_lanes"] == 16
    assert (c[(sym, "/k/matmul.py", 30)]["scalar"], c[(sym, "/k/matmul.py", 30)]["packed"]) == (1, 1)
    assert c[(sym, "/k/matmul.py", 30)]["call:memset"] == 1
    assert c[(sym, None, 0)]["scalar"] == 1
    whole = simd_summary(ASM.split(".section")[0])
    for key in ("packed", "scalar", "fma_packed"):
        assert sum(v[key] for v in c.values()) == whole[key]       # the debug section is not code


def test_tile_text_reads_tile_info_whatever_its_form(monkeypatch):
    from kernels import tiles
    monkeypatch.delattr(tiles, "TILE_INFO", raising=False)
    assert f"{tiles.TILE_ROWS} x {tiles.tile_cols('float32')}" in " ".join(tile_text())
    monkeypatch.setattr(tiles, "TILE_INFO", "8 x 32 on AVX-512", raising=False)
    assert "8 x 32 on AVX-512" in " ".join(tile_text())
    monkeypatch.setattr(tiles, "TILE_INFO", {"isa": "avx2", "tile": "4 x 16"}, raising=False)
    assert "isa: avx2; tile: 4 x 16" in " ".join(tile_text())


def test_roofline_position_comes_from_the_csv(tmp_path):
    p = tmp_path / "roofline.csv"
    p.write_text("kind,name,batch,gflops,gbs,level,roof_gflops,bound,fraction,fraction_1core,note\n"
                 "machine,TestCPU,,,,,,,,,AVX2\n"
                 "kernel,matmul_nn,64,12.5,1.0,L2,50,compute,0.25,0.5,\n")
    text = "\n".join(costs_text("matmul_nn", str(p)))
    assert "TestCPU" in text and re.search(r"64\s+12.5\s+1.0\s+L2\s+compute\s+50.0\s+25%\s+50%", text)
    missing = "\n".join(costs_text("matmul_nn", str(tmp_path / "none.csv")))
    assert "no roofline yet" in missing and "12,845,056" in missing
    assert "not costed" in "\n".join(costs_text("train_epoch_compiled", str(p)))
