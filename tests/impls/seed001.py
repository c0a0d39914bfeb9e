"""Seed 001: Nielsen's network.py backprop for the 2-2-1 sigmoid OR gate (column convention, quadratic cost).

params [{"W": (2, 2), "b": (2,)}, {"W": (1, 2), "b": (1,)}]; X (2, N), Y (1, N).
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


def _backprop(params, X, Y, hidden_factor):
    weights = [p["W"] for p in params]
    biases = [p["b"][:, None] for p in params]
    nabla_w = [np.zeros(w.shape) for w in weights]
    nabla_b = [np.zeros(b.shape) for b in biases]
    n = X.shape[1]
    for x, y in zip(X.T, Y.T):
        activation = x[:, None]
        activations, zs = [activation], []
        for w, b in zip(weights, biases):
            z = w @ activation + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        delta = (activations[-1] - y[:, None]) * sigmoid_prime(zs[-1])  # BP1
        nabla_b[-1] += delta  # BP3
        nabla_w[-1] += delta @ activations[-2].T  # BP4
        for layer in range(2, len(weights) + 1):
            delta = (weights[-layer + 1].T @ delta) * hidden_factor(zs[-layer])  # BP2
            nabla_b[-layer] += delta
            nabla_w[-layer] += delta @ activations[-layer - 1].T
    return [{"W": w / n, "b": b[:, 0] / n} for w, b in zip(nabla_w, nabla_b)]


def correct(params, X, Y):
    return _backprop(params, X, Y, sigmoid_prime)


def sigma_not_prime(params, X, Y):
    """The question's BP2 as written: δ^l = ((w^{l+1})ᵀ δ^{l+1}) ∘ σ(z^l), σ where σ' belongs."""
    return _backprop(params, X, Y, sigmoid)
