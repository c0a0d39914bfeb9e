"""Finite differences of any function f(θ), aware of kinks, for :mod:`gradcheck.checks.function`.

Central differences at h cost two calls of f per element, and one more at x + 2h bounds their
truncation by the third difference (:data:`CALLS_PER_ELEMENT`); only the elements whose
analytic value disagrees get two at ±2h instead (all of them for Richardson), which give the
truncation estimate and the kink test. Where f is not differentiable (``|x|``, relu at 0)
a finite difference is not a derivative: the estimates at h and 2h then disagree far
beyond their O(h²) error. Such an element is resolved by :func:`~gradcheck.numeric.kinks.resolve`:
smaller steps until they clear the kink (then it is judged like any other), or, for a kink
at θ itself, its one-sided derivatives (a value between them is a "kink"; the values at all
kinks are then tested together, see :mod:`gradcheck.judge.subgradient`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from ..defaults import ATOL, MARGIN, RTOL
from . import methods
from .kinks import (
    BLIND_RESOLVE_RTOL,
    KINK,
    OFFSETS,
    SMALLEST_MARGIN,
    SMOOTH,
    UNRESOLVED,
    Stencil,
    interval,
    replaces,
    resolve,
)
from .noise import (
    ECNOISE_POINTS,
    ECNOISE_STEP,
    METHOD_STEP,
    ecnoise,
    function_rounding,
    settled_rounding,
    stepped_rounding,
)
from .stencils import CHUNK_BYTES, EPS, ROUND_ULPS, central_difference, default_step, rounding_floor
from .steps import GROW_LIMIT, afresh, grow, refine
from .steps import resolve as resolve_steps

__all__ = ["CALLS_PER_ELEMENT", "VAGUE", "KinkAware", "Settings", "kink_aware_gradient", "kink_aware_gradient_at"]


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

    def points(self, f0):
        """Per element: f and the step actually taken on the positive side, then on the negative side (NaN where
        there was none), and max |f| seen."""
        d = self.theta.size
        elem, off, values = (np.concatenate(v) for v in (self.elem, self.off, self.values))
        out = np.full((4, d), np.nan)
        for row, side in enumerate((off > 0, off < 0)):
            out[2 * row, elem[side]], out[2 * row + 1, elem[side]] = values[side], off[side]
        fmax = np.full(d, abs(f0))
        np.maximum.at(fmax, elem, np.abs(values))
        return out, fmax


#: Calls of f per element of a check whose analytic gradient is right: f(x ± h), and f(x + 2h) for the truncation.
CALLS_PER_ELEMENT = 3
#: f's rounding counts as that of its own size within this many ulps of it (see :func:`_refine_undecided`).
OWN_ROUNDING = 16
#: The spacing of the line that measures f's rounding for the kink tests, relative to the usual one.
NEAR = 1e-3
#: An estimate whose bound is above this many times rtol of its value is estimated again even where the gradient
#: agrees with it (see :func:`_undecided`), and, still that loose, certifies no agreement (a value within rtol of it
#: is inconclusive, not good): at rtol 1e-5, a bound of 1e-3 of the value.
VAGUE = 100.0


@dataclass
class KinkAware:
    """Flat over all inputs: the numeric gradient, its error bound, the kinks at θ (their one-sided derivatives
    D₋, D₊, NaN elsewhere), the elements too close to a kink for any step float64 resolves, and those whose f is
    flat to the bit at their steps (see :func:`_hidden_by_flatness`)."""

    numeric: np.ndarray
    bound: np.ndarray
    kinks: np.ndarray
    minus: np.ndarray
    plus: np.ndarray
    unresolved: np.ndarray
    flat: np.ndarray | None = None

    def __post_init__(self):
        if self.flat is None:
            self.flat = np.zeros(len(self.numeric), bool)

    @classmethod
    def of(cls, numeric, bound):
        d = len(numeric)
        return cls(numeric, bound, np.zeros(d, bool), np.full(d, np.nan), np.full(d, np.nan), np.zeros(d, bool))


@dataclass(frozen=True)
class Settings:
    """What a function's finite differences are asked for: the method (a name, "auto" for central differences, or a
    :class:`~gradcheck.numeric.methods.Method`), the step (None: chosen), the tolerances of the analytic gradient
    (only the elements that disagree beyond them get more calls of f) and ε of the precision f computes in."""

    method: object = "auto"
    step: object = None
    rtol: float = RTOL
    atol: float = ATOL
    eps: float = EPS


def kink_aware_gradient_at(chosen, f_batch, theta, f0, a, settings):
    """:func:`kink_aware_gradient` on the elements ``chosen`` only (all if None); NaN elsewhere."""
    if chosen is None:
        return kink_aware_gradient(f_batch, theta, f0, a, settings)

    def sub_batch(T):  # f at points that move only the chosen elements
        full = np.repeat(theta[None, :], len(T), axis=0).astype(T.dtype)
        full[:, chosen] = T
        return f_batch(full)

    step = settings.step
    step = None if step is None else np.broadcast_to(np.asarray(step, float), theta.shape)[chosen]
    part = kink_aware_gradient(sub_batch, theta[chosen], f0, a[chosen], replace(settings, step=step))
    out = KinkAware.of(np.full(theta.size, np.nan), np.zeros(theta.size))
    for name in ("numeric", "bound", "kinks", "minus", "plus", "unresolved", "flat"):
        getattr(out, name)[chosen] = getattr(part, name)
    return out


def kink_aware_gradient(f_batch, theta, f0, a, settings=None):
    """:class:`KinkAware`, flat over all inputs; ``a`` is the flat analytic gradient.

    Central differences at h cost two calls of f per element, three with the call at x + 2h that bounds g(h)'s
    truncation where the analytic value agrees (:func:`_third_difference`; four where the one-sided slopes at ±h
    turn by more than that truncation allows an agreement to stand: :func:`_truncation`). Only the elements whose
    analytic value disagrees beyond the rounding bound get two more calls at 2h, which
    give the truncation estimate |g(h) − g(2h)| and the kink test (all of them for
    a method whose estimate takes g(2h), as Richardson's). ``settings.eps`` is the precision f computes in.
    An element whose differences at h and 2h are not those of a smooth function
    (:meth:`~gradcheck.numeric.kinks.Stencil.looks_smooth`) is resolved by
    :func:`~gradcheck.numeric.kinks.resolve`: four more calls per smaller step, a kink at x tested once more at the
    finest step f's rounding allows (:func:`_confirm_at_x`), and an element smooth at a finer step estimated by step
    levels from there (:func:`_levels_from`); one whose
    differences look smooth gets its steps chosen by :func:`gradcheck.numeric.steps.resolve`. Elements
    whose bound then leaves them undecided are estimated again with f's rounding measured at their own steps
    (:func:`_refine_undecided`).
    """
    settings = settings or Settings()
    usual = functools.cache(lambda: function_rounding(f_batch, theta, f0))
    near = functools.cache(lambda: stepped_rounding(f_batch, theta, f0, scale=NEAR, wider=usual()))
    settled = functools.cache(lambda: settled_rounding(f_batch, theta, f0, scale=NEAR, first=near()))
    # The usual line moves every element at once, and can miss a staircase that one element's axis shows (a softmax
    # loss in steps of 1.1e-16 along one weight, smooth to 2e-23 along the line): the finer line's measure, where
    # larger, stands too.
    rounding = functools.cache(lambda: (max(usual()[0], near()[0]), max(usual()[1], near()[1]), usual()[2]))
    out, fmax, flat = _kink_aware(f_batch, theta, f0, a, settings, (rounding, near, settled))
    method = methods.lookup(settings.method)
    if settings.step is None and not method.complex and settings.eps == EPS and theta.size:
        a, how = np.asarray(a, float), (method, settings, (rounding, settled), fmax)
        _refine_undecided(f_batch, theta, f0, a, how, out)
        _grow_undecided(f_batch, theta, f0, a, how, out)
    _hidden_by_flatness(out, flat)
    return out


def _hidden_by_flatness(out, flat):
    """The bound in ``out`` of the elements whose f is flat to the bit at ±h and whose estimate is 0, raised to
    ``flat`` (:func:`_kink_aware`'s, per element: f's rounding at the scale max(1, |f|), or 0), in place.

    f that does not change by a single bit at either step says the slope moves it by less than its rounding
    there, and that rounding is not ε·|f(x)| where f(x) is 0 or far below the terms f computes with: CS231n's
    softmax loss under scores 300 apart is −log(1.0) = 0 exactly at x and at every step, whose exact slopes of
    1e-30 to 1e-156 it cannot show (a stable log-sum-exp neither: log(1 + 1e-64) is 0). Where nothing says what
    its terms are, a flat f computes with terms of order one at least; an analytic value whose change at the steps
    stays below that is left undecided, not wrong, and a gross one (a slope of 1e-9 moves f by 6e-15 at the default
    steps, thirty times that rounding) is still wrong."""
    if flat is None:
        return
    at = (flat > 0) & (out.numeric == 0)
    out.bound[at] = np.maximum(out.bound[at], flat[at])
    out.flat = at


def _kink_aware(f_batch, theta, f0, a, settings, roundings):
    """(:func:`kink_aware_gradient` before the undecided elements are refined, max |f| at each element's steps
    ±h, or None, and per element the rounding :func:`_hidden_by_flatness` gives it where f is flat at ±h, 0 elsewhere,
    or None); ``roundings``: (``rounding(scale)``, :func:`~gradcheck.numeric.noise.function_rounding` at that
    scale of its line, ``near()``, :func:`~gradcheck.numeric.noise.stepped_rounding` at the kink tests' scale, and
    ``settled()``, :func:`~gradcheck.numeric.noise.settled_rounding` from that scale, each measured once)."""
    rounding, near_rounding, settled = roundings
    d, eps = theta.size, settings.eps
    if d == 0:
        return KinkAware.of(np.zeros(0), np.zeros(0)), None, None
    method = methods.lookup(settings.method)  # "auto": central differences (f may have kinks)
    chunk = max(1, CHUNK_BYTES // (8 * 4 * d))
    h = _steps(theta, method, settings)
    if method.complex:
        g = central_difference(f_batch, theta, h, chunk, method=method)
        return KinkAware.of(g, 4 * eps * np.abs(g)), None, None
    p1 = _Probe(f_batch, theta)
    g1 = central_difference(p1, theta, h, chunk)
    near, fmax1 = p1.points(f0)
    flat = np.where((near[0] == f0) & (near[2] == f0), rounding_floor(np.maximum(fmax1, 1.0), h, eps), 0.0)
    floor = rounding_floor(fmax1, h, eps)  # which elements disagree is decided at ε·|f|, as before any is measured
    idx = np.arange(d) if method.uses_wide else _disagreeing(a, g1, floor, settings)
    idx = idx[np.isfinite(a[idx])]
    # An element that agrees with g(h) keeps it, bounded by f's rounding as measured (ten calls), not by ε·|f| alone:
    # where f is the small difference of larger terms, g(h) can be off by a thousandth of a gradient with a bound of
    # ε·|f|/h far below that, and a slip of a thousandth agree with it by chance.
    out = KinkAware.of(g1.copy(), floor if settings.step is not None else
                       rounding_floor(fmax1, h, eps, max(rounding()[:2])))
    if not method.uses_wide:
        agree = np.setdiff1d(np.arange(d), idx)
        certain = out.bound[agree].copy()
        curved = np.setdiff1d(_curved(near, f0, g1, floor, settings), idx)
        _truncation(f_batch, theta, f0, (curved, near, h), out, chunk)
        _third_difference(f_batch, theta, f0, (np.setdiff1d(agree, curved), near, h), out,
                          (eps, max(rounding()[:2]) if settings.step is None else 0.0))
        # An agreement its rounding certified and its truncation does not says nothing: the element is estimated as
        # one that disagrees is, by smaller steps.
        gap, tol = _gap(a[agree], g1[agree], settings)
        with np.errstate(invalid="ignore"):
            idx = np.union1d(idx, agree[(gap + certain <= tol) & (gap + out.bound[agree] > tol)])
    if idx.size == 0:
        return out, fmax1, flat
    values, taken = _at_twice(f_batch, theta, idx, near, 2 * h[idx], chunk, f0)
    # f's rounding, measured (ten calls): where f is the small difference of larger terms (log1p(exp(u)) − log 2
    # − u/2 near u = 0 is all rounding, 6e-17), ε·|f| is far below it, and differences of its noise would look
    # like a slope with a bound of nothing. Measured at a thousandth of the usual spacing: a line eight points
    # long would cross a kink of f 1e-7 away (a near tie in a max), whose turn then passes for noise and stops
    # the kink tests' steps from shrinking past it.
    noise = max(near_rounding()[:2]) if settings.step is None else 0.0
    first = Stencil(values, taken, f0, h[idx], eps, noise)
    out.bound[idx] = first.bound
    if method.uses_wide:
        out.numeric[idx] = first.central(method)
    smooth = first.looks_smooth(eps, settings.atol)
    if settings.step is None and smooth.any():
        # The smooth-looking elements that disagree get their steps chosen as a network's do: an estimate at h and
        # 2h that agree by accident, or a feature of f narrower than h, must not decide.
        _choose_steps(f_batch, theta, f0, idx[smooth], h, method, eps, out, max(rounding()[:2]))
    bent = np.flatnonzero(~smooth)
    if bent.size:
        at = idx[bent]
        if settings.step is None:  # the kink tests refine as far as f's rounding allows, measured where it is that
            noise = max(settled()[:2])
        sub = Stencil(values[:, bent], taken[:, bent], f0, h[at], eps, noise)
        res = resolve(_mover(f_batch, theta, at), sub, f0, method, eps, noise,
                      smooth=lambda s: s.looks_smooth(eps, settings.atol))
        if settings.step is None:
            confirmed = _confirm_at_x(f_batch, theta, f0, at, res, eps, noise)
        out.numeric[at], out.bound[at] = res.numeric, res.bound
        out.kinks[at], out.unresolved[at] = res.state == KINK, res.state == UNRESOLVED
        out.minus[at], out.plus[at] = res.minus, res.plus
        _own_rounding(f_batch, theta, f0, (at, h[at]), res, out, eps)
        if settings.step is None:
            _levels_from(f_batch, theta, f0, (at, h[at], confirmed), res, out,
                         (method, eps, max(rounding()[0], eps * abs(f0), noise)))
    return out, fmax1, flat


def _confirm_at_x(f_batch, theta, f0, at, res, eps, noise):
    """The elements ``at`` (indices into x) whose kink tests put a kink at x (apart, or whose sides agree), tested
    by one more stencil at the finest step f's rounding allows (:data:`~gradcheck.numeric.kinks.BLIND_RESOLVE_RTOL`
    of the slopes), in ``res``, in place. The kink stands where that stencil's one-sided derivatives are its sides
    (each within its bound and the kink's) and no sharper than them; elsewhere, where its sides agree with each
    other, the element is smooth at that step, with their mean (:func:`_levels_from` goes on from there); where they
    do not, unresolved, its finest step that one. Returns which of ``at`` it left unresolved.

    Without kink states, sides that hold still over a few tenfold refinements say the kink is at x only where the
    steps are within f's scale: where f turns far within them (inputs of 1e14 under weights of 1e-14 move a relu's
    z across 0 by 6e8 at the default step), the steps see the polynomial f is far out, whose one-sided
    extrapolations hold still at every step that wide, and a slope of −1.6e14 ± 9e12 stood for one of −3.7e13."""
    lost_here = np.zeros(len(res.state), dtype=bool)
    held = np.flatnonzero(res.at_theta & (res.state != UNRESOLVED))
    if not held.size:
        return lost_here
    kink = res.state[held] == KINK
    plus, minus = (np.where(kink, side[held], res.numeric[held]) for side in (res.plus, res.minus))
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.maximum(np.abs(plus), np.abs(minus))
        # At f's size at x: the wide steps' f may be far larger (f far out), and the stencil's own bounds carry
        # its rounding where it is larger.
        smallest = SMALLEST_MARGIN * rounding_floor(abs(f0), 1.0, eps, noise) / (BLIND_RESOLVE_RTOL * slope)
        room = np.flatnonzero(smallest < res.finest[held] / 10)
    if not room.size:
        return lost_here
    held, step = held[room], smallest[room]
    values, _, taken = _mover(f_batch, theta, at[held])(np.arange(held.size), OFFSETS[:, None] * step[None, :])
    s = Stencil(values, taken, f0, step, eps, noise)
    # Each held side's own bound: a kink's numeric bound reaches both sides (see kinks.interval), its sides' is what
    # widens that interval beyond them.
    own = np.where(kink[room], res.bound[held] - np.abs(plus - minus)[room] / (2 * MARGIN), res.bound[held])
    tol = MARGIN * own
    sides = np.maximum(s.plus_bound, s.minus_bound)
    with np.errstate(invalid="ignore"):
        kept = ((np.abs(s.plus - plus[room]) <= s.plus_bound + tol)
                & (np.abs(s.minus - minus[room]) <= s.minus_bound + tol) & ~(sides < own))
        smooth = ~kept & (np.abs(s.plus - s.minus) <= s.plus_bound + s.minus_bound)
    now = held[smooth]  # the finer stencil's sides agree, and it is the sharper: smooth there, at least
    res.state[now], res.at_theta[now], res.finest[now] = SMOOTH, False, step[smooth]
    res.numeric[now] = ((s.plus + s.minus) / 2)[smooth]
    res.bound[now] = (np.abs(s.plus - s.minus) / 2 + sides)[smooth]
    res.minus[now], res.plus[now] = np.nan, np.nan
    lost = ~kept & ~smooth
    gone = held[lost]
    lo = np.minimum(np.minimum(plus[room], minus[room]), np.minimum(s.plus, s.minus))[lost]
    hi = np.maximum(np.maximum(plus[room], minus[room]), np.maximum(s.plus, s.minus))[lost]
    res.state[gone], res.at_theta[gone], res.finest[gone] = UNRESOLVED, False, step[lost]
    res.numeric[gone], res.bound[gone] = interval(lo, hi, tol[lost])
    res.minus[gone], res.plus[gone] = np.nan, np.nan
    lost_here[gone] = True
    _flat_below(f_batch, theta, f0, at, (held[~lost], step[~lost], slope[room][~lost]), res, (eps, noise))
    return lost_here


def _flat_below(f_batch, theta, f0, at, held, res, rounding):
    """The ``held`` elements (their indices into ``at``, the step that confirmed them, their slopes) tested once
    more where the rounding ``rounding`` (ε, f's measured rounding) that bounded that step is far above f's own: by
    a stencil at the finest step f's own rounding, ε·|f(x)|, allows. Where its sides agree with each other and
    not with the estimate that stands, the element is unresolved, its interval reaching both, in ``res``, in place
    (and no step levels are taken from there: :func:`_levels_from`).

    f's rounding is measured on lines, and a line that crosses a turn of f scatters as noise would: ½‖V·relu(W·X)
    − Y‖² under inputs of 1e12, every z below 0 (a gradient of exactly 0), one z at −1.2e-3, turns units on at
    every step such a rounding (0.012) allows, on both sides, and its one-sided slopes there agreed by chance
    (−7.1e11 ± 3.1e10); at the steps of 1e-24 f's own rounding allows, f is flat. Flat at a step finer than every
    stencil's is what a staircase of rounding shows too (f moving only where its values change by whole steps of
    that rounding), so the element is unresolved, not resolved to 0."""
    eps, noise = rounding
    at_held, step, slope = held
    if not at_held.size or not noise > OWN_ROUNDING * eps * abs(f0):
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        finer = SMALLEST_MARGIN * rounding_floor(abs(f0), 1.0, eps) / (BLIND_RESOLVE_RTOL * slope)
        room = finer < step / 10
    at_held, finer = at_held[room], finer[room]
    if not at_held.size:
        return
    values, _, taken = _mover(f_batch, theta, at[at_held])(np.arange(at_held.size), OFFSETS[:, None] * finer[None, :])
    s = Stencil(values, taken, f0, finer, eps)
    value = (s.plus + s.minus) / 2
    with np.errstate(invalid="ignore"):
        agree = np.abs(s.plus - s.minus) <= s.plus_bound + s.minus_bound
        sides = np.maximum(s.plus_bound, s.minus_bound)
        apart = agree & (np.abs(value - res.numeric[at_held]) > MARGIN * res.bound[at_held] + sides)
    gone = at_held[apart]
    if not gone.size:
        return
    was = res.numeric[gone]
    reach = np.where(res.state[gone] == KINK, MARGIN * res.bound[gone], 0.0)  # a kink's bound reaches its sides
    lo, hi = np.minimum(was - reach, value[apart]), np.maximum(was + reach, value[apart])
    res.state[gone], res.at_theta[gone], res.finest[gone] = UNRESOLVED, False, finer[apart]
    res.numeric[gone], res.bound[gone] = interval(lo, hi, (MARGIN * sides)[apart])
    res.minus[gone], res.plus[gone] = np.nan, np.nan


def _levels_from(f_batch, theta, f0, elements, res, out, how):
    """The ``elements`` (their indices, their first steps, and which :func:`_confirm_at_x` left unresolved) whose kink
    tests ended smooth at a step finer than the first (not at a kink at x whose sides agree: levels there, all
    rounding where f is, took a staircase for a slope of 1.3e-9 ± 3.7e-10 for a gradient of 0), or unresolved at the
    first step or by that confirmation, estimated again by step levels from the finest step they took, each with
    f's rounding measured along its own axis there (:func:`~gradcheck.numeric.steps.afresh`), in ``out``, in place.

    The kink tests' last stencil bounds its estimate only where its step is in the asymptotic regime, which a
    tenfold refinement lands in or not by chance: where f turns within the first steps (weights of 1e-12 under
    inputs of 1e12 move a unit's z by 6e6 at the default step of 6e-6), the first stencil that looks smooth may
    still curve. The levels halve from that step until three of them are in the regime; their estimate replaces the
    stencil's where their bound is the smaller, or where they contradict it beyond both bounds. So are the
    elements left unresolved because f's rounding let no finer step reach them (one level's bent differences say
    nothing of where f turns: a function that is all rounding, 1e-16, whose gradient of 0 the levels resolve), or
    because the stencil at the finest step the rounding allows found no kink at x where the sides had held still,
    and kept, resolved, where the levels resolve them. An element the refinements themselves left unresolved is
    left so: without kink states, levels halving from its finest step cross the turn it sits beside unseen (a
    relu's z within that step of 0 for one sample: 4.17e11 ± 1.08e11 kept for a slope of 6.53e10). ``how``: (the
    method, ε, f's rounding at x itself)."""
    at, h, confirmed = elements
    method, eps, at_x = how
    # f's rounding let no finer step reach them, or the stencil at the finest step found no kink at x after all
    never = (res.state == UNRESOLVED) & (~(res.finest < h) | confirmed)
    again = np.flatnonzero(((res.state == SMOOTH) & (res.finest < h) & ~res.at_theta) | never)
    if not again.size:
        return
    evaluate = _mover(f_batch, theta, at[again], crossings=True)
    value, bound, _, _ = afresh(lambda sel, s, offsets: evaluate(sel, np.outer(offsets, s)), res.finest[again],
                                method, lambda fmax, s, n: rounding_floor(np.maximum(fmax, abs(f0)), s, eps, n),
                                at_x, f0)
    idx = at[again]
    was, was_bound = out.numeric[idx], out.bound[idx]
    lost = never[again]
    kept = np.where(lost, np.isfinite(bound), replaces(value, bound, was, was_bound))
    out.numeric[idx[kept]], out.bound[idx[kept]] = value[kept], bound[kept]
    out.unresolved[idx[kept]] = False


def _own_rounding(f_batch, theta, f0, elements, res, out, eps):
    """Where the kink tests of ``elements`` (their indices, and their first steps) ended smooth at a step s finer
    than the first, their bound in ``out`` also carries f's rounding measured along each one's own axis there
    (:func:`~gradcheck.numeric.noise.ecnoise` of f at eight points from x + 2s, spaced 1.35e-4·s, as
    :func:`~gradcheck.numeric.noise.element_noise` places them, each moved onto a grid of whole ulps so that they
    are equally spaced to the last bit: rounded points jitter, and a quadratic's values at jittered points pass for
    noise), where that rounding is beyond :data:`OWN_ROUNDING` ulps of f's size there (within it, the bound's own
    floor at f's size holds it). The rounding measured near x, at a thousandth of the usual spacing, can be far
    below it (log1p(exp(u)) − log 2 − u/2 is exact at u = 0 and rounds at 1e-16 a hair away), and a staircase of
    rounding differences then passes for a slope with a bound of nothing (−4.2e-10 ± 1.4e-12 for a gradient of
    0)."""
    at, h = elements
    fine = np.flatnonzero((res.state == SMOOTH) & (res.finest < h))
    if not fine.size:
        return
    x, s = theta[at[fine]], res.finest[fine]
    spacing = ECNOISE_STEP / METHOD_STEP * s
    ulp = np.spacing(np.abs(x) + 2 * s + ECNOISE_POINTS * spacing)  # an ulp of every point, or a multiple of it
    start = np.round((x + 2 * s) / ulp) * ulp
    points = start + np.arange(ECNOISE_POINTS)[:, None] * (np.maximum(1.0, np.round(spacing / ulp)) * ulp)
    values, _, taken = _mover(f_batch, theta, at[fine])(np.arange(fine.size), points - x)
    exact = np.all(x + taken == points, axis=0) & np.isfinite(values).all(axis=0)
    noise = np.array([ecnoise(values[:, e]) if exact[e] else 0.0 for e in range(fine.size)])
    with np.errstate(invalid="ignore"):
        beyond = noise > OWN_ROUNDING * eps * np.maximum(np.abs(values).max(axis=0), abs(f0))
    out.bound[at[fine[beyond]]] += rounding_floor(0.0, s[beyond], eps, noise[beyond])


def _steps(theta, method, settings):
    """The steps h: the caller's, or the method's default; central ones grown to ε^{1/3} of f's precision where f
    computes in float32."""
    if settings.step is not None:
        return np.broadcast_to(np.asarray(settings.step, float), theta.shape)
    if settings.eps != EPS and not method.complex:
        return default_step(theta) * (settings.eps / EPS) ** (1 / 3)
    return default_step(theta, method)


def _disagreeing(a, g1, bound, settings):
    """The elements whose analytic value ``a`` disagrees with g(h) beyond the tolerances and the rounding bound."""
    gap, tol = _gap(a, g1, settings)
    with np.errstate(invalid="ignore"):
        far = gap > tol + MARGIN * bound
    return np.flatnonzero(far | np.isnan(g1))


def _turn_allowed(rtol):
    """The most the slope may turn across ±h, as a fraction of g(h), for an agreement with g(h) to stand without the
    stencil at 2h: g(h)'s own error is about (h/L)²/6 of it, L the scale on which f's slope turns, and h/L about
    that turn, (D₊ − D₋)/g(h); √(rtol/10), at rtol 1e-5 a turn of 1e-3 and an error of 2e-7."""
    return float(np.sqrt(rtol / 10))


def _curved(near, f0, g1, floor, settings):
    """The elements whose one-sided slopes at ±h, D₊ = (f(x + h) − f(x))/h and D₋ = (f(x) − f(x − h))/h from the
    points of the first central difference (``near``, :meth:`_Probe.points`), turn by more than
    :func:`_turn_allowed` of g(h), beyond twice the rounding ``floor``: where f turns within a few hundred steps, g(h)'s
    truncation reaches rtol, and an analytic value a thousandth off (a slip) can agree with it by chance (inputs of
    1e4 under weights of 1e-4: g(h) −923.705, the slope −922.777, an analytic value ×1.001 good). No calls of f."""
    with np.errstate(invalid="ignore", divide="ignore"):
        plus, minus = (near[0] - f0) / near[1], (near[2] - f0) / near[3]  # the steps taken carry their signs
        turn = np.abs(plus - minus)
        return np.flatnonzero(turn > _turn_allowed(settings.rtol) * np.abs(g1) + 2 * floor)


def _truncation(f_batch, theta, f0, elements, out, chunk):
    """The bound in ``out`` of the ``elements`` (their indices, :meth:`_Probe.points` of the first stencil, the steps
    h), whose g(h) agrees with their analytic value while their slope turns across ±h (:func:`_curved`), made to
    carry g(h)'s truncation too, |g(h) − g(2h)|/3, from two more calls each: a quadratic's is 0 (its g(h) is exact,
    and agrees as before), a function turning within a few hundred steps has one of a thousandth, and the agreement
    then promises nothing until smaller steps resolve the element (:func:`_refine_undecided`)."""
    at, near, h = elements
    if not at.size:
        return
    values, taken = _at_twice(f_batch, theta, at, near, 2 * h[at], chunk, f0)
    with np.errstate(invalid="ignore", divide="ignore"):
        g2 = (values[2] - values[3]) / (taken[2] - taken[3])
        trunc = np.abs(out.numeric[at] - g2) / 3
    out.bound[at] += np.where(np.isfinite(trunc), trunc, np.inf)


#: The one-sided third difference estimates f''' at x + h/2, and g(h)'s error has terms of higher order: at an
#: inflection point of a tanh they reach 1% of f'''·h²/6 at the default steps, beyond it. Twice the estimate is
#: counted.
THIRD_MARGIN = 2.0


def _third_difference(f_batch, theta, f0, elements, out, noise=(EPS, 0.0)):
    """The bound in ``out`` of the ``elements`` (their indices, :meth:`_Probe.points` of the first stencil, the steps
    h), whose g(h) agrees with their analytic value and whose slope does not turn across ±h (:func:`_curved`), made
    to carry g(h)'s truncation too, f'''·h²/6, from one more call each, f(x + 2h): with f(x − h), f(x) and f(x + h)
    its third divided difference is f'''/6, of f''' at x + h/2 rather than at x (:data:`THIRD_MARGIN` times what
    of it stands above its own rounding is counted; ``noise``: (the precision f computes in, f's measured rounding),
    as the bound's rounding takes them). The turn of the slopes is f''·h, nothing at an inflection point, where
    g(h)'s error is all f'''·h²/6: Σ tanh(X·w) at w = 0 under inputs of 1e4 has g(h) 0.2% below the slope at the
    default steps, and an analytic value equal to g(h) agreed with it, within a bound of f's rounding alone. An
    element whose agreement the truncation leaves uncertain is then estimated as one that disagrees
    (:func:`_kink_aware`)."""
    at, near, h = elements
    if not at.size:
        return
    far, _, taken = _mover(f_batch, theta, at)(np.arange(at.size), 2 * h[at][None, :])
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


def _gap(a, g, settings):
    """(|a − g|, the tolerance rtol·max(|a|, |g|) + atol) per element."""
    with np.errstate(invalid="ignore"):
        return np.abs(a - g), settings.rtol * np.maximum(np.abs(a), np.abs(g)) + settings.atol


def _at_twice(f_batch, theta, idx, near, h2, chunk, f0):
    """(values, steps taken) (4, len(idx)) at ±h (from ``near``, :meth:`_Probe.points`) and ±2h (``h2``)."""
    def sub_batch(T):  # f at points that move only the elements ``idx``
        full = np.repeat(theta[None, :], len(T), axis=0)
        full[:, idx] = T
        return f_batch(full)

    p2 = _Probe(sub_batch, theta[idx])
    central_difference(p2, theta[idx], h2, chunk)
    wide, _ = p2.points(f0)
    values = np.stack([near[0, idx], near[2, idx], wide[0], wide[2]])
    taken = np.stack([near[1, idx], near[3, idx], wide[1], wide[3]])
    return values, taken


def _mover(f_batch, theta, elements, crossings=False):
    """``evaluate(sel, steps)``: (values, crossed, taken) (m, p) of f with element ``elements[sel[p]]`` moved by
    ``steps[r, p]``; no kink states here (crossed: all False with ``crossings``, else None)."""
    d = theta.size

    def evaluate(sel, steps):
        m, p = steps.shape
        T = np.repeat(theta[None, :], m * p, axis=0)
        rows, cols = np.arange(m * p), np.tile(elements[sel], m)
        T[rows, cols] += steps.ravel()
        taken = (T[rows, cols] - theta[cols]).reshape(m, p)
        size = max(1, CHUNK_BYTES // (8 * d))
        values = np.concatenate([f_batch(T[r:r + size]) for r in range(0, len(T), size)]).reshape(m, p)
        return values, (np.zeros((m, p), dtype=bool) if crossings else None), taken
    return evaluate


def _choose_steps(f_batch, theta, f0, even, h, method, eps, out, noise):  # noqa: PLR0913
    """Steps chosen per element (:func:`gradcheck.numeric.steps.resolve`) for the elements ``even``, into ``out``;
    ``noise``: f's rounding near θ (:func:`~gradcheck.numeric.noise.function_rounding`)."""
    evaluate = _mover(f_batch, theta, even, crossings=True)
    value, bound, _, _, _ = resolve_steps(lambda sel, s, offsets: evaluate(sel, np.outer(offsets, s)), h[even],
                                          method,
                                          lambda fmax, s, _: rounding_floor(np.maximum(fmax, abs(f0)), s, eps, noise),
                                          f0=f0)
    out.numeric[even], out.bound[even] = value, bound


def _refine_undecided(f_batch, theta, f0, a, how, out):
    """The elements of ``out`` whose bound leaves them undecided against the analytic gradient ``a`` (flat; not at
    a kink), estimated again with f's rounding measured along each one's own axis, at its own steps and smaller
    ones (:func:`gradcheck.numeric.steps.refine`), in place: near a minimum of f, f at the default steps is the
    curvature's f''·h²/2, far above f(θ), and its rounding hides a gradient of f(θ)'s scale (½‖x‖² at x of
    1e-20 has a gradient of 1e-20, and f(x ± h) of 3e-7).

    Only where f's rounding near θ is that of its own size (within :data:`OWN_ROUNDING` ulps of the largest |f|
    measured): where it is far above, f is the small difference of larger terms (log1p(exp(u)) − log 2 − u/2 at
    u near 0 is all rounding), a rounding that smaller steps do not lower and that eight points along one axis,
    equally spaced, can miss (rounded values that climb by a nearly whole number of ulps a step look smooth). Where
    the usual line finds more, f's rounding as finer lines measure it decides (f turning between the usual line's
    points, under inputs of 1e8 and weights of 1e-8, scatters its values by 0.29 for a rounding of 3e-15).
    ``how``: (the method, the :class:`Settings`, ``rounding`` and ``settled`` as :func:`_kink_aware` takes them, max
    |f| at each element's steps ±h or None)."""
    method, settings, (rounding, settled), fmax = how
    eps = settings.eps
    undecided = _undecided(a, out, settings, loose=VAGUE)
    if not len(undecided):
        return
    for measured in (rounding, settled):
        probe, line, top = measured()
        own = OWN_ROUNDING * eps * max(top, abs(f0))
        probe = _unexplained(probe, theta, out.numeric, own)
        if max(probe, line) <= own:
            break
    else:
        return
    evaluate = _mover(f_batch, theta, undecided, crossings=True)
    # Each estimate as if kept at the default steps: where its bound is far above their rounding (g(h)'s truncation
    # counted, see _truncation), smaller steps may lower it.
    steps = default_step(theta[undecided], method)
    kept = (out.numeric[undecided], out.bound[undecided], steps.copy())
    refine(lambda sel, s, offsets: evaluate(sel, np.outer(offsets, s)), steps,
           method, lambda fmax, s, n: rounding_floor(np.maximum(fmax, abs(f0)), s, eps, n),
           (max(probe, eps * abs(f0)), max(probe, line), None if fmax is None else fmax[undecided]), f0, kept)
    out.numeric[undecided], out.bound[undecided] = kept[0], kept[1]


def _unexplained(probe, theta, slopes, own):
    """``probe``, f's change when every element of θ moves by an ulp either way (θ·(1 ± ε)), or 0 where the slopes
    ``slopes`` (the estimates so far, flat) explain it: within twice the first-order change Σ_k g_k·Δθ_k of either
    move, plus ``own`` (f's own rounding). The probe moves every element, a steep one too: beside a point a step and a
    half from the edge of sqrt's domain, whose slope is 2.2e4, it moved f by 3.9e-11 for a rounding of 1e-15, which
    kept its neighbours' undecided estimates from being estimated again. Where f is the small difference of larger
    terms, its slopes explain nothing of the probe, and it stands."""
    with np.errstate(all="ignore"):
        g = np.where(np.isfinite(slopes), slopes, 0.0)
        moved = [abs(float(g @ (theta * (1 + side * EPS) - theta))) for side in (-1.0, 1.0)]
    return 0.0 if probe <= 2 * max(moved) + own else probe


def _undecided(a, out, settings, loose=None):
    """The elements of ``out`` whose bound leaves them undecided against the analytic gradient ``a`` (flat), not at
    a kink nor too close to one for any step; with ``loose``, also those that agree with ``a`` within the tolerance
    while their bound is above ``loose`` times rtol of the value: agreement with an estimate known to 5% says
    little of a value within 1e-5 (a slip of 1e-3 at a quadratic's minimum agreed with the first central
    difference, itself 1e-3 off, by chance)."""
    gap, tol = _gap(a, out.numeric, settings)
    with np.errstate(invalid="ignore"):
        open_ = (gap > tol) & (gap <= tol + MARGIN * out.bound)
        if loose is not None:
            size = np.maximum(np.abs(a), np.abs(out.numeric))
            open_ |= (gap <= tol) & (out.bound > loose * settings.rtol * size)
        return np.flatnonzero(open_ & ~out.kinks & ~out.unresolved)


def _grow_undecided(f_batch, theta, f0, a, how, out):
    """The elements of ``out`` still undecided against the analytic gradient ``a`` (flat), estimated again with
    steps growing from 2h (:func:`gradcheck.numeric.steps.grow`, up to :data:`~gradcheck.numeric.steps.GROW_LIMIT`
    of max(1, |θ|)), in place where the new estimate's bound is smaller, it agrees with the one it replaces within
    both bounds, and it decides the element: ``a`` within the tolerance of it, and its bound within it too (a
    value kept because it agrees with ``a`` must be one that could not have agreed with a slip).

    A function that sums many terms rounds at ε times its size, far above its elements' share: Σx² over 300,000
    elements (3e5) rounds at 7e-11, and its difference quotients at the default steps of 6e-6 at 1e-5, which
    leaves a gradient of 1e-2 undecided at rtol 1e-5; at steps of 1e-2 they are good to 1e-8. Growing steps
    assume f smooth up to 0.4·max(1, |θ|) (a turn or a kink within them makes its quotients level off at a
    chord's slope), an assumption the default steps do not make, so they only clear an element that the default
    steps leave open: never condemn it. ``how``: as :func:`_refine_undecided` takes it."""
    method, settings, (rounding, _), _ = how
    undecided = _undecided(a, out, settings)
    if not len(undecided):
        return
    noise = max(rounding()[:2])
    evaluate = _mover(f_batch, theta, undecided, crossings=True)
    value, bound, _ = grow(lambda sel, s, offsets: evaluate(sel, np.outer(offsets, s)),
                           default_step(theta[undecided], method), method,
                           lambda fmax, s, _: rounding_floor(np.maximum(fmax, abs(f0)), s, settings.eps, noise),
                           GROW_LIMIT * np.maximum(1.0, np.abs(theta[undecided])), f0=f0)
    was, old = out.numeric[undecided], out.bound[undecided]
    gap, tol = _gap(a[undecided], value, settings)
    with np.errstate(invalid="ignore"):
        keep = (bound < old) & ~(np.abs(value - was) > bound + old) & (gap <= tol) & (bound <= tol)
    out.numeric[undecided[keep]], out.bound[undecided[keep]] = value[keep], bound[keep]
