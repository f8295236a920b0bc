"""Do two runs of a benchmark agree? Compares every ratio two result directories share.

    python -m profiling.agreement RUN1_DIR RUN2_DIR [--tolerance 0.10] [--out results/run_agreement.csv]
        [--plot plots/run_agreement.png] [--label avx512]

RUN1_DIR and RUN2_DIR each hold the CSVs of one run of the benchmarks (epoch_benchmark.csv,
scaling_batch.csv, scaling_width.csv, kernel_benchmarks.csv: whichever both have). A ratio is a
column comparing an implementation with NumPy in the same run (ratio_to_numpy,
paired_ratio_to_numpy, speedup_vs_numpy); rows are matched on the columns that name the
measurement (implementation, dtype, batch, width, kernel, layer). A pair agrees when the second
run's ratio is within --tolerance of the first's (|r2 / r1 - 1| <= 0.10 by default: the bar of
issue 10). Writes one row per pair (file, measurement, column, both ratios, relative difference,
agrees) and a scatter of run 2 against run 1 with the tolerance band; prints how many agree.

Exit status 0 when the comparison was written (whether or not every ratio agrees), 2 on bad input
(a directory missing, or no ratio the two runs share).
"""
import math
import os
import sys

from profiling.common import PLOTS_DIR, RESULTS_DIR, make_parser, read_csv, save_figure, write_csv

FILES = ("epoch_benchmark.csv", "scaling_batch.csv", "scaling_width.csv", "kernel_benchmarks.csv")
RATIOS = ("ratio_to_numpy", "paired_ratio_to_numpy", "speedup_vs_numpy")
KEYS = ("impl", "dtype", "n", "batch", "net", "hidden", "op", "case", "kernel", "layer", "shape")
FIELDS = ["label", "file", "measurement", "column", "run1", "run2", "rel_diff", "agrees"]


def _number(text):
    try:
        v = float(text)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def compare(dir1, dir2, tolerance=0.10, label=""):
    """Rows (dicts of FIELDS) for every ratio found in both runs, in file and row order."""
    rows = []
    for name in FILES:
        p1, p2 = os.path.join(dir1, name), os.path.join(dir2, name)
        if not (os.path.isfile(p1) and os.path.isfile(p2)):
            continue
        first, second = read_csv(p1), read_csv(p2)
        if not first:
            continue
        keys = [k for k in KEYS if k in first[0]]
        later = {tuple(r.get(k, "") for k in keys): r for r in second}
        for r1 in first:
            key = tuple(r1.get(k, "") for k in keys)
            r2 = later.get(key)
            if r2 is None:
                continue
            for col in RATIOS:
                a, b = _number(r1.get(col)), _number(r2.get(col))
                if a is None or b is None or (a == 1.0 and b == 1.0):   # NumPy against itself
                    continue
                diff = b / a - 1
                rows.append({"label": label, "file": name,
                             "measurement": " ".join(f"{k}={v}" for k, v in zip(keys, key) if v),
                             "column": col, "run1": a, "run2": b, "rel_diff": diff,
                             "agrees": abs(diff) <= tolerance})
    return rows


def plot(rows, tolerance, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    files = sorted({r["file"] for r in rows})
    for f, marker in zip(files, "os^Dv"):
        sel = [r for r in rows if r["file"] == f]
        ax.scatter([r["run1"] for r in sel], [r["run2"] for r in sel], marker=marker, s=22,
                   alpha=0.75, label=f"{f} ({sum(r['agrees'] for r in sel)}/{len(sel)} agree)")
    lo = min(min(r["run1"], r["run2"]) for r in rows) * 0.8
    hi = max(max(r["run1"], r["run2"]) for r in rows) * 1.25
    xs = [lo, hi]
    ax.plot(xs, xs, color="k", lw=0.8)
    ax.fill_between(xs, [x * (1 - tolerance) for x in xs], [x * (1 + tolerance) for x in xs],
                    color="0.85", zorder=0, label=f"within {tolerance:.0%}")
    ax.set(xscale="log", yscale="log", xlim=xs, ylim=xs, xlabel="run 1: ratio to NumPy",
           ylabel="run 2: ratio to NumPy",
           title=f"Two consecutive benchmark runs: {sum(r['agrees'] for r in rows)} of "
                 f"{len(rows)} ratios agree within {tolerance:.0%}")
    ax.legend(fontsize=8, loc="upper left")
    save_figure(fig, path)
    plt.close(fig)


def main(argv=None):
    ap = make_parser("python -m profiling.agreement", __doc__)
    ap.add_argument("run1", help="directory of the first run's CSVs")
    ap.add_argument("run2", help="directory of the second run's CSVs")
    ap.add_argument("--tolerance", type=float, default=0.10, help="relative difference allowed (default 0.10)")
    ap.add_argument("--label", default="", help="a name for this pair of runs (e.g. the instruction set)")
    ap.add_argument("--out", default=os.path.join(RESULTS_DIR, "run_agreement.csv"))
    ap.add_argument("--plot", default=os.path.join(PLOTS_DIR, "run_agreement.png"))
    ap.add_argument("--no-plot", action="store_true")
    a = ap.parse_args(argv)
    for d in (a.run1, a.run2):
        if not os.path.isdir(d):
            ap.exit(2, f"error: {d} is not a directory\n")
    if not 0 < a.tolerance < 1:
        ap.exit(2, f"error: --tolerance must be between 0 and 1, got {a.tolerance}\n")
    rows = compare(a.run1, a.run2, a.tolerance, a.label)
    if not rows:
        ap.exit(2, f"error: {a.run1} and {a.run2} share no ratio (files looked for: {', '.join(FILES)})\n")
    write_csv(a.out, rows, FIELDS)
    if not a.no_plot:
        plot(rows, a.tolerance, a.plot)
    worst = max(rows, key=lambda r: abs(r["rel_diff"]))
    print(f"{sum(r['agrees'] for r in rows)} of {len(rows)} ratios agree within {a.tolerance:.0%}; "
          f"largest difference {worst['rel_diff']:+.0%} ({worst['file']}: {worst['measurement']}, "
          f"{worst['column']}); wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
