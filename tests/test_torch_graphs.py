"""Opt-in: graphs (add, concat) and sequences (dense per step, layernorm per step, per-step outputs with a mask)
against PyTorch autograd, an outside oracle. Runs only where torch is installed; gradcheck never depends on it.

The networks are written out here in torch from the same params, in the row convention (W is (fan_in, units)).
"""

import numpy as np
import pytest
from torch_autograd import assert_backprop_matches

from gradcheck import load_spec

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
T, D, K, N = 3, 4, 3, 5
X = RNG.normal(size=(N, T, D))
Y = np.eye(K)[RNG.integers(0, K, (N, T))]
MASK = (RNG.random((N, T)) < 0.7).astype(float)
MASK[:, 0] = 1
BLOCK = {"input": {"steps": T, "features": D}, "convention": "row", "loss": "cross_entropy", "layers": [
    {"units": D, "activation": "tanh", "name": "h"},
    {"type": "add", "inputs": ["input", "h"], "name": "r"},
    {"type": "layernorm", "name": "n"},
    {"units": D, "activation": "relu", "name": "g"},
    {"type": "concat", "inputs": ["n", "g"]},
    {"units": K, "activation": "softmax"}],
    "data": {"X": X.tolist(), "Y": Y.tolist(), "mask": MASK.tolist()}}


def _torch_loss(spec, t, Xb, Yb):
    """C of BLOCK by torch, from its params as tensors ``t`` and its batch."""
    x = torch.tensor(Xb)
    h = torch.tanh(x @ t[0]["W"] + t[0]["b"])
    r = x + h
    n = torch.nn.functional.layer_norm(r, (D,), t[2]["gamma"], t[2]["beta"], eps=1e-5)
    g = torch.relu(n @ t[3]["W"] + t[3]["b"])
    c = torch.cat([n, g], dim=-1)
    logp = torch.log_softmax(c @ t[5]["W"] + t[5]["b"], dim=-1)
    return -(logp * torch.tensor(Yb)).sum(-1).mul(torch.tensor(MASK)).sum() / N


def test_a_sequence_block_with_add_concat_layernorm_and_a_mask_matches_torch():
    assert_backprop_matches(load_spec(BLOCK), _torch_loss)


def test_a_sequence_block_passes_the_check():
    from gradcheck import check_network

    result = check_network(load_spec(BLOCK))
    assert result.passed, str(result)
