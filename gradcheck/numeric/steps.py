"""Steps chosen per element: central differences at halving steps until their estimates are consistent.

With g(s) = (C(θ + s) − C(θ − s))/(2s) = C' + c₂s² + c₄s⁴ + …, the differences of
three consecutive levels, d₁ = g(4s) − g(2s) and d₂ = g(2s) − g(s), have the ratio 4
while the c₂s² term leads (16 where c₂ happens to vanish and c₄s⁴ leads). Only then
does the extrapolation R(s) = (4·g(s) − g(2s))/3 have the error its own estimates say,
|R(s) − R(2s)| (fifteen times its leading term, and still an honest bound when c₄ is
accidentally small). A step wider than a feature of the loss (a norm over one or two
features, a weight of 60, a tanh turning within the step) breaks the ratio; two
estimates that agree by accident do not make it. So an element is *resolved* at a
level where

* the ratio d₁/d₂ lies in :data:`RATIO` (the asymptotic regime), or
* d₁ and d₂ are both within the rounding of their quotients (the loss is flat to
  rounding there: a linear piece, or a gradient below what C can show),

and no step of the three crossed a kink. Otherwise the element gets the next level,
g(s/2), two more forward passes, and so on: a feature narrower than the step is passed
by, and a kink at 1e-7 from θ is stepped away from. An element never resolved is
*unresolved* (the error bound is infinite: its verdict is "inconclusive"), or a *kink*
when its steps still cross one at the smallest step tried.

The first level costs six passes (±h, ±2h, ±h/2); further levels are taken only by the
elements that need them.
"""

from __future__ import annotations

import numpy as np

from .methods import CENTRAL, lookup
from .noise import element_noise

__all__ = ["FIRST", "GROW_LEVELS", "MAX_LEVELS", "RATIO", "REFINE_RUNGS", "Levels", "afresh", "grow", "kept_rounding",
           "refine", "resolve"]

EPS = float(np.finfo(np.float64).eps)
#: The first stencil, in units of the method's default step h: g(2h), g(h) and g(h/2).
FIRST = (2.0, -2.0, 1.0, -1.0, 0.5, -0.5)
#: d₁/d₂ inside one of these ranges is the asymptotic regime: near 4 where c₂s² leads (x = c₄s²/c₂ within about
#: ±0.015 of 0: d₁/d₂ = (12 + 240x)/(3 + 15x)), near 16 where c₂ vanishes and c₄s⁴ leads.
RATIO = ((3.3, 4.9), (13.0, 19.5))
#: A resolved estimate is good enough, and its element done, when its truncation part is within its rounding part or
#: this fraction of its value; until then the steps go on halving while the bound shrinks.
ENOUGH = 1e-9
#: Levels without a smaller bound after which an element keeps the best it had.
PATIENCE = 2
#: Doublings of the step, at most, for an element whose estimate the loss's rounding leaves unresolved (see
#: :func:`grow`); and the widest step, the coarse level's, as a fraction of max(1, |θ|): its fine level, whose
#: quotient the estimate is made from, reaches a tenth of max(1, |θ|).
GROW_LEVELS = 14
GROW_LIMIT = 0.4
#: A one-sided quotient R(s) = 2·D(s) − D(2s), D(s) = (C(θ ± s) − C(θ))/(±s), carries up to this many times the
#: rounding of a central quotient at the step s (each D two losses over s, not over 2s: 2·2 + 1).
ONE_SIDED_ROUNDING = 5.0
#: Growth ends for an element once the rounding part of its bound is below this fraction of its value.
GROW_RTOL = 1e-6
#: Halvings after the first stencil after which an element without an estimate stops (h/2^30 is below any step that
#: rounding leaves useful where the loss moves at the scale of θ), unless its quotient's rounding is still below
#: :data:`FINER_ROUNDING` of it: the loss moves at a far smaller scale (weights of 1e-12 under inputs of 1e12 turn it
#: within steps of 1e-13, 2^-36 of the default ones), and it goes on, up to :data:`LAST_LEVEL`.
MAX_LEVELS = 30
FINER_ROUNDING = 1e-8
#: The last level any element takes. An estimate kept at it, which no finer level confirmed, is not kept.
LAST_LEVEL = 60
#: Halvings after which a step that still crosses a kink stops: the kink is within h/2^16 of θ, and whether it is
#: at θ is :mod:`gradcheck.numeric.kinks`'s question.
KINK_LEVELS = 16
#: A second difference over its step counts as a bend beyond this many times its central quotient's rounding
#: (three losses, not two, and a margin).
BEND_ULPS = 4
#: The steps, as fractions of the default ones, at which :func:`refine` estimates an element again.
REFINE_RUNGS = (1.0, 2.0**-10, 2.0**-20, 2.0**-30)
#: An element goes on to the next of them only where its rounding at these steps is this many times its rounding
#: at θ or more.
SMALLER_STEPS = 16


