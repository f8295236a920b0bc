"""Source: OpenML's mnist_784 through scikit-learn's fetch_openml (the last resort)."""
from __future__ import annotations

import socket
import tempfile
import warnings

import numpy as np

from data.verify import N_CLASSES, N_PIXELS, DataError, status

_NET_TIMEOUT = 30  # socket timeout (s) for OpenML


def _from_openml(progress: bool = True) -> dict:
    """``fetch_openml("mnist_784", version=1)``: 70,000 rows, the first 60,000 are the training set."""
    status("downloading mnist_784 from OpenML", progress)
    old = socket.getdefaulttimeout()
    try:
        from sklearn.datasets import fetch_openml

        socket.setdefaulttimeout(_NET_TIMEOUT)
        with tempfile.TemporaryDirectory(prefix="mnist-openml-") as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X, y = fetch_openml("mnist_784", version=1, as_frame=False, return_X_y=True,
                                data_home=tmp, n_retries=1, delay=0.5)
    except Exception as e:  # network, HTTP, parse errors: all mean "this source failed"
        msg = str(e).splitlines()[0] if str(e) else ""
        raise DataError(f"{type(e).__name__}: {msg}") from None
    finally:
        socket.setdefaulttimeout(old)
    X = np.asarray(X)
    if X.shape != (70000, N_PIXELS):
        raise DataError(f"OpenML mnist_784 has shape {X.shape}, expected (70000, 784)")
    if not (np.all(X == np.round(X)) and X.min() >= 0 and X.max() <= 255):
        raise DataError("OpenML mnist_784 pixels are not integers in 0..255")
    try:
        labels = np.asarray(y).astype(np.int64)
    except (TypeError, ValueError):
        raise DataError("OpenML mnist_784 labels are not integers") from None
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise DataError("OpenML mnist_784 labels are outside 0..9")
    X = X.astype(np.uint8).reshape(-1, 28, 28)
    labels = labels.astype(np.uint8)
    return {"x_train": X[:60000].copy(), "y_train": labels[:60000].copy(),
            "x_test": X[60000:].copy(), "y_test": labels[60000:].copy()}
