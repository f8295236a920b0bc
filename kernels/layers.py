"""Fused layer kernels: a tiled product, then the same element-wise math the plain kernels apply,
on each panel of the output while it is in cache.

    linear_act_forward   Z = H @ W + b;  A = f(Z);  D = A * mask        (forward, one layer)
    linear_input_grad    dH = f'(.) * mask * (dZ @ W.T)                  (gradient into the layer below)
    weight_grad_step     dW = H.T @ dZ;  W <- optimizer step             (weight gradient + update)
    bias_grad_step       db = sum_n dZ;  b <- optimizer step             (bias gradient + update)

The epilogues are the spans of kernels/activations.py and kernels/dropout.py and the update of
kernels/optim.py: nothing here restates their math. kernels/pairs.py pairs each kernel with the
plain kernels it must equal.

Weights are held transposed, WT = W.T (n_out, n_in), one row per unit: then the forward product
is a dot product of two contiguous rows, the other two products are tile kernels reading rows of
WT or H, no product needs a transposed copy, and a thread that owns units j0..j1 of a layer
touches the same rows of WT in the forward pass and in the update.
"""
from numba import njit, prange

from kernels.activations import ACT_NONE, act_backward_span, act_forward_span
from kernels.dropout import dropout_backward_span, dropout_span
from kernels.matmul import bias_backward
from kernels.optim import optimizer_step
from kernels.runtime import BY_ADDRESS, FAST, INNER
from kernels.products import PANEL, _check_product, _threads_for, _row_panel
from kernels.packing import _nn_auto, _tn_auto
from kernels.tiles import ZERO, _wide, nt_block


# ------------------------------------------------------------------------- forward
@njit(**INNER)
def _forward_epilogue(Z, b, act, Aout, p_drop, seed, mask, D, j0, j1):
    """On columns j0..j1: Z += b (bias_forward); Aout = f(Z); with dropout, mask and D."""
    bs = b[j0:j1]
    for i in range(Z.shape[0]):
        z, a = Z[i, j0:j1], Aout[i, j0:j1]          # views of the row, indexed from 0
        for j in range(z.shape[0]):                 # (kernels/activations.py says why)
            z[j] += bs[j]
        act_forward_span(act, z, a)
        if act != ACT_NONE and p_drop > 0:
            dropout_span(a, p_drop, seed, i * Z.shape[1] + j0, mask[i, j0:j1], D[i, j0:j1])


@njit(**FAST)
def linear_act_forward(H, WT, b, act, Z, Aout, p_drop, seed, mask, D):
    """A fully connected layer, its activation and dropout in one pass over the output.

        Z = H @ W + b,   Aout = f(Z),   D = Aout * mask   (mask drawn from seed when p_drop > 0)
    H (N,K), WT (M,K) = W.T, b (M,), Z, Aout, mask, D (N,M); act an ACT_* code (ACT_NONE leaves
    Aout, mask and D alone); seed a uint64. Threads split the units (columns of Z) in panels.
    Equals `linear_forward(H, W, b, Z)`, then `activation_forward`, then `dropout_forward`.
    """
    _check_product(H.shape[0], H.shape[1], WT.shape[1], WT.shape[0], Z.shape[0], Z.shape[1])
    if b.shape[0] != Z.shape[1] or (act != ACT_NONE and Aout.shape != Z.shape) or (
            act != ACT_NONE and p_drop > 0 and (mask.shape != Z.shape or D.shape != Z.shape)):
        raise ValueError("linear_act_forward: b, Aout, mask, D must match Z's shape")
    _linear_act(H, WT, b, act, Z, Aout, p_drop, seed, mask, D)