class Levels:
    """Three consecutive levels of central differences per element: coarse (a), middle (b), fine (c).

    ``bends`` (optional, NaN where not given): each level's second difference over its step, (C(θ + s) +
    C(θ − s) − 2·C(θ))/s = D₊(s) − D₋(s), the gap between its one-sided quotients: C''·s where the loss is smooth
    at that scale, the same at every step where its slope turns within a width narrower than the steps."""

    def __init__(self, g, r, x, step, bends=None):
        (self.ga, self.gb, self.gc), (self.ra, self.rb, self.rc), (self.xa, self.xb, self.xc) = g, r, x
        self.step = step  # the fine level's nominal step
        self.qa, self.qb, self.qc = bends if bends is not None else (np.full(len(step), np.nan) for _ in range(3))

    def shift(self, keep, g, r, x, step, bend=np.nan):
        """Drop the coarse level of elements ``keep`` (indices) and add a finer one."""
        for name in ("a", "b"):
            nxt = chr(ord(name) + 1)
            for var in ("g", "r", "x", "q"):
                getattr(self, var + name)[keep] = getattr(self, var + nxt)[keep]
        self.gc[keep], self.rc[keep], self.xc[keep], self.step[keep], self.qc[keep] = g, r, x, step, bend

    def widen(self, keep, g, r, x, bend=np.nan):
        """Drop the fine level of elements ``keep`` (indices) and add a coarser one (twice the coarse step)."""
        for name in ("c", "b"):
            prev = chr(ord(name) - 1)
            for var in ("g", "r", "x", "q"):
                getattr(self, var + name)[keep] = getattr(self, var + prev)[keep]
        self.ga[keep], self.ra[keep], self.xa[keep], self.qa[keep] = g, r, x, bend
        self.step[keep] *= 2

    def bent(self, at):
        """Which of the elements ``at`` have a bend that does not shrink with the step: the middle and fine levels'
        second differences over their steps both beyond rounding, of one sign, and the middle one within 0.4 to
        1.5 times the fine one (C''·s would make it twice). Within 0.75 to 1.5, the same at both: the loss's slope
        turns within a width narrower than the steps (a softmax over inputs of 1e12, linear on either side of a
        turn 1e-12 wide), the central quotients are the mean of the two slopes there, flat at every step, and not
        the slope at θ. About half: C(θ) itself lies off the curve C(θ ± s) traces, by the same offset at every
        step (an lstm input of 4.8e90 under a weight of 1e-90: C(θ ± s) is 0.139 above C(θ) for every s from 1e-88
        to 1e-12, a spike at θ narrower than any step), and the quotients, which never see C(θ), measure the slope
        of that curve (177), not the slope at θ (−1.2e86)."""
        qb, qc = np.abs(self.qb[at]), np.abs(self.qc[at])
        with np.errstate(invalid="ignore", over="ignore"):  # quotients of 1e200: their product's sign stays
            return ((qc > BEND_ULPS * self.rc[at]) & (qb > BEND_ULPS * self.rb[at]) & (self.qb[at] * self.qc[at] > 0)
                    & (qb > 0.4 * qc) & (qb < 1.5 * qc))

    def resolved(self, at):
        """Which of the elements ``at`` have three levels in the asymptotic regime or flat to rounding, crossing no
        kink."""
        ga, gb, gc = self.ga[at], self.gb[at], self.gc[at]
        d1, d2 = ga - gb, gb - gc
        n1, n2 = self.ra[at] + self.rb[at], self.rb[at] + self.rc[at]
        with np.errstate(divide="ignore", invalid="ignore"):
            flat = (np.abs(d2) <= n2) & (np.abs(d1) <= n1 + 4 * n2)
            ratio = d1 / d2
            (lo1, hi1), (lo2, hi2) = RATIO
            regime = (np.abs(d2) > n2) & (((ratio >= lo1) & (ratio <= hi1)) | ((ratio >= lo2) & (ratio <= hi2)))
        return (flat | regime) & self._clean(at) & ~self.bent(at)

    def varies(self, at, resolved=None):
        """Which of the elements ``at`` have three levels whose quotients differ beyond their rounding, and not as
        the leading truncation term makes them (neither flat nor in the asymptotic regime), crossing no kink: a
        feature of the loss lies within the steps. ``resolved``: :meth:`resolved` of ``at``, if already made."""
        return self._clean(at) & ~(self.resolved(at) if resolved is None else resolved)

    def _clean(self, at):
        """Which of the elements ``at`` have three finite levels, none crossing a kink."""
        ga, gb, gc = self.ga[at], self.gb[at], self.gc[at]
        return ~(self.xa[at] | self.xb[at] | self.xc[at]) & np.isfinite(ga) & np.isfinite(gb) & np.isfinite(gc)

    def estimate(self, method):
        """(value, truncation bound, rounding bound) of ``method`` (a
        :class:`~gradcheck.numeric.methods.Method`) from the three levels: its estimate at the fine level, with the
        distance to its estimate at the middle one (|R(s) − R(2s)| for Richardson, d₂ for central differences)."""
        fine, mid = method.estimate(self.gc, self.gb), method.estimate(self.gb, self.ga)
        return np.array(fine), np.abs(fine - mid), np.array(method.estimate_rounding(self.rc, self.rb))


