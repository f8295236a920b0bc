"""Affine and elastic warps inside the training epoch: the compiled epoch (warps on its gather)
equals the readable reference loop (warps by augment_images), gives the same bits for any thread
count and any split into chunks, and the warp counter makes every epoch draw new warps."""
import numba
import numpy as np
import pytest

from network import engine
from network.augmentation import Augmentation
from network.model import NeuralNetwork

AFFINE = Augmentation("affine", shift=2, rotate=10.0, scale=0.1, shear=0.15)
ELASTIC = Augmentation("elastic", shift=2, rotate=10.0, scale=0.1, shear=0.15, elastic_sigma=3.0,
                       elastic_alpha=2.0, n_fields=16)


def data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = np.zeros((n, 28, 28))
    X[:, 6:22, 6:22] = rng.random((n, 16, 16))       # ink away from the border
    return X.reshape(n, 784), rng.integers(0, 10, n)


def net(dtype=np.float64, **kw):
    return NeuralNetwork([784, 32, 16, 10], seed=3, dtype=dtype, optimizer="adam", dropout=0.1, **kw)


@pytest.mark.parametrize("aug", [AFFINE, ELASTIC], ids=["affine", "elastic"])
def test_compiled_epoch_with_warps_equals_reference_float64(aug):
    X, y = data()
    fast, ref = net(), net()
    for _ in range(2):                               # two epochs: the counter base moves on
        lf = fast.train_epoch(X, y, batch_size=32, learning_rate=1e-3, augment=aug)
        lr = ref.train_epoch_reference(X, y, batch_size=32, learning_rate=1e-3, augment=aug)
        assert lf == pytest.approx(lr, rel=1e-9)
    for a, b in zip(fast.weights + fast.biases, ref.weights + ref.biases):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert fast.augment_epochs == ref.augment_epochs == 2


def test_a_false_warp_flag_is_refused_not_run_as_shifts(monkeypatch):
    # With warp a bool the compiled epoch holds only the warp gather (kernels/epoch.py,
    # _warp_only): warp=False must raise, not warp nor silently skip the augmentation.
    from kernels import epoch as E
    real = E.Augment
    monkeypatch.setattr(E, "Augment", lambda *a: real(*a)._replace(warp=False))
    X, y = data(64)
    with pytest.raises(ValueError, match="warp must be True"):
        net().train_epoch(X, y, batch_size=32, learning_rate=1e-3, augment=AFFINE)


def test_the_warp_comparison_can_fail():
    # Same run without the warp (or with another amount) must differ: the test above sees warps.
    X, y = data()
    a, b = net(), net()
    a.train_epoch(X, y, batch_size=32, learning_rate=1e-3, augment=AFFINE)
    b.train_epoch_reference(X, y, batch_size=32, learning_rate=1e-3,
                            augment=Augmentation("affine", shift=2, rotate=11.0, scale=0.1, shear=0.15))
    assert not np.allclose(a.weights[0], b.weights[0], rtol=1e-9, atol=1e-12)


def test_warped_epochs_bit_identical_across_thread_counts_and_chunks(monkeypatch):
    X, y = data(700)
    X = X.astype(np.float32)
    runs = []
    threads = numba.get_num_threads()
    try:
        for t, chunk in sorted({(1, 32), (threads, 32), (threads, 3)}):
            numba.set_num_threads(t)
            monkeypatch.setattr(engine.ThreadGuard, "CHUNK", chunk)
            m = net(np.float32)
            for _ in range(2):
                m.train_epoch(X, y, batch_size=64, learning_rate=1e-3, augment=ELASTIC)
            runs.append(np.concatenate([w.ravel() for w in m.weights]))
    finally:
        numba.set_num_threads(threads)
    for r in runs[1:]:
        np.testing.assert_array_equal(runs[0], r)


def test_each_epoch_draws_new_warps_and_shift_runs_are_unchanged():
    X, y = data(200)
    m = net()
    seen = []
    monkey = engine.reference_epoch

    def spy(net_, X_, y_, bs, lrs, perm, shifts, warp=None, progress=None):
        seen.append(warp[1])
        return monkey(net_, X_, y_, bs, lrs, perm, shifts, warp, progress)
    engine.reference_epoch = spy
    try:
        for _ in range(3):
            m.train_epoch_reference(X, y, batch_size=50, learning_rate=1e-3, augment=ELASTIC)
    finally:
        engine.reference_epoch = monkey
    assert len(set(seen)) == 3                       # counter bases differ
    # augment=Augmentation("shift", 2) is the old augment_shift=2, bit for bit
    a, b = net(), net()
    a.train_epoch(X, y, batch_size=50, learning_rate=1e-3, augment_shift=2)
    b.train_epoch(X, y, batch_size=50, learning_rate=1e-3, augment=Augmentation("shift", shift=2))
    np.testing.assert_array_equal(a.weights[0], b.weights[0])
    assert a.augment_epochs == b.augment_epochs == 0


def test_progress_hook_counts_every_row():
    X, y = data(150)
    for fast in (True, False):
        rows = []
        net().train_epoch(X, y, batch_size=32, learning_rate=1e-3, fast=fast, progress=rows.append)
        assert sum(rows) == 150


@pytest.mark.parametrize("kw", [dict(kind="warp"), dict(kind="affine", rotate=-1.0),
                                dict(kind="elastic", scale=1.5), dict(kind="shift", shift=30)])
def test_bad_augmentation_is_rejected(kw):
    with pytest.raises(ValueError):
        Augmentation(**kw)


def test_warps_need_28x28_images():
    m = NeuralNetwork([10, 4, 3], seed=0)
    with pytest.raises(ValueError, match="28x28"):
        m.train_epoch(np.zeros((5, 10)), np.zeros(5, np.int64), augment=AFFINE)


def test_bank_seed_works_after_an_int64_compilation():
    # The warp seeds lie above 2^63: a Python int that large cannot go to a kernel compiled for an
    # int64 seed (as test_warp's calls compile it), so the bank's seed is passed as np.uint64.
    from kernels.elastic import field_bank
    from network import augmentation as A
    field_bank(7, 1)
    A._BANKS.clear()
    bank = A.fields_for(Augmentation("elastic", n_fields=3), 5)
    np.testing.assert_array_equal(bank, field_bank(np.uint64(A.warp_seed(5) ^ 0x5EED), 3))
    assert A.warp_seed(5) >= 1 << 63
