"""A network in the shape of Nielsen's network.py: biases as (units, 1) columns and weights in two lists, and
``backprop(x, y)`` returning ``(nabla_b, nabla_w)`` in the same nesting. ``bug=True`` leaves sigma' out of the
output layer's delta. Nothing here uses gradcheck."""

import numpy as np


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class Net:
    def __init__(self, sizes, seed=0, bug=False):
        rng = np.random.default_rng(seed)
        self.biases = [rng.normal(size=(n, 1)) for n in sizes[1:]]
        self.weights = [rng.normal(size=(n, m)) for m, n in zip(sizes[:-1], sizes[1:])]
        self.bug = bug

    def cost(self, x, y):
        a = x
        for b, w in zip(self.biases, self.weights):
            a = _sigmoid(w @ a + b)
        return 0.5 * float(np.sum((a - y) ** 2))

    def backprop(self, x, y):
        activations, zs = [x], []
        for b, w in zip(self.biases, self.weights):
            zs.append(w @ activations[-1] + b)
            activations.append(_sigmoid(zs[-1]))
        nabla_b, nabla_w = [None] * len(self.biases), [None] * len(self.weights)
        s = _sigmoid(zs[-1])
        delta = (activations[-1] - y) * (1.0 if self.bug else s * (1 - s))
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_b[layer], nabla_w[layer] = delta, delta @ activations[layer].T
            if layer:
                s = _sigmoid(zs[layer - 1])
                delta = (self.weights[layer].T @ delta) * s * (1 - s)
        return nabla_b, nabla_w
