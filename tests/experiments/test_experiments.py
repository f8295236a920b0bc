"""`python -m experiments` and `python -m experiments.tables`: grid definitions, a short real grid run, resume,
tables whose numbers are checked against statistics computed here from the CSV, and clean errors."""
import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import experiments as E
from experiments import tables as T
from experiments.store import _cell
from network.cli import CLIError

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QUICK_NAMES = ["exp2", "exp1"]
QUICK_ARGS = ["--quick", "--epochs", "2"]     # 2 epochs, seeds 0,1, 2,000 training images


def cli(module, *args, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- grid definitions

def test_the_experiments_cover_the_assignment():
    assert list(E.EXPERIMENTS) == ["exp1_learning_rate", "exp2_depth", "exp3_activation", "exp4_init",
                                   "ext1_optimizers", "ext2_regularization", "ext3_augmentation"]
    res = {name: e.resolved() for name, e in E.EXPERIMENTS.items()}
    lrs = {c["lr"] for _, c in res["exp1_learning_rate"]}
    assert {0.001, 0.005, 0.01} <= lrs and max(lrs) > 0.01
    assert all(c["optimizer"] == "sgd" for _, c in res["exp1_learning_rate"])
    assert {c["layers"] for _, c in res["exp2_depth"]} == {(784, 128, 10), (784, 128, 64, 10)}
    assert {c["activation"] for _, c in res["exp3_activation"]} == {"sigmoid", "tanh", "relu"}
    pairs = {(c["init"], c["activation"]) for _, c in res["exp4_init"]}
    for init in ("zeros", "normal", "xavier", "he"):
        assert (init, "relu") in pairs and ((init, "sigmoid") in pairs or (init, "tanh") in pairs)
    assert {c["optimizer"] for _, c in res["ext1_optimizers"]} == {"sgd", "momentum", "adam"}
    reg = {(c["l2"] > 0, c["dropout"] > 0) for _, c in res["ext2_regularization"]}
    assert reg == {(False, False), (True, False), (False, True), (True, True)}
    assert all(0 < c["n_train"] < 48000 for _, c in res["ext2_regularization"])
    assert [c["augment"] for _, c in res["ext3_augmentation"]] == ["none", "shift", "affine", "elastic"]
    assert len(E.DEFAULT_SEEDS) >= 3
    for name, configs in res.items():
        assert all(c["epochs"] >= 10 for _, c in configs), name
        labels = [lbl for lbl, _ in configs]
        assert len(set(labels)) == len(labels), f"{name}: configuration labels must be distinct"


def test_every_configuration_builds_a_network():
    from network.model import NeuralNetwork
    for name, e in E.EXPERIMENTS.items():
        for _, c in e.resolved():
            net = NeuralNetwork(list(c["layers"]), activation=c["activation"], init=c["init"], seed=0,
                                optimizer=c["optimizer"], l2=c["l2"], dropout=c["dropout"], momentum=c["momentum"])
            assert net.layer_sizes == list(c["layers"])


def test_run_ids_are_stable_distinct_and_change_with_the_settings():
    grid = E.build_grid()
    ids = [r.run_id for r in grid]
    assert len(set(ids)) == len(ids) == sum(len(e.configs) for e in E.EXPERIMENTS.values()) * len(E.DEFAULT_SEEDS)
    assert ids == [r.run_id for r in E.build_grid()]
    assert set(ids).isdisjoint(r.run_id for r in E.build_grid(epochs=3))
    assert set(ids).isdisjoint(r.run_id for r in E.build_grid(n_train=1000))
    # a subset of the seeds keeps those runs' ids, so they are not re-run
    assert {r.run_id for r in E.build_grid(seeds=[1])} <= set(ids)


def test_select_accepts_short_names_and_rejects_unknown_ones():
    assert E.select(["ext2", "exp1_learning_rate"]) == ["exp1_learning_rate", "ext2_regularization"]
    assert E.select([]) == list(E.EXPERIMENTS)
    with pytest.raises(E.ExperimentError, match="unknown experiment 'exp9'"):
        E.select(["exp9"])


def test_results_csv_rejects_a_foreign_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(E.ExperimentError, match="not an experiments CSV"):
        E.read_results(p)


# ----------------------------------------------------------------------------- CLI input errors

BAD = [(["bogus"], "bogus"), (["exp1", "--seeds", "a,b"], "--seeds"), (["--seeds", "1,1"], "--seeds"),
       (["--seeds", "-1"], "--seeds"), (["--epochs", "0"], "--epochs"), (["--subset", "-3"], "--subset"),
       (["--epochs", "ten"], "--epochs")]


@pytest.mark.parametrize("args,word", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, word, tmp_path):
    r = cli("experiments", *args, "--results-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p"),
            env={"MNIST_CACHE_DIR": "/nonexistent/should-not-be-read"})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and word in lines[0], r.stderr
    assert list(tmp_path.iterdir()) == []


