"""The whole compiled epoch as a target of `python -m profiling.kernel_lines`:

    python -m profiling.kernel_lines profiling/epoch_target.py:epoch --seconds 6

samples one plain-SGD epoch (48,000 random MNIST-shaped images, batch 64, 784-128-64-10 ReLU,
float32: the benchmark's epoch) line by line across every kernel it calls, and the threads'
hand-offs in libgomp. Writes results/kernel_lines_epoch.txt.
"""
import numpy as np

from kernels import epoch as E
from network.engine import epoch_inputs
from network.model import NeuralNetwork
from profiling.common import random_mnist

epoch = E.train_epoch_compiled


def epoch_args(n=48000, batch=64):
    """The arguments of one whole epoch (`train_epoch_compiled`), built by the training engine's
    own `epoch_inputs`: no augmentation, no dropout, plain SGD at learning rate 0.01."""
    X, y = random_mnist(n, np.float32)
    net = NeuralNetwork([784, 128, 64, 10], activation="relu", seed=0, dtype=np.float32, optimizer="sgd")
    n_batches = (n + batch - 1) // batch
    perm = np.random.default_rng(0).permutation(n)
    data, aug, spec, opt, calls = epoch_inputs(net, X, y, batch, np.full(n_batches, 0.01), perm)
    return data, aug, spec, net.params.flat, opt, 0, 0, 0, n_batches, calls
