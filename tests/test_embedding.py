"""The embedding layer: a lookup table W (V, E) read at token ids (N, T), its gradient added up with np.add.at."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from gradcheck import check_network, load_spec
from gradcheck.catalogue import BIAS_STYLES, CONVENTIONS
from gradcheck.cli import main
from gradcheck.errors import SpecError
from gradcheck.numeric.network import numeric_gradient
from gradcheck.reference.backprop import backprop
from gradcheck.strategies import embedding_networks

IMPLS = Path(__file__).parent / "impls"
sys.path.insert(0, str(IMPLS))
from makemore import SPEC as MAKEMORE  # noqa: E402

sys.path.remove(str(IMPLS))

NET = {"input": {"steps": 3, "vocab": 5}, "loss": "cross_entropy", "batch": 6, "seed": 1,
       "layers": [{"type": "embedding", "dim": 2}, {"type": "flatten"},
                  {"type": "dense", "units": 4, "activation": "tanh"},
                  {"type": "dense", "units": 5, "activation": "softmax"}]}


def _spec(convention="row", **changes):
    return load_spec({**NET, "convention": convention, **changes})


def _layer(convention="row"):
    spec = _spec(convention)
    return spec.layers[0], spec.conv, spec.bias


def _repeated(X):
    """True when some token id occurs at two positions of the batch (the case np.add.at is for)."""
    return len(np.unique(X)) < X.size


# -- forward and backward ------------------------------------------------------------------------

@pytest.mark.parametrize("convention", ["row", "column"])
def test_forward_is_a_row_lookup_as_a_plain_loop_computes_it(convention):
    ly, conv, bias = _layer(convention)
    W = np.random.default_rng(0).normal(size=(5, 2))
    ids = np.array([[0, 4, 0], [3, 3, 1]])
    z, _ = ly.forward({"W": W}, ids, conv, bias)
    loop = np.zeros((2, 3, 2))
    for n in range(2):
        for t in range(3):
            for e in range(2):
                loop[n, t, e] = W[ids[n, t], e]
    np.testing.assert_array_equal(z, loop)
    assert ly.param_shapes(conv, bias) == {"W": (5, 2)}  # (vocab, dim) in both conventions


@pytest.mark.parametrize("convention", ["row", "column"])
def test_backward_adds_the_delta_of_every_position_of_a_repeated_id(convention):
    ly, conv, bias = _layer(convention)
    ids = np.array([[0, 4, 0], [3, 0, 1]])  # id 0 three times
    delta = np.random.default_rng(1).normal(size=(2, 3, 2))
    grads, da_prev = ly.backward(delta, ids, {"W": np.zeros((5, 2))}, conv, bias)
    loop = np.zeros((5, 2))
    for n in range(2):
        for t in range(3):
            loop[ids[n, t]] += delta[n, t]
    np.testing.assert_allclose(grads["W"], loop, rtol=1e-15, atol=0)
    assert da_prev is None  # token ids get no gradient
    assert not np.allclose(grads["W"][0], delta[1, 1])  # not the last write


def test_a_stack_of_tables_gives_the_forwards_and_backwards_of_each():
    ly, conv, bias = _layer()
    rng = np.random.default_rng(2)
    Ws, ids = rng.normal(size=(3, 5, 2)), rng.integers(0, 5, (4, 3))
    z, cache = ly.forward({"W": Ws}, ids, conv, bias)
    assert z.shape == (3, 4, 3, 2)
    delta = rng.normal(size=z.shape)
    grads, _ = ly.backward(delta, cache, {"W": Ws}, conv, bias)
    for p in range(3):
        one, c = ly.forward({"W": Ws[p]}, ids, conv, bias)
        np.testing.assert_array_equal(z[p], one)
        np.testing.assert_allclose(grads["W"][p], ly.backward(delta[p], c, {"W": Ws[p]}, conv, bias)[0]["W"],
                                   rtol=1e-14)
    stacked_ids = rng.integers(0, 5, (3, 4, 3))  # ids with a stack axis of their own, broadcast against W
    z2, _ = ly.forward({"W": Ws[0]}, stacked_ids, conv, bias)
    for p in range(3):
        np.testing.assert_array_equal(z2[p], ly.forward({"W": Ws[0]}, stacked_ids[p], conv, bias)[0])


def test_output_change_moves_only_the_positions_of_its_token():
    ly, conv, bias = _layer()
    rng = np.random.default_rng(3)
    W, ids = rng.normal(size=(5, 2)), np.array([[1, 2, 1], [0, 1, 4]])
    z, cache = ly.forward({"W": W}, ids, conv, bias)
    index, delta = np.array([2, 7, 9]), np.array([0.5, -0.25, 2.0])  # W[1, 0], W[3, 1] (absent), W[4, 1]
    stack = ly.output_change({"W": W}, "W", index, delta, cache, z, conv, bias)
    for p, (i, d) in enumerate(zip(index, delta)):
        moved = W.copy()
        moved.flat[i] += d
        np.testing.assert_allclose(stack[p], ly.forward({"W": moved}, ids, conv, bias)[0], rtol=1e-15)
    np.testing.assert_array_equal(stack[1], z)


# -- the check ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("convention", ["row", "column"])
def test_the_reference_backprop_passes_with_every_opinion(convention):
    spec = _spec(convention)
    assert _repeated(spec.batch_data()[0])
    result = check_network(spec, symbolic="on")
    assert result.passed, str(result)
    assert "skipped" not in " ".join(result.notes)


def test_structured_and_plain_finite_differences_agree():
    spec = _spec()
    params, (X, Y) = spec.parameters(), spec.batch_data()
    structured = numeric_gradient(spec, params, X, Y)
    plain = numeric_gradient(spec, params, X, Y, structured=False)
    _, ref = backprop(spec, params, X, Y)
    np.testing.assert_allclose(structured.grads[0]["W"], ref[0]["W"], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(structured.grads[0]["W"], plain.grads[0]["W"], rtol=1e-8, atol=1e-13)
    absent = np.setdiff1d(np.arange(5), X)
    assert np.all(structured.grads[0]["W"][absent] == 0)  # a token not in the batch: its row moves nothing


def test_the_complex_step_passes_through_the_lookup():
    spec = _spec("column")
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    for structured in (True, False):
        numeric = numeric_gradient(spec, params, X, Y, method="complex-step", structured=structured)
        np.testing.assert_allclose(numeric.grads[0]["W"], ref[0]["W"], rtol=1e-12, atol=1e-15)


def test_a_wrong_table_gradient_is_caught():
    spec = _spec()

    def off_by_one(p, x, y):
        grads = [dict(g) for g in backprop(spec, p, x, y)[1]]
        grads[0]["W"] = np.roll(grads[0]["W"], 1, axis=0)  # token v's gradient given to v + 1
        return grads

    result = check_network(spec, off_by_one, symbolic="off")
    assert not result.passed
    assert any(t.name == "W0" and not t.opinion_passed("impl") for t in result.tensors)
    assert check_network(spec, lambda p, x, y: backprop(spec, p, x, y)[1], symbolic="off").passed


# -- the known mistake: repeated ids written, not added -------------------------------------------

@pytest.mark.parametrize("fn", ["assigned", "buffered"])
def test_a_table_gradient_that_loses_repeated_ids_is_named(fn):
    spec = load_spec(MAKEMORE)
    assert _repeated(spec.batch_data()[0])
    result = check_network(MAKEMORE, f"{IMPLS / 'makemore.py'}:{fn}", symbolic="off")
    assert not result.passed
    line = result.diagnosis[0]
    assert line.startswith("matches a known mistake: embedding layer 0 writes dW[ids] = delta"), line
    assert "np.add.at(dW, ids, delta)" in line
    others = result.diagnosis[1:]  # the line tracer may add where the write is; no other mistake is named
    assert all("repeated" in s and "np.add.at" in s for s in others), others


def test_the_makemore_loop_passes_and_the_cli_names_the_mistake(tmp_path, capsys):
    assert check_network(MAKEMORE, f"{IMPLS / 'makemore.py'}:correct", symbolic="off").passed
    path = tmp_path / "makemore.json"
    path.write_text(json.dumps(MAKEMORE))
    code = main([str(path), "--impl", f"{IMPLS / 'makemore.py'}:buffered", "--symbolic", "off"])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL" in out
    assert "keeps the δ of only one of them" in out


@pytest.mark.parametrize(("make", "words"), [
    (lambda g, seen: g["W"].T, "dW is transposed: an embedding's W is (vocab, dim) = (5, 2) in both conventions"),
    (lambda g, seen: seen[0][1], "dW has the shape of δ (N, T, E) = (6, 3, 2): add each position's δ"),
])
def test_a_table_gradient_of_the_wrong_shape_gets_a_hint(make, words):
    spec = _spec("column")

    def impl(p, x, y):
        seen = {}
        grads = [dict(g) for g in backprop(spec, p, x, y, seen=seen)[1]]
        grads[0]["W"] = make(grads[0], seen)
        return grads

    result = check_network(spec, impl, symbolic="off")
    assert not result.passed
    assert any(words in p for p in result.problems), result.problems


# -- bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "words"), [
    ({**NET, "input": 3}, ["layers[0]", "embedding layer 0 needs token ids: \"input\": {\"steps\": T, \"vocab\": V}",
                           "a vector of 3"]),
    ({**NET, "input": {"steps": 3, "features": 2}}, ["embedding layer 0 needs token ids", "a sequence 3x2"]),
    ({**NET, "layers": [{"type": "embedding"}, *NET["layers"][1:]]}, ["layers[0]", "dim"]),
    ({**NET, "layers": [{"type": "embedding", "dim": 0}, *NET["layers"][1:]]}, ["layers[0].dim"]),
    ({**NET, "layers": [{"type": "embedding", "dim": 2}, {"type": "embedding", "dim": 2}, *NET["layers"][1:]]},
     ["embedding layer 1 needs token ids"]),
])
def test_bad_input_is_one_line_and_exit_2(raw, words, tmp_path, capsys):
    with pytest.raises(SpecError):
        load_spec(raw)
    path = tmp_path / "net.json"
    path.write_text(json.dumps(raw))
    code = main([str(path), "--symbolic", "off"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err


def test_every_convention_and_bias_style_keeps_the_table_as_it_is():
    for conv in CONVENTIONS:
        for bias in BIAS_STYLES:
            spec = _spec(conv, bias=bias)
            assert spec.param_shapes()[0] == {"W": (5, 2)}
            z, _ = spec.layers[0].forward(spec.parameters()[0], spec.batch_data()[0], spec.conv, spec.bias)
            assert z.shape == (6, 3, 2)


# -- random networks ---------------------------------------------------------------------------------

@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(embedding_networks(smooth=True))
def test_random_embedding_networks_pass_and_a_lost_repeat_fails(raw):
    assert check_network(raw, symbolic="off").passed
    spec = load_spec(raw)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    seen = {}
    _, ref = backprop(spec, params, X, Y, seen=seen)
    dW = np.zeros_like(ref[0]["W"])
    dW[X] = seen[0][1]  # the known mistake: each repeated id keeps one δ
    if not np.allclose(dW, ref[0]["W"], rtol=1e-3, atol=1e-6):  # visible where ids repeat with δ's that matter
        grads = [dict(g) for g in ref]
        grads[0]["W"] = dW
        assert not check_network(raw, lambda p, x, y: grads, symbolic="off").passed
