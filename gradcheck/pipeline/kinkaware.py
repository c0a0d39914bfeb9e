"""Finite differences of any function f(θ), aware of kinks, for :mod:`gradcheck.pipeline.generic`.

Central differences at h cost two calls of f per element; only the elements whose
analytic value disagrees get two more at 2h (all of them for Richardson), which give the
truncation estimate and the kink test. Where f is not differentiable (``|x|``, relu at 0)
a finite difference is not a derivative: the estimates at h and 2h then disagree far
beyond their O(h²) error, and an element whose gradient lies between the one-sided
slopes is flagged as a kink.
"""

from __future__ import annotations

import numpy as np

from .compare import MARGIN
from .numeric import CHUNK_BYTES, EPS, central_difference, default_step, error_bound, rounding_floor

__all__ = ["kink_aware_gradient", "kink_aware_gradient_at"]

#: Relative disagreement between the h and 2h estimates that counts as "not smooth".
KINK_RTOL = 1e-3


#: Rounding in f, in units of eps·|f|/h, tolerated before calling a disagreement a kink.
NOISE_ULPS = 1e3


class _Probe:
    """Wraps f_batch; remembers, for every perturbed point, which element moved, by how much, and f there."""

    def __init__(self, f_batch, theta):
        self.f_batch, self.theta = f_batch, theta
        self.elem, self.off, self.values = [], [], []

    def __call__(self, T):
        values = self.f_batch(T)
        diff = T - self.theta
        elem = np.abs(diff).argmax(axis=1)
        self.elem.append(elem)
        self.off.append(diff[np.arange(len(T)), elem])
        self.values.append(values)
        return values

    def slopes(self, f0):
        """One-sided slopes (f(x+h) − f(x))/h and (f(x) − f(x−h))/h per element, and max |f| seen."""
        d = self.theta.size
        elem, off, values = (np.concatenate(v) for v in (self.elem, self.off, self.values))
        up, down = np.full(d, np.nan), np.full(d, np.nan)
        fmax = np.full(d, abs(f0))
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (values - f0) / off
        up[elem[off > 0]] = s[off > 0]
        down[elem[off < 0]] = s[off < 0]
        np.maximum.at(fmax, elem, np.abs(values))
        return up, down, fmax


def kink_aware_gradient_at(chosen, f_batch, theta, f0, a, method, step, rtol, atol, eps):
    """:func:`kink_aware_gradient` on the elements ``chosen`` only (all if None); NaN elsewhere."""
    if chosen is None:
        return kink_aware_gradient(f_batch, theta, f0, a, method, step, rtol, atol, eps)

    def sub_batch(T):  # f at points that move only the chosen elements
        full = np.repeat(theta[None, :], len(T), axis=0).astype(T.dtype)
        full[:, chosen] = T
        return f_batch(full)

    step = None if step is None else np.broadcast_to(np.asarray(step, float), theta.shape)[chosen]
    numeric, bound, kinks = np.full(theta.size, np.nan), np.zeros(theta.size), np.zeros(theta.size, dtype=bool)
    numeric[chosen], bound[chosen], kinks[chosen] = kink_aware_gradient(sub_batch, theta[chosen], f0, a[chosen],
                                                                        method, step, rtol, atol, eps)
    return numeric, bound, kinks


def kink_aware_gradient(f_batch, theta, f0, a, method, step, rtol, atol, eps=EPS):
    """(numeric gradient, error bound, kink flags), flat over all inputs; ``a`` is the flat analytic gradient.

    Central differences at h cost two calls of f per element. Only the elements whose
    analytic value disagrees beyond the rounding bound get two more calls at 2h, which
    give the truncation estimate |g(h) − g(2h)| and the kink test (all of them for
    "richardson", which extrapolates from both). ``eps`` is the precision f computes in.

    Kinks: central differences at h and 2h, g(h) and g(2h), agree to O(h²) where f is
    smooth; so do the one-sided slope gaps w(h) = s₊(h) − s₋(h) ≈ f''·h and w(2h) ≈ 2·w(h).
    A kink within 2h breaks at least one of the two (each is blind at one offset).
    """
    d = theta.size
    if d == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=bool)
    chunk = max(1, CHUNK_BYTES // (8 * 4 * d))
    base = "central" if method in ("auto", "central", "richardson", "five-point") else method
    if step is not None:
        h = np.broadcast_to(np.asarray(step, float), theta.shape)
    else:
        h = default_step(theta, base if eps == EPS or base == "complex-step" else "central")
        if eps != EPS and base != "complex-step":
            h = h * (eps / EPS) ** (1 / 3)
        elif method in ("richardson", "five-point"):
            h = default_step(theta, "richardson")
    if base == "complex-step":
        g = central_difference(f_batch, theta, h, chunk, method="complex-step")
        return g, 4 * eps * np.abs(g), np.zeros(d, dtype=bool)
    p1 = _Probe(f_batch, theta)
    g1 = central_difference(p1, theta, h, chunk)
    up1, down1, fmax1 = p1.slopes(f0)
    noise = rounding_floor(fmax1, h, eps)
    numeric, bound, kinks = g1.copy(), noise.copy(), np.zeros(d, dtype=bool)
    with np.errstate(invalid="ignore"):
        far = np.abs(a - g1) > rtol * np.maximum(np.abs(a), np.abs(g1)) + atol + MARGIN * noise
    idx = np.flatnonzero(far | np.isnan(g1)) if method not in ("richardson", "five-point") else np.arange(d)
    idx = idx[np.isfinite(a[idx])]
    if idx.size == 0:
        return numeric, bound, kinks

    def sub_batch(T):  # f at points that move only the elements ``idx``
        full = np.repeat(theta[None, :], len(T), axis=0)
        full[:, idx] = T
        return f_batch(full)

    p2 = _Probe(sub_batch, theta[idx])
    g2 = central_difference(p2, theta[idx], 2 * h[idx], chunk)
    up2, down2, fmax2 = p2.slopes(f0)
    g1, up1, down1, fmax1, noise = g1[idx], up1[idx], down1[idx], fmax1[idx], noise[idx]
    fmax = np.maximum(fmax1, fmax2)
    bound[idx] = error_bound(g1, g2, fmax, h[idx], eps)
    if method in ("richardson", "five-point"):
        numeric[idx] = (4 * g1 - g2) / 3
    slopes = np.stack([up1, down1, up2, down2])
    noise = NOISE_ULPS * eps * fmax / h[idx]
    with np.errstate(invalid="ignore"):
        metric = np.maximum(np.abs(g1 - g2), np.abs(2 * (up1 - down1) - (up2 - down2)))
        nonsmooth = metric > KINK_RTOL * np.maximum(np.abs(g1), np.abs(g2)) + noise + atol
        lo, hi = np.nanmin(slopes, axis=0), np.nanmax(slopes, axis=0)
        tol = atol + rtol * np.maximum(np.abs(lo), np.abs(hi)) + noise
        between = (a[idx] >= lo - tol) & (a[idx] <= hi + tol)
    kinks[idx] = nonsmooth & between
    return numeric, bound, kinks
