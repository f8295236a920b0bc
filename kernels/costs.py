"""FLOP and byte counts of one call of each public kernel, at the training shapes.

For each kernel exported by `import kernels`, COSTS[name] says at which shape the 784-128-64-10
network calls it while training (`dims(N)` for batch N) and what one call costs there
(`count(dims, itemsize)` -> (flops, bytes_moved)). `python -m profiling.roofline` places the
kernels on a roofline with these counts; `python -m kernels show` prints them.

Conventions, the same for every entry:
  * FLOPs are the floating-point operations the formula needs, as written: a multiply-add is 2,
    a comparison, max or select is 1, and a transcendental (exp, log, tanh, sqrt) or a division
    is 1 (its real instruction cost is 10-30 times that, so kernels made of them sit far below
    the compute roof for that reason). Integer work (index arithmetic, the dropout hash) is 0.
  * Bytes moved are the compulsory traffic: every array the kernel reads is read once, every
    array it writes is written once (both for an array updated in place), at `itemsize` bytes a
    float and 8 bytes an integer label or index. Re-reads a cache absorbs (the panels of a
    product, a row read twice) are not counted, so flops / bytes is the best-case arithmetic
    intensity, the one the roofline model asks for.
Dims are named as in the kernels' docstrings; a product (N,K) x (K,M) has dims (N, K, M).
"""
from dataclasses import dataclass
from typing import Callable

SIZES = (784, 128, 64, 10)                     # the network: input, hidden 1, hidden 2, classes
LAYER1, LAYER2 = (784, 128), (128, 64)         # (fan-in, fan-out)
N_TRAIN = 48_000                               # training images an epoch gathers batches from
INT = 8                                        # bytes of an int64 label or index


@dataclass(frozen=True)
class Cost:
    dims: Callable      # batch N -> the dims one training call has
    count: Callable     # (dims, itemsize) -> (flops, bytes_moved)
    how: str            # where training calls it, and how the count is made

    def __call__(self, dims, itemsize=4):
        """(flops, bytes_moved) of one call at these dims."""
        return self.count(dims, itemsize)

    def at(self, batch, itemsize=4):
        """(dims, flops, bytes_moved) of one call at batch size `batch`."""
        d = self.dims(batch)
        flops, nbytes = self.count(d, itemsize)
        return d, int(flops), int(nbytes)


def _layer1(N):
    return (N, *LAYER1)


def _layer2(N):
    return (N, *LAYER2)


def _hidden(N):
    return (N, LAYER1[1])


def _logits(N):
    return (N, SIZES[-1])


def _params(N):
    return (LAYER1[0] * LAYER1[1],)


def _product(d, s):
    """(N,K) x (K,M) -> (N,M): 2 FLOPs per multiply-add; both operands read, the result written."""
    N, K, M = d
    return 2 * N * K * M, s * (N * K + K * M + N * M)


def _elementwise(flops_per, arrays):
    """An (N,M) map: flops_per FLOPs an element; `arrays` (N,M) arrays read or written."""
    return lambda d, s: (flops_per * d[0] * d[1], arrays * s * d[0] * d[1])


def _update(flops_per, arrays):
    """A flat (P,) optimizer update: flops_per FLOPs a parameter; `arrays` reads plus writes."""
    return lambda d, s: (flops_per * d[0], arrays * s * d[0])


_PRODUCT = "2NKM (one multiply-add per term); reads A and B, writes out"

