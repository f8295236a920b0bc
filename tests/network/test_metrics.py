"""network.metrics against scikit-learn, on random labels including absent classes."""

import json

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

from network import metrics as M

N_CLASSES = 10


@st.composite
def label_pairs(draw):
    """Random (y_true, y_pred) over 10 classes; labels drawn from random subsets so some
    classes are often missing from y_true, from y_pred, or from both."""
    n = draw(st.integers(1, 200))
    true_classes = draw(st.lists(st.integers(0, N_CLASSES - 1), min_size=1, max_size=10, unique=True))
    pred_classes = draw(st.lists(st.integers(0, N_CLASSES - 1), min_size=1, max_size=10, unique=True))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    y_true = rng.choice(true_classes, size=n).astype(np.int64)
    y_pred = rng.choice(pred_classes, size=n).astype(np.int64)
    # make a random fraction correct so accuracy is not always ~0.1
    keep = rng.random(n) < draw(st.floats(0.0, 1.0))
    y_pred[keep] = y_true[keep]
    return y_true, y_pred


@settings(max_examples=200, deadline=None)
@given(label_pairs())
def test_matches_sklearn(pair):
    y_true, y_pred = pair
    labels = list(range(N_CLASSES))

    assert M.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-15)

    cm = M.confusion_matrix(y_true, y_pred, n_classes=N_CLASSES)
    np.testing.assert_array_equal(cm, skm.confusion_matrix(y_true, y_pred, labels=labels))

    p, r, f, s = M.precision_recall_f1(cm)
    sp, sr, sf, ss = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    np.testing.assert_allclose(p, sp, rtol=0, atol=1e-12)
    np.testing.assert_allclose(r, sr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(f, sf, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(s, ss)

    rep = M.classification_report(cm)
    assert rep["accuracy"] == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=1e-15)
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=avg, zero_division=0
        )
        got = rep[f"{avg}_avg"]
        assert got["precision"] == pytest.approx(ap, abs=1e-12)
        assert got["recall"] == pytest.approx(ar, abs=1e-12)
        assert got["f1"] == pytest.approx(af, abs=1e-12)


def test_absent_class_scores_zero():
    # class 2 never predicted (precision 0/0), class 3 never true (recall 0/0)
    y_true = np.array([0, 1, 2, 2])
    y_pred = np.array([0, 1, 3, 1])
    cm = M.confusion_matrix(y_true, y_pred, n_classes=4)
    p, r, f, s = M.precision_recall_f1(cm)
    np.testing.assert_array_equal(p, [1.0, 0.5, 0.0, 0.0])
    np.testing.assert_array_equal(r, [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(f, [1.0, 2 / 3, 0.0, 0.0])
    np.testing.assert_array_equal(s, [1, 1, 2, 0])


def test_most_confused_pairs():
    cm = np.zeros((10, 10), dtype=np.int64)
    np.fill_diagonal(cm, 100)  # large diagonal must never appear
    cm[4, 9] = 12
    cm[9, 4] = 7
    cm[3, 5] = 7
    cm[7, 2] = 12
    cm[1, 8] = 1
    assert M.most_confused_pairs(cm, k=4) == [(4, 9, 12), (7, 2, 12), (3, 5, 7), (9, 4, 7)]
    # zero cells are not reported, so fewer than k may come back
    assert len(M.most_confused_pairs(cm, k=50)) == 5
    assert M.most_confused_pairs(np.eye(3, dtype=int) * 5, k=5) == []


def test_most_confused_matches_brute_force():
    rng = np.random.default_rng(1)
    cm = rng.integers(0, 6, size=(10, 10))
    got = M.most_confused_pairs(cm, k=7)
    cells = sorted(
        ((cm[i, j], i, j) for i in range(10) for j in range(10) if i != j and cm[i, j] > 0),
        key=lambda t: (-t[0], t[1], t[2]),
    )
    assert got == [(i, j, int(c)) for c, i, j in cells[:7]]


def test_report_is_json_and_consistent():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 300)
    y_pred = np.where(rng.random(300) < 0.7, y_true, rng.integers(0, 10, 300))
    cm = M.confusion_matrix(y_true, y_pred)
    rep = json.loads(json.dumps(M.classification_report(cm)))
    assert set(rep) >= {"accuracy", "n", "n_correct", "per_class", "macro_avg", "weighted_avg",
                        "confusion_matrix", "most_confused"}
    assert rep["n"] == 300
    assert rep["n_correct"] == int(np.sum(y_true == y_pred))
    assert sorted(rep["per_class"], key=int) == [str(k) for k in range(10)]
    assert sum(v["support"] for v in rep["per_class"].values()) == 300
    assert rep["confusion_matrix"] == cm.tolist()
    counts = [d["count"] for d in rep["most_confused"]]
    assert counts == sorted(counts, reverse=True) and len(counts) == 5


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        ([0, 1, 2], [0, 1], "same length"),
        ([0, 1, 10], [0, 1, 2], r"y_true labels must lie in \[0, 9\]"),
        ([0, 1, 2], [0, -1, 2], r"y_pred labels must lie in \[0, 9\]"),
        ([0.0, 1.5, 2.0], [0, 1, 2], "integer class labels"),
        ([0, 1, 2], np.array([True, False, True]), "integer class labels"),
        (["a", "b"], [0, 1], "integer class labels"),
        ([[0, 1]], [[0, 1]], "1-D"),
        ([], [], "empty"),
    ],
)
def test_bad_labels_raise(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        M.confusion_matrix(np.asarray(y_true), np.asarray(y_pred))


def test_accuracy_bad_input():
    with pytest.raises(ValueError, match="same length"):
        M.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="integer"):
        M.accuracy([0.5], [0])


@pytest.mark.parametrize(
    "cm, match",
    [
        (np.zeros((3, 4), dtype=int), "square"),
        (np.zeros(3, dtype=int), "square"),
        (np.zeros((3, 3)), "integer counts"),
        (-np.eye(3, dtype=int), "non-negative"),
    ],
)
def test_bad_confusion_matrix_raises(cm, match):
    for fn in (M.precision_recall_f1, M.most_confused_pairs, M.classification_report):
        with pytest.raises(ValueError, match=match):
            fn(cm)


def test_bad_n_classes_and_k():
    with pytest.raises(ValueError, match="n_classes"):
        M.confusion_matrix([0], [0], n_classes=0)
    with pytest.raises(ValueError, match="k must"):
        M.most_confused_pairs(np.eye(2, dtype=int), k=-1)
    with pytest.raises(ValueError, match="all zeros"):
        M.classification_report(np.zeros((2, 2), dtype=int))
