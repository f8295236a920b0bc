"""The one NumPy oracle: the kernels' math as whole-array NumPy (used by tests/kernels and by the
benchmark cases alike), and the same network in vectorised pure NumPy: the assignment's "vectorize
all operations" version.

Same math, same initial weights and the same method names as `network.model.NeuralNetwork`, so the
two can be compared number for number and timed side by side. Each line of `_forward`, `_backward`
and `update_weights` is one whole-array operation (the line profiler's unit):

    z_l = a_l @ W_l + b_l,   a_{l+1} = f(z_l)   (hidden layers; dropout mask applied if training)
    p = softmax(z_{L-1}) = exp(z - max) / sum exp(z - max)
    loss = mean_i ( max_i + log sum_c exp(z_ic - max_i) - z_{i,y_i} )
    dz_{L-1} = (p - onehot(y)) / N
    dW_l = a_l.T @ dz_l,  db_l = sum_i dz_l,  da_l = dz_l @ W_l.T,  dz_{l-1} = f'(.) * mask * da_l
    sgd: p -= lr (g + l2 p);  momentum: v = mu v - lr g, p += v;  adam: as kernels/optim.py

The dropout mask is the same counter-based splitmix64 hash as kernels/dropout.py, evaluated on
whole uint64 arrays, so even dropout training matches the kernel-backed network.
"""
import numpy as np

from network.initializers import initialize
from network.model import ACTIVATIONS, OPTIMIZERS, NeuralNetwork
from network.validation import check_choice as _check_choice, check_float as _check_float

from kernels.dropout import _GOLDEN, _MIX1, _MIX2  # the hash's constants, written once


# ------------------------------------------------------------- the vectorised operations
def relu(z):
    return np.maximum(z, 0)


def relu_grad(z, dout):
    return dout * (z > 0)


def tanh(z):
    return np.tanh(z)


def tanh_grad(a, dout):
    return dout * (1 - a * a)


def sigmoid(z):
    e = np.exp(-np.abs(z))  # e^-z for z >= 0, e^z for z < 0: never overflows
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_grad(a, dout):
    return dout * a * (1 - a)


def log_softmax_cross_entropy(z, y):
    """(probabilities, mean cross-entropy) by the log-sum-exp trick in float64 (the tests' oracle
    for the softmax and loss kernels)."""
    z = z.astype(np.float64)
    m = z.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(z - m).sum(axis=1))
    p = np.exp(z - lse[:, None])
    return p, float(np.mean(lse - z[np.arange(len(y)), y]))


def sgd_step(p, g, lr, l2):
    """The new parameters of one SGD step with coupled L2 (kernels/optim.py)."""
    return p - lr * (g + l2 * p)


def momentum_step(p, g, v, lr, mu, l2):
    """(new parameters, new velocity) of one heavy-ball momentum step."""
    v = mu * v - lr * (g + l2 * p)
    return p + v, v


def adam_step(p, g, m, v, lr, b1, b2, eps, t, l2):
    """(new parameters, m, v) of one Adam step with bias correction (t is 1-based)."""
    g = g + l2 * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    return p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), m, v


def shift_images(x, dr, dc):
    """Each 28x28 image of x (N, 784) moved by (dr[n], dc[n]) pixels, zeros filling in: every pixel
    gathered from (r - dr, c - dc), zero where that lies outside."""
    n = x.shape[0]
    r = np.arange(28)
    rr = r[None, :] - np.asarray(dr)[:, None]
    cc = r[None, :] - np.asarray(dc)[:, None]
    valid = ((rr >= 0) & (rr < 28))[:, :, None] & ((cc >= 0) & (cc < 28))[:, None, :]
    img = x.reshape(n, 28, 28)
    out = img[np.arange(n)[:, None, None], np.clip(rr, 0, 27)[:, :, None], np.clip(cc, 0, 27)[:, None, :]]
    return (out * valid).reshape(n, 784)


# name -> (forward, backward, backward reads the output a (True) or the input z (False))
ACTIVATION_FUNCS = {"relu": (relu, relu_grad, False), "tanh": (tanh, tanh_grad, True),
                    "sigmoid": (sigmoid, sigmoid_grad, True)}


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e * (1 / e.sum(axis=1, keepdims=True, dtype=np.float64)).astype(z.dtype)


