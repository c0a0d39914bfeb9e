"""check_function at a point within a few steps of the edge of f's domain: sqrt(1 − x) at x a step and a half from 1.

The first stencil's points at ±h are inside the domain, those at ±2h are not (f is NaN there). The kink tests must
take smaller steps, whose points are inside, rather than leave the element without a numeric value (a problem that
fails the check of a correct gradient).
"""

import numpy as np
import pytest

from gradcheck import check_function
from gradcheck.numeric import methods
from gradcheck.numeric.stencils import default_step

H = float(default_step(np.array([0.5]), methods.lookup("central"))[0])


def f(x):
    with np.errstate(invalid="ignore"):
        return float(np.sum(np.sqrt(1 - x)))


def grad(x):
    return -0.5 / np.sqrt(1 - x)


@pytest.mark.parametrize("steps", [1.2, 1.5, 1.9])
def test_a_correct_gradient_passes_within_two_steps_of_the_domain_edge(steps):
    x = np.array([1 - steps * H, 0.3])
    r = check_function(f, grad, x)
    assert r.passed and not r.problems, str(r)
    assert r.counts()["good"] == 2, str(r)


@pytest.mark.parametrize("steps", [1.2, 1.5, 1.9])
def test_a_slip_within_two_steps_of_the_domain_edge_is_caught(steps):
    x = np.array([1 - steps * H, 0.3])
    r = check_function(f, lambda v: grad(v) * np.array([1.001, 1.0]), x)
    assert not r.passed and not r.problems, str(r)
    assert r.tensors[0].verdict("analytic")[0] in ("wrong", "suspicious"), str(r)


def test_an_element_beside_one_at_the_domain_edge_is_judged_on_its_own():
    # The ±ulp probe of f's rounding moves every element, the one a step from the edge of log's domain too, whose
    # slope (2.2e4) moved f by 3.9e-11 for a rounding of 1e-15: its neighbour's undecided estimate was not estimated
    # again, and stayed inconclusive. The slopes explain that probe.
    c, w = np.array([1.7026662418097922, 6.6717881449707885]), np.array([-0.19898965957916387, 0.8964730261108197])
    x = np.array([-0.3266646634135394, 6.671747339335447])

    def f(v):
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.sum(w * np.log(c - v)))

    def grad(v):
        return -w / (c - v)

    r = check_function(f, grad, x)
    assert r.passed and list(r.tensors[0].verdict("analytic")) == ["good", "good"], str(r)
    r = check_function(f, lambda v: grad(v) * np.array([1.001, 1.0]), x)
    assert r.tensors[0].verdict("analytic")[0] in ("wrong", "suspicious"), str(r)


# x[1] 1.22 default steps from the edge of u^1.5's domain under a weight of 2.7e-5: a gradient of 2.3e-7 beside an f
# of 1.2, whose rounding allows the kink tests no finer step, and the step levels from the first step reach past it.
EDGE_C = np.array([2.2642948569935526, 4.2997830311608825])
EDGE_W = np.array([0.7840687432265644, -2.669858080164666e-05])
EDGE_X = np.array([0.9120228614979663, 4.299751201347208])


def _edge_f(x):
    with np.errstate(invalid="ignore"):
        return float(np.sum(EDGE_W * (EDGE_C - x) ** 1.5))


def _edge_grad(x):
    return -1.5 * EDGE_W * np.sqrt(EDGE_C - x)


def test_a_small_gradient_beside_the_domain_edge_gets_a_numeric_value():
    r = check_function(_edge_f, _edge_grad, EDGE_X.copy())
    assert r.passed and not r.problems, str(r)
    assert np.isfinite(r.tensors[0].values["numeric"]).all(), str(r)


def test_a_gross_slip_of_a_small_gradient_beside_the_domain_edge_is_caught():
    r = check_function(_edge_f, lambda x: _edge_grad(x) * np.array([1.0, 3.0]), EDGE_X.copy())
    assert not r.passed and not r.problems, str(r)
    assert r.tensors[0].verdict("analytic")[1] == "wrong", str(r)
