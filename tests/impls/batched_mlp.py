"""Batched backprop in the column convention (X (inputs, N), W (units, fan_in)), with switchable mistakes.

The hidden activation and the output/loss pair are chosen per function, as a learner's
code hard-wires them: ``tanh`` / ``softplus`` / ``leaky_relu`` hidden layers, and a
sigmoid output with bce, a linear output with mse, or a tanh output with the quadratic
cost. ``bias`` "none" networks take params without b.
"""

import numpy as np

ACT = {
    "tanh": (np.tanh, lambda z, a: 1 - a ** 2),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z, a: a * (1 - a)),
    "softplus": (lambda z: np.logaddexp(0, z), lambda z, a: 1 / (1 + np.exp(-z))),
    "leaky_relu": (lambda z: np.where(z > 0, z, 0.01 * z), lambda z, a: np.where(z > 0, 1.0, 0.01)),
    "linear": (lambda z: z, lambda z, a: np.ones_like(z)),
}


def _net(params, X, Y, hidden, output, loss, mistakes=(), at=None):
    def wrong(name, layer):  # ``at``: the layers of every mistake, or {mistake: layers}
        where = at.get(name, ()) if isinstance(at, dict) else at
        return name in mistakes and (where is None or layer in where)

    acts, zs, a = [X], [], X
    last = len(params) - 1
    for i, p in enumerate(params):
        z = p["W"] @ a + (p["b"][:, None] if "b" in p else 0)
        a = ACT[output if i == last else hidden][0](z)
        zs.append(z)
        acts.append(a)
    k, n = Y.shape
    if loss == "bce":
        da = (a - Y) / (a * (1 - a)) / (n * k)
        if wrong("bce_mean_over_n", last):
            da = da * k
        if wrong("quadratic_for_bce", last):
            da = (a - Y) / n
    elif loss == "mse":
        da = 2 * (a - Y) / (n * k)
        if wrong("mse_no_two", last):
            da = da / 2
    else:
        da = (a - Y) / n
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        z, a = zs[i], acts[i + 1]
        name = output if i == last else hidden
        fn, prime = ACT[name]
        if wrong("prime_of_a", i):
            delta = da * prime(a, fn(a))
        elif wrong("no_prime", i):
            delta = da
        elif wrong("formula_on_z", i):
            delta = da * prime(z, z)
        elif wrong("sigma_not_prime", i):
            delta = da * a
        else:
            delta = da * prime(z, a)
        paired = a if wrong("output_not_input", i) else acts[i]
        dW = delta @ paired.T
        if wrong("dw_transposed", i):
            dW = dW.T
        grads[i] = {"W": dW}
        if "b" in params[i]:
            grads[i]["b"] = delta.sum(axis=1)
        W = params[i]["W"]
        da = (W @ delta) if wrong("w_not_transposed", i) else (W.T @ delta)
    return grads


def _make(hidden, output, loss, *mistakes, at=None):
    def fn(params, X, Y):
        return _net(params, X, Y, hidden, output, loss, mistakes, at)
    return fn


# tanh hidden, sigmoid output, bce
tanh_bce_correct = _make("tanh", "sigmoid", "bce")
tanh_bce_prime_of_a_hidden = _make("tanh", "sigmoid", "bce", "prime_of_a", at={0, 1})
tanh_bce_no_prime_0 = _make("tanh", "sigmoid", "bce", "no_prime", at={0})
tanh_bce_quadratic_for_bce = _make("tanh", "sigmoid", "bce", "quadratic_for_bce")
tanh_bce_mean_over_n = _make("tanh", "sigmoid", "bce", "bce_mean_over_n")
tanh_bce_w_not_transposed = _make("tanh", "sigmoid", "bce", "w_not_transposed", at={1})
tanh_bce_output_not_input_1 = _make("tanh", "sigmoid", "bce", "output_not_input", at={1})
# softplus hidden, linear output, mse
softplus_mse_correct = _make("softplus", "linear", "mse")
softplus_mse_no_two = _make("softplus", "linear", "mse", "mse_no_two")
softplus_mse_prime_of_a = _make("softplus", "linear", "mse", "prime_of_a", at={0})
softplus_mse_sigma_not_prime = _make("softplus", "linear", "mse", "sigma_not_prime", at={1})
softplus_mse_dw_transposed = _make("softplus", "linear", "mse", "dw_transposed", at={1})
# leaky relu hidden, tanh output, quadratic
leaky_quadratic_no_prime_all = _make("leaky_relu", "tanh", "quadratic", "no_prime")
leaky_quadratic_prime_of_a_output = _make("leaky_relu", "tanh", "quadratic", "prime_of_a", at={2})


def leaky_quadratic_mixed(params, X, Y):
    """σ'(a) in the tanh output layer, and the leaky relu derivative left out in layer 0."""
    return _net(params, X, Y, "leaky_relu", "tanh", "quadratic", ("prime_of_a", "no_prime"),
                {"prime_of_a": {2}, "no_prime": {0}})
tanh_bce_formula_on_z = _make("tanh", "sigmoid", "bce", "formula_on_z", at={0})
tanh_bce_formula_on_z_all = _make("tanh", "sigmoid", "bce", "formula_on_z")
