"""Element-wise activations and their gradients: the scalar math once, then 2-D kernels over it.

    relu:    a = max(z, 0)          da/dz = 1[z > 0]        (from z)
    tanh:    a = tanh(z)            da/dz = 1 - a^2         (from a)
    sigmoid: a = 1 / (1 + e^-z)     da/dz = a (1 - a)       (from a)

Each derivative is read off what makes it cheapest: the rule "relu's from z, tanh's and sigmoid's
from a" is `backward_reads_output` below and nowhere else. The scalar functions are inlined into
the 2-D kernels here and into the fused layer kernels (kernels/layers.py), which apply the same
spans (`act_forward_span`, `act_backward_span`) to a panel of columns right after its product.
Backward computes dz = dout * da/dz; dz may be the same array as dout (in place).

The spans work on 1-d views of one row (Z[i, j0:j1]), indexed from 0, and an in-place caller
passes the same view twice. Indexed Z[i, j] for j in [j0, j1) instead, every access carried
Numba's negative-index wrap-around and LLVM vectorised the fused layers' epilogues with gathers
and scatters (bias and relu over 64 x 128: 11 us, against 1.1 us on views), and an in-place dz
(two views of one row, which LLVM cannot prove equal) failed its overlap check and ran scalar
(relu's gradient over 64 x 128: 2.5 us against 0.6 us on one view); AMD EPYC Zen 4, AVX-512,
2026-12-01.
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
def act_forward_span(act, z, a):
    """a[j] = f(z[j]) over a span of a row: z, a (n,) views, e.g. Z[i, j0:j1].  One loop per
    activation (the branch is outside the loop, so each loop vectorises)."""
    if act == ACT_RELU:
        for j in range(z.shape[0]):
            a[j] = relu(z[j])
    elif act == ACT_TANH:
        for j in range(z.shape[0]):
            a[j] = tanh(z[j])
    elif act == ACT_SIGMOID:
        for j in range(z.shape[0]):
            a[j] = sigmoid(z[j])


@njit(inline="always")
def act_backward_span(act, saved, dout, dz):
    """dz[j] = dout[j] * f'(.) read off saved[j] (see backward_reads_output): saved, dout, dz (n,)
    views of a row; dz may be dout itself (in place)."""
    if act == ACT_RELU:
        for j in range(saved.shape[0]):
            dz[j] = relu_grad(saved[j], dout[j])
    elif act == ACT_TANH:
        for j in range(saved.shape[0]):
            dz[j] = tanh_grad(saved[j], dout[j])
    elif act == ACT_SIGMOID:
        for j in range(saved.shape[0]):
            dz[j] = sigmoid_grad(saved[j], dout[j])


@njit(cache=True)
def activation_forward(act, z, out):
    """out = f(z) for the activation code act (ACT_RELU / ACT_TANH / ACT_SIGMOID).  z, out (N,M)."""
    for i in range(z.shape[0]):
        act_forward_span(act, z[i], out[i])


@njit(cache=True)
def activation_backward(act, saved, dout, dz):
    """dz = dout * f'(.), saved = z (relu) or a = f(z) (tanh, sigmoid).  saved, dout, dz (N,M)."""
    for i in range(saved.shape[0]):
        act_backward_span(act, saved[i], dout[i], dz[i])


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
