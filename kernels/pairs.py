"""The table that pairs each optimised kernel with the plain kernel(s) it must equal.

`equal` says how closely: "bits" (same arithmetic in the same order) or "rounding" (sums taken
in another order, or multiply-adds fused under fastmath: equal to the dtype's rounding).
tests/test_fast.py checks every row, and the kernel benchmark times each optimised kernel beside
its plain counterparts (profiling/bench_kernels.py); a new optimised kernel needs a row here.
"""
from collections import namedtuple

from kernels import activations as act
from kernels import augment, dropout, epoch, layers, loss, matmul, optim, packing, products, tiles, warp

Pair = namedtuple("Pair", "fast plain equal what")

PAIRS = (
    Pair(products.matmul_nn_fast, (matmul.matmul_nn,), "rounding", "A @ B, register tiles (kernels/cpu.py)"),
    Pair(products.matmul_tn_fast, (matmul.matmul_tn,), "rounding", "A.T @ B, register tiles (kernels/cpu.py)"),
    Pair(products.matmul_nt_fast, (matmul.matmul_nt,), "rounding", "A @ B.T, DOT_ROWS x 4 blocks of dot products"),
    Pair(tiles.nn_block, (matmul.matmul_nn,), "rounding", "a block of A @ B on one thread"),
    Pair(tiles.tn_block, (matmul.matmul_tn,), "rounding", "a block of A.T @ B on one thread"),
    Pair(tiles.nt_block, (matmul.matmul_nt,), "rounding", "columns of A @ B.T on one thread"),
    Pair(packing.nn_packed_block, (matmul.matmul_nn,), "rounding",
         "nn_block through packed panels of B (the same bits as nn_block)"),
    Pair(packing.tn_packed_block, (matmul.matmul_tn,), "rounding",
         "tn_block through packed A and panels of B (the same bits as tn_block)"),
    Pair(products.transpose, (), "bits", "A.T packed (NumPy's np.ascontiguousarray(A.T))"),
    Pair(layers.linear_act_forward,
         (matmul.linear_forward, act.activation_forward, dropout.dropout_forward), "rounding",
         "Z = H @ W + b, A = f(Z), D = A * mask"),
    Pair(layers.linear_input_grad,
         (matmul.matmul_nt, dropout.dropout_backward, act.activation_backward), "rounding",
         "dH = f'(.) * mask * (dZ @ W.T)"),
    Pair(layers.weight_grad_step,
         (matmul.matmul_tn, optim.sgd_update, optim.momentum_update, optim.adam_update), "rounding",
         "dW = H.T @ dZ, then the optimizer step"),
    Pair(layers.bias_grad_step,
         (matmul.bias_backward, optim.sgd_update, optim.momentum_update, optim.adam_update),
         "rounding", "db = sum_n dZ, then the optimizer step"),
    Pair(optim.optimizer_step, (optim.sgd_update, optim.momentum_update, optim.adam_update),
         "rounding", "one step of any optimizer on a flattened array"),
    Pair(loss.softmax_xent_grad,
         (loss.softmax_cross_entropy_forward, loss.softmax_cross_entropy_backward), "bits",
         "loss and dZ in one pass"),
    Pair(augment.gather_rows, (augment.shift_images,), "bits", "X[idx], shifted, in one pass"),
    Pair(augment.gather_warp, (warp.augment_images,), "bits", "X[idx], warped, in one pass"),
)

# Kernels that are neither plain nor in PAIRS, and why.
NOT_PAIRED = {
    epoch.train_epoch_compiled: "a whole epoch: tests/test_fast.py holds it equal to "
                                "NeuralNetwork.train_epoch_reference, which runs the plain kernels",
    epoch.layout: "offsets of the flat parameter arrays (integer bookkeeping, no math)",
}
