"""A per-sample network in the style of Nielsen's ``network.py`` (chapter 2), with switchable mistakes.

Column vectors throughout: x (n_in, 1), weights[l] (units, fan_in), biases[l] (units, 1).
``backprop(x, y)`` returns ``(nabla_b, nabla_w)`` for one sample of the quadratic cost
½‖a − y‖², biases first, as the book's code does. ``mistakes`` names what to get wrong
(see ``MISTAKES``), each optionally at chosen layers (``{"prime_of_a": {0, 1}}``).
"""

import numpy as np

MISTAKES = ("prime_of_a", "no_prime", "sigma_not_prime", "output_not_input", "w_not_transposed",
            "dw_transposed", "sign", "prime_squared", "zs_off_by_one")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    return sigmoid(z) * (1 - sigmoid(z))


class Network:
    def __init__(self, weights, biases, mistakes=None):
        self.weights, self.biases = weights, biases
        self.num_layers = len(weights) + 1
        self.mistakes = mistakes or {}

    def _wrong(self, name, layer):
        where = self.mistakes.get(name)
        return where is not None and (where == "all" or layer in where)

    def feedforward(self, a):
        for b, w in zip(self.biases, self.weights):
            a = sigmoid(np.dot(w, a) + b)
        return a

    def backprop(self, x, y):
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        activation = x
        activations = [x]
        zs = []
        for b, w in zip(self.biases, self.weights):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        last = len(self.weights) - 1
        delta = self.cost_derivative(activations[-1], y) * self._prime(zs, activations, last)
        nabla_b[-1] = delta
        nabla_w[-1] = self._outer(delta, activations, last)
        for l in range(2, self.num_layers):  # noqa: E741 - the book's name
            layer = last - l + 1
            w = self.weights[-l + 1]
            back = np.dot(w, delta) if self._wrong("w_not_transposed", layer + 1) else np.dot(w.transpose(), delta)
            delta = back * self._prime(zs, activations, layer)
            nabla_b[-l] = delta
            nabla_w[-l] = self._outer(delta, activations, layer)
        if self.mistakes.get("sign"):
            nabla_b, nabla_w = [-g for g in nabla_b], [-g for g in nabla_w]
        return (nabla_b, nabla_w)

    def _prime(self, zs, activations, layer):
        z = zs[layer]
        if self._wrong("no_prime", layer):
            return 1.0
        if self._wrong("prime_of_a", layer):
            return sigmoid_prime(activations[layer + 1])
        if self._wrong("sigma_not_prime", layer):
            return sigmoid(z)
        if self._wrong("prime_squared", layer):
            return sigmoid_prime(z) ** 2
        if self._wrong("zs_off_by_one", layer) and layer + 1 < len(zs):
            return sigmoid_prime(zs[layer + 1])
        return sigmoid_prime(z)

    def _outer(self, delta, activations, layer):
        a = activations[layer + 1] if self._wrong("output_not_input", layer) else activations[layer]
        dw = np.dot(delta, a.transpose())
        return dw.transpose() if self._wrong("dw_transposed", layer) else dw

    def cost_derivative(self, output_activations, y):
        return output_activations - y
