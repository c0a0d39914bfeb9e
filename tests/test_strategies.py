"""Property tests with the hypothesis strategies of gradcheck.strategies.

(a) the reference backprop agrees with finite differences on random networks;
(b) the shape trace agrees with the arrays forward/backprop produce;
(c) malformed and bad-shape specs give exit 2 and one line from the CLI, and SpecError from load_spec.
"""

import contextlib
import io
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck import Spec, SpecError, check_network, forward, load_spec, trace_shapes
from gradcheck.catalogue import LOSSES
from gradcheck.reference.backprop import backprop  # the function (gradcheck.reference.backprop is also its module)
from gradcheck.strategies import bad_shape_specs, cnn_specs, data_for, malformed_specs, networks, params_for, specs

FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOME = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the strategies themselves ---------------------------------------------------------------

@SOME
@given(specs())
def test_specs_are_valid_and_follow_the_output_rules(raw):
    spec = load_spec(raw)
    acts = [ly.activation for ly in spec.layers]
    assert "softmax" not in acts[:-1]
    assert (acts[-1] == "softmax") == (spec.loss == "cross_entropy")
    if spec.loss == "bce":
        assert acts[-1] == "sigmoid"
    assert 1 <= len(acts) <= 3 and all(1 <= ly.units <= 5 for ly in spec.layers) and 1 <= spec.input <= 4


@FEW
@given(specs(smooth=True, activations=["relu", "tanh", "sigmoid", "leaky_relu"], conventions=["row"],
             biases=["none"], max_layers=2))
def test_specs_respect_restrictions(raw):
    assert {ly["activation"] for ly in raw["layers"]} <= {"tanh", "sigmoid"}
    assert raw["convention"] == "row" and raw["bias"] == "none" and len(raw["layers"]) <= 2
    assert raw["loss"] != "cross_entropy"  # softmax was not allowed


def test_impossible_restrictions_are_refused():
    with pytest.raises(ValueError, match="no loss"):
        specs(activations=["tanh"], losses=["cross_entropy"])
    with pytest.raises(ValueError, match="activations=\\['sigmod'\\]"):
        specs(activations=["sigmod"])
    with pytest.raises(ValueError, match=r"^specs: max_units=0"):
        specs(max_units=0)


@pytest.mark.parametrize("strategy, limit", [("cnn_specs", "max_filters"), ("attention_networks", "max_heads"),
                                             ("embedding_networks", "max_vocab"), ("lstm_networks", "max_units"),
                                             ("rnn_networks", "max_steps"), ("graph_specs", "max_input"),
                                             ("sequence_specs", "max_features")])
@pytest.mark.parametrize("value", [0, 2.5])
def test_a_size_limit_that_is_no_whole_number_names_the_strategy_and_the_argument(strategy, limit, value):
    import gradcheck.strategies as strategies

    with pytest.raises(ValueError, match="^" + re.escape(f"{strategy}: {limit}={value!r}: expected a whole number")):
        getattr(strategies, strategy)(**{limit: value})


@pytest.mark.parametrize("strategy", ["specs", "cnn_specs", "lstm_networks", "graph_specs", "sequence_specs",
                                      "saturated_networks"])
def test_an_unknown_convention_names_the_strategy_and_the_conventions_it_takes(strategy):
    import gradcheck.strategies as strategies

    with pytest.raises(ValueError, match="^" + re.escape(f"{strategy}: conventions=['diagonal']: expected a non-empty "
                                                         "list from column, row")):
        getattr(strategies, strategy)(conventions=["diagonal"])


@FEW
@given(st.data())
def test_params_and_data_fit_the_spec(data):
    spec = load_spec(data.draw(specs()))
    params = data.draw(params_for(spec))
    assert [{k: v.shape for k, v in p.items()} for p in params] == spec.param_shapes()
    assert all(np.all(np.abs(v) <= 1) for p in params for v in p.values())
    X, Y = data.draw(data_for(spec))
    assert X.shape == (spec.batch, spec.input)
    if Y.dtype.kind == "i":  # class labels, for the losses that take them
        assert LOSSES[spec.loss].labels and Y.shape == (spec.batch,) and np.all((Y >= 0) & (Y < spec.output))
    else:
        assert Y.shape == (spec.batch, spec.output)
    if spec.loss in ("cross_entropy", "svm") and Y.ndim == 2:
        assert np.all(Y.sum(axis=1) == 1) and set(np.unique(Y)) <= {0.0, 1.0}


@FEW
@given(st.data())
def test_specs_draw_the_loss_options_and_labels(data):
    raw = data.draw(specs(losses=["svm", "bce"]))
    spec = load_spec(raw)  # valid whatever was drawn
    assert spec.reduction in ("mean", "sum", "per_sample") and spec.loss in ("svm", "bce")
    if spec.loss == "svm":
        assert spec.layers[-1].activation == "linear" and spec.output >= 2
    smooth = load_spec(data.draw(specs(smooth=True)))
    assert not LOSSES[smooth.loss].kinked
    assert smooth.regularization is None or smooth.regularization.kind == "l2"
    assert "reduction" not in data.draw(specs(options=False))


# -- (a) reference backprop vs finite differences -------------------------------------------------

@FEW
@given(networks(smooth=True))
def test_reference_backprop_agrees_with_finite_differences(raw):
    result = check_network(raw, symbolic="off")
    assert result.passed, str(result) + "\n" + json.dumps(raw)


@FEW
@given(specs(activations=["relu", "leaky_relu", "linear"], losses=["mse", "sse"]))
def test_kinked_networks_pass_with_their_kinks_reported(raw):
    result = check_network(raw, symbolic="off")
    assert result.passed, str(result) + "\n" + json.dumps(raw)


