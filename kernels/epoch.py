"""One whole training epoch as a single compiled function: no Python per operation and no
allocation per step.

For each mini-batch b, rows idx = perm[b*bs : (b+1)*bs], with layers l = 0..L-1:

    H_0 = X[idx] (shifted, or warped, if augmenting)           gather_rows / gather_warp
    Z_l = H_l @ W_l + b_l,  A_l = f(Z_l),  H_{l+1} = A_l * mask_l          linear_act_forward
    loss_b, dZ_{L-1} = softmax-CE of Z_{L-1} and its gradient              softmax_xent_grad
and from the top layer down:
    dZ_{l-1} = f'(.) * mask_{l-1} * (dZ_l @ W_l.T)   (before W_l changes)  linear_input_grad
    dW_l = H_l.T @ dZ_l,   W_l <- step(W_l, dW_l)                          weight_grad_step
    db_l = sum_n dZ_l[n],  b_l <- step(b_l, db_l)                          bias_grad_step

The same sequence of operations as `NeuralNetwork.train_epoch_reference` (the same shuffled
order, shifts, dropout seeds, Adam step counter and formulas), on the fused kernels.

The parameters are the network's own flat arrays (`Params`), laid out by `layout(sizes)`: layer
after layer, each layer's weights transposed, WT = W.T (n_out, n_in), one row per unit (see
kernels/layers.py for why). So one compiled function (and one on-disk cache entry) serves any
depth, and nothing is packed or copied per epoch.
"""
from collections import namedtuple

import numpy as np
from numba import njit, types
from numba.extending import overload

from kernels.activations import ACT_NONE, backward_reads_output

# The epoch's arguments, grouped (Numba compiles and caches named tuples like any tuple):
Data = namedtuple("Data", "X y perm lrs batch_size")
"""X (n, n_0) inputs, y (n,) int labels, perm (n,) the shuffled order, lrs (n_batches,) each
batch's learning rate, batch_size."""
NO_FIELDS = np.zeros((0, 2, 28, 28))
Augment = namedtuple("Augment", "use_shift shift_r shift_c warp seed counter0 max_rotation "
                                "max_scale max_shear max_shift fields",
                     defaults=(None, np.uint64(0), np.int64(0), 0.0, 0.0, 0.0, np.int64(0), NO_FIELDS))
"""use_shift: translate images (28x28) by shift_r / shift_c (n,) whole pixels per sample.
warp: instead warp every image at random (kernels/warp.py, augment_image): sample s of the epoch
uses hash counter counter0 + s under `seed` (uint64), amounts max_rotation (degrees), max_scale
(fraction), max_shear (factor), max_shift (whole px, int64) and the elastic bank fields
(B, 2, 28, 28) float64 (B = 0: affine only). The defaults switch warping off: warp=None (True
to warp) is a type of its own, so an epoch without warping is compiled without the warp kernels
(`_gather_batch`): about 2 s less of a first run's compiling."""
Net = namedtuple("Net", "sizes act p_drop seed_hi pack", defaults=(None,))
"""sizes (L+1,) int64 layer sizes; act the hidden layers' ACT_* code; p_drop dropout probability;
seed_hi uint64 (model seed & 0xFFFFFFFF) << 32, the high half of every dropout seed; pack: True
if a layer's products may be packed (kernels/packing.py may_pack), else None (a type of its own:
the layer kernels are then compiled without the packed products)."""
Params = namedtuple("Params", "w b dw db s1w s2w s1b s2b")
"""Flat arrays by `layout`: weights (transposed per layer), biases, their gradients, and optimizer
state (s1: momentum velocity or Adam's first moment; s2: Adam's second moment)."""
Optim = namedtuple("Optim", "code l2 mu beta1 beta2 eps")
"""OPT_* code and hyper-parameters (l2 applies to the weights only)."""
Calls = namedtuple("Calls", "gather linear_act loss_grad input_grad weight_grad bias_step")
"""The kernels the epoch calls, as first-class functions (kernels/calls.py, `epoch_calls`): the
batch gather (augment.gather_rows, or gather_warp if warping), then the layer kernels after their
shape checks (the shapes here come from `layout`): layers._linear_act, loss.softmax_xent_grad,
layers._input_grad, layers._weight_grad, layers.bias_grad_step. Called through their addresses,
their code is not compiled again into the epoch's."""


