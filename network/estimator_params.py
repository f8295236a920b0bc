"""KernelMLPClassifier's parameters checked and resolved in one place (messages name the
parameter and say what was expected)."""
import numbers

import numpy as np

ACTIVATIONS = {"relu": "relu", "tanh": "tanh", "logistic": "sigmoid", "sigmoid": "sigmoid"}
SOLVERS = ("sgd", "adam")
LEARNING_RATES = ("constant", "invscaling", "adaptive", "cosine", "onecycle")


def _number(name, value, low, high, low_open=False, high_open=False, integer=False):
    """`value` checked to lie in the interval; a message that names the parameter otherwise."""
    kinds = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kinds) and not isinstance(value, bool) and np.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        lb, rb = "(" if low_open else "[", ")" if high_open else "]"
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"{name} must be {kind} in {lb}{low}, {high}{rb}; got {value!r}")
    return int(value) if integer else float(value)


def _choice(name, value, choices, hint=""):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}{hint}")
    return value


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def settings(est):
    """Every parameter checked; a dict of resolved values (raises ValueError on a bad one)."""
    hidden = est.hidden_layer_sizes
    hidden = [hidden] if isinstance(hidden, numbers.Integral) else hidden
    try:
        hidden = list(hidden)
    except TypeError:
        hidden = None
    if hidden is None or any(not isinstance(h, numbers.Integral) or isinstance(h, bool) or h < 1
                             for h in hidden):
        raise ValueError(f"hidden_layer_sizes must be a tuple of positive integers, e.g. (128, 64); "
                         f"got {est.hidden_layer_sizes!r}")
    if not (isinstance(est.batch_size, str) and est.batch_size == "auto"):
        _number("batch_size ('auto' or)", est.batch_size, 1, np.inf, integer=True)
    try:
        dtype = np.dtype(est.dtype)
    except TypeError:
        dtype = None
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {est.dtype!r}")
    rs = est.random_state
    if rs is not None and not isinstance(rs, (numbers.Integral, np.random.RandomState)) or \
            isinstance(rs, numbers.Integral) and not 0 <= rs < 2 ** 63:
        raise ValueError(f"random_state must be None, a non-negative integer or a "
                         f"numpy.random.RandomState; got {rs!r}")
    return dict(
        hidden=[int(h) for h in hidden], dtype=dtype,
        activation=ACTIVATIONS[_choice("activation", est.activation, tuple(ACTIVATIONS),
                                       " (the kernels implement relu, tanh and logistic/sigmoid)")],
        solver=_choice("solver", est.solver, SOLVERS, " (the kernels implement sgd and adam; no lbfgs)"),
        learning_rate=_choice("learning_rate", est.learning_rate, LEARNING_RATES),
        alpha=_number("alpha", est.alpha, 0, np.inf),
        lr=_number("learning_rate_init", est.learning_rate_init, 0, np.inf, low_open=True),
        power_t=_number("power_t", est.power_t, 0, np.inf),
        max_iter=_number("max_iter", est.max_iter, 1, np.inf, integer=True),
        tol=_number("tol", est.tol, 0, np.inf),
        momentum=_number("momentum", est.momentum, 0, 1),
        validation_fraction=_number("validation_fraction", est.validation_fraction, 0, 1,
                                    low_open=True, high_open=True),
        beta_1=_number("beta_1", est.beta_1, 0, 1, high_open=True),
        beta_2=_number("beta_2", est.beta_2, 0, 1, high_open=True),
        epsilon=_number("epsilon", est.epsilon, 0, np.inf, low_open=True),
        n_iter_no_change=_number("n_iter_no_change", est.n_iter_no_change, 1, np.inf, integer=True),
        dropout=_number("dropout", est.dropout, 0, 1, high_open=True),
        augment_shift=_number("augment_shift", est.augment_shift, 0, 27, integer=True),
        shuffle=_flag("shuffle", est.shuffle), early_stopping=_flag("early_stopping", est.early_stopping),
        warm_start=_flag("warm_start", est.warm_start))
