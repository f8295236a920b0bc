"""Hand-written Numba kernels: every piece of the network's math, as explicit loops.

Each kernel is an `@njit(cache=True)` function that writes into arrays the caller allocates, in
forward/backward pairs. `python -m kernels` lists them; `python -m kernels show NAME` inspects one.
"""
import os

# The parallel kernels run on Numba's OpenMP thread pool. By default its idle threads spin; on a
# shared 2-core machine a spinning thread steals the core its partner needs, and an epoch measured
# here went from 0.85 s to 6-25 s. Passive waiting (threads sleep between parallel regions) kept it
# at 0.85 s. It must be set before the OpenMP runtime loads; an explicit setting is respected.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from kernels.activations import (relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,  # noqa: E402
                                 tanh_backward, tanh_forward)
from kernels.augment import argmax_rows, shift_images  # noqa: E402
from kernels.dropout import dropout_backward, dropout_forward, hash_uniform  # noqa: E402
from kernels.loss import (softmax_cross_entropy_backward, softmax_cross_entropy_forward,  # noqa: E402
                          softmax_forward)
from kernels.matmul import (bias_backward, bias_forward, linear_backward, linear_forward,  # noqa: E402
                            matmul_nn, matmul_nt, matmul_tn)
from kernels.optim import adam_update, momentum_update, sgd_update  # noqa: E402

ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
}
# relu's derivative is read off its input z; tanh's and sigmoid's off their output a.
BACKWARD_FROM_OUTPUT = {"relu": False, "tanh": True, "sigmoid": True}

# Optimised kernels (register-tiled, multi-threaded, fused epilogues) and the compiled epoch;
# tests/test_fast.py holds each equal to the plain kernels above.
from kernels.fast import (bias_grad_step, gather_rows, linear_act_forward, linear_input_grad,  # noqa: E402
                          matmul_nn_fast, matmul_nt_fast, matmul_tn_fast, nn_block, nt_block,
                          optimizer_step, softmax_xent_grad, tn_block, weight_grad_step)
from kernels.epoch import train_epoch_compiled  # noqa: E402
