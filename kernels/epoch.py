"""One whole training epoch as a single compiled function: no Python per operation, no allocation
per step.

For each mini-batch b (rows perm[b*bs : (b+1)*bs]) it runs, for layers l = 0..L-1:

    H_0 = X[idx] (shifted if augmenting),   H_0T = H_0.T                  gather_rows
    Z_l = H_l @ W_l + b_l,  A_l = f(Z_l)                                  linear_act_forward
    H_{l+1} = A_l * mask_l (dropout) ,  H_{l+1}T = H_{l+1}.T              dropout_apply
    loss_b, dZ_{L-1} = softmax-CE(Z_{L-1}, y[idx]) and its gradient       softmax_xent_grad
and from the top layer down:
    dZ_{l-1} = f'(.) * mask_{l-1} * (dZ_l @ W_l.T)   (before W_l changes)  linear_input_grad
    dW_l.T = dZ_l.T @ H_l,  W_l <- step(W_l, dW_l)                        weight_grad_step
    db_l = sum_n dZ_l[n],   b_l <- step(b_l, db_l)                         bias_grad_step
    W_l (as stored, for the next step's dZ_l @ W_l.T) <- (W_l.T).T        transpose

This is the same sequence of operations as `NeuralNetwork.train_epoch_reference` (the same
shuffled order, shifts, dropout seeds, Adam step counter and formulas); the weights are held
transposed (WT, (n_out, n_in)) so that every product is the dot-product layout of kernels/fast.py.

Per-layer arrays come in numba typed Lists, so one compiled function serves any depth.
Buffers are flat 1-D arrays of batch_size * width elements, viewed as (rows, width) per batch.
"""
import numpy as np
from numba import njit

from kernels.fast import (ACT_NONE, ACT_RELU, bias_grad_step, dropout_apply, gather_rows,
                          linear_act_forward, linear_input_grad, softmax_xent_grad, transpose,
                          weight_grad_step)


@njit(cache=True)
def _view(flat, rows, cols):
    return flat[:rows * cols].reshape((rows, cols))


@njit(cache=True)
def train_epoch_compiled(X, y, perm, shift_r, shift_c, use_shift, lrs, batch_size,
                         WT, W, B, S1, S2, SB1, SB2, dWT, dB,
                         opt, l2, mu, beta1, beta2, eps, step,
                         act, p_drop, seed_hi, dropout_calls,
                         bufX, bufXT, bufZ, bufA, bufMask, bufD, bufDT, bufdZ, bufdZT):
    """Run one epoch of mini-batch training in place.

    Returns (mean loss over the epoch, step, dropout_calls, loss of the last batch).

    X (n,K0) inputs, y (n,) labels, perm (n,) the shuffled order, shift_r/shift_c (n,) per-sample
    shifts (used if use_shift), lrs (n_batches,) the learning rate of each batch.
    Per layer l (typed Lists): WT[l] (M,K) weights transposed, W[l] (K,M) the same weights as
    stored (refreshed after each step), B[l] (M,) biases, S1/S2[l] (M,K) optimizer state of WT[l]
    (transposed), SB1/SB2[l] (M,) of B[l], dWT[l] (M,K), dB[l] (M,) the last batch's gradients.
    opt: OPT_* code; act: ACT_* code of the hidden layers; step: optimizer steps taken so far
    (Adam's t); p_drop: dropout probability; seed_hi: (model seed & 0xFFFFFFFF) << 32;
    dropout_calls: the model's dropout counter. buf*: flat scratch buffers (see module docstring).
    """
    n = X.shape[0]
    L = len(WT)
    K0 = X.shape[1]
    n_batches = (n + batch_size - 1) // batch_size
    use_mask = p_drop > 0
    total = 0.0
    loss = 0.0
    for b in range(n_batches):
        start = b * batch_size
        nb = min(n, start + batch_size) - start
        idx = perm[start:start + nb]
        Xb = _view(bufX, nb, K0)
        XbT = _view(bufXT, K0, nb)
        gather_rows(X, idx, shift_r, shift_c, use_shift, Xb, XbT)

        # forward
        H = Xb
        for l in range(L):
            M = WT[l].shape[0]
            Z = _view(bufZ[l], nb, M)
            if l == L - 1:
                linear_act_forward(H, WT[l], B[l], ACT_NONE, Z, Z)
                break
            Aa = _view(bufA[l], nb, M)
            linear_act_forward(H, WT[l], B[l], act, Z, Aa)
            seed = np.uint64(0)
            if use_mask:
                dropout_calls += 1
                seed = np.uint64(seed_hi) | (np.uint64(dropout_calls) & np.uint64(0xFFFFFFFF))
            D = _view(bufD[l], nb, M)
            dropout_apply(Aa, p_drop, seed, _view(bufMask[l], nb, M), D, _view(bufDT[l], M, nb))
            H = D

        # loss and output gradient
        M = WT[L - 1].shape[0]
        loss = softmax_xent_grad(_view(bufZ[L - 1], nb, M), y[idx], _view(bufdZ[L - 1], nb, M),
                                 _view(bufdZT[L - 1], M, nb))
        total += loss * nb

        # backward with fused updates
        step += 1
        lr = lrs[b]
        for l in range(L - 1, -1, -1):
            M, K = WT[l].shape
            dZT = _view(bufdZT[l], M, nb)
            if l > 0:
                saved = _view(bufZ[l - 1], nb, K) if act == ACT_RELU else _view(bufA[l - 1], nb, K)
                linear_input_grad(_view(bufdZ[l], nb, M), W[l], saved, act,
                                  _view(bufMask[l - 1], nb, K), use_mask,
                                  _view(bufdZ[l - 1], nb, K), _view(bufdZT[l - 1], K, nb))
                HT = _view(bufDT[l - 1], K, nb)
            else:
                HT = XbT
            weight_grad_step(dZT, HT, dWT[l], WT[l], S1[l], S2[l], opt, lr, l2, mu, beta1, beta2,
                             eps, step)
            bias_grad_step(dZT, dB[l], B[l], SB1[l], SB2[l], opt, lr, mu, beta1, beta2, eps, step)
            if l > 0:
                transpose(WT[l], W[l])
    return total / n, step, dropout_calls, loss
