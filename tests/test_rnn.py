"""The rnn layer kind: forward against a plain loop, backpropagation through time against finite differences,
stacked params, bad input, kinks inside the layer, the SymPy opinion and its known mistakes, named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from oracles import assert_one_mistake_named, assert_output_change_is_forward

from gradcheck import check_network, load_spec
from gradcheck.catalogue import ACTIVATIONS
from gradcheck.cli import main
from gradcheck.reference.backprop import backprop
from gradcheck.reference.shapes import trace_shapes
from gradcheck.strategies import rnn_networks

IMPLS = Path(__file__).parent / "impls"
sys.path.insert(0, str(IMPLS))
from rnn_nets import SPECS  # noqa: E402


def rnn_spec(convention="row", sequences=True, activation="tanh", bias="separate", T=3, D=2, H=3, batch=2):
    out = {"units": 2} if sequences else {"units": 2, "activation": "softmax"}
    return {"input": {"steps": T, "features": D}, "loss": "mse" if sequences else "cross_entropy",
            "convention": convention, "bias": bias, "batch": batch, "seed": 3,
            "layers": [{"type": "rnn", "units": H, "activation": activation, "sequences": sequences}, out]}


def loop_rnn(x, Wx, Wh, b, act):
    """h_t = act(x_t·Wx + h_(t−1)·Wh + b) one sample and one step at a time (row layout)."""
    N, T, _ = x.shape
    out = np.zeros((N, T, Wh.shape[0]))
    for n in range(N):
        h = np.zeros(Wh.shape[0])
        for t in range(T):
            h = act(x[n, t] @ Wx + h @ Wh + b)
            out[n, t] = h
    return out


@pytest.mark.parametrize("convention", ["row", "column"])
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("sequences", [True, False])
def test_forward_matches_a_plain_loop(convention, activation, sequences):
    spec = load_spec(rnn_spec(convention, sequences, activation))
    ly, conv = spec.layers[0], spec.conv
    params = spec.parameters()[0]
    X, _ = spec.batch_data()
    z, _ = ly.forward(params, X, conv, spec.bias)
    t = (lambda W: W.T) if convention == "column" else (lambda W: W)
    states = loop_rnn(X, t(params["Wx"]), t(params["Wh"]), params["b"], ACTIVATIONS[activation].forward)
    want = states if sequences else (states[:, -1].T if convention == "column" else states[:, -1])
    np.testing.assert_allclose(z, want, rtol=1e-13, atol=1e-15)
    assert z.shape == conv.batch_of(ly.out_shape, 2)


@pytest.mark.parametrize("convention", ["row", "column"])
@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("bias", ["separate", "none"])
def test_backprop_through_time_matches_finite_differences(convention, sequences, bias):
    result = check_network(rnn_spec(convention, sequences, bias=bias), symbolic="off")
    assert result.passed, str(result)


def test_relu_inside_passes_and_its_kinks_are_each_steps_sides():
    raw = rnn_spec("column", sequences=False, activation="relu", T=4)
    assert check_network(raw, symbolic="off").passed
    spec = load_spec(raw)
    ly, conv, params = spec.layers[0], spec.conv, spec.parameters()[0]
    X, _ = spec.batch_data()
    z, (_, S, *_) = ly.forward(params, X, conv, spec.bias)
    state = ly.kink_state(X, z, conv, params=params)
    assert state.shape == (2, 4, 3, 1)  # every step, not only the returned last state
    np.testing.assert_array_equal(state[..., 0], np.sign(S))
    assert ly.kinked and ly.kink_texts == ("relu at 0 (inside rnn layer 0, at every step)",)
    assert not ly.has_activation and ly.act.identity  # the engine applies nothing after the layer
    assert load_spec(rnn_spec()).layers[0].kink_state(X, z, conv, params=params) is None


def test_a_step_across_an_earlier_steps_kink_is_seen():
    """Moving b across the kink of step 1's pre-activation changes the state though the last state need not."""
    spec = load_spec(rnn_spec("row", sequences=False, activation="relu", T=3, H=1))
    ly, conv = spec.layers[0], spec.conv
    X = np.ones((1, 3, 2))
    params = {"Wx": np.array([[1.0], [1.0]]), "Wh": np.array([[0.0]]), "b": np.array([-2.0 + 1e-9])}
    moved = {**params, "b": params["b"] - 2e-9}
    z0, z1 = (ly.forward(p, X, conv, spec.bias)[0] for p in (params, moved))
    s0, s1 = (ly.kink_state(X, z, conv, params=p) for z, p in ((z0, params), (z1, moved)))
    assert (s0 != s1).all() and (s0 > 0).all() and (s1 < 0).all()


