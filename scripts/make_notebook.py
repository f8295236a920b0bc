#!/usr/bin/env python
"""Build analysis.ipynb from the committed results and execute it in place.

    python scripts/make_notebook.py              # write and execute analysis.ipynb (needs the notebook extra)
    python scripts/make_notebook.py --no-execute # write it without outputs

The notebook only reads files under results/ and plots/ (it trains nothing), so it reruns in
seconds. Requires `pip install nbformat nbclient ipykernel` (the `notebook` extra).
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:   # run as a script from scripts/: the project's packages live one level up
    sys.path.insert(0, str(ROOT))

CELLS = [
    ("md", """# MNIST from scratch: analysis

This notebook reads what the project's commands wrote to `results/` and `plots/` (it trains
nothing, so it reruns in seconds). The commands are: `python train.py` (default run),
`python evaluate.py` (test metrics), `python -m analysis` (activations, saliency),
`python -m experiments` (the four experiments and the two extensions) and the benchmarks in
`profiling/`. Every number below is computed from those files."""),
    ("code", """import csv, json
from pathlib import Path
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Image, Markdown, display

R, P = Path("results"), Path("plots")

def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))

def show(name, width=720):
    display(Image(filename=str(P / name), width=width))"""),
    ("md", """## 1. Training process

The default run: 784-128-64-10, ReLU, He initialisation, Adam with a one-cycle learning-rate
schedule (peak 0.005), batch 64, no dropout, random affine warps plus elastic distortion of every
training image (rotation +-10 degrees, scale +-10%, shear +-0.15, shift +-2 px, smooth displacement
fields of sigma 4 px and 1.5 px RMS), 70 epochs on 48,000 images; the best epoch by validation
accuracy (12,000 held-out images) is kept. Train loss and accuracy are measured after each epoch on
a fixed subset of 5,000 clean training images (no augmentation), to keep evaluation cheap."""),
    ("md", "One digit under a dozen random draws of each augmentation kind (`python -m analysis.augmentation`):"),
    ("code", """show("augmentation_examples.png")"""),
    ("code", """history = read_csv(R / "history.csv")
summary = json.loads((R / "train_summary.json").read_text())
ep = [int(h["epoch"]) for h in history]
fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
for key, label in (("train_loss", "train"), ("val_loss", "validation")):
    ax[0].plot(ep, [float(h[key]) for h in history], label=label)
for key, label in (("train_acc", f"train ({int(history[0]['train_eval_images']):,}-image subset)"), ("val_acc", "validation")):
    ax[1].plot(ep, [100 * float(h[key]) for h in history], label=label)
ax[0].set(xlabel="epoch", ylabel="cross-entropy", yscale="log"); ax[1].set(xlabel="epoch", ylabel="accuracy (%)")
ax[0].legend(); ax[1].legend(); plt.tight_layout(); plt.show()
print(f"best validation accuracy {100 * summary['best_val_accuracy']:.2f}% at epoch {summary['best_epoch']} "
      f"of {summary['epochs']}; training took {summary['train_time_s']:.1f} s "
      f"(median epoch {summary['epoch_time_median_s']:.2f} s, evaluation included in the wall time "
      f"{summary['wall_time_s']:.1f} s)")
if summary.get("eval_share") is not None:
    print(f"per-epoch evaluation ({summary['train_eval_images']:,} training + {summary['n_val']:,} validation images): "
          f"{100 * summary['eval_share']:.1f}% of the epoch time")
print("validation accuracy first reached:", ", ".join(f"{k} after {v:.1f} s" if v is not None else f"{k} never"
                                                    for k, v in summary.get("time_to_val_accuracy_s", {}).items()))
seeds = R / "default_seeds.json"
if seeds.exists():
    d = json.loads(seeds.read_text())
    print("default recipe over seeds", [r["seed"] for r in d["runs"]], ": test accuracy "
          f"{100 * d['test_accuracy']['mean']:.2f} +- {100 * d['test_accuracy']['sd']:.2f}%, validation "
          f"{100 * d['best_val_accuracy']['mean']:.2f} +- {100 * d['best_val_accuracy']['sd']:.2f}%")"""),
    ("md", "## 2. Evaluation on the test set"),
    ("code", """m = json.loads((R / "metrics.json").read_text())
