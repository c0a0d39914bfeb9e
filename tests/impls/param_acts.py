"""Hand-written backprops for a dense hidden layer with leaky_relu (slope 0.2), elu (alpha 0.5), selu or gelu,
a linear output layer and the quadratic cost, column convention; each wrong one makes one mistake in σ'.

The specs: ``{"input": 3, "layers": [{"units": 4, "activation": "leaky_relu", "slope": 0.2}, {"units": 2}],
"loss": "quadratic"}`` and the same with ``{"activation": "elu", "alpha": 0.5}``, ``"selu"`` or ``"gelu"``.
Nothing here uses gradcheck.
"""

import math

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


LAMBDA, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772


def selu(z):
    return LAMBDA * elu(z, SELU_ALPHA)


def selu_good(params, X, Y):
    return _backprop(params, X, Y, selu, lambda z, a: np.where(z > 0, LAMBDA, a + LAMBDA * SELU_ALPHA))


def selu_no_lambda(params, X, Y):
    """elu's derivative with SELU's α: the λ left out."""
    return _backprop(params, X, Y, selu, lambda z, a: np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0))))


def cdf(z):
    return 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def gelu(z):
    return z * cdf(z)


def gelu_good(params, X, Y):
    return _backprop(params, X, Y, gelu, lambda z, a: cdf(z) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi))


def gelu_phi_only(params, X, Y):
    """σ'(z) = Φ(z): the product rule's z·φ(z) forgotten."""
    return _backprop(params, X, Y, gelu, lambda z, a: cdf(z))


def gelu_tanh_prime(params, X, Y):
    """The tanh approximation's derivative in the backward pass of the exact gelu."""
    def prime(z, a):
        c = math.sqrt(2 / math.pi)
        t = np.tanh(c * (z + 0.044715 * z**3))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)
    return _backprop(params, X, Y, gelu, prime)
