"""erf, erfc and the standard normal Φ, vectorised (NumPy has no erf, and SciPy is not a dependency); SELU's
fixed constants, which the NumPy and the SymPy forms of selu share.

W. J. Cody's rational Chebyshev approximations (Math. Comp. 23, 1969; his CALERF), good
to a few units in the last place of float64: erf(x) = x·P(x²)/Q(x²) for |x| ≤ 0.5,
erfc(x) = exp(−x²)·P(x)/Q(x) for 0.5 < x ≤ 4 and exp(−x²)/x·(1/√π − P(1/x²)/Q(1/x²))
beyond. exp(−x²) is taken as exp(−x₁²)·exp(−(x − x₁)(x + x₁)) with x₁ = x rounded down
to a sixteenth, so that x² is not rounded before the exponential.

A complex z = x + i·y near the real axis (the complex-step finite differences take
|y| ≈ 1e-20) is evaluated by Taylor's series in i·y, exact to rounding for |y| ≤ 1e-6;
further from the axis these functions raise ValueError.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["SELU_ALPHA", "SELU_LAMBDA", "erf", "erfc", "normal_cdf", "normal_pdf"]

#: SELU's fixed constants (Klambauer et al. 2017), as torch.nn.functional.selu has them.
SELU_LAMBDA = 1.0507009873554805
SELU_ALPHA = 1.6732632423543772

_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02, 3.20937758913846947e03,
      1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03, 2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01, 2.98635138197400131e02,
      8.81952221241769090e02, 1.71204761263407058e03, 2.05107837782607147e03, 1.23033935479799725e03,
      2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02, 1.62138957456669019e03,
      3.29079923573345963e03, 4.36261909014324716e03, 3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1, 1.60837851487422766e-2,
      6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1, 6.05183413124413191e-2,
      2.33520497626869185e-3)
_RSQRTPI = 5.6418958354775628695e-1  # 1/√π
_NEAR_AXIS = 1e-6  # the largest |Im z| evaluated (a Taylor series in i·Im z)


def _small(x):
    """erf(x) for |x| ≤ 0.5."""
    s = x * x
    num, den = _A[4] * s, s
    for a, b in zip(_A[:3], _B[:3]):
        num, den = (num + a) * s, (den + b) * s
    return x * (num + _A[3]) / (den + _B[3])


def _exp_minus_square(y):
    y1 = np.trunc(y * 16.0) / 16.0
    return np.exp(-y1 * y1) * np.exp(-(y - y1) * (y + y1))


def _erfc_large(y):
    """erfc(y) for y > 0.5."""
    mid = y <= 4.0
    num, den = _C[8] * y, y
    for c, d in zip(_C[:7], _D[:7]):
        num, den = (num + c) * y, (den + d) * y
    inner = (num + _C[7]) / (den + _D[7])
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        s = 1.0 / (y * y)
        num, den = _P[5] * s, s
        for p, q in zip(_P[:4], _Q[:4]):
            num, den = (num + p) * s, (den + q) * s
        outer = (_RSQRTPI - s * (num + _P[4]) / (den + _Q[4])) / y
        return _exp_minus_square(y) * np.where(mid, inner, outer)


def _erf_real(x):
    x = np.asarray(x, dtype=float)
    y = np.abs(x)
    small = y <= 0.5
    tail = 1.0 - _erfc_large(np.where(small, 1.0, y))
    return np.where(small, _small(np.where(small, x, 0.0)), np.copysign(tail, x))


def _erfc_real(x):
    x = np.asarray(x, dtype=float)
    y = np.abs(x)
    small = y <= 0.5
    tail = _erfc_large(np.where(small, 1.0, y))
    return np.where(small, 1.0 - _small(np.where(small, x, 0.0)), np.where(x > 0, tail, 2.0 - tail))


def _near_axis(z, real_part, sign):
    """f(x + i·y) = Σ_k (i·y)^k/k! · f⁽ᵏ⁾(x) for f = erf (sign 1) or erfc (sign −1), to k = 3."""
    x, y = np.real(z), np.imag(z)
    if np.any(np.abs(y) > _NEAR_AXIS):
        raise ValueError(f"erf of a complex number is evaluated within {_NEAR_AXIS:g} of the real axis only")
    d1 = sign * 2.0 * _RSQRTPI * np.exp(-x * x)  # f'(x); f'' = −2x·f', f''' = (4x² − 2)·f'
    iy = 1j * y
    return real_part(x) + d1 * (iy + iy**2 / 2 * (-2.0 * x) + iy**3 / 6 * (4.0 * x * x - 2.0))


def erf(z):
    """erf(z), element-wise (float64 arrays, or complex ones near the real axis)."""
    if np.iscomplexobj(z):
        return _near_axis(z, _erf_real, 1.0)
    return _erf_real(z)


def erfc(z):
    """erfc(z) = 1 − erf(z), keeping its digits for large z."""
    if np.iscomplexobj(z):
        return _near_axis(z, _erfc_real, -1.0)
    return _erfc_real(z)


def normal_cdf(z):
    """Φ(z) = erfc(−z/√2)/2, the standard normal distribution function (no cancellation for z ≪ 0)."""
    return 0.5 * erfc(-z * math.sqrt(0.5))


def normal_pdf(z):
    """φ(z) = exp(−z²/2)/√(2π)."""
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
