"""Opt-in: the rnn and gru kinds' reference backprop against PyTorch autograd, an outside oracle.

Runs only where torch is installed (``pip install torch==2.13.0``); gradcheck never depends
on it. The rnn with tanh or relu is ``torch.nn.RNN`` with gradcheck's weights loaded (its
second bias held at 0); sigmoid inside, and d2l's GRU (whose reset gate multiplies h before
Whh, where ``torch.nn.GRU`` multiplies Whh·h), are written out step by step in torch.
"""

import pytest
from torch_autograd import assert_backprop_matches

from gradcheck import load_spec

torch = pytest.importorskip("torch")

NETS = {
    "rnn_tanh": {"type": "rnn", "units": 3, "activation": "tanh"},
    "rnn_relu": {"type": "rnn", "units": 3, "activation": "relu"},
    "rnn_sigmoid": {"type": "rnn", "units": 2, "activation": "sigmoid"},
    "gru": {"type": "gru", "units": 3},
}


def _rows(W, row):
    return W if row else W.T


def _rnn(x, p, act, row):
    Wx, Wh, b = _rows(p["Wx"], row), _rows(p["Wh"], row), p["b"]
    if act in ("tanh", "relu"):
        H = Wh.shape[0]
        net = torch.nn.RNN(Wx.shape[0], H, nonlinearity=act, batch_first=True, dtype=torch.float64)
        weights = {"weight_ih_l0": Wx.T, "weight_hh_l0": Wh.T, "bias_ih_l0": b,
                   "bias_hh_l0": torch.zeros(H, dtype=torch.float64)}
        return torch.func.functional_call(net, weights, (x,))[0]
    h, out = torch.zeros(x.shape[0], Wh.shape[0], dtype=torch.float64), []
    for t in range(x.shape[1]):
        h = torch.sigmoid(x[:, t] @ Wx + h @ Wh + b)
        out.append(h)
    return torch.stack(out, dim=1)


def _gru(x, p, row):
    Wx, Wh, b = _rows(p["Wx"], row), _rows(p["Wh"], row), p["b"]
    H = Wh.shape[0]
    h, out = torch.zeros(x.shape[0], H, dtype=torch.float64), []
    for t in range(x.shape[1]):
        a = x[:, t] @ Wx + b
        r = torch.sigmoid(a[:, :H] + h @ Wh[:, :H])
        z = torch.sigmoid(a[:, H:2 * H] + h @ Wh[:, H:2 * H])
        c = torch.tanh(a[:, 2 * H:] + (r * h) @ Wh[:, 2 * H:])
        h = z * h + (1 - z) * c
        out.append(h)
    return torch.stack(out, dim=1)


def _loss(spec, tparams, X, Y):
    """rnn/gru (every state) -> dense per step -> softmax, cross-entropy summed over steps, averaged over N."""
    row = spec.convention == "row"
    cell, out = spec.layers[0], tparams[1]
    x = torch.tensor(X)
    hs = _gru(x, tparams[0], row) if cell.kind == "gru" else _rnn(x, tparams[0], cell.options["activation"], row)
    logp = torch.log_softmax(hs @ _rows(out["W"], row) + out["b"], dim=-1)
    return -(torch.tensor(Y) * logp).sum() / X.shape[0]


@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_recurrent_layers_match_torch_autograd(name, convention):
    spec = load_spec({"input": {"steps": 4, "features": 2}, "loss": "cross_entropy", "convention": convention,
                      "batch": 3, "seed": 7, "layers": [NETS[name], {"units": 2, "activation": "softmax"}]})
    assert_backprop_matches(spec, _loss)
