"""Checks as stages over one settings object; the result carries what rendering and reports need."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gradcheck.checks import function as function_check
from gradcheck.checks import network as network_check
from gradcheck.checks.function import check_function, check_layer
from gradcheck.checks.network import check_network
from gradcheck.checks.options import CheckOptions
from gradcheck.reference import shapes
from gradcheck.reference.shapes import trace_shapes
from gradcheck.render import REPORT_FORMATS, get_format
from gradcheck.render.runs import Run
from gradcheck.reports.derivation import build_report
from gradcheck.spec.parse import load_spec

ROOT = Path(__file__).resolve().parents[1]
OR_GATE = ROOT / "derivations" / "or_gate.json"
MLP = Path(__file__).parent / "impls" / "sigmoid_mlp.py"
NET = {"input": 3, "layers": [{"units": 3, "activation": "sigmoid"}, {"units": 2, "activation": "sigmoid"}],
       "loss": "quadratic", "batch": 5}


def test_the_entry_points_keep_their_defaults_in_the_options():
    r = check_function(lambda x: np.sum(x ** 2), lambda x: 2 * x, np.array([1.0, -2.0]))
    defaults = CheckOptions()
    assert (r.rtol, r.atol) == (defaults.rtol, defaults.atol) and r.mode == "full"


@pytest.mark.parametrize(("impl", "rtol", "passed"), [("good_column", 1e-5, True), ("slightly_off_column", 1e-5, False),
                                                      ("slightly_off_column", 1e-3, True)])
def test_the_tolerance_reaches_the_verdicts_of_a_network(impl, rtol, passed):
    r = check_network(NET, f"{MLP}:{impl}", symbolic="off", rtol=rtol)
    assert r.passed is passed and r.rtol == rtol
    assert r.tensor("W1").opinion_passed("impl") is passed


@pytest.mark.parametrize(("scale", "rtol", "passed"), [(1.0, 1e-5, True), (1 + 3e-4, 1e-5, False),
                                                       (1 + 3e-4, 1e-3, True)])
def test_the_tolerance_reaches_the_verdicts_of_a_function(scale, rtol, passed):
    x = np.array([0.5, -1.5, 2.0])
    r = check_function(lambda x: np.sum(np.sin(x)), lambda x: scale * np.cos(x), x, rtol=rtol)
    assert r.passed is passed and r.rtol == rtol


def test_a_failing_layer_carries_its_line_trace_and_dout():
    def forward(x, w):
        return x @ w, (x, w)

    def backward(dout, cache):  # dw forgot the transpose of x
        x, w = cache
        return dout @ w.T, x @ dout.T

    rng = np.random.default_rng(0)
    wrong = check_layer(forward, backward, rng.normal(size=(3, 3)), rng.normal(size=(3, 3)))
    assert not wrong.passed and wrong.line_trace is not None and wrong.dout.shape == (3, 3)
    right = check_layer(forward, lambda dout, c: (dout @ c[1].T, c[0].T @ dout), rng.normal(size=(3, 3)),
                        rng.normal(size=(3, 3)))
    assert right.passed and right.line_trace is None and "line_trace" not in right.extra


def test_the_result_carries_the_shape_trace_and_rendering_never_traces_again(monkeypatch):
    spec = load_spec(OR_GATE)
    result = check_network(spec, symbolic="off")
    assert result.trace.to_json() == trace_shapes(spec).to_json()
    assert result.extra["mode"] == result.mode == "full" and result.extra["spec"] is result.spec

    def traced_again(*_):
        raise AssertionError("the shape trace was traced again")

    for module in (shapes, network_check, function_check):
        monkeypatch.setattr(module, "trace_shapes", traced_again, raising=False)
    for fmt in REPORT_FORMATS:
        assert build_report(result, fmt).startswith(("# Derivation", "<!DOCTYPE", "\\documentclass", "{"))
    out = get_format("json").runs([Run(result)])
    assert json.loads(out)["shapes"] == result.trace.to_json()
    assert "Shape trace" in get_format("text").runs([Run(result)])


def _verdicts(result):
    return {(t.name, op): np.asarray(t.verdict(op)).tolist() for t in result.tensors for op in t.checked
            if t.verdict(op) is not None}


def _eager(monkeypatch):
    """Make the reference backprop's rounding right after the finite differences, as before it was made lazily."""
    original = network_check.numeric_stage

    def numeric_then_rounding(s, opts):
        original(s, opts)
        s.backprop_rounding()

    monkeypatch.setattr(network_check, "STAGES", tuple(numeric_then_rounding if stage is original else stage
                                                       for stage in network_check.STAGES))


