"""Input saliency maps: the gradient of a class score with respect to the pixels.

Everything here runs through the model's own kernels (the same forward pass as `predict`, and
the linear/activation backward kernels); NumPy only draws the maps.

    sal  = saliency(model, X, classes)             # (N, 784) d z_c / d x
    plot_saliency(images, sal, y_true, y_pred, "plots/saliency.png")

Saliency (Simonyan, Vedaldi & Zisserman 2014, "Deep inside convolutional networks") is the
gradient of one class score with respect to the input pixels. By default the score is the
class's logit z_c (the output layer's pre-softmax value):

    dz_{L-1} = onehot(c)                          (seed: d z_c / d z_{L-1})
    da_l     = dz_l @ W_l.T                       (matmul_nt; for l = 0 this is d z_c / d x)
    dz_{l-1} = f'(z_{l-1}) * da_l                 (relu/tanh/sigmoid backward kernels)

The logit is used rather than the probability p_c because d p_c / d x = p_c (d z_c/dx -
sum_k p_k d z_k/dx) vanishes as p_c -> 1, so a confidently classified digit would get an almost
empty map. `score="log_prob"` gives the gradient of log p_c instead (seed onehot(c) - p), which
shows what separates class c from the classes competing with it.
"""
from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

import kernels as K
from analysis.activations import _check_batch_size, _check_labels
from network.plots import save_figure

__all__ = ["saliency", "plot_saliency"]



# --------------------------------------------------------------------------- saliency


def saliency(model, X, classes, score="logit", batch_size=1024):
    """Gradient of a class score with respect to the input, one class per input row.

    X (N, n_in); classes an int or N ints. score "logit" (default): d z_c / d x, the output
    layer's pre-softmax value for class c; "log_prob": d log p_c / d x. Returns (N, n_in) in the
    model's dtype. Backpropagates through the model's kernels (see the module docstring) all the
    way to the input, which training skips (it never needs d/dx). Only d/da is formed at each
    layer (matmul_nt), not the weight gradients that `linear_backward` would also compute.
    """
    if score not in ("logit", "log_prob"):
        raise ValueError(f"score must be 'logit' or 'log_prob'; got {score!r}")
    X = model._check_X(X)
    N = X.shape[0]
    c = _check_labels(model, classes, N, "classes")
    bs = _check_batch_size(batch_size)
    act_bwd = K.ACTIVATIONS[model.activation][1]
    from_output = K.BACKWARD_FROM_OUTPUT[model.activation]
    sizes, L = model.layer_sizes, model.n_layers
    out = np.empty((N, sizes[0]), model.dtype)
    for s in range(0, N, bs):
        xb, cb = X[s:s + bs], c[s:s + bs]
        n = xb.shape[0]
        buf = model._forward(xb, training=False)
        dz = np.zeros((n, sizes[-1]), model.dtype)
        dz[np.arange(n), cb] = 1.0                         # d z_c / d z = onehot(c)
        if score == "log_prob":
            p = np.empty_like(dz)
            K.softmax_forward(buf["z"][-1], p)
            dz -= p                                        # d log p_c / d z = onehot(c) - p
        for l in range(L - 1, -1, -1):
            da = out[s:s + n] if l == 0 else np.empty((n, sizes[l]), model.dtype)
            K.matmul_nt(dz, model.weights[l], da)          # da_l = dz_l @ W_l.T
            if l > 0:
                saved = buf["a"][l - 1] if from_output else buf["z"][l - 1]
                dz = np.empty_like(da)
                act_bwd(saved, da, dz)                     # dz_{l-1} = f'(z_{l-1}) * da_l
    return out


def _overlay(image, sal, m):
    """RGBA: the digit in grey, the saliency's colour on top with opacity |sal| / m."""
    rgba = colormaps["RdBu_r"](Normalize(-m, m)(sal))
    rgba[..., 3] = np.clip(np.abs(sal) / m, 0, 1) * 0.9
    return rgba


def plot_saliency(images, sal, y_true, y_pred, path, sal_true=None, title=None, score="logit"):
    """One row per example: image | saliency | overlay [| saliency for the true class].

    images (pixels in [0, 1], or 0..255 if any exceeds 1), sal: (N, 784) or (N, 28, 28); sal is the gradient of the score of the class the
    saliency was taken for (the predicted one, y_pred). Saliency is drawn on a diverging map with
    a symmetric per-row range [-max|s|, +max|s|]: red pixels raise the class score when made
    brighter, blue ones lower it. The overlay shows the digit in grey with the saliency on top,
    opacity proportional to |s|. If sal_true is given (e.g. for misclassified digits) a fourth
    column shows the saliency for the true class on the same row scale.
    """
    from network.plots import _as_images, _as_labels

    imgs = _as_images(images)
    N = imgs.shape[0]
    if N == 0:
        raise ValueError("need at least one example to plot")
    s = _as_images(sal, "sal")
    if s.shape[0] != N:
        raise ValueError(f"sal must have one map per image ({N}); got {s.shape[0]}")
    st = None if sal_true is None else _as_images(sal_true, "sal_true")
    if st is not None and st.shape[0] != N:
        raise ValueError(f"sal_true must have one map per image ({N}); got {st.shape[0]}")
    t, p = _as_labels(y_true, N, "y_true"), _as_labels(y_pred, N, "y_pred")
    if imgs.max() > 1.0:
        imgs = imgs / 255.0
    score_name = "z" if score == "logit" else "log p"
    n_cols = 3 if st is None else 4
    # a fixed grid (no constrained layout: it costs seconds on a figure with ~50 axes)
    w, h = 1.75 * n_cols + 0.6, 1.85 * N + 0.9
    fig = Figure(figsize=(w, h))
    axes = fig.subplots(N, n_cols + 1, squeeze=False,
                        gridspec_kw={"width_ratios": [1] * n_cols + [0.07], "wspace": 0.12,
                                     "hspace": 0.3, "left": 0.15 / w, "right": 1 - 0.45 / w,
                                     "bottom": 0.1 / h, "top": 1 - 0.85 / h})
    for i in range(N):
        m = float(np.max(np.abs(s[i])))
        if st is not None:
            m = max(m, float(np.max(np.abs(st[i]))))
        m = m if np.isfinite(m) and m > 0 else 1.0
        ax = axes[i]
        ax[0].imshow(imgs[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ok = "correct" if t[i] == p[i] else "wrong"
        ax[0].set_title(f"true {t[i]}, pred {p[i]} ({ok})", fontsize=8)
        im = ax[1].imshow(s[i], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        ax[1].set_title(f"d {score_name}_{p[i]} / dx", fontsize=8)
        # the digit as light grey ink on white, so both red and blue stand out on top of it
        ax[2].imshow(imgs[i], cmap="Greys", vmin=0, vmax=2.5, interpolation="nearest")
        ax[2].imshow(_overlay(imgs[i], s[i], m), interpolation="nearest")
        ax[2].set_title(f"overlay (class {p[i]})", fontsize=8)
        if st is not None:
            ax[3].imshow(st[i], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
            ax[3].set_title(f"d {score_name}_{t[i]} / dx (true class)", fontsize=8)
        for a in ax[:n_cols]:
            a.set_xticks([])
            a.set_yticks([])
        cb = fig.colorbar(im, cax=ax[n_cols], format="%.2g")
        cb.ax.tick_params(labelsize=7)
    fig.suptitle(title or "Saliency of the predicted class\nred: a brighter pixel raises the "
                          "class score, blue: lowers it", fontsize=9, y=1 - 0.08 / h, va="top")
    return save_figure(fig, path)
