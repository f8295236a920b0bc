"""Parameter updates: SGD, momentum and Adam, each with optional L2 regularisation.

All kernels work on flat (P,) views of one parameter array and update it in place. L2 adds
l2 * param to the gradient (the gradient of (l2/2) * ||param||^2), i.e. coupled weight decay;
callers pass l2 = 0 for biases.
    sgd:       p <- p - lr * g
    momentum:  v <- mu * v - lr * g;  p <- p + v
    adam:      m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
               p <- p - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
with g = grad + l2 * p.
"""
import math

from numba import njit


@njit(cache=True)
def sgd_update(param, grad, lr, l2):
    """Plain gradient descent.  param, grad (P,)."""
    for i in range(param.shape[0]):
        param[i] -= lr * (grad[i] + l2 * param[i])


@njit(cache=True)
def momentum_update(param, grad, velocity, lr, mu, l2):
    """Classical (heavy-ball) momentum.  param, grad, velocity (P,)."""
    for i in range(param.shape[0]):
        g = grad[i] + l2 * param[i]
        velocity[i] = mu * velocity[i] - lr * g
        param[i] += velocity[i]


@njit(cache=True)
def adam_update(param, grad, m, v, lr, beta1, beta2, eps, t, l2):
    """Adam (Kingma & Ba 2015) with bias correction; t is the 1-based step count.  All (P,)."""
    c1 = 1.0 / (1.0 - beta1 ** t)
    c2 = 1.0 / (1.0 - beta2 ** t)
    for i in range(param.shape[0]):
        g = grad[i] + l2 * param[i]
        m[i] = beta1 * m[i] + (1.0 - beta1) * g
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g
        param[i] -= lr * (m[i] * c1) / (math.sqrt(v[i] * c2) + eps)
