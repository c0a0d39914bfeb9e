"""Finite-difference stencils of any function: steps, central differences, their combination and error bound.

    ∂C/∂θ_i ≈ g(h) = (C(θ + h_i e_i) − C(θ − h_i e_i)) / (2 h_i),   h_i = ε^{1/3} · max(1, |θ_i|)

ε^{1/3} (≈ 6e-6 in float64) balances the O(h²) truncation error against the O(ε/h)
rounding error; scaling by |θ_i| keeps the step relative for large parameters. The
divisor is the step actually taken, ``(θ+h) − (θ−h)``, not ``2h``, which differ by
rounding. "richardson" (alias "five-point") extrapolates (4·g(h) − g(2h))/3 at
h = ε^{1/5}·max(1, |θ_i|); "complex-step" takes Im C(θ + i·h e_i)/h.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from .methods import CENTRAL, EPS, METHODS, STEP_SCALE, check, lookup

__all__ = [
    "CHUNK_BYTES",
    "EPS",
    "STEP_SCALE",
    "ROUND_ULPS",
    "central_difference",
    "combine",
    "default_step",
    "error_bound",
    "flatten",
    "rounding_floor",
    "unflatten",
]

CHUNK_BYTES = 64 * 2**20
#: Rounding of one loss evaluation, in units of max(ε·|C|, the loss's noise), allowed for in each quotient.
ROUND_ULPS = 4


def default_step(theta, method=CENTRAL):
    """h_i = scale·max(1, |θ_i|) for float64 θ (any shape), the scale of ``method`` (a name or a
    :class:`~gradcheck.numeric.methods.Method`): ε^{1/3} for central differences, ε^{1/5} for Richardson."""
    return lookup(method).step_scale * np.maximum(1.0, np.abs(theta))


def flatten(arrays):
    """Concatenate a list of arrays into one float64 vector."""
    return np.concatenate([np.ravel(a) for a in arrays]).astype(np.float64) if arrays else np.zeros(0)


def unflatten(vec, shapes):
    """Split ``vec`` (..., D) into arrays of ``shapes`` with the leading axes kept."""
    out, at = [], 0
    lead = vec.shape[:-1]
    for s in shapes:
        size = math.prod(s)
        out.append(vec[..., at:at + size].reshape(lead + tuple(s)))
        at += size
    return out


def rounding_floor(fmax, h, eps=EPS, noise=0.0):
    """:data:`ROUND_ULPS`·max(ε·max|C|, ``noise``)/h: what rounding the loss does to a difference quotient at
    step h, at the loss's own scale, or as measured (see :mod:`gradcheck.numeric.noise`) where the loss is the small
    difference of larger terms."""
    return ROUND_ULPS * np.maximum(eps * fmax, noise) / h


def error_bound(g1, g2, fmax, h, eps=EPS, noise=0.0):
    """Error estimate of a central difference g(h): its truncation |g(h) − g(2h)|/3 (the O(h²) term, which
    Richardson extrapolation removes, so a safe bound for that too), plus :func:`rounding_floor`."""
    return np.abs(g1 - g2) / 3 + rounding_floor(fmax, h, eps, noise)


def combine(method, values, taken, h, eps=EPS, noise=0.0):
    """(estimate, error bound) of ``method`` (a :class:`~gradcheck.numeric.methods.Method`) from ``values`` (m, P)
    of f at its offsets: rows ±h, ±2h for central differences (:func:`error_bound`), one row at θ + i·h for a complex
    step (exact to rounding; its bound is 4ε of the estimate, and the smallest normal number over h, below which
    Im f has lost its digits, whatever h is).

    ``taken`` (m, P) are the steps actually taken; ``h`` (P,) the nominal step; ``noise`` the loss's measured
    rounding (:func:`~gradcheck.numeric.noise.layer_noise`).
    """
    if method.complex:
        grad = values[0].imag / taken[0].imag
        return grad, 4 * eps * np.abs(grad) + 4 * sys.float_info.min / taken[0].imag
    values = values.real
    g1 = (values[0] - values[1]) / (taken[0] - taken[1]).real
    g2 = (values[2] - values[3]) / (taken[2] - taken[3]).real
    return method.estimate(g1, g2), error_bound(g1, g2, abs(values).max(axis=0), h, eps, noise)


def central_difference(f_batch, theta, step=None, chunk=None, extra=None, method=CENTRAL, bound=False):
    """Finite differences of a function evaluated on stacks of points.

    ``f_batch(T)`` maps T of shape (P, D) to P values; ``theta`` is (D,). ``method``
    is "central", "richardson" (or "five-point") or "complex-step" (then ``f_batch``
    must accept complex T), or a :class:`~gradcheck.numeric.methods.Method`. Returns the
    gradient (D,); with ``bound=True`` also the per-element error estimate (D,) (central
    differences are then taken at h and 2h); if ``extra`` is given, last, the per-element
    OR of ``extra(T)`` over the perturbed points (used to flag kinks).

    >>> g = central_difference(lambda T: (T ** 3).sum(axis=1), np.array([1.0, -2.0]))
    >>> np.allclose(g, [3.0, 12.0])
    True
    >>> g, err = central_difference(lambda T: np.sin(T).sum(axis=1), np.array([0.5]), method="richardson",
    ...                             bound=True)
    >>> bool(abs(g[0] - np.cos(0.5)) < 1e-12), bool(abs(g[0] - np.cos(0.5)) <= err[0] < 1e-6)
    (True, True)
    """
    if isinstance(method, str):
        check(method, tuple(METHODS))
    method = lookup(method)
    theta = np.asarray(theta, dtype=np.float64)
    d = theta.size
    h = default_step(theta, method) if step is None else np.broadcast_to(np.asarray(step, float), theta.shape)
    offsets = method.offsets if bound else method.estimate_offsets
    m = len(offsets)
    chunk = d if chunk is None else max(1, int(chunk))
    grad, err = np.empty(d), np.zeros(d)
    flags = np.zeros(d, dtype=bool)
    for start in range(0, d, chunk):
        idx = np.arange(start, min(d, start + chunk))
        c = len(idx)
        rows = np.arange(c)
        T = np.repeat(theta[None, :], m * c, axis=0).astype(complex if method.complex else float)
        for j, o in enumerate(offsets):
            T[j * c + rows, idx] += o * h[idx]
        values = np.asarray(f_batch(T)).reshape(m, c)
        grad[idx], err[idx] = _combine(method, values, T, idx, h[idx])
        if extra is not None:
            flags[idx] = np.asarray(extra(T), bool).reshape(m, c).any(axis=0)
    out = (grad, err) if bound else (grad,)
    out += (flags,) if extra is not None else ()
    return out if len(out) > 1 else out[0]


def _combine(method, values, T, idx, h):
    """(estimate, error bound) of one chunk: ``values`` (m, c) of f at the points T (m·c, D) that move ``idx``."""
    if method.complex:
        grad = values[0].imag / h
        return grad, 4 * EPS * np.abs(grad)
    c = len(idx)
    values, rows = values.real.astype(np.float64), np.arange(c)
    # The step actually taken (θ+h)−(θ−h) differs from 2h by rounding; divide by it.
    g1 = (values[0] - values[1]) / (T[rows, idx] - T[c + rows, idx]).real
    if len(values) < 4:
        return g1, 0.0
    g2 = (values[2] - values[3]) / (T[2 * c + rows, idx] - T[3 * c + rows, idx]).real
    return method.estimate(g1, g2), error_bound(g1, g2, np.abs(values).max(axis=0), h)
