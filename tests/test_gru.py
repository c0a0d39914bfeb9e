"""The gru layer kind (d2l's gates, blocks r, z, h̃): forward against a plain loop, backpropagation through time
against finite differences, stacked params, bad input, the SymPy opinion and its known mistakes, named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from oracles import assert_one_mistake_named, assert_output_change_is_forward

from gradcheck import check_network, load_spec
from gradcheck.cli import main
from gradcheck.diagnose.mistake import REGISTRY

IMPLS = Path(__file__).parent / "impls"
sys.path.insert(0, str(IMPLS))
from rnn_nets import SPECS  # noqa: E402


def gru_spec(convention="row", sequences=True, bias="separate", T=3, D=2, H=2, batch=2):
    out = {"units": 2} if sequences else {"units": 2, "activation": "softmax"}
    return {"input": {"steps": T, "features": D}, "loss": "mse" if sequences else "cross_entropy",
            "convention": convention, "bias": bias, "batch": batch, "seed": 5,
            "layers": [{"type": "gru", "units": H, "sequences": sequences}, out]}


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def loop_gru(x, Wxr, Wxz, Wxh, Whr, Whz, Whh, br, bz, bh):
    """d2l's GRU, one sample and one step at a time, each gate's weights apart."""
    N, T, _ = x.shape
    out = np.zeros((N, T, Whr.shape[0]))
    for n in range(N):
        h = np.zeros(Whr.shape[0])
        for t in range(T):
            r = _sigmoid(x[n, t] @ Wxr + h @ Whr + br)
            z = _sigmoid(x[n, t] @ Wxz + h @ Whz + bz)
            c = np.tanh(x[n, t] @ Wxh + (r * h) @ Whh + bh)
            h = z * h + (1 - z) * c
            out[n, t] = h
    return out


@pytest.mark.parametrize("convention", ["row", "column"])
@pytest.mark.parametrize("sequences", [True, False])
def test_forward_matches_d2l_gate_by_gate(convention, sequences):
    spec = load_spec(gru_spec(convention, sequences, H=3))
    ly, conv, params = spec.layers[0], spec.conv, spec.parameters()[0]
    X, _ = spec.batch_data()
    z, _ = ly.forward(params, X, conv, spec.bias)
    t = (lambda W: W.T) if convention == "column" else (lambda W: W)
    Wx, Wh, b = t(params["Wx"]), t(params["Wh"]), params["b"]
    blocks = [np.split(a, 3, axis=-1) for a in (Wx, Wh, b)]  # gate order r, z, h̃
    states = loop_gru(X, *blocks[0], *blocks[1], *blocks[2])
    want = states if sequences else (states[:, -1].T if convention == "column" else states[:, -1])
    np.testing.assert_allclose(z, want, rtol=1e-13, atol=1e-15)
    assert spec.param_shapes()[0] == {"Wx": conv.weight(9, 2), "Wh": conv.weight(9, 3), "b": (9,)}


@pytest.mark.parametrize("convention", ["row", "column"])
@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("bias", ["separate", "none"])
def test_backprop_through_time_matches_finite_differences(convention, sequences, bias):
    result = check_network(gru_spec(convention, sequences, bias=bias), symbolic="off")
    assert result.passed, str(result)


def test_a_stack_of_params_equals_separate_forwards_and_backwards():
    spec = load_spec(gru_spec("column", sequences=False))
    ly, conv, bias = spec.layers[0], spec.conv, spec.bias
    rng = np.random.default_rng(1)
    stack = [{k: v + 0.1 * rng.normal(size=v.shape) for k, v in spec.parameters()[0].items()} for _ in range(3)]
    stacked = {k: np.stack([p[k] for p in stack]) for k in stack[0]}
    X, _ = spec.batch_data()
    z, cache = ly.forward(stacked, X, conv, bias)
    delta = rng.normal(size=z.shape)
    grads, dx = ly.backward(delta, cache, stacked, conv, bias)
    for i in range(3):
        zi, ci = ly.forward(stack[i], X, conv, bias)
        np.testing.assert_allclose(z[i], zi, rtol=1e-13)
        gi, dxi = ly.backward(delta[i], ci, stack[i], conv, bias)
        np.testing.assert_allclose(dx[i], dxi, rtol=1e-12)
        for k in gi:
            np.testing.assert_allclose(grads[k][i], gi[k], rtol=1e-12)


def test_a_wrong_gradient_is_caught():
    def wrong(p, x, y):
        from gradcheck.reference.backprop import backprop
        spec = load_spec(gru_spec())
        _, grads = backprop(spec, p, x, y)
        dWh = grads[0]["Wh"].copy()
        dWh[:, 4:] *= 1.05  # the candidate block h̃ (row layout, H = 2: columns 4, 5)
        return [{**grads[0], "Wh": dWh}, grads[1]]

    result = check_network(gru_spec(), wrong, symbolic="off")
    assert not result.passed and "Wh0" in str(result)


def test_the_sympy_opinion_agrees_on_a_small_network_with_a_loss_at_every_step():
    result = check_network(gru_spec("row", sequences=True, T=2, H=1), symbolic="on")
    assert result.passed and "symbolic" in result.opinions, str(result)


def test_json_and_refusals(tmp_path, capsys):
    ly = load_spec(gru_spec(sequences=False)).layers[0]
    assert ly.to_json() == {"type": "gru", "units": 2, "sequences": False} and ly.weights == ("Wx", "Wh")
    raw = gru_spec()
    raw["input"] = [1, 3, 3]
    raw["layers"].insert(1, {"type": "flatten"})
    path = tmp_path / "net.json"
    path.write_text(json.dumps(raw))
    code = main([str(path), "--symbolic", "off"])
    text = "".join(capsys.readouterr()).strip()
    assert code == 2 and len(text.splitlines()) == 1 and "gru layer 0 needs a sequence input" in text, text
    assert "an image 1x3x3" in text


NAMED = {
    "gru_many_swapped": ["gru layer 0: the backward pass swaps z and 1 − z"],
    "gru_many_reset_path_dropped": ["gru layer 0: dh_(t−1) misses the path through the candidate"],
}


def test_the_correct_student_gru_passes():
    result = check_network(SPECS["gru_many"], f"{IMPLS / 'rnn_nets.py'}:gru_many", symbolic="off")
    assert result.passed and not result.diagnosis, str(result)


@pytest.mark.parametrize("impl", sorted(NAMED))
def test_each_mistake_is_named(impl):
    result = check_network(SPECS["gru_many"], f"{IMPLS / 'rnn_nets.py'}:{impl}", symbolic="off")
    assert_one_mistake_named(result, *NAMED[impl])


def test_every_recurrent_mistake_has_an_impl():
    keys = {(m.kind, m.key) for m in REGISTRY if not m.local and m.kind in ("rnn", "gru")}
    assert keys == {("rnn", "not_summed_over_steps"), ("rnn", "state_gradient_not_carried"),
                    ("rnn", "derivative_of_previous_state"), ("gru", "update_gate_swapped"),
                    ("gru", "reset_path_dropped")}


@pytest.mark.parametrize(("convention", "sequences"), [("row", True), ("column", False), ("column", True)])
def test_output_change_is_the_forward_pass_of_the_moved_params(convention, sequences):
    """The structured stack (every step once for all the moved networks) against a forward pass of each network's
    params: every element of Wx, Wh (the r and z blocks and the candidate's) and b."""
    assert_output_change_is_forward(load_spec(gru_spec(convention, sequences, T=4, D=3, H=3)), ("Wx", "Wh", "b"))
