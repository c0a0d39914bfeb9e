"""Opt-in: every layer kind's reference backprop against PyTorch autograd, an outside oracle.

Runs only where torch is installed (``pip install torch==2.13.0``); gradcheck never depends
on it. The network is rebuilt here with ``torch.nn.functional`` from the spec alone:
``conv2d`` (cross-correlation), ``max_pool2d``, ``avg_pool2d``, ``batch_norm`` in training
mode (with the unbiased variance, written out in torch ops), ``layer_norm``, ``group_norm``, ``embedding``;
dropout multiplies by gradcheck's fixed mask.
"""

import pytest
from oracles import LAYER_NETS as NETS
from oracles import loss_value
from test_torch_oracle import ACTS
from torch_autograd import assert_backprop_matches

from gradcheck import load_spec

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _act(name, z):
    if name == "softmax":
        return torch.softmax(z, dim=1)
    return ACTS[name](z)


def _unbiased_batch_norm(a, gamma, beta, eps):
    """Batchnorm with Bessel's 1/(n − 1) in the batch variance, in torch ops (F.batch_norm normalises with the biased
    one); n = N, or N·H·W per channel of images."""
    dims = [0, 2, 3] if a.dim() == 4 else [0]
    shape = [1, -1, 1, 1] if a.dim() == 4 else [1, -1]
    mu = a.mean(dim=dims, keepdim=True)
    var = a.var(dim=dims, unbiased=True, keepdim=True)
    return gamma.reshape(shape) * (a - mu) / torch.sqrt(var + eps) + beta.reshape(shape)


def _batch_norm(a, p, o, row):
    if o.get("variance") == "unbiased":
        return _unbiased_batch_norm(a, p["gamma"], p["beta"], o["eps"])
    return F.batch_norm(a, None, None, p["gamma"], p["beta"], training=True, eps=o["eps"])


#: Each kind's forward pass in torch: (a, params, options, row convention) -> z.
OPS = {
    "dense": lambda a, p, o, row: a @ (p["W"] if row else p["W"].T) + (p["b"] if "b" in p else 0),
    "conv2d": lambda a, p, o, row: F.conv2d(a, p["W"], p.get("b"), stride=tuple(o["stride"]), padding=o["padding"]),
    "maxpool2d": lambda a, p, o, row: F.max_pool2d(a, tuple(o["size"]), tuple(o["stride"])),
    "avgpool2d": lambda a, p, o, row: F.avg_pool2d(a, tuple(o["size"]), tuple(o["stride"])),
    "flatten": lambda a, p, o, row: a.reshape(a.shape[0], -1),
    "embedding": lambda a, p, o, row: F.embedding(a, p["W"]),
    "batchnorm": _batch_norm,
    "groupnorm": lambda a, p, o, row: F.group_norm(a, o["groups"], p["gamma"], p["beta"], eps=o["eps"]),
    "layernorm": lambda a, p, o, row: F.layer_norm(a, tuple(a.shape[1:]), p["gamma"], p["beta"], eps=o["eps"]),
    "dropout": lambda a, p, o, row: a * (p["mask"] if a.dim() == 4 or row else p["mask"].T),
}


def torch_loss(spec, params, X, Y):
    """C computed by torch, every array sample-major: (N, features) or (N, C, H, W)."""
    row = spec.convention == "row"
    a = torch.tensor(X if X.ndim == 4 or row or spec.tokens else X.T)
    y = torch.tensor(Y if row else Y.T)
    for ly, p in zip(spec.layers, params):
        op = OPS.get(ly.kind)
        z = a if op is None else op(a, p, ly.options, row)
        a = _act(ly.activation, z) if "activation" in ly.keys else z
    return loss_value(spec.loss, a, y, log=torch.log)


@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_layers_match_torch_autograd(name, convention):
    spec = load_spec({**NETS[name], "convention": convention})
    assert_backprop_matches(spec, torch_loss)
