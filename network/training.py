"""The training loop: learning-rate schedules, per-epoch evaluation, history, best-model saving.

`fit` drives `NeuralNetwork.train_epoch` (the compiled fast path) epoch by epoch, evaluates train
and validation loss/accuracy without dropout or augmentation after each epoch, writes the history
CSV, and saves the model whenever validation accuracy improves. A loss that explodes (non-finite,
or above DIVERGENCE_FACTOR x ln(classes), ten times a uniform guess's loss) stops training with
`TrainingDiverged` before anything is overwritten: the running loss is checked after every chunk of
mini-batches of the compiled epoch (engine.compiled_epoch's `loss_watch`), so an exploding epoch,
which also runs many times slower, stops within its first few seconds.
"""
import csv
import io as _io
import math
import time

import numpy as np

from network.io import ModelFileError, atomic_write, load_arrays, save_model

SCHEDULES = ("constant", "cosine", "onecycle")
HISTORY_FIELDS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s")


class TrainingInterrupted(RuntimeError):
    """Training was asked to stop (Ctrl-C or SIGTERM); a checkpoint of the last epoch was written."""

    def __init__(self, epoch, checkpoint):
        self.epoch, self.checkpoint = epoch, checkpoint
        where = (f"checkpoint after epoch {epoch} saved to {checkpoint}; continue with "
                 f"`python train.py --resume {checkpoint}`") if checkpoint else "no checkpoint path was given"
        super().__init__(f"interrupted; {where}")