print(f"test accuracy {100 * m['test_accuracy']:.2f}% ({m['n_correct']} / {m['n_test']})")
print(f"{'digit':>5} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>7}")
for d, row in m["per_class"].items():
    print(f"{d:>5} {row['precision']:9.4f} {row['recall']:7.4f} {row['f1']:7.4f} {row['support']:7d}")
print("most confused (true -> predicted):", ", ".join(f"{c['true']}->{c['pred']} ({c['count']})" if isinstance(c, dict) else f"{c[0]}->{c[1]} ({c[2]})" for c in m["most_confused"]))"""),
    ("code", """show("confusion_matrix.png", 560)"""),
    ("md", "Misclassified test digits (most confident mistakes first) and the first layer's weights, one 28x28 image per hidden unit:"),
    ("code", """show("misclassified.png"); show("first_layer_weights.png")"""),
    ("md", "## 3. Experiments\n\nMean ± standard deviation over seeds, from `results/experiments.csv`."),
    ("code", """rows = read_csv(R / "experiments.csv")
groups = {}
for r in rows:
    groups.setdefault((r["experiment"], r["setting"]), []).append(r)
last = None
for (exp, setting), rs in groups.items():
    if exp != last:
        print(f"\\n{exp}"); last = exp
    val = np.array([float(r["best_val_acc"]) for r in rs]) * 100
    test = np.array([float(r["test_acc"]) for r in rs]) * 100
    status = {r["status"] for r in rs}
    sd = lambda a: a.std(ddof=1) if len(a) > 1 else float("nan")
    print(f"  {setting:<34} val {np.nanmean(val):6.2f} ± {sd(val):4.2f}   test {np.nanmean(test):6.2f} ± {sd(test):4.2f}"
          f"   n={len(rs)} {'' if status == {'ok'} else sorted(status)}")"""),
    ("code", """for name in ("exp1_learning_rate.png", "exp2_depth.png", "exp3_activation.png", "exp4_init.png",
             "ext1_optimizers.png", "ext2_regularization.png"):
    if (P / name).exists():
        show(name, 900)"""),
    ("md", "## 4. Inside the network: activation patterns and saliency"),
    ("code", """stats = json.loads((R / "activation_stats.json").read_text())
print(json.dumps({k: v for k, v in stats.items() if not isinstance(v, (list, dict))}, indent=1))
show("activation_patterns.png", 900); show("saliency_correct.png", 700); show("saliency_misclassified.png", 700)"""),
    ("md", "## 5. Performance: hand-written kernels against NumPy/OpenBLAS"),
    ("code", """eb = read_csv(R / "epoch_benchmark.csv")
for r in eb:
    if r.get("epoch_s"):
        print(f"{r['impl']:<22} {r['dtype']:<8} epoch {float(r['epoch_s']):7.3f} s   ratio to NumPy {r['ratio_to_numpy']}")
show("epoch_benchmark.png", 800); show("kernel_benchmarks.png", 900); show("scaling.png", 900); show("step_breakdown.png", 800)"""),
    ("md", "The same epoch with every contender held to AVX2 (`results/avx2/`), the roofline of every kernel, and the scikit-learn comparison."),
    ("code", """ct = read_csv(R / "compile_times.csv")
print(f"cold start: {sum(float(r['exclusive_s']) for r in ct):.1f} s of compiling in {len(ct)} functions; the largest (own time):")
for r in ct[:8]:
    print(f"  {r['kernel']:<32} {float(r['exclusive_s']):5.2f} s own, {float(r['inclusive_s']):5.2f} s with its callees")"""),
    ("code", """for r in read_csv(R / "avx2" / "epoch_benchmark.csv"):
    if r.get("epoch_s"):
        print(f"AVX2 {r['impl']:<22} {r['dtype']:<8} epoch {float(r['epoch_s']):7.3f} s   ratio to NumPy {r['ratio_to_numpy']}")
for r in read_csv(R / "sklearn_benchmark.csv"):
    if r["seed"] == "mean":
        print(f"{r['impl']:<8} fit {float(r['fit_s']):6.2f} s  test accuracy {float(r['test_accuracy']):.4f}")
show("roofline.png", 900); show("sklearn_benchmark.png", 800)"""),
    ("md", "Do two consecutive runs agree? Every ratio to NumPy of two back-to-back benchmark runs, per path "
           "(`python -m profiling.agreement`), and the scaling curves held to AVX2."),
    ("code", """for sub in ("", "avx2"):
    rows = read_csv(R / sub / "run_agreement.csv")
    bad = [r for r in rows if r["agrees"] != "True"]
    print(f"{sub or 'avx512'}: {len(rows) - len(bad)} of {len(rows)} ratios within 10%")
    for r in bad:
        print(f"   {float(r['rel_diff']):+.0%}  {r['file']}: {r['measurement']} ({r['column']})")