def _quotients(values, taken, rows):
    """g = (C(θ + s) − C(θ − s))/(taken step) for the stencil rows (up, down)."""
    up, down = rows
    return (values[up] - values[down]) / (taken[up] - taken[down])


def _level(stencil, todo, s, fmax, floor, f0=None):
    """(g(s), its rounding, crossed a kink) of the elements ``todo`` at steps ``s``: two losses each; ``fmax``
    (the largest |C| seen, per element) is updated in place. With ``f0`` (C at θ), also the level's bend
    (:class:`Levels`)."""
    vals, cr, tk = stencil(todo, s, (1.0, -1.0))
    vals, tk = vals.real, tk.real
    fmax[todo] = np.maximum(fmax[todo], np.abs(vals).max(axis=0))
    out = _quotients(vals, tk, (0, 1)), floor(fmax[todo], s, todo), cr[0] | cr[1]
    return out if f0 is None else (*out, _bend(vals, tk, (0, 1), f0))


def _bend(values, taken, rows, f0):
    """(C(θ + s) + C(θ − s) − 2·C(θ))/s for the stencil rows (up, down), s the step taken up."""
    up, down = rows
    return (values[up] + values[down] - 2 * f0) / taken[up]


def _keep(lv, todo, method, kept, estimate=None, finer=False, lifted=False, seen=None):
    """Keep, for the elements ``todo`` (indices, or ``slice(None)``: all) whose levels are resolved, the estimate
    whose bound is smaller than the best so far (``kept``: the arrays best, bound, step and stale, in place; stale
    counts the levels without one). Returns (better, value, truncation, rounding, resolved) of ``todo``'s
    current estimates (resolved: :meth:`Levels.resolved`, and with ``lifted`` what lifting asks too);
    ``estimate``: ``lv.estimate(method)``, if already made.

    With ``finer`` (the levels halve), a kept estimate that a finer one contradicts, beyond the kept bound and
    the finer one's rounding, loses that bound, and the steps go on halving: its two extrapolations agreed by
    accident (the next two terms of the error cancelling at those steps), or its levels' ratio fell in the
    asymptotic range by chance while the steps were still wider than a feature of the loss. A finer level in
    the regime then replaces it with its own bound; one that is not (its quotients varying beyond rounding, no
    kink crossed) leaves it with a bound that reaches the finer estimate.

    With ``lifted`` (the levels grow), a level counts only where its estimate stands above its rounding and the
    loss's change grows with the step (the wider steps lifted it out of rounding). A loss that does not change by
    a single bit at any of its steps lifts nothing either: flat at a wide step says nothing of the slope at θ
    under a feature narrower than the step (a layernorm over two features 3.3e-6 apart: a slope of 5.5e-15 in a
    bias, under output weights of 2.2e-16, never moves C by half an ulp, inside the feature or across it), and
    the default steps' bound stands. Past a feature of the loss the steps may lift nothing (a saturated norm's
    loss changes by the same few ulps however wide the step), and the quotients then fall as the steps grow, flat
    to a rounding that falls as fast: one same change, whose estimate can stand just above that rounding.
    ``seen`` (with ``lifted``): every level the growth has taken, as (g, its rounding, step) arrays over all
    elements (NaN where not taken); a level counts only where every one of them no wider than its fine step agrees
    with its estimate, within that quotient's rounding, the estimate's bound and the quotient's own O(s²) term
    (see :func:`_agrees_below`)."""
    best, bound, step, stale = kept
    ok = lv.resolved(todo)
    value, trunc, rounding = (x[todo] for x in (lv.estimate(method) if estimate is None else estimate))
    if lifted:
        ga, gc = lv.ga[todo], lv.gc[todo]
        # The loss's change must grow with the step: across the levels' fourfold step, 4·g_a against g_c beyond
        # both changes' rounding. Quotients falling as 1/s are one same change at every step (a loss that
        # saturates, or moves by the same few ulps), flat to a rounding that falls as fast, and no slope.
        grows = np.abs(4 * ga - gc) > 4 * lv.ra[todo] + lv.rc[todo]
        ok &= (np.abs(value) > rounding) & grows
        if seen is not None:
            ok &= _agrees_below(lv, todo, value, trunc + rounding, seen)
    contradicted = np.zeros(len(value), dtype=bool)
    kept_any = np.isfinite(bound[todo])
    if finer and kept_any.any():  # the first level has nothing kept to contradict
        with np.errstate(invalid="ignore"):
            gap = np.abs(value - best[todo])
            contradicted = ((ok | lv.varies(todo, ok)) & kept_any & np.isfinite(value)
                            & (gap > bound[todo] + rounding))
        at = np.flatnonzero(contradicted) if isinstance(todo, slice) else todo[contradicted]
        bound[at] = (gap + trunc + rounding)[contradicted]
    better = ok & (trunc + rounding < bound[todo])
    if isinstance(todo, slice) and better.all():  # every element at once (the first level, as a rule): no gathers
        best[todo], bound[todo], step[todo] = value, trunc + rounding, 2 * lv.step[todo]
    else:
        at = np.flatnonzero(better) if isinstance(todo, slice) else todo[better]
        best[at], bound[at], step[at] = value[better], trunc[better] + rounding[better], 2 * lv.step[at]
    waiting = bound[todo] < np.inf
    if lifted:  # a level still within rounding is no level without progress: wider steps are the remedy
        waiting &= ok
    stale[todo] = np.where(better | contradicted, 0, stale[todo] + waiting)
    return better, value, trunc, rounding, ok


