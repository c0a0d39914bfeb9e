"""Seed 002: input and output layer only, sigmoid, sse, bias folded into the input (augmented), row convention.

params [{"W": (inputs + 1, outputs)}], the bias weights in the last row; X (N, inputs), Y (N, outputs).
"""

import numpy as np


def _feedforward(W, X):
    inputs = np.concatenate([X, np.ones((X.shape[0], 1))], axis=1)  # the 1 for the bias
    net = inputs @ W
    outputs = 1.0 / (1.0 + np.exp(-net))
    return inputs, net, outputs


def _delta(W, X, Y):
    inputs, _, outputs = _feedforward(W, X)
    error_vector = outputs - Y  # ∂C/∂outputs for C = ½ Σ ‖outputs − targets‖²
    return inputs, outputs, error_vector * outputs * (1 - outputs)  # hadamard(error, activation_diff(net))


def inputs_t_delta(params, X, Y):
    """The asker's fix: inputs (with the 1 appended) transposed, times delta."""
    inputs, _, delta = _delta(params[0]["W"], X, Y)
    return [{"W": inputs.T @ delta}]


def kron_outputs_t_delta(params, X, Y):
    """The guide's weights_delta = kronecker(transpose(outputs), delta), one sample at a time, summed."""
    _, outputs, delta = _delta(params[0]["W"], X, Y)
    dW = sum(np.kron(outputs[n:n + 1].T, delta[n:n + 1]) for n in range(len(X)))
    return [{"W": dW}]


def kron_batch(params, X, Y):
    """kronecker(transpose(outputs), delta) on the whole batch at once."""
    _, outputs, delta = _delta(params[0]["W"], X, Y)
    return [{"W": np.kron(outputs.T, delta)}]


def learning_rate_update(params, X, Y, eta=0.5):
    """What the guide's function returns: η·(t − z)·f'·inputs, the update to add, not the gradient."""
    inputs, _, delta = _delta(params[0]["W"], X, Y)
    return [{"W": eta * (inputs.T @ -delta)}]
