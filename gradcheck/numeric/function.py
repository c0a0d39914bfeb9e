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
from .along import Probe, at_twice, mover
from .blind import (
    TREAD_SPREAD,
    along_noise,
    axis_noise,
    confirm_at_x,
    flat_near,
    levels_from,
    own_rounding,
    tread_noise,
)
from .kinks import KINK, UNRESOLVED, Stencil, resolve
from .noise import OWN_ULPS, function_rounding, settled_rounding, stepped_rounding
from .stencils import CHUNK_BYTES, EPS, ROUND_ULPS, central_difference, default_step, rounding_floor
from .steps import GROW_LIMIT, grow, refine
from .steps import resolve as resolve_steps
from .truncation import add_third_difference, add_truncation, turning

__all__ = ["CALLS_PER_ELEMENT", "VAGUE", "KinkAware", "Settings", "kink_aware_gradient", "kink_aware_gradient_at"]


#: Calls of f per element of a check whose analytic gradient is right: f(x ± h), and f(x + 2h) for the truncation.
CALLS_PER_ELEMENT = 3
#: The spacing of the line that measures f's rounding for the kink tests, relative to the usual one.
NEAR = 1e-3
#: An estimate whose bound is above this many times rtol of its value is estimated again even where the gradient
#: agrees with it (see :func:`_undecided`), and, still that loose, certifies no agreement (a value within rtol of it
#: is inconclusive, not good): at rtol 1e-5, a bound of 3e-4 of the value, which MARGIN times is below a slip of 1e-3
#: (a float32 f's estimate of −11.3757 ± 0.0113, off the slope by 1e-3, agreed with a slip of 1e-3 at 1e-3 of the
#: value).
VAGUE = 30.0


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
    #: f's rounding measured along each element's own axis near x, above f's own, where the kink tests refined it or
    #: its steps were chosen (0 elsewhere): a floor to the rounding of any later estimate of that element.
    own: np.ndarray | None = None

    def __post_init__(self):
        if self.flat is None:
            self.flat = np.zeros(len(self.numeric), bool)
        if self.own is None:
            self.own = np.zeros(len(self.numeric))

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
    truncation where the analytic value agrees (:func:`~gradcheck.numeric.truncation.add_third_difference`; four
    where the one-sided slopes at ±h turn by more than that truncation allows an agreement to stand:
    :func:`~gradcheck.numeric.truncation.add_truncation`). Only the elements whose analytic value disagrees beyond
    the rounding bound get two more calls at 2h, which give the truncation estimate |g(h) − g(2h)| and the kink test
    (all of them for a method whose estimate takes g(2h), as Richardson's). ``settings.eps`` is the precision f
    computes in. An element whose differences at h and 2h are not those of a smooth function
    (:meth:`~gradcheck.numeric.kinks.Stencil.looks_smooth`) is resolved by :func:`~gradcheck.numeric.kinks.resolve`:
    four more calls per smaller step, a kink at x tested once more at the finest step f's rounding allows
    (:func:`~gradcheck.numeric.blind.confirm_at_x`), and an element smooth at a finer step estimated by step levels
    from there (:func:`~gradcheck.numeric.blind.levels_from`); one whose differences look smooth gets its steps
    chosen by :func:`gradcheck.numeric.steps.resolve`. Elements whose bound then leaves them undecided are estimated
    again with f's rounding measured at their own steps (:func:`_refine_undecided`).
    """
    settings = settings or Settings()
    usual = functools.cache(lambda: function_rounding(f_batch, theta, f0))
    near = functools.cache(lambda: stepped_rounding(f_batch, theta, f0, scale=NEAR, wider=usual()))
    settled = functools.cache(lambda: settled_rounding(f_batch, theta, f0, scale=NEAR, first=near()))
    # The usual line moves every element at once, and can miss a staircase that one element's axis shows (a softmax
    # loss in steps of 1.1e-16 along one weight, smooth to 2e-23 along the line): the finer line's measure, where
    # larger, stands too.
    rounding = functools.cache(lambda: (max(usual()[0], near()[0]), max(usual()[1], near()[1]), usual()[2]))
    out, fmax, floors = _kink_aware(f_batch, theta, f0, a, settings, (rounding, near, settled))
    method = methods.lookup(settings.method)
    if settings.step is None and not method.complex and settings.eps == EPS and theta.size:
        a, how = np.asarray(a, float), (method, settings, (rounding, settled), fmax)
        _refine_undecided(f_batch, theta, f0, a, how, out)
        _grow_undecided(f_batch, theta, f0, a, how, out)
    _hidden_by_flatness(out, *floors)
    return out


def _hidden_by_flatness(out, flat=None, stairs=None, zeroed=None):
    """The bound in ``out`` of the elements whose f is flat to the bit at ±h and whose estimate is 0, raised to
    ``flat`` (:func:`_kink_aware`'s, per element: f's rounding at the scale max(1, |f|), or 0), of those whose f
    moves in whole steps at ±h and ±2h, to ``stairs`` (the step over h, or 0: see :func:`_stairs`), and of those
    whose estimate is 0 while ±h resolved a slope, to ``zeroed`` (see :func:`_resolved_to_zero`), in place.

    f that does not change by a single bit at either step says the slope moves it by less than its rounding
    there, and that rounding is not ε·|f(x)| where f(x) is 0 or far below the terms f computes with: CS231n's
    softmax loss under scores 300 apart is −log(1.0) = 0 exactly at x and at every step, whose exact slopes of
    1e-30 to 1e-156 it cannot show (a stable log-sum-exp neither: log(1 + 1e-64) is 0). Where nothing says what
    its terms are, a flat f computes with terms of order one at least; an analytic value whose change at the steps
    stays below that is left undecided, not wrong, and a gross one (a slope of 1e-9 moves f by 6e-15 at the default
    steps, thirty times that rounding) is still wrong."""
    if flat is None:
        return
    at = ((flat > 0) | (zeroed > 0)) & (out.numeric == 0)
    out.bound[at] = np.maximum(out.bound[at], np.maximum(flat, zeroed)[at])
    stepped = stairs > 0
    out.bound[stepped] = np.maximum(out.bound[stepped], stairs[stepped])
    out.flat = at | stepped


#: A change of f counts as a whole step of a staircase above this many ε·|f| (far above an ulp of f's value) and
#: below this share of |f| (a step of the terms f computes with, not f's own size: at a quadratic's minimum the
#: changes are all of f), and the changes at ±h and ±2h count as whole numbers of one step within this fraction of it.
STAIR_ULPS = 64
STAIR_SHARE = 1e-2
STAIR_FIT = 1e-6


#: Changes of f that :func:`_lattice` looks for a common step among: at most this many, the first ones.
LATTICE_CHANGES = 64


def _lattice(near, wide, f0, size, eps):
    """The step of a lattice every change of f at ±h (``near``, :meth:`~gradcheck.numeric.along.Probe.points`) and
    at ±2h (``wide``: rows +h, −h, +2h, −2h of the elements that disagree) is a whole number of, or 0: f moves in
    whole steps of its terms' rounding, far above an ulp of f (``size``, its scale), below :data:`STAIR_SHARE` of
    it and below half the least change, at three multiples or more, and the changes of one element at least do not
    scale with the step (a line's do: at x = 0 with equal steps, slopes of 4, 5 and 6 change f by 4h, 5h and 6h).
    CS231n's softmax loss at 2.4e-10, the mean over three samples of −log of probabilities within an ulp or so of
    1, changes by whole numbers of 3.7e-17 at every step, 34 to 372 of them: the kink tests' and the levels' finer
    steps, where it moves by a step or two, kept slopes 0.5% to 1.4% off with bounds of 1e-22."""
    d = np.concatenate([near[0] - f0, near[2] - f0, (np.asarray(wide, float) - f0).ravel()])
    d = d[np.isfinite(d) & (d != 0)]
    if d.size < 8:
        return 0.0
    first = d[:LATTICE_CHANGES]
    pairs = np.abs(np.concatenate([first, (first[:, None] - first[None, :]).ravel(),
                                   (first[:, None] + first[None, :]).ravel()]))
    least = float(np.abs(d).min())
    for q in np.unique(pairs[(pairs > STAIR_ULPS * eps * size) & (pairs < least / 2)])[:8]:
        if q > STAIR_SHARE * size or not _whole(d, q).all() or len(np.unique(np.round(np.abs(d / q)))) < 3:
            continue
        with np.errstate(invalid="ignore"):
            if _unscaled(np.asarray(wide, float) - f0, q).any():
                return float(q)
    return 0.0


def _whole(d, q):
    """Where the changes ``d`` are whole numbers of the step ``q``, within :data:`STAIR_FIT` of one."""
    return np.abs(d / q - np.round(d / q)) <= STAIR_FIT


def _unscaled(d, q):
    """Per element of the changes ``d`` at (+h, −h, +2h, −2h) (rows): where, on one side at least, the change at 2h is
    off twice that at h by half the step ``q`` or more, as a staircase's is and a line's, a smooth f's or a kink's
    is not."""
    return (np.abs(d[2] - 2 * d[0]) / q >= 0.5) | (np.abs(d[3] - 2 * d[1]) / q >= 0.5)


def _stairs(values, f0, eps):
    """Per element, the step q of a staircase that f's values at (+h, −h, +2h, −2h) (rows of ``values``) climb, or 0:
    two changes from f(x) or more, every one a whole number of one q, q between :data:`STAIR_ULPS` ulps of f and
    :data:`STAIR_SHARE` of it, and on one side at least the change at 2h off twice that at h by half a step or more
    (a line's, a smooth f's and a kink's changes scale with the step; a staircase's do not). One change alone is
    what a kink between h and 2h makes too. CS231n's softmax loss at 2.7e-13, computed
    from a probability within an ulp or so of 1, changed by 0, −7.4e-17, 7.4e-17 and −7.4e-17: a slope of 2e-13
    moves it by 2.6e-17 at the default step, a third of a step, and the kink tests' finer steps, flat to the bit,
    resolved it to 0 ± 2e-23. Such an element's estimate is known to a step over h at best."""
    d = np.asarray(values, float) - f0
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.maximum(np.abs(np.asarray(values, float)).max(axis=0), abs(f0))
        # The step: the least change, or the least difference of two changes where the changes are many steps
        # each (a slope of 1.1e-11 moves f by 11, −10, 22 and −21 steps of 1.1e-16 at ±h and ±2h).
        pairs = [d[i] - d[j] for i in range(4) for j in range(i + 1, 4)] + [d[0] + d[1], d[2] + d[3],
                                                                         d[2] - 2 * d[0], d[3] - 2 * d[1]]
        both = np.abs(np.concatenate([d, np.stack(pairs)]))
        q = np.where(both != 0, both, np.inf).min(axis=0)
        stepped = ((np.count_nonzero(d, axis=0) >= 2) & np.isfinite(q) & (q > STAIR_ULPS * eps * size)
                   & (q <= STAIR_SHARE * size) & _whole(d, q).all(axis=0) & _unscaled(d, q))
    return np.where(stepped, q, 0.0)


def _kink_aware(f_batch, theta, f0, a, settings, roundings):
    """(:func:`kink_aware_gradient` before the undecided elements are refined, max |f| at each element's steps
    ±h, or None, and (flat, stairs, zeroed), per element the floors :func:`_hidden_by_flatness` gives its bound, or
    an empty tuple); ``roundings``: (``rounding()``, f's rounding as the usual line and the one a thousand times
    finer measure it (:func:`~gradcheck.numeric.noise.function_rounding`), ``near()``,
    :func:`~gradcheck.numeric.noise.stepped_rounding` at the kink tests' scale, and ``settled()``,
    :func:`~gradcheck.numeric.noise.settled_rounding` from that scale, each measured once)."""
    rounding, near_rounding, settled = roundings
    d, eps = theta.size, settings.eps
    if d == 0:
        return KinkAware.of(np.zeros(0), np.zeros(0)), None, ()
    method = methods.lookup(settings.method)  # "auto": central differences (f may have kinks)
    chunk = max(1, CHUNK_BYTES // (8 * 4 * d))
    h = _steps(theta, method, settings)
    if method.complex:
        g = central_difference(f_batch, theta, h, chunk, method=method)
        return KinkAware.of(g, 4 * eps * np.abs(g)), None, ()
    p1 = Probe(f_batch, theta)
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
        curved = np.setdiff1d(turning(near, f0, g1, floor, settings), idx)
        add_truncation(f_batch, theta, f0, (curved, near, h), out, chunk)
        add_third_difference(f_batch, theta, f0, (np.setdiff1d(agree, curved), near, h), out,
                          (eps, max(rounding()[:2]) if settings.step is None else 0.0))
        # An agreement its rounding certified and its truncation does not says nothing: the element is estimated as
        # one that disagrees is, by smaller steps.
        gap, tol = _gap(a[agree], g1[agree], settings)
        with np.errstate(invalid="ignore"):
            idx = np.union1d(idx, agree[(gap + certain <= tol) & (gap + out.bound[agree] > tol)])
    if idx.size == 0:
        return out, fmax1, (flat, np.zeros(d), np.zeros(d))
    values, taken = at_twice(f_batch, theta, idx, near, 2 * h[idx], chunk, f0)
    stairs = np.zeros(d)
    stairs[idx] = _stairs(values, f0, eps) / h[idx]
    step = _lattice(near, values, f0, float(fmax1.max(initial=abs(f0))), eps)
    if step:  # every element's differences are known to that step over its h at best
        stairs = np.maximum(stairs, ROUND_ULPS * step / h)
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
            noise = _own_axis_rounding(f_batch, theta, f0, at, h[at], max(settled()[:2]))
        sub = Stencil(values[:, bent], taken[:, bent], f0, h[at], eps, noise)
        res = resolve(mover(f_batch, theta, at), sub, f0, method, eps, noise,
                      smooth=lambda s: s.looks_smooth(eps, settings.atol), x=theta[at])
        if settings.step is None:
            confirmed = confirm_at_x(f_batch, theta, f0, at, res, eps, noise)
        out.numeric[at], out.bound[at] = res.numeric, res.bound
        out.kinks[at], out.unresolved[at] = res.state == KINK, res.state == UNRESOLVED
        out.minus[at], out.plus[at] = res.minus, res.plus
        measured = own_rounding(f_batch, theta, f0, (at, h[at]), res, out, eps)
        if settings.step is None:
            levels_from(f_batch, theta, f0, (at, h[at], confirmed), res, out,
                         (method, eps, np.maximum(max(rounding()[0], eps * abs(f0)), noise)), measured)
    return out, fmax1, (flat, stairs, _resolved_to_zero(out, idx, first))


def _own_axis_rounding(f_batch, theta, f0, at, h, line):
    """Per element ``at[e]`` whose first differences bent, the rounding its kink tests refine within: f's rounding
    along its own axis where its first steps ``h[e]`` go, on the grid of whole ulps and a quarter of the step apart
    (:func:`~gradcheck.numeric.blind.axis_noise`), where that is below ``line``, the rounding the lines measured
    (which move every element at once), where f is flat to the bit along that axis near x
    (:func:`~gradcheck.numeric.blind.flat_near`); ``line`` elsewhere, and where an axis is not measurable there (f
    not finite). Four calls of f per element, and sixteen more per element flat near x.

    The lines measure f's rounding where a staircase's treads are wider than the finest of them, on the usual one,
    a thousand times wider; there a relu flat within 5e-9 of x on both sides, under inputs of 1e8, is crossed at
    its kinks, and its turns read as a rounding of 0.06 for one of 1e-15: the kink tests stopped at 6e-8, where
    f looks like a kink at x whose sides agree, and a slope of 2.3e8 was kept for one of 0. The element's own axis
    at its own steps sees the treads its differences cross, and not the turns of other elements' terms. Only where
    f is flat along it near x: where f rounds more near x than where the steps go (a layernorm over two features
    2e-9 apart under eps = 0, whose x̂ rounds by 1e-7 within that spread), the lines, which start at x, measure what
    the refinements will meet, and an axis measured at 2h does not."""
    flat = flat_near(f_batch, theta, f0, at)
    if not flat.any():
        return np.full(len(at), line)
    fine, top = axis_noise(f_batch, theta, f0, at[flat], h[flat])
    tread, tread_top = axis_noise(f_batch, theta, f0, at[flat], h[flat], spread=TREAD_SPREAD)
    own = np.where(np.isfinite(top) & np.isfinite(tread_top), np.minimum(line, np.maximum(fine, tread)), line)
    out = np.full(len(at), line)
    out[flat] = own
    return out


def _resolved_to_zero(out, idx, first):
    """The elements ``idx`` whose estimate came out exactly 0 from steps finer than h while their ``first`` stencil
    (±h, ±2h: a :class:`~gradcheck.numeric.kinks.Stencil`) resolves a slope, |g(h)| beyond :data:`MARGIN` times its
    bound: per element of ``out``, the floor their bound takes where the estimate is still 0 at the end (|g(h)| and
    that bound; 0 elsewhere), to reach the slope (see :func:`_hidden_by_flatness`). Exactly 0 is f
    flat to the bit at the finer steps, below f's resolution there, and the stencil's own bound does not hold f's
    resolution either: CS231n's softmax loss at 8e-9 climbs 34 whole steps of 1.1e-16 between the usual line's
    points, a staircase so regular that the line measures a rounding of 5e-25; the step levels went down to steps
    where f no longer moved and kept 0 ± 2e-13 for a slope of −7.97e-9 that ±h showed, and ±h's own estimate, off
    by whole steps over h, missed the slope by six times its bound. Neither the 0 nor ±h's value is known to the
    tolerance there."""
    floor = np.zeros(len(out.numeric))
    with np.errstate(invalid="ignore"):
        zeroed = (out.numeric[idx] == 0) & (np.abs(first.g1) > MARGIN * first.bound)
    floor[idx[zeroed]] = (np.abs(first.g1) + first.bound)[zeroed]
    return floor


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


def _gap(a, g, settings):
    """(|a − g|, the tolerance rtol·max(|a|, |g|) + atol) per element."""
    with np.errstate(invalid="ignore"):
        return np.abs(a - g), settings.rtol * np.maximum(np.abs(a), np.abs(g)) + settings.atol


def _choose_steps(f_batch, theta, f0, even, h, method, eps, out, noise):  # noqa: PLR0913
    """Steps chosen per element (:func:`gradcheck.numeric.steps.resolve`) for the elements ``even``, into ``out``;
    ``noise``: f's rounding near θ (:func:`~gradcheck.numeric.noise.function_rounding`), which a line moving every
    element at once measures. Each element's steps are bounded by the larger of it and f's rounding along the
    element's own axis where its default steps go (:func:`~gradcheck.numeric.blind.axis_noise`), and each bound
    carries that rounding at the chosen step too (:func:`~gradcheck.numeric.blind.along_noise`, and
    :func:`~gradcheck.numeric.blind.tread_noise` where f's treads are wider than its points reach): a layernorm
    over two features 95 apart, computed, steps by 34 ulps of f as the last two bits of one x go 0, 1, 2, 3, which
    the line did not see, and the steps halved to 4e-14, where that staircase read −2⁻⁹ ± 6e-4 for a slope of
    −1.7e-12."""
    measured = axis_noise(f_batch, theta, f0, even, h[even])
    axis = np.maximum(noise, measured[0])
    evaluate = mover(f_batch, theta, even, crossings=True)
    value, bound, _, _, fine = resolve_steps(lambda sel, s, offsets: evaluate(sel, np.outer(offsets, s)), h[even],
                                             method,
                                             lambda fmax, s, at: rounding_floor(np.maximum(fmax, abs(f0)), s, eps,
                                                                                axis[at]),
                                             f0=f0)
    own = np.maximum(along_noise(f_batch, theta, f0, even, fine, eps, known=(h[even], measured)),
                     tread_noise(f_batch, theta, f0, even, fine, eps))
    out.numeric[even], out.bound[even] = value, bound + rounding_floor(0.0, fine, eps, own)
    out.own[even] = np.maximum(out.own[even], own)


def _refine_undecided(f_batch, theta, f0, a, how, out):
    """The elements of ``out`` whose bound leaves them undecided against the analytic gradient ``a`` (flat; not at
    a kink), estimated again with f's rounding measured along each one's own axis, at its own steps and smaller
    ones (:func:`gradcheck.numeric.steps.refine`), in place: near a minimum of f, f at the default steps is the
    curvature's f''·h²/2, far above f(θ), and its rounding hides a gradient of f(θ)'s scale (½‖x‖² at x of
    1e-20 has a gradient of 1e-20, and f(x ± h) of 3e-7).

    Only where f's rounding near θ is that of its own size (within :data:`~gradcheck.numeric.noise.OWN_ULPS` ulps of
    the largest |f| measured): where it is far above, f is the small difference of larger terms (log1p(exp(u)) − log
    2 − u/2 at u near 0 is all rounding), a rounding that smaller steps do not lower and that eight points along one
    axis, equally spaced, can miss (rounded values that climb by a nearly whole number of ulps a step look smooth).
    Where the usual line finds more, f's rounding as finer lines measure it decides (f turning between the usual
    line's points, under inputs of 1e8 and weights of 1e-8, scatters its values by 0.29 for a rounding of 3e-15).
    ``how``: (the method, the :class:`Settings`, ``rounding`` and ``settled`` as :func:`_kink_aware` takes them, max
    |f| at each element's steps ±h or None)."""
    method, settings, (rounding, settled), fmax = how
    eps = settings.eps
    undecided = _undecided(a, out, settings, loose=VAGUE)
    if not len(undecided):
        return
    for measured in (rounding, settled):
        probe, line, top = measured()
        own = OWN_ULPS * eps * max(top, abs(f0))
        probe = _unexplained(probe, theta, out.numeric, own)
        if max(probe, line) <= own:
            break
    else:
        return
    evaluate = mover(f_batch, theta, undecided, crossings=True)
    # Each estimate as if kept at the default steps: where its bound is far above their rounding (g(h)'s truncation
    # counted, see add_truncation), smaller steps may lower it.
    steps = default_step(theta[undecided], method)
    kept = (out.numeric[undecided], out.bound[undecided], steps.copy())
    # Where the kink tests measured f's rounding along the element's own axis near x, it floors the levels' own
    # measure, taken where their first steps go: f may round far more near x than there (a batchnorm over two
    # samples 3e-10 apart under eps = 0 rounds its mean by 7e-10 of f within 1e-11 of x, by 2e-11 at 2e-8, and levels
    # from 1.2e-8 read the smooth tread of that rounding, 2.41 ± 0.39, for a gradient of 0).
    at_theta = np.maximum(max(probe, eps * abs(f0)), out.own[undecided])
    refine(lambda sel, s, offsets: evaluate(sel, np.outer(offsets, s)), steps,
           method, lambda fmax, s, n: rounding_floor(np.maximum(fmax, abs(f0)), s, eps, n),
           (at_theta, max(probe, line), None if fmax is None else fmax[undecided]), f0, kept)
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
    evaluate = mover(f_batch, theta, undecided, crossings=True)
    value, bound, _ = grow(lambda sel, s, offsets: evaluate(sel, np.outer(offsets, s)),
                           default_step(theta[undecided], method), method,
                           lambda fmax, s, _: rounding_floor(np.maximum(fmax, abs(f0)), s, settings.eps, noise),
                           GROW_LIMIT * np.maximum(1.0, np.abs(theta[undecided])), f0=f0)
    was, old = out.numeric[undecided], out.bound[undecided]
    gap, tol = _gap(a[undecided], value, settings)
    with np.errstate(invalid="ignore"):
        keep = (bound < old) & ~(np.abs(value - was) > bound + old) & (gap <= tol) & (bound <= tol)
    out.numeric[undecided[keep]], out.bound[undecided[keep]] = value[keep], bound[keep]
