"""Hidden activation patterns: the post-activation values of every hidden layer, per-digit means,
dead (ReLU) or saturated (tanh/sigmoid) units, and their heat map.

    acts = hidden_activations(model, X)            # [(N, 128), (N, 64)] post-activation values
    pat  = activation_patterns(model, X, y)        # mean activation per digit, dead/saturated units
    plot_activation_patterns(pat, "plots/activation_patterns.png")
"""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from network.plots import save_figure

__all__ = ["hidden_activations", "activation_patterns", "plot_activation_patterns", "INACTIVE_CRITERIA"]

# How a hidden unit counts as "inactive" for each activation (reported under these names).
INACTIVE_CRITERIA = {
    "relu": ("dead", "a == 0 on every input"),
    "tanh": ("saturated", "|a| > 0.99 on more than 99% of inputs"),
    "sigmoid": ("saturated", "a < 0.01 or a > 0.99 on more than 99% of inputs"),
}
SATURATION = 0.99      # |tanh| above this, or sigmoid within 0.01 of 0 or 1, is saturated
SATURATED_SHARE = 0.99  # ... on more than this share of the inputs


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    return int(batch_size)


def _check_labels(model, y, n, name):
    y = np.asarray(y)
    if y.ndim == 0:
        y = np.full(n, y)
    if y.shape != (n,) or y.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer class label or {n} of them, shape ({n},); "
                         f"got {y.dtype} {y.shape}")
    n_out = model.layer_sizes[-1]
    if n and (y.min() < 0 or y.max() >= n_out):
        raise ValueError(f"{name} must lie in [0, {n_out - 1}]; got values in [{y.min()}, {y.max()}]")
    return np.ascontiguousarray(y, dtype=np.int64)


# --------------------------------------------------------------------------- activations


def hidden_activations(model, X, batch_size=2048):
    """Post-activation values of every hidden layer, without dropout.

    Returns a list with one (N, n_l) array per hidden layer (in the model's dtype): a_{l+1} =
    f(X-> ... -> z_l) exactly as `model.predict` computes it, run chunk by chunk through
    `model._forward` and copied out of its buffers.
    """
    X = model._check_X(X)
    bs = _check_batch_size(batch_size)
    outs = [np.empty((X.shape[0], m), model.dtype) for m in model.layer_sizes[1:-1]]
    for s in range(0, X.shape[0], bs):
        buf = model._forward(X[s:s + bs], training=False)
        for l, out in enumerate(outs):
            out[s:s + bs] = buf["a"][l]
    return outs


