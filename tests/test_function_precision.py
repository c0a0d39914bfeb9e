"""check_function where f computes in float32 and hands back a Python float (``float(loss)``, ``loss.item()``).

Its type no longer says float32, but its values do: each is a float32 number, which a float64 computation lands on
once in about 5e8 tries. Taken for float64, a saturated float32 tanh (exactly ±1 at x and at every step) reads a slope
of 0 bounded by float64's rounding, and its exact slope of 1e-6 was judged wrong.
"""

import numpy as np
import pytest

from gradcheck import check_function
from gradcheck.judge.bands import carried_precision

A = np.array([[0.8, -1.3, 0.4], [2.1, 0.7, -0.9], [-0.6, 1.7, 1.2], [1.1, -0.2, 0.5]])


def _tanh_sum(dtype):
    def f(x):
        return float(np.sum(np.tanh(A.astype(dtype) @ np.asarray(x, dtype)) * np.array([0.3, -0.7, 1.1, 0.9], dtype)))

    def grad(x):
        z = A @ np.asarray(x, float)
        return A.T @ ((1 - np.tanh(z) ** 2) * np.array([0.3, -0.7, 1.1, 0.9]))

    return f, grad


SATURATED = np.array([6.0, -4.5, 5.0])  # every z beyond 7: tanh is ±1 in float32, not in float64
MODERATE = np.array([0.3, -0.2, 0.5])


@pytest.mark.parametrize("x", [SATURATED, MODERATE], ids=["saturated", "moderate"])
def test_a_float32_loss_handed_back_as_a_python_float_is_taken_for_float32(x):
    f, grad = _tanh_sum(np.float32)
    r = check_function(f, grad, x.copy())
    assert r.passed, str(r)
    assert any("computes in float32, as its values show" in n for n in r.notes), r.notes


def test_a_slip_of_a_float32_loss_is_still_caught():
    f, grad = _tanh_sum(np.float32)
    r = check_function(f, lambda x: grad(x) * np.array([1.0, 1.05, 1.0]), MODERATE.copy())
    assert not r.passed, str(r)
    assert r.tensors[0].verdict("analytic")[1] in ("wrong", "suspicious"), str(r)


def test_a_float64_loss_is_not_taken_for_float32():
    f, grad = _tanh_sum(np.float64)
    r = check_function(f, grad, MODERATE.copy())
    assert r.passed, str(r)
    assert not any("float32" in n for n in r.notes), r.notes


def test_values_too_simple_to_tell_say_nothing():
    assert carried_precision([3.0, float(np.float32(0.1))]) is None
    assert carried_precision([float(np.float16(0.1)), float(np.float16(0.3))]) == "float16"
    assert carried_precision([float(np.float32(0.1)), 0.1]) is None
