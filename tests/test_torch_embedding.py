"""Opt-in: the embedding layer's reference backprop against PyTorch autograd (``torch.nn.functional.embedding``).

Runs only where torch is installed (``pip install torch==2.13.0``); gradcheck never depends on it. The
network is makemore's MLP (embedding, flatten, dense, batchnorm, tanh, dense softmax), rebuilt here from
the spec, on batches where token ids repeat.
"""

import numpy as np
import pytest
from oracles import loss_value
from torch_autograd import assert_backprop_matches

from gradcheck import load_spec

torch = pytest.importorskip("torch")
F = torch.nn.functional

NET = {"input": {"steps": 3, "vocab": 7}, "loss": "cross_entropy", "batch": 9, "seed": 11,
       "layers": [{"type": "embedding", "dim": 3}, {"type": "flatten"}, {"type": "dense", "units": 5},
                  {"type": "batchnorm"}, {"type": "activation", "activation": "tanh"},
                  {"type": "dense", "units": 7, "activation": "softmax"}]}


def torch_loss(spec, params, X, Y):
    """C by torch, sample-major: ids (N, T), every other batch (N, ...)."""
    row = spec.convention == "row"
    a, y = torch.tensor(X), torch.tensor(Y if row else Y.T)
    for ly, p in zip(spec.layers, params):
        if ly.kind == "embedding":
            z = F.embedding(a, p["W"])  # W (V, E) in both conventions
        elif ly.kind == "flatten":
            z = a.reshape(a.shape[0], -1)
        elif ly.kind == "dense":
            z = a @ (p["W"] if row else p["W"].T) + (p["b"] if "b" in p else 0)
        elif ly.kind == "batchnorm":
            z = F.batch_norm(a, None, None, p["gamma"], p["beta"], training=True, eps=ly.options["eps"])
        else:
            z = a
        if ly.activation == "softmax":
            a = torch.softmax(z, dim=1)
        elif ly.activation == "tanh":
            a = torch.tanh(z)
        else:
            a = z
    return loss_value(spec.loss, a, y, log=torch.log)


@pytest.mark.parametrize("bias", ["separate", "none"])
@pytest.mark.parametrize("convention", ["column", "row"])
def test_embedding_matches_torch_autograd(convention, bias):
    spec = load_spec({**NET, "convention": convention, "bias": bias})
    X, Y = spec.batch_data()
    assert len(np.unique(X)) < X.size  # repeated ids: torch adds their gradients up too
    assert_backprop_matches(spec, torch_loss, data=(X, Y))