def test_a_wrong_gradient_is_caught_and_the_right_one_passes():
    raw = rnn_spec("row", sequences=True)
    spec = load_spec(raw)
    params = spec.parameters()
    X, Y = spec.batch_data()
    _, grads = backprop(spec, params, X, Y)

    def right(p, x, y):
        return grads

    def wrong(p, x, y):
        return [{**grads[0], "Wh": grads[0]["Wh"] * 1.01}, grads[1]]

    assert check_network(raw, right, params=params, data=(X, Y), symbolic="off").passed
    result = check_network(raw, wrong, params=params, data=(X, Y), symbolic="off")
    assert not result.passed and "Wh0" in str(result)


@pytest.mark.parametrize("convention", ["row", "column"])
def test_a_stack_of_params_equals_separate_forwards_and_backwards(convention):
    spec = load_spec(rnn_spec(convention, sequences=False, T=3))
    ly, conv, bias = spec.layers[0], spec.conv, spec.bias
    rng = np.random.default_rng(0)
    stack = [{k: v + 0.1 * rng.normal(size=v.shape) for k, v in spec.parameters()[0].items()} for _ in range(3)]
    stacked = {k: np.stack([p[k] for p in stack]) for k in stack[0]}
    X, _ = spec.batch_data()
    xs = np.stack([X + 0.1 * i for i in range(3)])
    for a_prev, inputs in ((X, [X] * 3), (xs, list(xs))):
        z, cache = ly.forward(stacked, a_prev, conv, bias)
        delta = rng.normal(size=z.shape)
        grads, dx = ly.backward(delta, cache, stacked, conv, bias)
        for i in range(3):
            zi, ci = ly.forward(stack[i], inputs[i], conv, bias)
            np.testing.assert_allclose(z[i], zi, rtol=1e-13)
            gi, dxi = ly.backward(delta[i], ci, stack[i], conv, bias)
            np.testing.assert_allclose(dx[i], dxi, rtol=1e-12)
            for k in gi:
                np.testing.assert_allclose(grads[k][i], gi[k], rtol=1e-12)


def test_the_sympy_opinion_agrees_on_a_small_network():
    result = check_network(rnn_spec("column", sequences=False, T=2, H=2), symbolic="on")
    assert result.passed and "symbolic" in result.opinions, str(result)


def test_shapes_layout_and_json():
    spec = load_spec(rnn_spec("column", sequences=False, T=4, D=2, H=3))
    ly = spec.layers[0]
    assert spec.param_shapes()[0] == {"Wx": (3, 2), "Wh": (3, 3), "b": (3,)}
    assert load_spec(rnn_spec("row", D=2, H=3)).param_shapes()[0] == {"Wx": (2, 3), "Wh": (3, 3), "b": (3,)}
    assert ly.out_shape == (3,) and ly.weights == ("Wx", "Wh")
    assert ly.to_json() == {"type": "rnn", "units": 3, "activation": "tanh", "sequences": False}
    assert load_spec(spec.to_dict()).layers[0] == ly
    assert any("every step of 4" in f for f in trace_shapes(spec).formulas())
    assert ly.param_layout("Wx", spec.conv, spec.bias) == "(units, features) in the column convention"