@njit(parallel=True, **BY_ADDRESS)
def _linear_act(H, WT, b, act, Z, Aout, p_drop, seed, mask, D):
    """linear_act_forward after its checks (the epoch calls this): threads split the units in
    panels if the product is large enough (_threads_for), else one thread does all of it. One
    compiled kernel holds both branches; the epoch calls it by address (kernels/calls.py)."""
    N, K = H.shape
    M = WT.shape[0]
    if _threads_for(N, K, M):
        for p in prange((M + PANEL - 1) // PANEL):
            j0, j1 = p * PANEL, min(M, (p + 1) * PANEL)
            nt_block(H, WT, Z, j0, j1)
            _forward_epilogue(Z, b, act, Aout, p_drop, seed, mask, D, j0, j1)
    else:
        nt_block(H, WT, Z, ZERO, M)
        _forward_epilogue(Z, b, act, Aout, p_drop, seed, mask, D, ZERO, M)


# ------------------------------------------------------------------ input gradient
@njit(**INNER)
def _input_grad_epilogue(dH, saved, act, mask, use_mask, j0, j1):
    """On columns j0..j1: dH *= mask (dropout_backward, if use_mask), then dH *= f'(.) read off
    `saved` (activation_backward, in place)."""
    for i in range(dH.shape[0]):
        d = dH[i, j0:j1]              # one view, passed as input and output: in place
        if use_mask:
            dropout_backward_span(d, mask[i, j0:j1], d)
        act_backward_span(act, saved[i, j0:j1], d, d)


@njit(**FAST)
def linear_input_grad(dZ, WT, saved, act, mask, use_mask, dH):
    """Gradient into the layer below, through its dropout and activation.

        dH = f'(.) * mask * (dZ @ W.T)
    dZ (N,M) this layer's pre-activation gradient; WT (M,K) = W.T its weights (the tile kernel
    reads a tile's width of consecutive inputs of one unit from a row of WT); saved (N,K) what the activation's
    backward reads (`backward_reads_output`); mask (N,K) the dropout mask (read only if
    use_mask); dH (N,K). Threads split the columns of dH (the units of the layer below).
    Equals `matmul_nt(dZ, W, dH)`, then `dropout_backward`, then `activation_backward`.
    """
    _check_product(dZ.shape[0], dZ.shape[1], WT.shape[0], WT.shape[1], dH.shape[0], dH.shape[1])
    if saved.shape != dH.shape or (use_mask and mask.shape != dH.shape):
        raise ValueError("linear_input_grad: saved and mask must have dH's shape")
    _input_grad(dZ, WT, saved, act, mask, use_mask, dH, True)


@njit(parallel=True, **BY_ADDRESS)
def _input_grad(dZ, WT, saved, act, mask, use_mask, dH, pack):
    """linear_input_grad after its checks (the epoch calls this): threads split the columns of dH
    in panels, or one thread does all of it (as _linear_act). pack: True, or None to compile
    without the packed product (packing.may_pack)."""
    N, M = dZ.shape
    K = WT.shape[1]
    WTw = _wide(WT)
    if _threads_for(N, M, K):
        for p in prange((K + PANEL - 1) // PANEL):
            j0, j1 = p * PANEL, min(K, (p + 1) * PANEL)
            _nn_auto(dZ, WTw, dH, ZERO, N, j0, j1, pack)
            _input_grad_epilogue(dH, saved, act, mask, use_mask, j0, j1)
    else:
        _nn_auto(dZ, WTw, dH, ZERO, N, ZERO, K, pack)
        _input_grad_epilogue(dH, saved, act, mask, use_mask, ZERO, K)


# ------------------------------------------------------- parameter gradients + step
@njit(inline="always")
def _flat(a):
    """A C-contiguous block of rows as one row (a view): the weights' optimizer step then shares
    the biases' compiled (1-d) optimizer_step instead of compiling a 2-d one as well."""
    return a.reshape(-1)


@njit(**FAST)
def weight_grad_step(dZ, H, dWT, WT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t):
    """A layer's weight gradient and the optimizer step on it, fused panel by panel.

        dWT = dZ.T @ H  (= (H.T @ dZ).T),   then   WT <- optimizer_step(WT, dWT)
    dZ (N,M) the layer's pre-activation gradient, H (N,K) its input; dWT, WT, S1, S2 (M,K):
    gradient, weights and optimizer state, one row per unit. Threads split the units in panels
    of rows (products._row_panel); each thread updates the rows of weights it has just summed.
    Equals `matmul_tn(H, dZ, dW)` followed by sgd_update / momentum_update / adam_update.
    """
    _check_product(dZ.shape[1], dZ.shape[0], H.shape[0], H.shape[1], dWT.shape[0], dWT.shape[1])
    if WT.shape != dWT.shape or S1.shape != dWT.shape or S2.shape != dWT.shape:
        raise ValueError("weight_grad_step: WT, S1, S2 must have dWT's shape")
    _weight_grad(dZ, H, dWT, WT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t, True)


@njit(parallel=True, **BY_ADDRESS)
def _weight_grad(dZ, H, dWT, WT, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t, pack):
    """weight_grad_step after its checks (the epoch calls this): threads split the units in panels
    of rows (products._row_panel) and update the rows of weights they have just summed, or one
    thread does all of it (as _linear_act). pack as for _input_grad."""
    N, M = dZ.shape
    K = H.shape[1]
    Hw = _wide(H)
    if _threads_for(N, K, M):
        P = _row_panel(M)
        for p in prange((M + P - 1) // P):
            r0, r1 = p * P, min(M, (p + 1) * P)
            _tn_auto(dZ, Hw, dWT, r0, r1, ZERO, K, pack)
            optimizer_step(_flat(WT[r0:r1]), _flat(dWT[r0:r1]), _flat(S1[r0:r1]), _flat(S2[r0:r1]),
                           opt, lr, l2, mu, beta1, beta2, eps, t)
    else:
        _tn_auto(dZ, Hw, dWT, ZERO, M, ZERO, K, pack)
        optimizer_step(_flat(WT), _flat(dWT), _flat(S1), _flat(S2), opt, lr, l2, mu, beta1, beta2, eps, t)


@njit(**FAST)
def bias_grad_step(dZ, db, b, s1, s2, opt, lr, mu, beta1, beta2, eps, t):
    """db = sum over the batch of dZ (`bias_backward`), then the optimizer step on b (no L2).
    dZ (N,M); db, b, s1, s2 (M,)."""
    bias_backward(dZ, db)
    optimizer_step(b, db, s1, s2, opt, lr, 0.0, mu, beta1, beta2, eps, t)
