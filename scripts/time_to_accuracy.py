#!/usr/bin/env python
"""Validation accuracy against wall time for three recipes, 3 seeds each: plain SGD (the
assignment's setting), Adam (constant 1e-3, no augmentation) and the default recipe (python
train.py's defaults). Each run is `python train.py --seed N ...` writing beside its own --out under
results/time_to_accuracy/ (so nothing of the committed default run is touched); the history's
`time_s` column is the wall time since training started, evaluation included.

Writes results/time_to_accuracy.csv (recipe, seed, epoch, time_s, val_acc),
results/time_to_accuracy.json (per recipe: mean and sd over the seeds of the time at which
validation accuracy first reached 97 / 98 / 98.5 / 99%, and of the final best accuracy) and
plots/time_to_accuracy.png (mean curve and the seeds' spread).

    python scripts/time_to_accuracy.py [--seeds 0 1 2] [--quick]
"""
import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:   # run as a script from scripts/: the project's packages live one level up
    sys.path.insert(0, str(ROOT))

from network.training import ACCURACY_MARKS as LEVELS, time_to_accuracy  # noqa: E402

RECIPES = {
    "plain SGD (lr 0.01, 10 epochs)": ["--optimizer", "sgd", "--schedule", "constant", "--lr", "0.01",
                                       "--dropout", "0", "--augment", "none", "--epochs", "10"],
    "Adam (lr 1e-3, 20 epochs)": ["--optimizer", "adam", "--schedule", "constant", "--lr", "0.001",
                                  "--dropout", "0", "--augment", "none", "--epochs", "20"],
    "default recipe (train.py)": [],
}

def stats(values):
    vals = [v for v in values if v is not None]
    if len(vals) < len(values) or not vals:
        return {"mean": None, "sd": None, "reached": len(vals)}
    return {"mean": float(np.mean(vals)), "sd": float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0,
            "reached": len(vals)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="tiny runs (2 epochs on 2,000 images) to check the wiring")
    p.add_argument("--out-dir", default=str(ROOT / "results"))
    p.add_argument("--plots-dir", default=str(ROOT / "plots"))
    a = p.parse_args(argv)
    runs_dir = Path(a.out_dir) / "time_to_accuracy"
    rows, summary = [], {}
    for name, flags in RECIPES.items():
        per_seed = []
        for seed in a.seeds:
            stem = runs_dir / f"{name.split()[0].lower()}-{name.split()[1].strip('(').lower()}-seed{seed}"
            extra = ["--epochs", "2", "--subset", "2000"] if a.quick else []
            cmd = [sys.executable, "train.py", "--seed", str(seed), "--out", f"{stem}.npz", "--quiet",
                   *flags, *extra]
            print(f"{name}, seed {seed}: {' '.join(cmd[1:])}", flush=True)
            subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            with open(f"{stem}.history.csv") as f:
                hist = [{"time_s": float(r["time_s"]), "val_acc": float(r["val_acc"]), "epoch": int(r["epoch"])}
                        for r in csv.DictReader(f)]
            per_seed.append(hist)
            rows += [{"recipe": name, "seed": seed, **h} for h in hist]
        reached = [list(time_to_accuracy(h, LEVELS).values()) for h in per_seed]   # in LEVELS order
        summary[name] = {f"{lv:.1%}": stats([t[i] for t in reached]) for i, lv in enumerate(LEVELS)}
        summary[name]["best_val_acc"] = stats([max(r["val_acc"] for r in h) for h in per_seed])
        summary[name]["train_time_s"] = stats([h[-1]["time_s"] for h in per_seed])
    Path(a.out_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(a.out_dir) / "time_to_accuracy.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["recipe", "seed", "epoch", "time_s", "val_acc"])
        w.writeheader()
        w.writerows(rows)
    (Path(a.out_dir) / "time_to_accuracy.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot(rows, Path(a.plots_dir) / "time_to_accuracy.png")
    print(json.dumps(summary, indent=2))


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, name in enumerate(RECIPES):
        seeds = sorted({r["seed"] for r in rows if r["recipe"] == name})
        curves = [[r for r in rows if r["recipe"] == name and r["seed"] == s] for s in seeds]
        n = min(len(c) for c in curves)
        t = np.mean([[r["time_s"] for r in c[:n]] for c in curves], axis=0)
        acc = np.array([[r["val_acc"] * 100 for r in c[:n]] for c in curves])
        ax.plot(t, acc.mean(0), color=f"C{i}", label=f"{name}, mean of {len(seeds)} seeds")
        ax.fill_between(t, acc.min(0), acc.max(0), color=f"C{i}", alpha=0.2)
    for lv in LEVELS:
        ax.axhline(lv * 100, color="grey", lw=0.5, ls=":")
    ax.set_ylim(90, 99.3)
    ax.set_xlabel("wall time since training started (s; evaluation included)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Time to accuracy (band: min-max over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
