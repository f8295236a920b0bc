"""Tests for profiling/ and `python -m kernels`: every benchmark runs at tiny sizes and writes the
expected columns, and the kernel inspection CLI lists and shows kernels. (The NumPy reference's
parity with the network is in tests/network/test_parity.py.)"""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from profiling import bench_epoch, bench_kernels, line_report
from profiling.cases import BENCH_EXEMPT, CASES_BY_NAME, case_for, discover, example_args, find, validate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _columns(path):
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        return r.fieldnames, list(r)


# ----------------------------------------------------------------------- the benchmarks
def test_registry_has_example_arguments_and_a_case_for_every_kernel():
    """Every public kernel has example arguments that fit it (kernels/registry.py, bound to the
    kernel object) and a benchmark case or a stated exemption (profiling/cases.py); only inline
    scalar/span functions, which have no compiled body of their own, are exempt by rule."""
    kernels, errors = discover()
    assert errors == {}
    names = {k.name for k in kernels}
    import kernels as K
    exported = {n for n in dir(K) if hasattr(getattr(K, n), "py_func")}
    assert exported <= names and {"matmul_nn", "relu_forward", "sgd_update", "optimizer_step"} <= names
    assert not any(n.startswith("_") or "._" in n for n in names)  # private helpers are not listed
    for k in kernels:
        if k.inline:
            assert case_for(k) is None and k.func not in BENCH_EXEMPT, k.name
            continue
        args = example_args(k, np.float32)
        assert args is not None, f"no example arguments for {k.name}: add it to kernels/registry.py"
        assert k.n_required <= len(args) <= k.n_params, k.name
        assert (case_for(k) is None) != (k.func not in BENCH_EXEMPT), \
            f"{k.name}: needs exactly one of a Case in profiling/cases.py or a BENCH_EXEMPT reason"
        k.func(*args)  # the example arguments fit the kernel
        k.func(*example_args(k, np.float64))
    assert case_for(K.optimizer_step).kernel is K.optimizer_step


def test_the_coverage_check_notices_a_kernel_without_a_case(monkeypatch):
    import profiling.cases as PC
    import kernels as K
    monkeypatch.delitem(PC.CASES_BY_KERNEL, K.optimizer_step)
    with pytest.raises(AssertionError, match="optimizer_step"):
        test_registry_has_example_arguments_and_a_case_for_every_kernel()


def test_show_without_example_arguments_prints_the_source(monkeypatch):
    import io

    import kernels.__main__ as KM
    import kernels.registry as KR
    from numba import njit
    kernels, _ = discover()
    k = find(kernels, "bias_backward")
    k = KR.KernelInfo(k.name, k.module, njit(k.func.py_func), k.doc)  # never compiled
    monkeypatch.setattr(KR, "example_args", lambda kernel, dtype: None)
    buf = io.StringIO()
    KM.cmd_show(k, [np.dtype(np.float32)], out=buf)
    assert "no example arguments" in buf.getvalue() and "def bias_backward(dY, db):" in buf.getvalue()


def test_every_benchmarked_kernel_computes_its_numpy_equivalent():
    """The benchmark compares like with like: each kernel on its case's arguments gives what the
    NumPy expression it is timed against gives (so a changed kernel signature fails here)."""
    kernels, _ = discover()
    matched = [(k, case_for(k)) for k in kernels if case_for(k) is not None]
    assert len(matched) >= 20
    for k, c in matched:
        assert validate(c, k, dtype=np.float32) is None, k.qualname


def test_validate_catches_a_kernel_that_computes_something_else():
    kernels, _ = discover()
    relu = find(kernels, "relu_forward")
    assert "differs from NumPy" in validate(CASES_BY_NAME["tanh_forward"], relu)
    assert validate(CASES_BY_NAME["relu_forward"], relu) is None


