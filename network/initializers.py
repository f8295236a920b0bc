"""Weight initialisation strategies (seed hint 1). Biases always start at zero.

    he       W ~ N(0, 2 / n_in)              keeps ReLU activations' variance constant
    xavier   W ~ N(0, 2 / (n_in + n_out))    (Glorot) for tanh / sigmoid
    normal   W ~ N(0, 0.01^2)                small random weights
    zeros    W = 0                           every unit identical: shows the symmetry problem
"""
import numpy as np

INITS = ("he", "xavier", "normal", "zeros")


def init_std(name, n_in, n_out):
    """Standard deviation of the normal distribution `name` draws a (n_in, n_out) matrix from."""
    if name == "he":
        return np.sqrt(2.0 / n_in)
    if name == "xavier":
        return np.sqrt(2.0 / (n_in + n_out))
    if name == "normal":
        return 0.01
    if name == "zeros":
        return 0.0
    raise ValueError(f"init must be one of {', '.join(INITS)}; got {name!r}")


def initialize(layer_sizes, init, rng, dtype):
    """Return (weights, biases): lists of (n_in, n_out) and (n_out,) arrays of `dtype`."""
    weights, biases = [], []
    for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        std = init_std(init, n_in, n_out)
        w = rng.standard_normal((n_in, n_out)) * std
        weights.append(np.ascontiguousarray(w, dtype=dtype))
        biases.append(np.zeros(n_out, dtype=dtype))
    return weights, biases
