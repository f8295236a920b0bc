"""Hypothesis fuzzing of the three file parsers: IDX, the wheel's CSV, and .npz model files.

Whatever bytes they are given, the parsers either return well-formed arrays or raise their own
one-line error (DataError / ModelFileError); never another exception, never a huge allocation.
"""
import gzip
import io
import struct
import tracemalloc
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data import DataError, read_csv_member, read_idx
from network.io import ModelFileError
from network.model import NeuralNetwork

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def idx_bytes(dims, payload, magic=None):
    magic = (0x800 + len(dims)) if magic is None else magic
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def mutate(data, flips, cut):
    """Overwrite bytes at (position, value) pairs, then truncate to `cut` (a fraction)."""
    b = bytearray(data)
    for pos, val in flips:
        if b:
            b[pos % len(b)] = val
    return bytes(b[:int(len(b) * cut)]) if cut < 1 else bytes(b)


mutations = st.tuples(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
                      st.sampled_from([1.0, 1.0, 0.0, 0.01, 0.3, 0.5, 0.9, 0.999]))


@FUZZ
@given(dims=st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3), extra=st.binary(max_size=64),
       gz=st.booleans())
def test_idx_header_claims_never_allocate_or_crash(tmp_path, dims, extra, gz):
    path = tmp_path / ("f.idx.gz" if gz else "f.idx")
    data = idx_bytes(dims, extra)
    path.write_bytes(gzip.compress(data) if gz else data)
    tracemalloc.start()
    try:
        arr = read_idx(path, 3)
    except DataError as e:
        assert "\n" not in str(e)
        arr = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 * 2**20  # no allocation sized by the header's claim
    if arr is not None:
        assert arr.dtype == np.uint8 and list(arr.shape) == dims and arr.tobytes() == extra


@FUZZ
@given(m=mutations, gz=st.booleans())
def test_mutated_idx_files_parse_or_raise_dataerror(tmp_path, m, gz):
    images = np.arange(5 * 28 * 28, dtype=np.uint64).astype(np.uint8).reshape(5, 28, 28)
    data = mutate(idx_bytes((5, 28, 28), images.tobytes()), *m)
    path = tmp_path / ("m.idx.gz" if gz else "m.idx")
    path.write_bytes(gzip.compress(data) if gz else data)
    try:
        arr = read_idx(path, 3)
    except DataError as e:
        assert "\n" not in str(e)
        return
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.size == int(np.prod(arr.shape))


def csv_zip(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("d.csv", text)
    buf.seek(0)
    return zipfile.ZipFile(buf)


HEADER = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)) + "\n"
cells = st.one_of(st.integers(-300, 300).map(str), st.sampled_from(["", " ", "nan", "inf", "1.5", "x", "1e3", "255", "0"]))