DIVERGENCE_FACTOR = 10   # a loss above 10 x ln(classes) (23.0 for 10 digits) counts as divergence


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite, or exploded far above the initial ln(classes)."""

    def __init__(self, epoch, lr, loss=math.nan, limit=None, best=(0, -1.0)):
        self.epoch, self.lr, self.loss = epoch, lr, loss
        self.best = best   # (epoch, val_acc) of the best model the run saved before; epoch 0: none
        what = ("is not finite" if not math.isfinite(loss) or limit is None else
                f"exploded to {loss:.3g}, above {limit:.3g} (ten times the {limit / DIVERGENCE_FACTOR:.3g} "
                "of a uniform guess)")
        super().__init__(f"training diverged at epoch {epoch}: the loss {what}; "
                         f"try a lower learning rate, e.g. --lr {lr / 10:g}")


def divergence_limit(model):
    """The training loss above which a run counts as diverged: DIVERGENCE_FACTOR x ln(classes)."""
    return DIVERGENCE_FACTOR * math.log(max(2, model.layer_sizes[-1]))


def check_loss(loss, epoch, lr, limit, best):
    """Raise TrainingDiverged if `loss` is not finite or above `limit`."""
    if not (math.isfinite(loss) and loss <= limit):
        raise TrainingDiverged(epoch, lr, float(loss), limit, best)


def lr_schedule(name, lr, epochs, steps_per_epoch):
    """Learning rate for every mini-batch step, shape (epochs * steps_per_epoch,).

    constant   lr throughout
    cosine     lr * (1 + cos(pi * t / T)) / 2, from lr down to 0 (t = step, T = total steps)
    onecycle   linear warm-up from lr/10 to lr over the first 30% of steps, then cosine down to
               lr/1000 (Smith & Topin's one-cycle policy)
    """
    total = epochs * steps_per_epoch
    t = np.arange(total, dtype=np.float64)
    if name == "constant":
        return np.full(total, lr)
    if name == "cosine":
        return lr * 0.5 * (1.0 + np.cos(np.pi * t / total))
    if name == "onecycle":
        warm = max(1, int(0.3 * total))
        up = lr / 10 + (lr - lr / 10) * t[:warm] / warm
        frac = (t[warm:] - warm) / max(1, total - warm)
        down = lr / 1000 + (lr - lr / 1000) * 0.5 * (1.0 + np.cos(np.pi * frac))
        return np.concatenate([up, down])
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}; got {name!r}")


def write_history(path, history):
    """Write the per-epoch history (list of dicts) as CSV, atomically."""
    buf = _io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(history)
    atomic_write(path, lambda f: f.write(buf.getvalue().encode()))


def save_checkpoint(path, model, epoch, history, best, run_info=None):
    """Atomically write the weights, optimizer state, RNG state, epoch and history to `path`."""
    arrays, state = model.training_state()
    meta = {"checkpoint": {"epoch": epoch, "history": history, "best": list(best),
                           "state": state, "run": run_info or {}},
            "config": model.config()}
    save_model(path, model.weights, model.biases, meta, extra=arrays)


def load_checkpoint(path):
    """Read a checkpoint written by `save_checkpoint`: returns (model, checkpoint dict) with the
    model's optimizer and RNG state restored. Raises ModelFileError if it is not a checkpoint."""
    from network.model import NeuralNetwork

    model = NeuralNetwork.load(path)
    ckpt = model.metadata.pop("checkpoint", None)
    if not isinstance(ckpt, dict) or not {"epoch", "history", "best", "state"} <= set(ckpt):
        raise ModelFileError(f"{str(path)!r} is a model file, not a training checkpoint")
    try:
        model.restore_training_state(load_arrays(path), ckpt["state"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"checkpoint {str(path)!r} has an unusable training state: {e}") from None
    return model, ckpt


def fit(model, x_train, y_train, x_val, y_val, *, epochs, batch_size, learning_rate,
        schedule="constant", augment_shift=0, out=None, history_path=None, progress=True,
        log=print, extra_metadata=None, checkpoint=None, resume=None, should_stop=None,
        run_info=None):
    """Train `model` for `epochs`; return (history, best) where best = (epoch, val_acc).

    The model with the best validation accuracy so far is saved to `out` after each improvement
    (atomically; never on a diverged epoch). With `checkpoint`, the full training state is saved
    there after every epoch; `resume` (a dict from `load_checkpoint`) continues such a run exactly.
    `should_stop()` is polled after each epoch; if true, TrainingInterrupted is raised once the
    epoch's checkpoint is written.
    """
    from tqdm.auto import tqdm

    steps = -(-len(x_train) // batch_size)
    lrs = lr_schedule(schedule, learning_rate, epochs, steps)
    history, best = [], (0, -1.0)
    if resume is not None:
        history, best = [dict(h) for h in resume["history"]], tuple(resume["best"])
    start = len(history) + 1
    bar = tqdm(range(start, epochs + 1), desc="training", unit="epoch", disable=not progress, leave=False,
               initial=start - 1, total=epochs)
    limit = divergence_limit(model)
    for epoch in bar:
        t0 = time.perf_counter()
        model.loss_watch = lambda loss, e=epoch: check_loss(loss, e, learning_rate, limit, best)
        try:
            run_loss = model.train_epoch(x_train, y_train, batch_size=batch_size,
                                         learning_rate=lrs[(epoch - 1) * steps:epoch * steps],
                                         augment_shift=augment_shift)
        finally:
            del model.loss_watch
        elapsed = time.perf_counter() - t0
        check_loss(run_loss, epoch, learning_rate, limit, best)
        train_loss, train_acc = model.evaluate(x_train, y_train)
        val_loss, val_acc = model.evaluate(x_val, y_val)
        for loss in (train_loss, val_loss):
            check_loss(loss, epoch, learning_rate, limit, best)
        if not all(np.isfinite(w).all() for w in model.weights + model.biases):
            raise TrainingDiverged(epoch, learning_rate, best=best)
        row = {"epoch": epoch, "lr": float(lrs[epoch * steps - 1]), "train_loss": train_loss,
               "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
               "epoch_time_s": elapsed}
        history.append(row)
        improved = val_acc > best[1]
        if improved:
            best = (epoch, val_acc)
            if out is not None:
                model.save(out, epoch=epoch, val_accuracy=val_acc, val_loss=val_loss,
                           **(extra_metadata or {}))
        if history_path is not None:
            write_history(history_path, history)
        bar.set_postfix(val_acc=f"{val_acc:.4f}")
        line = (f"epoch {epoch:3d}/{epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
                f"val loss {val_loss:.4f} acc {val_acc:.4f}  ({elapsed:.2f} s){'  *best' if improved else ''}")
        (tqdm.write if progress else log)(line)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, epoch, history, best, run_info)
        if should_stop is not None and should_stop() and epoch < epochs:
            raise TrainingInterrupted(epoch, checkpoint)
    return history, best