def test_bench_kernels_quick(tmp_path):
    rc = bench_kernels.main(["--quick", "--quiet", "--kernels", "matmul_nn,matmul_tn,relu_forward,softmax_cross,sgd",
                             "--out-dir", str(tmp_path), "--plots-dir", str(tmp_path)])
    assert rc == 0
    fields, rows = _columns(tmp_path / "kernel_benchmarks.csv")
    assert fields == bench_kernels.FIELDS
    cases = {r["case"] for r in rows}
    # one case per kernel object: the filter's "matmul_nn" also names matmul_nn_fast's case
    assert cases == {"matmul_nn", "matmul_tn", "matmul_nn_fast", "matmul_tn_fast", "relu_forward",
                     "softmax_cross_entropy_forward", "softmax_cross_entropy_backward", "sgd_update"}
    nn = [r for r in rows if r["kernel"] == "matmul.matmul_nn"]
    assert [r["shape"] for r in nn] == ["32x784x32", "32x32x16", "32x16x10"]
    for r in rows:
        assert float(r["kernel_us"]) > 0 and float(r["numpy_us"]) > 0
        assert float(r["speedup_vs_numpy"]) == pytest.approx(float(r["numpy_us"]) / float(r["kernel_us"]), rel=1e-3)
        assert (r["kernel_gflops"] != "") == r["case"].startswith("matmul")
        assert (r["kernel_gbs"] != "") != r["case"].startswith("matmul")
    assert (tmp_path / "kernel_benchmarks.png").stat().st_size > 0
    machine = json.loads((tmp_path / "machine.json").read_text())["bench_kernels"]
    assert {"cpu", "usable_cpus", "numpy_blas", "numba", "numba_num_threads"} <= set(machine)


def test_bench_kernels_pins_the_calling_thread_only_while_timing_unless_told_not_to(tmp_path):
    import os
    before = sorted(os.sched_getaffinity(0))
    for extra in ([], ["--no-pin"]):
        assert bench_kernels.main(["--quick", "--quiet", "--kernels", "relu_forward", "--no-plot",
                                   "--out-dir", str(tmp_path)] + extra) == 0
        assert sorted(os.sched_getaffinity(0)) == before          # the CPUs are given back
        machine = json.loads((tmp_path / "machine.json").read_text())["bench_kernels"]
        assert machine["args"]["no_pin"] == bool(extra)
        assert set(machine["kernels_openmp"]) == {"set_while_loading", "master_cpus"}


def test_bench_kernels_replot_redraws_the_figure_from_a_written_csv_and_measures_nothing(tmp_path, monkeypatch):
    from profiling import kernel_plots
    assert bench_kernels.main(["--quick", "--quiet", "--kernels", "matmul_nn,relu_forward", "--no-plot",
                               "--out-dir", str(tmp_path)]) == 0
    rows = kernel_plots.read_rows(tmp_path / "kernel_benchmarks.csv")
    assert {type(r["batch"]) for r in rows} == {int} and all(r["kernel_us"] > 0 for r in rows)
    # --replot must not time anything: any timing call fails the test
    monkeypatch.setattr(bench_kernels, "run", lambda *a, **k: pytest.fail("--replot measured"))
    plots = tmp_path / "plots"
    assert bench_kernels.main(["--replot", "--out-dir", str(tmp_path), "--plots-dir", str(plots)]) == 0
    assert (plots / "kernel_benchmarks.png").stat().st_size > 0
    # several batch sizes: the GFLOP/s-over-batch layout
    kernel_plots.plot(rows + [dict(r, batch=64) for r in rows], plots / "two_batches.png")
    assert (plots / "two_batches.png").stat().st_size > 0