# -- (b) the shape trace matches the arrays -----------------------------------------------------------

def _batched(shape, n):
    return tuple(n if d == "N" else d for d in shape)


@SOME
@given(specs(max_layers=4))
def test_shape_trace_matches_the_arrays(raw):
    spec = load_spec(raw)
    trace = trace_shapes(spec)
    params = spec.parameters()
    X, Y = spec.batch_data()
    n = spec.batch
    fw = forward(spec, params, X)
    _, grads = backprop(spec, params, X, Y)
    assert len(trace.layers) == len(spec.layers)
    for i, ly in enumerate(trace.layers):
        actual = {"a_prev": (X if i == 0 else fw.a[i - 1]).shape, "W": params[i]["W"].shape,
                  "z": fw.z[i].shape, "a": fw.a[i].shape, "dW": grads[i]["W"].shape}
        if "b" in params[i]:
            actual.update(b=params[i]["b"].shape, db=grads[i]["b"].shape)
        for name, shape in actual.items():
            assert _batched(ly.shapes[name][1], n) == shape, (i, name, ly.shapes[name], shape)
        assert ("b" in ly.shapes) == ("b" in params[i]) == (spec.bias.name == "separate")
        assert ly.shapes["dW"][1] == ly.shapes["W"][1]  # a gradient has its parameter's shape


# -- (c) broken specs: SpecError, exit 2, one line ----------------------------------------------------

def _cli(raw):
    """Write ``raw`` as net.json, run the CLI on it; return (exit code, stdout, stderr)."""
    from gradcheck.cli import main

    out, err = io.StringIO(), io.StringIO()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.json"
        path.write_text(raw if isinstance(raw, str) else json.dumps(raw), encoding="utf-8")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(path), "--quiet", "--symbolic", "off"])
    return code, out.getvalue(), err.getvalue()


def _assert_refused_in_one_line(raw):
    code, _, err = _cli(raw)
    assert code == 2, (code, err)
    assert err.startswith("gradcheck: ") and err.endswith("\n"), err
    assert err.count("\n") == 1, f"not one line: {err!r}"
    assert "Traceback" not in err
    return err


@SOME
@given(malformed_specs())
def test_malformed_specs_raise_spec_error(raw):
    with pytest.raises(SpecError):
        Spec.from_dict(json.loads(json.dumps(raw)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.json"
        path.write_text(json.dumps(raw), encoding="utf-8")
        with pytest.raises(SpecError):
            load_spec(path)


@SOME
@given(malformed_specs())
def test_malformed_specs_exit_2_with_one_line(raw):
    _assert_refused_in_one_line(raw)


def test_line_break_in_a_value_stays_on_one_line():
    _assert_refused_in_one_line({"input": 1, "layers": [{"units": 1, "activation": "sig\nmoid"}]})


@SOME
@given(bad_shape_specs())
def test_bad_shape_specs_are_refused_naming_the_tensor(raw):
    with pytest.raises(SpecError) as info:
        load_spec(raw)
    tensor = raw["description"].split()[0]  # e.g. "params[1].W"
    assert tensor in str(info.value)
    err = _assert_refused_in_one_line(raw)
    assert tensor in err


@pytest.mark.parametrize("text", ["", "{", '{"input": 2,}', "[1, 2", "null", '"net"', "\ufeff{}"])
def test_invalid_json_text_exits_2_with_one_line(text):
    _assert_refused_in_one_line(text)


def test_deeply_nested_json_is_bad_input():
    _assert_refused_in_one_line("[" * 100_000 + "]" * 100_000)


@SOME
@given(cnn_specs())
def test_cnn_specs_are_valid_tile_and_check(raw):
    spec = load_spec(raw)
    assert spec.layers[0].kind == "conv2d" and len(spec.input_shape) == 3
    assert spec.layers[-1].out_shape == (spec.output,)
    result = check_network(raw, symbolic="off")
    assert result.passed, str(result)


@SOME
@given(networks(cnn=True, smooth=True, extras=False))
def test_cnn_networks_carry_image_data(raw):
    spec = load_spec(raw)
    X, _ = spec.batch_data()
    assert X.shape == (spec.n_samples, *spec.input_shape)


@SOME
@given(bad_shape_specs())
def test_bad_shape_specs_include_window_misfits(raw):
    if not raw["description"].startswith("layers["):
        return
    err = _assert_refused_in_one_line(raw)
    assert "H' = " in err or "larger than" in err, err


def test_a_strategy_is_made_once_per_set_of_arguments():
    from gradcheck.strategies import cnn_specs
    from gradcheck.strategies.losses import loss_options
    from gradcheck.strategies.once import made_once

    # the same arguments, lists or tuples, give the same strategy; other arguments another
    assert specs(losses=["mse"], max_layers=2) is specs(max_layers=2, losses=("mse",))
    assert specs(losses=["mse"]) is not specs(losses=["sse"])
    assert cnn_specs(smooth=True) is cnn_specs(smooth=True) and loss_options("svm") is loss_options("svm")
    with pytest.raises(ValueError, match="max_layers"):  # a bad argument is refused every time
        specs(max_layers=0)
    with pytest.raises(ValueError, match="max_layers"):
        specs(max_layers=0)

    made = []
    strategy = made_once(lambda x: made.append(x) or len(made))
    assert strategy([1, 2]) == strategy((1, 2)) == 1 and strategy({"a": 1}) == 2 and strategy({"a": 1}) == 3
