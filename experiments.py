#!/usr/bin/env python
"""Run the report's experiment grids (assignment Part 4, extensions 1-2), resumably.

    python experiments.py                    # every experiment: 87 configurations x seeds, see --list
    python experiments.py exp1 exp3          # some of them (full names or short names)
    python experiments.py --list             # names, configurations, epochs, seeds, runs done
    python experiments.py exp2 --quick       # 1 epoch, seeds 0,1, 2,000 images, into results/quick
    python experiments.py --plots-only       # redraw plots and the summary from existing results

The grids are defined once, in network/experiments.py (EXPERIMENTS). Each finished run appends one
row to <results-dir>/experiments.csv (the file is rewritten atomically) and its per-epoch history
to <results-dir>/runs/<run_id>.csv; rerunning skips every run already in the CSV, so an
interrupted grid resumes where it stopped. Each experiment's plot goes to <plots-dir>/, and
<results-dir>/experiments_summary.json records run counts and the grid's wall time. Tables for the
report: `python make_report_tables.py`.
"""
import json
import re
import sys
import time
from pathlib import Path


def build_parser():
    from network.cli import OneLineParser
    p = OneLineParser(description=__doc__)
    p.add_argument("names", nargs="*", metavar="NAME", help="experiments to run (default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and how many runs are done, then exit")
    p.add_argument("--epochs", type=int, default=None, help="override every experiment's number of epochs")
    p.add_argument("--seeds", default=None, help="comma-separated seeds for every configuration (default 0,1,2)")
    p.add_argument("--subset", type=int, default=None, help="train every run on the first N images of the training split")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 1 epoch, seeds 0,1, 2,000 training images; results/quick and plots/quick "
                        "unless --results-dir / --plots-dir are given")
    p.add_argument("--results-dir", default=None, help="where experiments.csv, runs/ and the summary go (default results)")
    p.add_argument("--plots-dir", default=None, help="where the plots go (default plots)")
    p.add_argument("--plots-only", action="store_true", help="no training: redraw plots and summary from the results")
    p.add_argument("--data-dir", default=None, help="directory with the four MNIST IDX files; default: fetch and cache")
    p.add_argument("--cache-dir", default=None, help="MNIST cache directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar; one line per finished run")
    return p


def parse_overrides(a):
    """Validated (epochs, seeds, n_train) overrides; ExperimentError with one line on bad input."""
    from network.experiments import QUICK, ExperimentError
    epochs, n_train, seeds = a.epochs, a.subset, None
    if a.seeds is not None:
        try:
            seeds = tuple(int(s) for s in a.seeds.split(","))
        except ValueError:
            raise ExperimentError(f"--seeds must be comma-separated non-negative integers like 0,1,2; got {a.seeds!r}") from None
        if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
            raise ExperimentError(f"--seeds must be distinct non-negative integers; got {a.seeds!r}")
    if epochs is not None and epochs <= 0:
        raise ExperimentError(f"--epochs must be a positive integer; got {epochs}")
    if n_train is not None and n_train <= 0:
        raise ExperimentError(f"--subset must be a positive integer; got {n_train}")
    if a.quick:
        epochs = QUICK["epochs"] if epochs is None else epochs
        seeds = QUICK["seeds"] if seeds is None else seeds
        n_train = QUICK["n_train"] if n_train is None else n_train
    return epochs, seeds, n_train


def list_experiments(names, grid, rows_by_id):
    from network.experiments import EXPERIMENTS
    for name in names:
        e = EXPERIMENTS[name]
        runs = [r for r in grid if r.experiment == name]
        done = sum(r.run_id in rows_by_id for r in runs)
        cfg = runs[0].config
        seeds = sorted({r.seed for r in runs})
        print(f"{name} ({e.short}): {e.title}")
        print(f"    {len(runs) // len(seeds)} configurations x seeds {seeds} = {len(runs)} runs, "
              f"{cfg['epochs']} epochs, {cfg['n_train'] or 'all 48000'} training images; {done} done")
        labels = list(dict.fromkeys(r.label for r in runs))
        print("    " + "; ".join(labels))
    print(f"total: {len(grid)} runs, {sum(r.run_id in rows_by_id for r in grid)} done")


def make_plots(names, grid, rows_by_id, runs_dir, plots_dir):
    from network.experiments import EXPERIMENTS, PLOT_FILES, group_runs, plot_experiment
    written = []
    for name in names:
        groups = group_runs(name, grid, rows_by_id, runs_dir)
        if any(g["rows"] for g in groups.values()):
            written.append(plot_experiment(EXPERIMENTS[name], groups, Path(plots_dir) / PLOT_FILES[name]))
    return written


