#!/usr/bin/env python
"""Train the MNIST network on the hand-written Numba kernels.

    python train.py                       # the default run: 784-128-64-10 ReLU, Adam, elastic warps
    python train.py --optimizer sgd --lr 0.01 --schedule constant --dropout 0 --augment none

Loads and verifies MNIST (see the data package), splits the 60,000 training images 80/20 into
train/validation (stratified, seeded), trains, and after every epoch evaluates without dropout or
augmentation on the validation split and on a fixed 5,000-image subset of the training split. The
test set is not touched: run evaluate.py for that.

Where a run writes: the best model by validation accuracy goes to --out; its side outputs follow it.
  the default run (--out models/best_model.npz): results/history.csv, results/train_summary.json,
      plots/learning_curves.png and models/checkpoint.npz (the committed results);
  any other --out DIR/NAME.npz: DIR/NAME.history.csv, DIR/NAME.summary.json, DIR/NAME.curves.png
      and DIR/NAME.checkpoint.npz, beside the model, so runs never overwrite each other's files.
--history / --summary / --plot / --checkpoint name a file explicitly. The checkpoint records where
its run writes, and --resume CHECKPOINT continues writing there.

Exit status: 0 done; 2 bad input (one `error:` line, nothing written): a bad value, a --data-dir
that is missing or fails verification, an input that is not a regular file, an unwritable output;
3 training diverged (the loss became non-finite or exploded above 10 x ln 10); 128+N on signal N.
"""
import json
import math
import os
import sys
import time

from network.cli import CLIError

DEFAULT_OUT = "models/best_model.npz"
#: the default run's side outputs (committed); any other --out gets OUT's stem + SIDE_SUFFIX
DEFAULT_SIDE = {"history": "results/history.csv", "summary": "results/train_summary.json",
                "plot": "plots/learning_curves.png", "checkpoint": "models/checkpoint.npz"}
SIDE_SUFFIX = {"history": ".history.csv", "summary": ".summary.json", "plot": ".curves.png",
               "checkpoint": ".checkpoint.npz"}
OUTPUTS = ("out",) + tuple(DEFAULT_SIDE)

# The default recipe (chosen on validation accuracy, mean over seeds 0-2; REPORT.md section 3): Adam with a one-cycle
# schedule peaking at 0.005, 70 epochs of affine + elastic warps, no dropout (the warps regularise)
DEFAULTS = dict(layers="784,128,64,10", activation="relu", init="he", optimizer="adam", lr=0.005,
                schedule="onecycle", batch_size=64, epochs=70, seed=0, val_split=0.2, l2=0.0,
                dropout=0.0, augment_shift=2, augment="elastic", rotate=10.0, scale=0.1, shear=0.15,
                elastic_sigma=4.0, elastic_alpha=1.5)


