"""One whole training epoch as a single compiled function: no Python per operation and no
allocation per step (beyond a 16-column padded copy for layers narrower than 16 units).

For each mini-batch b, rows idx = perm[b*bs : (b+1)*bs], with layers l = 0..L-1:

    H_0 = X[idx] (shifted if augmenting)                                   gather_rows
    Z_l = H_l @ W_l + b_l,  A_l = f(Z_l),  H_{l+1} = A_l * mask_l          linear_act_forward
    loss_b, dZ_{L-1} = softmax-CE of Z_{L-1} and its gradient              softmax_xent_grad
and from the top layer down:
    dZ_{l-1} = f'(.) * mask_{l-1} * (dZ_l @ W_l.T)   (before W_l changes)  linear_input_grad
    dW_l = H_l.T @ dZ_l,   W_l <- step(W_l, dW_l)                          weight_grad_step
    db_l = sum_n dZ_l[n],  b_l <- step(b_l, db_l)                          bias_grad_step

The same sequence of operations as `NeuralNetwork.train_epoch_reference` (the same shuffled
order, shifts, dropout seeds, Adam step counter and formulas), on the kernels of kernels/fast.py.
Weights, their gradients and optimizer state are held transposed, WT = W.T (one row per unit):
then the forward product is a dot product of rows, the other two products are tile kernels
reading rows of WT or H, no product needs a transposed copy, and a thread that owns units
j0..j1 of a layer touches the same rows of WT in the forward pass and in the update.
Per-layer arrays come in numba typed Lists, so one compiled function serves any depth. Buffers
are flat 1-D arrays of batch_size * width elements, viewed as (rows, width) for each batch.
"""
import numpy as np
from numba import njit

from kernels.fast import (ACT_NONE, ACT_RELU, bias_grad_step, gather_rows, linear_act_forward,
                          linear_input_grad, softmax_xent_grad, weight_grad_step)


@njit(cache=True)
def _view(flat, rows, cols):
    return flat[:rows * cols].reshape((rows, cols))


@njit(cache=True)
def train_epoch_compiled(X, y, perm, shift_r, shift_c, use_shift, lrs, batch_size,
                         WT, B, dWT, dB, S1, S2, SB1, SB2,
                         opt, l2, mu, beta1, beta2, eps, step,
                         act, p_drop, seed_hi, dropout_calls,
                         bufX, bufZ, bufA, bufMask, bufD, bufdZ, ybuf):
    """Run one epoch of mini-batch training, updating W, B and the optimizer state in place.

    X (n,K0) inputs, y (n,) int labels, perm (n,) the shuffled order, shift_r / shift_c (n,)
    per-sample shifts (read if use_shift), lrs (n_batches,) each batch's learning rate.
    Typed Lists over layers l: WT[l] (M,K) weights transposed, B[l] (M,) biases, dWT[l], dB[l]
    gradients (the last batch's are left there), S1/S2[l] (M,K) and SB1/SB2[l] (M,) optimizer
    state of WT[l] and B[l] (velocity, or Adam's first and second moments; unused for plain SGD).
    opt: OPT_* code; step: optimizer steps taken so far (Adam's t); act: ACT_* code of the hidden
    layers; p_drop: dropout probability; seed_hi: uint64 (model seed & 0xFFFFFFFF) << 32;
    dropout_calls: the model's dropout counter. Buffers (flat, batch_size * width): bufX (K0),
    bufZ / bufdZ (every layer), bufA / bufMask / bufD (hidden layers), ybuf (batch_size,) int64.

    Returns (mean loss over the epoch, step, dropout_calls, loss of the last batch).
    """
    n, K0 = X.shape
    L = len(WT)
    n_batches = (n + batch_size - 1) // batch_size
    use_mask = p_drop > 0
    total = 0.0
    loss = 0.0
    for b in range(n_batches):
        start = b * batch_size
        nb = min(n, start + batch_size) - start
        idx = perm[start:start + nb]
        Xb = _view(bufX, nb, K0)
        gather_rows(X, idx, shift_r, shift_c, use_shift, Xb)
        yb = ybuf[:nb]
        for r in range(nb):
            yb[r] = y[idx[r]]

        # forward: H is the input of layer l
        H = Xb
        for l in range(L):
            M = WT[l].shape[0]
            Z = _view(bufZ[l], nb, M)
            if l == L - 1:
                linear_act_forward(H, WT[l], B[l], ACT_NONE, Z, Z, 0.0, np.uint64(0), Z, Z)
                break
            Aa = _view(bufA[l], nb, M)
            seed = np.uint64(0)
            if use_mask:
                dropout_calls += 1
                seed = np.uint64(seed_hi) | (np.uint64(dropout_calls) & np.uint64(0xFFFFFFFF))
                D = _view(bufD[l], nb, M)
            else:
                D = Aa
            linear_act_forward(H, WT[l], B[l], act, Z, Aa, p_drop, seed, _view(bufMask[l], nb, M), D)
            H = D

        M = WT[L - 1].shape[0]
        loss = softmax_xent_grad(_view(bufZ[L - 1], nb, M), yb, _view(bufdZ[L - 1], nb, M))
        total += loss * nb

        # backward, each layer's update fused into its weight gradient
        step += 1
        lr = lrs[b]
        for l in range(L - 1, -1, -1):
            M, K = WT[l].shape
            dZ = _view(bufdZ[l], nb, M)
            if l > 0:
                saved = _view(bufZ[l - 1], nb, K) if act == ACT_RELU else _view(bufA[l - 1], nb, K)
                linear_input_grad(dZ, WT[l], saved, act, _view(bufMask[l - 1], nb, K), use_mask,
                                  _view(bufdZ[l - 1], nb, K))
                Hin = _view(bufD[l - 1], nb, K) if use_mask else _view(bufA[l - 1], nb, K)
            else:
                Hin = Xb
            weight_grad_step(dZ, Hin, dWT[l], WT[l], S1[l], S2[l], opt, lr, l2, mu, beta1, beta2,
                             eps, step)
            bias_grad_step(dZ, dB[l], B[l], SB1[l], SB2[l], opt, lr, mu, beta1, beta2, eps, step)
    return total / n, step, dropout_calls, loss
