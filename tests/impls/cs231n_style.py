"""Batched backprop in the style of CS231n's fully-connected nets, with switchable mistakes.

Row convention: X (N, D), W (fan_in, units), b (units,). Hidden layers ``affine - relu``
(or ``affine - tanh`` with ``hidden="tanh"``), output ``affine - softmax`` with the
cross-entropy loss averaged over the batch (the spec's loss "cross_entropy").
"""

import numpy as np


def _softmax(scores):
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def _net(params, X, Y, *, hidden="relu", mistakes=(), at=()):
    def wrong(name, layer):
        return name in mistakes and (not at or layer in at)

    caches, out = [], X
    last = len(params) - 1
    for i, p in enumerate(params):
        z = out @ p["W"] + p["b"]
        caches.append((out, z))
        if i < last:
            out = np.maximum(z, 0) if hidden == "relu" else np.tanh(z)
    probs = _softmax(z)
    n = X.shape[0]
    if wrong("softmax_elementwise", last):
        dprobs = -Y / probs / n
        dscores = dprobs * probs * (1 - probs)
    else:
        dscores = (probs - Y) if wrong("no_mean", last) else (probs - Y) / n
    if wrong("sign", last):
        dscores = -dscores
    grads = [None] * len(params)
    dout = dscores
    for i in reversed(range(len(params))):
        x, z = caches[i]
        p = params[i]
        if i < last:
            a = np.maximum(z, 0) if hidden == "relu" else np.tanh(z)
            if wrong("no_prime", i):
                dz = dout
            elif wrong("sigma_not_prime", i):
                dz = dout * a
            elif hidden == "relu":
                dz = dout.copy()
                dz[z <= 0] = 0
            else:
                dz = dout * (1 - a ** 2)
        else:
            dz = dout
        x_used = (np.maximum(z, 0) if i < last else probs) if wrong("output_not_input", i) else x
        dW = x_used.T @ dz
        if wrong("dw_transposed", i):
            dW = dW.T
        db = dz.sum(axis=0)
        if wrong("db_mean", i):
            db = dz.mean(axis=0)
        if wrong("dw_again", i):
            dW = dW / n
        if wrong("reg", i):
            dW = dW + 2 * 0.05 * p["W"]
        if wrong("db_wrong_axis", i):
            db = dz.sum(axis=1)
        grads[i] = {"W": dW, "b": db}
        dout = dz @ p["W"] if wrong("w_not_transposed", i) else dz @ p["W"].T
    return grads


def correct(params, X, Y):
    return _net(params, X, Y)


def correct_tanh(params, X, Y):
    return _net(params, X, Y, hidden="tanh")


def as_tuples(params, X, Y):
    return [(g["W"], g["b"]) for g in _net(params, X, Y)]


def no_mean(params, X, Y):
    """dscores = probs - y: the 1/N of the averaged loss forgotten."""
    return _net(params, X, Y, mistakes=("no_mean",))


def sign(params, X, Y):
    """dscores = y - probs."""
    return _net(params, X, Y, mistakes=("sign",))


def relu_mask_missing(params, X, Y):
    """The relu backward left out in the first hidden layer."""
    return _net(params, X, Y, mistakes=("no_prime",), at=(0,))


def relu_mask_missing_all(params, X, Y):
    return _net(params, X, Y, mistakes=("no_prime",))


def tanh_prime_missing(params, X, Y):
    return _net(params, X, Y, hidden="tanh", mistakes=("no_prime",), at=(0,))


def tanh_not_prime(params, X, Y):
    """dz = dout * tanh(z): the activation where its derivative belongs."""
    return _net(params, X, Y, hidden="tanh", mistakes=("sigma_not_prime",), at=(0,))


def relu_times_output(params, X, Y):
    """dz = dout * relu(z) where the mask [z > 0] belongs."""
    return _net(params, X, Y, mistakes=("sigma_not_prime",), at=(0,))


def softmax_elementwise(params, X, Y):
    """Cross-entropy's -y/p, then p(1 - p) as if softmax were element-wise."""
    return _net(params, X, Y, mistakes=("softmax_elementwise",))


def w_not_transposed(params, X, Y):
    """dx = dout @ W where dout @ W.T belongs (runs because W1 is square)."""
    return _net(params, X, Y, mistakes=("w_not_transposed",), at=(1,))


def dw_transposed(params, X, Y):
    """dW1 transposed: the same shape (W1 is square), wrong values."""
    return _net(params, X, Y, mistakes=("dw_transposed",), at=(1,))


def dw_transposed_0(params, X, Y):
    """dW0 transposed: a wrong shape."""
    return _net(params, X, Y, mistakes=("dw_transposed",), at=(0,))


def output_not_input(params, X, Y):
    """dW1 = relu(z1).T @ dz: the layer's output where its input belongs (W1 is square)."""
    return _net(params, X, Y, mistakes=("output_not_input",), at=(1,))


def output_not_input_0(params, X, Y):
    """The same in layer 0, whose W is not square: a wrong shape."""
    return _net(params, X, Y, mistakes=("output_not_input",), at=(0,))


def reversed_order(params, X, Y):
    return _net(params, X, Y)[::-1]


def zeros(params, X, Y):
    return [{"W": np.zeros_like(p["W"]), "b": np.zeros_like(p["b"])} for p in params]


def learning_rate(params, X, Y, lr=1e-3):
    """The SGD step -lr * dW returned instead of dW."""
    return [{k: -lr * v for k, v in g.items()} for g in _net(params, X, Y)]


def no_mean_and_relu_mask_missing(params, X, Y):
    return _net(params, X, Y, mistakes=("no_mean", "no_prime"), at=(0, 2))


def db_wrong_axis(params, X, Y):
    """db = dz.sum(axis=1): one value per sample, not per unit."""
    return _net(params, X, Y, mistakes=("db_wrong_axis",), at=(0,))


def one_typo(params, X, Y):
    """dW1[0, 0] doubled: no known mistake, only localised."""
    grads = _net(params, X, Y)
    grads[1]["W"][0, 0] *= 2
    return grads


def dout_scaled_in_hidden(params, X, Y):
    """dout halved on its way into layer 0: no known mistake (a factor in one layer only)."""
    grads = _net(params, X, Y)
    grads[0] = {k: 0.5 * v for k, v in grads[0].items()}
    return grads


def db_mean(params, X, Y):
    """db = dz.mean(axis=0) in every layer: the 1/N of the loss applied a second time, to db only."""
    return _net(params, X, Y, mistakes=("db_mean",))


def dw_divided_again(params, X, Y):
    """dW = x.T @ dz / N in layer 0: dz already holds the 1/N."""
    return _net(params, X, Y, mistakes=("dw_again",), at=(0,))


def weight_decay(params, X, Y):
    """dW += 2·reg·W with reg = 0.05 (CS231n's L2 term), which the spec's loss does not have."""
    return _net(params, X, Y, mistakes=("reg",))


def output_layer_doubled(params, X, Y):
    """The output layer's gradients doubled, the layers below right: no global factor, only localised."""
    grads = _net(params, X, Y)
    grads[2] = {k: 2 * v for k, v in grads[2].items()}
    return grads