def build_parser():
    from network.initializers import INITS
    from network.model import ACTIVATIONS, OPTIMIZERS
    from network.training import SCHEDULES
    d = DEFAULTS
    from network.cli import OneLineParser
    p = OneLineParser(description=__doc__)
    p.add_argument("--layers", default=d["layers"], help="comma-separated layer sizes, 784 first and 10 last (default %(default)s)")
    p.add_argument("--activation", default=d["activation"], choices=ACTIVATIONS, help="hidden-layer activation (default %(default)s)")
    p.add_argument("--init", default=d["init"], choices=INITS, help="weight initialisation (default %(default)s)")
    p.add_argument("--optimizer", default=d["optimizer"], choices=OPTIMIZERS, help="update rule (default %(default)s)")
    p.add_argument("--lr", type=float, default=d["lr"], help="learning rate; the peak rate for --schedule onecycle (default %(default)s)")
    p.add_argument("--schedule", default=d["schedule"], choices=SCHEDULES, help="learning-rate schedule over the run (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=d["batch_size"], help="mini-batch size; one larger than the training set is clipped to it, with a warning (default %(default)s)")
    p.add_argument("--epochs", type=int, default=d["epochs"], help="passes over the training split (default %(default)s)")
    p.add_argument("--seed", type=int, default=d["seed"], help="seed for the split, weights, shuffling, dropout (default %(default)s)")
    p.add_argument("--val-split", type=float, default=d["val_split"], help="fraction of the 60,000 training images held out for validation (default %(default)s)")
    p.add_argument("--l2", type=float, default=d["l2"], help="L2 penalty on the weights (default %(default)s)")
    p.add_argument("--dropout", type=float, default=d["dropout"], help="dropout probability on hidden units, 0 = off (default %(default)s)")
    p.add_argument("--augment-shift", type=int, default=d["augment_shift"], help="random shifts of up to this many whole pixels (shift, affine, elastic), 0 = off (default %(default)s)")
    p.add_argument("--augment", default=d["augment"], choices=("none", "shift", "affine", "elastic"), help="training-image augmentation: shift = whole-pixel shifts; affine = rotation, scale, shear and shift, bilinear; elastic = affine plus a smooth random displacement field (default %(default)s)")
    p.add_argument("--rotate", type=float, default=d["rotate"], metavar="DEG", help="affine/elastic: rotations up to +-DEG degrees (default %(default)s)")
    p.add_argument("--scale", type=float, default=d["scale"], metavar="FRAC", help="affine/elastic: scale factors in [1-FRAC, 1+FRAC] (default %(default)s)")
    p.add_argument("--shear", type=float, default=d["shear"], metavar="S", help="affine/elastic: shear factor up to +-S (column shift per row, px/px) (default %(default)s)")
    p.add_argument("--elastic-sigma", type=float, default=d["elastic_sigma"], metavar="PX", help="elastic: Gaussian smoothing width of the displacement fields, pixels (default %(default)s)")
    p.add_argument("--elastic-alpha", type=float, default=d["elastic_alpha"], metavar="PX", help="elastic: RMS length of the displacements, pixels (default %(default)s)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"), help="floating-point type (default %(default)s)")
    p.add_argument("--data-dir", default=None, help="directory with the four MNIST IDX files (.gz or raw), always read and verified when given; default: the verified cache, else fetch")
    p.add_argument("--cache-dir", default=None, help="MNIST cache directory (default: $MNIST_CACHE_DIR or ~/.cache/mnist-from-scratch)")
    p.add_argument("--subset", type=int, default=None, help="train on only the first N images of the training split (quick runs)")
    p.add_argument("--out", default=DEFAULT_OUT, help="where the best model is saved; the side outputs go beside it (default %(default)s)")
    p.add_argument("--history", default=None, help="per-epoch history CSV (default: results/history.csv for the default run, else OUT's stem + .history.csv)")
    p.add_argument("--summary", default=None, help="run summary JSON (default: results/train_summary.json, else OUT's stem + .summary.json)")
    p.add_argument("--plot", default=None, help="learning-curve plot (default: plots/learning_curves.png, else OUT's stem + .curves.png)")
    p.add_argument("--checkpoint", default=None, help="full training state, written after every epoch and on Ctrl-C/SIGTERM (default: models/checkpoint.npz, else OUT's stem + .checkpoint.npz)")
    p.add_argument("--resume", default=None, metavar="CHECKPOINT", help="continue an interrupted run from its checkpoint, writing where that run wrote; its settings are reused (a training flag or output path that differs from the checkpoint's is an error)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (the per-epoch lines stay)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (images/s, GFLOP/s) and no per-epoch lines; the history CSV keeps them")
    return p


def check_args(a):
    """Validate every value before any data is loaded; raise CLIError with one line."""
    try:
        sizes = [int(s) for s in a.layers.split(",")]
    except ValueError:
        raise CLIError(f"--layers must be comma-separated integers like 784,128,64,10; got {a.layers!r}") from None
    if len(sizes) < 2 or any(s <= 0 for s in sizes):
        raise CLIError(f"--layers needs at least two positive sizes; got {a.layers!r}")
    if sizes[0] != 784 or sizes[-1] != 10:
        raise CLIError(f"--layers must start with 784 (28x28 pixels) and end with 10 (digits); got {a.layers!r}")
    if a.batch_size <= 0:
        raise CLIError(f"--batch-size must be a positive integer; got {a.batch_size}")
    if a.epochs <= 0:
        raise CLIError(f"--epochs must be a positive integer; got {a.epochs}")
    if not (math.isfinite(a.lr) and a.lr > 0):
        raise CLIError(f"--lr must be a positive finite number; got {a.lr}")
    if not (0 < a.val_split < 1):
        raise CLIError(f"--val-split must lie strictly between 0 and 1; got {a.val_split}")
    if not (math.isfinite(a.l2) and a.l2 >= 0):
        raise CLIError(f"--l2 must be a non-negative finite number; got {a.l2}")
    if not (0 <= a.dropout < 1):
        raise CLIError(f"--dropout must lie in [0, 1); got {a.dropout}")
    if not (0 <= a.augment_shift <= 8):
        raise CLIError(f"--augment-shift must be between 0 and 8 pixels; got {a.augment_shift}")
    for flag, hi in (("rotate", 180), ("scale", 0.99), ("shear", 2), ("elastic_sigma", 14), ("elastic_alpha", 14)):
        v = getattr(a, flag)
        if not (math.isfinite(v) and 0 <= v <= hi):
            raise CLIError(f"--{flag.replace('_', '-')} must lie in [0, {hi}]; got {v}")
    if a.seed < 0:
        raise CLIError(f"--seed must be a non-negative integer; got {a.seed}")
    if a.subset is not None and a.subset <= 0:
        raise CLIError(f"--subset must be a positive integer; got {a.subset}")
    return sizes