@njit(cache=True)
def layout(sizes):
    """Offsets of each layer's block in the flat arrays, for layer sizes n_0..n_L.

    Returns (w_off, u_off), both (L+1,) int64: layer l's weights (n_{l+1} x n_l, transposed)
    occupy [w_off[l], w_off[l+1]) of a flat weight array, its n_{l+1} biases (or units, for
    per-unit buffers) [u_off[l], u_off[l+1]) of a flat bias array.
    """
    L = sizes.shape[0] - 1
    w_off = np.zeros(L + 1, np.int64)
    u_off = np.zeros(L + 1, np.int64)
    for l in range(L):
        w_off[l + 1] = w_off[l] + sizes[l] * sizes[l + 1]
        u_off[l + 1] = u_off[l] + sizes[l + 1]
    return w_off, u_off


@njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
def _mat(flat, start, rows, cols):
    """flat[start : start + rows*cols] as a (rows, cols) view. A function of its own, not inlined:
    the epoch takes 19 such views, and 19 inlined reshapes were 1 s of its 2.7 s compile."""
    return flat[start:start + rows * cols].reshape((rows, cols))


def _shift_only(X, idx, aug, Xb, gather):
    """_gather_batch when aug.warp is None: rows shifted (aug.use_shift) or copied (gather_rows)."""
    gather(X, idx, aug.shift_r, aug.shift_c, aug.use_shift, Xb)


def _warp_only(X, idx, aug, Xb, gather):
    """_gather_batch when aug.warp is a bool: True warps (gather_warp); False is refused (use
    warp=None)."""
    if not aug.warp:
        raise ValueError("Augment.warp must be True (warp) or None (no warping)")
    gather(X, idx, aug.seed, aug.counter0, aug.max_rotation, aug.max_scale,
           aug.max_shear, aug.max_shift, aug.fields, Xb)


def _gather_batch(X, idx, aug, Xb, gather):
    """Xb = X[idx]: shifted or copied (gather = gather_rows) if aug.warp is None, else warped
    (gather = gather_warp). Compiled through the overload below, which keeps only the branch
    aug's type can take."""
    (_shift_only if aug.warp is None else _warp_only)(X, idx, aug, Xb, gather)


@overload(_gather_batch, inline="always")
def _gather_batch_typed(X, idx, aug, Xb, gather):
    # chosen from aug's type when the epoch is compiled: with warp=None the warp kernels are
    # neither typed nor compiled, with warp=True the shift kernels are not (about 1 s of a first
    # warping run's compiling)
    if isinstance(aug.types[aug.fields.index("warp")], types.NoneType):
        return _shift_only
    return _warp_only


