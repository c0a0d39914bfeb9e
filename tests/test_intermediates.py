"""The user's own intermediates (a, δ, the loss) compared with the reference's; (1, n) biases compared as (n,)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_function, check_layer, check_network

IMPLS = Path(__file__).parent / "impls"
NET = {"input": 4, "layers": [{"units": 5, "activation": "tanh"}, {"units": 3, "activation": "linear"}],
       "loss": "mse", "convention": "row", "batch": 6, "seed": 0}


def _check(fn):
    return check_network(NET, f"{IMPLS / 'row_biases.py'}:{fn}", symbolic="off")


def test_a_row_bias_is_compared_as_a_vector_with_a_note():
    result = _check("correct")
    assert "layer 0: db returned as (1, 5); compared as (5,)" in result.notes
    b0 = result.tensor("b0")
    assert b0.opinion_passed("impl") and "its values are compared as (5,)" in b0.problem
    assert not any("db is right but dW is wrong" in d for d in result.diagnosis)


def test_a_row_bias_does_not_hide_a_factor_n():
    result = _check("summed_not_averaged")
    assert not result.tensor("b0").opinion_passed("impl")
    assert "N=6 times too large" in result.diagnosis[0], result.diagnosis


def test_intermediates_that_agree_point_at_the_gradients():
    result = _check("with_intermediates")
    assert result.diagnosis[0] == "your layer 0's a, layer 1's a, the loss, layer 1's δ, layer 0's δ agree with the " \
                                  "reference"
    assert all(item.passed for item in result.intermediates)


def test_a_wrong_forward_is_named_before_the_backward():
    result = _check("forward_relu")
    assert result.diagnosis[0].startswith("your forward already differs at layer 0's a (max rel err")


def test_a_wrong_delta_with_a_right_forward():
    result = _check("delta_skips_tanh")
    assert result.diagnosis[0].startswith("your forward is right; δ departs at layer 0's δ (max rel err")
    assert [i.name for i in result.intermediates if not i.passed] == ["layer 0's δ"]


def test_a_dict_without_grads_is_a_problem_of_the_call():
    result = check_network(NET, lambda params, X, Y: {"delta": []}, symbolic="off")
    assert not result.passed and "without 'grads'" in result.problems[0]


def test_check_function_compares_intermediates_first_departure():
    x = np.array([0.5, -1.0, 2.0])

    def grad(x):
        return 2 * np.tanh(x) * (1 - np.tanh(x) ** 2)

    u = np.tanh(x)
    ok = check_function(lambda x: np.sum(np.tanh(x) ** 2), grad, x,
                        intermediates={"u": (u, np.tanh), "du": (2 * u, lambda x: 2 * np.tanh(x))})
    assert ok.passed and ok.notes[-1] == "your intermediates agree with their references: u, du"
    bad = check_function(lambda x: np.sum(np.tanh(x) ** 2), lambda x: 2 * np.tanh(x), x,
                         intermediates={"u": (u, np.tanh), "du": (u, lambda x: 2 * np.tanh(x))})
    assert not bad.passed and bad.diagnosis[0].startswith("the first of your intermediates to differ is du (max rel")


def test_check_layer_intermediates_and_a_bad_argument():
    def forward(x, w):
        return x @ w, (x, w)

    def backward(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout

    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    result = check_layer(forward, backward, x, w, intermediates={"out": (x @ w.T[::-1].T, lambda x, w: x @ w)})
    assert result.passed and "the first of your intermediates to differ is out" in result.notes[-1]
    with pytest.raises(TypeError, match="expected a pair"):
        check_layer(forward, backward, x, w, intermediates={"out": x})


def test_the_cli_json_lists_the_intermediates(tmp_path, capsys):
    import json

    from gradcheck.cli import main

    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(NET))
    code = main([str(spec), "--impl", f"{IMPLS / 'row_biases.py'}:delta_skips_tanh", "--symbolic", "off",
                 "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [i["name"] for i in doc["intermediates"] if not i["passed"]] == ["layer 0's δ"]


def test_a_row_bias_is_traced_to_the_line_that_made_it_not_one_that_passed_it_on():
    result = _check("with_intermediates")
    made = next(i for i, line in enumerate((IMPLS / "row_biases.py").read_text().splitlines(), 1)
                if line.strip().startswith("grads = [{"))
    assert f"b0 (1,5) is made at your line row_biases.py:{made} " in " | ".join(result.diagnosis)


def test_an_address_reused_by_another_array_is_no_origin():
    import weakref

    from gradcheck.diagnose.linetrace import Line, LineTrace

    a, other = np.zeros(3), np.ones(3)
    line = Line("f.py", 1, "W = params['W']")
    trace = LineTrace([line], [], _origin={id(a): (line, weakref.ref(other))})
    assert trace.origin(a) is None
    trace = LineTrace([line], [], _origin={id(a): (line, weakref.ref(a))})
    assert trace.origin(a) is line
