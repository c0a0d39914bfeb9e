"""check_function at an inflection point of a steep f, where the turn of the one-sided slopes says nothing.

At x the central difference g(h) is off the slope by f'''·h²/6, while the one-sided slopes at ±h differ by f''·h:
zero at an inflection point. Σ tanh(X·w) at w = 0 under inputs of 1e4 has g(h) 0.2% below its slope at the default
steps, and an analytic value equal to g(h) must not be judged good there with a bound of f's rounding alone.
"""

import numpy as np
import pytest

from gradcheck import check_function
from gradcheck.numeric import methods
from gradcheck.numeric.stencils import default_step


def _tanh_sum(seed, scale):
    """f(w) = Σ tanh(X·w) at w = 0 (every unit at its inflection point), X (4, 3) of ``scale``, and its slope there."""
    rng = np.random.default_rng(seed)
    X = scale * rng.uniform(0.5, 1.0, size=(4, 3)) * rng.choice([-1.0, 1.0], size=(4, 3))
    return (lambda w: float(np.sum(np.tanh(X @ w)))), X.sum(axis=0), np.zeros(3)


def _sines(seed, scale):
    """f(x) = Σ sin(s_k·x_k) at x = 0, s of ``scale``: an inflection point along every axis, and its slope there."""
    s = scale * np.random.default_rng(seed).uniform(0.5, 1.0, size=5)
    return (lambda x: float(np.sum(np.sin(s * x)))), s.copy(), np.zeros(5)


def _central(f, x):
    """g(h) at the default steps: the value a check that trusts it would certify."""
    h = default_step(x, methods.lookup("central"))
    eye = np.eye(x.size)
    return np.array([(f(x + h[k] * eye[k]) - f(x - h[k] * eye[k])) / (2 * h[k]) for k in range(x.size)])


FUNCTIONS = [(_tanh_sum, 0, 1e4), (_tanh_sum, 1, 3e4), (_sines, 2, 2e4), (_sines, 3, 1e4)]


@pytest.mark.parametrize(("make", "seed", "scale"), FUNCTIONS)
def test_the_exact_slope_passes_at_an_inflection_point(make, seed, scale):
    f, slope, x = make(seed, scale)
    r = check_function(f, lambda _: slope.copy(), x)
    assert r.passed and r.counts()["wrong"] == 0, str(r)


@pytest.mark.parametrize(("make", "seed", "scale"), FUNCTIONS)
def test_the_central_difference_as_a_gradient_is_caught_at_an_inflection_point(make, seed, scale):
    f, slope, x = make(seed, scale)
    g = _central(f, x)
    off = np.abs(g - slope) > 1e-4 * np.abs(slope)  # beyond ten times the tolerance: wrong
    assert off.any()  # the case is what it says: g(h) is off
    r = check_function(f, lambda _: g.copy(), x)
    assert not r.passed, str(r)
    verdicts = r.tensors[0].verdict("analytic").ravel()
    assert not np.any(verdicts[off] == "good"), verdicts
