"""Backprops whose loss options are those of other courses and libraries, right and with their mistakes.

* Nielsen's ``network2.py``: sigmoid layers, the cross-entropy cost summed over the outputs
  and averaged over the mini-batch, C = −1/N Σ_x Σ_j [y ln a + (1 − y) ln(1 − a)] + λ/(2n) Σ w²,
  one sample at a time, column vectors (gradcheck: loss bce, "reduction": "per_sample",
  "regularization": {"l2": λ, "form": "half_n"}, with n the batch's N);
* numpy-ml's style: a softmax classifier whose cross-entropy is summed over the batch
  (``-np.sum(y * np.log(y_pred))``, gradient ``y_pred - y``), row convention
  (gradcheck: "reduction": "sum").
"""

import numpy as np

LAMBDA = 0.5  # the network2 specs' "regularization": {"l2": 0.5, "form": "half_n"}


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _network2(params, X, Y, decay):
    """Per-sample backprop of network2's CrossEntropyCost (δ^L = a − y), nablas averaged, plus ``decay(w, n)``."""
    weights, biases = [p["W"] for p in params], [p["b"][:, None] for p in params]
    n = X.shape[1]
    nabla_w, nabla_b = [np.zeros(w.shape) for w in weights], [np.zeros(b.shape) for b in biases]
    for i in range(n):
        activation, activations, zs = X[:, [i]], [X[:, [i]]], []
        for w, b in zip(weights, biases):
            z = w @ activation + b
            zs.append(z)
            activation = _sigmoid(z)
            activations.append(activation)
        delta = activations[-1] - Y[:, [i]]  # CrossEntropyCost.delta: σ' cancels
        nabla_b[-1] += delta
        nabla_w[-1] += delta @ activations[-2].T
        for layer in range(2, len(weights) + 1):
            sp = _sigmoid(zs[-layer]) * (1 - _sigmoid(zs[-layer]))
            delta = (weights[-layer + 1].T @ delta) * sp
            nabla_b[-layer] += delta
            nabla_w[-layer] += delta @ activations[-layer - 1].T
    return [{"W": nw / n + decay(w, n), "b": nb.ravel() / n} for w, nw, nb in zip(weights, nabla_w, nabla_b)]


def network2(params, X, Y):
    """Right: network2's update (1 − ηλ/n)·w − (η/m)·Σ nabla_w is a step along ∂C/∂w = Σ nabla_w/m + (λ/n)·w."""
    return _network2(params, X, Y, lambda w, n: LAMBDA / n * w)


def network2_decay_without_n(params, X, Y):
    """Wrong for form half_n: the decay λ·w without its 1/n (the gradient of ½λ·Σ w²)."""
    return _network2(params, X, Y, lambda w, n: LAMBDA * w)


def network2_no_decay(params, X, Y):
    """Wrong: the weight decay left out of the gradient."""
    return _network2(params, X, Y, lambda w, n: 0 * w)


def summed_softmax(params, X, Y):
    """Right for "reduction": "sum": numpy-ml's summed cross-entropy, dZ = y_pred − y; Y one-hot or labels."""
    (p,) = params
    z = X @ p["W"] + p["b"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    if np.ndim(Y) == 1:
        Y = np.eye(probs.shape[1])[Y]
    dz = probs - Y
    return [{"W": X.T @ dz, "b": dz.sum(axis=0)}]
