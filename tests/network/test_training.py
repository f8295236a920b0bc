"""The training loop: schedules, best-model saving, history, divergence."""
import csv

import numpy as np
import pytest

from network.model import NeuralNetwork
from network.training import TrainingDiverged, fit, lr_schedule


def blobs(n, d=784, k=10, seed=0):
    """A separable toy problem: each class a Gaussian blob around its own random centre."""
    rng = np.random.default_rng(seed)
    centres = rng.random((k, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    x = centres[y] + 0.3 * rng.standard_normal((n, d)).astype(np.float32)
    return x, y


@pytest.mark.parametrize("name", ["constant", "cosine", "onecycle"])
def test_schedule_length_and_range(name):
    lrs = lr_schedule(name, 0.01, epochs=3, steps_per_epoch=7)
    assert lrs.shape == (21,)
    assert np.all(lrs >= 0) and np.all(lrs <= 0.01 + 1e-12)


def test_schedule_shapes():
    assert np.all(lr_schedule("constant", 0.1, 2, 5) == 0.1)
    cos = lr_schedule("cosine", 1.0, 1, 100)
    assert cos[0] == 1.0 and np.all(np.diff(cos) < 0)
    one = lr_schedule("onecycle", 1.0, 1, 100)
    peak = int(np.argmax(one))
    assert one[0] == pytest.approx(0.1) and one[peak] == pytest.approx(1.0)
    assert 25 <= peak <= 35 and np.all(np.diff(one[:peak + 1]) > 0) and np.all(np.diff(one[peak:]) < 0)
    assert one[-1] < 0.01
    with pytest.raises(ValueError, match="schedule must be one of"):
        lr_schedule("linear", 0.1, 1, 10)


def test_fit_learns_saves_best_and_writes_history(tmp_path):
    x, y = blobs(600)
    net = NeuralNetwork([784, 32, 10], optimizer="adam", seed=3)
    out, hist = tmp_path / "m.npz", tmp_path / "h.csv"
    history, (best_epoch, best_val) = fit(net, x[:500], y[:500], x[500:], y[500:], epochs=3,
                                          batch_size=32, learning_rate=0.003, schedule="cosine",
                                          out=out, history_path=hist, progress=False, log=lambda s: None)
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert best_val == max(h["val_acc"] for h in history) and best_val > 0.9
    saved = NeuralNetwork.load(out)
    assert saved.metadata["epoch"] == best_epoch and saved.metadata["val_accuracy"] == best_val
    assert saved.evaluate(x[500:], y[500:])[1] == best_val
    rows = list(csv.DictReader(open(hist)))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[1]["val_acc"]) == history[1]["val_acc"]


def test_fit_divergence_stops_and_keeps_existing_model(tmp_path):
    x, y = blobs(300)
    out = tmp_path / "m.npz"
    good = NeuralNetwork([784, 16, 10], seed=1)
    good.save(out, epoch=7)
    before = out.read_bytes()
    net = NeuralNetwork([784, 16, 10], optimizer="sgd", seed=1)
    with pytest.raises(TrainingDiverged, match=r"epoch 1: .*--lr 1e\+07"):
        fit(net, x * 1e3, y, x, y, epochs=3, batch_size=32, learning_rate=1e8, out=out,
            progress=False, log=lambda s: None)
    assert out.read_bytes() == before


def test_fit_stops_an_exploding_but_finite_loss_within_the_epoch(tmp_path):
    """Adam at a huge rate: the loss explodes yet stays finite. That is divergence too, caught after
    the first chunks of the compiled epoch (not after the whole, many times slower, epoch), and no
    model is written."""
    from network.training import DIVERGENCE_FACTOR
    x, y = blobs(4000)
    net = NeuralNetwork([784, 32, 10], optimizer="adam", seed=2)
    seen = []
    real = NeuralNetwork.train_epoch

    def spy(self, *args, **kwargs):
        watch = self.loss_watch
        self.loss_watch = lambda loss: (seen.append(loss), watch(loss))
        return real(self, *args, **kwargs)

    out = tmp_path / "m.npz"
    NeuralNetwork.train_epoch = spy
    try:
        with pytest.raises(TrainingDiverged, match=r"epoch 1: the loss exploded to .*--lr 10\b") as info:
            fit(net, x, y, x[:100], y[:100], epochs=2, batch_size=16, learning_rate=100.0, out=out,
                progress=False, log=lambda s: None)
    finally:
        NeuralNetwork.train_epoch = real
    assert np.isfinite(info.value.loss) and info.value.loss > DIVERGENCE_FACTOR * np.log(10)
    assert info.value.best == (0, -1.0)
    steps = -(-4000 // 16)
    assert len(seen) < steps / 32, "the explosion should stop the epoch after its first chunks"
    assert not out.exists() and not hasattr(net, "loss_watch")


def test_fit_healthy_runs_pass_the_divergence_check(tmp_path):
    """SGD at lr 1 (exp1's largest rate) is noisy but not diverging: no false alarm."""
    x, y = blobs(2000)
    net = NeuralNetwork([784, 32, 10], optimizer="sgd", seed=0)
    history, _ = fit(net, x, y, x[:200], y[:200], epochs=2, batch_size=64, learning_rate=1.0,
                     progress=False, log=lambda s: None)
    assert len(history) == 2


def test_eval_share_sums_evaluation_over_epoch_time():
    from network.training import eval_share
    assert eval_share([{"epoch_time_s": 1.0, "eval_time_s": 0.1}, {"epoch_time_s": 3.0, "eval_time_s": 0.3},
                       {"epoch_time_s": 5.0}]) == pytest.approx(0.1)
    assert eval_share([{"epoch_time_s": 1.0}]) is None
    x, y = blobs(300)
    history, _ = fit(NeuralNetwork([784, 16, 10], seed=1), x[:200], y[:200], x[200:], y[200:], epochs=2,
                     batch_size=32, learning_rate=0.01, progress=False, log=lambda s: None,
                     train_eval_images=50)
    assert all(h["train_eval_images"] == 50 and h["eval_time_s"] > 0 for h in history)
