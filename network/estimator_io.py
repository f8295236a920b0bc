"""KernelMLPClassifier's persistence: pickle state and the project's .npz model files.

Pickling (copy, joblib, GridSearchCV workers) stores the network as its configuration, weights
and training state (NeuralNetwork.config / training_state) and rebuilds it with the public
constructor, so the rebuilt network owns its parameter storage exactly as a new one does.

Model files: `save` writes a NeuralNetwork model file (network/io.py: arrays plus JSON metadata,
no pickle) whose metadata carries an "sklearn" entry (parameters, classes, counters), so
`load` gives back a fitted estimator; a file from train.py or NeuralNetwork.save (no such
entry) loads with classes 0..n_out-1 and parameters taken from its configuration.
The optimizer's state is not in model files: training continued after `load` starts it afresh.
"""
import json

import numpy as np

_FITTED = ("n_iter_", "t_", "loss_", "loss_curve_", "best_loss_", "validation_scores_",
           "best_validation_score_")


def _rebuild(config, weights, biases):
    from network.model import NeuralNetwork
    cfg = dict(config)
    net = NeuralNetwork(cfg.pop("layer_sizes"), **cfg)
    for dst, src in zip(net.weights + net.biases, list(weights) + list(biases)):
        dst[...] = src
    return net


def getstate(est, state):
    """The pickle state: `state` (the instance dict) with network_ replaced by plain data."""
    state = dict(state)
    net = state.pop("network_", None)
    if net is not None:
        arrays, info = net.training_state()
        state["_network_state"] = {"config": net.config(), "weights": [w.copy() for w in net.weights],
                                   "biases": [b.copy() for b in net.biases],
                                   "arrays": {k: a.copy() for k, a in arrays.items()}, "info": info}
    return state


def setstate(state):
    state = dict(state)
    saved = state.pop("_network_state", None)
    if saved is not None:
        net = _rebuild(saved["config"], saved["weights"], saved["biases"])
        net.restore_training_state(saved["arrays"], saved["info"])
        state["network_"] = net
    return state


def _jsonable(value):
    return value.item() if isinstance(value, np.generic) else value


def save(est, path, **metadata):
    """Write est's network to `path` (.npz) with the estimator's parameters and classes."""
    classes = est.classes_
    labels = classes.tolist()
    try:
        json.dumps(labels)
    except TypeError:
        raise TypeError(f"save() stores class labels as JSON (numbers, strings, booleans); "
                        f"classes_ holds {classes.dtype} values such as {labels[0]!r}") from None
    params = {k: _jsonable(v) for k, v in est.get_params().items()}
    params["hidden_layer_sizes"] = [int(h) for h in np.atleast_1d(params["hidden_layer_sizes"])]
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None  # a RandomState object is not data; the seed is in the config
    params["dtype"] = np.dtype(params["dtype"]).name
    fitted = {k: _jsonable(getattr(est, k, None)) for k in _FITTED}
    fitted = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in fitted.items()}
    names = getattr(est, "feature_names_in_", None)
    info = {"params": params, "classes": labels, "classes_dtype": classes.dtype.str if classes.dtype != object
            else "object", "feature_names_in": None if names is None else names.tolist(), **fitted}
    est.network_.save(path, sklearn=info, **metadata)


def load(cls, path):
    """A fitted `cls` from a model file (ModelFileError if the file is not a valid model)."""
    from network.io import ModelFileError
    from network.model import NeuralNetwork

    net = NeuralNetwork.load(path)
    sizes = [net.weights[0].shape[0]] + [w.shape[1] for w in net.weights]
    info = net.metadata.get("sklearn")
    est = cls()
    if isinstance(info, dict):
        names = set(est.get_params())
        est.set_params(**{k: v for k, v in info.get("params", {}).items() if k in names})
        labels = info.get("classes")
        dtype = info.get("classes_dtype", "object")
        classes = np.array(labels, dtype=object if dtype == "object" else np.dtype(dtype))
        if info.get("feature_names_in") is not None:
            est.feature_names_in_ = np.array(info["feature_names_in"], dtype=object)
    else:  # a model from train.py / NeuralNetwork.save: classes are the output indices
        cfg, run = net.config(), net.metadata.get("train_args", {})
        batch = run.get("batch_size", 200)
        solver = "adam" if cfg["optimizer"] == "adam" else "sgd"
        est.set_params(hidden_layer_sizes=tuple(sizes[1:-1]), activation=cfg["activation"], solver=solver,
                       momentum={"momentum": cfg["momentum"], "sgd": 0.0}.get(cfg["optimizer"], 0.9),
                       alpha=cfg["l2"] * batch, batch_size=batch, beta_1=cfg["beta1"], beta_2=cfg["beta2"],
                       epsilon=cfg["eps"], dropout=cfg["dropout"], dtype=cfg["dtype"], random_state=cfg["seed"])
        for key, param in (("lr", "learning_rate_init"), ("schedule", "learning_rate"), ("epochs", "max_iter"),
                           ("augment_shift", "augment_shift")):
            if key in run:
                est.set_params(**{param: run[key]})
        classes, info = np.arange(sizes[-1]), {}
    if classes.shape != (sizes[-1],) or len(np.unique(classes)) != sizes[-1]:
        raise ModelFileError(f"model file {str(path)!r}: {classes.size} class labels for "
                             f"{sizes[-1]} output units")
    est.network_, est.classes_, est.n_features_in_ = net, classes, sizes[0]
    est.n_layers_, est.n_outputs_, est.out_activation_ = len(sizes), sizes[-1], "softmax"
    for k in _FITTED:
        setattr(est, k, info.get(k))
    est.n_iter_, est.t_ = est.n_iter_ or 0, est.t_ or 0
    est.loss_curve_ = list(est.loss_curve_ or [])
    est._sgd_lr, est._no_improvement_count = est.learning_rate_init, 0
    return est