BAD = {  # layer 0 of the rnn spec changed -> words of the one-line error
    "units": ({"units": 0}, ["layers[0].units", "0"]),
    "sequences": ({"sequences": "yes"}, ["layers[0].sequences", "true", "\"yes\""]),
    "activation": ({"activation": "softmax"}, ["layers[0].activation", "elementwise", "softmax"]),
    "unknown": ({"activation": "tanhh"}, ["layers[0].activation", "tanh"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys):
    change, words = BAD[case]
    raw = rnn_spec()
    raw["layers"][0].update(change)
    _expect_bad(raw, words, tmp_path, capsys)


def test_a_vector_input_and_an_augmented_bias_are_refused(tmp_path, capsys):
    raw = rnn_spec()
    raw["input"] = 3
    _expect_bad(raw, ["layers[0]", "sequence input (T, D)", "a vector of 3", "\"steps\""], tmp_path, capsys)
    _expect_bad(rnn_spec(bias="augmented"), ["bias", "not defined for rnn layers"], tmp_path, capsys)


def test_wrongly_shaped_params_name_both_shapes(tmp_path, capsys):
    raw = rnn_spec("row", D=2, H=3)
    raw["params"] = [{"Wx": np.zeros((3, 2)).tolist(), "Wh": np.zeros((3, 3)).tolist(), "b": [0, 0, 0]},
                     {"W": np.zeros((3, 2)).tolist(), "b": [0, 0]}]
    _expect_bad(raw, ["Wx", "(2, 3)", "(3, 2)"], tmp_path, capsys)


def _expect_bad(raw, words, tmp_path, capsys):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(raw))
    code = main([str(path), "--symbolic", "off"])
    out, err = capsys.readouterr()
    text = (out + err).strip()
    assert code == 2 and len(text.splitlines()) == 1 and "Traceback" not in text, text
    for w in words:
        assert w in text, text


NAMED = {  # impl -> words the diagnosis must contain
    "rnn_many_not_summed": ["rnn layer 0 does not sum dWx, dWh and db over the time steps"],
    "rnn_many_not_carried": ["rnn layer 0 does not carry ∂C/∂h back to the earlier step", "dx_t holds only"],
    "rnn_many_tanh_of_previous": ["rnn layer 0 takes tanh' at the previous state (1 − h_(t−1)²)"],
}


def test_the_correct_student_rnn_passes():
    result = check_network(SPECS["rnn_many"], f"{IMPLS / 'rnn_nets.py'}:rnn_many", symbolic="off")
    assert result.passed and not result.diagnosis, str(result)


@pytest.mark.parametrize("impl", sorted(NAMED))
def test_each_mistake_is_named(impl):
    result = check_network(SPECS["rnn_many"], f"{IMPLS / 'rnn_nets.py'}:{impl}", symbolic="off")
    assert_one_mistake_named(result, *NAMED[impl])


def test_the_cli_names_a_state_gradient_not_carried(tmp_path, capsys):
    path = tmp_path / "rnn_many.json"
    path.write_text(json.dumps(SPECS["rnn_many"]))
    code = main([str(path), "--impl", f"{IMPLS / 'rnn_nets.py'}:rnn_many_not_carried", "--symbolic", "off"])
    out = capsys.readouterr().out
    assert code == 1 and "does not carry ∂C/∂h back to the earlier step" in out
    assert main([str(path), "--impl", f"{IMPLS / 'rnn_nets.py'}:rnn_many", "--symbolic", "off"]) == 0


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rnn_networks())
def test_random_recurrent_networks_pass(net):
    spec = load_spec(net)
    assert spec.layers[0].kind in ("rnn", "gru") and net["data"]["X"]
    result = check_network(net, symbolic="off")
    assert result.passed, str(result)


def test_sympy_differentiates_every_activation_inside_an_rnn():
    """Inside a recurrent cell an activation's argument is an expression, not a z symbol: its SymPy derivative
    must not differentiate by its argument (gelu_tanh's did)."""
    for name, act in ACTIVATIONS.items():
        if act.last_only or act.kinks:
            continue
        spec = {"input": {"steps": 2, "features": 2}, "loss": "mse", "batch": 2, "seed": 3,
                "layers": [{"type": "rnn", "units": 2, "activation": name}, {"units": 1}]}
        result = check_network(spec, symbolic="on", trace_code=False)
        assert result.passed and "symbolic" in result.checked, (name, str(result))


@pytest.mark.parametrize(("convention", "sequences", "activation"),
                         [("row", True, "tanh"), ("column", False, "sigmoid"), ("column", True, "softplus")])
def test_output_change_is_the_forward_pass_of_the_moved_params(convention, sequences, activation):
    """A smooth cell's structured stack (every step once for all the moved networks) against a forward pass of each
    network's own params: every element of Wx, Wh and b."""
    spec = load_spec(rnn_spec(convention, sequences, activation, T=4, D=2, H=3))
    assert spec.layers[0].structured
    assert_output_change_is_forward(spec, ("Wx", "Wh", "b"))


def test_a_cell_with_kinks_is_recomputed_network_by_network():
    """A relu cell's kinks are read from every step's recomputed pre-activations: no structured stack for it."""
    from gradcheck.numeric.perturbed import Perturbed

    spec = load_spec(rnn_spec(activation="relu"))
    X, Y = spec.batch_data()
    assert not spec.layers[0].structured
    assert not Perturbed(spec, spec.parameters(), X, Y).uses_structure(0)
    smooth = load_spec(rnn_spec(activation="tanh"))
    assert Perturbed(smooth, smooth.parameters(), *smooth.batch_data()).uses_structure(0)
