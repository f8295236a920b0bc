"""Parameter updates: SGD, momentum and Adam, each with optional L2 regularisation.

One scalar function per optimizer is the whole rule; the plain kernels and `optimizer_step` (the
fused kernels' update, compiled with fastmath) loop over it. With g = grad + l2 * param (coupled
weight decay, the gradient of (l2/2) ||param||^2; callers pass l2 = 0 for biases):
    sgd:       p <- p - lr * g
    momentum:  v <- mu * v - lr * g;  p <- p + v
    adam:      m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2
               p <- p - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
Arithmetic is in the parameters' dtype (every coefficient is cast to it first). Optimizer state
smaller than STATE_FLUSH in magnitude is stored as 0: a weight whose gradient stays 0 (a dead
unit, an always-blank pixel) would otherwise have its velocity or moments decay by 0.9 a step
through float32's subnormal range, where arithmetic is several times slower; what they would
still add to a step is < 1e-24.
"""
import math

from numba import njit

from kernels.runtime import FAST, INNER

STATE_FLUSH = 1e-30
OPT_SGD, OPT_MOMENTUM, OPT_ADAM = 0, 1, 2
OPT_CODES = {"sgd": OPT_SGD, "momentum": OPT_MOMENTUM, "adam": OPT_ADAM}


# ------------------------------------------------------------------------ scalar math
@njit(inline="always")
def flush(s, tiny, zero):
    """s, or 0 if |s| < tiny (no state decays through the subnormals)."""
    return s if abs(s) >= tiny else zero


@njit(inline="always")
def sgd_step(p, g, lr, l2):
    """The new parameter."""
    return p - lr * (g + l2 * p)


@njit(inline="always")
def momentum_step(p, g, vel, lr, l2, mu, tiny, zero):
    """(new parameter, new velocity)."""
    v = mu * vel - lr * (g + l2 * p)
    return p + v, flush(v, tiny, zero)


@njit(inline="always")
def adam_step(p, g_, m, v, lr, l2, b1, b2, ob1, ob2, eps, c1, c2, tiny, zero):
    """(new parameter, new m, new v); ob1 = 1 - b1, ob2 = 1 - b2, c1 = 1/(1-b1^t), c2 = 1/(1-b2^t)."""
    g = g_ + l2 * p
    m = b1 * m + ob1 * g
    v = b2 * v + ob2 * g * g
    return p - lr * (m * c1) / (math.sqrt(v * c2) + eps), flush(m, tiny, zero), flush(v, tiny, zero)


@njit(inline="always")
def coefficients(param, lr, l2, mu, beta1, beta2, eps, t):
    """Every coefficient in param's dtype (a float64 one would turn a float32 update into a
    float64 one): (lr, l2, mu, b1, b2, 1-b1, 1-b2, eps, 1/(1-b1^t), 1/(1-b2^t), tiny, zero)."""
    f = param.dtype.type
    return (f(lr), f(l2), f(mu), f(beta1), f(beta2), f(1.0 - beta1), f(1.0 - beta2), f(eps),
            f(1.0 / (1.0 - beta1 ** t)), f(1.0 / (1.0 - beta2 ** t)), f(STATE_FLUSH), f(0.0))


# ------------------------------------------------------------------- plain kernels
@njit(cache=True)
def sgd_update(param, grad, lr, l2):
    """Plain gradient descent.  param, grad (P,)."""
    lr_, l2_ = coefficients(param, lr, l2, 0.0, 0.0, 0.0, 1.0, 1)[:2]
    for i in range(param.shape[0]):
        param[i] = sgd_step(param[i], grad[i], lr_, l2_)


@njit(cache=True)
def momentum_update(param, grad, velocity, lr, mu, l2):
    """Classical (heavy-ball) momentum.  param, grad, velocity (P,)."""
    c = coefficients(param, lr, l2, mu, 0.0, 0.0, 1.0, 1)
    for i in range(param.shape[0]):
        param[i], velocity[i] = momentum_step(param[i], grad[i], velocity[i], c[0], c[1], c[2],
                                              c[10], c[11])


@njit(cache=True)
def adam_update(param, grad, m, v, lr, beta1, beta2, eps, t, l2):
    """Adam (Kingma & Ba 2015) with bias correction; t is the 1-based step count.  All (P,)."""
    c = coefficients(param, lr, l2, 0.0, beta1, beta2, eps, t)
    for i in range(param.shape[0]):
        param[i], m[i], v[i] = adam_step(param[i], grad[i], m[i], v[i], c[0], c[1], c[3], c[4],
                                         c[5], c[6], c[7], c[8], c[9], c[10], c[11])


# ------------------------------------------------------- the fused kernels' update
@njit(**INNER)
def _step_flat(p, g, s1, s2, opt, c):
    if opt == OPT_SGD:
        for i in range(p.shape[0]):
            p[i] = sgd_step(p[i], g[i], c[0], c[1])
    elif opt == OPT_MOMENTUM:
        for i in range(p.shape[0]):
            p[i], s1[i] = momentum_step(p[i], g[i], s1[i], c[0], c[1], c[2], c[10], c[11])
    else:
        for i in range(p.shape[0]):
            p[i], s1[i], s2[i] = adam_step(p[i], g[i], s1[i], s2[i], c[0], c[1], c[3], c[4], c[5],
                                           c[6], c[7], c[8], c[9], c[10], c[11])


@njit(**FAST)
def optimizer_step(P, G, S1, S2, opt, lr, l2, mu, beta1, beta2, eps, t):
    """One step of optimizer `opt` (OPT_SGD / OPT_MOMENTUM / OPT_ADAM) on a parameter array, in
    place.  P, G, S1, S2 same shape, C-contiguous; S1 the velocity or Adam's first moment, S2
    Adam's second moment (ignored by the others). Equals sgd_update / momentum_update /
    adam_update on the flattened arrays (to rounding: fastmath may fuse a multiply-add), as one
    contiguous loop per optimizer so each vectorises."""
    c = coefficients(P, lr, l2, mu, beta1, beta2, eps, t)
    _step_flat(P.reshape(-1), G.reshape(-1), S1.reshape(-1), S2.reshape(-1), opt, c)
