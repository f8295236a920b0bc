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
HISTORY_FIELDS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "epoch_time_s",
                  "time_s", "images_per_s", "gflops", "train_eval_images", "eval_time_s")
"""time_s: wall time since training started (epochs and evaluations) at the end of the epoch;
images_per_s and gflops: the epoch's training throughput (gflops counts the three products of
every layer, forward and backward: `flops_per_image`); train_eval_images: how many training
images (a fixed subset) the train_loss / train_acc columns are measured on; eval_time_s: wall time
of the epoch's evaluation (that subset and the validation split), outside epoch_time_s."""
TRAIN_EVAL_IMAGES = 5_000       # train loss/accuracy per epoch on a fixed subset of this size
ACCURACY_MARKS = (0.97, 0.98, 0.985, 0.99)


def flops_per_image(layer_sizes):
    """FLOPs one training image costs in the products: per layer (n_in, n_out), Z = H @ W,
    dW = H.T @ dZ and dH = dZ @ W.T, 2 n_in n_out each (the epoch skips dH of the first layer,
    which is counted anyway, as in the epoch FLOP figure of the benchmarks)."""
    return sum(6 * a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


def train_eval_subset(n, size=TRAIN_EVAL_IMAGES):
    """Indices of the fixed training subset evaluated after each epoch (all rows when n <= size)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(20261130).choice(n, size, replace=False))


def eval_share(history):
    """Per-epoch evaluation time over training time, summed over the epochs that recorded it
    (None if none did)."""
    rows = [h for h in history if h.get("eval_time_s") not in (None, "")]
    if not rows:
        return None
    return float(sum(float(h["eval_time_s"]) for h in rows) / sum(float(h["epoch_time_s"]) for h in rows))


def time_to_accuracy(history, marks=ACCURACY_MARKS):
    """{"97%": seconds, ...}: the wall time (history's time_s) at which validation accuracy first
    reached each mark, None if it never did."""
    out = {}
    for m in marks:
        hit = next((h.get("time_s") for h in history if h["val_acc"] >= m), None)
        out[f"{100 * m:g}%"] = None if hit is None else float(hit)
    return out


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
        run_info=None, augment=None, train_eval_images=TRAIN_EVAL_IMAGES, quiet=False):
    """Train `model` for `epochs`; return (history, best) where best = (epoch, val_acc).

    The model with the best validation accuracy so far is saved to `out` after each improvement
    (atomically; never on a diverged epoch). With `checkpoint`, the full training state is saved
    there after every epoch; `resume` (a dict from `load_checkpoint`) continues such a run exactly.
    `should_stop()` is polled after each epoch; if true, TrainingInterrupted is raised once the
    epoch's checkpoint is written. augment: a network.augmentation.Augmentation (else shifts of
    augment_shift px). Training loss/accuracy are measured on a fixed subset of
    train_eval_images rows (train_eval_subset) to keep evaluation cheap. The progress bar counts
    images and shows the throughput (images/s, GFLOP/s); quiet=True prints nothing per epoch.
    """
    from tqdm.auto import tqdm

    steps = -(-len(x_train) // batch_size)
    lrs = lr_schedule(schedule, learning_rate, epochs, steps)
    history, best = [], (0, -1.0)
    if resume is not None:
        history, best = [dict(h) for h in resume["history"]], tuple(resume["best"])
    start = len(history) + 1
    n = len(x_train)
    sub = train_eval_subset(n, train_eval_images)
    x_sub, y_sub = (x_train, y_train) if len(sub) == n else (x_train[sub], y_train[sub])
    flops = flops_per_image(model.layer_sizes)
    clock0 = time.perf_counter() - (history[-1].get("time_s") or 0.0 if history else 0.0)
    show = progress and not quiet
    bar = tqdm(desc="training", unit="img", unit_scale=True, disable=not show, leave=False,
               initial=(start - 1) * n, total=epochs * n, smoothing=0.3)
    bar_t = [time.perf_counter(), 0]
    limit = divergence_limit(model)

    def on_rows(rows):                  # progress hook: live images/s and GFLOP/s
        bar.update(rows)
        bar_t[1] += rows
        dt = time.perf_counter() - bar_t[0]
        if dt > 0.5:
            bar.set_postfix_str(f"{bar_t[1] * flops / dt / 1e9:.1f} GFLOP/s, epoch {epoch}/{epochs}")
            bar_t[:] = [time.perf_counter(), 0]
    for epoch in range(start, epochs + 1):
        t0 = time.perf_counter()
        model.loss_watch = lambda loss, e=epoch: check_loss(loss, e, learning_rate, limit, best)
        try:
            run_loss = model.train_epoch(x_train, y_train, batch_size=batch_size,
                                         learning_rate=lrs[(epoch - 1) * steps:epoch * steps],
                                         augment_shift=augment_shift, augment=augment,
                                         progress=on_rows if show else None)
        finally:
            del model.loss_watch
        elapsed = time.perf_counter() - t0
        check_loss(run_loss, epoch, learning_rate, limit, best)
        t_eval = time.perf_counter()
        train_loss, train_acc = model.evaluate(x_sub, y_sub)
        val_loss, val_acc = model.evaluate(x_val, y_val)
        eval_time = time.perf_counter() - t_eval
        for loss in (train_loss, val_loss):
            check_loss(loss, epoch, learning_rate, limit, best)
        if not all(np.isfinite(w).all() for w in model.weights + model.biases):
            raise TrainingDiverged(epoch, learning_rate, best=best)
        row = {"epoch": epoch, "lr": float(lrs[epoch * steps - 1]), "train_loss": train_loss,
               "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
               "epoch_time_s": elapsed, "time_s": time.perf_counter() - clock0,
               "images_per_s": n / elapsed, "gflops": n * flops / elapsed / 1e9,
               "train_eval_images": len(sub), "eval_time_s": eval_time}
        history.append(row)
        improved = val_acc > best[1]
        if improved:
            best = (epoch, val_acc)
            if out is not None:
                model.save(out, epoch=epoch, val_accuracy=val_acc, val_loss=val_loss,
                           **(extra_metadata or {}))
        if history_path is not None:
            write_history(history_path, history)
        line = (f"epoch {epoch:3d}/{epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
                f"val loss {val_loss:.4f} acc {val_acc:.4f}  ({elapsed:.2f} s, "
                f"{row['images_per_s']:,.0f} img/s, {row['gflops']:.1f} GFLOP/s){'  *best' if improved else ''}")
        if not quiet:
            (tqdm.write if show else log)(line)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, epoch, history, best, run_info)
        if should_stop is not None and should_stop() and epoch < epochs:
            raise TrainingInterrupted(epoch, checkpoint)
    bar.close()
    return history, best
