"""Markdown results tables from results/experiments.csv, for REPORT.md.

    python -m experiments.tables                              # -> results/experiment_tables.md
    python -m experiments.tables --update-report REPORT.md    # also rewrite REPORT.md's table block
    python -m experiments.tables --check REPORT.md            # exit 1 if REPORT.md disagrees with the CSV

One table per experiment, one row per configuration (and per epochs / training-set size, should the
CSV hold runs of several lengths). Every number is computed from the CSV rows of that configuration:

    Best val acc, Test acc   mean ± sample standard deviation (ddof = 1) over seeds, in percent;
                             test accuracy is that of each run's best-validation model
    Best epoch               mean epoch of the best validation accuracy
    Final train loss         mean ± std of the last epoch's training cross-entropy (no dropout)
    Train − val gap          mean ± std of (train accuracy - validation accuracy) at the last epoch,
                             in percentage points: the overfitting gap
    Wall time / run          mean seconds per run (training, per-epoch evaluation, test evaluation)

Diverged runs (loss became NaN/inf) are counted in "Runs" and left out of the means of the values
they lack; a cell with no finite value shows "—". A single run shows its value without "± std".
`--update-report` replaces everything between the lines `<!-- tables:begin -->` and
`<!-- tables:end -->` of the report and leaves the rest untouched; `--check` re-derives every
table from the CSV and lists each cell of the report that differs.
"""
import math
import re
import sys
from collections import OrderedDict
from pathlib import Path

from experiments.store import mean_std, to_float
from network.cli import CLIError

BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"
COLUMNS = ("Setting", "Runs", "Best val acc (%)", "Test acc (%)", "Best epoch", "Final train loss",
           "Train − val gap (pp)", "Epochs", "Train images", "Wall time / run (s)")
NONE = "—"
HEADING = re.compile(r"^###\s+.*`([A-Za-z0-9_.-]+)`\s*$")


# --------------------------------------------------------------------------- statistics

def summarize(rows):
    """[(experiment, title, question, [group, ...])] in the grid's order; a group is a dict of the
    setting, its run counts and (mean, std, n) statistics."""
    from experiments.grid import EXPERIMENTS
    from experiments.store import FINISHED
    order = {name: i for i, name in enumerate(EXPERIMENTS)}
    label_order = {name: [lbl for lbl, _ in e.resolved()] for name, e in EXPERIMENTS.items()}
    groups = OrderedDict()
    for r in rows:
        if r.get("status") not in FINISHED:
            continue
        key = (r["experiment"], r["setting"], int(to_float(r["epochs"])), int(to_float(r["n_train"])))
        groups.setdefault(key, []).append(r)

    def sort_key(key):
        exp, label, epochs, n = key
        labels = label_order.get(exp, [])
        return (order.get(exp, len(order)), exp, labels.index(label) if label in labels else len(labels),
                epochs, n)

    tables = OrderedDict()
    for key in sorted(groups, key=sort_key):
        exp, label, epochs, n_train = key
        g = groups[key]
        pct = lambda col: mean_std([100 * to_float(r[col]) for r in g])  # noqa: E731
        stats = {"setting": label, "runs": len(g), "diverged": sum(r["status"] == "diverged" for r in g),
                 "val": pct("best_val_acc"), "test": pct("test_acc"),
                 "best_epoch": mean_std([to_float(r["best_epoch"]) for r in g]),
                 "train_loss": mean_std([to_float(r["final_train_loss"]) for r in g]),
                 "gap": mean_std([100 * (to_float(r["final_train_acc"]) - to_float(r["final_val_acc"])) for r in g]),
                 "epochs": epochs, "n_train": n_train,
                 "wall": mean_std([to_float(r["wall_time_s"]) for r in g])}
        tables.setdefault(exp, []).append(stats)
    out = []
    for exp, gs in tables.items():
        e = EXPERIMENTS.get(exp)
        out.append((exp, e.title if e else exp, e.question if e else "", gs))
    return out


# --------------------------------------------------------------------------- rendering