def test_a_check_whose_every_element_agrees_never_makes_the_backprops_rounding(monkeypatch):
    calls = []
    original = network_check.backprop_rounding
    monkeypatch.setattr(network_check, "backprop_rounding", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert check_network(OR_GATE, symbolic="off").passed and calls == []
    wrong = check_network(NET, f"{MLP}:slightly_off_column", symbolic="off")  # a failing element asks for it
    assert not wrong.passed and calls == [1]


LAZY_CASES = sorted((ROOT / "tests" / "cases").glob("*.json")) + [ROOT / "derivations" / name for name in
                                                                  ("or_gate.json", "tiny_cnn.json", "xor.json")]


@pytest.mark.parametrize("path", LAZY_CASES, ids=lambda p: p.stem)
def test_the_lazy_allowance_gives_the_verdicts_the_eager_one_gives(path, monkeypatch):
    """Corner networks (saturated outputs, sums that cancel to rounding, kinks, narrow norms), where the allowance
    for the backprop's rounding decides verdicts, judged with it made first and made only when asked."""
    net = json.loads(path.read_text())
    lazy = check_network(net, symbolic="off")
    _eager(monkeypatch)
    eager = check_network(net, symbolic="off")
    assert _verdicts(lazy) == _verdicts(eager) and lazy.passed == eager.passed


@pytest.mark.parametrize("path", LAZY_CASES, ids=lambda p: p.stem)
def test_tensors_judged_again_with_the_allowance_where_the_forecast_missed_give_the_eager_verdicts(path, monkeypatch):
    """Where the comparison within rtol forecasts no need for the allowance but some element is not good without
    it after all, only those tensors are judged again, with it: the verdicts are the eager ones."""
    net = json.loads(path.read_text())
    monkeypatch.setattr(network_check, "within_rtol", lambda *a, **k: True)
    lazy = check_network(net, symbolic="off")
    monkeypatch.undo()
    _eager(monkeypatch)
    eager = check_network(net, symbolic="off")
    assert _verdicts(lazy) == _verdicts(eager) and lazy.passed == eager.passed


def test_the_lazy_allowance_still_excuses_a_wrong_looking_element_a_correct_backprop_rounds(monkeypatch):
    """Where the backprop's rounding is as large as an element, the lazy check makes it and judges with it."""
    net = json.loads((ROOT / "tests" / "cases" / "saturated_copied_samples.json").read_text())
    calls = []
    original = network_check.backprop_rounding
    monkeypatch.setattr(network_check, "backprop_rounding", lambda *a, **k: calls.append(1) or original(*a, **k))
    result = check_network(net, symbolic="off")
    assert calls == [1] and result.passed
    assert any(t.swamped() for t in result.tensors)


def test_overflow_in_gradchecks_own_arithmetic_is_judged_not_warned_about_and_the_users_code_still_warns():
    """Params that overflow at every step (an unmeasured element) or a huge input under kinks: gradcheck's own
    stages judge the infs and NaNs they make and warn of none of them; a user's backprop that overflows still shows
    its own warning."""
    import warnings

    from oracles import case

    for name in ("overflow_at_every_step", "kinks_under_a_huge_input"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            assert check_network(case(name), symbolic="off").passed

    def overflowing(params, X, Y):
        np.float64(1e300) * np.float64(1e300)
        return [{key: np.zeros_like(v) for key, v in layer.items()} for layer in params]

    with pytest.warns(RuntimeWarning, match="overflow"):
        check_network(NET, overflowing, symbolic="off", trace_code=False)
