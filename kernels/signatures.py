"""The argument types of the kernels a training run calls, written out: the epoch calls its
kernels by these signatures (kernels/calls.py), and a cold start compiles them ahead, some in
another process (network/warmup.py).

`epoch_kernels` mirrors the calls in kernels/epoch.py (every array there is a C-contiguous view
of a flat buffer, every index an int64, every rate a float64): a wrong entry is refused when the
epoch is typed ("mismatch of argument types"). `inference_kernels` lists those of
network/model.py's evaluate and predict; a wrong entry there costs only time.
tests/network/test_warmup.py checks that every entry is one a training run compiles.
"""
import numpy as np
from numba import from_dtype, types

from kernels import activations, augment, epoch, layers, loss, matmul, optim, products

I64, F64, U64, BOOL = types.int64, types.float64, types.uint64, types.boolean
IV = types.Array(I64, 1, "C")          # int64 vector: labels, row numbers, layer sizes


def _arrays(dtype):
    """(vector, matrix) types of C-contiguous float arrays of this dtype."""
    f = from_dtype(np.dtype(dtype))
    return types.Array(f, 1, "C"), types.Array(f, 2, "C")


def epoch_kernels(dtype, warp, x_type=None, pack=None):
    """{name: (dispatcher, argument types)} for every kernel K.train_epoch_compiled calls on
    arrays of `dtype` (a NumPy dtype or its name), and optimizer_step, which two of them call;
    warp: whether its Augment warps (gather_warp) or only shifts or copies (gather_rows);
    x_type: the Numba type of the epoch's inputs X, which only the gather reads (default: a
    writeable C-contiguous matrix; a read-only X, e.g. shared with worker processes, is another);
    pack: Net.pack (kernels/epoch.py), True or None."""
    v, m = _arrays(dtype)
    p = types.none if pack is None else BOOL
    x = m if x_type is None else x_type
    rates = (F64,) * 5              # lr, then l2 or mu, then mu or beta1, ... (see each kernel)
    if warp:
        gather = (augment.gather_warp,
                  (x, IV, U64, I64, F64, F64, F64, I64, types.Array(F64, 4, "C"), m))
    else:
        gather = (augment.gather_rows, (x, IV, IV, IV, BOOL, m))
    return {
        "epoch.layout": (epoch.layout, (IV,)),
        "augment.gather": gather,
        # forward: Z = H @ W + b, A = f(Z), D = A * mask (on all threads or one)
        "layers._linear_act": (layers._linear_act, (m, m, v, I64, m, m, F64, U64, m, m)),
        "loss.softmax_xent_grad": (loss.softmax_xent_grad, (m, IV, m)),
        # backward: dH = f'(.) * mask * (dZ @ W.T); dW = H.T @ dZ and the step; db and its step
        "layers._input_grad": (layers._input_grad, (m, m, m, I64, m, BOOL, m, p)),
        "optim.optimizer_step": (optim.optimizer_step, (v, v, v, v, I64) + rates + (F64, I64)),
        "layers._weight_grad": (layers._weight_grad, (m, m, m, m, m, m, I64) + rates + (F64, I64, p)),
        "layers.bias_grad_step": (layers.bias_grad_step, (m, v, v, v, v, I64) + rates + (I64,)),
    }


def inference_kernels(dtype):
    """{name: (dispatcher, argument types)} for the kernels NeuralNetwork.evaluate and predict
    call on arrays of `dtype` (network/model.py: _forward, evaluate, predict_proba, predict)."""
    v, m = _arrays(dtype)
    return {
        "products.matmul_nn_fast": (products.matmul_nn_fast, (m, m, m)),
        "matmul.bias_forward": (matmul.bias_forward, (v, m)),
        "activations.activation_forward": (activations.activation_forward, (I64, m, m)),
        "loss.softmax_cross_entropy_forward": (loss.softmax_cross_entropy_forward, (m, IV, m)),
        "loss.softmax_forward": (loss.softmax_forward, (m, m)),
        "loss.argmax_rows": (loss.argmax_rows, (m, IV)),
    }
