"""Committed reports are a function of their spec alone: round-off cannot change them, a real change must.

Another machine's BLAS or summation order moves finite differences by about 1e-10 relative.
These tests regenerate every worked example's reports with the finite differences disturbed
at that level and compare them byte for byte with the committed ``reports/``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import gradcheck.checks.network
import gradcheck.numeric.network
import gradcheck.symbolic.derive
from gradcheck.render.precision import ERROR_FLOOR, noise_level, rounded, shown_error, shown_value
from gradcheck.reports.files import compare_dirs, generate, main

ROOT = Path(__file__).resolve().parents[1]
DERIVATIONS = ROOT / "derivations"
REPORTS = ROOT / "reports"


def _scaled_steps(monkeypatch, factor):
    original = gradcheck.numeric.network.default_step
    monkeypatch.setattr(gradcheck.numeric.network, "default_step",
                        lambda theta, *a, **k: original(theta, *a, **k) * factor)


def _noisy_numeric(monkeypatch, rel):
    """Every finite-difference value times (1 ± rel), signs from a fixed seed: another machine's round-off."""
    original = gradcheck.checks.network.numeric_gradient
    rng = np.random.default_rng(1)

    def noisy(*args, **kwargs):
        out = original(*args, **kwargs)
        for layer in out.grads:
            for key, g in layer.items():
                layer[key] = g * (1 + rel * rng.choice([-1.0, 1.0], size=np.shape(g)))
        return out

    monkeypatch.setattr(gradcheck.checks.network, "numeric_gradient", noisy)


_DERIVED = {}


@pytest.fixture
def derive_once(monkeypatch):
    """SymPy's derivation of each example, shared by the disturbed runs: only the finite differences differ."""
    original = gradcheck.symbolic.derive.derive

    def derive(spec, expand="auto", deferred=False):
        key = (json.dumps(spec.to_dict(), sort_keys=True), expand)
        if key not in _DERIVED:
            _DERIVED[key] = original(spec, expand)  # written out at once: shared, the same forms either way
        return _DERIVED[key]

    monkeypatch.setattr(gradcheck.symbolic.derive, "derive", derive)


@pytest.mark.parametrize("disturb", [
    pytest.param(lambda mp: _scaled_steps(mp, 1 + 1e-6), id="step-times-1+1e-6"),
    pytest.param(lambda mp: _scaled_steps(mp, 1 - 1e-6), id="step-times-1-1e-6"),
    pytest.param(lambda mp: _noisy_numeric(mp, 3e-10), id="relative-noise-3e-10"),
])
def test_round_off_does_not_change_a_committed_report(disturb, monkeypatch, tmp_path, derive_once):
    disturb(monkeypatch)
    generate([DERIVATIONS], tmp_path)
    assert compare_dirs(tmp_path, REPORTS) == []


def test_the_disturbance_is_real(monkeypatch):
    """The step scaling above does move the finite differences (so the test above can fail)."""
    spec = gradcheck.spec.parse.load_spec(str(DERIVATIONS / "xor.json"))
    plain = gradcheck.checks.network.check_network(spec, symbolic="off")
    _scaled_steps(monkeypatch, 1 + 1e-6)
    moved = gradcheck.checks.network.check_network(spec, symbolic="off")
    a, b = plain.tensor("W0").values["numeric"], moved.tensor("W0").values["numeric"]
    assert not np.array_equal(a, b)
    assert np.allclose(a, b, rtol=1e-8, atol=0)


def test_a_changed_parameter_makes_every_report_stale(tmp_path, capsys):
    spec = json.loads((DERIVATIONS / "xor.json").read_text(encoding="utf-8"))
    spec["params"][0]["W"][0][1] += 1e-3
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "xor.json").write_text(json.dumps(spec), encoding="utf-8")
    committed = tmp_path / "committed"
    committed.mkdir()
    for path in REPORTS.glob("xor.*"):
        shutil.copy(path, committed / path.name)
    assert main(["--check", "--specs", str(folder), "--out", str(committed)]) == 1
    stale = capsys.readouterr().out.splitlines()
    assert sorted(stale) == sorted(f"stale: {committed / p.name}" for p in REPORTS.glob("xor.*"))
    assert len(stale) == 4


def test_a_changed_value_digit_is_stale(tmp_path):
    """The check is byte for byte: one digit of one shown value is enough."""
    fresh, committed = tmp_path / "fresh", tmp_path / "committed"
    for d in (fresh, committed):
        d.mkdir()
        shutil.copy(REPORTS / "or_gate.md", d / "or_gate.md")
    text = (committed / "or_gate.md").read_text(encoding="utf-8")
    assert "0.0144467" in text
    (committed / "or_gate.md").write_text(text.replace("0.0144467", "0.0144468", 1), encoding="utf-8")
    assert compare_dirs(fresh, committed) == [f"stale: {committed / 'or_gate.md'}"]


# -- the rounding rules ---------------------------------------------------------------------

def test_a_value_straddling_a_rounding_boundary_shows_the_reference_digits():
    bp = 0.02289724999999999
    assert shown_value(bp) == "0.0228972"
    assert shown_value(bp * (1 + 1e-9), like=bp) == "0.0228972"
    assert shown_value(bp * (1 - 1e-9), like=bp) == "0.0228972"


def test_a_real_disagreement_is_shown():
    assert shown_value(0.0458, like=0.0229) == "0.0458"
    assert shown_value(0.02291, like=0.02289) == "0.02291"  # two units in the last place: shown as it is
    assert shown_value(-0.0229, like=0.0229) == "-0.0229"


def test_tiny_values_against_zero_are_round_off():
    noise = noise_level([np.array([0.5, -0.2])])
    assert noise == pytest.approx(0.5 * ERROR_FLOOR)
    assert shown_value(3e-12, like=0.0, noise=noise) == "0"
    assert shown_error(1.0, abs_err=3e-12, noise=noise) == f"< {ERROR_FLOOR:.0e}"
    assert shown_value(1e-3, like=0.0, noise=noise) == "0.001"
    assert shown_error(1.0, abs_err=1e-3, noise=noise) == "1"


def test_errors_are_floored_and_rounded():
    assert shown_error(5.2e-10) == shown_error(1.3e-9) == "< 1e-07"
    assert shown_error(0.5000000001) == shown_error(0.4999999999) == "0.5"
    assert shown_error(3.14159e-4) == "0.00031"
    assert shown_error(float("inf")) == "inf" and shown_error(float("nan")) == "NaN"
    assert rounded(float("nan")) != rounded(float("nan"))  # NaN stays NaN
    assert rounded(None) is None
