"""The experiments package: the report's experiment grids (assignment Part 4 and extensions 1-2),
defined in one place, and the machinery that runs them resumably, fans them out and plots them.

A *grid* is an experiment name -> `Experiment` (shared base settings + a list of configurations);
every configuration runs once per seed. One *run* = one network trained with `network.training.fit`
on the fixed 80/20 stratified split of the 60,000 training images (split seed 0 for every run, so
all configurations are compared on the same validation set; the seed varies the initial weights,
the shuffling and the dropout masks). The model with the best validation accuracy is saved to a
temporary directory, reloaded, and evaluated once on the test set: the test set never selects.

Results, one row per run, go to ``<results>/experiments.csv`` (the whole file rewritten atomically
after each run); per-epoch histories to ``<results>/runs/<run_id>.csv``. A run's id is a hash of
everything that determines it (experiment, full configuration, seed, epochs, training-set size,
split), so rerunning the same grid skips finished runs, and changing any setting makes new ones.

A run whose loss becomes NaN/inf (`TrainingDiverged`) is a result, not a crash: its row has
``status=diverged``, the epoch it diverged at, and the best validation model from before that (or
NaN accuracies when it diverged in the first epoch).

Modules: ``grid`` (the experiments, run ids), ``store`` (results CSV, histories, statistics),
``runner`` (one run, the grid serially or over processes / a Dask cluster), ``plots``, ``tables``
(the report's markdown tables: ``python -m experiments.tables``); ``python -m experiments`` runs
the grid.
"""
from experiments.grid import (BASE, DEFAULT_SEEDS, EXPERIMENTS, QUICK, SETTINGS, SPLIT, Experiment,
                              ExperimentError, Run, build_grid, run_id, select)
from experiments.store import (FIELDS, FINISHED, append_result, mean_std, read_history, read_results,
                               to_float, write_results)

__all__ = ["BASE", "DEFAULT_SEEDS", "EXPERIMENTS", "QUICK", "SETTINGS", "SPLIT", "Experiment", "ExperimentError",
           "Run", "build_grid", "run_id", "select", "FIELDS", "FINISHED", "append_result", "mean_std",
           "read_history", "read_results", "to_float", "write_results"]
