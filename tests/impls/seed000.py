"""Seed 000: 2 inputs, 3 sigmoid hidden units, 2 linear outputs, sse; row convention (W0 is 2x3, W1 is 3x2).

X (N, 2), Y (N, 2); params [{"W": (2, 3), "b": (3,)}, {"W": (3, 2), "b": (2,)}].
"""

import numpy as np


def _forward(params, X):
    W0, b0, W1, b1 = params[0]["W"], params[0]["b"], params[1]["W"], params[1]["b"]
    z0 = X @ W0 + b0
    h = 1.0 / (1.0 + np.exp(-z0))
    out = h @ W1 + b1  # linear output
    return z0, h, out


def correct(params, X, Y):
    _, h, out = _forward(params, X)
    err = out - Y  # ∂C/∂out for C = ½ Σ ‖out − y‖²
    d1 = err  # linear: σ' = 1
    d0 = (d1 @ params[1]["W"].T) * h * (1 - h)  # (N, 3): one δ per hidden unit and sample
    return [{"W": X.T @ d0, "b": d0.sum(axis=0)}, {"W": h.T @ d1, "b": d1.sum(axis=0)}]


def two_by_one(params, X, Y):
    """The question's gradient: W_jk · g'(z) · x · err collapsed to one column, 2x1 instead of 2x3."""
    grads = correct(params, X, Y)
    _, h, out = _forward(params, X)
    d0 = ((out - Y) @ params[1]["W"].T) * h * (1 - h)
    grads[0]["W"] = X.T @ d0.sum(axis=1, keepdims=True)
    return grads
