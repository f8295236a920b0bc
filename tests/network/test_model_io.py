"""Model files (network/io.py and NeuralNetwork.save / load): bit-exact round trips, a clear
ModelFileError for every kind of bad file, and atomic saves that never leave a partial file.
"""
import json
import os
import pickle

import numpy as np
import pytest

from network import io
from network.io import ModelFileError
from network.model import NeuralNetwork


def trained_net(dtype=np.float32, **kwargs):
    rng = np.random.default_rng(0)
    net = NeuralNetwork([784, 16, 8, 10], seed=3, dtype=dtype, **kwargs)
    X = rng.random((64, 784))
    y = rng.integers(0, 10, 64)
    net.train_epoch(X, y, batch_size=16, learning_rate=0.01)
    return net, X


def valid_arrays(tmp_path):
    """The arrays of a valid model file, as a dict to be corrupted and rewritten."""
    path = tmp_path / "valid.npz"
    NeuralNetwork([20, 7, 5, 3], seed=1).save(path, epoch=1)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def write_npz(path, arrays):
    np.savez(path, **arrays)  # plain np.savez: allows the object arrays a hostile file could hold
    return path


def listing(directory):
    return sorted(os.listdir(directory))


# ------------------------------------------------------------------------------ round trip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_is_bit_exact(tmp_path, dtype):
    net, X = trained_net(dtype, activation="tanh", optimizer="adam", l2=1e-4, dropout=0.1, init="xavier")
    path = tmp_path / "model.npz"
    net.save(path, epoch=7, val_accuracy=0.9712, history=[0.5, 0.3])
    loaded = NeuralNetwork.load(path)
    assert loaded.layer_sizes == net.layer_sizes == [784, 16, 8, 10]
    for a, b in zip(net.weights + net.biases, loaded.weights + loaded.biases):
        assert b.dtype == dtype and b.shape == a.shape
        np.testing.assert_array_equal(a, b)
        assert a.tobytes() == b.tobytes()
    assert loaded.config() == net.config()
    assert loaded.activation == "tanh" and loaded.optimizer == "adam" and loaded.dropout == 0.1
    assert loaded.metadata["epoch"] == 7
    assert loaded.metadata["val_accuracy"] == 0.9712
    assert loaded.metadata["history"] == [0.5, 0.3]
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert listing(tmp_path) == ["model.npz"], "save left temporary files behind"


def test_loaded_network_can_keep_training_and_resave(tmp_path):
    net, X = trained_net()
    path = tmp_path / "model.npz"
    net.save(path, epoch=1)
    loaded = NeuralNetwork.load(path)
    y = np.arange(len(X)) % 10
    loss = loaded.train_epoch(X, y, batch_size=16, learning_rate=0.01)
    assert np.isfinite(loss)
    assert not np.array_equal(loaded.weights[0], net.weights[0])
    loaded.save(path, epoch=2)
    again = NeuralNetwork.load(path)
    assert again.metadata["epoch"] == 2
    np.testing.assert_array_equal(again.weights[0], loaded.weights[0])


def test_model_file_is_a_plain_npz_readable_without_pickle(tmp_path):
    net, _ = trained_net()
    path = tmp_path / "model.npz"
    net.save(str(path), epoch=3)
    with np.load(path, allow_pickle=False) as data:
        assert {"W0", "W1", "W2", "b0", "b1", "b2", "layer_sizes", "metadata"} <= set(data.files)
        np.testing.assert_array_equal(data["layer_sizes"], [784, 16, 8, 10])
        meta = json.loads(str(data["metadata"]))
    assert meta["epoch"] == 3 and meta["config"]["activation"] == "relu"


def test_saved_file_gets_the_usual_permissions(tmp_path):
    """The temp file mkstemp makes is 0600; the final file gets 0666 & ~umask like open() would."""
    mask = os.umask(0o022)
    os.umask(mask)
    trained_net()[0].save(tmp_path / "model.npz")
    assert (tmp_path / "model.npz").stat().st_mode & 0o777 == 0o666 & ~mask


def test_save_creates_missing_directories(tmp_path):
    net, _ = trained_net()
    path = tmp_path / "a" / "b" / "model.npz"
    net.save(path)
    np.testing.assert_array_equal(NeuralNetwork.load(path).weights[1], net.weights[1])


# ---------------------------------------------------------------------------------- bad files
def _missing(tmp_path):
    return tmp_path / "nope.npz"


def _directory(tmp_path):
    d = tmp_path / "dir.npz"
    d.mkdir()
    return d


def _random_bytes(tmp_path):
    p = tmp_path / "random.npz"
    p.write_bytes(np.random.default_rng(0).bytes(4096))
    return p


def _empty(tmp_path):
    p = tmp_path / "empty.npz"
    p.write_bytes(b"")
    return p