COSTS = {
    # --- matrix products, plain (one thread) and tiled (kernels/fast)
    "matmul_nn": Cost(_layer1, _product, f"layer-1 forward X @ W, (N,784)x(784,128); {_PRODUCT}"),
    "matmul_nn_fast": Cost(_layer1, _product, f"layer-1 product (N,784)x(784,128); {_PRODUCT}"),
    "nn_block": Cost(_layer1, _product, f"the whole (N,784)x(784,128) as one block; {_PRODUCT}"),
    "matmul_nt": Cost(lambda N: (N, LAYER2[1], LAYER2[0]), _product,
                      f"layer-2 input gradient dY @ W.T, (N,64)x(64,128); {_PRODUCT}"),
    "matmul_nt_fast": Cost(_layer1, _product,
                           f"layer-1 forward H @ WT.T, (N,784)x(128,784).T; {_PRODUCT}"),
    "nt_block": Cost(_layer1, _product, f"layer-1 forward H @ WT.T as one block; {_PRODUCT}"),
    "matmul_tn": Cost(_layer1, _product,
                      "layer-1 weight gradient X.T @ dY, (784,N)x(N,128): 2NKM; reads X, dY, "
                      "writes the (784,128) result"),
    "matmul_tn_fast": Cost(_layer1, _product, "layer-1 weight gradient, as matmul_tn"),
    "tn_block": Cost(_layer1, _product, "layer-1 weight gradient as one block, as matmul_tn"),
    "nn_packed_block": Cost(_layer1, _product, "as nn_block, B read through packed panels"),
    "tn_packed_block": Cost(_layer1, _product, "as tn_block, A and B read through packed copies"),
    # --- layers
    "linear_forward": Cost(_layer1, lambda d, s: (2 * d[0] * d[1] * d[2] + d[0] * d[2],
                                                  s * (d[0] * d[1] + d[1] * d[2] + d[2] + d[0] * d[2])),
                           "layer 1: the product plus N*M bias adds; reads X, W, b, writes out"),
    "linear_backward": Cost(_layer2, lambda d, s: (
        4 * d[0] * d[1] * d[2] + d[0] * d[2],
        s * (2 * d[0] * d[1] + 2 * d[1] * d[2] + d[0] * d[2] + d[2])),
        "layer 2 with dX: two products (dW, dX) of 2NKM and N*M adds for db; reads X, W, dY, "
        "writes dX, dW, db"),
    "linear_act_forward": Cost(_layer1, lambda d, s: (
        2 * d[0] * d[1] * d[2] + 2 * d[0] * d[2],
        s * (d[0] * d[1] + d[2] * d[1] + d[2] + 2 * d[0] * d[2])),
        "layer 1, relu, no dropout: the product, a bias add and a relu per output; reads H, WT, b, "
        "writes Z and A"),
    "linear_input_grad": Cost(_layer2, lambda d, s: (
        2 * d[0] * d[1] * d[2] + d[0] * d[1],
        s * (d[0] * d[2] + d[2] * d[1] + 2 * d[0] * d[1])),
        "layer-2 gradient into hidden 1, relu, no dropout: the product dZ @ WT (N,64)x(64,128) "
        "and one select per output; reads dZ, WT, z, writes dH"),
    "weight_grad_step": Cost(_layer1, lambda d, s: (
        2 * d[0] * d[1] * d[2] + 4 * d[1] * d[2],
        s * (d[0] * d[2] + d[0] * d[1] + 3 * d[1] * d[2])),
        "layer 1, SGD: the product dZ.T @ H and 4 FLOPs a weight (w -= lr (g + l2 w)); reads dZ, "
        "H, WT, writes dWT and WT"),
    # bias kernels take layer dims (N, K, M); only N and M = 128 (hidden 1) matter
    "bias_forward": Cost(_layer1, lambda d, s: (d[0] * d[2], s * (2 * d[0] * d[2] + d[2])),
                         "hidden 1 (N,128): one add per element; reads b and out, writes out"),
    "bias_backward": Cost(_layer1, lambda d, s: (d[0] * d[2], s * (d[0] * d[2] + d[2])),
                          "hidden 1 (N,128): one add per element; reads dY, writes db"),
    "bias_grad_step": Cost(_layer1, lambda d, s: (d[0] * d[2] + 4 * d[2], s * (d[0] * d[2] + 3 * d[2])),
                           "hidden 1, SGD: N*M adds for db, 4 FLOPs a bias; reads dZ, b, writes db, b"),
    # --- activations on hidden 1 (N,128)
    "relu_forward": Cost(_hidden, _elementwise(1, 2), "1 max per element; reads z, writes out"),
    "relu_backward": Cost(_hidden, _elementwise(1, 3), "1 select per element; reads z, dout, writes dz"),
    "activation_forward": Cost(_hidden, _elementwise(1, 2),
                               "the generic kernel the named ones call, costed as relu (the training "
                               "default): 1 max per element; reads z, writes out"),
    "activation_backward": Cost(_hidden, _elementwise(1, 3),
                                "as relu_backward: 1 select per element; reads z, dout, writes dz"),
    "tanh_forward": Cost(_hidden, _elementwise(1, 2), "1 tanh per element; reads z, writes out"),
    "tanh_backward": Cost(_hidden, _elementwise(3, 3),
                          "dout (1 - a^2): 3 per element; reads a, dout, writes dz"),
    "sigmoid_forward": Cost(_hidden, _elementwise(3, 2),
                            "exp, add, divide per element; reads z, writes out"),
    "sigmoid_backward": Cost(_hidden, _elementwise(3, 3),
                             "dout a (1 - a): 3 per element; reads a, dout, writes dz"),
    "dropout_forward": Cost(_hidden, _elementwise(3, 3),
                            "p = 0.2: hash to float (1 multiply), compare, scale: 3 per element "
                            "(the integer hash is 0); reads x, writes mask and out"),
    "dropout_backward": Cost(_hidden, _elementwise(1, 3), "1 multiply per element; reads dout, mask, "
                             "writes dx"),
    # --- softmax and cross-entropy on the logits (N,10)
    "softmax_forward": Cost(_logits, lambda d, s: (5 * d[0] * d[1] + d[0], 2 * s * d[0] * d[1]),
                            "max, subtract, exp, add, scale: 5 per logit, 1 divide per row; reads z, "
                            "writes p"),
    "softmax_cross_entropy_forward": Cost(
        _logits, lambda d, s: (5 * d[0] * d[1] + 5 * d[0], 2 * s * d[0] * d[1] + INT * d[0]),
        "as softmax_forward, plus log and 4 adds a row for the loss; reads z, y, writes p"),
    "softmax_cross_entropy_backward": Cost(
        _logits, lambda d, s: (d[0] * d[1] + d[0], 2 * s * d[0] * d[1] + INT * d[0]),
        "1 scale per logit, 1 subtract per row; reads p, y, writes dz"),
    "softmax_xent_grad": Cost(
        _logits, lambda d, s: (6 * d[0] * d[1] + 5 * d[0], 2 * s * d[0] * d[1] + INT * d[0]),
        "softmax (5 per logit) and gradient scale (1 per logit), log-loss (5 per row); reads Z, y, "
        "writes dZ"),
    "argmax_rows": Cost(_logits, lambda d, s: (d[0] * d[1], s * d[0] * d[1] + INT * d[0]),
                        "1 compare per logit; reads p, writes the (N,) int64 labels"),
    # --- optimizers on the layer-1 weights (784*128,)
    "sgd_update": Cost(_params, _update(4, 3), "p -= lr (g + l2 p): 4 per parameter; reads p, g, "
                       "writes p"),
    "momentum_update": Cost(_params, _update(6, 5),
                            "g + l2 p, v = mu v - lr g, p += v: 6 per parameter; reads p, g, v, "
                            "writes v, p"),
    "adam_update": Cost(_params, _update(16, 7),
                        "g (2), m (3), v (4), the step (7, sqrt and divide counted 1): 16 per "
                        "parameter; reads p, g, m, v, writes m, v, p"),
    "optimizer_step": Cost(_params, _update(4, 3), "SGD, as sgd_update"),
    # --- data movement: no FLOPs, placed by bandwidth only
    "shift_images": Cost(lambda N: (N, SIZES[0]), lambda d, s: (0, 2 * s * d[0] * d[1] + 2 * INT * d[0]),
                         "a batch (N,784) translated: a copy, 0 FLOPs; reads x, the shifts, writes out"),
    "transpose": Cost(lambda N: (N, SIZES[1]), lambda d, s: (0, 2 * s * d[0] * d[1]),
                      "packs B.T for a short-sum A @ B.T (matmul_nt_fast below 128 terms), costed "
                      "on an (N,128) activation: no FLOPs; reads and writes every element once"),
    "gather_rows": Cost(lambda N: (N, SIZES[0], N_TRAIN),
                        lambda d, s: (0, 2 * s * d[0] * d[1] + INT * d[0]),
                        "N rows of the (48000,784) training set, unshifted: a copy, 0 FLOPs; "
                        "reads N rows and idx, writes out"),
    "gather_warp": Cost(lambda N: (N, SIZES[0], N_TRAIN),
                        lambda d, s: (19 * d[0] * d[1], 2 * s * d[0] * d[1] + 16 * d[0] * d[1] + INT * d[0]),
                        "N rows of the training set under an affine + elastic warp: per pixel 4 adds "
                        "(sampling point and field), 4 clamps, 2 fractions, 9 for the bilinear blend; "
                        "reads N rows, their (2,28,28) float64 fields and idx, writes out"),
}

# Exported kernels with no entry, and why.
NOT_COSTED = {
    "layout": "integer offsets of the flat parameter arrays, computed once per network",
    "hash_uniform": "a scalar function of (seed, i) that dropout_forward calls per element",
    "train_epoch_compiled": "the whole epoch; profiling/bench_epoch.py measures it",
}