def test_list_names_every_experiment_without_loading_data(tmp_path):
    r = cli("experiments", "--list", "--results-dir", str(tmp_path),
            env={"MNIST_CACHE_DIR": "/nonexistent/should-not-be-read"})
    assert r.returncode == 0, r.stderr
    for name in E.EXPERIMENTS:
        assert name in r.stdout
    assert f"total: {len(E.build_grid())} runs, 0 done" in r.stdout


# ----------------------------------------------------------------------------- a real quick grid

@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    base = tmp_path_factory.mktemp("quick")
    res, plots = base / "results", base / "plots"
    args = [*QUICK_NAMES, *QUICK_ARGS, "--results-dir", str(res), "--plots-dir", str(plots), "--no-progress"]
    r = cli("experiments", *args)
    assert r.returncode == 0, r.stderr + r.stdout
    grid = E.build_grid(QUICK_NAMES, epochs=2, seeds=E.QUICK["seeds"], n_train=E.QUICK["n_train"])
    return {"res": res, "plots": plots, "args": args, "grid": grid, "stdout": r.stdout}


def test_quick_grid_writes_one_row_per_run_with_every_column(quick):
    rows = read_csv(quick["res"] / "experiments.csv")
    with open(quick["res"] / "experiments.csv", newline="") as f:
        assert tuple(next(csv.reader(f))) == E.FIELDS
    assert len(rows) == len(quick["grid"]) == (5 + 2) * 2
    assert sorted(r["run_id"] for r in rows) == sorted(r.run_id for r in quick["grid"])
    expected = {(r.experiment, r.label, r.seed) for r in quick["grid"]}
    assert {(r["experiment"], r["setting"], int(r["seed"])) for r in rows} == expected
    for r in rows:
        assert r["status"] in E.FINISHED and r["epochs"] == "2" and r["n_train"] == "2000"
        assert float(r["wall_time_s"]) > 0
    lrs = {float(r["lr"]) for r in rows if r["experiment"] == "exp1_learning_rate"}
    assert lrs == {c["lr"] for _, c in E.EXPERIMENTS["exp1_learning_rate"].resolved()}


def test_each_row_agrees_with_its_history(quick):
    for r in read_csv(quick["res"] / "experiments.csv"):
        hist = read_csv(quick["res"] / r["history"])
        assert len(hist) == int(r["epochs_run"])
        if r["status"] == "ok":
            assert len(hist) == 2
            val = [float(h["val_acc"]) for h in hist]
            best = int(np.argmax(val))
            assert float(r["best_val_acc"]) == val[best] and int(r["best_epoch"]) == best + 1
            assert float(r["final_train_loss"]) == float(hist[-1]["train_loss"])
            assert float(r["final_val_acc"]) == float(hist[-1]["val_acc"])
            assert 0 <= float(r["test_acc"]) <= 1
        else:
            assert r["status"] == "diverged" and int(r["diverged_epoch"]) == len(hist) + 1


def test_quick_grid_learns_something(quick):
    # 2 epochs of SGD on 2,000 images: lr 0.1 is well above chance on the held-out test set
    rows = [r for r in read_csv(quick["res"] / "experiments.csv") if r["setting"] == "lr=0.1"]
    assert len(rows) == 2 and all(float(r["test_acc"]) > 0.5 for r in rows)