def test_bench_kernels_replot_without_a_csv_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        bench_kernels.main(["--replot", "--out-dir", str(tmp_path / "none")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--replot: no " in err and "kernel_benchmarks.csv" in err
    assert not (tmp_path / "none").exists()


def test_bench_kernels_rejects_unknown_kernel_filter(tmp_path):
    assert bench_kernels.main(["--quick", "--quiet", "--kernels", "no_such_kernel",
                               "--out-dir", str(tmp_path), "--no-plot"]) == 2


def test_bench_epoch_quick_with_startup(tmp_path, capsys):
    rc = bench_epoch.main(["--quick", "--quiet", "--out-dir", str(tmp_path), "--plots-dir", str(tmp_path)])
    assert rc == 0
    fields, rows = _columns(tmp_path / "epoch_benchmark.csv")
    assert fields == bench_epoch.FIELDS
    impls = [r["impl"] for r in rows]
    for impl in ("kernels train_epoch", "kernels step loop", "numpy", "sklearn",
                 "kernels cold start (empty cache)", "kernels warm start (cached)"):
        assert impl in impls
    numpy_row = rows[impls.index("numpy")]
    assert float(numpy_row["ratio_to_numpy"]) == 1.0 and numpy_row["n"] == "512"
    cold = rows[impls.index("kernels cold start (empty cache)")]
    assert float(cold["first_epoch_s"]) > 0 and float(cold["process_s"]) > float(cold["import_s"])
    assert (tmp_path / "epoch_benchmark.png").exists()


def test_bench_epoch_startup_only(tmp_path):
    """--startup-only: cold and warm start only, each round in startup.csv (the cold row says when
    the helper process had its share compiled), compile times per kernel of both processes and
    their timeline, drawn."""
    rc = bench_epoch.main(["--startup-only", "--repeats", "1", "--n", "256", "--quiet",
                           "--out-dir", str(tmp_path), "--plots-dir", str(tmp_path)])
    assert rc == 0
    assert not (tmp_path / "epoch_benchmark.csv").exists()
    fields, rows = _columns(tmp_path / "startup.csv")
    assert fields[0] == "round" and fields[-2:] == ["helper_ready_s", "helper_done_s"]
    assert [r["impl"] for r in rows] == ["kernels cold start (empty cache)", "kernels warm start (cached)"]
    cold, warm = rows
    assert 0 < float(cold["helper_ready_s"]) <= float(cold["helper_done_s"])
    assert warm["helper_ready_s"] == "" and float(warm["first_epoch_s"]) < float(cold["first_epoch_s"])
    fields, rows = _columns(tmp_path / "compile_times.csv")
    assert fields == ["process", "kernel", "signature", "exclusive_s", "inclusive_s"]
    by = {p: {r["kernel"] for r in rows if r["process"] == p} for p in ("main", "helper")}
    assert "epoch.train_epoch_compiled" in by["main"] and "layers._weight_grad" in by["helper"]
    fields, rows = _columns(tmp_path / "startup_timeline.csv")     # outermost compilations, in order
    assert fields == ["process", "kernel", "start_s", "end_s"]
    assert rows[0]["kernel"] == "first epoch" and float(rows[0]["start_s"]) == 0
    main = [r for r in rows[1:] if r["process"] == "main"]
    in_epoch = [r["kernel"] for r in main if float(r["start_s"]) >= 0]
    assert in_epoch[0] == "epoch.train_epoch_compiled"             # first: typed from the Calls alone
    assert float(main[-1]["end_s"]) <= float(rows[0]["end_s"])                # inside the first epoch
    for a, b in zip(main, main[1:]):
        assert float(a["start_s"]) <= float(a["end_s"]) <= float(b["start_s"])
    assert {r["kernel"] for r in rows if r["process"] == "helper"} >= {"helper process", "layers._weight_grad"}
    assert (tmp_path / "startup.png").exists()


def test_bench_epoch_scaling_only(tmp_path):
    rc = bench_epoch.main(["--quick", "--quiet", "--scaling-only", "--batch-sizes", "16,32", "--hidden", "8,16",
                           "--out-dir", str(tmp_path), "--plots-dir", str(tmp_path)])
    assert rc == 0
    assert not (tmp_path / "epoch_benchmark.csv").exists()
    for name, key, values in (("scaling_batch.csv", "batch", {"16", "32"}), ("scaling_width.csv", "hidden", {"8", "16"})):
        fields, rows = _columns(tmp_path / name)
        assert fields == bench_epoch.SCALING_FIELDS
        assert {r[key] for r in rows} == values
        assert {r["impl"] for r in rows} == set(bench_epoch.SCALING_IMPLS)
        for r in rows:    # the per-round ratio beside the ratio of medians; NumPy's own is 1
            paired = float(r["paired_ratio_to_numpy"])
            assert paired == 1.0 if r["impl"] == "numpy" else paired > 0
    fields, rows = _columns(tmp_path / "scaling_width.csv")
    assert {r["net"] for r in rows} == {"784-8-4-10", "784-16-8-10"}
    assert (tmp_path / "scaling.png").exists()


def test_line_report_quick(tmp_path):
    rc = line_report.main(["--quick", "--quiet", "--out-dir", str(tmp_path), "--plots-dir", str(tmp_path)])
    assert rc == 0
    numba_txt = (tmp_path / "line_profile_numba.txt").read_text()
    numpy_txt = (tmp_path / "line_profile_numpy.txt").read_text()
    assert "K.linear_forward" in numba_txt and "Line #" in numba_txt
    assert "acts[-1] @ self.weights[l]" in numpy_txt
    fields, rows = _columns(tmp_path / "step_breakdown.csv")
    assert fields == line_report.FIELDS
    for impl in ("numba", "numpy"):
        sel = [r for r in rows if r["impl"] == impl]
        assert [r["op"] for r in sel] == list(line_report.OPS)
        # each share is written to 6 significant digits (a share < 1 is off by at most 5e-7)
        assert sum(float(r["share"]) for r in sel) == pytest.approx(1.0, rel=0, abs=5e-7 * len(sel))
        assert float(sel[0]["us_per_step"]) > 0  # the matrix products take time
    assert (tmp_path / "step_breakdown.png").exists()


def test_line_classification():
    c = line_report.classify
    assert c("            K.linear_forward(a, self.weights[l], self.biases[l], buf['z'][l])") == "matmul (+bias)"
    assert c("            da = dz @ self.weights[l].T") == "matmul (+bias)"
    assert c("        buf = self._forward(X, training=True)") is None
    assert c("        dz = softmax_cross_entropy_grad(p, y)") == "softmax-CE"
    assert c("                K.sgd_update(pf, gf, lr, l2)") == "update"
    assert c("            act_fwd(buf['z'][l], buf['a'][l])") == "activation"
    assert c("            if training and self.dropout > 0:") == "Python overhead"
    assert c("        for l in range(self.n_layers):  # K.linear_forward") == "Python overhead"


# ------------------------------------------------------------------- python -m kernels
def _kernels_cli(*args):
    return subprocess.run([sys.executable, "-m", "kernels", *args], cwd=ROOT, capture_output=True, text=True)


def test_kernels_cli_lists_every_kernel():
    res = _kernels_cli()
    assert res.returncode == 0, res.stderr
    kernels, _ = discover()
    listed = {line.split()[0] for line in res.stdout.splitlines() if line.startswith("  ")}
    assert listed == {k.name for k in kernels}
    assert "matmul_nn" in listed and "softmax_cross_entropy_backward" in listed
    assert "out = A @ B." in res.stdout  # the docstring's first line


def test_kernels_cli_show_matmul_nn():
    res = _kernels_cli("show", "matmul_nn", "--dtype", "float32,float64", "--types")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "array(float32, 2d, C)" in out and "array(float64, 2d, C)" in out
    assert "typed source" in out and "out[i, j] += a * B[k, j]" in out
    assert out.count("vectorised: up to") >= 2  # one SIMD verdict per signature
    assert "typed source" not in _kernels_cli("show", "matmul_nn").stdout  # the IR is opt-in now


def test_kernels_cli_unknown_name_fails_cleanly():
    res = _kernels_cli("show", "matmul_xx")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown kernel 'matmul_xx'" in lines[0] and "matmul_nn" in lines[0]
    assert res.stdout == ""


def test_simd_summary_counts_packed_scalar_and_fma():
    from kernels.__main__ import simd_summary
    asm = "\n".join(["\tvfmadd231ps\t%ymm1, %ymm2, %ymm3", "\tvmulps\t%zmm0, %zmm1, %zmm2",
                     "\tvaddpd\t%xmm0, %xmm1, %xmm1", "\tvmulss\t%xmm0, %xmm1, %xmm1",
                     "\tvfmadd213sd\t%xmm0, %xmm1, %xmm2", "\tmovabsq\t$expf, %rax", "\tcallq\t*%rax",
                     "\tvmovups\t%ymm0, (%rdi)"])
    s = simd_summary(asm)
    assert (s["packed"], s["scalar"], s["fma_packed"], s["fma_scalar"]) == (3, 2, 1, 1)
    assert (s["packed_ymm"], s["packed_zmm"], s["packed_xmm"]) == (1, 1, 1)
    assert s["max_lanes"] == 16 and s["vectorised"] and s["calls"] == {"expf": 1}
    assert not simd_summary("\tvmulss\t%xmm0, %xmm1, %xmm1")["vectorised"]


def test_scaling_plot_circles_busy_measurements(tmp_path, monkeypatch):
    from profiling import epoch_plots
    seen = []
    import matplotlib.axes
    real = matplotlib.axes.Axes.scatter

    def scatter(self, x, y, *args, **kwargs):
        seen.append((list(x), kwargs.get("label")))
        return real(self, x, y, *args, **kwargs)
    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", scatter)

    def rows(key, busy_at):
        return [{"impl": impl, "dtype": "float32", "batch": 64, key: v, "us_per_image": 1.0, "step_ms": 1.0,
                 "ratio_to_numpy": 0.5 if impl != "numpy" else 1.0, "busy": str(v == busy_at and impl != "numpy")}
                for impl in ("kernels train_epoch", "numpy") for v in (32, 64, 128)]
    epoch_plots.plot_scaling(rows("batch", 64), rows("hidden", None), str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").exists()
    assert [x for x, label in seen if label and label.startswith("BUSY")] == [[64]]   # only the busy point
