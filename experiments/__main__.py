"""Run the report's experiment grids (assignment Part 4, extensions 1-2), resumably.

    python -m experiments                    # every experiment: 87 configurations x seeds, see --list
    python -m experiments exp1 exp3          # some of them (full names or short names)
    python -m experiments --list             # names, configurations, epochs, seeds, runs done
    python -m experiments exp2 --quick       # 1 epoch, seeds 0,1, 2,000 images, into results/quick
    python -m experiments --plots-only       # redraw plots and the summary from existing results
    python -m experiments --jobs 2           # two runs at a time, in two worker processes
    python -m experiments --backend dask --scheduler tcp://HOST:8786   # on a Dask cluster

The grids are defined once, in experiments/grid.py (EXPERIMENTS). Each finished run appends one
row to <results-dir>/experiments.csv (the file is rewritten atomically) and its per-epoch history
to <results-dir>/runs/<run_id>.csv; rerunning skips every run already in the CSV, so an
interrupted grid resumes where it stopped. Each experiment's plot goes to <plots-dir>/, and
<results-dir>/experiments_summary.json records run counts and the grid's wall time. Tables for the
report: `python -m experiments.tables`.

With --jobs N the runs go to N worker processes (joblib), each kernel on cores/N threads; with
--backend dask to the Dask cluster whose scheduler is at --scheduler (joblib's dask backend; needs
the `dask` extra). Rows and histories are the same as a serial run's (only the timing columns
differ); the CSV is written by this process after each finished run, so Ctrl-C keeps every
finished run and rerunning the command skips them.
"""
import os
import sys
from pathlib import Path


def build_parser():
    from experiments.runner import BACKENDS
    from network.cli import OneLineParser, positive_int
    p = OneLineParser(prog="python -m experiments", description=__doc__)
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
    p.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                   help="runs at a time: N worker processes (default 1, in this process); with --backend dask, "
                        "at most N runs at a time on the cluster (default: one per worker thread)")
    p.add_argument("--backend", choices=BACKENDS, default="local",
                   help="where the runs execute: this machine (default) or a Dask cluster (needs --scheduler)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="the Dask scheduler's address, e.g. tcp://10.0.0.5:8786 (with --backend dask)")
    return p


def parse_overrides(a):
    """Validated (epochs, seeds, n_train) overrides; ExperimentError with one line on bad input."""
    from experiments.grid import QUICK, ExperimentError
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
    if a.backend == "dask" and not a.scheduler:
        raise ExperimentError("--backend dask needs --scheduler ADDRESS (e.g. tcp://HOST:8786)")
    if a.scheduler and a.backend != "dask":
        raise ExperimentError("--scheduler is only used with --backend dask")
    if a.jobs is None:
        a.jobs = 1 if a.backend == "local" else -1
    if a.quick:
        epochs = QUICK["epochs"] if epochs is None else epochs
        seeds = QUICK["seeds"] if seeds is None else seeds
        n_train = QUICK["n_train"] if n_train is None else n_train
    return epochs, seeds, n_train


def check_results_dir(results_dir):
    """The results directory is also an input (its experiments.csv is read to resume): when it
    exists it must be a directory, and an existing experiments.csv a regular file (a named pipe
    would block the reader). CLIError with one line otherwise."""
    from network.cli import CLIError, check_input_file
    if results_dir.exists() and not results_dir.is_dir():
        raise CLIError(f"--results-dir {str(results_dir)!r} exists and is not a directory")
    csv = results_dir / "experiments.csv"
    if os.path.lexists(csv):
        check_input_file(csv, "--results-dir: experiments.csv")


def list_experiments(names, grid, rows_by_id):
    from experiments.grid import EXPERIMENTS
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


def main(argv=None):
    parser = build_parser()
    a = parser.parse_args(argv)
    from data import DataError, check_inputs
    from experiments.grid import ExperimentError, build_grid, select
    from experiments.runner import run_grid
    from experiments.store import read_results
    from network.cli import CLIError, run_cli
    from network.io import ModelFileError

    def body():
        try:
            check_inputs(a.data_dir, a.cache_dir)
            names = select(a.names)
            overrides = parse_overrides(a)
            grid = build_grid(names, *overrides)
            results_dir = Path(a.results_dir or ("results/quick" if a.quick else "results"))
            plots_dir = Path(a.plots_dir or ("plots/quick" if a.quick else "plots"))
            check_results_dir(results_dir)
            if a.list:
                rows = {r["run_id"]: r for r in read_results(results_dir / "experiments.csv")}
                list_experiments(names, grid, rows)
                return 0
        except ExperimentError as e:
            raise CLIError(str(e)) from None
        try:
            run_grid(a, names, grid, overrides, results_dir, plots_dir)
        except KeyboardInterrupt:
            print("\ninterrupted; finished runs are kept in the CSV; rerun the same command to resume",
                  file=sys.stderr)
            return 130
        return 0

    return run_cli(body, errors=(DataError, ModelFileError, ValueError),
                   oserror=lambda e: f"cannot write output ({e.strerror or e}: {e.filename or ''})")


if __name__ == "__main__":
    sys.exit(main())