def write_summary(path, summary):
    from network.io import atomic_write
    atomic_write(path, lambda f: f.write((json.dumps(summary, indent=2) + "\n").encode()))


def _postfix(line):
    """'epoch   3/10  train loss ... val loss 0.1 acc 0.9700 ...' -> 'epoch 3/10 val acc 0.9700'."""
    m = re.search(r"epoch\s+(\d+/\d+).*val loss \S+ acc (\S+)", line)
    return f"epoch {m.group(1)} val acc {m.group(2)}" if m else ""


def run_grid(a, names, grid, overrides, results_dir, plots_dir):
    from tqdm.auto import tqdm

    from network.experiments import (PLOT_FILES, append_result, build_grid, load_data, read_results, run_one,
                                     summarize_grid)
    t_start = time.perf_counter()
    csv_path, runs_dir = results_dir / "experiments.csv", results_dir / "runs"
    rows_by_id = {r["run_id"]: r for r in read_results(csv_path)}
    todo = [r for r in grid if r.run_id not in rows_by_id]
    print(f"{len(grid)} runs in {len(names)} experiment(s): {len(grid) - len(todo)} already done "
          f"(skipped), {len(todo)} to run; results in {csv_path}", flush=True)
    executed, plotted = 0, []
    if todo and not a.plots_only:
        data = load_data(a.data_dir, a.cache_dir, progress=not a.no_progress)
        bar = tqdm(total=len(grid), initial=len(grid) - len(todo), unit="run", disable=a.no_progress,
                   dynamic_ncols=True)
        try:
            for run in todo:
                bar.set_description(f"{run.experiment.split('_')[0]} {run.label} seed {run.seed}")
                row = run_one(run, data, runs_dir, log=lambda line: bar.set_postfix_str(_postfix(line)))
                append_result(csv_path, row)
                rows_by_id[run.run_id] = {k: str(v) for k, v in row.items()}
                executed += 1
                bar.update(1)
                msg = (f"{run.experiment} | {run.label} | seed {run.seed}: {row['status']}, best val "
                       f"{row['best_val_acc']:.4f} (epoch {row['best_epoch'] or '-'}), "
                       f"test {row['test_acc']:.4f}, {row['wall_time_s']:.1f} s")
                if a.no_progress:
                    print(msg, flush=True)
                else:
                    tqdm.write(msg)
                if all(r.run_id in rows_by_id for r in grid if r.experiment == run.experiment):
                    plotted += make_plots([run.experiment], grid, rows_by_id, runs_dir, plots_dir)
        finally:
            bar.close()
    rows_by_id = {r["run_id"]: r for r in read_results(csv_path)}
    done_plots = {p.name for p in plotted}
    plots = plotted + make_plots([n for n in names if PLOT_FILES[n] not in done_plots], grid, rows_by_id,
                                 runs_dir, plots_dir)
    session = {"experiments": names, "runs_executed": executed, "runs_skipped": len(grid) - len(todo),
               "wall_time_s": time.perf_counter() - t_start,
               "command": "python experiments.py " + " ".join(sys.argv[1:])}
    # the summary covers every experiment under the same overrides, so partial runs show as incomplete
    full = build_grid(None, *overrides)
    summary = summarize_grid(full, rows_by_id, session)
    write_summary(results_dir / "experiments_summary.json", summary)
    for p in plots:
        print(f"plot: {p}")
    print(f"{executed} run(s) executed in {session['wall_time_s']:.1f} s; grid total "
          f"{summary['finished_runs']}/{summary['total_runs']} runs, {summary['total_wall_time_s'] / 60:.1f} min "
          f"of run wall time; summary {results_dir / 'experiments_summary.json'}")


def main(argv=None):
    parser = build_parser()
    a = parser.parse_args(argv)
    from network.experiments import ExperimentError, build_grid, read_results, select
    try:
        names = select(a.names)
        overrides = parse_overrides(a)
        grid = build_grid(names, *overrides)
        results_dir = Path(a.results_dir or ("results/quick" if a.quick else "results"))
        plots_dir = Path(a.plots_dir or ("plots/quick" if a.quick else "plots"))
        if a.list:
            rows = {r["run_id"]: r for r in read_results(results_dir / "experiments.csv")}
            list_experiments(names, grid, rows)
            return 0
    except ExperimentError as e:
        parser.exit(2, f"error: {e}\n")
    from data import DataError
    from network.io import ModelFileError
    try:
        run_grid(a, names, grid, overrides, results_dir, plots_dir)
    except (DataError, ModelFileError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write output ({e.strerror or e}: {e.filename or ''})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; finished runs are kept in the CSV; rerun the same command to resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
