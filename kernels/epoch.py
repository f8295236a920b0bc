"""One whole training epoch as a single compiled function: no Python per operation and no
allocation per step.

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

All layers' parameters travel in flat arrays, layer after layer, and are viewed per layer as
(rows, cols) matrices; `layout(sizes)` gives the offsets. So one compiled function (and one
on-disk cache entry) serves any depth, and no container types need compiling at start-up.
"""
import contextlib
import hashlib
import os
import time

import numba
import numpy as np
from numba import njit

from kernels import fast
from kernels.fast import (ACT_NONE, ACT_RELU, bias_grad_step, gather_rows, linear_act_forward,
                          linear_input_grad, softmax_xent_grad, weight_grad_step)


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


@njit(cache=True)
def _mat(flat, start, rows, cols):
    return flat[start:start + rows * cols].reshape((rows, cols))


@njit(cache=True)
def train_epoch_compiled(X, y, perm, shift_r, shift_c, use_shift, lrs, batch_size, sizes,
                         wT, b, dwT, db, s1, s2, sb1, sb2,
                         opt, l2, mu, beta1, beta2, eps, step,
                         act, p_drop, seed_hi, dropout_calls, b0, b1):
    """Run mini-batches b0..b1-1 of an epoch (all of it: 0, n_batches), updating the flat
    parameter arrays in place.

    X (n, n_0) inputs, y (n,) int labels, perm (n,) the shuffled order, shift_r / shift_c (n,)
    per-sample shifts (read if use_shift), lrs (n_batches,) each batch's learning rate, sizes
    (L+1,) int64 layer sizes. Flat arrays laid out by `layout(sizes)`: wT the weights, each layer
    transposed (n_{l+1}, n_l); dwT their gradients and s1 / s2 their optimizer state, likewise;
    b the biases, db their gradients, sb1 / sb2 their optimizer state (s1, sb1: momentum velocity
    or Adam's first moment; s2, sb2: Adam's second moment; ignored by plain SGD).
    opt: OPT_* code; step: optimizer steps taken so far (Adam's t); act: ACT_* code of the hidden
    layers; p_drop: dropout probability; seed_hi: uint64 (model seed & 0xFFFFFFFF) << 32;
    dropout_calls: the model's dropout counter. The gradients of the last batch are left in dwT,
    db.

    Returns (sum over the batches run of loss * batch rows, step, dropout_calls, loss of the last
    batch). Running an epoch in several calls over consecutive batch ranges gives the same result
    as one call.
    """
    n, K0 = X.shape
    L = sizes.shape[0] - 1
    w_off, u_off = layout(sizes)
    bs = min(batch_size, n)
    use_mask = p_drop > 0
    act_none = np.int64(ACT_NONE)   # a plain int64, not a literal: one compiled signature

    # per-batch buffers, allocated once per epoch: rows of width n_{l+1}, layer after layer
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
        start = bi * batch_size
        nb = min(n, start + batch_size) - start
        idx = perm[start:start + nb]
        Xb = _mat(bufX, 0, nb, K0)
        gather_rows(X, idx, shift_r, shift_c, use_shift, Xb)
        yb = yb_all[:nb]
        for r in range(nb):
            yb[r] = y[idx[r]]

        # forward: H is the input of layer l
        H = Xb
        for l in range(L):
            M, K = sizes[l + 1], sizes[l]
            WT = _mat(wT, w_off[l], M, K)
            bl = b[u_off[l]:u_off[l + 1]]
            o = nb * u_off[l]
            Z = _mat(bufZ, o, nb, M)
            if l == L - 1:
                linear_act_forward(H, WT, bl, act_none, Z, Z, 0.0, np.uint64(0), Z, Z)
                break
            Aa = _mat(bufA, o, nb, M)
            D = _mat(bufD, o, nb, M) if use_mask else Aa
            seed = np.uint64(0)
            if use_mask:
                dropout_calls += 1
                seed = np.uint64(seed_hi) | (np.uint64(dropout_calls) & np.uint64(0xFFFFFFFF))
            linear_act_forward(H, WT, bl, act, Z, Aa, p_drop, seed, _mat(bufM, o, nb, M), D)
            H = D

        oL = nb * u_off[L - 1]
        M = sizes[L]
        loss = softmax_xent_grad(_mat(bufZ, oL, nb, M), yb, _mat(bufdZ, oL, nb, M))
        total += loss * nb

        # backward, each layer's update fused into its weight gradient
        step += 1
        lr = lrs[bi]
        for l in range(L - 1, -1, -1):
            M, K = sizes[l + 1], sizes[l]
            WT = _mat(wT, w_off[l], M, K)
            dZ = _mat(bufdZ, nb * u_off[l], nb, M)
            if l > 0:
                o = nb * u_off[l - 1]               # the layer below: its units are our inputs
                saved = _mat(bufZ, o, nb, K) if act == ACT_RELU else _mat(bufA, o, nb, K)
                linear_input_grad(dZ, WT, saved, act, _mat(bufM, o, nb, K), use_mask,
                                  _mat(bufdZ, o, nb, K))
                Hin = _mat(bufD, o, nb, K) if use_mask else _mat(bufA, o, nb, K)
            else:
                Hin = Xb
            wo, uo, u1 = w_off[l], u_off[l], u_off[l + 1]
            weight_grad_step(dZ, Hin, _mat(dwT, wo, M, K), WT, _mat(s1, wo, M, K),
                             _mat(s2, wo, M, K), opt, lr, l2, mu, beta1, beta2, eps, step)
            bias_grad_step(dZ, db[uo:u1], b[uo:u1], sb1[uo:u1], sb2[uo:u1], opt, lr, mu, beta1,
                           beta2, eps, step)
    return total, step, dropout_calls, loss


