"""NeuralNetwork: a thin class that owns parameters, gradients, buffers and optimizer state, and
calls the kernels in order. It does no math of its own.

For layers l = 0..L-1 with weights W_l (n_l, n_{l+1}) and biases b_l:
    a_0 = X
    z_l = a_l @ W_l + b_l                         (linear_forward)
    a_{l+1} = dropout(f(z_l))   for hidden layers (activation + dropout kernels)
    p = softmax(z_{L-1})                          (softmax_cross_entropy_forward)
    loss = -(1/N) sum_i log p[i, y_i]
Backward (softmax_cross_entropy_backward, then per layer from the top):
    dz_{L-1} = (p - onehot(y)) / N
    dW_l = a_l.T @ dz_l,   db_l = sum_i dz_l[i],   da_l = dz_l @ W_l.T
    dz_{l-1} = f'(z_{l-1}) * (mask * da_l)
"""
import numpy as np

import kernels as K
from network import io
from network.initializers import INITS, initialize

ACTIVATIONS = tuple(K.ACTIVATIONS)
OPTIMIZERS = ("sgd", "momentum", "adam")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_float(name, value, low, high, low_inclusive=True):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number; got {value!r}") from None
    ok = (v >= low if low_inclusive else v > low) and v < high
    if not np.isfinite(v) or not ok:
        lb = "[" if low_inclusive else "("
        raise ValueError(f"{name} must be a finite number in {lb}{low}, {high}); got {value!r}")
    return v


