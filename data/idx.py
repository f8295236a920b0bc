"""The standard MNIST IDX files (raw or gzip-compressed): a strict, memory-bounded parser."""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from data.verify import DataError, check_labels, progress_bar, status

#: split -> (images file stem, labels file stem) of the standard IDX files
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_MAGIC = {3: 0x00000803, 1: 0x00000801}  # ndim -> magic (unsigned byte data)
MAX_IDX_BYTES = 1 << 28  # 256 MiB; the largest MNIST file holds 47,040,000 bytes


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
                bar = progress_bar(declared, f"reading {path.name}", progress)
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
    """The first existing variant of an IDX file name: ``-``/``.`` before ``idx``, raw or ``.gz``.
    It must be a regular, readable file (a named pipe or a directory is refused without opening it)."""
    from network.io import file_problem

    dotted = stem.replace("-idx", ".idx")
    for base in (stem, dotted):
        for suffix in ("", ".gz"):
            p = data_dir / (base + suffix)
            if os.path.lexists(p):
                problem = file_problem(p, f"--data-dir {data_dir}: IDX file")
                if problem:
                    raise DataError(problem)
                return p
    raise DataError(f"--data-dir {data_dir}: no {stem}[.gz] (or {dotted}[.gz]) file")


def idx_dir_files(data_dir) -> dict:
    """Check a --data-dir without reading any data: it must be a directory holding the four
    standard IDX files (raw or .gz), each a regular readable file. Returns {stem: path};
    raises DataError with one line naming the problem."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.exists():
        raise DataError(f"--data-dir {data_dir}: no such directory (not a directory)")
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir}: not a directory")
    return {stem: _find_idx(data_dir, stem) for pair in IDX_FILES.values() for stem in pair}


def read_idx_dir(data_dir, progress: bool = False) -> dict:
    """Read the four standard MNIST IDX files from ``data_dir``.

    Returns ``{"x_train", "y_train", "x_test", "y_test"}`` arrays. Checks that images are
    3-D, labels 1-D with values 0..9, and that each split has as many labels as images;
    hashes are checked by the caller (:func:`verify_arrays`).
    """
    files = idx_dir_files(data_dir)
    out = {}
    for split, (img_stem, lab_stem) in IDX_FILES.items():
        img_path, lab_path = files[img_stem], files[lab_stem]
        status(f"reading {img_path.name}, {lab_path.name}", progress)
        x = read_idx(img_path, 3, progress)
        y = read_idx(lab_path, 1, progress)
        if len(x) != len(y):
            raise DataError(f"{img_path} holds {len(x):,} images but {lab_path} holds {len(y):,} labels")
        check_labels(y, str(lab_path))
        out[f"x_{split}"], out[f"y_{split}"] = x, y
    return out

