"""Element-wise activations and their gradients: the scalar math once, then 2-D kernels over it.

    relu:    a = max(z, 0)          da/dz = 1[z > 0]        (from z)
    tanh:    a = tanh(z)            da/dz = 1 - a^2         (from a)
    sigmoid: a = 1 / (1 + e^-z)     da/dz = a (1 - a)       (from a)

Each derivative is read off what makes it cheapest: the rule "relu's from z, tanh's and sigmoid's
from a" is `backward_reads_output` below and nowhere else. The scalar functions are inlined into
the 2-D kernels here and into the fused layer kernels (kernels/layers.py), which apply the same
spans (`act_forward_span`, `act_backward_span`) to a panel of columns right after its product.
Backward computes dz = dout * da/dz; dz may be the same array as dout (in place).
"""
import math

from numba import njit

ACT_NONE, ACT_RELU, ACT_TANH, ACT_SIGMOID = 0, 1, 2, 3
ACT_CODES = {"relu": ACT_RELU, "tanh": ACT_TANH, "sigmoid": ACT_SIGMOID}


# ------------------------------------------------------------------------ scalar math
@njit(inline="always")
def relu(z):
    return z if z > 0 else 0.0


@njit(inline="always")
def relu_grad(z, d):
    """d * relu'(z), read off the input z (the subgradient at z == 0 is taken as 0)."""
    return d if z > 0 else 0.0


@njit(inline="always")
def tanh(z):
    return math.tanh(z)


@njit(inline="always")
def tanh_grad(a, d):
    """d * tanh'(z) = d * (1 - a^2), read off the output a = tanh(z)."""
    return d * (1.0 - a * a)


@njit(inline="always")
def sigmoid(z):
    """1 / (1 + e^-z), evaluated without overflow for large |z|."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit(inline="always")
def sigmoid_grad(a, d):
    """d * sigmoid'(z) = d * a (1 - a), read off the output a = sigmoid(z)."""
    return d * a * (1.0 - a)


@njit(inline="always")
def backward_reads_output(act):
    """True if the activation's backward reads its output a (tanh, sigmoid), False if its input z
    (relu). Callers save, and pass to the backward kernels, whichever this names."""
    return act != ACT_RELU


BACKWARD_FROM_OUTPUT = {name: backward_reads_output.py_func(code) for name, code in ACT_CODES.items()}


# ------------------------------------------------------------- spans of one row
@njit(inline="always")
def act_forward_span(act, Z, A, i, j0, j1):
    """A[i, j] = f(Z[i, j]) for j in [j0, j1).  One loop per activation (the branch is outside
    the loop, so each loop vectorises)."""
    if act == ACT_RELU:
        for j in range(j0, j1):
            A[i, j] = relu(Z[i, j])
    elif act == ACT_TANH:
        for j in range(j0, j1):
            A[i, j] = tanh(Z[i, j])
    elif act == ACT_SIGMOID:
        for j in range(j0, j1):
            A[i, j] = sigmoid(Z[i, j])


@njit(inline="always")
def act_backward_span(act, saved, dout, dz, i, j0, j1):
    """dz[i, j] = dout[i, j] * f'(.) read off saved[i, j] (see backward_reads_output)."""
    if act == ACT_RELU:
        for j in range(j0, j1):
            dz[i, j] = relu_grad(saved[i, j], dout[i, j])
    elif act == ACT_TANH:
        for j in range(j0, j1):
            dz[i, j] = tanh_grad(saved[i, j], dout[i, j])
    elif act == ACT_SIGMOID:
        for j in range(j0, j1):
            dz[i, j] = sigmoid_grad(saved[i, j], dout[i, j])


@njit(cache=True)
def activation_forward(act, z, out):
    """out = f(z) for the activation code act (ACT_RELU / ACT_TANH / ACT_SIGMOID).  z, out (N,M)."""
    for i in range(z.shape[0]):
        act_forward_span(act, z, out, i, 0, z.shape[1])


@njit(cache=True)
def activation_backward(act, saved, dout, dz):
    """dz = dout * f'(.), saved = z (relu) or a = f(z) (tanh, sigmoid).  saved, dout, dz (N,M)."""
    for i in range(saved.shape[0]):
        act_backward_span(act, saved, dout, dz, i, 0, saved.shape[1])


# ---------------------------------------------------------------- the named pairs
@njit(cache=True)
def relu_forward(z, out):
    """out = max(z, 0).  z, out (N,M)."""
    activation_forward(ACT_RELU, z, out)


@njit(cache=True)
def relu_backward(z, dout, dz):
    """dz = dout * 1[z > 0].  z, dout, dz (N,M). (The subgradient at z == 0 is taken as 0.)"""
    activation_backward(ACT_RELU, z, dout, dz)


@njit(cache=True)
def tanh_forward(z, out):
    """out = tanh(z).  z, out (N,M)."""
    activation_forward(ACT_TANH, z, out)


@njit(cache=True)
def tanh_backward(a, dout, dz):
    """dz = dout * (1 - a^2), a = tanh(z).  a, dout, dz (N,M)."""
    activation_backward(ACT_TANH, a, dout, dz)


@njit(cache=True)
def sigmoid_forward(z, out):
    """out = 1 / (1 + exp(-z)), evaluated without overflow for large |z|.  z, out (N,M)."""
    activation_forward(ACT_SIGMOID, z, out)


@njit(cache=True)
def sigmoid_backward(a, dout, dz):
    """dz = dout * a * (1 - a), a = sigmoid(z).  a, dout, dz (N,M)."""
    activation_backward(ACT_SIGMOID, a, dout, dz)
