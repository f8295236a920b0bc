"""Hand-written Numba kernels: every piece of the network's math, as explicit loops.

Each kernel is an `@njit(cache=True)` function that writes into arrays the caller allocates, in
forward/backward pairs, with the scalar math (an activation and its derivative, an optimizer's
per-element step, the dropout keep test, the softmax row) written once as inline functions that
the plain and the fused kernels share. By concern:

    matmul.py       plain matrix products, bias, the linear layer (the readable reference)
    activations.py  relu / tanh / sigmoid and their gradients
    loss.py         softmax, cross-entropy, the fused loss gradient, argmax
    optim.py        sgd / momentum / adam updates and the fused kernels' optimizer_step
    dropout.py      counter-based dropout masks
    augment.py      image shifts, and the batch gathers that apply them or the warps
    warp.py         random affine warps, bilinear sampling (elastic.py: displacement fields)
    tiles.py        register-tiled microkernels (tile shape per CPU: cpu.py)
    products.py     the fast matrix products: microkernels split over threads
    layers.py       fused layer kernels (product + the plain kernels' element-wise epilogue)
    epoch.py        one training epoch as a single compiled function
    calls.py        the kernels the epoch calls, passed to it by address
    pairs.py        which optimised kernel must equal which plain ones
    signatures.py   the argument types a training run compiles (to compile them ahead)
    runtime.py      what importing the package does (thread pool, OpenMP spin and binding)

`python -m kernels` lists them; `python -m kernels show NAME` inspects one. Importing the package
defines functions and constants only (plus runtime.py's OpenMP settings); nothing is compiled, read
or hashed until a kernel is called.
"""
from kernels import runtime  # noqa: F401  (first: before any parallel kernel can load)
from kernels.activations import (ACT_CODES, ACT_NONE, ACT_RELU, ACT_SIGMOID, ACT_TANH,
                                 BACKWARD_FROM_OUTPUT, activation_backward, activation_forward,
                                 relu_backward, relu_forward, sigmoid_backward, sigmoid_forward,
                                 tanh_backward, tanh_forward)
from kernels.augment import gather_rows, gather_warp, shift_images
from kernels.dropout import dropout_backward, dropout_forward, hash_uniform
from kernels.epoch import layout, train_epoch_compiled
from kernels.layers import bias_grad_step, linear_act_forward, linear_input_grad, weight_grad_step
from kernels.loss import (argmax_rows, softmax_cross_entropy_backward, softmax_cross_entropy_forward,
                          softmax_forward, softmax_xent_grad)
from kernels.matmul import (bias_backward, bias_forward, linear_backward, linear_forward, matmul_nn,
                            matmul_nt, matmul_tn)
from kernels.optim import (OPT_ADAM, OPT_CODES, OPT_MOMENTUM, OPT_SGD, adam_update, momentum_update,
                           optimizer_step, sgd_update)
from kernels.products import matmul_nn_fast, matmul_nt_fast, matmul_tn_fast, transpose
from kernels.packing import nn_packed_block, tn_packed_block
from kernels.tiles import nn_block, nt_block, tn_block

ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
}
