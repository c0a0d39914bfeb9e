"""Graphs in net.json: named layers, ``inputs``, ``add`` and ``concat``; their checks, mistakes and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_network, load_spec
from gradcheck.cli import main
from gradcheck.diagnose.mistake import REGISTRY
from gradcheck.errors import SpecError
from gradcheck.reference.backprop import backprop

IMPLS = Path(__file__).parent / "impls" / "graph_nets.py"

RESIDUAL = {"input": 3, "convention": "row", "loss": "mse", "batch": 5, "layers": [
    {"units": 4, "activation": "tanh", "name": "h"},
    {"units": 4, "activation": "tanh", "name": "f"},
    {"type": "add", "inputs": ["h", "f"]},
    {"units": 2}]}
JOINED = {"input": 3, "convention": "row", "loss": "mse", "batch": 5, "layers": [
    {"units": 3, "activation": "tanh", "name": "h"},
    {"type": "concat", "inputs": ["input", "h"]},
    {"units": 2}]}


def _grads_by_finite_differences(spec, params, X, Y, h=1e-6):
    out = []
    for i, p in enumerate(params):
        g = {}
        for key in spec.param_shapes()[i]:
            d = np.zeros_like(p[key])
            for idx in np.ndindex(*p[key].shape):
                up = [{k: v.copy() for k, v in q.items()} for q in params]
                down = [{k: v.copy() for k, v in q.items()} for q in params]
                up[i][key][idx] += h
                down[i][key][idx] -= h
                d[idx] = (backprop(spec, up, X, Y)[0] - backprop(spec, down, X, Y)[0]) / (2 * h)
            g[key] = d
        out.append(g)
    return out


@pytest.mark.parametrize("raw", [RESIDUAL, JOINED, {**RESIDUAL, "convention": "column"},
                                 {**JOINED, "convention": "column"}])
def test_backprop_through_a_graph_matches_central_differences(raw):
    spec = load_spec(raw)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    numeric = _grads_by_finite_differences(spec, params, X, Y)
    for g, n in zip(grads, numeric):
        for key in n:
            np.testing.assert_allclose(g[key], n[key], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("raw", [RESIDUAL, JOINED])
def test_a_graph_passes_the_three_way_check(raw):
    result = check_network(load_spec(raw))
    assert result.passed, str(result)
    assert "symbolic" in result.checked, str(result)


@pytest.mark.parametrize("raw, impl", [(RESIDUAL, "residual"), (JOINED, "joined")])
def test_a_correct_hand_written_graph_backprop_passes(raw, impl):
    result = check_network(load_spec(raw), f"{IMPLS}:{impl}", symbolic="off")
    assert result.passed and not result.diagnosis, str(result)


@pytest.mark.parametrize("raw, impl, words", [
    (RESIDUAL, "residual_skip_dropped", ["add layer 2", "does not reach inputs[0] (layer 0's output)", "skip path"]),
    (JOINED, "joined_slices_swapped", ["concat layer 1", "split at the wrong offset"]),
])
def test_graph_mistakes_are_caught_and_named(raw, impl, words):
    result = check_network(load_spec(raw), f"{IMPLS}:{impl}", symbolic="off")
    assert not result.passed
    text = " | ".join(result.diagnosis)
    for w in words:
        assert w in text, text


def test_every_join_mistake_is_exercised():
    keys = {m.key for m in REGISTRY if getattr(m, "kind", None) in ("add", "concat")}
    assert keys == {"input0_dropped", "input1_dropped", "slices_swapped"}


def test_input1_dropped_is_replayed_as_the_second_input_losing_its_gradient():
    from gradcheck.diagnose.layers import mistaken

    spec = load_spec(RESIDUAL)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    known = next(m for m in REGISTRY if m.key == "input1_dropped")
    swapped = (*spec.layers[:2], mistaken(spec.layers[2], known.known), *spec.layers[3:])
    wrong = spec.__class__(**{**spec.__dict__, "layers": swapped})
    _, right = backprop(spec, params, X, Y)
    _, grads = backprop(wrong, params, X, Y)
    assert np.allclose(grads[1]["W"], 0) and not np.allclose(right[1]["W"], 0)  # f gets no gradient at all
    assert np.allclose(grads[3]["W"], right[3]["W"])


@pytest.mark.parametrize("layers, words", [
    ([{"units": 2, "name": "a"}, {"type": "add", "inputs": ["a", "nope"]}], ["layers[1].inputs[1]", "'nope'"]),
    ([{"units": 2, "inputs": ["later"]}, {"units": 2, "name": "later"}], ["layers[0].inputs[0]", "cycle"]),
    ([{"units": 2, "name": "a"}, {"units": 3, "name": "b", "inputs": ["input"]},
      {"type": "add", "inputs": ["a", "b"]}], ["layers[2].inputs", "inputs[0] gives 2", "inputs[1] gives 3"]),
    ([{"units": 2, "name": "a"}, {"units": 3, "inputs": ["input"]}], ["layers[0]", "used by no later layer"]),
    ([{"units": 2, "name": "a"}, {"units": 2, "name": "a"}], ["layers[1].name", "already"]),
    ([{"units": 2}, {"type": "add", "inputs": ["input"]}], ["layers[1].inputs", "two or more"]),
    ([{"units": 2, "name": "a"}, {"units": 2, "inputs": ["a", "input"]}], ["layers[1].inputs", "one input"]),
    ([{"units": 2, "name": "input"}], ["layers[0].name", "network input"]),
])
def test_bad_graphs_are_one_line_errors(layers, words):
    with pytest.raises(SpecError) as e:
        load_spec({"input": 3, "layers": layers})
    text = str(e.value)
    assert "\n" not in text
    for w in words:
        assert w in text, text


def test_bad_graph_from_the_cli_exits_2_without_traceback(tmp_path, capsys):
    path = tmp_path / "net.json"
    path.write_text('{"input": 3, "layers": [{"units": 2, "name": "a"}, {"type": "add", "inputs": ["a", "b"]}]}')
    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "no layer is named 'b'" in err


def test_a_graph_round_trips_through_to_dict():
    spec = load_spec(RESIDUAL)
    again = load_spec(spec.to_dict())
    assert [ly.inputs for ly in again.layers] == [ly.inputs for ly in spec.layers]
    assert [ly.name for ly in again.layers] == ["h", "f", "", ""]
    assert spec.to_dict()["layers"][2]["inputs"] == ["h", "f"]


def test_chains_keep_their_meaning():
    spec = load_spec({"input": 2, "layers": [{"units": 3}, {"units": 1}]})
    assert spec.is_chain and [ly.inputs for ly in spec.layers] == [(-1,), (0,)]
    assert "inputs" not in spec.to_dict()["layers"][1]