def _flush_stale_caches():
    """Numba keys a function's on-disk cache on its own source file only, yet a cached function
    carries the compiled code of every function it calls: train_epoch_compiled has the kernels of
    fast.py compiled in, and those have dropout.py's hash. So when any of these three files
    changes, the caches of epoch.py and fast.py are flushed (recompiled on first use); a digest
    of the three files is kept beside the cache. (Errors, e.g. a read-only cache, are ignored.)"""
    here = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in ("epoch.py", "fast.py", "dropout.py"):
        with open(os.path.join(here, name), "rb") as f:
            digest.update(f.read())
    digest = digest.hexdigest()
    try:
        stamp = os.path.join(train_epoch_compiled._cache.cache_path, "kernels-epoch.sha256")
        with contextlib.suppress(OSError), open(stamp) as f:
            if f.read() == digest:
                return
        for namespace in (vars(fast), globals()):
            for obj in list(namespace.values()):
                if hasattr(obj, "_cache") and hasattr(obj, "py_func"):   # a cached dispatcher
                    obj._cache.flush()
        tmp = f"{stamp}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            f.write(digest)
        os.replace(tmp, stamp)
    except (AttributeError, OSError):
        pass


_flush_stale_caches()


class ThreadGuard:
    """Picks the number of threads for each chunk of CHUNK mini-batches of a compiled epoch.

    With other busy processes on the machine, a multi-threaded step waits at every parallel region
    for a thread that is not running and can be many times slower than one thread. So each chunk
    is timed: when one on all threads takes over SLOW times the best time seen, the next chunk
    is a probe on one thread. If the probe is faster, one thread is kept for `backoff` chunks
    (doubling while all threads stay slow) before all threads are tried again; if not, the slower
    time becomes the new normal. Results do not depend on the thread count (every sum is taken by
    one thread in a fixed order), so only the speed changes. `best` (seconds per batch on all
    threads) carries over from epoch to epoch.
    """
    CHUNK = 32
    SLOW = 1.6

    def __init__(self, best=None):
        self._numba = numba
        self.n_max = numba.get_num_threads()
        self.best = best or float("inf")
        self.current, self.probing, self.hold, self.backoff = self.n_max, False, 0, 2
        self.last_full = None

    def timed(self, n_batches):
        """Context manager: set the thread count for a chunk of n_batches, then time it."""
        @contextlib.contextmanager
        def ctx():
            self._numba.set_num_threads(self.current)
            t = time.perf_counter()
            yield
            self._observe((time.perf_counter() - t) / n_batches)
        return ctx()

    def _observe(self, per_batch):
        if self.n_max == 1:
            return
        if self.current == self.n_max:
            self.best = min(self.best, per_batch)
            self.last_full = per_batch
            if per_batch > self.SLOW * self.best:
                self.current, self.probing = 1, True
            else:
                self.backoff = 2
        elif self.probing:
            self.probing = False
            if per_batch < self.last_full:                  # contention: stay on one thread
                self.hold = self.backoff                    # for this many more chunks
                self.backoff = min(2 * self.backoff, 64)
            else:                                           # just a slower machine
                self.current, self.best = self.n_max, self.last_full
        else:
            self.hold -= 1
            if self.hold <= 0:                              # try all threads again
                self.current = self.n_max

    def close(self):
        self._numba.set_num_threads(self.n_max)
        return self.best