def softmax_cross_entropy(z, y):
    """(p, mean loss) for logits z (N,C), labels y (N,); the loss is accumulated in float64."""
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True, dtype=np.float64)
    p = e * (1 / s).astype(z.dtype)
    loss = np.mean(m[:, 0] + np.log(s[:, 0]) - z[np.arange(len(y)), y])
    return p, float(loss)


def softmax_cross_entropy_grad(p, y):
    d = p * (1 / len(y))
    d[np.arange(len(y)), y] -= 1 / len(y)
    return d


def hash_uniform(seed, n):
    """u[i] in [0, 1) for i < n from (seed, i): kernels.dropout.hash_uniform on a whole array."""
    x = np.uint64(seed) + (np.arange(n, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(40)).astype(np.float64) * (1.0 / 16777216.0)


def dropout_mask(shape, p, seed, dtype):
    keep = hash_uniform(seed, shape[0] * shape[1]).reshape(shape) >= p
    return (keep * (1.0 / (1.0 - p))).astype(dtype)


# --------------------------------------------------------------------------- the network
class NumpyNetwork:
    """A fully connected classifier in vectorised NumPy with NeuralNetwork's API and initial weights.

    Build it like NeuralNetwork (same arguments, same seed -> same weights), or copy one with
    `NumpyNetwork.from_network(net)`. Methods: forward, backward, update_weights, train_epoch,
    predict, predict_proba, evaluate; attributes weights, biases, dweights, dbiases, loss.
    """

    def __init__(self, layer_sizes, activation="relu", init="he", seed=0, dtype=np.float32,
                 optimizer="sgd", l2=0.0, dropout=0.0, momentum=0.9, beta1=0.9, beta2=0.999, eps=1e-8):
        sizes = [int(s) for s in layer_sizes]
        if len(sizes) < 2 or any(s <= 0 for s in sizes):
            raise ValueError(f"layer_sizes must be at least two positive integers; got {list(layer_sizes)!r}")
        _check_choice("activation", activation, ACTIVATIONS)
        _check_choice("optimizer", optimizer, OPTIMIZERS)
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64; got {np.dtype(dtype)}")
        self.layer_sizes, self.activation, self.init = sizes, activation, init
        self.seed, self.dtype, self.optimizer = int(seed), np.dtype(dtype), optimizer
        self.l2 = _check_float("l2", l2, 0.0, np.inf)
        self.dropout = _check_float("dropout", dropout, 0.0, 1.0)
        self.momentum, self.beta1, self.beta2, self.eps = momentum, beta1, beta2, eps
        self.weights, self.biases = initialize(sizes, init, np.random.default_rng(self.seed), self.dtype)
        self.dweights = [np.zeros_like(w) for w in self.weights]
        self.dbiases = [np.zeros_like(b) for b in self.biases]
        self.dropout_calls = 0
        self.rng = np.random.default_rng([self.seed, 1])  # the same shuffling stream as NeuralNetwork
        self.loss = None
        self.reset_optimizer()

    @classmethod
    def from_network(cls, net):
        """A NumpyNetwork with a copy of `net`'s configuration, weights and biases."""
        ref = cls(net.layer_sizes, activation=net.activation, init=net.init, seed=net.seed,
                  dtype=net.dtype, optimizer=net.optimizer, l2=net.l2, dropout=net.dropout,
                  momentum=net.momentum, beta1=net.beta1, beta2=net.beta2, eps=net.eps)
        ref.weights = [w.copy() for w in net.weights]
        ref.biases = [b.copy() for b in net.biases]
        return ref

    @property
    def n_layers(self):
        return len(self.weights)

    def reset_optimizer(self):
        params = self.weights + self.biases
        self.velocity = [np.zeros_like(p) for p in params]
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.step = 0

    def _check_X(self, X):
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.layer_sizes[0]:
            raise ValueError(f"X must have shape (n_samples, {self.layer_sizes[0]}); got {X.shape}")
        return np.ascontiguousarray(X, dtype=self.dtype)

    # ------------------------------------------------------------------ forward / backward
    def _forward(self, X, training):
        """Returns (pre-activations zs, activations hs = f(z) before dropout, layer inputs acts)."""
        f = ACTIVATION_FUNCS[self.activation][0]
        zs, hs, acts, self._masks = [], [], [X], []
        for l in range(self.n_layers):
            z = acts[-1] @ self.weights[l] + self.biases[l]
            zs.append(z)
            if l == self.n_layers - 1:
                break
            h = f(z)
            hs.append(h)
            if training and self.dropout > 0:
                self.dropout_calls += 1
                seed = ((self.seed & 0xFFFFFFFF) << 32) | (self.dropout_calls & 0xFFFFFFFF)
                self._masks.append(dropout_mask(h.shape, self.dropout, seed, self.dtype))
                h = h * self._masks[-1]
            acts.append(h)
        return zs, hs, acts

    def forward(self, X, training=False):
        """Class probabilities (N, n_out)."""
        zs = self._forward(self._check_X(X), training)[0]
        return softmax(zs[-1])

    def backward(self, X, y):
        """Gradients of the mean cross-entropy into dweights / dbiases; returns the loss."""
        return self._backward(self._check_X(X), np.asarray(y, dtype=np.int64))

    def _backward(self, X, y):
        f_grad, from_output = ACTIVATION_FUNCS[self.activation][1:]
        zs, hs, acts = self._forward(X, training=True)
        p, self.loss = softmax_cross_entropy(zs[-1], y)
        dz = softmax_cross_entropy_grad(p, y)
        for l in range(self.n_layers - 1, -1, -1):
            self.dweights[l] = acts[l].T @ dz
            self.dbiases[l] = dz.sum(axis=0)
            if l == 0:
                break
            da = dz @ self.weights[l].T
            if self._masks:
                da = da * self._masks[l - 1]
            dz = f_grad(hs[l - 1] if from_output else zs[l - 1], da)
        return self.loss

    def update_weights(self, learning_rate):
        """One optimizer step with the gradients from the last `backward`."""
        lr = float(learning_rate)
        self.step += 1
        grads = self.dweights + self.dbiases
        for i in range(len(grads)):
            l2 = self.l2 if i < self.n_layers else 0.0
            p = self.weights[i] if i < self.n_layers else self.biases[i - self.n_layers]
            g = grads[i] + l2 * p if l2 else grads[i]
            if self.optimizer == "sgd":
                p -= lr * g
            elif self.optimizer == "momentum":
                self.velocity[i] *= self.momentum
                self.velocity[i] -= lr * g
                p += self.velocity[i]
            else:
                b1, b2, t = self.beta1, self.beta2, self.step
                self.m[i] = b1 * self.m[i] + (1 - b1) * g
                self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
                p -= lr * (self.m[i] / (1 - b1 ** t)) / (np.sqrt(self.v[i] / (1 - b2 ** t)) + self.eps)

    def train_epoch(self, X, y, batch_size=64, learning_rate=0.01, augment_shift=0):
        """One shuffled pass of mini-batch training; returns the mean training loss.

        Shuffles with the same generator stream as NeuralNetwork.train_epoch. learning_rate is a
        number or one rate per mini-batch. Augmentation is not implemented here (augment_shift=0).
        """
        if augment_shift:
            raise ValueError("NumpyNetwork.train_epoch does not implement augmentation; use augment_shift=0")
        X = self._check_X(X)
        y = np.asarray(y, dtype=np.int64)
        n = X.shape[0]
        n_batches = -(-n // batch_size)
        lrs = np.broadcast_to(np.asarray(learning_rate, np.float64), (n_batches,))
        perm = self.rng.permutation(n)
        total = 0.0
        for b in range(n_batches):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            total += self._backward(X[idx], y[idx]) * len(idx)
            self.update_weights(lrs[b])
        return total / n

    # ------------------------------------------------------------------------ inference
    def predict_proba(self, X):
        return self.forward(X)

    def predict(self, X):
        return np.argmax(self.forward(X), axis=1)

    def evaluate(self, X, y):
        """(mean cross-entropy loss, accuracy) without dropout."""
        zs = self._forward(self._check_X(X), training=False)[0]
        p, loss = softmax_cross_entropy(zs[-1], np.asarray(y, dtype=np.int64))
        return loss, float(np.mean(np.argmax(p, axis=1) == y))


__all__ = ["NumpyNetwork", "NeuralNetwork", "ACTIVATION_FUNCS", "softmax", "softmax_cross_entropy",
           "softmax_cross_entropy_grad", "relu", "relu_grad", "tanh", "tanh_grad", "sigmoid",
           "sigmoid_grad", "hash_uniform", "dropout_mask"]
