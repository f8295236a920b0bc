"""profiling.kernel_lines: a real sampling profile must put a kernel's time where it is."""
import shutil
import textwrap

import pytest

from profiling import kernel_lines as KL

TARGET = textwrap.dedent('''\
    import numpy as np
    from numba import njit


    @njit
    def two_loops(x, out):
        s = 0.0
        for i in range(x.shape[0]):             # cheap: n steps
            s += x[i] * 0.5
        for i in range(x.shape[0]):             # expensive: n * n steps
            for j in range(x.shape[0]):
                out[i] += x[i] * x[j]
        return s


    def two_loops_args():
        x = np.linspace(0.0, 1.0, 1500)
        return x, np.zeros_like(x)
    ''')
CHEAP, NESTED = (8, 9), (11, 12)      # line numbers in TARGET (first line is 1)

needs_tools = pytest.mark.skipif(not (shutil.which("perf") and shutil.which("gdb")),
                                 reason="needs perf and gdb")


def test_spans_and_enclosing(tmp_path):
    path = tmp_path / "k.py"
    path.write_text(TARGET)
    spans = KL.function_spans(str(path))
    assert (5, 13, "two_loops") in spans and (16, 18, "two_loops_args") in spans
    assert KL.enclosing(spans, 12)[2] == "two_loops" and KL.enclosing(spans, 2) is None


def test_report_prints_source_with_shares(tmp_path):
    path = str(tmp_path / "k.py")
    with open(path, "w") as f:
        f.write(TARGET)
    per_line = {(path, 12): 90, (path, 11): 8, (path, 9): 2}
    from collections import Counter
    text = KL.report("t", [], Counter(per_line), Counter({"C code: x.c": 10}), 110)
    row = next(ln for ln in text.splitlines() if ln.rstrip().endswith("out[i] += x[i] * x[j]"))
    assert row.split()[:3] == ["81.8%", "90", "12"]
    assert "two_loops (lines 5-13)" in text and "C code: x.c" in text


@needs_tools
def test_samples_land_in_the_expensive_loop(tmp_path):
    path = tmp_path / "target.py"
    path.write_text(TARGET)
    text, per_line, outside, total = KL.profile(f"{path}:two_loops", seconds=1.5)
    ours = {ln: n for (f, ln), n in per_line.items() if f == str(path)}
    in_kernel = sum(ours.values())
    assert in_kernel >= 0.8 * total, (text, outside)
    assert in_kernel >= 50
    nested = sum(n for ln, n in ours.items() if NESTED[0] <= ln <= NESTED[1])
    cheap = sum(n for ln, n in ours.items() if CHEAP[0] <= ln <= CHEAP[1])
    assert nested >= 0.9 * in_kernel, text
    assert cheap <= 0.05 * in_kernel, text
    assert "out[i] += x[i] * x[j]" in text


@needs_tools
def test_cli_writes_the_report(tmp_path):
    path = tmp_path / "target.py"
    path.write_text(TARGET)
    out = tmp_path / "lines.txt"
    assert KL.main([f"{path}:two_loops", "--seconds", "1", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("Per-line profile of") and "for j in range(x.shape[0]):" in text


def test_unknown_kernel_is_an_error(capsys):
    with pytest.raises(SystemExit) as e:
        KL.main(["no_such_kernel"])
    assert e.value.code == 2 and "unknown kernel" in capsys.readouterr().err


def test_arguments_are_described_by_shape_not_printed_whole():
    from collections import namedtuple

    import numpy as np

    from profiling.kernel_args import describe
    Pair = namedtuple("Pair", "X seed")
    text = describe(Pair(np.zeros((48000, 784), np.float32), np.uint64(7)))
    assert text == "Pair(X=(48000, 784) float32, seed=uint64(7))"
    assert describe(np.zeros(3, np.int64)) == "(3,) int64"
    assert describe(0.5) == "0.5"
    long = describe(list(range(100)))
    assert len(long) == 60 and long.endswith("...")


def test_the_epoch_target_is_one_whole_epoch():
    import numpy as np

    from profiling.epoch_target import epoch, epoch_args
    args = epoch_args(n=640)
    total, step, dropout_calls, loss = epoch(*args)
    assert step == 10 and dropout_calls == 0               # 640 images in batches of 64
    assert np.isfinite(total) and abs(total / 640 - np.log(10)) < 0.5   # mean loss near ln 10 at the start