def _text(tmp_path):
    p = tmp_path / "notes.npz"
    p.write_text("W0,W1\n1,2\n")
    return p


def _npy_not_npz(tmp_path):
    """A single-array .npy file under the model's name (np.load returns an ndarray, not an archive)."""
    p = tmp_path / "array.npz"
    with open(p, "wb") as f:
        np.save(f, np.zeros((3, 3)))
    return p


def _truncated(fraction):
    def make(tmp_path):
        src = tmp_path / "good.npz"
        NeuralNetwork([20, 7, 3]).save(src)
        data = src.read_bytes()
        p = tmp_path / "truncated.npz"
        p.write_bytes(data[:int(len(data) * fraction)])
        return p
    return make


def _flipped_bytes(tmp_path):
    src = tmp_path / "good.npz"
    NeuralNetwork([20, 7, 3]).save(src)
    data = bytearray(src.read_bytes())
    i = data.find(b"W0.npy")
    data[i + 200:i + 216] = bytes(16)  # inside W0's data: the zip CRC no longer matches
    p = tmp_path / "flipped.npz"
    p.write_bytes(bytes(data))
    return p


def _pickle_file(tmp_path):
    p = tmp_path / "evil.npz"
    with open(p, "wb") as f:
        pickle.dump({"W0": np.zeros((20, 7))}, f)
    return p


def _mutated(change):
    def make(tmp_path):
        arrays = valid_arrays(tmp_path)
        change(arrays)
        return write_npz(tmp_path / "bad.npz", arrays)
    return make


def _set(**kv):
    def change(arrays):
        arrays.update(kv)
    return change


def _drop(key):
    def change(arrays):
        del arrays[key]
    return change


def _meta(value):
    return _set(metadata=np.array(json.dumps(value)))


