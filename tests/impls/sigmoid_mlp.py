"""A user's hand-written backprop for an all-sigmoid network with the quadratic cost, and its usual mistakes.

The network: every layer dense with sigmoid, bias "separate", loss "quadratic"
C = 1/(2N) Σ_n ‖a_n − y_n‖². Written the way a learner writes it (Nielsen, chapter 2),
without any help from gradcheck. ``*_column`` functions take the column convention
(X (input, N), W (units, fan_in)); ``*_row`` functions the row convention (X (N, input),
W (fan_in, units)). Each wrong variant makes exactly one known mistake.
"""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z):
    s = sigmoid(z)
    return s * (1.0 - s)


def _column(params, X, Y, *, prime_of_a=(), no_prime=(), sigma_not_prime=(), prime_squared=(), use_output=(),
            mean=True, loss="quadratic"):
    """Column-convention backprop; the keyword arguments name the layers that make a mistake.

    ``loss`` "quadratic" is C = 1/(2N) Σ‖a − y‖², "mse" is C = 1/(N·K) Σ Σ (a − y)².
    """
    k, n = Y.shape
    a, acts, zs = X, [X], []
    for p in params:
        z = p["W"] @ a + p["b"][:, None]
        a = sigmoid(z)
        zs.append(z)
        acts.append(a)
    grads = [None] * len(params)
    da = (acts[-1] - Y) / (n if mean else 1)
    if loss == "mse":
        da = 2 * da / k
    for layer in reversed(range(len(params))):
        z, a = zs[layer], acts[layer + 1]
        if layer in no_prime:
            delta = da
        elif layer in sigma_not_prime:
            delta = da * sigmoid(z)
        elif layer in prime_squared:
            delta = da * sigmoid_prime(z) ** 2
        elif layer in prime_of_a:
            delta = da * sigmoid_prime(a)
        else:
            delta = da * sigmoid_prime(z)
        paired = a if layer in use_output else acts[layer]
        grads[layer] = {"W": delta @ paired.T, "b": delta.sum(axis=1)}
        da = params[layer]["W"].T @ delta
    return grads


def _row(params, X, Y, **mistakes):
    """Row convention: the same maths on transposed arrays (X (N, input), W (fan_in, units))."""
    col = _column([{"W": p["W"].T, "b": p["b"]} for p in params], X.T, Y.T, **mistakes)
    return [{"W": g["W"].T, "b": g["b"]} for g in col]


def good_column(params, X, Y):
    return _column(params, X, Y)


def good_row(params, X, Y):
    return _row(params, X, Y)


def good_tuples_row(params, X, Y):
    """Also accepted: one (dW, db) tuple per layer."""
    return [(g["W"], g["b"]) for g in _row(params, X, Y)]


def prime_of_a_output_column(params, X, Y):
    """σ'(a) = σ'(σ(z)) in the output layer."""
    return _column(params, X, Y, prime_of_a={len(params) - 1})


def prime_of_a_hidden_row(params, X, Y):
    """σ'(a) in the first (hidden) layer only."""
    return _row(params, X, Y, prime_of_a={0})


def prime_of_a_everywhere_column(params, X, Y):
    """σ'(a) in every layer: the way the mistake is usually made (one sigmoid_prime helper)."""
    return _column(params, X, Y, prime_of_a=set(range(len(params))))


def no_prime_output_row(params, X, Y):
    """δ^L = ∂C/∂a, the σ'(z) factor left out."""
    return _row(params, X, Y, no_prime={len(params) - 1})


def no_prime_hidden_column(params, X, Y):
    return _column(params, X, Y, no_prime={0})


def sum_not_mean_row(params, X, Y):
    """Per-sample gradients summed, not averaged: N times too large."""
    return _row(params, X, Y, mean=False)


def sum_not_mean_column(params, X, Y):
    return _column(params, X, Y, mean=False)


def good_mse_column(params, X, Y):
    """For loss "mse"."""
    return _column(params, X, Y, loss="mse")


def sum_not_mean_mse_column(params, X, Y):
    """For loss "mse": 2(a − y)/K summed over the samples, not averaged."""
    return _column(params, X, Y, loss="mse", mean=False)