def check_inputs(a):
    """Every option that names an input, checked before anything is read or written: --data-dir
    (a directory with the four IDX files as regular files), --cache-dir, --resume (a regular file)."""
    from data import check_inputs as check_data
    from network.cli import check_input_file
    check_data(a.data_dir, a.cache_dir)
    if a.resume is not None:
        check_input_file(a.resume, "--resume")


def side_outputs(out):
    """The side outputs of a run whose model goes to `out` (see the module docstring)."""
    if os.path.abspath(out) == os.path.abspath(DEFAULT_OUT):
        return dict(DEFAULT_SIDE)
    stem = out[:-4] if out.endswith(".npz") else out
    return {k: stem + suffix for k, suffix in SIDE_SUFFIX.items()}


def resolve_outputs(a, explicit, recorded=None):
    """Fill in a.out/history/summary/plot/checkpoint. A new run: explicit paths, else derived from
    --out. A resumed run: the paths its checkpoint records; an explicit one that differs is an error."""
    if recorded:
        for k in OUTPUTS:
            if k in explicit and os.path.abspath(getattr(a, k)) != os.path.abspath(recorded[k]):
                raise CLIError(f"--{k} {getattr(a, k)!r} differs from where the checkpoint's run writes "
                               f"({recorded[k]!r}); a resumed run continues in its own files: omit --{k}")
            setattr(a, k, recorded[k])
        return
    derived = side_outputs(a.out)
    if a.resume is not None and "checkpoint" not in explicit:   # a checkpoint from before outputs were recorded
        derived["checkpoint"] = a.resume
    for k in DEFAULT_SIDE:
        if getattr(a, k) is None:
            setattr(a, k, derived[k])


def check_outputs(a):
    """Every output must be writable as a file, and no two outputs may be the same file."""
    from network.cli import output_file_problem
    seen = {}
    for k in OUTPUTS:
        path = getattr(a, k)
        problem = output_file_problem(path, f"--{k}")
        if problem:
            raise CLIError(problem)
        other = seen.setdefault(os.path.abspath(path), k)
        if other != k:
            raise CLIError(f"--{k} and --{other} are the same file {path!r}; give each output its own path")
    if a.resume is not None and os.path.abspath(a.resume) in seen and \
            seen[os.path.abspath(a.resume)] != "checkpoint":
        raise CLIError(f"--{seen[os.path.abspath(a.resume)]} {a.resume!r} would overwrite the checkpoint being resumed")


def recorded_outputs(checkpoint_path, run_info):
    """The output paths a checkpoint records (relative to the checkpoint's directory), or None."""
    rel = run_info.get("outputs")
    if not isinstance(rel, dict) or not all(isinstance(rel.get(k), str) for k in OUTPUTS):
        return None
    base = os.path.dirname(os.path.abspath(checkpoint_path))
    paths = {k: os.path.normpath(os.path.join(base, rel[k])) for k in OUTPUTS}
    here = {k: os.path.relpath(p) for k, p in paths.items()}       # as given at the start, if below cwd
    return {k: here[k] if not here[k].startswith("..") else paths[k] for k in OUTPUTS}


def outputs_record(a):
    """The run's output paths relative to its checkpoint's directory (moving the directory keeps them)."""
    base = os.path.dirname(os.path.abspath(a.checkpoint))
    return {k: os.path.relpath(os.path.abspath(getattr(a, k)), base) for k in OUTPUTS}


def explicit_options(argv):
    """The dests of the options given on the command line (argparse cannot tell a default apart)."""
    import argparse
    probe = build_parser()
    for action in probe._actions:
        action.default = argparse.SUPPRESS
    return set(vars(probe.parse_known_args(argv)[0]))