class NeuralNetwork:
    """A fully connected classifier: hidden layers with relu/tanh/sigmoid, softmax output.

    Parameters
    ----------
    layer_sizes : list of int, e.g. [784, 128, 64, 10]; at least [n_in, n_out].
    activation : "relu", "tanh" or "sigmoid", used by every hidden layer.
    init : "he", "xavier", "normal" (std 0.01) or "zeros".
    seed : int, seeds the initial weights, the dropout masks and the shuffling of `train_epoch`.
    dtype : np.float32 (default, fast) or np.float64 (for gradient checks).
    optimizer : "sgd", "momentum" or "adam", applied by `update_weights`.
    l2 : L2 penalty coefficient on the weights (not the biases).
    dropout : probability of dropping each hidden unit during training (0 = off).
    momentum, beta1, beta2, eps : optimizer hyper-parameters.
    """

    def __init__(self, layer_sizes, activation="relu", init="he", seed=0, dtype=np.float32,
                 optimizer="sgd", l2=0.0, dropout=0.0, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8):
        try:
            sizes = [int(s) for s in layer_sizes]
        except (TypeError, ValueError):
            raise TypeError(f"layer_sizes must be a list of positive integers; got {layer_sizes!r}") from None
        if len(sizes) < 2 or any(s <= 0 for s in sizes) or any(int(s) != s for s in layer_sizes):
            raise ValueError(f"layer_sizes must be at least two positive integers; got {list(layer_sizes)!r}")
        _check_choice("activation", activation, ACTIVATIONS)
        _check_choice("init", init, INITS)
        _check_choice("optimizer", optimizer, OPTIMIZERS)
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"dtype must be float32 or float64; got {dtype!r}") from None
        if dt not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64; got {dt}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
        self.layer_sizes = sizes
        self.activation = activation
        self.init = init
        self.seed = int(seed)
        self.dtype = np.dtype(dtype)
        self.optimizer = optimizer
        self.l2 = _check_float("l2", l2, 0.0, np.inf)
        self.dropout = _check_float("dropout", dropout, 0.0, 1.0)
        self.momentum = _check_float("momentum", momentum, 0.0, 1.0)
        self.beta1 = _check_float("beta1", beta1, 0.0, 1.0)
        self.beta2 = _check_float("beta2", beta2, 0.0, 1.0)
        self.eps = _check_float("eps", eps, 0.0, np.inf, low_inclusive=False)
        self.weights, self.biases = initialize(sizes, init, np.random.default_rng(self.seed), self.dtype)
        self.dweights = [np.zeros_like(w) for w in self.weights]
        self.dbiases = [np.zeros_like(b) for b in self.biases]
        self.step = 0              # optimizer steps taken (Adam's t)
        self.dropout_calls = 0     # counter that seeds each dropout mask
        self.rng = np.random.default_rng([self.seed, 1])  # shuffling and augmentation
        self.loss = None
        self.metadata = {}
        self._buffers = {}
        self.reset_optimizer()

    # ------------------------------------------------------------------ state
    @property
    def n_layers(self):
        return len(self.weights)

    def reset_optimizer(self):
        """Zero the optimizer's state (velocities for momentum, moments for Adam)."""
        params = self.weights + self.biases
        self.opt_state = {}
        if self.optimizer == "momentum":
            self.opt_state["velocity"] = [np.zeros_like(p) for p in params]
        elif self.optimizer == "adam":
            self.opt_state["m"] = [np.zeros_like(p) for p in params]
            self.opt_state["v"] = [np.zeros_like(p) for p in params]
        self.step = 0

    def _buffers_for(self, n):
        """Activation and gradient buffers for a batch of n rows, allocated once per n."""
        buf = self._buffers.get(n)
        if buf is None:
            if len(self._buffers) >= 4:
                self._buffers.clear()
            outs = self.layer_sizes[1:]
            e = lambda m: np.empty((n, m), self.dtype)  # noqa: E731
            buf = {"z": [e(m) for m in outs], "a": [e(m) for m in outs[:-1]],
                   "mask": [e(m) for m in outs[:-1]], "d": [e(m) for m in outs[:-1]],
                   "dz": [e(m) for m in outs], "da": [e(m) for m in outs[:-1]],
                   "p": e(outs[-1]), "ycls": np.empty(n, np.int64)}
            self._buffers[n] = buf
        return buf

    def _check_X(self, X):
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.layer_sizes[0]:
            raise ValueError(f"X must have shape (n_samples, {self.layer_sizes[0]}); got {X.shape}")
        if X.shape[0] == 0:
            raise ValueError("X has no rows")
        if X.dtype.kind not in "fiu":
            raise TypeError(f"X must hold numbers; got dtype {X.dtype}")
        return np.ascontiguousarray(X, dtype=self.dtype)

    def _check_y(self, y, n):
        y = np.asarray(y)
        if y.shape != (n,) or y.dtype.kind not in "iu":
            raise ValueError(f"y must be {n} integer class labels, shape ({n},); got {y.dtype} {y.shape}")
        n_out = self.layer_sizes[-1]
        if n and (y.min() < 0 or y.max() >= n_out):
            raise ValueError(f"labels must lie in [0, {n_out - 1}]; got values in [{y.min()}, {y.max()}]")
        return np.ascontiguousarray(y, dtype=np.int64)

    # ------------------------------------------------------------ forward pass
    def _forward(self, X, training):
        """Run the layers on a checked X; leaves logits in buf['z'][-1]. Returns the buffers.

        Training (the path `backward` and the gradient checks use) runs the plain kernels;
        inference runs the register-tiled product `matmul_nn_fast`, which tests/test_fast.py
        holds equal to `matmul_nn` (only the summation order differs).
        """
        buf = self._buffers_for(X.shape[0])
        act_fwd = K.ACTIVATIONS[self.activation][0]
        a = X
        for l in range(self.n_layers):
            if training:
                K.linear_forward(a, self.weights[l], self.biases[l], buf["z"][l])
            else:
                K.matmul_nn_fast(a, self.weights[l], buf["z"][l])
                K.bias_forward(self.biases[l], buf["z"][l])
            if l == self.n_layers - 1:
                break
            act_fwd(buf["z"][l], buf["a"][l])
            a = buf["a"][l]
            if training and self.dropout > 0:
                self.dropout_calls += 1
                K.dropout_forward(a, self.dropout, self._dropout_seed(), buf["mask"][l], buf["d"][l])
                a = buf["d"][l]
        return buf

    def _dropout_seed(self):
        return ((self.seed & 0xFFFFFFFF) << 32) | (self.dropout_calls & 0xFFFFFFFF)

    def forward(self, X, training=False):
        """Class probabilities (N, n_out) for inputs X (N, n_in). Dropout only if training=True."""
        X = self._check_X(X)
        buf = self._forward(X, training)
        K.softmax_forward(buf["z"][-1], buf["p"])
        return buf["p"].copy()

    def predict_proba(self, X, batch_size=2048):
        """forward(X) in chunks of batch_size rows (bounded memory for large X)."""
        X = self._check_X(X)
        out = np.empty((X.shape[0], self.layer_sizes[-1]), self.dtype)
        for s in range(0, X.shape[0], batch_size):
            buf = self._forward(X[s:s + batch_size], training=False)
            K.softmax_forward(buf["z"][-1], out[s:s + batch_size])
        return out

    def predict(self, X, batch_size=2048):
        """Predicted class labels (N,) int64."""
        p = self.predict_proba(X, batch_size)
        labels = np.empty(p.shape[0], np.int64)
        K.argmax_rows(p, labels)
        return labels

    def evaluate(self, X, y, batch_size=2048):
        """(mean cross-entropy loss, accuracy) on X, y without dropout."""
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        total, correct = 0.0, 0
        for s in range(0, X.shape[0], batch_size):
            xb, yb = X[s:s + batch_size], y[s:s + batch_size]
            buf = self._forward(xb, training=False)
            total += K.softmax_cross_entropy_forward(buf["z"][-1], yb, buf["p"]) * xb.shape[0]
            K.argmax_rows(buf["p"], buf["ycls"])
            correct += int(np.count_nonzero(buf["ycls"] == yb))
        return total / X.shape[0], correct / X.shape[0]

    # ----------------------------------------------------------- backward pass
    def backward(self, X, y):
        """Forward pass in training mode, then the gradients of the mean cross-entropy.

        Fills dweights / dbiases (same shapes as weights / biases); returns the batch's mean loss.
        """
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        return self._backward(X, y)

    def _backward(self, X, y):
        buf = self._forward(X, training=True)
        self.loss = K.softmax_cross_entropy_forward(buf["z"][-1], y, buf["p"])
        K.softmax_cross_entropy_backward(buf["p"], y, buf["dz"][-1])
        act_bwd = K.ACTIVATIONS[self.activation][1]
        from_output = K.BACKWARD_FROM_OUTPUT[self.activation]
        drop = self.dropout > 0
        for l in range(self.n_layers - 1, -1, -1):
            if l == 0:
                a_in, da_in = X, X  # dX is not needed: need_dx=False, da_in is unused
            else:
                a_in = buf["d"][l - 1] if drop else buf["a"][l - 1]
                da_in = buf["da"][l - 1]
            K.linear_backward(a_in, self.weights[l], buf["dz"][l], da_in,
                              self.dweights[l], self.dbiases[l], l > 0)
            if l > 0:
                if drop:
                    K.dropout_backward(da_in, buf["mask"][l - 1], da_in)
                saved = buf["a"][l - 1] if from_output else buf["z"][l - 1]
                act_bwd(saved, da_in, buf["dz"][l - 1])
        return self.loss

    # ------------------------------------------------------------------ update
    def update_weights(self, learning_rate):
        """Apply one optimizer step with the gradients from the last `backward`."""
        lr = _check_float("learning_rate", learning_rate, 0.0, np.inf, low_inclusive=False)
        self.step += 1
        params = self.weights + self.biases
        grads = self.dweights + self.dbiases
        for i, (p, g) in enumerate(zip(params, grads)):
            l2 = self.l2 if i < self.n_layers else 0.0
            pf, gf = p.reshape(-1), g.reshape(-1)
            if self.optimizer == "sgd":
                K.sgd_update(pf, gf, lr, l2)
            elif self.optimizer == "momentum":
                K.momentum_update(pf, gf, self.opt_state["velocity"][i].reshape(-1), lr, self.momentum, l2)
            else:
                K.adam_update(pf, gf, self.opt_state["m"][i].reshape(-1), self.opt_state["v"][i].reshape(-1),
                              lr, self.beta1, self.beta2, self.eps, self.step, l2)

    # ------------------------------------------------------------------- epoch
    def train_epoch(self, X, y, batch_size=64, learning_rate=0.01, augment_shift=0, fast=True):
        """One shuffled pass of mini-batch training over (X, y); returns the mean training loss.

        learning_rate is a number, or an array with one rate per mini-batch (a schedule).
        augment_shift > 0 translates each image by a random whole number of pixels in
        [-augment_shift, augment_shift] along each axis (28x28 inputs only).
        fast=True runs the epoch in a compiled function (kernels/epoch.py: register-tiled,
        multi-threaded products with fused epilogues), 32 mini-batches per call so that the thread
        count can drop to one while other processes slow the threaded step down (ThreadGuard),
        and an interrupt lands between calls with weights, optimizer state and counters in step.
        fast=False runs the readable per-batch Python loop over the plain kernels
        (`train_epoch_reference`). Both draw the same shuffle, shifts and dropout masks and apply
        the same updates, so on the same seed they give the same weights up to float32 rounding
        (the fast products sum in another order); the fast path gives the same bits for any
        number of threads.
        """
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        n = X.shape[0]
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
        batch_size = int(batch_size)
        if (isinstance(augment_shift, bool) or not isinstance(augment_shift, (int, np.integer))
                or not 0 <= augment_shift < 28):
            raise ValueError(f"augment_shift must be an integer in [0, 27]; got {augment_shift!r}")
        if augment_shift and self.layer_sizes[0] != 784:
            raise ValueError(f"augment_shift needs 28x28 images (784 inputs); this network takes "
                             f"{self.layer_sizes[0]}")
        n_batches = -(-n // batch_size)
        lrs = self._check_learning_rates(learning_rate, n_batches)
        perm = self.rng.permutation(n)
        shifts = None
        if augment_shift:
            shifts = self.rng.integers(-augment_shift, augment_shift + 1, size=(2, n))
        if fast:
            return self._train_epoch_fast(X, y, batch_size, lrs, perm, shifts)
        return self._train_epoch_python(X, y, batch_size, lrs, perm, shifts)

    def train_epoch_reference(self, X, y, batch_size=64, learning_rate=0.01, augment_shift=0):
        """`train_epoch` through the plain kernels, one Python call per operation (for tests and
        for reading: backward, then update_weights, batch by batch)."""
        return self.train_epoch(X, y, batch_size, learning_rate, augment_shift, fast=False)

    @staticmethod
    def _check_learning_rates(learning_rate, n_batches):
        """(n_batches,) float64 learning rates from a number or a per-batch schedule."""
        try:
            lrs = np.asarray(learning_rate, np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"learning_rate must be a number or an array of numbers; got {learning_rate!r}") from None
        if lrs.ndim == 0:
            lrs = np.full(n_batches, float(lrs))
        elif lrs.shape != (n_batches,):
            raise ValueError(f"learning_rate must be a number or hold one rate per mini-batch "
                             f"({n_batches}); got shape {lrs.shape}")
        if not (np.all(np.isfinite(lrs)) and np.all(lrs > 0)):
            raise ValueError("learning_rate must be finite and > 0 (every entry of a schedule)")
        return np.ascontiguousarray(lrs)

    def _train_epoch_python(self, X, y, batch_size, lrs, perm, shifts):
        n = X.shape[0]
        if shifts is not None:
            xa = np.empty((min(batch_size, n), X.shape[1]), self.dtype)
        total = 0.0
        for b in range(len(lrs)):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            xb = X[idx]
            if shifts is not None:
                K.shift_images(xb, shifts[0, idx], shifts[1, idx], xa[:len(idx)])
                xb = xa[:len(idx)]
            total += self._backward(xb, y[idx]) * len(idx)
            self.update_weights(lrs[b])
        return total / n

    def _train_epoch_fast(self, X, y, batch_size, lrs, perm, shifts):
        """Hand the epoch to kernels.epoch.train_epoch_compiled. It takes every layer's weights,
        biases, gradients and optimizer state packed in flat arrays, the weights transposed
        ((n_out, n_in), one row per unit); they are packed here and unpacked at the end
        (O(parameters) per epoch)."""
        from kernels.epoch import ThreadGuard, train_epoch_compiled
        from kernels.fast import ACT_CODES, OPT_CODES

        L = self.n_layers
        st = self.opt_state
        zeros = [np.zeros_like(p) for p in self.weights + self.biases]
        if self.optimizer == "momentum":
            s1, s2 = st["velocity"], zeros
        elif self.optimizer == "adam":
            s1, s2 = st["m"], st["v"]
        else:
            s1 = s2 = zeros
        pack_t = lambda arrs: np.concatenate([a.T.ravel() for a in arrs])  # noqa: E731
        pack = lambda arrs: np.concatenate([a.ravel() for a in arrs])  # noqa: E731
        wT, dwT, S1, S2 = (pack_t(a) for a in (self.weights, self.dweights, s1[:L], s2[:L]))
        b, db, SB1, SB2 = (pack(a) for a in (self.biases, self.dbiases, s1[L:], s2[L:]))
        no_shift = np.zeros(0, np.int64)
        sr, sc = (no_shift, no_shift) if shifts is None else (shifts[0].copy(), shifts[1].copy())
        sizes = np.asarray(self.layer_sizes, np.int64)
        guard = ThreadGuard(getattr(self, "_thread_guard_best", None))
        total = 0.0
        try:
            for b0 in range(0, len(lrs), guard.CHUNK):
                b1 = min(len(lrs), b0 + guard.CHUNK)
                with guard.timed(b1 - b0):
                    part, self.step, self.dropout_calls, self.loss = train_epoch_compiled(
                        X, y, perm, sr, sc, shifts is not None, lrs, batch_size, sizes,
                        wT, b, dwT, db, S1, S2, SB1, SB2,
                        OPT_CODES[self.optimizer], self.l2, self.momentum, self.beta1, self.beta2,
                        self.eps, self.step, ACT_CODES[self.activation], self.dropout,
                        np.uint64((self.seed & 0xFFFFFFFF) << 32), self.dropout_calls, b0, b1)
                total += part
        finally:
            self._thread_guard_best = guard.close()
            wo = uo = 0
            for l, (n_in, n_out) in enumerate(zip(self.layer_sizes, self.layer_sizes[1:])):
                for dst, src in ((self.weights, wT), (self.dweights, dwT), (s1[:L], S1), (s2[:L], S2)):
                    dst[l][...] = src[wo:wo + n_in * n_out].reshape(n_out, n_in).T
                for dst, src in ((self.biases, b), (self.dbiases, db), (s1[L:], SB1), (s2[L:], SB2)):
                    dst[l][...] = src[uo:uo + n_out]
                wo, uo = wo + n_in * n_out, uo + n_out
        return total / X.shape[0]

    # --------------------------------------------------------------------- I/O
    def config(self):
        return {"layer_sizes": self.layer_sizes, "activation": self.activation, "init": self.init,
                "seed": self.seed, "dtype": self.dtype.name, "optimizer": self.optimizer,
                "l2": self.l2, "dropout": self.dropout, "momentum": self.momentum,
                "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def save(self, path, **metadata):
        """Write weights, biases, configuration and metadata (epoch, val accuracy, ...) atomically."""
        meta = {**self.metadata, **metadata, "config": self.config()}
        io.save_model(path, self.weights, self.biases, meta)

    @classmethod
    def load(cls, path):
        """Rebuild a network from a file written by `save` (ModelFileError if it is not valid)."""
        weights, biases, sizes, meta = io.load_model(path)
        cfg = meta.get("config", {})
        if not isinstance(cfg, dict):
            raise io.ModelFileError(f"model file {str(path)!r}: its config is not a JSON object")
        cfg = dict(cfg)
        cfg["layer_sizes"] = sizes
        cfg["dtype"] = weights[0].dtype
        known = ("activation", "init", "seed", "optimizer", "l2", "dropout", "momentum", "beta1", "beta2", "eps")
        kwargs = {k: cfg[k] for k in known if k in cfg}
        try:
            net = cls(sizes, dtype=cfg["dtype"], **kwargs)
        except (TypeError, ValueError) as e:
            raise io.ModelFileError(f"model file {str(path)!r} has an invalid configuration: {e}") from None
        net.weights, net.biases = weights, biases
        net.dweights = [np.zeros_like(w) for w in weights]
        net.dbiases = [np.zeros_like(b) for b in biases]
        net.reset_optimizer()
        net.metadata = {k: v for k, v in meta.items() if k != "config"}
        return net

    # ------------------------------------------------------- training state
    def training_state(self):
        """Everything beyond the weights that training depends on, for exact resumption:
        (arrays, info) with the optimizer's arrays and a JSON-able dict of counters and RNG state."""
        arrays = {f"opt_{name}_{i}": a for name, lst in self.opt_state.items() for i, a in enumerate(lst)}
        info = {"step": self.step, "dropout_calls": self.dropout_calls,
                "rng": self.rng.bit_generator.state}
        return arrays, info

    def restore_training_state(self, arrays, info):
        """Inverse of `training_state` (raises ValueError if the arrays do not fit this network)."""
        self.reset_optimizer()
        for name, lst in self.opt_state.items():
            for i, a in enumerate(lst):
                key = f"opt_{name}_{i}"
                if key not in arrays or arrays[key].shape != a.shape:
                    raise ValueError(f"optimizer state {key!r} is missing or has the wrong shape")
                a[...] = arrays[key]
        self.step = int(info["step"])
        self.dropout_calls = int(info["dropout_calls"])
        self.rng.bit_generator.state = info["rng"]