show("run_agreement.png", 700); show("avx2/run_agreement.png", 700); show("avx2/scaling.png", 900)"""),
    ("md", "Each matrix product and fused layer called one at a time from Python at batch 64, against its "
           "NumPy equivalent, samples alternating (`results/products/`, `results/avx2/products/`; the Intel Xeon: `results/xeon/products/`)."),
    ("code", """for sub in ("products", "avx2/products", "xeon/products"):
    print(sub)
    for r in read_csv(R / sub / "kernel_benchmarks.csv"):
        print(f"  {r['net']:<17} {r['kernel']:<26} {r['layer']} {r['shape']:<13} "
              f"{float(r['kernel_gflops']):6.1f} GFLOP/s, np.dot {float(r['numpy_gflops']):6.1f}: x{float(r['speedup_vs_numpy']):.2f}")"""),
    ("md", "The same epoch on another machine of this kind, an Intel Xeon (Ice Lake, AVX-512), on both paths "
           "(`results/xeon/`, `results/xeon/avx2/`; its products called one at a time are in the list above), "
           "and its cold start on two processes, the epoch calling its kernels by address (`results/xeon/startup/`, "
           "`results/xeon/avx2/startup/`). "
           "Printed rather than drawn, to keep this notebook small: the figures are `plots/xeon/`."),
    ("code", """for sub in ("xeon", "xeon/avx2"):
    for r in read_csv(R / sub / "epoch_benchmark.csv"):
        if r.get("epoch_s"):
            print(f"{sub:<9} {r['impl']:<32} {r['dtype']:<8} epoch {float(r['epoch_s']):7.3f} s   ratio to NumPy {r['ratio_to_numpy'][:5]}")
    for kind in ("batch", "width"):
        print(f"{sub:<9} scaling over {kind}, kernels / NumPy:", "  ".join(
            f"{r['batch' if kind == 'batch' else 'hidden']}: {float(r['ratio_to_numpy']):.2f}"
            for r in read_csv(R / sub / f"scaling_{kind}.csv") if r["impl"].startswith("kernels")))
    st = read_csv(R / sub / "startup" / "startup.csv")     # cold start on two processes (network/warmup.py)
    cold = [r for r in st if "cold" in r["impl"]]
    print(f"{sub:<9} first epoch with an empty cache, two processes:",
          ", ".join(f"{float(r['first_epoch_s']):.1f}" for r in cold), "s; the helper's share ready after",
          ", ".join(f"{float(r['helper_ready_s']):.1f}" for r in cold), "s")
    for proc in ("main", "helper"):
        ct = [r for r in read_csv(R / sub / "startup" / "compile_times.csv") if r["process"] == proc]
        print(f"{'':<9}   {proc}: {sum(float(r['exclusive_s']) for r in ct):.1f} s of compiling; the largest:",
              ", ".join(f"{r['kernel']} {float(r['exclusive_s']):.2f}" for r in ct[:3]))"""),
    ("md", "Validation accuracy against wall time, 3 seeds each (`python scripts/time_to_accuracy.py`)."),
    ("code", """print(json.dumps(json.loads((R / "time_to_accuracy.json").read_text()), indent=1)[:1500])
show("time_to_accuracy.png", 800)"""),
    ("md", """## 6. Discussion

The conclusions drawn from these results are written up in `REPORT.md`; this notebook is the
place to look at the figures behind them and to recompute any number from the files."""),
]


def build():
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for kind, src in CELLS:
        nb.cells.append(nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src))
    return nb


def execute(nb, cwd=ROOT, timeout=300):
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(prog="python scripts/make_notebook.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-execute", action="store_true", help="write the notebook without running it")
    p.add_argument("--out", default=str(ROOT / "analysis.ipynb"))
    a = p.parse_args(argv)
    try:
        import nbformat
        nb = build()
        if not a.no_execute:
            nb = execute(nb)
    except ImportError as e:
        print(f"error: {e.name} is missing; install the notebook extra: pip install nbformat nbclient ipykernel",
              file=sys.stderr)
        return 2
    from network.io import atomic_write
    atomic_write(a.out, lambda f: f.write(nbformat.writes(nb).encode()))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
