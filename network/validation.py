"""Argument checks for NeuralNetwork: each raises TypeError/ValueError with a message that says
what was expected and what was given."""
import numpy as np


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_float(name, value, low, high, low_inclusive=True):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    ok = (v >= low if low_inclusive else v > low) and v < high
    if not np.isfinite(v) or not ok:
        lb = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be a finite number in {lb}{low}, {high}); got {value!r}")
    return v


def check_int(name, value, low, high=None, what=None):
    """An int (not a bool) in [low, high]."""
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        raise ValueError(f"{name} must be {what or 'an integer >= %d' % low}; got {value!r}")
    return int(value)


def check_layer_sizes(layer_sizes):
    try:
        sizes = [int(s) for s in layer_sizes]
    except (TypeError, ValueError):
        raise TypeError(f"layer_sizes must be a list of positive integers; got {layer_sizes!r}") from None
    if len(sizes) < 2 or any(s <= 0 for s in sizes) or any(int(s) != s for s in layer_sizes):
        raise ValueError(f"layer_sizes must be at least two positive integers; got {list(layer_sizes)!r}")
    return sizes


def check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise ValueError(f"dtype must be float32 or float64; got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64; got {dt}")
    return dt


def check_X(X, n_in, dtype):
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(f"X must have shape (n_samples, {n_in}); got {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    if X.dtype.kind not in "fiu":
        raise TypeError(f"X must hold numbers; got dtype {X.dtype}")
    return np.ascontiguousarray(X, dtype=dtype)


def check_y(y, n, n_out):
    y = np.asarray(y)
    if y.shape != (n,) or y.dtype.kind not in "iu":
        raise ValueError(f"y must be {n} integer class labels, shape ({n},); got {y.dtype} {y.shape}")
    if n and (y.min() < 0 or y.max() >= n_out):
        raise ValueError(f"labels must lie in [0, {n_out - 1}]; got values in [{y.min()}, {y.max()}]")
    return np.ascontiguousarray(y, dtype=np.int64)


def check_learning_rates(learning_rate, n_batches):
    """(n_batches,) float64 learning rates from a number or a per-batch schedule."""
    try:
        lrs = np.asarray(learning_rate, np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"learning_rate must be a number or an array of numbers; got {learning_rate!r}") from None
    if lrs.ndim == 0:
        lrs = np.full(n_batches, float(lrs))
    elif lrs.shape != (n_batches,):
        raise ValueError(f"learning_rate must be a number or hold one rate per mini-batch "
                         f"({n_batches}); got shape {lrs.shape}")
    if not (np.all(np.isfinite(lrs)) and np.all(lrs > 0)):
        raise ValueError("learning_rate must be finite and > 0 (every entry of a schedule)")
    return np.ascontiguousarray(lrs)


def check_augment_shift(augment_shift, n_in):
    if (isinstance(augment_shift, bool) or not isinstance(augment_shift, (int, np.integer))
            or not 0 <= augment_shift < 28):
        raise ValueError(f"augment_shift must be an integer in [0, 27]; got {augment_shift!r}")
    if augment_shift and n_in != 784:
        raise ValueError(f"augment_shift needs 28x28 images (784 inputs); this network takes {n_in}")
    return int(augment_shift)


def check_augmentation(augment, augment_shift, n_in):
    """The Augmentation to apply: `augment` if given, else shifts of augment_shift px."""
    from network.augmentation import Augmentation
    if augment is None:
        return Augmentation.from_shift(check_augment_shift(augment_shift, n_in))
    if not isinstance(augment, Augmentation):
        raise TypeError(f"augment must be a network.augmentation.Augmentation; got {augment!r}")
    if augment.active and n_in != 784:
        raise ValueError(f"augmentation needs 28x28 images (784 inputs); this network takes {n_in}")
    return augment
