"""The three user questions in ../shared/seeds/, reproduced; gradcheck's answer must settle each one.

000 a 2x1 "gradient" for a 2x3 weight matrix (2-3-2 net, weights stored input-to-hidden as 2x3);
001 Nielsen's OR gate with weight arrays of the wrong shape, and confusion on the shapes of δ and b;
002 ``inputs.T @ delta`` vs ``kronecker(transpose(outputs), delta)`` for a single layer with the
    bias folded into the input.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from gradcheck import load_spec, trace_shapes
from gradcheck.cli import main

ROOT = Path(__file__).parent.parent
IMPLS = Path(__file__).parent / "impls"


def run(args, capsys):
    code = main([*map(str, args), "--symbolic", "off"])
    out, err = capsys.readouterr()
    return code, out, err


# -- 000: "the product gives the size 2x1. But it should be 2x3." ---------------------------------

SEED000 = {"name": "seed000", "input": 2, "convention": "row", "loss": "sse",
           "layers": [{"units": 3, "activation": "sigmoid"}, {"units": 2, "activation": "linear"}], "batch": 3}


@pytest.fixture
def seed000(tmp_path):
    path = tmp_path / "seed000.json"
    path.write_text(json.dumps(SEED000))
    return path


def test_seed000_a_2x1_gradient_for_a_2x3_weight_matrix_is_refused(seed000, capsys):
    spec = load_spec(seed000)
    assert spec.param_shapes()[0]["W"] == (2, 3) and spec.param_shapes()[1]["W"] == (3, 2)
    code, out, err = run([seed000, "--impl", f"{IMPLS / 'seed000.py'}:two_by_one"], capsys)
    assert code == 1 and err == ""
    problem = next(line for line in out.splitlines() if "W0: your dW has shape" in line)
    assert "shape (2, 1), expected (2, 3)" in problem
    # The equation that gives a 2x3 gradient: the outer product of the input with δ, summed over samples.
    assert "dW = a_prev.T @ delta : (2,N) @ (N,3) -> (2,3)" in problem
    # The same network with the gradient built as that product passes.
    code, out, _ = run([seed000, "--impl", f"{IMPLS / 'seed000.py'}:correct"], capsys)
    assert code == 0 and "PASS" in out


def test_seed000_the_trace_shows_every_shape_on_the_way(seed000, capsys):
    layers = trace_shapes(load_spec(seed000)).layers
    assert layers[0].shapes["dW"] == ((2, 3), (2, 3))  # input-to-hidden: 2x3, not 2x1
    assert layers[1].shapes["dW"] == ((3, 2), (3, 2))  # hidden-to-output: 3x2 (the answer's Section A)
    assert layers[1].shapes["delta"] == ((1, 2), ("N", 2))  # the incoming gradient: one per output node
    code, out, _ = run([seed000, "--trace-only"], capsys)
    assert code == 0
    assert "layer 0: dW = a_prev.T @ delta : (2,N) @ (N,3) -> (2,3)" in out
    # Section B: the gradient w.r.t. the 3 hidden nodes is W1 (3x2) times the 2-vector δ.
    assert "layer 1: da_prev = delta @ W.T : (N,2) @ (2,3) -> (N,3)" in out


def test_seed000_worked_example_is_the_same_network(capsys):
    spec = load_spec(ROOT / "derivations" / "two_three_two.json")
    assert (spec.convention, [p["W"].shape for p in spec.parameters()]) == ("row", [(2, 3), (3, 2)])
    code, out, _ = run([ROOT / "derivations" / "two_three_two.json", "--impl", f"{IMPLS / 'seed000.py'}:correct"],
                       capsys)
    assert code == 0, out


# -- 001: "w = [[0.3, 0.4], [0.1]]"; "if delta has the size of the weight matrix ..." -------------

OR_GATE = {"name": "or_gate_question", "input": 2, "loss": "quadratic",
           "layers": [{"units": 2, "activation": "sigmoid"}, {"units": 1, "activation": "sigmoid"}],
           "params": [{"W": [0.3, 0.4], "b": [1, 1]}, {"W": [0.1], "b": [1]}],
           "data": {"X": [[0, 0], [0, 1], [1, 0], [1, 1]], "Y": [0, 1, 1, 1]}}


def test_seed001_wrong_shaped_weights_are_refused_naming_the_shapes(tmp_path, capsys):
    path = tmp_path / "or.json"
    path.write_text(json.dumps(OR_GATE))
    code, out, err = run([path], capsys)
    assert code == 2 and out == ""
    line = err.strip()
    assert len(line.splitlines()) == 1 and line.startswith(f"gradcheck: {path}: ")
    assert "params[0].W: layer 0 W must have shape (2, 2)" in line and "got (2,)" in line
    assert "params[1].W: layer 1 W must have shape (1, 2)" in line and "got (1,)" in line
    assert "(units, fan_in)" in line


def test_seed001_delta_is_per_unit_and_db_has_the_shape_of_b(capsys):
    path = ROOT / "derivations" / "or_gate.json"  # the asker's corrected weights
    spec = load_spec(path)
    assert [p["W"].shape for p in spec.parameters()] == [(2, 2), (1, 2)]
    layers = trace_shapes(spec).layers
    for ly, units, fan_in in zip(layers, (2, 1), (2, 2)):
        assert ly.shapes["delta"] == ((units, 1), (units, "N"))  # one δ per unit (and sample), not per weight
        assert ly.shapes["W"][1] == (units, fan_in) != ly.shapes["delta"][0]
        assert ly.shapes["db"] == ly.shapes["b"] == ((units,), (units,))
        assert ly.shapes["dW"] == ly.shapes["W"]
    code, out, _ = run([path, "--trace-only"], capsys)
    assert code == 0
    assert "layer 1: dW = delta @ a_prev.T : (1,N) @ (N,2) -> (1,2)" in out
    assert "layer 1: db = delta.sum(axis=1) : (1,N).sum(axis=1) -> (1,)" in out


def test_seed001_nielsen_backprop_passes_and_the_sigma_typo_is_caught(capsys):
    path = ROOT / "derivations" / "or_gate.json"
    code, out, _ = run([path, "--impl", f"{IMPLS / 'seed001.py'}:correct"], capsys)
    assert code == 0, out
    # BP2 as typed in the question, σ(z) where σ'(z) belongs: layer 1 stays right, layer 0's mistake is named.
    code, out, _ = run([path, "--impl", f"{IMPLS / 'seed001.py'}:sigma_not_prime", "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 1
    passed = {p["name"]: p["passed"] for p in doc["parameters"]}
    assert passed == {"W0": False, "b0": False, "W1": True, "b1": True}
    assert any("layer 0 multiplies by the activation σ(z) itself where its derivative σ'(z) belongs" in d
               for d in doc["diagnosis"]), doc["diagnosis"]


# -- 002: inputs.T @ delta, or kronecker(transpose(outputs), delta)? ----------------------------

SEED002 = ROOT / "derivations" / "augmented_single_layer.json"


def test_seed002_inputs_t_delta_passes_and_kron_of_outputs_is_caught(capsys):
    spec = load_spec(SEED002)
    assert (spec.convention, spec.bias.name, len(spec.layers)) == ("row", "augmented", 1)
    code, out, _ = run([SEED002, "--impl", f"{IMPLS / 'seed002.py'}:inputs_t_delta"], capsys)
    assert code == 0 and "PASS" in out
    code, out, err = run([SEED002, "--impl", f"{IMPLS / 'seed002.py'}:kron_outputs_t_delta"], capsys)
    assert code == 1 and err == ""
    problem = next(line for line in out.splitlines() if "W0: your dW has shape" in line)
    assert "(2, 2)" in problem and "expected (4, 2)" in problem
    assert "dW = a_in.T @ delta : (4,N) @ (N,2) -> (4,2)" in problem  # the input, with the 1 appended
    if importlib.util.find_spec("gradcheck.symbolic.derive") is not None:
        assert "[i=j]" in out  # ∂z_i/∂w_jk = [i=j]·x_k: why dW pairs δ with the input


def test_seed002_whole_batch_kron_and_the_guides_update_are_caught(capsys):
    code, out, _ = run([SEED002, "--impl", f"{IMPLS / 'seed002.py'}:kron_batch"], capsys)
    assert code == 1 and "expected (4, 2)" in out
    # The guide returns η·(t − z)·f'·inputs, an update, not the gradient: a constant factor −η.
    code, out, _ = run([SEED002, "--impl", f"{IMPLS / 'seed002.py'}:learning_rate_update", "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 1 and any("-0.5" in d and "constant factor" in d and "η = 0.5" in d
                             for d in doc["diagnosis"]), doc["diagnosis"]
