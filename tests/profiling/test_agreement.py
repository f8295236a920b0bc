"""profiling/agreement.py: matching two runs' ratios and judging them against the tolerance."""
import csv
import os

import pytest

from profiling import agreement
from profiling.common import write_csv

EPOCH_FIELDS = ["impl", "dtype", "n", "batch", "net", "epoch_s", "ratio_to_numpy", "paired_ratio_to_numpy"]


def _epoch(path, kernels_ratio, torch_ratio, paired=""):
    os.makedirs(path, exist_ok=True)
    write_csv(os.path.join(path, "epoch_benchmark.csv"), [
        {"impl": "kernels train_epoch", "dtype": "float32", "n": 48000, "batch": 64, "net": "784-128-64-10",
         "epoch_s": 0.2, "ratio_to_numpy": kernels_ratio, "paired_ratio_to_numpy": paired},
        {"impl": "numpy", "dtype": "float32", "n": 48000, "batch": 64, "net": "784-128-64-10",
         "epoch_s": 0.3, "ratio_to_numpy": 1.0, "paired_ratio_to_numpy": 1.0},
        {"impl": "torch", "dtype": "float32", "n": 48000, "batch": 64, "net": "784-128-64-10",
         "epoch_s": 0.5, "ratio_to_numpy": torch_ratio, "paired_ratio_to_numpy": ""},
    ], EPOCH_FIELDS)


def test_ratios_are_matched_by_measurement_and_judged_by_tolerance(tmp_path):
    _epoch(tmp_path / "a", 0.70, 1.60, paired=0.68)
    _epoch(tmp_path / "b", 0.75, 2.00, paired=0.69)
    rows = agreement.compare(tmp_path / "a", tmp_path / "b", tolerance=0.10)
    # NumPy against itself (1 and 1) and empty cells are not ratios to compare
    assert sorted((r["measurement"].split()[0], r["column"]) for r in rows) == [
        ("impl=kernels", "paired_ratio_to_numpy"), ("impl=kernels", "ratio_to_numpy"), ("impl=torch", "ratio_to_numpy")]
    by_impl = {(r["measurement"], r["column"]): r for r in rows}
    k = by_impl[("impl=kernels train_epoch dtype=float32 n=48000 batch=64 net=784-128-64-10", "ratio_to_numpy")]
    assert k["rel_diff"] == pytest.approx(0.75 / 0.70 - 1) and k["agrees"]        # +7%
    t = by_impl[("impl=torch dtype=float32 n=48000 batch=64 net=784-128-64-10", "ratio_to_numpy")]
    assert t["rel_diff"] == pytest.approx(0.25) and not t["agrees"]                 # +25%


def test_cli_writes_the_table_and_plot_and_refuses_runs_with_nothing_in_common(tmp_path, capsys):
    _epoch(tmp_path / "a", 0.70, 1.60)
    _epoch(tmp_path / "b", 0.70, 1.70)
    out, png = tmp_path / "agree.csv", tmp_path / "agree.png"
    assert agreement.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--plot", str(png)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["agrees"] for r in rows] == ["True", "True"]
    assert png.stat().st_size > 0
    assert "2 of 2 ratios agree within 10%" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as e:
        agreement.main([str(tmp_path / "a"), str(tmp_path / "empty"), "--out", str(tmp_path / "x.csv")])
    assert e.value.code == 2 and not (tmp_path / "x.csv").exists()
