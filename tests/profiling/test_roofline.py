"""profiling.roofline and kernels/costs.py: every kernel costed and buildable, the placement
arithmetic, and a --quick smoke run of the command."""
import csv
import inspect
import os

import numpy as np
import pytest

import kernels
from kernels.costs import COSTS, NOT_COSTED
from profiling import roofline
from profiling.kernel_args import args_for, builder_names, compiled_loop


def _exported():
    return sorted(n for n in dir(kernels) if hasattr(getattr(kernels, n), "py_func"))


def test_every_exported_kernel_is_costed_or_excused():
    missing = set(_exported()) - set(COSTS) - set(NOT_COSTED)
    assert not missing, f"add these kernels to kernels/costs.py: {sorted(missing)}"
    assert set(COSTS) <= set(_exported()), "a cost entry names a kernel `kernels` no longer has"
    assert set(COSTS) == set(builder_names())


@pytest.mark.parametrize("name", sorted(COSTS))
def test_costs_and_arguments_at_training_shape(name):
    dims, flops, nbytes = COSTS[name].at(64)
    assert dims[0] == 64 or name in ("sgd_update", "momentum_update", "adam_update", "optimizer_step")
    assert nbytes > 0 and flops >= 0 and isinstance(flops, int)
    small = (2, 784, 10) if name in ("gather_rows", "gather_warp") else None   # not the 150 MB training set
    kernel, args = args_for(name, 64, dims=small)
    assert kernel is getattr(kernels, name)
    assert len(args) == len(inspect.signature(kernel.py_func).parameters), "all arguments passed"


def test_product_counts():
    _, flops, nbytes = COSTS["matmul_nn_fast"].at(64)
    assert flops == 2 * 64 * 784 * 128
    assert nbytes == 4 * (64 * 784 + 784 * 128 + 64 * 128)
    assert COSTS["relu_forward"]((64, 128), 8) == (64 * 128, 2 * 8 * 64 * 128)


def test_compiled_loop_runs_the_kernel():
    kernel, args = args_for("relu_forward", 4)
    compiled_loop(kernel, len(args))(3, *args)
    np.testing.assert_array_equal(args[1], np.maximum(args[0], 0))


CEIL = dict(peak_all=200.0, peak_1=100.0, L2_all=200.0, L2_1=100.0, L3_all=100.0, L3_1=50.0,
            DRAM_all=20.0, DRAM_1=15.0, l2_all=2 << 20, l2_1=1 << 20, l3=32 << 20)


def test_place_compute_and_memory_bound():
    # AI 10 > ridge 1 (200 GFLOP/s / 200 GB/s): compute-bound, roof = peak
    r = roofline.place("matmul_nn_fast", 64, (64, 784, 128), 10_000_000, 1_000_000, 1e-4, CEIL)
    assert (r["level"], r["bound"]) == ("L2", "compute")
    assert r["gflops"] == pytest.approx(100.0) and r["fraction"] == pytest.approx(0.5)
    assert r["fraction_1core"] == pytest.approx(1.0)
    # AI 0.1 with 8 MB moved: L3, memory-bound, roof = 0.1 * 100 GB/s
    r = roofline.place("relu_forward", 64, (64, 128), 800_000, 8_000_000, 1e-3, CEIL)
    assert (r["level"], r["bound"]) == ("L3", "memory")
    assert r["roof_gflops"] == pytest.approx(10.0) and r["fraction"] == pytest.approx(0.08)
    # no FLOPs: bandwidth over the DRAM ceiling
    r = roofline.place("gather_rows", 64, (64, 784, 48000), 0, 40 << 20, 1e-2, CEIL)
    assert r["level"] == "DRAM" and r["fraction"] == pytest.approx((40 << 20) / 1e-2 / 1e9 / 20)


def test_help():
    with pytest.raises(SystemExit) as e:
        roofline.main(["--help"])
    assert e.value.code == 0


def test_quick_run_writes_csv_and_plot(tmp_path):
    code = roofline.main(["--quick", "--out-dir", str(tmp_path), "--quiet",
                          "--kernels", "relu_forward,matmul_nn_fast,gather_rows", "--batches", "8"])
    assert code == 0
    with open(tmp_path / "roofline.csv") as f:
        rows = list(csv.DictReader(f))
    kinds = [r["kind"] for r in rows]
    assert kinds[0] == "machine" and rows[0]["name"]
    names = {r["name"] for r in rows if r["kind"] == "ceiling"}
    assert {"peak_all", "peak_1", "sgemm", "L2_all", "L3_all", "DRAM_all", "DRAM_1"} <= names
    krows = [r for r in rows if r["kind"] == "kernel"]
    assert [r["name"] for r in krows] == ["relu_forward", "matmul_nn_fast", "gather_rows"]
    for r in krows:
        assert float(r["seconds"]) > 0 and r["bound"] in ("compute", "memory")
        assert float(r["ai"]) == pytest.approx(float(r["flops"]) / float(r["bytes"]), rel=1e-5)
    assert os.path.getsize(tmp_path / "roofline.png") > 10_000


def test_unknown_kernel_is_an_error(capsys):
    with pytest.raises(SystemExit) as e:
        roofline.main(["--kernels", "no_such_kernel", "--quick"])
    assert e.value.code == 2 and "no cost entry" in capsys.readouterr().err