@njit(cache=True, no_cfunc_wrapper=True)
def train_epoch_compiled(data, aug, net, P, opt, step, dropout_calls, b0, b1, k):
    """Run mini-batches b0..b1-1 of an epoch (all of it: 0, n_batches), updating the parameter
    arrays P in place (Data, Augment, Net, Params, Optim, and k the Calls: the named tuples
    above). step: optimizer steps taken so far (Adam's t); dropout_calls: the model's dropout
    counter.

    Returns (sum over the batches run of loss * batch rows, step, dropout_calls, loss of the last
    batch); the gradients of the last batch are left in P.dw, P.db. Running an epoch in several
    calls over consecutive batch ranges gives the same result as one call.
    """
    X, y, perm, bsz = data.X, data.y, data.perm, data.batch_size
    sizes, act, p_drop = net.sizes, net.act, net.p_drop
    n, K0 = X.shape
    L = sizes.shape[0] - 1
    w_off, u_off = layout(sizes)
    bs = min(bsz, n)
    use_mask = p_drop > 0
    reads_a = backward_reads_output(act)
    act_none = np.int64(ACT_NONE)   # a plain int64, not a literal: one compiled signature

    # per-batch buffers, allocated once per call: rows of width n_{l+1}, layer after layer
    bufX = np.empty(bs * K0, X.dtype)
    bufZ = np.empty(bs * u_off[L], X.dtype)     # pre-activations, every layer
    bufA = np.empty(bs * u_off[L], X.dtype)     # activations (hidden layers)
    bufM = np.empty(bs * u_off[L], X.dtype)     # dropout masks
    bufD = np.empty(bs * u_off[L], X.dtype)     # activations after dropout
    bufdZ = np.empty(bs * u_off[L], X.dtype)    # gradients of the pre-activations
    yb_all = np.empty(bs, np.int64)

    total = 0.0
    loss = 0.0
    for bi in range(b0, b1):
        start = bi * bsz
        nb = min(n, start + bsz) - start
        idx = perm[start:start + nb]
        Xb = _mat(bufX, 0, nb, K0)
        _gather_batch(X, idx, aug, Xb, k.gather)
        yb = yb_all[:nb]
        for r in range(nb):
            yb[r] = y[idx[r]]

        # forward: H is the input of layer l
        H = Xb
        for l in range(L):
            M, K = sizes[l + 1], sizes[l]
            WT = _mat(P.w, w_off[l], M, K)
            bl = P.b[u_off[l]:u_off[l + 1]]
            o = nb * u_off[l]
            Z = _mat(bufZ, o, nb, M)
            if l == L - 1:
                k.linear_act(H, WT, bl, act_none, Z, Z, 0.0, np.uint64(0), Z, Z)
                break
            Aa = _mat(bufA, o, nb, M)
            D = _mat(bufD, o, nb, M) if use_mask else Aa
            seed = np.uint64(0)
            if use_mask:
                dropout_calls += 1
                seed = np.uint64(net.seed_hi) | (np.uint64(dropout_calls) & np.uint64(0xFFFFFFFF))
            k.linear_act(H, WT, bl, act, Z, Aa, p_drop, seed, _mat(bufM, o, nb, M), D)
            H = D

        oL = nb * u_off[L - 1]
        M = sizes[L]
        loss = k.loss_grad(_mat(bufZ, oL, nb, M), yb, _mat(bufdZ, oL, nb, M))
        total += loss * nb

        # backward, each layer's update fused into its weight gradient
        step += 1
        lr = data.lrs[bi]
        for l in range(L - 1, -1, -1):
            M, K = sizes[l + 1], sizes[l]
            WT = _mat(P.w, w_off[l], M, K)
            dZ = _mat(bufdZ, nb * u_off[l], nb, M)
            if l > 0:
                o = nb * u_off[l - 1]               # the layer below: its units are our inputs
                saved = _mat(bufA, o, nb, K) if reads_a else _mat(bufZ, o, nb, K)
                k.input_grad(dZ, WT, saved, act, _mat(bufM, o, nb, K), use_mask,
                             _mat(bufdZ, o, nb, K), net.pack)
                Hin = _mat(bufD, o, nb, K) if use_mask else _mat(bufA, o, nb, K)
            else:
                Hin = Xb
            wo, uo, u1 = w_off[l], u_off[l], u_off[l + 1]
            k.weight_grad(dZ, Hin, _mat(P.dw, wo, M, K), WT, _mat(P.s1w, wo, M, K),
                          _mat(P.s2w, wo, M, K), opt.code, lr, opt.l2, opt.mu, opt.beta1,
                          opt.beta2, opt.eps, step, net.pack)
            k.bias_step(dZ, P.db[uo:u1], P.b[uo:u1], P.s1b[uo:u1], P.s2b[uo:u1], opt.code, lr,
                        opt.mu, opt.beta1, opt.beta2, opt.eps, step)
    return total, step, dropout_calls, loss
