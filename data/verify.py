"""What every MNIST source is checked against: the SHA-256 of the four canonical arrays, label
ranges, and the error and warning types of the data package (plus its progress output)."""
from __future__ import annotations

import hashlib
import sys

import numpy as np

#: name -> (shape, SHA-256 of the C-contiguous uint8 array); see shared DATA.md.
EXPECTED = {
    "x_train": ((60000, 28, 28), "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"),
    "y_train": ((60000,), "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    "x_test": ((10000, 28, 28), "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),
    "y_test": ((10000,), "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
}
KEYS = ("x_train", "y_train", "x_test", "y_test")
N_PIXELS = 784
N_CLASSES = 10


class DataError(RuntimeError):
    """MNIST could not be read, parsed or verified; the message says which file and why."""


class DataWarning(UserWarning):
    """A recoverable data problem, such as a corrupt cache that is fetched again."""


# --------------------------------------------------------------------------- progress output


def status(msg: str, progress: bool) -> None:
    if progress:
        print(f"mnist: {msg}", file=sys.stderr, flush=True)


def progress_bar(total: int, desc: str, progress: bool):
    """A byte-counting progress bar on stderr, or a no-op object when disabled."""
    if progress:
        try:
            from tqdm import tqdm

            return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr,
                        leave=False)
        except ImportError:  # pragma: no cover - tqdm is a dependency
            pass

    class _Null:
        def update(self, n):
            pass

        def close(self):
            pass

    return _Null()

# --------------------------------------------------------------------------- hashes


def file_sha256(path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def array_sha256(a: np.ndarray) -> str:
    """SHA-256 hex digest of the C-contiguous bytes of ``a`` (shape and dtype not included)."""
    return hashlib.sha256(np.ascontiguousarray(a).data).hexdigest()


def verify_arrays(arrays: dict, expected: dict | None = None, source: str = "data") -> None:
    """Check that ``arrays`` holds uint8 arrays with the shapes and SHA-256s of ``expected``.

    ``expected`` maps a name to ``(shape, sha256)``; it defaults to :data:`EXPECTED`
    (the canonical MNIST). Raises :class:`DataError` naming ``source`` and the first array
    that differs.
    """
    expected = EXPECTED if expected is None else expected
    for key, (shape, digest) in expected.items():
        a = arrays.get(key)
        if not isinstance(a, np.ndarray):
            raise DataError(f"{source}: array {key!r} is missing")
        if a.dtype != np.uint8:
            raise DataError(f"{source}: {key} has dtype {a.dtype}, expected uint8")
        if a.shape != tuple(shape):
            raise DataError(f"{source}: {key} has shape {a.shape}, expected {tuple(shape)}")
        got = array_sha256(a)
        if got != digest:
            raise DataError(f"{source}: {key} has sha256 {got[:16]}..., expected {digest[:16]}... "
                            "(not the canonical MNIST)")


def check_labels(labels: np.ndarray, name: str) -> None:
    if labels.size and labels.max() >= N_CLASSES:
        i = int(np.argmax(labels >= N_CLASSES))
        raise DataError(f"{name}: label {int(labels[i])} at index {i} is outside 0..9")

