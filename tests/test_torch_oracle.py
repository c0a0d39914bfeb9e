"""Opt-in: the reference backprop against PyTorch autograd, an outside oracle.

Runs only where torch is installed (``pip install torch==2.13.0``); gradcheck never
depends on it. The network is rebuilt here in torch from the spec's description alone.
"""

import itertools

import pytest
from oracles import BIASES, CONVENTIONS, loss_value
from torch_autograd import assert_backprop_matches

from gradcheck import load_spec

torch = pytest.importorskip("torch")

ACTS = {
    "linear": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu,
    "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01), "softplus": torch.nn.functional.softplus,
}


def torch_loss(spec, params, X, Y):
    """C computed by torch from the samples-as-rows data, whatever the spec's convention."""
    a = torch.tensor(spec.conv.to_samples(X))
    y = torch.tensor(spec.conv.to_samples(Y))
    for ly, p in zip(spec.layers, params):
        W = p["W"] if spec.convention == "row" else p["W"].T  # (fan_in[+1], units)
        if spec.bias.name == "augmented":
            a = torch.cat([a, torch.ones(a.shape[0], 1, dtype=a.dtype)], dim=1)
        z = a @ W + (p["b"] if "b" in p else 0)
        a = torch.softmax(z, dim=1) if ly.activation == "softmax" else ACTS[ly.activation](z)
    return loss_value(spec.loss, a, y, log=torch.log)


CASES = [("sigmoid", "linear", "mse"), ("tanh", "sigmoid", "quadratic"), ("relu", "tanh", "sse"),
         ("leaky_relu", "softmax", "cross_entropy"), ("softplus", "sigmoid", "bce")]


@pytest.mark.parametrize(("hidden", "out", "loss"), CASES)
@pytest.mark.parametrize(("convention", "bias"), list(itertools.product(CONVENTIONS, BIASES)))
def test_backprop_matches_torch_autograd(hidden, out, loss, convention, bias):
    spec = load_spec({"input": 3, "layers": [{"units": 4, "activation": hidden}, {"units": 3, "activation": out}],
                      "loss": loss, "convention": convention, "bias": bias, "batch": 5, "seed": 7})
    assert_backprop_matches(spec, torch_loss, rtol=1e-10)
