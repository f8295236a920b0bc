"""NeuralNetwork: a thin class that owns the parameters (network/params.py: one flat layout,
per-layer views), activation buffers and counters, and calls the kernels in order (no math).

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
from kernels import runtime
from network import engine
from network import validation as V
from network.augmentation import epoch_augmentation
from network.initializers import INITS, initialize
from network.params import Parameters
from network.state import Persistence

ACTIVATIONS = tuple(K.ACTIVATIONS)
OPTIMIZERS = ("sgd", "momentum", "adam")
_STATE_NAMES = {"sgd": (), "momentum": ("velocity",), "adam": ("m", "v")}


class NeuralNetwork(Persistence):
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

    `weights`, `biases`, `dweights`, `dbiases` are lists of per-layer views, (n_in, n_out) and
    (n_out,), into the flat arrays training runs on (network/params.py); writing into them, or
    assigning an item, changes the network.
    """

    def __init__(self, layer_sizes, activation="relu", init="he", seed=0, dtype=np.float32,
                 optimizer="sgd", l2=0.0, dropout=0.0, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8):
        sizes = V.check_layer_sizes(layer_sizes)
        V.check_choice("activation", activation, ACTIVATIONS)
        V.check_choice("init", init, INITS)
        V.check_choice("optimizer", optimizer, OPTIMIZERS)
        self.dtype = V.check_dtype(dtype)
        self.seed = V.check_int("seed", seed, 0, what="a non-negative integer")
        self.layer_sizes, self.activation, self.init, self.optimizer = sizes, activation, init, optimizer
        self.l2 = V.check_float("l2", l2, 0.0, np.inf)
        self.dropout = V.check_float("dropout", dropout, 0.0, 1.0)
        self.momentum = V.check_float("momentum", momentum, 0.0, 1.0)
        self.beta1 = V.check_float("beta1", beta1, 0.0, 1.0)
        self.beta2 = V.check_float("beta2", beta2, 0.0, 1.0)
        self.eps = V.check_float("eps", eps, 0.0, np.inf, low_inclusive=False)
        self.params = Parameters(sizes, self.dtype)
        w, b = initialize(sizes, init, np.random.default_rng(self.seed), self.dtype)
        self.weights, self.biases = w, b
        self.dropout_calls = 0     # counter that seeds each dropout mask
        self.augment_epochs = 0    # warped epochs run: the warps' counter base (augmentation.py)
        self.rng = np.random.default_rng([self.seed, 1])  # shuffling and augmentation
        self.loss = None
        self.metadata = {}
        self._buffers = {}
        self.reset_optimizer()

    # ------------------------------------------------------------------ state
    weights = property(lambda self: self.params.weights, lambda self, a: self.params.weights.assign(a))
    biases = property(lambda self: self.params.biases, lambda self, a: self.params.biases.assign(a))
    dweights = property(lambda self: self.params.dweights)
    dbiases = property(lambda self: self.params.dbiases)

    @property
    def n_layers(self):
        return len(self.layer_sizes) - 1

    @property
    def opt_state(self):
        """The optimizer's state per tensor (weights, then biases), as views: {"velocity": [...]}
        for momentum, {"m": [...], "v": [...]} for Adam, {} for SGD."""
        lists = (self.params.state1, self.params.state2)
        return dict(zip(_STATE_NAMES[self.optimizer], lists))

    def reset_optimizer(self):
        """Zero the optimizer's state (velocities for momentum, moments for Adam)."""
        self.params.zero_state()
        self.step = 0              # optimizer steps taken (Adam's t)

    def _buffers_for(self, n):
        """Activation and gradient buffers for a batch of n rows, allocated once per n."""
        buf = self._buffers.get(n)
        if buf is None:
            if len(self._buffers) >= 4:
                self._buffers.clear()
            outs = self.layer_sizes[1:]
            e = lambda m: np.empty((n, m), self.dtype)  # noqa: E731
            buf = {k: [e(m) for m in outs[:-1]] for k in ("a", "mask", "d", "da")}
            buf.update(z=[e(m) for m in outs], dz=[e(m) for m in outs], p=e(outs[-1]),
                       ycls=np.empty(n, np.int64))
            self._buffers[n] = buf
        return buf

    def _check_X(self, X):
        return V.check_X(X, self.layer_sizes[0], self.dtype)

    def _check_y(self, y, n):
        return V.check_y(y, n, self.layer_sizes[-1])

    # ------------------------------------------------------------ forward pass
    def _inference_weights(self):
        """Each layer's W as a C-contiguous (n_in, n_out) copy for matmul_nn_fast: made once per
        predict/evaluate call, not once per chunk of rows."""
        return [np.ascontiguousarray(w) for w in self.weights]

    def _forward(self, X, training, W=None):
        """Run the layers on a checked X; leaves logits in buf['z'][-1]. Returns the buffers.

        Training (the path `backward` and the gradient checks use) runs the plain kernels;
        inference runs the register-tiled product `matmul_nn_fast` on a contiguous copy of W
        (about twice the rate of the epoch's `linear_act_forward` on the batches evaluate uses),
        then the plain bias and activation kernels; equal to the plain kernels to float rounding
        (kernels/pairs.py). W: the copies `_inference_weights` made, if the caller has them.
        """
        buf = self._buffers_for(X.shape[0])
        if not training and W is None:
            W = self._inference_weights()
        act = K.ACT_CODES[self.activation]
        a = X
        with runtime.compile_level(), runtime.pinned():   # LLVM level 2, threads bound (runtime.py)
            for l in range(self.n_layers):
                z = buf["z"][l]
                if training:
                    K.linear_forward(a, self.weights[l], self.biases[l], z)
                else:
                    K.matmul_nn_fast(a, W[l], z)
                    K.bias_forward(self.biases[l], z)
                if l == self.n_layers - 1:
                    break
                K.activation_forward(act, z, buf["a"][l])
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
        buf = self._forward(self._check_X(X), training)
        K.softmax_forward(buf["z"][-1], buf["p"])
        return buf["p"].copy()

    def predict_proba(self, X, batch_size=2048):
        """forward(X) in chunks of batch_size rows (bounded memory for large X)."""
        X = self._check_X(X)
        out = np.empty((X.shape[0], self.layer_sizes[-1]), self.dtype)
        W = self._inference_weights()
        for s in range(0, X.shape[0], batch_size):
            buf = self._forward(X[s:s + batch_size], training=False, W=W)
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
        W = self._inference_weights()
        total, correct = 0.0, 0
        for s in range(0, X.shape[0], batch_size):
            xb, yb = X[s:s + batch_size], y[s:s + batch_size]
            buf = self._forward(xb, training=False, W=W)
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
        return self._backward(X, self._check_y(y, X.shape[0]))

    def _backward(self, X, y):
        buf = self._forward(X, training=True)
        self.loss = K.softmax_cross_entropy_forward(buf["z"][-1], y, buf["p"])
        K.softmax_cross_entropy_backward(buf["p"], y, buf["dz"][-1])
        act = K.ACT_CODES[self.activation]
        saved = "a" if K.BACKWARD_FROM_OUTPUT[self.activation] else "z"
        drop = self.dropout > 0
        for l in range(self.n_layers - 1, -1, -1):
            a_in = X if l == 0 else buf["d" if drop else "a"][l - 1]
            da_in = X if l == 0 else buf["da"][l - 1]   # dX is not needed: need_dx=False
            K.linear_backward(a_in, self.weights[l], buf["dz"][l], da_in,
                              self.dweights[l], self.dbiases[l], l > 0)
            if l > 0:
                if drop:
                    K.dropout_backward(da_in, buf["mask"][l - 1], da_in)
                K.activation_backward(act, buf[saved][l - 1], da_in, buf["dz"][l - 1])
        return self.loss

    # ------------------------------------------------------------------ update
    def update_weights(self, learning_rate):
        """Apply one optimizer step with the gradients from the last `backward`: on the flat
        weight array with L2, then on the flat bias array without."""
        lr = V.check_float("learning_rate", learning_rate, 0.0, np.inf, low_inclusive=False)
        self.step += 1
        P = self.params.flat
        for p, g, s1, s2, l2 in ((P.w, P.dw, P.s1w, P.s2w, self.l2), (P.b, P.db, P.s1b, P.s2b, 0.0)):
            if self.optimizer == "sgd":
                K.sgd_update(p, g, lr, l2)
            elif self.optimizer == "momentum":
                K.momentum_update(p, g, s1, lr, self.momentum, l2)
            else:
                K.adam_update(p, g, s1, s2, lr, self.beta1, self.beta2, self.eps, self.step, l2)

    # ------------------------------------------------------------------- epoch
    def train_epoch(self, X, y, batch_size=64, learning_rate=0.01, augment_shift=0, fast=True,
                    augment=None, progress=None):
        """One shuffled pass of mini-batch training over (X, y); returns the mean training loss.

        learning_rate is a number, or an array with one rate per mini-batch (a schedule).
        augment_shift > 0 shifts each image by up to that many whole pixels per axis (28x28
        inputs); augment (network.augmentation.Augmentation) picks shifts or affine/elastic
        warps instead. progress(rows), if given, is called as rows are trained.
        fast=True runs the compiled epoch (network/engine.py, kernels/epoch.py); fast=False the
        readable loop over the plain kernels (`train_epoch_reference`). Both draw the same
        shuffle, augmentation and dropout masks and apply the same updates, so they give the same
        weights up to float rounding; the fast path gives the same bits for any thread count.
        """
        X = self._check_X(X)
        y = self._check_y(y, X.shape[0])
        n = X.shape[0]
        batch_size = V.check_int("batch_size", batch_size, 1, what="a positive integer")
        aug = V.check_augmentation(augment, augment_shift, self.layer_sizes[0])
        lrs = V.check_learning_rates(learning_rate, -(-n // batch_size))
        perm = self.rng.permutation(n)
        shifts, warp = epoch_augmentation(self, aug, n)
        run = engine.compiled_epoch if fast else engine.reference_epoch
        return run(self, X, y, batch_size, lrs, perm, shifts, warp, progress)

    def train_epoch_reference(self, X, y, batch_size=64, learning_rate=0.01, augment_shift=0,
                              augment=None):
        """`train_epoch` through the plain kernels, one Python call per operation."""
        return self.train_epoch(X, y, batch_size, learning_rate, augment_shift, False, augment)