BAD_FILES = {
    "missing": (_missing, "does not exist"),
    "directory": (_directory, "directory"),
    "random-bytes": (_random_bytes, None),
    "empty": (_empty, None),
    "text": (_text, None),
    "npy-not-npz": (_npy_not_npz, None),
    "truncated-10%": (_truncated(0.1), None),
    "truncated-50%": (_truncated(0.5), None),
    "truncated-last-byte": (_truncated(0.999), None),
    "corrupted-data": (_flipped_bytes, None),
    "pickle-file": (_pickle_file, None),
    "object-array": (_mutated(_set(W0=np.array([{"evil": 1}] * 3, dtype=object))), "pickle"),
    "no-layer_sizes": (_mutated(_drop("layer_sizes")), "layer_sizes"),
    "no-metadata": (_mutated(_drop("metadata")), "metadata"),
    "no-W1": (_mutated(_drop("W1")), "W1"),
    "no-b2": (_mutated(_drop("b2")), "b2"),
    "W0-transposed": (_mutated(lambda a: a.update(W0=a["W0"].T.copy())), "shape"),
    "b1-wrong-length": (_mutated(lambda a: a.update(b1=np.zeros(6, np.float32))), "shape"),
    "sizes-disagree": (_mutated(_set(layer_sizes=np.array([20, 8, 5, 3]))), "shape"),
    "nan-weight": (_mutated(lambda a: a["W1"].__setitem__((0, 0), np.nan)), "NaN"),
    "inf-bias": (_mutated(lambda a: a["b0"].__setitem__(0, np.inf)), "infinite"),
    "mixed-dtypes": (_mutated(lambda a: a.update(b0=a["b0"].astype(np.float64))), "dtype"),
    "int-weights": (_mutated(lambda a: a.update(W2=np.zeros((5, 3), np.int64))), "dtype"),
    "sizes-single": (_mutated(_set(layer_sizes=np.array([20]))), "layer_sizes"),
    "sizes-zero": (_mutated(_set(layer_sizes=np.array([20, 0, 5, 3]))), "layer_sizes"),
    "sizes-negative": (_mutated(_set(layer_sizes=np.array([20, -7, 5, 3]))), "layer_sizes"),
    "sizes-float": (_mutated(_set(layer_sizes=np.array([20.0, 7.0, 5.0, 3.0]))), "layer_sizes"),
    "sizes-2d": (_mutated(_set(layer_sizes=np.array([[20, 7], [5, 3]]))), "layer_sizes"),
    "metadata-not-json": (_mutated(_set(metadata=np.array("{epoch: 1"))), "metadata"),
    "metadata-a-list": (_mutated(_meta([1, 2])), "metadata"),
    "config-bad-activation": (_mutated(_meta({"config": {"activation": "swish"}})), "activation"),
    "config-negative-seed": (_mutated(_meta({"config": {"seed": -1}})), "seed"),
    "config-not-an-object": (_mutated(_meta({"config": [1, 2]})), "config"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_model_files_raise_model_file_error(tmp_path, case):
    make, word = BAD_FILES[case]
    path = make(tmp_path)
    with pytest.raises(ModelFileError) as info:
        NeuralNetwork.load(path)
    msg = str(info.value)
    assert "\n" not in msg, f"the message should be one line: {msg!r}"
    assert str(path) in msg, "the message should name the file"
    if word is not None:
        assert word.lower() in msg.replace(str(path), "").lower(), f"expected {word!r} in {msg!r}"


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


def test_io_load_model_returns_validated_parts(tmp_path):
    net = NeuralNetwork([20, 7, 3], dtype=np.float64, seed=4)
    path = tmp_path / "m.npz"
    net.save(path, note="x")
    weights, biases, sizes, meta = io.load_model(path)
    assert sizes == [20, 7, 3]
    assert meta["note"] == "x" and meta["config"]["dtype"] == "float64"
    for a, b in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_array_equal(a, b)
        assert b.flags.c_contiguous


def test_save_arrays_refuses_object_arrays(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match="object"):
        io.save_arrays(path, {"a": np.zeros(3), "b": np.array([None], dtype=object)})
    assert listing(tmp_path) == []


# ------------------------------------------------------------------------------ atomic saves
def _saved_old_model(tmp_path):
    old = NeuralNetwork([20, 7, 3], seed=1)
    path = tmp_path / "model.npz"
    old.save(path, epoch=1)
    return old, path, path.read_bytes()


def _assert_old_model_intact(tmp_path, old, path, old_bytes):
    assert path.read_bytes() == old_bytes
    assert listing(tmp_path) == ["model.npz"], f"temporary files left behind: {listing(tmp_path)}"
    loaded = NeuralNetwork.load(path)
    np.testing.assert_array_equal(loaded.weights[0], old.weights[0])
    assert loaded.metadata["epoch"] == 1


def test_failed_save_midway_leaves_previous_file_untouched(tmp_path, monkeypatch):
    old, path, old_bytes = _saved_old_model(tmp_path)
    real_savez = np.savez

    def failing_savez(f, **arrays):
        real_savez(f, **arrays)  # a complete archive is already in the temp file...
        f.write(b"garbage")
        raise OSError("No space left on device")  # ...when the disk fills up

    monkeypatch.setattr(np, "savez", failing_savez)
    new = NeuralNetwork([20, 7, 3], seed=2)
    with pytest.raises(OSError, match="No space"):
        new.save(path, epoch=2)
    monkeypatch.undo()
    _assert_old_model_intact(tmp_path, old, path, old_bytes)


def test_interrupted_save_leaves_previous_file_untouched(tmp_path, monkeypatch):
    old, path, old_bytes = _saved_old_model(tmp_path)

    def interrupted(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        NeuralNetwork([20, 7, 3], seed=2).save(path, epoch=2)
    monkeypatch.undo()
    _assert_old_model_intact(tmp_path, old, path, old_bytes)


def test_failed_rename_leaves_previous_file_untouched(tmp_path, monkeypatch):
    old, path, old_bytes = _saved_old_model(tmp_path)

    def no_replace(src, dst):
        raise PermissionError("read-only")

    monkeypatch.setattr(os, "replace", no_replace)
    with pytest.raises(PermissionError):
        NeuralNetwork([20, 7, 3], seed=2).save(path, epoch=2)
    monkeypatch.undo()
    _assert_old_model_intact(tmp_path, old, path, old_bytes)


def test_unserialisable_metadata_leaves_previous_file_untouched(tmp_path):
    old, path, old_bytes = _saved_old_model(tmp_path)
    with pytest.raises(TypeError):
        NeuralNetwork([20, 7, 3], seed=2).save(path, callback=object())
    _assert_old_model_intact(tmp_path, old, path, old_bytes)


# ------------------------------------------------------------------------------ special files
def test_named_pipe_model_path_is_refused_without_blocking(tmp_path):
    """Opening a named pipe for reading waits for a writer forever; it must be refused from stat."""
    import signal
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)

    def hang(signum, frame):
        raise TimeoutError("loading a named pipe blocked")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(10)
    try:
        with pytest.raises(ModelFileError, match="named pipe, not a regular file"):
            NeuralNetwork.load(fifo)
        with pytest.raises(ModelFileError, match="named pipe"):
            io.load_arrays(fifo)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    with pytest.raises(ModelFileError, match="device"):
        io.load_arrays("/dev/zero")


def test_non_npy_members_are_refused(tmp_path):
    import zipfile
    path = tmp_path / "m.npz"
    NeuralNetwork([20, 7, 3]).save(path)
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("notes.txt", "x" * 100)
    with pytest.raises(ModelFileError, match="notes.txt.*not a .npy array"):
        NeuralNetwork.load(path)
