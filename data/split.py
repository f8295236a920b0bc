"""Preprocessing and the seeded stratified train/validation split."""
from __future__ import annotations

import numpy as np

from data.verify import N_PIXELS


def preprocess(images, dtype=np.float32) -> np.ndarray:
    """Scale uint8 images to floats in [0, 1]: ``x = p / 255``, flattened to (N, 784).

    ``images`` must be a uint8 array of shape (N, 28, 28) or (N, 784); ``dtype`` a float type.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"preprocess expects uint8 pixel values 0..255, got dtype {images.dtype}")
    if not (images.ndim == 3 and images.shape[1:] == (28, 28)
            or images.ndim == 2 and images.shape[1] == N_PIXELS):
        raise ValueError(f"preprocess expects images of shape (N, 28, 28) or (N, 784), "
                         f"got {images.shape}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"preprocess dtype must be a floating type, got {dtype}")
    x = images.reshape(len(images), N_PIXELS).astype(dtype)
    x /= dtype.type(255)
    return x


def split_indices(y, val_fraction: float = 0.2, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``range(len(y))`` into sorted (train, validation) indices.

    For each class c with n_c examples, a permutation drawn from
    ``np.random.default_rng(seed)`` (classes in increasing order) puts
    ``round(val_fraction * n_c)`` of them in validation, the rest in training.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {y.dtype}")
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float, np.floating)) \
            or not 0.0 < float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    rng = np.random.default_rng(seed)
    val = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        val.append(idx[: int(np.floor(val_fraction * len(idx) + 0.5))])
    mask = np.zeros(len(y), bool)
    mask[np.concatenate(val)] = True
    val_idx, train_idx = np.flatnonzero(mask), np.flatnonzero(~mask)
    if len(val_idx) == 0 or len(train_idx) == 0:
        raise ValueError(f"val_fraction={val_fraction} of {len(y)} examples leaves an empty "
                         "training or validation set")
    return train_idx, val_idx


def train_val_split(x, y, val_fraction: float = 0.2, seed=0):
    """Stratified seeded split: returns ``(x_train, y_train), (x_val, y_val)``.

    Each class keeps its proportion to within one example (see :func:`split_indices`);
    the two parts are disjoint, cover all of ``x`` and keep the original order.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    tr, va = split_indices(y, val_fraction, seed)
    return (x[tr], y[tr]), (x[va], y[va])
