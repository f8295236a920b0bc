"""The training engine: runs one epoch of a NeuralNetwork, either through the compiled epoch
(kernels/epoch.py) in chunks of mini-batches under a ThreadGuard, or through the readable per-op
path (backward, then update_weights, batch by batch). Python policy only; the math is in kernels/.
"""
import contextlib
import time

import numba
import numpy as np

import kernels as K
from kernels import epoch as E
from kernels import runtime
from kernels.calls import epoch_calls
from kernels.packing import may_pack
from kernels.warp import augment_images
from network.warmup import precompile_epoch

_NO_SHIFT = np.zeros(0, np.int64)


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


def epoch_inputs(net, X, y, batch_size, lrs, perm, shifts=None, warp=None):
    """The named tuples K.train_epoch_compiled takes for this network and data: (Data, Augment,
    Net, Optim, Calls); `compiled_epoch` and the profiler's epoch target
    (profiling/epoch_target.py). The Calls' kernels are compiled when first called."""
    data = E.Data(X, y, perm, lrs, batch_size)
    sr, sc = (_NO_SHIFT, _NO_SHIFT) if shifts is None else (shifts[0].copy(), shifts[1].copy())
    aug = E.Augment(shifts is not None, sr, sc, *((True, *warp) if warp is not None else ()))
    pack = may_pack(net.params.sizes, min(batch_size, X.shape[0]), net.dtype)
    spec = E.Net(net.params.sizes, np.int64(K.ACT_CODES[net.activation]), float(net.dropout),
                 np.uint64((net.seed & 0xFFFFFFFF) << 32), pack)
    opt = E.Optim(np.int64(K.OPT_CODES[net.optimizer]), float(net.l2), float(net.momentum),
                  float(net.beta1), float(net.beta2), float(net.eps))
    return data, aug, spec, opt, epoch_calls(net.dtype, warp is not None, numba.typeof(X), pack)


def compiled_epoch(net, X, y, batch_size, lrs, perm, shifts, warp=None, progress=None):
    """One epoch through K.train_epoch_compiled on the network's own flat arrays, CHUNK batches
    per call: the thread count can change between calls (ThreadGuard), and an interrupt lands
    between calls with weights, optimizer state and counters in step. shifts (2, n) whole-pixel
    shifts or None; warp the augmentation.warp_args tuple or None; progress(rows) is called after
    each chunk with the rows it trained. Returns the mean loss.

    If the network has a `loss_watch` attribute (set by network.training.fit), it is called with
    each chunk's mean training loss; it may raise to stop an exploding epoch early."""
    runtime.ensure_fresh_cache()
    data, aug, spec, opt, calls = epoch_inputs(net, X, y, batch_size, lrs, perm, shifts, warp)
    guard = ThreadGuard(getattr(net, "_thread_guard_best", None))
    # a cold cache: compile the kernels the epoch calls on two processes first (network/warmup.py)
    precompile_epoch((data, aug, spec, net.params.flat, opt, net.step, net.dropout_calls, 0, 1,
                      calls), net.dtype, warp is not None)
    watch = getattr(net, "loss_watch", None)
    total = 0.0
    try:
        for b0 in range(0, len(lrs), guard.CHUNK):
            b1 = min(len(lrs), b0 + guard.CHUNK)
            with guard.timed(b1 - b0), runtime.compile_level(), runtime.pinned(guard.current > 1):
                # first call compiles at LLVM level 2; the master thread bound while threaded
                part, net.step, net.dropout_calls, net.loss = K.train_epoch_compiled(
                    data, aug, spec, net.params.flat, opt, net.step, net.dropout_calls, b0, b1,
                    calls)
            total += part
            rows = min(X.shape[0], b1 * batch_size) - b0 * batch_size
            if progress is not None:
                progress(rows)
            if watch is not None:
                watch(part / rows)
    finally:
        net._thread_guard_best = guard.close()
    return total / X.shape[0]


def reference_epoch(net, X, y, batch_size, lrs, perm, shifts, warp=None, progress=None):
    """The same epoch as a readable Python loop over the plain kernels: backward, then
    update_weights, batch by batch (images shifted by shift_images or warped by augment_images).
    Returns the mean loss."""
    n = X.shape[0]
    if shifts is not None or warp is not None:
        xa = np.empty((min(batch_size, n), X.shape[1]), net.dtype)
    total = 0.0
    for b in range(len(lrs)):
        idx = perm[b * batch_size:(b + 1) * batch_size]
        xb = X[idx]
        if shifts is not None:
            K.shift_images(xb, shifts[0, idx], shifts[1, idx], xa[:len(idx)])
            xb = xa[:len(idx)]
        elif warp is not None:
            seed, counter0, *amounts, fields = warp
            augment_images(xb, seed, counter0 + idx, *amounts, fields, xa[:len(idx)])
            xb = xa[:len(idx)]
        total += net._backward(xb, y[idx]) * len(idx)
        net.update_weights(lrs[b])
        if progress is not None:
            progress(len(idx))
    return total / n
