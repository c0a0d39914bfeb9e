"""Opt-in: graphs (add, concat) and sequences (dense per step, layernorm per step, per-step outputs with a mask)
against PyTorch autograd, an outside oracle. Runs only where torch is installed; gradcheck never depends on it.

The networks are written out here in torch from the same params, in the row convention (W is (fan_in, units)).
"""

import numpy as np
import pytest

from gradcheck import load_spec
from gradcheck.reference.backprop import backprop

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


def _torch_grads(params):
    t = [{k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in p.items()} for p in params]
    x = torch.tensor(X)
    h = torch.tanh(x @ t[0]["W"] + t[0]["b"])
    r = x + h
    n = torch.nn.functional.layer_norm(r, (D,), t[2]["gamma"], t[2]["beta"], eps=1e-5)
    g = torch.relu(n @ t[3]["W"] + t[3]["b"])
    c = torch.cat([n, g], dim=-1)
    logp = torch.log_softmax(c @ t[5]["W"] + t[5]["b"], dim=-1)
    loss = -(logp * torch.tensor(Y)).sum(-1).mul(torch.tensor(MASK)).sum() / N
    loss.backward()
    return float(loss.detach()), [{k: v.grad.numpy() for k, v in p.items()} for p in t]


def test_a_sequence_block_with_add_concat_layernorm_and_a_mask_matches_torch():
    spec = load_spec(BLOCK)
    params, (Xb, Yb) = spec.parameters(), spec.batch_data()
    C, grads = backprop(spec, params, Xb, Yb)
    C_t, grads_t = _torch_grads(params)
    assert C == pytest.approx(C_t, rel=1e-12)
    for g, gt in zip(grads, grads_t):
        assert set(g) == set(gt)
        for key in g:
            np.testing.assert_allclose(g[key], gt[key], rtol=1e-9, atol=1e-13)


def test_a_sequence_block_passes_the_check():
    from gradcheck import check_network

    result = check_network(load_spec(BLOCK))
    assert result.passed, str(result)
