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


# Σ v·tanh(A·x) in float32 with weights up to 18: float32's steps (about 5e-3) see f curve, and the estimate of
# ∂f/∂x[0], −11.3642 exactly, was −11.3757 ± 0.0113, 1e-3 off and bounded just under 1e-3 of the value.
CURVED_A = np.array([[-13.997536659240723, 8.508411407470703, -5.939795017242432],
                     [9.778552055358887, -1.6125552654266357, 0.3364982604980469],
                     [2.280256986618042, 9.033126831054688, -5.616321086883545],
                     [-8.988873481750488, 16.454256057739258, -18.49059295654297],
                     [16.055105209350586, -2.0094358921051025, 17.016754150390625]], dtype=np.float32)
CURVED_V = np.array([-0.0453348308801651, 0.2632291316986084, -0.531197190284729, 0.8378650546073914,
                     -1.3146443367004395], dtype=np.float32)
CURVED_X = np.array([0.018698439174537194, 0.13817704260747626, 0.045631181552587975])


def _curved(x):
    return float(np.sum(CURVED_V * np.tanh(CURVED_A @ np.asarray(x, np.float32))))


def _curved_grad(x):
    A = CURVED_A.astype(float)
    return A.T @ (CURVED_V.astype(float) * (1 - np.tanh(A @ x) ** 2))


def test_a_slip_that_agrees_with_a_loose_estimate_is_not_judged_good():
    r = check_function(_curved, lambda x: _curved_grad(x) * np.array([1.001, 1.0, 1.0]), CURVED_X.copy())
    assert r.tensors[0].verdict("analytic")[0] != "good", str(r)
    assert check_function(_curved, _curved_grad, CURVED_X.copy()).counts()["wrong"] == 0