class StopFlag:
    """SIGINT/SIGTERM set a flag that the training loop polls after each epoch (when the epoch's
    checkpoint is written); a second Ctrl-C stops at once, the last epoch's checkpoint still on disk."""

    def __init__(self):
        import signal
        self.signum = None
        self._signal = signal
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}

    def _handle(self, signum, frame):
        if self.signum is not None and signum == self._signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        print("\nstopping after this epoch (its checkpoint will be saved); Ctrl-C again to stop now",
              file=sys.stderr, flush=True)

    def __call__(self):
        return self.signum is not None

    def restore(self):
        for s, h in self._old.items():
            self._signal.signal(s, h)


TRAINING_FLAGS = ("layers", "activation", "init", "optimizer", "lr", "schedule", "batch_size", "epochs",
                  "seed", "val_split", "l2", "dropout", "augment_shift", "dtype", "subset")
# flags added later, with the value a checkpoint from before them ran with
LATER_FLAGS = dict(augment="shift", rotate=0.0, scale=0.0, shear=0.0, elastic_sigma=4.0, elastic_alpha=1.5)


def augmentation(a):
    from network.augmentation import Augmentation
    if a.augment == "shift" and not a.augment_shift:
        return Augmentation()
    return Augmentation(a.augment, shift=a.augment_shift, rotate=a.rotate, scale=a.scale, shear=a.shear,
                        elastic_sigma=a.elastic_sigma, elastic_alpha=a.elastic_alpha)


def prepare(a, explicit):
    """Check every input, load the checkpoint to resume (if any), settle and check the outputs.
    Returns (sizes, net, resume): net and resume are None for a new run."""
    sizes = check_args(a)
    check_inputs(a)
    net = resume = None
    recorded = None
    if a.resume:
        from network.training import load_checkpoint
        net, resume = load_checkpoint(a.resume)
        run_info = resume.get("run", {}) if isinstance(resume.get("run"), dict) else {}
        saved = run_info.get("args", {}) if isinstance(run_info.get("args"), dict) else {}
        missing = [k for k in TRAINING_FLAGS if k not in saved]
        if missing:
            raise CLIError(f"checkpoint {a.resume!r} does not record the run's settings ({', '.join(missing)})")
        differ = [k for k in (*TRAINING_FLAGS, *LATER_FLAGS) if k in explicit
                  and getattr(a, k) != saved.get(k, LATER_FLAGS.get(k))
                  and not (k == "batch_size" and getattr(a, k) > saved[k])]  # (a clipped batch size)
        if differ:
            flags = ", ".join(f"--{k.replace('_', '-')} {saved[k]}" for k in differ)
            raise CLIError(f"--resume continues a run with its own settings, and this checkpoint's run used {flags}; "
                           "omit those flags (or start a new run)")
        for k in TRAINING_FLAGS:
            setattr(a, k, saved[k])
        for k, legacy in LATER_FLAGS.items():
            setattr(a, k, saved.get(k, legacy))
        sizes = check_args(a)
        recorded = recorded_outputs(a.resume, run_info)
    resolve_outputs(a, explicit, recorded)
    check_outputs(a)
    return sizes, net, resume


