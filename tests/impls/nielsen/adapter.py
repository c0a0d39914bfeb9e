"""Calls the Nielsen-style ``network.Network.backprop`` once per sample, as a gradcheck ``--impl``.

Spec: every layer sigmoid, column convention, loss "quadratic" (C = 1/(2N) Σ‖a − y‖²),
which is what ``update_mini_batch`` averages. ``nabla_*`` of the samples are summed and
divided by N, and returned as Nielsen's ``(nabla_b, nabla_w)`` pair.
"""

import numpy as np
from network import Network


def _run(params, X, Y, mistakes=None, mean=True, pair=True):
    net = Network([p["W"] for p in params], [p["b"][:, None] for p in params], mistakes)
    nabla_b = [np.zeros(b.shape) for b in net.biases]
    nabla_w = [np.zeros(w.shape) for w in net.weights]
    n = X.shape[1]
    for i in range(n):
        delta_nabla_b, delta_nabla_w = net.backprop(X[:, [i]], Y[:, [i]])
        nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_nabla_b)]
        nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_nabla_w)]
    scale = 1.0 / n if mean else 1.0
    nabla_b = [scale * nb for nb in nabla_b]
    nabla_w = [scale * nw for nw in nabla_w]
    if pair:
        return (nabla_b, nabla_w)
    return [{"W": w, "b": b.ravel()} for b, w in zip(nabla_b, nabla_w)]


def backprop(params, X, Y):
    """Correct: the book's pair, returned as it is."""
    return _run(params, X, Y)


def backprop_dicts(params, X, Y):
    return _run(params, X, Y, pair=False)


def summed(params, X, Y):
    """No division by the mini-batch size (the book's update divides by len(mini_batch))."""
    return _run(params, X, Y, mean=False)


def overwrites(params, X, Y):
    """nabla_b = delta_nabla_b: each sample overwrites the sum instead of adding to it."""
    net = Network([p["W"] for p in params], [p["b"][:, None] for p in params])
    n = X.shape[1]
    for i in range(n):
        nabla_b, nabla_w = net.backprop(X[:, [i]], Y[:, [i]])
    return ([nb / n for nb in nabla_b], [nw / n for nw in nabla_w])


def returns_in_loop(params, X, Y):
    """The return statement indented into the loop: the first sample's gradient only."""
    net = Network([p["W"] for p in params], [p["b"][:, None] for p in params])
    for i in range(X.shape[1]):
        nabla_b, nabla_w = net.backprop(X[:, [i]], Y[:, [i]])
        return (nabla_b, nabla_w)


def reversed_layers(params, X, Y):
    """Right values, listed output layer first."""
    return _run(params, X, Y, pair=False)[::-1]


def zeros(params, X, Y):
    """The accumulators returned before anything was added to them."""
    net = Network([p["W"] for p in params], [p["b"][:, None] for p in params])
    return ([np.zeros(b.shape) for b in net.biases], [np.zeros(w.shape) for w in net.weights])


def learning_rate(params, X, Y, eta=3.0):
    """The update eta/len(mini_batch) * nabla returned instead of the gradient."""
    nabla_b, nabla_w = _run(params, X, Y, mean=False)
    m = X.shape[1]
    return ([eta / m * nb for nb in nabla_b], [eta / m * nw for nw in nabla_w])


def make(name, layers="all"):
    """An adapter whose network makes mistake ``name`` in ``layers`` ("all", or a set of layer indices)."""
    def fn(params, X, Y):
        return _run(params, X, Y, {name: layers})
    fn.__name__ = f"{name}_{'all' if layers == 'all' else '_'.join(map(str, sorted(layers)))}"
    return fn


prime_of_a_all = make("prime_of_a")
prime_of_a_hidden = make("prime_of_a", {0, 1})
prime_of_a_output = make("prime_of_a", {2})
prime_of_a_first = make("prime_of_a", {0})
no_prime_output = make("no_prime", {2})
no_prime_hidden = make("no_prime", {1})
no_prime_all = make("no_prime")
sigma_not_prime_hidden = make("sigma_not_prime", {0, 1})
output_not_input_0 = make("output_not_input", {0})
w_not_transposed_1 = make("w_not_transposed", {1})
dw_transposed_0 = make("dw_transposed", {0})
sign = make("sign", {0})
prime_squared_1 = make("prime_squared", {1})
zs_off_by_one_0 = make("zs_off_by_one", {0})
mixed = make("prime_of_a", {1})


def mixed_two(params, X, Y):
    """σ'(a) in layer 2 and σ' left out in layer 0."""
    return _run(params, X, Y, {"prime_of_a": {2}, "no_prime": {0}})


def raises(params, X, Y):
    """Wrong shapes inside network.py: the error is raised there, not here."""
    return _run([{"W": p["W"].T, "b": p["b"]} for p in params], X, Y)
