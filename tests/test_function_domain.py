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
