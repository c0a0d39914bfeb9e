"""A two-layer network written with numpy-ml's layout of biases: b is a (1, n) row, and so is db.

Row convention: X (N, 4), W0 (4, 5) tanh, W1 (5, 3) linear, mse = 1/(N·K) Σ (a − y)².
Each function returns [{"W": dW, "b": db}] with db of shape (1, units); the dict forms also return the
intermediates ``a`` (per layer), ``delta`` (δ = ∂C/∂z per layer) and ``loss``.
Each wrong one makes exactly one mistake, named in its docstring. Nothing here uses gradcheck.
"""

import numpy as np


def _run(params, X, Y, *, per_sample_sum=False, forward_relu=False, delta_skips_tanh=False):
    W0, b0 = params[0]["W"], params[0]["b"].reshape(1, -1)
    W1, b1 = params[1]["W"], params[1]["b"].reshape(1, -1)
    z0 = X @ W0 + b0
    a0 = np.maximum(z0, 0) if forward_relu else np.tanh(z0)
    a1 = a0 @ W1 + b1
    N, K = Y.shape
    loss = float(np.sum((a1 - Y) ** 2) / (N * K))
    delta1 = 2 * (a1 - Y) / (K if per_sample_sum else N * K)
    da0 = delta1 @ W1.T
    delta0 = da0 if delta_skips_tanh else da0 * (1 - np.tanh(z0) ** 2)
    grads = [{"W": X.T @ delta0, "b": delta0.sum(axis=0, keepdims=True)},
             {"W": a0.T @ delta1, "b": delta1.sum(axis=0, keepdims=True)}]
    return grads, {"a": [a0, a1], "delta": [delta0, delta1], "loss": loss}


def correct(params, X, Y):
    return _run(params, X, Y)[0]


def summed_not_averaged(params, X, Y):
    """δ of the output is 2(a − y)/K: the loss's mean over the N samples is left out (a factor N)."""
    return _run(params, X, Y, per_sample_sum=True)[0]


def with_intermediates(params, X, Y):
    grads, seen = _run(params, X, Y)
    return {"grads": grads, **seen}


def forward_relu(params, X, Y):
    """The hidden layer applies relu in the forward pass (the spec says tanh), its backward tanh's derivative."""
    grads, seen = _run(params, X, Y, forward_relu=True)
    return {"grads": grads, **seen}


def delta_skips_tanh(params, X, Y):
    """δ of the hidden layer is da0 alone: tanh's derivative is left out (the forward is right)."""
    grads, seen = _run(params, X, Y, delta_skips_tanh=True)
    return {"grads": grads, **seen}
