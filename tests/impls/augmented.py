"""Bias folded into W (a constant 1 appended to the input), row convention, sigmoid layers, sse loss.

params [{"W": (fan_in + 1, units)}, ...], the bias weights in the last row.
"""

import numpy as np


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _net(params, X, Y, mistakes=(), at=()):
    def wrong(name, layer):
        return name in mistakes and (not at or layer in at)

    ins, zs, outs = [], [], []
    a = X
    for p in params:
        a1 = np.hstack([a, np.ones((a.shape[0], 1))])
        z = a1 @ p["W"]
        a = _sig(z)
        ins.append(a1)
        zs.append(z)
        outs.append(a)
    err = a - Y
    if wrong("mean", len(params) - 1):
        err = err / X.shape[0]
    grads = [None] * len(params)
    da = err
    for i in reversed(range(len(params))):
        a = outs[i]
        if wrong("prime_of_a", i):
            delta = da * _sig(a) * (1 - _sig(a))
        elif wrong("no_prime", i):
            delta = da
        else:
            delta = da * a * (1 - a)
        grads[i] = {"W": ins[i].T @ delta}
        W = params[i]["W"][:-1]  # without the bias row
        da = delta @ W if wrong("w_not_transposed", i) else delta @ W.T
    return grads


def correct(params, X, Y):
    return _net(params, X, Y)


def prime_of_a(params, X, Y):
    return _net(params, X, Y, ("prime_of_a",))


def prime_of_a_output(params, X, Y):
    return _net(params, X, Y, ("prime_of_a",), (len(params) - 1,))


def no_prime_hidden(params, X, Y):
    return _net(params, X, Y, ("no_prime",), (0,))


def averaged(params, X, Y):
    """err / N: the quadratic loss's gradient for an sse spec."""
    return _net(params, X, Y, ("mean",))


def w_not_transposed(params, X, Y):
    """Carries δ back through W[:-1] untransposed (square without the bias row)."""
    return _net(params, X, Y, ("w_not_transposed",), (1,))


def bias_row_in_carry(params, X, Y):
    """δ carried back through the whole W, bias row included, then the extra column dropped: unknown mistake."""
    grads = _net(params, X, Y)
    ins, a = [], X
    for p in params:
        a1 = np.hstack([a, np.ones((a.shape[0], 1))])
        ins.append(a1)
        a = _sig(a1 @ p["W"])
    delta = (a - Y) * a * (1 - a)
    da = (delta @ params[1]["W"].T)[:, 1:]  # the wrong slice
    h = _sig(ins[0] @ params[0]["W"])
    grads[0] = {"W": ins[0].T @ (da * h * (1 - h))}
    return grads
