"""Nielsen's equations for the OR gate of derivations/or_gate.json (column convention, quadratic cost).

``backprop`` is right; ``backprop_sigma_of_a`` applies σ' to the hidden layer's activation a
instead of to z, a classic mistake.
"""

import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop(params, X, Y):
    (W0, b0), (W1, b1) = [(p["W"], p["b"]) for p in params]
    a0 = sigmoid(W0 @ X + b0[:, None])
    a1 = sigmoid(W1 @ a0 + b1[:, None])
    N = X.shape[1]
    delta1 = (a1 - Y) / N * a1 * (1 - a1)
    delta0 = (W1.T @ delta1) * a0 * (1 - a0)
    return [{"W": delta0 @ X.T, "b": delta0.sum(axis=1)},
            {"W": delta1 @ a0.T, "b": delta1.sum(axis=1)}]


def backprop_sigma_of_a(params, X, Y):
    (W0, b0), (W1, b1) = [(p["W"], p["b"]) for p in params]
    a0 = sigmoid(W0 @ X + b0[:, None])
    a1 = sigmoid(W1 @ a0 + b1[:, None])
    N = X.shape[1]
    delta1 = (a1 - Y) / N * a1 * (1 - a1)
    delta0 = (W1.T @ delta1) * sigmoid(a0) * (1 - sigmoid(a0))  # σ'(a) where σ'(z) belongs
    return [{"W": delta0 @ X.T, "b": delta0.sum(axis=1)},
            {"W": delta1 @ a0.T, "b": delta1.sum(axis=1)}]
