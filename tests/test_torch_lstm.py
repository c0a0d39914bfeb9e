"""Opt-in: the lstm layer's reference backprop against PyTorch autograd through ``torch.nn.LSTM``.

Runs only where torch is installed (``pip install torch==2.13.0``); gradcheck never depends on
it. torch holds the gates as i, f, g, o with two biases; gradcheck's Wx, Wh and b (i, f, o, g)
are reordered into them, b as the input bias and a zero recurrent bias.
"""

import pytest
from torch_autograd import assert_backprop_matches

from gradcheck import load_spec

torch = pytest.importorskip("torch")

TORCH_ORDER = [0, 1, 3, 2]  # torch's i, f, g, o blocks, as blocks of gradcheck's i, f, o, g


def _blocks(W, H):
    """Rows of a (4H, ...) array in torch's gate order."""
    return torch.cat([W[k * H:(k + 1) * H] for k in TORCH_ORDER])


def torch_loss(spec, params, X, Y):
    """mse of lstm -> dense (per step, or on the last h), every array sample-major."""
    row = spec.convention == "row"
    lstm_layer = spec.layers[0]
    p, q = params
    H = lstm_layer.width
    module = torch.nn.LSTM(lstm_layer.fan_in, H, batch_first=True).double()
    Wx, Wh = (p["Wx"].T, p["Wh"].T) if row else (p["Wx"], p["Wh"])
    b = p["b"] if "b" in p else torch.zeros(4 * H, dtype=torch.float64)
    weights = {"weight_ih_l0": _blocks(Wx, H), "weight_hh_l0": _blocks(Wh, H), "bias_ih_l0": _blocks(b, H),
               "bias_hh_l0": torch.zeros(4 * H, dtype=torch.float64)}
    hs, _ = torch.func.functional_call(module, weights, (torch.tensor(X),))
    a = hs if lstm_layer.sequences else hs[:, -1]
    z = a @ (q["W"] if row else q["W"].T) + (q["b"] if "b" in q else 0.0)
    y = torch.tensor(Y if row or Y.ndim == 3 else Y.T)
    return ((z - y) ** 2).sum() / (X.shape[0] * z.shape[-1])


@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("bias", ["separate", "none"])
def test_lstm_matches_torch_autograd(convention, sequences, bias):
    spec = load_spec({"input": {"steps": 5, "features": 3}, "convention": convention, "bias": bias, "loss": "mse",
                      "batch": 4, "seed": 7, "layers": [{"type": "lstm", "units": 3, "sequences": sequences},
                                                        {"type": "dense", "units": 2}]})
    assert_backprop_matches(spec, torch_loss)
