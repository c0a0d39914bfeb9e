"""Hand-written backprops for a dense hidden layer with leaky_relu (slope 0.2) or elu (alpha 0.5), a linear
output layer and the quadratic cost, column convention; the wrong ones make one mistake with the parameter.

The specs: ``{"input": 3, "layers": [{"units": 4, "activation": "leaky_relu", "slope": 0.2}, {"units": 2}],
"loss": "quadratic"}`` and the same with ``{"activation": "elu", "alpha": 0.5}``. Nothing here uses gradcheck.
"""

import numpy as np

SLOPE, ALPHA = 0.2, 0.5


def leaky(z, slope=SLOPE):
    return np.where(z > 0, z, slope * z)


def elu(z, alpha=ALPHA):
    return np.where(z > 0, z, alpha * (np.exp(np.minimum(z, 0)) - 1))


def _backprop(params, X, Y, act, prime):
    """prime(z, a) is the hidden layer's σ'."""
    n = X.shape[1]
    z0 = params[0]["W"] @ X + params[0]["b"][:, None]
    a0 = act(z0)
    a1 = params[1]["W"] @ a0 + params[1]["b"][:, None]
    d1 = (a1 - Y) / n
    d0 = (params[1]["W"].T @ d1) * prime(z0, a0)
    return [{"W": d0 @ X.T, "b": d0.sum(axis=1)}, {"W": d1 @ a0.T, "b": d1.sum(axis=1)}]


def leaky_good(params, X, Y):
    return _backprop(params, X, Y, leaky, lambda z, a: np.where(z > 0, 1.0, SLOPE))


def leaky_default_slope(params, X, Y):
    """The backward pass uses PyTorch's default slope 0.01, the forward the layer's 0.2."""
    return _backprop(params, X, Y, leaky, lambda z, a: np.where(z > 0, 1.0, 0.01))


def elu_good(params, X, Y):
    return _backprop(params, X, Y, elu, lambda z, a: np.where(z > 0, 1.0, a + ALPHA))


def elu_exp_without_alpha(params, X, Y):
    """σ'(z) = exp(z) below 0: the α of α·exp(z) left out."""
    return _backprop(params, X, Y, elu, lambda z, a: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))))


def elu_prime_of_a(params, X, Y):
    """σ' (written with a) evaluated at a = σ(z) instead of z."""
    return _backprop(params, X, Y, elu, lambda z, a: np.where(a > 0, 1.0, elu(a) + ALPHA))


def elu_a_plus_one(params, X, Y):
    """σ' written with a as a + 1: the α of a + α taken as 1."""
    return _backprop(params, X, Y, elu, lambda z, a: np.where(z > 0, 1.0, a + 1.0))
