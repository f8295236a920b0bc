"""Element-wise activations and their gradients.

Each pair works on 2-D arrays (N, M) and writes into a caller-allocated output. The backward
kernels take what the derivative is cheapest to compute from:
    relu:    a = max(z, 0)          da/dz = 1[z > 0]        (from z)
    tanh:    a = tanh(z)            da/dz = 1 - a^2         (from a)
    sigmoid: a = 1 / (1 + e^-z)     da/dz = a (1 - a)       (from a)
Backward computes dz = dout * da/dz; dz may be the same array as dout (in place).
"""
import math

from numba import njit


@njit(cache=True)
def relu_forward(z, out):
    """out = max(z, 0).  z, out (N,M)."""
    N, M = z.shape
    for i in range(N):
        for j in range(M):
            v = z[i, j]
            out[i, j] = v if v > 0 else 0.0


@njit(cache=True)
def relu_backward(z, dout, dz):
    """dz = dout * 1[z > 0].  z, dout, dz (N,M). (The subgradient at z == 0 is taken as 0.)"""
    N, M = z.shape
    for i in range(N):
        for j in range(M):
            dz[i, j] = dout[i, j] if z[i, j] > 0 else 0.0


@njit(cache=True)
def tanh_forward(z, out):
    """out = tanh(z).  z, out (N,M)."""
    N, M = z.shape
    for i in range(N):
        for j in range(M):
            out[i, j] = math.tanh(z[i, j])


@njit(cache=True)
def tanh_backward(a, dout, dz):
    """dz = dout * (1 - a^2), a = tanh(z).  a, dout, dz (N,M)."""
    N, M = a.shape
    for i in range(N):
        for j in range(M):
            v = a[i, j]
            dz[i, j] = dout[i, j] * (1.0 - v * v)


@njit(cache=True)
def sigmoid_forward(z, out):
    """out = 1 / (1 + exp(-z)), evaluated without overflow for large |z|.  z, out (N,M)."""
    N, M = z.shape
    for i in range(N):
        for j in range(M):
            v = z[i, j]
            if v >= 0:
                out[i, j] = 1.0 / (1.0 + math.exp(-v))
            else:
                e = math.exp(v)
                out[i, j] = e / (1.0 + e)


@njit(cache=True)
def sigmoid_backward(a, dout, dz):
    """dz = dout * a * (1 - a), a = sigmoid(z).  a, dout, dz (N,M)."""
    N, M = a.shape
    for i in range(N):
        for j in range(M):
            v = a[i, j]
            dz[i, j] = dout[i, j] * v * (1.0 - v)
