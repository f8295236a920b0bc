"""One MNIST training digit under a dozen random draws of each augmentation kind.

    python -m analysis.augmentation [OUT.png]           # default plots/augmentation_examples.png

Rows: none, whole-pixel shifts, affine warps, affine + elastic warps (kernels/warp.py with the
proposed default amounts). Draw k of every row uses the same counter, so the affine and elastic
rows share their rotation, scale, shear and shift and differ only by the displacement field.
"""
from __future__ import annotations

import sys

import numpy as np

from kernels.elastic import DEFAULT_AMPLITUDE, DEFAULT_N_FIELDS, DEFAULT_SIGMA, field_bank
from kernels.warp import (DEFAULT_MAX_ROTATION, DEFAULT_MAX_SCALE, DEFAULT_MAX_SHEAR,
                          DEFAULT_MAX_SHIFT, augment_images)

DEFAULT_OUT = "plots/augmentation_examples.png"


def kinds():
    """[(row label, max_rotation, max_scale, max_shear, max_shift, elastic)] at the defaults."""
    r, s, sh, t = DEFAULT_MAX_ROTATION, DEFAULT_MAX_SCALE, DEFAULT_MAX_SHEAR, DEFAULT_MAX_SHIFT
    affine = f"rotation ±{r:g}°, scale ±{s:.0%}\nshear ±{sh:g}, shift ±{t} px"
    return [("none", 0.0, 0.0, 0.0, 0, False),
            (f"shift\n±{t} px", 0.0, 0.0, 0.0, t, False),
            ("affine\n" + affine, r, s, sh, t, False),
            (f"affine + elastic\n(σ {DEFAULT_SIGMA:g} px, RMS {DEFAULT_AMPLITUDE:g} px)",
             r, s, sh, t, True)]


def augmentation_grid(image, seed=0, n_draws=12):
    """(n_kinds, n_draws, 28, 28): draw k of each kind from counter k of `seed`."""
    x = np.repeat(np.asarray(image, np.float64).reshape(1, 784), n_draws, axis=0)
    bank = field_bank(seed, DEFAULT_N_FIELDS, DEFAULT_SIGMA, DEFAULT_AMPLITUDE)
    no_bank = bank[:0]
    rows = []
    for _, rot, scale, shear, shift, elastic in kinds():
        out = np.empty_like(x)
        augment_images(x, seed, np.arange(n_draws), rot, scale, shear, shift,
                       bank if elastic else no_bank, out)
        rows.append(out.reshape(n_draws, 28, 28))
    return np.stack(rows)


def draw_augmentation_examples(out_path=DEFAULT_OUT, image=None, seed=0, n_draws=12):
    """Write the figure to out_path (PNG); image (784,) or (28, 28) in [0, 1], by default the
    first MNIST training image (loaded from the cache). Returns the path."""
    from matplotlib.figure import Figure

    from network.plots import save_figure
    if image is None:
        from data import load_mnist, preprocess
        (x_train, _), _ = load_mnist(progress=False)
        image = preprocess(x_train[:1], np.float64)[0]
    grid = augmentation_grid(image, seed, n_draws)
    labels = [k[0] for k in kinds()]
    fig = Figure(figsize=(1.0 * n_draws + 2.2, 1.15 * len(labels) + 0.6))
    axes = fig.subplots(len(labels), n_draws, squeeze=False)
    for i, label in enumerate(labels):
        for k in range(n_draws):
            ax = axes[i, k]
            ax.imshow(grid[i, k], cmap="gray_r", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"One training digit under {n_draws} random draws of each augmentation "
                 f"(seed {seed}; draw k uses the same counter in every row)", fontsize=11)
    fig.subplots_adjust(left=0.17, right=0.99, top=0.9, bottom=0.02, wspace=0.06, hspace=0.1)
    return save_figure(fig, out_path)


if __name__ == "__main__":
    print(draw_augmentation_examples(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT))