def activation_patterns(model, X, y, batch_size=2048):
    """Per hidden layer: mean activation per class and the share of inactive units.

    Returns a dict with ``activation``, ``n_samples``, ``class_counts`` (n_classes,) and
    ``layers``, one dict per hidden layer with

    mean_per_class  (n_classes, n_l)  mean activation of each unit over the inputs of each class
                                      (NaN for a class absent from y)
    mean            (n_l,)            mean activation over all inputs
    preferred_class (n_l,)            argmax over classes of mean_per_class
    inactive_kind   "dead" (relu) or "saturated" (tanh, sigmoid); criterion in INACTIVE_CRITERIA
    inactive_units  (n_l,) bool       units meeting that criterion on X
    inactive_fraction                 their share of the layer; also stored as dead_fraction or
                                      saturated_fraction, so the key says what was measured
    zero_fraction                     relu only: mean over inputs of the share of units at
                                      exactly 0 (how sparse the layer's code is per input)
    """
    acts = hidden_activations(model, X, batch_size)
    n = acts[0].shape[0] if acts else model._check_X(X).shape[0]
    y = _check_labels(model, y, n, "y")
    n_classes = model.layer_sizes[-1]
    counts = np.bincount(y, minlength=n_classes)
    kind, criterion = INACTIVE_CRITERIA[model.activation]
    layers = []
    for l, a in enumerate(acts):
        a64 = a.astype(np.float64)
        sums = np.zeros((n_classes, a.shape[1]))
        np.add.at(sums, y, a64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_pc = sums / counts[:, None]
        mean_pc[counts == 0] = np.nan
        if model.activation == "relu":
            inactive = np.all(a == 0, axis=0)
        else:
            sat = np.abs(a64) > SATURATION if model.activation == "tanh" else \
                (a64 < 1 - SATURATION) | (a64 > SATURATION)
            inactive = sat.mean(axis=0) > SATURATED_SHARE
        pref = np.argmax(np.where(np.isnan(mean_pc), -np.inf, mean_pc), axis=0)
        layer = {"layer": l + 1, "n_units": a.shape[1], "mean_per_class": mean_pc,
                 "mean": a64.mean(axis=0), "preferred_class": pref,
                 "inactive_kind": kind, "inactive_criterion": criterion,
                 "inactive_units": inactive, "inactive_fraction": float(inactive.mean()),
                 f"{kind}_fraction": float(inactive.mean())}
        if model.activation == "relu":
            layer["zero_fraction"] = float(np.mean(a == 0))
        layers.append(layer)
    return {"activation": model.activation, "n_samples": int(n), "class_counts": counts,
            "layers": layers}

# --------------------------------------------------------------------------- plots


def _unit_order(mean_pc):
    """Units sorted by preferred class, then by how strongly they prefer it; dead/flat units last."""
    m = np.nan_to_num(mean_pc, nan=-np.inf)
    lo = np.nanmin(mean_pc, axis=0)
    hi = np.nanmax(mean_pc, axis=0)
    span = hi - lo
    flat = ~(span > 0)
    pref = np.argmax(m, axis=0)
    # contrast: how far the preferred class sits above the average class, in units of the range
    contrast = np.where(flat, 0.0, (hi - np.nanmean(mean_pc, axis=0)) / np.where(flat, 1.0, span))
    key_class = np.where(flat, mean_pc.shape[0], pref)
    order = np.lexsort((-contrast, key_class))
    return order, key_class[order]


def plot_activation_patterns(patterns, path, title=None):
    """Heat map of mean activation per class per unit for each hidden layer, plus inactive shares.

    Columns are units sorted by preferred class (then by contrast, the preferred class's margin
    over the class average); each unit's column is min-max scaled to [0, 1] over the classes so
    that units of any scale show their preference. Units with no variation across classes
    (dead ReLUs, say) are grouped at the right end. The bar chart on the right gives each
    layer's fraction of dead (relu) or saturated (tanh/sigmoid) units and, for relu, the mean
    share of units at exactly 0 on an image (the sparsity of the code).
    """
    if not isinstance(patterns, dict) or "layers" not in patterns:
        raise ValueError("patterns must be the dict returned by activation_patterns()")
    layers = patterns["layers"]
    if not layers:
        raise ValueError("the model has no hidden layers to plot")
    n_cls = layers[0]["mean_per_class"].shape[0]
    fig = Figure(figsize=(13, 2.3 * len(layers) + 1.0), layout="constrained")
    gs = fig.add_gridspec(len(layers), 2, width_ratios=[6, 1])
    cmap = colormaps["viridis"]
    for i, layer in enumerate(layers):
        ax = fig.add_subplot(gs[i, 0])
        mpc = np.asarray(layer["mean_per_class"], np.float64)
        order, groups = _unit_order(mpc)
        lo, hi = np.nanmin(mpc, axis=0), np.nanmax(mpc, axis=0)
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        scaled = ((mpc - lo) / span)[:, order]
        im = ax.imshow(scaled, aspect="auto", cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_yticks(range(n_cls))
        ax.set_ylabel("digit")
        ax.set_xlabel("unit (sorted by preferred digit)")
        # mark the group boundaries and label each group with its digit
        bounds = np.flatnonzero(np.diff(groups)) + 1
        for b in bounds:
            ax.axvline(b - 0.5, color="white", lw=0.8)
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(groups)]])
        top = ax.secondary_xaxis("top")
        top.set_xticks((starts + ends - 1) / 2.0)
        top.set_xticklabels([str(g) if g < n_cls else "flat" for g in groups[starts]], fontsize=7)
        top.tick_params(length=0)
        n_inactive = int(np.count_nonzero(layer["inactive_units"]))
        ax.set_title(f"hidden layer {layer['layer']} ({layer['n_units']} units): mean activation "
                     f"per digit, each unit scaled to its own range; {n_inactive} "
                     f"{layer['inactive_kind']}", fontsize=9)
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.02, label="scaled mean")
    axb = fig.add_subplot(gs[:, 1])
    kind = layers[0]["inactive_kind"]
    x = np.arange(len(layers))
    fr = np.array([100 * layer["inactive_fraction"] for layer in layers])
    has_zero = all("zero_fraction" in layer for layer in layers)
    width = 0.4 if has_zero else 0.7
    series = [(fr, f"{kind} units", "tab:red" if kind == "dead" else "tab:orange")]
    if has_zero:
        zf = np.array([100 * layer["zero_fraction"] for layer in layers])
        series.append((zf, "units at 0,\nmean per image", "tab:gray"))
    for k, (vals, label, colour) in enumerate(series):
        off = (k - (len(series) - 1) / 2) * width
        bars = axb.bar(x + off, vals, width, color=colour, label=label)
        for b, v in zip(bars, vals):
            axb.text(b.get_x() + b.get_width() / 2, v, f"{v:.1f}%", ha="center", va="bottom", fontsize=7)
    axb.set_xticks(x, [f"layer {layer['layer']}" for layer in layers])
    top = max(float(np.max(v)) for v, _, _ in series)
    axb.set_ylim(0, 100 if has_zero else max(10.0, 1.2 * top))
    axb.set_ylabel("% of the layer's units")
    axb.set_title(f"{kind}: {layers[0]['inactive_criterion']}", fontsize=8)
    axb.legend(fontsize=7, loc="upper left")
    axb.grid(axis="y", alpha=0.3)
    fig.suptitle(title or f"Hidden activation patterns ({patterns.get('activation', '?')}, "
                          f"{patterns.get('n_samples', '?')} images)", fontsize=11)
    return save_figure(fig, path)