def _agrees_below(lv, todo, value, bound, seen):
    """Which of the elements ``todo`` have an estimate ``value`` ± ``bound`` (from levels whose fine step is s_c)
    that every quotient g_k of ``seen`` at a step s_k ≤ s_c agrees with: |g_k − value| ≤ r_k + bound +
    c₂·s_k², c₂·s_c² = |g_b − g_c|/3 (the fine quotient's own O(s²) term, smaller at smaller steps).

    Quotients flat to their rounding at wide steps may be the chord across a feature of the loss, not the slope
    at θ (a weight of 3e-170 moved by 0.02 to 0.1 turns a saturated network's loss; its chords rise from 0 and
    level off at 1e-23, each level within the others' rounding, while the slope at θ is 0): the quotients of the
    smaller steps, taken on the way, then fall short of the estimate by more than their rounding allows. A
    slope that rounding hid at small steps (a loss that moves only by whole ulps) agrees with them: there each
    quotient is within its rounding of the slope, by that rounding's definition."""
    fine = lv.step[todo]
    c2 = np.abs(lv.gb[todo] - lv.gc[todo]) / 3 / fine ** 2
    ok = np.ones(len(fine), dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for g, r, step in seen:
            g, r, step = g[todo], r[todo], step[todo]
            below = np.isfinite(g) & (step <= fine * (1 + 1e-12))
            ok &= ~below | (np.abs(g - value) <= r + bound + c2 * step ** 2)
    return ok


def _one_sided(values, crossed, taken, f0, floor, fmax):
    """(value, bound, from both sides) from the side of θ whose steps of the first stencil cross no kink, where the
    other side's do, and from both sides where each side's steps cross one (a kink at θ, or one each way) and the two
    sides' estimates agree within their bounds (the loss differentiable there, or barely feeling the kink: their
    mean, bounded by half their gap and the larger bound); NaN/inf elsewhere."""
    p = values.shape[1]
    value, bound, both = np.full(p, np.nan), np.full(p, np.inf), np.zeros(p, dtype=bool)
    up, down = _crossing_sides(crossed)
    for side, clean in ((0, down & ~up), (1, up & ~down)):  # the + side when only − crosses, and back
        at = np.flatnonzero(clean)
        value[at], bound[at] = _side(values, taken, f0, floor, fmax, side, at)
    at = np.flatnonzero(up & down)
    if len(at):
        (plus, plus_bound), (minus, minus_bound) = (_side(values, taken, f0, floor, fmax, side, at) for side in (0, 1))
        with np.errstate(invalid="ignore"):
            gap = np.abs(plus - minus)
            agree = gap <= plus_bound + minus_bound
        value[at[agree]] = ((plus + minus) / 2)[agree]
        bound[at[agree]] = (gap / 2 + np.maximum(plus_bound, minus_bound))[agree]
        both[at[agree]] = True
    return value, bound, both


def _crossing_sides(crossed):
    """(up, down) (P,): where a point above θ, or below it, of a stencil whose rows alternate + and − (±2h, ±h,
    ±h/2; ±2h, ±4h, ±8h) crossed a kink."""
    return crossed[0::2].any(axis=0), crossed[1::2].any(axis=0)


def _side(values, taken, f0, floor, fmax, side, at):
    """(value, bound) of the elements ``at`` from one side of θ (``side`` 0: +, 1: −) of the first stencil: D(s) =
    (C(θ ± s) − C(θ))/(±s) at s = h/2, h, 2h, extrapolated as 2·D(s) − D(2s), kept where D(2h) − D(h) and
    D(h) − D(h/2) have the ratio 2 of the O(s) term, or are flat to rounding (NaN/inf elsewhere)."""
    value, bound = np.full(len(at), np.nan), np.full(len(at), np.inf)
    if not len(at):
        return value, bound
    rows = [side, 2 + side, 4 + side]  # 2h, h, h/2 on that side
    d = [(values[r, at] - f0) / taken[r, at] for r in rows]
    # Two losses, one step: twice a quotient's rounding.
    r = [2 * floor(fmax[at], np.abs(taken[row, at]), at) for row in rows]
    e1, e2 = d[0] - d[1], d[1] - d[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = e1 / e2
        flat = (np.abs(e2) <= r[1] + r[2]) & (np.abs(e1) <= r[0] + r[1] + 2 * (r[1] + r[2]))
        regime = (np.abs(e2) > r[1] + r[2]) & (ratio >= 1.6) & (ratio <= 2.6)
    fine, coarse = 2 * d[2] - d[1], 2 * d[1] - d[0]
    ok = flat | regime
    value[ok] = fine[ok]
    bound[ok] = (np.abs(fine - coarse) + 2 * r[2] + r[1])[ok]
    return value, bound


def resolve(stencil, h, method, floor, f0=None):
    """Per element, for ``method`` (a :class:`~gradcheck.numeric.methods.Method` of central differences): (value,
    error bound, kink, resolved, step h) by the level scheme of this module; h is the
    middle level of the estimate kept (its g(h/2), g(h) and g(2h)), the default step where that was enough.

    ``stencil(index, step, offsets)`` returns (losses (m, P), crossed (m, P), steps taken (m, P)) of the
    elements ``index`` (P,) moved by ``offsets[r]·step``; ``h`` (P,) are their default steps;
    ``floor(fmax, step, at)`` is the rounding of a quotient at that step of the elements ``at`` (indices into
    ``index``, or a slice), its loss's scale fmax; ``f0``, if given, is
    f at θ, for one-sided differences where only one side's steps cross a kink (see :func:`_one_sided`). A resolved
    element keeps the estimate with the smallest bound among its resolved levels; the steps go on halving
    until that bound's truncation part is within its rounding part or :data:`ENOUGH` of the value, or stops
    shrinking for :data:`PATIENCE` levels.
    """
    method = lookup(method)
    index = np.arange(len(h))
    values, crossed, taken = stencil(index, h, FIRST)
    values, taken = values.real, taken.real
    fmax = np.abs(values).max(axis=0)
    steps = [h * 2.0, h, h / 2]
    lv = Levels([_quotients(values, taken, (2 * k, 2 * k + 1)) for k in range(3)],
                [floor(fmax, s, slice(None)) for s in steps], [crossed[2 * k] | crossed[2 * k + 1] for k in range(3)],
                steps[2].copy(), None if f0 is None else [_bend(values, taken, (2 * k, 2 * k + 1), f0)
                                                         for k in range(3)])
    first = lv.estimate(method)
    first_value = first[0]
    first_bound = np.abs(lv.ga - lv.gb) / 3 + lv.rb  # the default level's classic bound, shown for kinks only
    best, bound = np.full(len(h), np.nan), np.full(len(h), np.inf)
    step, stale = h.copy(), np.zeros(len(h), dtype=int)
    done = np.zeros(len(h), dtype=bool)
    todo = slice(None)  # every element at the first level (views, not copies); then the indices of those left
    # An element with an estimate goes on until a finer level confirms it or its bound stops shrinking, past
    # MAX_LEVELS too: one first kept at the last level is otherwise never confirmed nor contradicted by a finer one,
    # and a ratio in range by chance would stand with a bound that misses its truncation (weights of 1e-12 under
    # inputs of 1e12, resolved 32 halvings down: the extrapolations at 1.7e-13 and 8.6e-14 agreed within 1e7, their
    # errors both 4e7, the next level's 3.6e6).
    # An estimate from the first levels in the regime after levels outside it is not enough by itself: steps just
    # narrower than a feature of the loss (a softmax turning within 1e-11 of θ) can fall in the asymptotic ratio
    # by chance, their extrapolation 0.5% off with a bound of 0.04%; the next finer level confirms or contradicts.
    was_resolved = np.zeros(len(h), dtype=bool)
    closing = np.full(len(h), np.inf)  # per element, the last level's |R(s) − R(2s)|
    for level in range(LAST_LEVEL + 1):
        if level:
            s = lv.step[todo] / 2
            g, r, x, *bend = _level(stencil, todo, s, fmax, floor, f0)
            lv.shift(todo, g, r, x, s, *bend)
        waited = stale[todo].copy()
        better, value, trunc, rounding, now = _keep(lv, todo, method, (best, bound, step, stale),
                                                    None if level else first, finer=True)
        # A level outside the regime whose extrapolations close in fourfold or more on the level before's, beyond
        # rounding, is on its way into it (steps coming out of a feature of the loss), not a level without progress
        # (weights of 1e-12 under inputs of 1e12: a level 30 halvings down contradicted, the next two closing in by
        # 6 and 13, and the regime after them).
        with np.errstate(invalid="ignore"):
            on_its_way = ~now & (trunc < closing[todo] / 4) & (trunc > rounding)
        stale[todo] = np.where(on_its_way, np.minimum(stale[todo], waited), stale[todo])
        closing[todo] = trunc
        enough = better & (trunc <= np.maximum(rounding, ENOUGH * np.abs(value))) & (was_resolved[todo] | (level == 0))
        was_resolved[todo] = now
        at_kink = (level >= KINK_LEVELS) & lv.xc[todo] & ~np.isfinite(bound[todo])
        with np.errstate(invalid="ignore"):
            lost = ~np.isfinite(bound[todo]) & ~(lv.rc[todo] < FINER_ROUNDING * np.abs(lv.gc[todo]))
        done[todo] = (enough | (stale[todo] >= PATIENCE) | ~np.isfinite(lv.gc[todo]) | at_kink
                      | ((level >= MAX_LEVELS) & lost))
        ran, todo = todo, index[~done]
        if not len(todo):
            break
    else:  # the last level's new estimates, which no finer level confirmed: not kept
        fresh = np.zeros(len(h), dtype=bool)
        fresh[ran] = better
        bound[fresh & ~done] = np.inf
    if f0 is not None and crossed.any():  # a kink within the steps (smaller steps cleared it): the one-sided
        # differences at the default steps of the side that crosses none are better than the small steps' rounding;
        # those of both sides, where they agree, only where the small steps see no slope at all and they do (each
        # estimate against its bound of 0): each side's steps then straddle a point where the loss bends
        side, side_bound, both = _one_sided(values, crossed, taken, f0, floor, np.maximum(fmax, abs(f0)))
        with np.errstate(invalid="ignore"):
            sees = (np.abs(best) <= bound) & (np.abs(side) > side_bound)
            better = (side_bound < bound) & np.isfinite(bound) & (~both | sees)
        best[better], bound[better], step[better] = side[better], side_bound[better], h[better]
    resolved = np.isfinite(bound)
    kink = ~resolved & lv.xc
    best[kink], bound[kink], step[kink] = first_value[kink], first_bound[kink], h[kink]
    unresolved = ~resolved & ~kink
    best[unresolved] = first_value[unresolved]
    return best, bound, kink, resolved, step


def grow(stencil, h, method, floor, limit, f0=None):
    """(value, error bound, step) for elements whose estimate at the default steps the loss's rounding does not
    resolve (a gradient so small that C(θ ± h) differ by a few ulps): the same levels with steps doubling from
    2h, up to ``limit`` (P,) (:data:`GROW_LIMIT` of max(1, |θ|)), kept where they are in the asymptotic regime
    and their bound is smaller. A step that crosses a kink ends an element's growth (where only one side's steps
    cross one from the first, and ``f0`` is given, it goes on along the other side: :func:`_grow_one_sided`), and so
    do levels that vary beyond rounding outside the regime (:meth:`Levels.varies`): the steps have reached a feature
    of the loss, and past it the quotients no longer measure the slope at θ (a norm over two features 1e-6 apart
    saturates, and its central differences fall to 0 at steps far wider than the features' gap, flat to rounding).
    The bound is infinite where no level was in the regime. ``f0``, if given, is C at θ, for the levels' bends (see
    :meth:`Levels.bent`).
    """
    method = lookup(method)
    index = np.arange(len(h))
    values, crossed, taken = stencil(index, 2 * h, (1.0, -1.0, 2.0, -2.0, 4.0, -4.0))
    values, taken = values.real, taken.real
    fmax = np.abs(values).max(axis=0)
    steps = [8 * h, 4 * h, 2 * h]
    lv = Levels([_quotients(values, taken, (2 * k, 2 * k + 1)) for k in (2, 1, 0)],
                [floor(fmax, s, slice(None)) for s in steps], [crossed[2 * k] | crossed[2 * k + 1] for k in (2, 1, 0)],
                steps[2].copy(), None if f0 is None else [_bend(values, taken, (2 * k, 2 * k + 1), f0)
                                                         for k in (2, 1, 0)])
    best, bound, step = np.full(len(h), np.nan), np.full(len(h), np.inf), 2 * h
    stale = np.zeros(len(h), dtype=int)
    seen = [(g.copy(), r.copy(), s.copy())  # every level taken: (g, rounding, step), finest first
            for g, r, s in zip((lv.gc, lv.gb, lv.ga), (lv.rc, lv.rb, lv.ra), steps[::-1])]
    todo = index
    for level in range(GROW_LEVELS):
        if level:
            s = 8 * lv.step[todo]  # the new coarse step: twice the current coarse one
            g, r, x, *bend = _level(stencil, todo, s, fmax, floor, f0)
            lv.widen(todo, g, r, x, *bend)
            seen.append(tuple(np.full(len(h), np.nan) for _ in range(3)))
            seen[-1][0][todo], seen[-1][1][todo], seen[-1][2][todo] = g, r, s
        better, value, _, rounding, _ = _keep(lv, todo, method, (best, bound, step, stale), lifted=True, seen=seen)
        enough = better & (rounding <= GROW_RTOL * np.abs(value))  # rounding no longer hides the value
        done = (enough | (stale[todo] >= PATIENCE) | lv.xa[todo] | (8 * lv.step[todo] > limit[todo])
                | lv.varies(todo))
        todo = todo[~done]
        if not len(todo):
            break
    if f0 is not None:  # where one side's steps cross a kink from the first and the other's do not: that side alone
        up, down = _crossing_sides(crossed)
        side = np.where(down & ~up, 1.0, np.where(up & ~down, -1.0, 0.0))
        at = np.flatnonzero((side != 0) & ~np.isfinite(bound))
        if len(at):
            value, one_bound, one_step = _grow_one_sided(stencil, h, floor, limit, f0, at, side[at])
            better = one_bound < bound[at]
            best[at[better]], bound[at[better]], step[at[better]] = (x[better] for x in (value, one_bound, one_step))
    return best, bound, step


def _grow_one_sided(stencil, h, floor, limit, f0, at, side):
    """:func:`grow` of the elements ``at`` on one side of θ (``side``: +1 or −1 each), for elements whose steps cross
    a kink on the other side from the first (a relu at 0 exactly that the element's + steps switch on) while the
    loss's rounding hides the slope at the default steps: the levels of R(s) = 2·D(s) − D(2s), D(s) = (C(θ ± s) −
    C(θ))/(±s), whose error is O(s²) as a central quotient's, from C at s and 2s on that side, with
    :data:`ONE_SIDED_ROUNDING` times a central quotient's rounding. (value, bound, step) of ``at``."""
    fmax = np.full(len(at), abs(f0))

    def one_sided(index, step, offsets):  # each pair (o, −o) of offsets: a quotient R(|o|·step), as if central
        mags = sorted({abs(o) for o in offsets})
        points = sorted(set(mags) | {2 * m for m in mags})
        values, crossed, taken = stencil(at[index], side[index] * step, tuple(points))
        values, taken = np.asarray(values).real, np.asarray(taken).real
        with np.errstate(all="ignore"):
            fmax[index] = np.maximum(fmax[index], np.abs(values).max(axis=0))
            d = {m: (values[r] - f0) / taken[r] for r, m in enumerate(points)}
        x = dict(zip(points, np.asarray(crossed, bool)))
        r = {m: 2 * d[m] - d[2 * m] for m in mags}
        # Centred at 0, so that the pair's quotient (v₊ − v₋)/(t₊ − t₋) is R itself, to an ulp.
        return (np.stack([o * step * r[abs(o)] for o in offsets]),
                np.stack([x[abs(o)] | x[2 * abs(o)] for o in offsets]), np.stack([o * step for o in offsets]))

    return grow(one_sided, h[at], CENTRAL,
                lambda _, s, sub: ONE_SIDED_ROUNDING * floor(fmax[sub], s, at[sub]), limit[at])


def refine(stencil, h, method, floor, rounding, f0, kept):
    """Estimate the elements of ``stencil`` again, each with the loss's rounding measured where its own steps go,
    along its own axis (:func:`~gradcheck.numeric.noise.element_noise`), at the default steps ``h`` (P,) and at
    :data:`REFINE_RUNGS` of them; keep, in ``kept`` (value, bound, step: arrays (P,), in place), an estimate where
    its bound is smaller and it agrees with the one it replaces within both bounds. Returns which changed.

    ``floor(fmax, s, noise)`` is a quotient's rounding at step s given the loss's scale and noise (P,);
    ``rounding`` is (the loss's rounding at θ itself, its ε·|C| and what else is measured there, a floor to every
    element's: one for all, or one each (P,); the noise the estimates in ``kept`` were bounded with; max |C| at each
    element's default steps ±h, (P,), or None to evaluate them); ``f0``: C at θ.

    Only three kinds of element can gain, and only they are estimated again: those whose bound's noise is far above
    their own loss's rounding, :data:`SMALLER_STEPS`·ε·max|C(θ ± h)| (a noise measured along a line that moves
    other elements, which move C more), those whose C at the default steps is that many times C(θ) or more (a
    loss near 0, whose curvature sets C there), and those whose bound is that many times its own rounding or more
    (a loss curved within the default steps, whose levels stopped before their truncation fell: a softmax over
    scores of 900 whose steps of 7e-3 see it turn). Where an element's rounding at one scale is
    :data:`SMALLER_STEPS` times the rounding at θ or more, smaller steps lower it, by the square of their ratio,
    and where its bound is still that many times its rounding, they lower the truncation: it goes on to the next
    scale; elsewhere smaller steps only magnify the same rounding. The levels halve from each scale as they do at
    the default steps (:func:`resolve`)."""
    best, bound, step = kept
    at_theta, used, fmax = rounding
    at_theta = np.broadcast_to(np.asarray(at_theta, float), np.shape(h))  # a floor per element, or one for all
    if fmax is None:
        values, _, _ = stencil(np.arange(len(h)), h, (1.0, -1.0))
        fmax = np.abs(np.asarray(values).real).max(axis=0)
    with np.errstate(invalid="ignore"):
        curved = bound > SMALLER_STEPS * kept_rounding(method, floor, fmax, step, used)
        todo = np.flatnonzero((used > SMALLER_STEPS * EPS * fmax) | (fmax > SMALLER_STEPS * abs(f0)) | curved)
    changed = np.zeros(len(h), dtype=bool)
    for rung in REFINE_RUNGS:
        if not len(todo):
            break

        def part(at, s, offsets, todo=todo):
            return stencil(todo[at], s, offsets)

        value, b, fine, noise = afresh(part, h[todo] * rung, method, floor, at_theta[todo], f0)
        with np.errstate(invalid="ignore"):
            keep = (b < bound[todo]) & ~(np.abs(value - best[todo]) > b + bound[todo])
        at = todo[keep]
        best[at], bound[at], step[at], changed[at] = value[keep], b[keep], fine[keep], True
        with np.errstate(invalid="ignore"):  # smaller steps lower the truncation where it, not rounding, bounds
            still = bound[todo] > SMALLER_STEPS * kept_rounding(method, floor, fmax[todo], step[todo], noise)
        todo = todo[(noise > SMALLER_STEPS * at_theta[todo]) | (curved[todo] & still)]
    return changed


def afresh(stencil, h, method, floor, at_theta, f0, noise=None):
    """(value, bound, step, noise), arrays (P,), of the elements of ``stencil`` estimated by :func:`resolve` from
    the steps ``h`` (P,), each with the loss's rounding measured along its own axis where those steps go
    (:func:`~gradcheck.numeric.noise.element_noise`, or ``noise`` (P,) where the caller measured it; floored at
    ``at_theta``); the bound is inf where a step crosses a kink. ``floor(fmax, s, noise)`` is a quotient's rounding
    at step s; ``f0``: C at θ."""
    noise = np.maximum(element_noise(stencil, h) if noise is None else noise, at_theta)
    value, bound, kink, _, fine = resolve(stencil, h, method,
                                          lambda fmax, s, at, noise=noise: floor(fmax, s, noise[at]), f0=f0)
    return value, np.where(kink, np.inf, bound), fine, noise


def kept_rounding(method, floor, fmax, step, noise):
    """The rounding of an estimate :func:`resolve` kept at ``step`` (its fine and middle levels at step/2 and step)
    given the loss's scale ``fmax`` and ``noise``; ``floor(fmax, s, noise)`` is a quotient's rounding at step s."""
    return method.estimate_rounding(floor(fmax, step / 2, noise), floor(fmax, step, noise))
