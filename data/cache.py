"""The verified MNIST cache: <cache dir>/mnist.npz, read with verification, written atomically."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from data.verify import DataError, DataWarning, verify_arrays

CACHE_FILE = "mnist.npz"
CACHE_ENV = "MNIST_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$MNIST_CACHE_DIR``, else ``$XDG_CACHE_HOME/mnist-from-scratch``, else
    ``~/.cache/mnist-from-scratch``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "mnist-from-scratch"


def cache_path(cache_dir=None) -> Path:
    """Path of the cache file in ``cache_dir`` (default :func:`default_cache_dir`)."""
    return (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()) / CACHE_FILE


def check_cache_dir(cache_dir=None) -> None:
    """Raise DataError (one line, nothing read) when the cache cannot be used: its directory exists
    but is not a directory, or its file exists but is not a regular file (a named pipe would block
    the reader forever, a directory would be neither read nor replaced)."""
    from network.io import file_problem

    path = cache_path(cache_dir)
    where = "--cache-dir" if cache_dir is not None else "cache directory"
    if path.parent.exists() and not path.parent.is_dir():
        raise DataError(f"{where} {str(path.parent)!r} is not a directory")
    if os.path.lexists(path):
        problem = file_problem(path, "MNIST cache")
        if problem and "does not exist" not in problem:   # a dangling symlink is rewritten
            raise DataError(problem)


def _read_cache(path: Path, expected: dict) -> dict | None:
    """The verified cached arrays, or None when the cache is absent or corrupt (with a warning).
    Member headers are checked against the expected shapes before any data is read."""
    from network.io import check_npz_members

    if not path.is_file():
        return None
    try:
        check_npz_members(path, "MNIST cache")
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in expected}
        verify_arrays(arrays, expected, source=f"cache {path}")
    except Exception as e:  # unreadable, truncated, missing keys, pickled, hash mismatch
        reason = str(e) if isinstance(e, DataError) else f"cache {path}: unreadable ({type(e).__name__}: {e})"
        warnings.warn(f"{reason}; ignoring it and fetching MNIST again", DataWarning, stacklevel=4)
        return None
    return arrays


def _write_cache(path: Path, arrays: dict) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed .npz, atomically (temp file + os.replace)."""
    from network.io import atomic_write

    atomic_write(path, lambda f: np.savez(f, **{k: np.ascontiguousarray(arrays[k]) for k in arrays}),
                 suffix=".tmp")
