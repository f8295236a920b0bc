"""The experiment grids: every experiment's question, base settings and configurations, and the
stable id of each run (a hash of everything that determines it). See the package docstring."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

# ----------------------------------------------------------------------------- grid definitions

#: settings shared by every run unless an experiment or a configuration overrides them
BASE = dict(layers=(784, 128, 64, 10), activation="relu", init="he", optimizer="sgd", lr=0.01,
            momentum=0.9, batch_size=64, schedule="constant", l2=0.0, dropout=0.0,
            epochs=10, n_train=None)
SETTINGS = ("layers", "activation", "init", "optimizer", "lr", "momentum", "batch_size", "schedule",
            "l2", "dropout")
DEFAULT_SEEDS = (0, 1, 2)
SPLIT = dict(val_fraction=0.2, split_seed=0)   # the same train/validation split for every run
QUICK = dict(epochs=1, seeds=(0, 1), n_train=2000)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    question: str
    configs: tuple                      # dicts of overrides; an optional "label" names the row
    base: dict = field(default_factory=dict)
    plot: str = "compare"               # "compare", "curves" (ext1) or "overfit" (ext2)

    @property
    def short(self):
        return self.name.split("_")[0]

    def resolved(self):
        """[(label, full settings dict)] for every configuration, in order."""
        out = []
        full = [{**BASE, **self.base, **{k: v for k, v in c.items() if k != "label"}} for c in self.configs]
        varying = [k for k in SETTINGS if len({_canon(f[k]) for f in full}) > 1]
        for c, f in zip(self.configs, full):
            f["layers"] = tuple(int(s) for s in f["layers"])
            label = c.get("label") or ", ".join(f"{k}={_fmt_setting(k, f[k])}" for k in varying) or "base"
            out.append((label, f))
        return out


def _canon(v):
    return json.dumps(list(v) if isinstance(v, tuple) else v)


def _fmt_setting(key, value):
    if key == "layers":
        return "-".join(str(s) for s in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


EXPERIMENTS = {e.name: e for e in (
    Experiment(
        "exp1_learning_rate", "Exp 1: learning rate (plain SGD)",
        "Plain mini-batch SGD at the assignment's rates 0.001, 0.005, 0.01, and at 0.1 and 1.0 "
        "outside that range: how does the step size trade speed against stability?",
        tuple({"lr": lr} for lr in (0.001, 0.005, 0.01, 0.1, 1.0))),
    Experiment(
        "exp2_depth", "Exp 2: depth (2-layer vs 3-layer)",
        "One hidden layer of 128 units (784-128-10) against the assignment's two hidden layers "
        "(784-128-64-10), both ReLU + He, plain SGD at 0.01.",
        ({"layers": (784, 128, 10), "label": "784-128-10 (1 hidden layer)"},
         {"layers": (784, 128, 64, 10), "label": "784-128-64-10 (2 hidden layers)"})),
    Experiment(
        "exp3_activation", "Exp 3: activation function",
        "Sigmoid, tanh and ReLU in both hidden layers, each with its customary initialisation "
        "(Xavier for sigmoid/tanh, He for ReLU; Exp 4 crosses the two), plain SGD at 0.01.",
        ({"activation": "sigmoid", "init": "xavier", "label": "sigmoid (Xavier)"},
         {"activation": "tanh", "init": "xavier", "label": "tanh (Xavier)"},
         {"activation": "relu", "init": "he", "label": "relu (He)"})),
    Experiment(
        "exp4_init", "Exp 4: weight initialisation",
        "Zeros (every hidden unit identical: the symmetry problem), small N(0, 0.01^2), Xavier "
        "and He, each with ReLU, tanh and sigmoid hidden layers, plain SGD at 0.01.",
        tuple({"init": i, "activation": a, "label": f"{a}, {i}"} for a in ("relu", "tanh", "sigmoid")
              for i in ("zeros", "normal", "xavier", "he"))),
    Experiment(
        "ext1_optimizers", "Ext 1: optimizers",
        "Plain SGD (lr 0.01), heavy-ball momentum 0.9 (lr 0.01) and Adam (lr 0.001), each at its "
        "customary rate, 20 epochs: how fast does each reach a good validation loss?",
        ({"optimizer": "sgd", "lr": 0.01, "label": "SGD, lr 0.01"},
         {"optimizer": "momentum", "lr": 0.01, "label": "momentum 0.9, lr 0.01"},
         {"optimizer": "adam", "lr": 0.001, "label": "Adam, lr 0.001"}),
        base={"epochs": 20}, plot="curves"),
    Experiment(
        "ext2_regularization", "Ext 2: regularisation against overfitting",
        "Adam (lr 0.001) on only 5,000 training images for 40 epochs, where the network memorises "
        "the training set: no regularisation, L2 (1e-3), dropout (0.3) and both.",
        ({"l2": 0.0, "dropout": 0.0, "label": "none"},
         {"l2": 1e-3, "dropout": 0.0, "label": "L2 1e-3"},
         {"l2": 0.0, "dropout": 0.3, "label": "dropout 0.3"},
         {"l2": 1e-3, "dropout": 0.3, "label": "L2 1e-3 + dropout 0.3"}),
        base={"optimizer": "adam", "lr": 0.001, "epochs": 40, "n_train": 5000}, plot="overfit"),
    Experiment(
        "ext3_augmentation", "Ext 3: data augmentation",
        "The default recipe (Adam, one-cycle peak 0.005, batch 64, 70 epochs, no dropout) trained on the images as they "
        "are, with random shifts of +-2 px, with random affine warps (rotation +-10 degrees, scale "
        "+-10%, shear +-0.15, shift +-2 px, bilinear) and with affine plus elastic distortion "
        "(smooth random displacement fields, sigma 4 px, 1.5 px RMS): how far does each carry the "
        "same 784-128-64-10 network?",
        tuple({"augment": k, "label": label} for k, label in (
            ("none", "none"), ("shift", "shifts +-2 px"), ("affine", "affine"),
            ("elastic", "affine + elastic"))),
        base={"optimizer": "adam", "lr": 0.005, "schedule": "onecycle", "dropout": 0.0, "epochs": 70}),
)}


class ExperimentError(ValueError):
    """Bad experiment name, override or results file; the message is one line."""


def select(names):
    """Experiment names in definition order for the given names or short names (exp1, ext2);
    all experiments when names is empty."""
    if not names:
        return list(EXPERIMENTS)
    by_short = {e.short: e.name for e in EXPERIMENTS.values()}
    chosen = set()
    for n in names:
        name = n if n in EXPERIMENTS else by_short.get(n)
        if name is None:
            raise ExperimentError(f"unknown experiment {n!r}; choose from "
                                  f"{', '.join(EXPERIMENTS)} (or {', '.join(by_short)})")
        chosen.add(name)
    return [n for n in EXPERIMENTS if n in chosen]


@dataclass(frozen=True)
class Run:
    experiment: str
    label: str
    config: dict          # every setting, plus epochs and n_train
    seed: int
    run_id: str


def run_id(experiment, config, seed):
    """Stable id: <short name>-<10 hex digits of SHA-1 over everything that determines the run>."""
    key = {"experiment": experiment, "config": {k: _canon(v) for k, v in sorted(config.items())},
           "seed": int(seed), "split": SPLIT}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return f"{experiment.split('_')[0]}-{digest}"


def build_grid(names=None, epochs=None, seeds=None, n_train=None):
    """List of `Run` for the chosen experiments; epochs / seeds / n_train override every one."""
    seeds = tuple(DEFAULT_SEEDS if seeds is None else seeds)
    runs = []
    for name in select(names or []):
        for label, cfg in EXPERIMENTS[name].resolved():
            cfg = dict(cfg)
            if epochs is not None:
                cfg["epochs"] = int(epochs)
            if n_train is not None:
                cfg["n_train"] = int(n_train)
            for seed in seeds:
                runs.append(Run(name, label, cfg, int(seed), run_id(name, cfg, seed)))
    return runs
