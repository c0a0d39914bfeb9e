"""Opt-in: the parameterised and new activations against PyTorch, an outside oracle.

Runs only where torch is installed (``pip install torch==2.13.0``); gradcheck never depends
on it. torch.nn.functional's elu, selu, gelu (approximate "none" and "tanh") and leaky_relu
(negative_slope) against the catalogue's forms, and a network's reference backprop against autograd.
"""

import numpy as np
import pytest
from oracles import loss_value
from torch_autograd import assert_backprop_matches

from gradcheck import load_spec
from gradcheck.catalogue import ACTIVATIONS

torch = pytest.importorskip("torch")
F = torch.nn.functional

CONFIGS = [("leaky_relu", {}), ("leaky_relu", {"slope": 0.2}), ("elu", {}), ("elu", {"alpha": 0.5}), ("selu", {}),
           ("gelu", {}), ("gelu_tanh", {})]


def torch_act(act, z):
    s = act.settings
    if act.name == "leaky_relu":
        return F.leaky_relu(z, negative_slope=s["slope"])
    if act.name == "elu":
        return F.elu(z, alpha=s["alpha"])
    if act.name == "selu":
        return F.selu(z)
    if act.name == "gelu":
        return F.gelu(z, approximate="none")
    if act.name == "gelu_tanh":
        return F.gelu(z, approximate="tanh")
    return {"linear": lambda z: z, "tanh": torch.tanh}[act.name](z)


@pytest.mark.parametrize(("name", "keys"), CONFIGS)
def test_forward_and_derivative_match_torch(name, keys):
    act = ACTIVATIONS[name].configured(**keys)
    z = np.concatenate([np.linspace(-12, 6, 721) + 0.003, [-30.0, -9.5, 9.5]])
    tz = torch.tensor(z, requires_grad=True)
    ta = torch_act(act, tz)
    ta.sum().backward()
    a = act.forward(z)
    np.testing.assert_allclose(a, ta.detach().numpy(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(act.derivative(z, a), tz.grad.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize(("name", "keys"), CONFIGS)
def test_a_network_matches_torch_autograd(name, keys):
    layers = [{"units": 4, "activation": name, **keys}, {"units": 2, "activation": "tanh"}]
    spec = load_spec({"input": 3, "layers": layers, "loss": "mse", "convention": "row", "batch": 5, "seed": 11})

    def torch_loss(spec, tparams, X, Y):
        a = torch.tensor(X)
        for ly, p in zip(spec.layers, tparams):
            a = torch_act(ly.act, a @ p["W"] + p["b"])
        return loss_value(spec.loss, a, torch.tensor(Y), log=torch.log)

    assert_backprop_matches(spec, torch_loss, rtol=1e-10)
