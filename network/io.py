"""Model and checkpoint files: .npz archives written atomically, read without pickle, validated.

A model file holds W0..W{L-1}, b0..b{L-1}, `layer_sizes` (int64) and `metadata` (a JSON string
stored as a 0-d unicode array), so `np.load(path, allow_pickle=False)` reads all of it.
"""
import json
import os
import tempfile
import zipfile

import numpy as np


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; outputs get the usual 0666 & ~umask, as open() would give them
FILE_MODE = 0o666 & ~_current_umask()
_NPZ_MAGIC = b"PK\x03\x04"


class ModelFileError(ValueError):
    """A model or checkpoint file is missing, unreadable, pickled, or inconsistent."""


def atomic_write(path, write, suffix=None):
    """Call write(file_object) on a temporary file beside `path`, then rename it over `path`.

    Readers see the old file or the complete new one, never a partial one; on any error the
    temporary file is removed and the previous `path` is left untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix or os.path.splitext(path)[1])
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_arrays(path, arrays):
    """Atomically write a dict of arrays as an uncompressed .npz (no object arrays allowed)."""
    for key, value in arrays.items():
        if np.asarray(value).dtype == object:
            raise TypeError(f"array {key!r} has dtype object; model files never hold pickles")
    atomic_write(path, lambda f: np.savez(f, **arrays), suffix=".npz")


def _json_scalar(value):
    """NumPy scalars (np.int64, np.float32, ...) in metadata are saved as plain numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"metadata value {value!r} of type {type(value).__name__} is not JSON serialisable")


def save_model(path, weights, biases, metadata, extra=None):
    """Write weights, biases and a JSON-serialisable metadata dict (plus optional extra arrays)."""
    arrays = {"layer_sizes": np.array([weights[0].shape[0]] + [w.shape[1] for w in weights], np.int64),
              "metadata": np.array(json.dumps(metadata, sort_keys=True, default=_json_scalar))}
    for i, (w, b) in enumerate(zip(weights, biases)):
        arrays[f"W{i}"] = w
        arrays[f"b{i}"] = b
    arrays.update(extra or {})
    save_arrays(path, arrays)


def load_arrays(path):
    """Read every array of an .npz without pickle; ModelFileError with one line on any problem."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelFileError(f"model file {path!r} does not exist (train one with `python train.py`)")
    if os.path.isdir(path):
        raise ModelFileError(f"model path {path!r} is a directory, expected an .npz file")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise ModelFileError(f"cannot read model file {path!r} ({e.strerror})") from None
    if head != _NPZ_MAGIC:
        raise ModelFileError(f"model file {path!r} is not an .npz archive (corrupt, truncated or another format)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise ModelFileError(f"model file {path!r} contains pickled objects, which are never "
                                 "loaded; re-save it with NeuralNetwork.save") from None
        raise ModelFileError(f"model file {path!r} is not a valid .npz archive ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as e:
        raise ModelFileError(f"model file {path!r} is corrupt or not an .npz archive "
                             f"({type(e).__name__}: {e})") from None


def load_model(path):
    """Read and validate a model file. Returns (weights, biases, layer_sizes, metadata).

    Checks: the keys are there, layer_sizes is a 1-D positive int array of length >= 2, each W_i
    has shape (sizes[i], sizes[i+1]) and b_i (sizes[i+1],), all float32 or float64 of one dtype,
    all values finite, metadata a JSON object.
    """
    data = load_arrays(path)
    name = os.fspath(path)
    for key in ("layer_sizes", "metadata"):
        if key not in data:
            raise ModelFileError(f"model file {name!r} has no {key!r} entry; not a model saved by this project")
    sizes = data["layer_sizes"]
    if sizes.ndim != 1 or sizes.size < 2 or sizes.dtype.kind not in "iu" or np.any(sizes <= 0):
        raise ModelFileError(f"model file {name!r}: layer_sizes must be >= 2 positive integers, got {sizes.tolist()}")
    sizes = [int(s) for s in sizes]
    try:
        metadata = json.loads(str(data["metadata"]))
        if not isinstance(metadata, dict):
            raise ValueError("not an object")
    except ValueError as e:
        raise ModelFileError(f"model file {name!r}: metadata is not a JSON object ({e})") from None
    weights, biases = [], []
    dtypes = set()
    for i in range(len(sizes) - 1):
        for key, shape in ((f"W{i}", (sizes[i], sizes[i + 1])), (f"b{i}", (sizes[i + 1],))):
            if key not in data:
                raise ModelFileError(f"model file {name!r} is missing array {key!r}")
            arr = data[key]
            if arr.shape != shape:
                raise ModelFileError(f"model file {name!r}: {key} has shape {arr.shape}, expected {shape} "
                                     f"for layer sizes {sizes}")
            if arr.dtype not in (np.float32, np.float64):
                raise ModelFileError(f"model file {name!r}: {key} has dtype {arr.dtype}, expected float32 or float64")
            if not np.all(np.isfinite(arr)):
                raise ModelFileError(f"model file {name!r}: {key} holds NaN or infinite values")
            dtypes.add(arr.dtype)
            (weights if key[0] == "W" else biases).append(np.ascontiguousarray(arr))
    if len(dtypes) != 1:
        raise ModelFileError(f"model file {name!r}: arrays mix dtypes {sorted(map(str, dtypes))}")
    return weights, biases, sizes, metadata
