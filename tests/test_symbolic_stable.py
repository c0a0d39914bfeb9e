"""SymPy's opinion on saturated outputs: evaluated in the fused, stable forms, or "not evaluated" (never wrong)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import sympy as sp

from gradcheck import check_network, load_spec
from gradcheck.catalogue import LOSSES
from gradcheck.catalogue.activations import SYMPY_NUMPY
from gradcheck.catalogue.sympy_forms import FORMS, softmax
from gradcheck.cli import main
from gradcheck.reference.backprop import backprop
from gradcheck.reports.derivation import build_report
from gradcheck.symbolic.derive import Derivation

# The smallest bce network that saturates: σ(40) rounds to 1.0, so ∂C/∂a = (1 − y)/(1 − a) divides by 0.
BCE40 = {"input": 1, "loss": "bce", "layers": [{"units": 1, "activation": "sigmoid"}],
         "params": [{"W": [[40]], "b": [0]}], "data": {"X": [[1]], "Y": [[0]]}}
# Softmax over z = (60, −60, 800): a_0 and a_1 round to 0; one target on the saturated side, one on the other.
SOFTMAX = {"input": 1, "loss": "cross_entropy", "batch": 2,
           "layers": [{"units": 3, "activation": "softmax"}],
           "params": [{"W": [[60], [-60], [800]], "b": [0, 0, 0]}],
           "data": {"X": [[1], [1]], "Y": [[0, 0, 1], [1, 0, 0]]}}
# Two sigmoid units (one saturated), so that a single element can be singled out.
TWO = {"input": 2, "loss": "bce", "layers": [{"units": 2, "activation": "sigmoid"}],
       "params": [{"W": [[40, 1], [0.5, -0.3]], "b": [0, 0.1]}], "data": {"X": [[1, 2]], "Y": [[0, 1]]}}


def _symbolic_ok(result):
    return all(t.opinion_passed("symbolic") for t in result.tensors)


def test_saturated_bce_passes_on_the_command_line_without_warnings(tmp_path, capsys):
    path = tmp_path / "bce40.json"
    path.write_text(json.dumps(BCE40))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main([str(path), "--symbolic", "on", "--format", "json"])
    out, err = capsys.readouterr()
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in caught]
    assert "RuntimeWarning" not in err and "Warning" not in err
    doc = json.loads(out)
    assert code == 0 and doc["passed"], out
    assert "symbolic" in doc["checked"]


def test_saturated_bce_symbolic_values_equal_the_reference():
    result = check_network(BCE40, symbolic="on")
    assert result.passed and _symbolic_ok(result)
    t = result.tensor("W0")
    assert t.count("good", "symbolic") == 1
    np.testing.assert_allclose(t.values["symbolic"], t.values["backprop"], rtol=1e-14)
    assert not [n for n in result.notes if "SymPy" in n]


def test_saturated_softmax_cross_entropy_passes():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = check_network(SOFTMAX, symbolic="on")
    assert not caught, [str(w.message) for w in caught]
    assert result.passed and _symbolic_ok(result), str(result)
    for t in result.tensors:
        assert t.count("good", "symbolic") == int(np.prod(t.shape))
        np.testing.assert_allclose(t.values["symbolic"], t.values["backprop"], rtol=1e-12)


def test_a_wrong_symbolic_value_is_still_caught(monkeypatch):
    """A derivation wrong in its form (W0[1, 0]'s chain rule 10% off) is wrong however precisely it is evaluated:
    SymPy alone disagrees, its float64 value is its form's, and it is judged wrong."""
    chains = Derivation._chains

    def off_by_ten_percent(self):
        forms = chains(self)
        at = next(k for k, e in enumerate(self.elements) if e.name == "W0" and e.index == (1, 0))
        forms[at] = sp.Rational(11, 10) * forms[at]
        return forms

    monkeypatch.setattr(Derivation, "_chains", off_by_ten_percent)
    result = check_network(TWO, symbolic="on")
    t = result.tensor("W0")
    assert not result.passed and not t.opinion_passed("symbolic") and t.opinion_passed("backprop")
    assert t.verdict("symbolic").tolist() == [["good", "good"], ["wrong", "good"]]


def test_a_symbolic_nan_is_not_evaluated_but_a_users_nan_is_wrong(monkeypatch):
    evaluate = Derivation._evaluate

    def nan_at_w00(self, params, X, Y):
        grads, known, met = evaluate(self, params, X, Y)
        grads[0]["W"][0, 0] = np.nan
        return grads, known, met

    monkeypatch.setattr(Derivation, "_evaluate", nan_at_w00)
    result = check_network(TWO, symbolic="on")
    t = result.tensor("W0")
    assert result.passed, str(result)
    assert t.verdict("symbolic").tolist() == [["unchecked", "good"], ["good", "good"]]
    assert any("not evaluated" in n and "W0[0, 0]" in n for n in result.notes), result.notes
    report = build_report(result, "markdown")
    row = next(line for line in report.splitlines() if line.startswith("| W0[0, 0]"))
    assert "not evaluated" in row and "NaN" not in row and "good" in row

    def user(params, X, Y):  # the reference gradients, with a NaN where SymPy has one
        grads = backprop(load_spec(TWO), params, X, Y)[1]
        grads[0]["W"][0, 0] = np.nan
        return grads

    result = check_network(TWO, user, symbolic="on")
    t = result.tensor("W0")
    assert not result.passed and not t.opinion_passed("impl") and t.opinion_passed("symbolic")
    assert t.verdict("impl")[0, 0] == "wrong" and t.verdict("symbolic")[0, 0] == "unchecked"


def test_an_overflowing_numeric_form_is_named_in_a_note_without_warnings(monkeypatch):
    # softplus(z) = log(1 + exp(z)) written naively overflows at z = 800 where the reference's is 800.
    monkeypatch.setitem(SYMPY_NUMPY, "softplus", lambda z: np.log(1 + np.exp(z)))
    spec = {"input": 1, "loss": "mse", "layers": [{"units": 1, "activation": "softplus"},
                                                  {"units": 1, "activation": "linear"}],
            "params": [{"W": [[800]], "b": [0]}, {"W": [[1e-3]], "b": [0]}], "data": {"X": [[1]], "Y": [[0.5]]}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = check_network(spec, symbolic="on")
    assert not caught, [str(w.message) for w in caught]
    assert result.passed, str(result)
    note = next(n for n in result.notes if "SymPy" in n)
    assert "a0_0 is inf at z0_0 = 800" in note and "overflow" in note and "W1[0, 0]" in note
    assert result.tensor("W1").count("unchecked", "symbolic") == 1


@pytest.mark.parametrize("loss", [name for name, loss in LOSSES.items() if loss.sample_term_from_z is not None])
def test_the_loss_written_in_z_is_the_loss(loss):
    """sample_term_from_z(z) = sample_term(σ(z)) at moderate z: the δ SymPy evaluates is the δ it displays."""
    k = 3
    z, y = sp.symbols("z0:3", real=True), sp.symbols("y0:3", real=True)
    n_, k_ = sp.Symbol("N"), sp.Symbol("K")
    a = softmax_all(z) if LOSSES[loss].output == "softmax" else [FORMS[LOSSES[loss].output](zi) for zi in z]
    ours = LOSSES[loss].sample_term(a, y, n_, k_)
    fused = LOSSES[loss].sample_term_from_z(z, y, n_, k_)
    f = sp.lambdify([*z, *y, n_, k_], [ours, fused, *[sp.diff(ours, zi) - sp.diff(fused, zi) for zi in z]],
                    modules=[SYMPY_NUMPY, "numpy"])
    rng = np.random.default_rng(5)
    for _ in range(20):
        values = f(*rng.normal(0, 3, k), *rng.uniform(0, 1, k), 2, k)
        assert values[0] == pytest.approx(values[1], rel=1e-12)
        assert np.allclose(values[2:], 0, atol=1e-12)


def softmax_all(z):
    return [softmax(i, *z) for i in range(len(z))]
