"""network.plots: each plot writes a real PNG atomically; bad shapes raise ValueError."""

import io
import os

import numpy as np
import pytest

from network import plots as P

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _history(n=5, lr=True):
    rows = []
    for e in range(1, n + 1):
        row = dict(epoch=e, train_loss=1.0 / e, train_acc=1 - 0.5 / e,
                   val_loss=1.1 / e + 0.01 * e, val_acc=1 - 0.6 / e - 0.01 * e)
        if lr:
            row["lr"] = 0.01 * 0.5 ** e
        rows.append(row)
    return rows


def _assert_png(path):
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    # atomic save: no temp files left next to the output
    assert sorted(os.listdir(path.parent)) == [path.name]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("lr", [True, False])
def test_learning_curves(tmp_path, lr):
    out = tmp_path / "sub" / "curves.png"  # parent dir is created
    assert P.plot_learning_curves(_history(lr=lr), out) == out
    _assert_png(out)


def test_confusion_matrix(tmp_path, rng):
    cm = rng.integers(0, 50, size=(10, 10))
    cm[3] = 0  # an empty row must not divide by zero
    for normalize in (True, False):
        out = tmp_path / f"cm_{normalize}" / "cm.png"
        P.plot_confusion_matrix(cm, out, normalize=normalize)
        _assert_png(out)


@pytest.mark.parametrize("shape", [(50, 784), (50, 28, 28)])
def test_misclassified(tmp_path, rng, shape):
    images = rng.integers(0, 256, size=shape).astype(np.uint8)
    y_true = rng.integers(0, 10, 50)
    y_pred = rng.integers(0, 10, 50)
    conf = rng.random(50)
    out = tmp_path / "mis.png"
    P.plot_misclassified(images, y_true, y_pred, conf, out, n=12)
    _assert_png(out)


def test_misclassified_none_wrong(tmp_path, rng):
    y = rng.integers(0, 10, 5)
    out = tmp_path / "mis.png"
    P.plot_misclassified(rng.random((5, 784)), y, y, np.ones(5), out)
    _assert_png(out)


def test_first_layer_weights(tmp_path, rng):
    out = tmp_path / "w.png"
    W = rng.standard_normal((784, 20)).astype(np.float32)
    W[:, 0] = 0.0  # an all-zero unit must not break the symmetric colour range
    P.plot_first_layer_weights(W, out)
    _assert_png(out)


def test_file_object_gets_png_bytes(rng):
    buf = io.BytesIO()
    P.plot_first_layer_weights(rng.standard_normal((784, 4)), buf)
    assert buf.getvalue()[:8] == PNG_MAGIC


def test_failed_save_leaves_nothing(tmp_path, rng, monkeypatch):
    from matplotlib.figure import Figure

    def boom(self, *a, **k):
        raise RuntimeError("render failed")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError):
        P.plot_first_layer_weights(rng.standard_normal((784, 4)), tmp_path / "w.png")
    assert os.listdir(tmp_path) == []


def test_bad_suffix(tmp_path, rng):
    with pytest.raises(ValueError, match="must end in"):
        P.plot_first_layer_weights(rng.standard_normal((784, 4)), tmp_path / "w.jpgx")


def test_atomic_write_bytes(tmp_path):
    p = tmp_path / "a" / "b.json"
    P.atomic_write_bytes(b"{}", p)
    assert p.read_bytes() == b"{}"
    assert os.listdir(p.parent) == ["b.json"]


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: P.plot_learning_curves([], p), "non-empty"),
        (lambda p: P.plot_learning_curves([{"epoch": 1, "train_loss": 1.0}], p), "missing keys"),
        (lambda p: P.plot_learning_curves(_history(), p, best_epoch=99), "best_epoch"),
        (lambda p: P.plot_confusion_matrix(np.zeros((3, 4), int), p), "square"),
        (lambda p: P.plot_confusion_matrix(np.zeros((3, 3)), p), "integer counts"),
        (lambda p: P.plot_misclassified(np.zeros((4, 783)), np.zeros(4, int), np.ones(4, int),
                                        np.ones(4), p), r"\(N, 784\)"),
        (lambda p: P.plot_misclassified(np.zeros((4, 784)), np.zeros(3, int), np.ones(4, int),
                                        np.ones(4), p), "y_true"),
        (lambda p: P.plot_misclassified(np.zeros((4, 784)), np.zeros(4, int), np.ones(4, int),
                                        np.ones(5), p), "confidence"),
        (lambda p: P.plot_first_layer_weights(np.zeros((783, 8)), p), r"\(784, H\)"),
        (lambda p: P.plot_first_layer_weights(np.zeros(784), p), r"\(784, H\)"),
    ],
)
def test_bad_shapes_raise(tmp_path, call, match):
    out = tmp_path / "x.png"
    with pytest.raises(ValueError, match=match):
        call(out)
    assert not out.exists()


def test_output_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    os.umask(old)
    out = tmp_path / "c.png"
    P.plot_learning_curves(_history(), out)
    assert out.stat().st_mode & 0o777 == 0o666 & ~old