def run(a, sizes, stop, net=None, resume=None):
    import numpy as np

    from data import load_mnist, preprocess, train_val_split
    from network.model import NeuralNetwork
    from network.plots import plot_learning_curves
    from network.training import eval_share, fit, time_to_accuracy
    from network.io import atomic_write

    if resume is not None:
        print(f"resuming from {a.resume} after epoch {resume['epoch']} of {a.epochs} (settings from the checkpoint); "
              f"writing to {a.out}")

    t_start = time.perf_counter()
    (x_train, y_train), _ = load_mnist(data_dir=a.data_dir, cache_dir=a.cache_dir, progress=not (a.no_progress or a.quiet))
    (x_tr, y_tr), (x_val, y_val) = train_val_split(x_train, y_train, val_fraction=a.val_split, seed=a.seed)
    if a.subset is not None:
        if a.subset > len(x_tr):
            print(f"warning: --subset {a.subset} is more than the {len(x_tr)} images of the training split; "
                  "using all of them", file=sys.stderr)
        x_tr, y_tr = x_tr[:a.subset], y_tr[:a.subset]
    if a.batch_size > len(x_tr):
        print(f"warning: --batch-size {a.batch_size} is larger than the {len(x_tr)} training images; "
              f"clipped to {len(x_tr)} (one step per epoch)", file=sys.stderr)
        a.batch_size = len(x_tr)
    dtype = np.dtype(a.dtype)
    aug = augmentation(a)
    x_tr, x_val = preprocess(x_tr, dtype), preprocess(x_val, dtype)
    print(f"data: {len(x_tr)} train / {len(x_val)} validation images; network {sizes}, {a.activation}, "
          f"{a.optimizer} lr {a.lr} ({a.schedule}), batch {a.batch_size}, {a.epochs} epochs, "
          f"dropout {a.dropout}, l2 {a.l2}; augmentation: {aug.describe()}")
    if resume is None:
        net = NeuralNetwork(sizes, activation=a.activation, init=a.init, seed=a.seed, dtype=dtype,
                            optimizer=a.optimizer, l2=a.l2, dropout=a.dropout)
    run_args = {k: getattr(a, k) for k in (*TRAINING_FLAGS, *LATER_FLAGS)}
    t_train = time.perf_counter()
    history, (best_epoch, best_val) = fit(
        net, x_tr, y_tr, x_val, y_val, epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.lr,
        schedule=a.schedule, augment=aug, out=a.out, history_path=a.history,
        progress=not a.no_progress, extra_metadata={"train_args": run_args}, checkpoint=a.checkpoint,
        resume=resume, should_stop=stop, run_info={"args": run_args, "outputs": outputs_record(a)},
        quiet=a.quiet)
    train_time = time.perf_counter() - t_train
    plot_learning_curves(history, a.plot)
    summary = {"best_epoch": best_epoch, "best_val_accuracy": best_val, "epochs": a.epochs,
               "train_time_s": train_time, "wall_time_s": time.perf_counter() - t_start,
               "epoch_time_median_s": float(np.median([h["epoch_time_s"] for h in history])),
               "n_train": len(x_tr), "n_val": len(x_val), "model": a.out, "args": run_args,
               "resumed_from": a.resume, "outputs": {k: getattr(a, k) for k in OUTPUTS},
               "augmentation": aug.to_dict(), "train_eval_images": history[-1]["train_eval_images"],
               "eval_share": eval_share(history),
               "time_to_val_accuracy_s": time_to_accuracy(history),
               "images_per_s_median": float(np.median([h["images_per_s"] for h in history if h.get("images_per_s")])),
               "gflops_median": float(np.median([h["gflops"] for h in history if h.get("gflops")]))}
    atomic_write(a.summary, lambda f: f.write((json.dumps(summary, indent=2) + "\n").encode()))
    print(f"best validation accuracy {best_val:.4f} at epoch {best_epoch}; model saved to {a.out}")
    tta = ", ".join(f"{k} {'-' if v is None else f'{v:.1f} s'}" for k, v in summary["time_to_val_accuracy_s"].items())
    print(f"validation accuracy first reached: {tta}")
    print(f"training {train_time:.1f} s, wall time {summary['wall_time_s']:.1f} s; "
          f"history {a.history}, summary {a.summary}, curves {a.plot}, checkpoint {a.checkpoint}")


def main(argv=None):
    parser = build_parser()
    a = parser.parse_args(argv)
    explicit = explicit_options(sys.argv[1:] if argv is None else argv)
    from data import DataError
    from network.cli import run_cli
    from network.io import ModelFileError
    from network.training import TrainingDiverged, TrainingInterrupted

    def body():
        sizes, net, resume = prepare(a, explicit)
        stop = StopFlag()
        try:
            run(a, sizes, stop, net, resume)
        except TrainingInterrupted as e:
            print(f"{e}", file=sys.stderr)
            return 128 + stop.signum
        except TrainingDiverged as e:
            epoch, acc = e.best
            kept = (f"the best model of its healthy epochs (epoch {epoch}, validation accuracy {acc:.4f}) "
                    f"stays in {a.out}" if epoch > 0 else f"no model was written to {a.out}")
            raise CLIError(f"{e}; {kept}", code=3) from None
        except KeyboardInterrupt:
            print(f"interrupted; the last epoch's checkpoint stays in {a.checkpoint} "
                  f"(resume with --resume {a.checkpoint}) and the best model in {a.out}", file=sys.stderr)
            return 130
        finally:
            stop.restore()
        return 0

    return run_cli(body, errors=(DataError, ModelFileError, ValueError),
                   oserror=lambda e: f"cannot write output ({e.strerror or e}: {e.filename or ''}); "
                                     "previous files are untouched")


if __name__ == "__main__":
    sys.exit(main())
