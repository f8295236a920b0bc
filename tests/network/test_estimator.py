"""KernelMLPClassifier: scikit-learn's own estimator checks, the mapping onto NeuralNetwork (same
weights as training the network by hand), MLPClassifier's stopping rules, labels, pickling and
model files, the README example and the benchmark's smoke run."""
import copy
import csv
import os
import pickle
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from network.estimator import KernelMLPClassifier
from network.model import NeuralNetwork
from network.training import lr_schedule

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# Every check runs; none is expected to fail. (Two may be *skipped by scikit-learn itself* when
# the environment lacks what they need: the DataFrame check without pandas, and the array-API
# check unless SCIPY_ARRAY_API=1; both pass when those are present.) The second instance covers
# the other code paths: sgd, a per-batch schedule, in-order batches, dropout, tanh, float64.
@parametrize_with_checks([
    KernelMLPClassifier(),
    KernelMLPClassifier(hidden_layer_sizes=(16, 8), activation="tanh", solver="sgd", learning_rate="onecycle",
                        learning_rate_init=0.1, max_iter=50, shuffle=False, dropout=0.1, dtype="float64"),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _data(n=90, d=6, c=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (c, d))
    y = rng.integers(0, c, n)
    return centers[y] + rng.normal(0, 1, (n, d)), y


# ------------------------------------------------------------- the mapping onto NeuralNetwork
def test_fit_equals_training_the_network_by_hand():
    X, y = _data()
    clf = KernelMLPClassifier((12, 7), alpha=0.01, batch_size=16, max_iter=3, random_state=5).fit(X, y)
    net = NeuralNetwork([6, 12, 7, 3], activation="relu", init="he", seed=5, optimizer="adam", l2=0.01 / 16)
    losses = [net.train_epoch(X.astype(np.float32), y, batch_size=16, learning_rate=1e-3) for _ in range(3)]
    for a, b in zip(clf.coefs_ + clf.intercepts_, net.weights + net.biases):
        np.testing.assert_array_equal(a, b)
    penalty = 0.5 * 0.01 * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in net.weights) / 16
    assert clf.loss_ == pytest.approx(losses[-1] + penalty, rel=1e-12)
    assert len(clf.loss_curve_) == clf.n_iter_ == 3 and clf.t_ == 3 * len(X)
    np.testing.assert_array_equal(clf.predict_proba(X), net.predict_proba(X.astype(np.float32)))
    assert [w.shape for w in clf.coefs_] == [(6, 12), (12, 7), (7, 3)]
    assert [b.shape for b in clf.intercepts_] == [(12,), (7,), (3,)]
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 3 and clf.out_activation_ == "softmax"


def test_onecycle_schedule_is_the_projects_per_batch_schedule():
    X, y = _data()
    clf = KernelMLPClassifier((8,), learning_rate="onecycle", learning_rate_init=0.01, batch_size=30,
                              max_iter=4, random_state=1).fit(X, y)
    net = NeuralNetwork([6, 8, 3], seed=1, optimizer="adam", l2=1e-4 / 30)
    rates = lr_schedule("onecycle", 0.01, 4, 3)
    for e in range(4):
        net.train_epoch(X.astype(np.float32), y, batch_size=30, learning_rate=rates[3 * e:3 * e + 3])
    np.testing.assert_array_equal(clf.coefs_[0], net.weights[0])


def test_invscaling_sgd_rates_and_momentum():
    X, y = _data()
    clf = KernelMLPClassifier((8,), solver="sgd", momentum=0.5, learning_rate="invscaling", power_t=0.5,
                              learning_rate_init=0.1, batch_size=45, max_iter=3, random_state=2).fit(X, y)
    net = NeuralNetwork([6, 8, 3], seed=2, optimizer="momentum", momentum=0.5, l2=1e-4 / 45)
    for t in (0, 90, 180):  # lr_init / (samples seen + 1) ** power_t, per epoch, as in MLPClassifier
        net.train_epoch(X.astype(np.float32), y, batch_size=45, learning_rate=0.1 / (t + 1) ** 0.5)
    np.testing.assert_array_equal(clf.coefs_[1], net.weights[1])


def test_shuffle_false_takes_the_batches_in_order():
    X, y = _data(n=50)
    kw = dict(hidden_layer_sizes=(8,), solver="sgd", momentum=0.0, learning_rate_init=0.05, batch_size=16,
              max_iter=2, alpha=0.0, random_state=0, dtype="float64")
    clf = KernelMLPClassifier(shuffle=False, **kw).fit(X, y)
    net = NeuralNetwork([6, 8, 3], seed=0, dtype=np.float64, optimizer="sgd")
    for _ in range(2):
        for s in range(0, 50, 16):
            net.backward(X[s:s + 16], y[s:s + 16])
            net.update_weights(0.05)
    np.testing.assert_allclose(clf.coefs_[0], net.weights[0], rtol=1e-10, atol=1e-12)
    shuffled = KernelMLPClassifier(shuffle=True, **kw).fit(X, y)
    assert not np.allclose(shuffled.coefs_[0], net.weights[0], rtol=1e-6)


@pytest.mark.parametrize("learning_rate", ["constant", "adaptive"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_stopping_rules_match_mlpclassifier(learning_rate, early_stopping):
    # tol so large that no epoch counts as an improvement: the epoch count is set by the rules
    # alone (n_iter_no_change, adaptive's divide-by-5 until 1e-6), identical to MLPClassifier's
    X, y = _data(n=60, d=5)
    kw = dict(solver="sgd", learning_rate=learning_rate, tol=1e9, n_iter_no_change=2, max_iter=100,
              random_state=0, early_stopping=early_stopping, validation_fraction=0.25)
    ours = KernelMLPClassifier(**kw).fit(X, y)
    assert ours.n_iter_ == MLPClassifier(**kw).fit(X, y).n_iter_ == (19 if learning_rate == "adaptive" else 4)


def test_early_stopping_keeps_the_best_validation_weights():
    X, y = _data(n=200, seed=3)
    clf = KernelMLPClassifier((16,), early_stopping=True, validation_fraction=0.2, n_iter_no_change=3,
                              learning_rate_init=0.05, max_iter=60, random_state=4).fit(X, y)
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert len(clf.validation_scores_) == clf.n_iter_ and clf.best_loss_ is None
    _, X_val, _, y_val = train_test_split(X, y, random_state=4, stratify=y, test_size=0.2)
    assert clf.score(X_val, y_val) == clf.best_validation_score_
    plain = KernelMLPClassifier(max_iter=3).fit(X, y)
    assert plain.validation_scores_ is None and plain.best_validation_score_ is None
    assert plain.best_loss_ == min(plain.loss_curve_)


def test_max_iter_warns_like_mlpclassifier():
    X, y = _data()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(2\\)"):
        KernelMLPClassifier(max_iter=2).fit(X, y)


# ------------------------------------------------------------------------- labels, shapes
@pytest.mark.parametrize("labels", [np.array(["cat", "dog"]), np.array([-3, 7, 100]), np.array([1.0, 3.0]),
                                    np.array(["b", "a", "c", "d"], dtype=object)])
def test_any_labels_binary_and_multiclass(labels):
    X, y = _data(n=120, c=len(labels), seed=len(labels))
    clf = KernelMLPClassifier((16,), learning_rate_init=0.01, random_state=0).fit(X, labels[y])
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    assert clf.predict(X).dtype == labels.dtype
    proba = clf.predict_proba(X)
    assert proba.shape == (120, len(labels)) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert clf.score(X, labels[y]) > 0.9
    assert clf.coefs_[-1].shape[1] == len(labels)  # binary: two softmax units


def test_dtype_float64_and_live_coefs():
    X, y = _data()
    clf = KernelMLPClassifier((8,), dtype="float64", max_iter=5, random_state=0).fit(X, y)
    assert all(w.dtype == np.float64 for w in clf.coefs_ + clf.intercepts_)
    before = clf.predict_proba(X)
    clf.coefs_[-1][...] = 0  # coefs_ are the network's arrays, as in MLPClassifier
    clf.intercepts_[-1][...] = 0
    assert not np.allclose(before, clf.predict_proba(X))
    np.testing.assert_allclose(clf.predict_proba(X), 1 / 3)
    assert KernelMLPClassifier(max_iter=1).fit(X, y).coefs_[0].dtype == np.float32


def test_partial_fit_warm_start_and_messages():
    X, y = _data()
    clf = KernelMLPClassifier((8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:30], y[:30], classes=[0, 1, 2, 3])
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 2 and clf.classes_.tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X, y + 10)
    cyc = KernelMLPClassifier((8,), learning_rate="onecycle", max_iter=2, random_state=0)
    for _ in range(3):  # past max_iter the schedule stays at its last rate
        cyc.partial_fit(X, y, classes=[0, 1, 2])
    assert cyc.n_iter_ == 3 and np.isfinite(cyc.loss_)
    warm = KernelMLPClassifier((8,), warm_start=True, max_iter=5, random_state=0).fit(X, y)
    first = list(warm.loss_curve_)
    warm.fit(X, y)
    assert warm.n_iter_ == 10 and warm.loss_curve_[:5] == first and warm.loss_curve_[5] < first[0]
    with pytest.raises(ValueError, match="warm_start needs y to have the classes"):
        warm.fit(X, np.where(y == 2, 1, y))


@pytest.mark.parametrize("params, match", [
    (dict(activation="identity"), "activation must be one of .* kernels implement relu"),
    (dict(solver="lbfgs"), "solver must be one of .* no lbfgs"),
    (dict(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes must be a tuple of positive integers"),
    (dict(dtype="int32"), "dtype must be 'float32' or 'float64'"),
    (dict(random_state=-1), "random_state must be None, a non-negative integer"),
    (dict(batch_size=0), "batch_size .* must be an integer in \\[1, inf\\]"),
    (dict(learning_rate="cyclic"), "learning_rate must be one of"),
    (dict(dropout=1.0), "dropout must be a finite number in \\[0, 1\\)"),
    (dict(validation_fraction=1.0), "validation_fraction must be a finite number in \\(0, 1\\)"),
    (dict(augment_shift=2), "augment_shift needs 28x28 images"),
])
def test_bad_parameters_say_what_was_expected(params, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        KernelMLPClassifier(max_iter=1, **params).fit(X, y)


def test_bad_inputs_say_what_was_expected():
    X, y = _data()
    clf = KernelMLPClassifier(max_iter=2)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    with pytest.raises(TypeError, match="[Ss]parse data was passed"):
        clf.fit(sparse.csr_matrix(X), y)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(Xn, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, y + 0.5)
    with pytest.raises(ValueError, match="at least 2 classes"):
        clf.fit(X, np.zeros(len(y)))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="X has 5 features, but KernelMLPClassifier is expecting 6"):
        clf.predict(X[:, :5])


# -------------------------------------------------------- pickling, cloning and model files
def test_pickle_and_deepcopy_resume_training_exactly():
    X, y = _data()
    clf = KernelMLPClassifier((8,), dropout=0.2, random_state=3).partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y)
    for twin in (pickle.loads(pickle.dumps(clf)), copy.deepcopy(clf)):
        assert twin.network_ is not clf.network_
        np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))
    twin = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X, y)  # optimizer moments, step, RNG and dropout counters were all carried over
    twin.partial_fit(X, y)
    for a, b in zip(clf.coefs_ + clf.intercepts_, twin.coefs_ + twin.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert "network_" in vars(clf)  # pickling did not strip the live estimator
    fresh = clone(clf)
    assert fresh.get_params() == clf.get_params() and not hasattr(fresh, "classes_")


def test_save_and_load_npz_without_pickle(tmp_path):
    X, y = _data()
    labels = np.array(["x", "y", "z"])
    clf = KernelMLPClassifier((8,), max_iter=5, random_state=0, alpha=0.01).fit(X, labels[y])
    path = tmp_path / "m.npz"
    clf.save(path, note="hello")
    with np.load(path, allow_pickle=False) as f:
        assert {"W0", "W1", "b0", "b1", "metadata"} <= set(f.files)
    back = KernelMLPClassifier.load(path)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    assert back.get_params() == {**clf.get_params(), "hidden_layer_sizes": [8]}
    assert back.loss_curve_ == clf.loss_curve_ and back.n_iter_ == 5 and back.network_.metadata["note"] == "hello"
    back.partial_fit(X, labels[y])  # a loaded model trains on


def test_load_a_model_file_from_train_py(tmp_path):
    X, y = _data(d=784, n=40)
    net = NeuralNetwork([784, 16, 10], seed=7, optimizer="momentum", momentum=0.8, l2=1e-5, dropout=0.1)
    net.train_epoch(X.astype(np.float32), y, batch_size=8, learning_rate=0.01)
    net.save(tmp_path / "best.npz", train_args={"batch_size": 8, "lr": 0.02, "schedule": "onecycle",
                                                "epochs": 30, "augment_shift": 2})
    clf = KernelMLPClassifier.load(tmp_path / "best.npz")
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    np.testing.assert_array_equal(clf.predict(X), net.predict(X.astype(np.float32)))
    p = clf.get_params()
    assert (p["solver"], p["momentum"], p["batch_size"], p["learning_rate"], p["max_iter"]) == \
        ("sgd", 0.8, 8, "onecycle", 30)
    assert p["alpha"] == pytest.approx(8e-5) and p["augment_shift"] == 2 and p["random_state"] == 7


# ------------------------------------------------------------ scikit-learn tooling, README
def test_cross_val_score_in_a_pipeline():
    X, y = load_digits(return_X_y=True)
    pipe = make_pipeline(MinMaxScaler(), KernelMLPClassifier((32,), random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.min() > 0.85 and scores.mean() > 0.9


def test_readme_example_runs(capsys):
    text = open(os.path.join(ROOT, "README.md")).read()
    code = re.search(r"## scikit-learn\n.*?```python\n(.*?)```", text, re.S).group(1)
    assert "GridSearchCV" in code and "n_jobs=2" in code and "Pipeline" in code
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # the example trains to convergence
        exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert float(re.search(r"test accuracy (\d\.\d+)", out).group(1)) > 0.9


def test_import_compiles_nothing():
    code = ("import sys; from network import KernelMLPClassifier; KernelMLPClassifier(); "
            "print('kernels' in sys.modules, 'numba' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "False"]


def test_benchmark_quick_smoke_run(tmp_path):
    res = subprocess.run([sys.executable, "-m", "profiling.bench_sklearn", "--quick", "--quiet",
                          "--out-dir", str(tmp_path / "r"), "--plots-dir", str(tmp_path / "p")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "r" / "sklearn_benchmark.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["impl"], r["seed"]) for r in rows} == {("kernels", "0"), ("sklearn", "0"),
                                                      ("kernels", "mean"), ("sklearn", "mean")}
    assert all(r["cpu"] and float(r["fit_s"]) > 0 and 0 <= float(r["test_accuracy"]) <= 1 for r in rows)
    with open(tmp_path / "r" / "sklearn_digits.csv", newline="") as f:
        digits = list(csv.DictReader(f))
    assert [r["fold"] for r in digits] == ["0", "1", "2", "3", "4", "mean"] * 2
    assert (tmp_path / "p" / "sklearn_benchmark.png").stat().st_size > 0
    assert (tmp_path / "r" / "machine.json").exists()
    help_text = subprocess.run([sys.executable, "-m", "profiling.bench_sklearn", "--help"], cwd=ROOT,
                               capture_output=True, text=True, timeout=120).stdout
    assert "--quick" in help_text and "MLPClassifier" in help_text
