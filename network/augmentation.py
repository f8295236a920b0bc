"""What augmentation a training run applies, and the per-epoch arguments the engine passes on.

    none      the images as they are
    shift     random whole-pixel shifts of up to `shift` px (drawn from the model's NumPy RNG,
              as before this module existed: the same run gives the same weights)
    affine    random rotation (+-rotate degrees), isotropic scale (1 +- scale), shear (+-shear)
              and whole-pixel shift (+-shift px) about the image centre, bilinear (kernels/warp.py)
    elastic   affine plus one of a bank of smooth random displacement fields per image, Gaussian
              width elastic_sigma px and RMS length elastic_alpha px (kernels/elastic.py)

The warps draw their parameters from counter-based hashes: image s of the model's e-th augmented
epoch uses counter e * 2^32 + s under a seed derived from the model seed (not dropout's seeds), so
the images do not depend on the thread count, the batch size or how the epoch is split into
calls; the model counts its augmented epochs (`augment_epochs`, kept in checkpoints).
"""
from dataclasses import asdict, dataclass

import numpy as np

from kernels import warp as W
from kernels.elastic import DEFAULT_AMPLITUDE, DEFAULT_N_FIELDS, DEFAULT_SIGMA, field_bank

KINDS = ("none", "shift", "affine", "elastic")
EPOCH_STRIDE = 1 << 32                # counter of image s in augmented epoch e: e * 2^32 + s
_SEED_TAG = 0xA5A5_0000_0000_0000     # warp seeds differ from dropout's ((seed << 32) | calls)


@dataclass(frozen=True)
class Augmentation:
    kind: str = "none"
    shift: int = 0                     # px (whole)
    rotate: float = 0.0                # degrees
    scale: float = 0.0                 # fraction: factors in [1 - scale, 1 + scale]
    shear: float = 0.0                 # factor
    elastic_sigma: float = DEFAULT_SIGMA    # px
    elastic_alpha: float = DEFAULT_AMPLITUDE  # px, RMS displacement
    n_fields: int = DEFAULT_N_FIELDS

    def __post_init__(self):
        from network import validation as V
        V.check_choice("augment", self.kind, KINDS)
        V.check_int("augment shift", self.shift, 0, 27, what="an integer in [0, 27]")
        V.check_float("rotate", self.rotate, 0.0, 180.0 + 1e-9)
        V.check_float("scale", self.scale, 0.0, 1.0)
        V.check_float("shear", self.shear, 0.0, 10.0)
        V.check_float("elastic_sigma", self.elastic_sigma, 0.0, 28.0)
        V.check_float("elastic_alpha", self.elastic_alpha, 0.0, 28.0)
        V.check_int("n_fields", self.n_fields, 1, what="a positive integer")

    @property
    def active(self):
        return self.kind != "none" and (self.kind != "shift" or self.shift > 0)

    @property
    def warps(self):
        return self.kind in ("affine", "elastic")

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_shift(cls, shift):
        return cls("shift", shift=int(shift)) if shift else cls()

    def describe(self):
        if self.kind == "none" or not self.active:
            return "none"
        if self.kind == "shift":
            return f"shifts +-{self.shift} px"
        s = (f"affine (rotate +-{self.rotate:g} deg, scale +-{self.scale:g}, shear +-{self.shear:g}, "
             f"shift +-{self.shift} px)")
        if self.kind == "elastic":
            s += f" + elastic (sigma {self.elastic_sigma:g} px, {self.elastic_alpha:g} px RMS)"
        return s


_BANKS = {}


def fields_for(aug, seed):
    """The elastic bank of a run (float64, (n_fields, 2, 28, 28)), made once per (seed, amounts);
    an empty bank for affine warps."""
    if aug.kind != "elastic":
        return np.zeros((0, 2, 28, 28))
    key = (seed, aug.n_fields, aug.elastic_sigma, aug.elastic_alpha)
    if key not in _BANKS:
        _BANKS.clear()                 # one bank at a time (12.8 MB for 1024 fields)
        # np.uint64: a Python int above 2^63 cannot go to a kernel already compiled for int64
        _BANKS[key] = field_bank(np.uint64(warp_seed(seed) ^ 0x5EED), aug.n_fields,
                                 aug.elastic_sigma, aug.elastic_alpha)
    return _BANKS[key]


def warp_seed(model_seed):
    return _SEED_TAG | (model_seed & 0xFFFFFFFF)


def warp_args(aug, model_seed, epoch_index):
    """(seed, counter0, max_rotation, max_scale, max_shear, max_shift, fields) for one epoch."""
    return (np.uint64(warp_seed(model_seed)), np.int64(epoch_index * EPOCH_STRIDE),
            float(aug.rotate), float(aug.scale), float(aug.shear), np.int64(aug.shift),
            fields_for(aug, model_seed))


def defaults_for(kind):
    """The amounts each kind uses unless told otherwise (issue 11's PyTorch runs)."""
    if kind in ("affine", "elastic"):
        return dict(shift=W.DEFAULT_MAX_SHIFT, rotate=W.DEFAULT_MAX_ROTATION,
                    scale=W.DEFAULT_MAX_SCALE, shear=W.DEFAULT_MAX_SHEAR)
    return dict(shift=2 if kind == "shift" else 0)


def epoch_augmentation(net, aug, n):
    """(shifts, warp) for one epoch of n images: shifts (2, n) from the model's RNG for "shift"
    (drawn after the shuffle, as always), or warp_args for the warps (counting the epoch)."""
    if aug.kind == "shift" and aug.shift:
        return net.rng.integers(-aug.shift, aug.shift + 1, size=(2, n)), None
    if aug.warps:
        warp = warp_args(aug, net.seed, net.augment_epochs)
        net.augment_epochs += 1
        return None, warp
    return None, None
