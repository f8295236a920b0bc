"""Model and checkpoint files: .npz archives written atomically, read without pickle, validated.

A model file holds W0..W{L-1}, b0..b{L-1}, `layer_sizes` (int64) and `metadata` (a JSON string
stored as a 0-d unicode array), so `np.load(path, allow_pickle=False)` reads all of it.
"""
import json
import math
import os
import stat
import tempfile
import zipfile
import zlib

import numpy as np


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files 0600; outputs get the usual 0666 & ~umask, as open() would give them
FILE_MODE = 0o666 & ~_current_umask()
_NPZ_MAGIC = b"PK\x03\x04"
MAX_DEFLATE_RATIO = 1032          # deflate cannot compress better than about 1032:1
MAX_INFLATED_BYTES = 1 << 31      # a compressed member may not inflate to more than 2 GiB


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


def file_problem(path, what="file"):
    """A one-line reason why `path` cannot be read as a regular file, or None if it can.

    Only os.stat is used, which never blocks: a named pipe, a device or a socket is refused here,
    before anything opens it (opening a named pipe for reading waits for a writer forever).
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"{what} {path!r} does not exist"
    except OSError as e:
        return f"{what} {path!r} cannot be accessed ({e.strerror or e})"
    if stat.S_ISDIR(st.st_mode):
        return f"{what} {path!r} is a directory, expected a file"
    if not stat.S_ISREG(st.st_mode):
        kind = ("a named pipe" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "a special file")
        return f"{what} {path!r} is {kind}, not a regular file"
    if not os.access(path, os.R_OK):
        return f"{what} {path!r} is not readable (permission denied)"
    return None


def _member_header(zf, info):
    """(shape, dtype, header bytes) of one .npy member, reading only its header."""
    with zf.open(info) as m:
        version = np.lib.format.read_magic(m)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(m)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(m)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
        return shape, dtype, m.tell()


def check_npz_members(path, what="model file"):
    """Check every member of the .npz at `path` from its header alone, before any data is read.

    Each member must be a .npy array (stored, or deflated at a plausible ratio) lying inside the
    file, with a header whose dtype holds no Python objects and whose shape x itemsize equals the
    member's byte count. So a header that claims a 4 TiB array is a one-line ModelFileError, never
    an allocation: what is later read is at most what the file holds. Raises ModelFileError.
    """
    path = os.fspath(path)
    size = os.stat(path).st_size
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            name = info.filename
            where = f"{what} {path!r}: member {name!r}"
            if not name.endswith(".npy"):
                raise ModelFileError(f"{where} is not a .npy array")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ModelFileError(f"{where} uses an unsupported compression method ({info.compress_type})")
            if info.header_offset + info.compress_size > size:
                raise ModelFileError(f"{where} claims {info.compress_size:,} bytes at offset "
                                     f"{info.header_offset:,} but the file holds {size:,} (truncated or corrupt)")
            limit = info.compress_size if info.compress_type == zipfile.ZIP_STORED else \
                min(MAX_DEFLATE_RATIO * info.compress_size + 1024, MAX_INFLATED_BYTES)
            if info.file_size > limit:
                raise ModelFileError(f"{where} claims {info.file_size:,} bytes from {info.compress_size:,} "
                                     "stored (corrupt, or a decompression bomb)")
            try:
                shape, dtype, header = _member_header(zf, info)
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
                raise ModelFileError(f"{where} has no valid .npy header ({type(e).__name__}: {e})") from None
            if dtype.hasobject:
                raise ModelFileError(f"{what} {path!r} contains pickled objects ({name}), which are never "
                                     "loaded; re-save it with NeuralNetwork.save")
            claimed = math.prod(int(d) for d in shape) * dtype.itemsize   # Python ints: no overflow
            actual = info.file_size - header
            if claimed != actual:
                raise ModelFileError(f"{where} claims a {dtype} array of shape {tuple(shape)} = {claimed:,} "
                                     f"bytes but holds {actual:,} (corrupt header or data)")


def load_arrays(path):
    """Read every array of an .npz without pickle; ModelFileError with one line on any problem.

    The path must be a regular file (checked without opening it), and every member's header is
    checked against the member's size (check_npz_members) before any array is read."""
    path = os.fspath(path)
    problem = file_problem(path, "model file")
    if problem:
        if "does not exist" in problem:
            problem += " (train one with `python train.py`)"
        raise ModelFileError(problem)
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise ModelFileError(f"cannot read model file {path!r} ({e.strerror})") from None
    if head != _NPZ_MAGIC:
        raise ModelFileError(f"model file {path!r} is not an .npz archive (corrupt, truncated or another format)")
    try:
        check_npz_members(path)
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ModelFileError:
        raise
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise ModelFileError(f"model file {path!r} contains pickled objects, which are never "
                                 "loaded; re-save it with NeuralNetwork.save") from None
        raise ModelFileError(f"model file {path!r} is not a valid .npz archive ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, zlib.error) as e:
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