def fmt_pm(stat, digits):
    mean, std, _ = stat
    if not math.isfinite(mean):
        return NONE
    return f"{mean:.{digits}f}" if not math.isfinite(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _cells(g):
    runs = str(g["runs"]) + (f" ({g['diverged']} diverged)" if g["diverged"] else "")
    wall = g["wall"][0]
    return (g["setting"], runs, fmt_pm(g["val"], 2), fmt_pm(g["test"], 2),
            NONE if not math.isfinite(g["best_epoch"][0]) else f"{g['best_epoch'][0]:.1f}",
            fmt_pm(g["train_loss"], 4), fmt_pm(g["gap"], 2), str(g["epochs"]), f"{g['n_train']:,}",
            NONE if not math.isfinite(wall) else f"{wall:.1f}")


def grid_line(rows):
    """One sentence with the whole grid's run count and summed wall time, from the CSV."""
    from experiments.store import FINISHED
    done = [r for r in rows if r.get("status") in FINISHED]
    total = sum(to_float(r["wall_time_s"]) for r in done if math.isfinite(to_float(r["wall_time_s"])))
    div = sum(r["status"] == "diverged" for r in done)
    exps = len({r["experiment"] for r in done})
    return (f"Whole grid: {len(done)} runs ({div} diverged) in {exps} experiments; "
            f"total run wall time {total:.0f} s ({total / 60:.1f} min).")


def render(rows, plots_prefix="plots/"):
    """The markdown block: one table per experiment, then the whole-grid line."""
    from experiments.plots import PLOT_FILES
    parts = ["<!-- generated by python -m experiments.tables from results/experiments.csv; do not edit by hand -->", ""]
    for exp, title, question, groups in summarize(rows):
        parts.append(f"### {title} — `{exp}`")
        parts.append("")
        if question:
            parts.append(question)
            parts.append("")
        parts.append("| " + " | ".join(COLUMNS) + " |")
        parts.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|")
        for g in groups:
            parts.append("| " + " | ".join(_cells(g)) + " |")
        parts.append("")
        if exp in PLOT_FILES:
            parts.append(f"Plot: `{plots_prefix}{PLOT_FILES[exp]}`")
            parts.append("")
    parts.append(grid_line(rows))
    return "\n".join(parts) + "\n"


# --------------------------------------------------------------------------- parsing and checking

def parse_tables(text):
    """{(experiment, setting, epochs, n_train): {column: cell text}} for every table under a
    `### ... `name`` heading in `text` (a rendered block or a whole report)."""
    out, exp, header = {}, None, None
    for line in text.splitlines():
        m = HEADING.match(line.strip())
        if m:
            exp, header = m.group(1), None
            continue
        s = line.strip()
        if not (exp and s.startswith("|") and s.endswith("|")):
            header = None   # a table ends at the first line that is not a table row
            continue
        cells = [c.strip() for c in s[1:-1].split("|")]
        if header is None:
            header = cells
        elif all(set(c) <= set("-: ") for c in cells):
            continue
        else:
            row = dict(zip(header, cells))
            try:
                key = (exp, row["Setting"], int(row["Epochs"]), int(row["Train images"].replace(",", "")))
            except (KeyError, ValueError):
                raise CLIError(f"table row under `{exp}` lacks Setting/Epochs/Train images: {s!r}") from None
            out[key] = row
    return out


def parse_number(cell):
    """'97.12 ± 0.08' -> (97.12, 0.08); '97.12' -> (97.12, None); '—' -> None."""
    cell = cell.strip()
    if cell == NONE:
        return None
    parts = [p.strip() for p in cell.split("±")]
    return float(parts[0].replace(",", "")), (float(parts[1]) if len(parts) > 1 else None)


def report_block(text, name="report"):
    """The text between the markers; CLIError if they are missing or out of order."""
    i, j = text.find(BEGIN), text.find(END)
    if i < 0 or j < 0 or j < i:
        raise CLIError(f"{name} has no '{BEGIN}' ... '{END}' block; add the two marker lines where "
                          "the tables belong")
    return text[i + len(BEGIN):j]


def check_report(text, rows, name="report"):
    """Every difference between the report's tables and the tables derived from `rows`, as lines."""
    block = report_block(text, name)
    expected, got = parse_tables(render(rows)), parse_tables(block)
    problems = []
    for key in expected:
        if key not in got:
            problems.append(f"{key[0]} | {key[1]} (epochs {key[2]}, {key[3]} images): missing from {name}")
            continue
        for col in COLUMNS:
            if got[key].get(col) != expected[key][col]:
                problems.append(f"{key[0]} | {key[1]} | {col}: {name} says {got[key].get(col)!r}, "
                                f"the CSV gives {expected[key][col]!r}")
    for key in got:
        if key not in expected:
            problems.append(f"{key[0]} | {key[1]} (epochs {key[2]}, {key[3]} images): in {name} but not in the CSV")
    line = grid_line(rows)
    if line not in block:
        problems.append(f"{name}: whole-grid line is missing or stale; the CSV gives {line!r}")
    return problems


def update_report(text, block, name="report"):
    """`text` with the marker block replaced by `block` (everything else unchanged)."""
    report_block(text, name)
    i, j = text.find(BEGIN) + len(BEGIN), text.find(END)
    return text[:i] + "\n" + block + text[j:]


# --------------------------------------------------------------------------- CLI

def main(argv=None):
    from experiments.grid import ExperimentError
    from experiments.store import read_results
    from network.cli import OneLineParser, run_cli
    from network.io import atomic_write
    p = OneLineParser(prog="python -m experiments.tables", description=__doc__)
    p.add_argument("--csv", default="results/experiments.csv", help="results CSV (default %(default)s)")
    p.add_argument("--out", default="results/experiment_tables.md", help="tables file (default %(default)s)")
    p.add_argument("--update-report", metavar="REPORT", default=None,
                   help="replace the block between the table markers of this markdown file")
    p.add_argument("--check", metavar="REPORT", default=None,
                   help="only check this report's tables against the CSV; exit 1 on any difference")
    a = p.parse_args(argv)

    def body():
        if not Path(a.csv).exists():
            raise CLIError(f"{a.csv} does not exist; run `python -m experiments` first")
        rows = read_results(a.csv)
        if not any(r.get("status") in ("ok", "diverged") for r in rows):
            raise CLIError(f"{a.csv} holds no finished runs")
        if a.check:
            text = _read(a.check)
            problems = check_report(text, rows, a.check)
            for line in problems[:50]:
                print(line)
            if problems:
                print(f"{len(problems)} difference(s); regenerate with "
                      f"`python -m experiments.tables --update-report {a.check}`", file=sys.stderr)
                return 1
            print(f"{a.check}: every table matches {a.csv}")
            return 0
        block = render(rows)
        new_report = update_report(_read(a.update_report), block, a.update_report) if a.update_report else None
        try:
            atomic_write(a.out, lambda f: f.write(("## Experiment results\n\n" + block).encode()))
            print(f"tables: {a.out}")
            if new_report is not None:
                atomic_write(a.update_report, lambda f: f.write(new_report.encode()))
                print(f"updated the table block of {a.update_report}")
        except OSError as e:
            raise CLIError(f"cannot write output ({e.strerror or e}: {e.filename or ''})") from None
        return 0

    return run_cli(body, errors=(ExperimentError,))


def _read(path):
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise CLIError(f"cannot read {path} ({e.strerror or e})") from None


if __name__ == "__main__":
    sys.exit(main())