def sigma_not_prime_hidden_column(params, X, Y):
    """δ^l = (W^{l+1}ᵀ δ^{l+1}) ⊙ σ(z^l): σ where σ' belongs in the hidden layers (the OR-gate question's typo)."""
    return _column(params, X, Y, sigma_not_prime=set(range(len(params) - 1)))


def prime_squared_hidden_column(params, X, Y):
    """δ^0 = (W^1ᵀ δ^1) ⊙ σ'(z)²: no known mistake, only localised."""
    return _column(params, X, Y, prime_squared={0})


def sign_flipped_column(params, X, Y):
    """Built from the error y − a (target minus output)."""
    return [{k: -v for k, v in g.items()} for g in _column(params, X, Y)]


def learning_rate_row(params, X, Y):
    """Returns the update η·∇C with η = 0.03 instead of ∇C."""
    return [{k: 0.03 * v for k, v in g.items()} for g in _row(params, X, Y)]


def slightly_off_column(params, X, Y):
    """Every element 3e-4 relative too large (e.g. float32 arithmetic somewhere): only a tight rtol fails it."""
    return [{k: v * (1 + 3e-4) for k, v in g.items()} for g in _column(params, X, Y)]


def offset_column(params, X, Y):
    """Every element off by 1e-6 absolute: fails the default atol of 1e-7 on small gradients."""
    return [{k: v + 1e-6 for k, v in g.items()} for g in _column(params, X, Y)]


def one_element_wrong_column(params, X, Y):
    """dW1[0, 1] off by 10% (a typo in one index); everything else right."""
    grads = _column(params, X, Y)
    grads[1]["W"][0, 1] *= 1.1
    return grads


def outputs_not_inputs_column(params, X, Y):
    """dW0 = δ·aᵀ with the layer's own output a (the kron(outputs.T, delta) mistake); W0 must be square."""
    return _column(params, X, Y, use_output={0})


def outputs_not_inputs_row(params, X, Y):
    return _row(params, X, Y, use_output={0})


def delta_as_dw_column(params, X, Y):
    """dW0 of shape (units, 1): δ summed over the batch where δ·a_prevᵀ belongs (the "2x1 gradient")."""
    grads = _column(params, X, Y)
    grads[0]["W"] = grads[0]["b"][:, None]
    return grads


def transposed_dw_column(params, X, Y):
    """dW1 returned transposed (W1 must not be square)."""
    grads = _column(params, X, Y)
    grads[1]["W"] = grads[1]["W"].T
    return grads


def transposed_dw_square_row(params, X, Y):
    """dW0 returned transposed where W0 is square: same shape, wrong values."""
    grads = _row(params, X, Y)
    grads[0]["W"] = grads[0]["W"].T.copy()
    return grads


def db_not_summed_row(params, X, Y):
    """db0 = δ of every sample, (N, units), not summed over the batch."""
    col = _column([{"W": p["W"].T, "b": p["b"]} for p in params], X.T, Y.T)
    grads = [{"W": g["W"].T, "b": g["b"]} for g in col]
    # Recompute δ0 per sample (row layout (N, units)).
    a, acts, zs = X, [X], []
    for p in params:
        z = a @ p["W"] + p["b"]
        a = sigmoid(z)
        zs.append(z)
        acts.append(a)
    n = X.shape[0]
    delta = (acts[-1] - Y) / n * sigmoid_prime(zs[-1])
    for layer in reversed(range(1, len(params))):
        delta = (delta @ params[layer]["W"].T) * sigmoid_prime(zs[layer - 1])
    grads[0]["b"] = delta
    return grads


def db_column_matrix_column(params, X, Y):
    """db0 of shape (units, 1) (keepdims=True)."""
    grads = _column(params, X, Y)
    grads[0]["b"] = grads[0]["b"][:, None]
    return grads


def too_few_entries_column(params, X, Y):
    """Only the output layer's gradients."""
    return _column(params, X, Y)[-1:]


def missing_b_column(params, X, Y):
    grads = _column(params, X, Y)
    del grads[0]["b"]
    return grads


def nan_result_column(params, X, Y):
    grads = _column(params, X, Y)
    grads[1]["W"][0, 1] = np.nan
    return grads


def returns_none(params, X, Y):
    return None


def raises_column(params, X, Y):
    grads = _column(params, X, Y)
    return grads[0]["W"] @ grads[1]["W"]  # RAISES HERE: (3,3) @ (2,3) does not multiply