# rows near 785 cells by design (only they can be accepted): large inputs are the point here, so
# Hypothesis's "data too large" health check (seen failing at random) is off for this test
@settings(FUZZ, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
@given(rows=st.lists(st.lists(cells, min_size=780, max_size=790), min_size=1, max_size=3))
def test_fuzzed_csv_rows_parse_or_raise_dataerror(rows):
    text = HEADER + "".join(",".join(r) + "\n" for r in rows)
    try:
        images, labels = read_csv_member(csv_zip(text), "d.csv")
    except DataError as e:
        assert "\n" not in str(e)
        return
    # accepted only if every row really was 785 integers in range
    assert images.shape == (len(rows), 28, 28) and labels.shape == (len(rows),)
    assert all(len(r) == 785 for r in rows)
    assert labels.max() <= 9 and images.dtype == np.uint8


@FUZZ
@given(m=mutations)
def test_mutated_model_files_load_or_raise_modelfileerror(tmp_path, m):
    good = tmp_path / "good.npz"
    NeuralNetwork([784, 8, 10], seed=1).save(good, epoch=3)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(mutate(good.read_bytes(), *m))
    try:
        net = NeuralNetwork.load(bad)
    except ModelFileError as e:
        assert "\n" not in str(e)
        return
    # a mutation that survives validation must still give a usable, finite network
    assert all(np.isfinite(w).all() for w in net.weights + net.biases)
    assert [w.shape for w in net.weights] == [(784, 8), (8, 10)]
    assert np.allclose(net.predict_proba(np.zeros((2, 784), np.float32)).sum(1), 1, atol=1e-5)


@FUZZ
@given(values=st.lists(st.sampled_from([np.nan, np.inf, -np.inf]), min_size=1, max_size=3),
       where=st.integers(0, 10**6))
def test_non_finite_weights_are_rejected(tmp_path, values, where):
    net = NeuralNetwork([784, 8, 10], seed=1)
    flat = net.weights[0].reshape(-1, order="A")   # a view in memory order (weights are F-ordered views)
    for i, v in enumerate(values):
        flat[(where + 7919 * i) % flat.size] = v
    net.save(tmp_path / "m.npz")
    try:
        NeuralNetwork.load(tmp_path / "m.npz")
    except ModelFileError as e:
        assert "NaN or infinite" in str(e)
    else:
        raise AssertionError("a model with non-finite weights was accepted")


def npz_with_header(path, good, key, shape, descr, payload=None, fortran=False):
    """Rewrite the .npz `good` into `path` with member `key`'s .npy header replaced (its shape and
    dtype claims); the member's data bytes stay those of the original array unless `payload`."""
    with np.load(good, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    with zipfile.ZipFile(path, "w") as out:
        for k, a in arrays.items():
            buf = io.BytesIO()
            if k == key:
                np.lib.format.write_array_header_2_0(buf, {"descr": descr, "fortran_order": fortran,
                                                           "shape": tuple(shape)})
                buf.write(a.tobytes() if payload is None else payload)
            else:
                np.lib.format.write_array(buf, a, allow_pickle=False)
            out.writestr(k + ".npy", buf.getvalue())
    return path


@FUZZ
@given(shape=st.lists(st.one_of(st.integers(0, 2**42), st.sampled_from([0, 1, 8, 10, 784])), min_size=0, max_size=4),
       descr=st.sampled_from(["<f4", "<f8", "<i8", "|u1", "<c16", "|V4096", "<U100000"]),
       key=st.sampled_from(["W0", "b1", "layer_sizes", "metadata", "W1"]))
def test_npz_member_headers_are_checked_before_any_allocation(tmp_path, shape, descr, key):
    """A member header may claim any shape and dtype: the file loads only if the claim matches the
    member's bytes, and is otherwise a one-line ModelFileError, found before any array is allocated
    (a claimed 4 TiB array used to be an ArrayMemoryError, a claimed 10 GB one an allocation)."""
    good = tmp_path / "good.npz"
    NeuralNetwork([784, 8, 10], seed=1).save(good, epoch=3)
    bad = npz_with_header(tmp_path / "bad.npz", good, key, shape, descr)
    tracemalloc.start()
    try:
        net = NeuralNetwork.load(bad)
    except ModelFileError as e:
        assert "\n" not in str(e) and str(bad) in str(e)
        net = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < 16 * 2**20
    if net is not None:
        assert [w.shape for w in net.weights] == [(784, 8), (8, 10)]


def test_a_claimed_4_tib_member_is_a_one_line_error(tmp_path):
    good = tmp_path / "good.npz"
    NeuralNetwork([784, 8, 10], seed=1).save(good)
    for name, shape in (("tib.npz", (2**40, 4)), ("gb.npz", (10**9 // 4 * 10, 1))):
        bad = npz_with_header(tmp_path / name, good, "W0", shape, "<f4")
        try:
            NeuralNetwork.load(bad)
        except ModelFileError as e:
            assert "claims" in str(e) and "W0" in str(e) and "\n" not in str(e)
        else:
            raise AssertionError("a huge header claim was accepted")
