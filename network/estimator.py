"""KernelMLPClassifier: a scikit-learn classifier whose training and inference run on the
project's Numba kernels (through NeuralNetwork's public API only).

    from network import KernelMLPClassifier
    clf = KernelMLPClassifier(hidden_layer_sizes=(128, 64), random_state=0).fit(X, y)

Parameters keep MLPClassifier's names and meanings where the project has the feature; the
mapping is in the class docstring, the checks in network/estimator_params.py. Saving to and
loading from the project's .npz model files (never pickles) lives in network/estimator_io.py.
"""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from network import estimator_io, estimator_params

class KernelMLPClassifier(ClassifierMixin, BaseEstimator):
    """Multi-layer perceptron classifier trained by the project's compiled kernels.

    Softmax output with cross-entropy loss for any number of classes (binary problems get two
    output units); labels may be of any sortable type.

    MLPClassifier parameters (same meaning, mapped onto NeuralNetwork):
    hidden_layer_sizes : tuple of int, default (100,) -> layer_sizes [n_features, *hidden, n_classes]
    activation : 'relu', 'tanh', 'logistic' (alias 'sigmoid') -> activation; 'identity' is not
        a kernel. Initialisation: He for relu, Glorot (xavier) otherwise.
    solver : 'adam' or 'sgd' -> optimizer 'adam'; 'sgd' with momentum > 0 -> 'momentum'
        (classical momentum; the kernels have no Nesterov variant), momentum = 0 -> 'sgd'. No 'lbfgs'.
    alpha : L2 penalty -> l2 = alpha / batch_size, which is MLPClassifier's gradient term
        alpha * W / n_batch; loss_ includes 0.5 * alpha * ||W||^2 / batch_size as there.
    batch_size : int or 'auto' (= min(200, n_samples)), clipped to n_samples.
    learning_rate : 'constant', 'invscaling' (lr_init / (t + 1) ** power_t, t = samples seen,
        per epoch) and 'adaptive' (divide by 5 instead of stopping, until below 1e-6) act as in
        MLPClassifier, for solver='sgd' only; the project's 'cosine' and 'onecycle'
        (network.training.lr_schedule over max_iter epochs, per mini-batch) act for both solvers.
    learning_rate_init, power_t, max_iter (epochs), shuffle, tol, n_iter_no_change, verbose,
    warm_start, momentum, early_stopping, validation_fraction : as in MLPClassifier.
    beta_1, beta_2, epsilon : -> beta1, beta2, eps of Adam.
    random_state : int >= 0 (used as the network's seed), RandomState or None (a seed is drawn).
        It seeds the initial weights, shuffling, dropout masks, augmentation and the split.

    Project parameters:
    dropout : probability of dropping each hidden unit while training (0 = off).
    augment_shift : random whole-pixel shifts of up to this many pixels while training; needs
        28x28 images flattened to 784 features (MNIST). 0 = off.
    dtype : 'float32' (default, fast) or 'float64': the precision of the weights and kernels.

    Fitted attributes: classes_, n_features_in_, feature_names_in_ (for DataFrames), coefs_,
    intercepts_ (the network's live (n_in, n_out) / (n_out,) arrays), n_layers_, n_outputs_,
    out_activation_ ('softmax'), loss_, loss_curve_, best_loss_, n_iter_, t_,
    validation_scores_ and best_validation_score_ (with early_stopping, else None), network_.
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, dropout=0.0,
                 augment_shift=0, dtype="float32"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.augment_shift = augment_shift
        self.dtype = dtype

    # ------------------------------------------------------------ parameters
    def _seed(self):
        rs = self.random_state
        if isinstance(rs, numbers.Integral):
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _new_network(self, s, n_in, n_out, batch_size, seed):
        from network.model import NeuralNetwork  # lazy: importing this module compiles nothing
        optimizer = "adam" if s["solver"] == "adam" else ("momentum" if s["momentum"] > 0 else "sgd")
        return NeuralNetwork([n_in, *s["hidden"], n_out], activation=s["activation"],
                             init="he" if s["activation"] == "relu" else "xavier", seed=seed,
                             dtype=s["dtype"], optimizer=optimizer, l2=s["alpha"] / batch_size,
                             dropout=s["dropout"], momentum=s["momentum"] if s["momentum"] > 0 else 0.9,
                             beta1=s["beta_1"], beta2=s["beta_2"], eps=s["epsilon"])

    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Train for up to max_iter epochs (from scratch unless warm_start). Returns self."""
        return self._fit(X, y, None, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y); `classes` (every label that will ever occur) is needed on the
        first call. Early stopping does not apply. Returns self."""
        return self._fit(X, y, classes, incremental=True)

    def _fit(self, X, y, classes, incremental):
        s = estimator_params.settings(self)
        fresh = not hasattr(self, "network_") or not (incremental or s["warm_start"])
        if incremental and fresh and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit "
                             "(every label that may occur, e.g. classes=np.unique(y_all))")
        X, y = validate_data(self, X, y, reset=fresh, dtype=s["dtype"], order="C", accept_sparse=False)
        X = X if X.flags.writeable else X.copy()  # the compiled kernels are specialised for writeable arrays
        check_classification_targets(y)
        if fresh or not incremental:
            labels = y if classes is None or not fresh else np.asarray(classes)
            new = np.unique(labels) if unique_labels(labels) is not None else None  # rejects mixed types
            if not fresh and (len(new) != len(self.classes_) or np.any(new != self.classes_)):
                raise ValueError(f"warm_start needs y to have the classes of the previous fit "
                                 f"{self.classes_.tolist()}; y has {new.tolist()}")
            if len(new) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes to train; "
                                 f"y has 1 class: {new.tolist()}")
            self.classes_ = new
        idx = np.searchsorted(self.classes_, y)
        idx_ok = np.clip(idx, 0, len(self.classes_) - 1)
        if np.any(self.classes_[idx_ok] != y):
            raise ValueError(f"y has labels that are not in classes_ {self.classes_.tolist()}: "
                             f"{np.setdiff1d(y, self.classes_).tolist()}")
        y = np.ascontiguousarray(idx_ok, dtype=np.int64)
        early = s["early_stopping"] and not incremental
        X_val = y_val = None
        if early:
            try:
                X, X_val, y, y_val = train_test_split(X, y, random_state=self._seed(), stratify=y,
                                                      test_size=s["validation_fraction"])
            except ValueError as e:
                raise ValueError(f"early_stopping could not hold out validation_fraction="
                                 f"{s['validation_fraction']} of {len(y)} samples per class: {e}") from None
        n = X.shape[0]
        batch = min(200, n) if self.batch_size == "auto" else min(int(self.batch_size), n)
        if fresh or not incremental:
            self._start(s, X.shape[1], batch, fresh, early)
        self._train(s, X, y, X_val, y_val, batch, incremental, early)
        return self

    def _start(self, s, n_in, batch, fresh, early):
        """A new network (fresh weights, or the previous ones for warm_start) and reset counters."""
        old = None if fresh else self.network_
        seed = self._seed() if fresh else (self._seed() + self.n_iter_) % 2 ** 63
        net = self._new_network(s, n_in, len(self.classes_), batch, seed)
        if old is not None:
            if [w.shape for w in old.weights] != [w.shape for w in net.weights]:
                raise ValueError(f"warm_start cannot change the layer sizes: fitted "
                                 f"{[w.shape for w in old.weights]}, now {[w.shape for w in net.weights]}")
            for dst, src in zip(net.weights + net.biases, old.weights + old.biases):
                dst[...] = src  # copy in place: the network owns its parameter storage
        self.network_ = net
        self._sgd_lr = s["lr"]
        if fresh:
            self.n_iter_, self.t_, self.loss_curve_ = 0, 0, []
            self.n_layers_, self.n_outputs_, self.out_activation_ = len(s["hidden"]) + 2, len(self.classes_), "softmax"
        self.best_loss_ = None if early else np.inf
        self.validation_scores_ = [] if early else None
        self.best_validation_score_ = -np.inf if early else None
        self._no_improvement_count = 0

    def _epoch_rates(self, s, epoch, n_batches):
        """The learning rate of each mini-batch of the coming epoch (epoch counted within this fit)."""
        name = s["learning_rate"]
        if name in ("cosine", "onecycle"):
            from network.training import lr_schedule
            rates = lr_schedule(name, s["lr"], s["max_iter"], n_batches)  # beyond max_iter: its last rate
            return rates[epoch * n_batches:(epoch + 1) * n_batches] if epoch < s["max_iter"] else rates[-1]
        if s["solver"] == "sgd" and name == "invscaling":
            self._sgd_lr = s["lr"] / (self.t_ + 1) ** s["power_t"]
        return self._sgd_lr if s["solver"] == "sgd" else s["lr"]

    def _train(self, s, X, y, X_val, y_val, batch, incremental, early):
        net, n = self.network_, X.shape[0]
        n_batches = -(-n // batch)
        best = None
        for epoch in range(1 if incremental else s["max_iter"]):
            rates = np.broadcast_to(self._epoch_rates(s, self.n_iter_ if incremental else epoch, n_batches),
                                    (n_batches,))
            kw = dict(batch_size=batch, augment_shift=s["augment_shift"])
            if s["shuffle"]:
                loss = net.train_epoch(X, y, learning_rate=np.ascontiguousarray(rates), **kw)
            else:  # one call per mini-batch, in order (train_epoch shuffles within its own call)
                loss = sum(net.train_epoch(X[i:i + batch], y[i:i + batch], learning_rate=r, **kw)
                           * len(y[i:i + batch]) for i, r in zip(range(0, n, batch), rates)) / n
            loss += 0.5 * s["alpha"] * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in net.weights) / batch
            if not np.isfinite(loss):
                raise RuntimeError(f"training diverged at epoch {self.n_iter_ + 1}: the loss is not "
                                   f"finite; lower learning_rate_init (now {s['lr']:g})")
            self.n_iter_ += 1
            self.t_ += n
            self.loss_ = float(loss)
            self.loss_curve_.append(self.loss_)
            if self.verbose:
                print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
            if early:
                score = net.evaluate(X_val, y_val)[1]
                self.validation_scores_.append(score)
                if self.verbose:
                    print(f"Validation score: {score:f}")
                improved_by_tol = score >= self.best_validation_score_ + s["tol"]
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best = [p.copy() for p in net.weights + net.biases]
            else:
                improved_by_tol = self.loss_ <= self.best_loss_ - s["tol"]
                self.best_loss_ = min(self.best_loss_, self.loss_)
            self._no_improvement_count = 0 if improved_by_tol else self._no_improvement_count + 1
            if self._no_improvement_count > s["n_iter_no_change"]:
                what = "Validation score" if early else "Training loss"
                msg = (f"{what} did not improve more than tol={s['tol']:f} for "
                       f"{s['n_iter_no_change']} consecutive epochs.")
                if s["solver"] == "sgd" and s["learning_rate"] == "adaptive" and self._sgd_lr > 1e-6:
                    self._sgd_lr /= 5.0
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(f"{msg} Setting learning rate to {self._sgd_lr:f}")
                    continue
                if self.verbose:
                    print(f"{msg} Stopping.")
                break
        else:
            if not incremental:
                warnings.warn(f"Stochastic Optimizer: Maximum iterations ({s['max_iter']}) reached and "
                              "the optimization hasn't converged yet.", ConvergenceWarning)
        if best is not None:
            for dst, src in zip(net.weights + net.biases, best):
                dst[...] = src

    # -------------------------------------------------------------- predict
    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of classes_."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self.network_.dtype, order="C", accept_sparse=False)
        X = X if X.flags.writeable else X.copy()
        return self.network_.predict_proba(X).astype(np.float64)

    def predict_log_proba(self, X):
        """Natural log of predict_proba (-inf where a probability underflowed to 0)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class label of each row."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]

    # ------------------------------------------------------------ fitted views
    @property
    def coefs_(self):
        """Weight matrices (n_in, n_out): the network's own arrays (in-place edits change it)."""
        check_is_fitted(self)
        return list(self.network_.weights)

    @property
    def intercepts_(self):
        """Bias vectors (n_out,): the network's own arrays."""
        check_is_fitted(self)
        return list(self.network_.biases)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "network_")

    # ------------------------------------------------------- pickle and files
    def __getstate__(self):
        return estimator_io.getstate(self, super().__getstate__())

    def __setstate__(self, state):
        super().__setstate__(estimator_io.setstate(state))

    def save(self, path, **metadata):
        """Write the fitted model as a project .npz model file (no pickle); see load."""
        check_is_fitted(self)
        estimator_io.save(self, path, **metadata)

    @classmethod
    def load(cls, path):
        """A fitted estimator from a model file written by save, train.py or NeuralNetwork.save."""
        return estimator_io.load(cls, path)
