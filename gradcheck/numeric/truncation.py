"""How far an agreement with the first central difference g(h) can be trusted: its truncation, for a function check.

An element whose analytic value agrees with g(h) (two calls of f) keeps it only where g(h)'s own error is small:
g(h) is off the slope by f'''·h²/6 + …, which f's rounding says nothing of. Where the one-sided slopes at ±h turn
(:func:`turning`), two more calls give g(2h) and the truncation |g(h) − g(2h)|/3 (:func:`add_truncation`); elsewhere
one more call, f(x + 2h), gives the third difference (:func:`add_third_difference`), which sees the truncation at an
inflection point too, where the slopes do not turn.
"""

from __future__ import annotations

import numpy as np

from .along import at_twice, mover
from .stencils import EPS, ROUND_ULPS

__all__ = ["THIRD_MARGIN", "add_third_difference", "add_truncation", "turn_allowed", "turning"]


def turn_allowed(rtol):
    """The most the slope may turn across ±h, as a fraction of g(h), for an agreement with g(h) to stand without the
    stencil at 2h: g(h)'s own error is about (h/L)²/6 of it, L the scale on which f's slope turns, and h/L about
    that turn, (D₊ − D₋)/g(h); √(rtol/10), at rtol 1e-5 a turn of 1e-3 and an error of 2e-7."""
    return float(np.sqrt(rtol / 10))


def turning(near, f0, g1, floor, settings):
    """The elements whose one-sided slopes at ±h, D₊ = (f(x + h) − f(x))/h and D₋ = (f(x) − f(x − h))/h from the
    points of the first central difference (``near``, :meth:`~gradcheck.numeric.along.Probe.points`), turn by more than
    :func:`turn_allowed` of g(h), beyond twice the rounding ``floor``: where f turns within a few hundred steps, g(h)'s
    truncation reaches rtol, and an analytic value a thousandth off (a slip) can agree with it by chance (inputs of
    1e4 under weights of 1e-4: g(h) −923.705, the slope −922.777, an analytic value ×1.001 good). No calls of f."""
    with np.errstate(invalid="ignore", divide="ignore"):
        plus, minus = (near[0] - f0) / near[1], (near[2] - f0) / near[3]  # the steps taken carry their signs
        turn = np.abs(plus - minus)
        return np.flatnonzero(turn > turn_allowed(settings.rtol) * np.abs(g1) + 2 * floor)


def add_truncation(f_batch, theta, f0, elements, out, chunk):
    """The bound in ``out`` of the ``elements`` (their indices, :meth:`~gradcheck.numeric.along.Probe.points` of the
    first stencil, the steps h), whose g(h) agrees with their analytic value while their slope turns across ±h
    (:func:`turning`), made to carry g(h)'s truncation too, |g(h) − g(2h)|/3, from two more calls each: a
    quadratic's is 0 (its g(h) is exact, and agrees as before), a function turning within a few hundred steps has
    one of a thousandth, and the agreement then promises nothing until smaller steps resolve the element
    (:func:`~gradcheck.numeric.function._refine_undecided`)."""
    at, near, h = elements
    if not at.size:
        return
    values, taken = at_twice(f_batch, theta, at, near, 2 * h[at], chunk, f0)
    with np.errstate(invalid="ignore", divide="ignore"):
        g2 = (values[2] - values[3]) / (taken[2] - taken[3])
        trunc = np.abs(out.numeric[at] - g2) / 3
    out.bound[at] += np.where(np.isfinite(trunc), trunc, np.inf)


#: The one-sided third difference estimates f''' at x + h/2, and g(h)'s error has terms of higher order: at an
#: inflection point of a tanh they reach 1% of f'''·h²/6 at the default steps, beyond it. Twice the estimate is
#: counted.
THIRD_MARGIN = 2.0


def add_third_difference(f_batch, theta, f0, elements, out, noise=(EPS, 0.0)):
    """The bound in ``out`` of the ``elements`` (their indices, :meth:`~gradcheck.numeric.along.Probe.points` of the
    first stencil, the steps h), whose g(h) agrees with their analytic value and whose slope does not turn across ±h
    (:func:`turning`), made to carry g(h)'s truncation too, f'''·h²/6, from one more call each, f(x + 2h): with
    f(x − h), f(x) and f(x + h) its third divided difference is f'''/6, of f''' at x + h/2 rather than at x
    (:data:`THIRD_MARGIN` times what of it stands above its own rounding is counted; ``noise``: (the precision f
    computes in, f's measured rounding), as the bound's rounding takes them). The turn of the slopes is f''·h,
    nothing at an inflection point, where g(h)'s error is all f'''·h²/6: Σ tanh(X·w) at w = 0 under inputs of 1e4
    has g(h) 0.2% below the slope at the default steps, and an analytic value equal to g(h) agreed with it, within a
    bound of f's rounding alone. An element whose agreement the truncation leaves uncertain is then estimated as one
    that disagrees (:func:`~gradcheck.numeric.function._kink_aware`)."""
    at, near, h = elements
    if not at.size:
        return
    far, _, taken = mover(f_batch, theta, at)(np.arange(at.size), 2 * h[at][None, :])
    points = np.stack([near[3, at], np.zeros(at.size), near[1, at], taken[0]])
    values = np.stack([near[2, at], np.full(at.size, float(f0)), near[0, at], far[0]])
    eps, measured = noise
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        weights = [1 / np.prod([points[i] - points[j] for j in range(4) if j != i], axis=0) for i in range(4)]
        scale = np.abs(near[1, at] * near[3, at])  # h², as the steps were taken
        third = np.abs(sum(w * v for w, v in zip(weights, values))) * scale
        # Each value's rounding as a quotient's bound counts it (ROUND_ULPS of the larger of ε·|f| and the measure).
        rounding = ROUND_ULPS * np.maximum(eps * np.abs(values).max(axis=0), measured) * sum(
            np.abs(w) for w in weights) * scale
        trunc = THIRD_MARGIN * np.maximum(third - rounding, 0.0)
    out.bound[at] += np.where(np.isfinite(trunc), trunc, np.inf)
