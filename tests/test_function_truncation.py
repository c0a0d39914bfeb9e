"""check_function where the first central difference g(h) is off the slope by more than the tolerance.

At x, g(h) is off the slope by f'''·h²/6, and an analytic value equal to g(h) agrees with it by construction: the
bound must carry that truncation, and an agreement it leaves uncertain must be decided at smaller steps. At an
inflection point the one-sided slopes at ±h differ by f''·h, nothing: Σ tanh(X·w) at w = 0 under inputs of 1e4
has g(h) 0.2% below its slope at the default steps. Where they turn, g(h) can be off by 5e-5 to 5e-4 (Σ exp(s·x)
at 0, s of 3e3 to 9e3), below the hundred times rtol at which an agreement was estimated again.
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


def _exponentials(seed, scale):
    """f(x) = Σ exp(s_k·x_k) at x = 0, s of ``scale``: slopes that turn across ±h, and its slope there."""
    s = scale * np.random.default_rng(seed).uniform(0.3, 1.0, size=4)
    return (lambda x: float(np.sum(np.exp(s * x)))), s.copy(), np.zeros(4)


FUNCTIONS = [(_tanh_sum, 0, 1e4), (_tanh_sum, 1, 3e4), (_sines, 2, 2e4), (_sines, 3, 1e4), (_exponentials, 4, 9e3),
             (_exponentials, 5, 6e3)]


@pytest.mark.parametrize(("make", "seed", "scale"), FUNCTIONS)
def test_the_exact_slope_passes_where_g_h_is_off_the_slope(make, seed, scale):
    f, slope, x = make(seed, scale)
    r = check_function(f, lambda _: slope.copy(), x)
    assert r.passed and r.counts()["wrong"] == 0, str(r)


@pytest.mark.parametrize(("make", "seed", "scale"), FUNCTIONS)
def test_the_central_difference_as_a_gradient_is_caught_where_it_is_off_the_slope(make, seed, scale):
    f, slope, x = make(seed, scale)
    g = _central(f, x)
    off = np.abs(g - slope) > 1e-4 * np.abs(slope)  # beyond ten times the tolerance: wrong
    assert off.any()  # the case is what it says: g(h) is off
    r = check_function(f, lambda _: g.copy(), x)
    assert not r.passed, str(r)
    verdicts = r.tensors[0].verdict("analytic").ravel()
    assert not np.any(verdicts[off] == "good"), verdicts