def test_plots_and_summary(quick):
    for name in ("exp1_learning_rate.png", "exp2_depth.png"):
        data = (quick["plots"] / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10000
    assert sorted(os.listdir(quick["plots"])) == ["exp1_learning_rate.png", "exp2_depth.png"]
    s = json.loads((quick["res"] / "experiments_summary.json").read_text())
    rows = read_csv(quick["res"] / "experiments.csv")
    assert s["finished_runs"] == len(rows) and s["complete"] is False   # the other 4 experiments
    assert s["total_runs"] == len(E.build_grid(None, 2, E.QUICK["seeds"], E.QUICK["n_train"]))
    assert math.isclose(s["total_wall_time_s"], sum(float(r["wall_time_s"]) for r in rows), rel_tol=1e-12)
    assert s["experiments"]["exp1_learning_rate"]["finished"] == 10
    assert s["last_session"]["runs_executed"] == len(rows) and s["cpu_count"] == os.cpu_count()


def test_rerun_skips_finished_runs_and_redoes_only_a_missing_one(quick, tmp_path):
    res, plots = tmp_path / "results", tmp_path / "plots"
    shutil.copytree(quick["res"], res)
    args = [*QUICK_NAMES, *QUICK_ARGS, "--results-dir", str(res), "--plots-dir", str(plots), "--no-progress"]
    before = (res / "experiments.csv").read_bytes()
    mtimes = {p.name: p.stat().st_mtime_ns for p in (res / "runs").iterdir()}
    r = cli("experiments", *args, env={"MNIST_CACHE_DIR": "/nonexistent/should-not-be-read"})
    assert r.returncode == 0, r.stderr   # nothing to run, so the data is never loaded
    assert "14 already done (skipped), 0 to run" in r.stdout
    assert (res / "experiments.csv").read_bytes() == before
    assert {p.name: p.stat().st_mtime_ns for p in (res / "runs").iterdir()} == mtimes

    rows = read_csv(res / "experiments.csv")
    dropped = rows[3]
    E.write_results(res / "experiments.csv", rows[:3] + rows[4:])
    r = cli("experiments", *args)
    assert r.returncode == 0, r.stderr
    assert "13 already done (skipped), 1 to run" in r.stdout
    after = {row["run_id"]: row for row in read_csv(res / "experiments.csv")}
    assert len(after) == len(rows) and dropped["run_id"] in after
    for row in rows:
        if row["run_id"] != dropped["run_id"]:
            assert after[row["run_id"]] == row
    changed = [n for n, t in mtimes.items() if (res / "runs" / n).stat().st_mtime_ns != t]
    assert changed == [f"{dropped['run_id']}.csv"]


# ----------------------------------------------------------------------------- report tables

def _independent_stats(rows):
    """Group the CSV rows by (experiment, setting, epochs, n_train) and compute mean/std here."""
    groups = {}
    for r in rows:
        groups.setdefault((r["experiment"], r["setting"], int(r["epochs"]), int(r["n_train"])), []).append(r)
    out = {}
    for key, g in groups.items():
        def ms(col, scale=100.0):
            v = np.array([float(r[col]) for r in g]) * scale
            v = v[np.isfinite(v)]
            return (v.mean() if v.size else None, v.std(ddof=1) if v.size > 1 else None)
        gap = np.array([float(r["final_train_acc"]) - float(r["final_val_acc"]) for r in g]) * 100
        gap = gap[np.isfinite(gap)]
        out[key] = {"n": len(g), "Best val acc (%)": ms("best_val_acc"), "Test acc (%)": ms("test_acc"),
                    "Final train loss": ms("final_train_loss", 1.0),
                    "Train − val gap (pp)": (gap.mean() if gap.size else None,
                                             gap.std(ddof=1) if gap.size > 1 else None),
                    "Wall time / run (s)": (np.mean([float(r["wall_time_s"]) for r in g]), None)}
    return out


def _close(parsed, expected, digits):
    """parsed (mean, std|None) from a table cell agrees with expected to the printed precision."""
    half = 0.5 * 10 ** -digits + 1e-9
    if expected[0] is None:
        return parsed is None
    if parsed is None or abs(parsed[0] - expected[0]) > half:
        return False
    if expected[1] is None:
        return parsed[1] is None
    return parsed[1] is not None and abs(parsed[1] - expected[1]) <= half


DIGITS = {"Best val acc (%)": 2, "Test acc (%)": 2, "Final train loss": 4, "Train − val gap (pp)": 2,
          "Wall time / run (s)": 1}


def test_report_tables_match_statistics_computed_from_the_csv(quick, tmp_path):
    report = tmp_path / "REPORT.md"
    report.write_text("# Report\n\nIntro text.\n\n" + T.BEGIN + "\nold tables\n" + T.END + "\n\nConclusions.\n")
    out = tmp_path / "tables.md"
    r = cli("experiments.tables", "--csv", str(quick["res"] / "experiments.csv"), "--out", str(out),
            "--update-report", str(report))
    assert r.returncode == 0, r.stderr
    text = report.read_text()
    assert text.startswith("# Report\n\nIntro text.\n\n" + T.BEGIN + "\n")
    assert text.endswith(T.END + "\n\nConclusions.\n") and "old tables" not in text
    assert T.parse_tables(out.read_text()) == T.parse_tables(text)

    rows = read_csv(quick["res"] / "experiments.csv")
    expected, parsed = _independent_stats(rows), T.parse_tables(T.report_block(text))
    assert set(parsed) == set(expected)
    for key, exp in expected.items():
        cells = parsed[key]
        assert cells["Runs"].split()[0] == str(exp["n"])
        for col, digits in DIGITS.items():
            assert _close(T.parse_number(cells[col]), exp[col], digits), (key, col, cells[col], exp[col])
    total = sum(float(r["wall_time_s"]) for r in rows)
    assert f"{len(rows)} runs" in text and f"total run wall time {total:.0f} s" in text

    r = cli("experiments.tables", "--csv", str(quick["res"] / "experiments.csv"), "--check", str(report))
    assert r.returncode == 0 and "every table matches" in r.stdout, r.stdout + r.stderr


def _row(exp, setting, seed, val, test, status="ok", epochs=10, n_train=48000, loss=0.1, tr=1.0, va=0.9, wall=10.0):
    return {"run_id": f"{exp}-{setting}-{seed}", "experiment": exp, "setting": setting, "seed": seed,
            "status": status, "epochs": epochs, "n_train": n_train, "best_val_acc": val, "test_acc": test,
            "best_epoch": 5 if math.isfinite(val) else "", "final_train_loss": loss, "final_train_acc": tr,
            "final_val_acc": va, "wall_time_s": wall}


def test_tables_on_a_handmade_csv(tmp_path):
    nan = float("nan")
    rows = [_row("exp1_learning_rate", "lr=0.01", 0, 0.90, 0.91, wall=10),
            _row("exp1_learning_rate", "lr=0.01", 1, 0.92, 0.93, wall=20),
            _row("exp1_learning_rate", "lr=0.01", 2, 0.94, nan, status="diverged", loss=nan, tr=nan, va=nan, wall=30),
            _row("exp1_learning_rate", "lr=1", 0, nan, nan, status="diverged", loss=nan, tr=nan, va=nan, wall=1),
            _row("exp1_learning_rate", "lr=0.001", 0, 0.95, 0.955, loss=0.25, tr=0.97, va=0.95, wall=12),
            _row("exp1_learning_rate", "lr=0.001", 1, 0.5, 0.5, status="crashed")]   # not finished: ignored
    path = tmp_path / "e.csv"
    E.write_results(path, [{k: _cell(v) for k, v in r.items()} for r in rows])
    block = T.render(E.read_results(path))
    t = T.parse_tables(block)
    # rows follow the grid's order (lr=0.001 before 0.01 before 1), whatever the CSV order
    assert [k[1] for k in t] == ["lr=0.001", "lr=0.01", "lr=1"]
    a, b, c = (t[("exp1_learning_rate", s, 10, 48000)] for s in ("lr=0.001", "lr=0.01", "lr=1"))
    assert b["Runs"] == "3 (1 diverged)" and b["Best val acc (%)"] == "92.00 ± 2.00"
    assert b["Test acc (%)"] == "92.00 ± 1.41" and b["Final train loss"] == "0.1000 ± 0.0000"
    assert b["Train − val gap (pp)"] == "10.00 ± 0.00" and b["Wall time / run (s)"] == "20.0"
    assert a["Runs"] == "1" and a["Best val acc (%)"] == "95.00" and a["Test acc (%)"] == "95.50"
    assert a["Train − val gap (pp)"] == "2.00" and a["Final train loss"] == "0.2500"
    assert c["Runs"] == "1 (1 diverged)" and c["Best val acc (%)"] == c["Test acc (%)"] == T.NONE
    assert c["Best epoch"] == T.NONE and c["Train images"] == "48,000"
    assert "Whole grid: 5 runs (2 diverged) in 1 experiments; total run wall time 73 s (1.2 min)." in block


def test_check_reports_a_tampered_or_missing_number(quick, tmp_path):
    rows = E.read_results(quick["res"] / "experiments.csv")
    good = "intro\n" + T.BEGIN + "\n" + T.render(rows) + T.END + "\n"
    assert T.check_report(good, rows) == []
    cell = T._cells(T.summarize(rows)[0][3][0])[3]       # the first table's first test accuracy
    tampered = good.replace(f"| {cell} |", f"| {cell[:-1]}{(int(cell[-1]) + 1) % 10} |", 1)
    assert tampered != good
    problems = T.check_report(tampered, rows)
    assert len(problems) == 1 and "Test acc (%)" in problems[0]
    first_row = next(line for line in good.splitlines() if line.startswith("| lr=0.001"))
    problems = T.check_report(good.replace(first_row + "\n", ""), rows)
    assert len(problems) == 1 and "missing" in problems[0]
    with pytest.raises(CLIError, match="tables:begin"):
        T.check_report("no markers here", rows)


def test_update_report_without_markers_fails_cleanly(quick, tmp_path):
    report = tmp_path / "REPORT.md"
    report.write_text("# Report without markers\n")
    r = cli("experiments.tables", "--csv", str(quick["res"] / "experiments.csv"), "--out",
            str(tmp_path / "t.md"), "--update-report", str(report))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "tables:begin" in lines[0]
    assert report.read_text() == "# Report without markers\n" and not (tmp_path / "t.md").exists()
    r = cli("experiments.tables", "--csv", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "t.md"))
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr


def test_repository_report_matches_results_csv():
    """REPORT.md's generated tables must agree with results/experiments.csv (once both exist)."""
    report, csv_path = ROOT / "REPORT.md", ROOT / "results" / "experiments.csv"
    if not report.exists() or T.BEGIN not in report.read_text(encoding="utf-8") or not csv_path.exists():
        pytest.skip("REPORT.md has no generated table block or results/experiments.csv does not exist yet")
    problems = T.check_report(report.read_text(encoding="utf-8"), E.read_results(csv_path), "REPORT.md")
    assert problems == [], "\n".join(problems[:20])


def test_augmentation_experiment_runs_train_with_its_kind():
    from experiments.runner import _augmentation
    assert not _augmentation({}).active                       # the other experiments: none
    aff, ela = _augmentation({"augment": "affine"}), _augmentation({"augment": "elastic"})
    assert (aff.kind, aff.rotate, aff.shift) == ("affine", 10.0, 2)
    assert ela.kind == "elastic" and ela.elastic_sigma == 4.0 and ela.elastic_alpha == 1.5
    assert _augmentation({"augment": "shift"}).shift == 2
    ids = {r.run_id for r in E.build_grid(["ext3"])}
    assert len(ids) == 12                                     # 4 kinds x 3 seeds, distinct
