"""Elements whose finite-difference step crosses a kink: shrink the step until it crosses none, or find the kink at θ.

A central difference whose ±h or ±2h step moves some z across a point where the loss is
not differentiable (relu at 0, a change of a max-pool window's maximum) is no derivative.
Such an element is estimated again with its step divided by :data:`FACTOR`, and again,
as long as the loss's rounding at the smaller step still resolves it (see
:data:`RESOLVE_RTOL`), and last at the finest step that rounding allows. Each stencil also gives the one-sided
derivatives

    D₊ ≈ 2·(f(θ + h) − f(θ))/h − (f(θ + 2h) − f(θ))/2h,   D₋ alike from θ − h, θ − 2h,

Richardson-extrapolated, each with the bound |first-order quotient at h − at 2h| + rounding. An element ends
as one of:

* **smooth**: at some step the stencil crosses nothing (a network's kink states do not change;
  any function's differences at h and 2h agree as a smooth function's do), or the kink is
  at θ but its one-sided derivatives agree within their bounds: judged like any other
  element, with that estimate and its bound;
* **kink**: the crossing persists down to the finest step, D₋ and D₊ keep their values from
  the widest step to the finest, and they differ: a kink at θ. Any value between them (widened
  by their bounds; both from the first level, or from the finest where their last change bounds them closer) is a
  valid one-sided choice; the numeric value is their midpoint and its
  bound reaches both (see :func:`interval`). Whether the values at all kinks are a sub- or
  supergradient *together* is :mod:`gradcheck.judge.subgradient`'s test;
* **unresolved**: the crossing persists and the one-sided derivatives change with the step:
  a kink next to θ that no step float64 resolves. Every chord then averages the pieces on both
  sides of it, so the derivative at θ is never measured: the element is inconclusive where its value
  lies between the slopes seen (the numeric value shown is their middle, its band reaches both), and
  beyond them too unless its steps crossed one same kink on one side of θ only: then those slopes
  bracket every value the derivative may take, and a value beyond them is wrong (:func:`resolve_layer`).

:func:`resolve` does this for any evaluator; :func:`resolve_layer` for a network's layer, called
from :func:`~gradcheck.numeric.network.numeric_gradient` (crossings are
:class:`~gradcheck.numeric.perturbed.Perturbed`'s kink states).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..defaults import MARGIN
from .methods import CENTRAL, lookup
from .stencils import EPS, error_bound, rounding_floor, unflatten
from .steps import resolve as resolve_steps

__all__ = ["KINK", "OFFSETS", "SMOOTH", "UNRESOLVED", "Resolved", "Sides", "Stencil", "bracketed", "interval",
           "replaces", "resolve", "resolve_layer", "steady"]

#: The stencil of every step: ±h, ±2h.
OFFSETS = np.array([1.0, -1.0, 2.0, -2.0])
#: Each refinement divides the step by this.
FACTOR = 10.0
#: The step is refined only while the loss's rounding at the smaller step stays below this fraction of the
#: element's one-sided slopes. A step that clears a kink next to θ measures the slope on θ's own side to that, enough
#: to fail the middle of the two slopes or the other side's (a relu's z 1e-13 from 0 under a loss of order one: the
#: rounding at the step that clears it is a few parts in 1,000); what the bound leaves open stays inconclusive.
RESOLVE_RTOL = 0.1
#: At most this many refinements: from the first steps down to 1e-12 of them (a relu's z 1e-14 from 0, 6e-6 away at
#: the default step); the rounding test above ends them sooner wherever float64 cannot go as far.
MAX_LEVELS = 12
#: Where the slopes seen have grown this many times over the first level's (the first steps far wider than the loss's
#: turns: inputs of 1e16 under first weights of 1e-16 move an elu's z by 6e10 at the default step, and by 0.06 twelve
#: refinements down; without kink states, slopes seen where the steps cross plateaus only: a unit vector x/‖x‖ of x
#: of 1e-14, whose first steps go 6e8 times as far), up to this many refinements more, as the rounding test allows,
#: and without kink states no finer than :data:`FAR_ULPS` ulps of the element: a batchnorm over two samples 7e-11
#: apart under eps = 0, flat but for a rounding of 4e-8 its lines did not see, refined to steps of 4 ulps, where f
#: as computed is a sawtooth, and its slope there (629 for a gradient of 0) failed the check.
FAR = 100.0
FAR_LEVELS = 12
FAR_ULPS = 2.0 ** 20
#: The finest step tried beside a kink is this much above the step at which the loss's rounding reaches
#: :data:`RESOLVE_RTOL` of the slopes (so that it is within it, rounded).
SMALLEST_MARGIN = 1.01
#: A smooth function's differences bend a hundred to a thousand times less at a tenfold finer step; a kink's, which
#: the steps still cross, far less: one whose bend shrank by less than this carries it in its bound.
BEND_SHRINK = 30.0
#: Where no kink states say which steps cross (any function, whose differences alone tell a kink), the refinement
#: stops at these instead: at finer steps the differences' rounding hides a kink's bend, and a chord across both
#: slopes passes for smooth with a small bound (a relu's z 1e-13 away, at steps of 1e-14).
BLIND_RESOLVE_RTOL = 1e-3
BLIND_MAX_LEVELS = 6
#: Where kink states are known, sides that move this many times more at a refinement than at the one before are
#: coming near a kink, not at one: a kink at a distance d moves them tenfold more at each (see :func:`resolve`).
GROWING = 2.0
#: Unresolved elements of a layer whose kinks crossed are counted (four forward passes each, see
#: :func:`resolve_layer`), at most: the rest stay inconclusive whatever their value.
BRACKETED_PER_LAYER = 256
#: Relative disagreement between a function's estimates at h and 2h that counts as "not smooth" (no kink states to
#: look at), and the rounding in f (in units of ε·|f|/h) tolerated before that.
KINK_RTOL = 1e-3
NOISE_ULPS = 1e3

SMOOTH, KINK, UNRESOLVED = 0, 1, 2


class Stencil:
    """f at θ + h·o·e_p for the offsets o of :data:`OFFSETS` and P elements p: central and one-sided differences.

    ``values``, ``taken`` (4, P): f and the steps actually taken; ``h`` (P,); ``crossed`` (4, P)
    or None: whether each point crossed a kink (a network's kink states).
    """

    def __init__(self, values, taken, f0, h, eps=EPS, noise=0.0, crossed=None):
        values, taken = np.asarray(values, float).real, np.asarray(taken, float).real
        self.h, self.crossed = np.asarray(h, float), crossed
        with np.errstate(divide="ignore", invalid="ignore"):
            self.chords = (values - f0) / taken  # D(+h), D(−h), D(+2h), D(−2h)
            self.g1 = (values[0] - values[1]) / (taken[0] - taken[1])
            self.g2 = (values[2] - values[3]) / (taken[2] - taken[3])
        self.fmax = np.maximum(_finite_max(values), abs(f0))
        self.floor = rounding_floor(self.fmax, self.h, eps, noise)
        self.bound = error_bound(self.g1, self.g2, self.fmax, self.h, eps, noise)
        c = self.chords
        self.plus, self.minus = 2 * c[0] - c[2], 2 * c[1] - c[3]
        self.plus_bound = np.abs(c[0] - c[2]) + self.floor
        self.minus_bound = np.abs(c[1] - c[3]) + self.floor

    def central(self, method):
        """The estimate of ``method`` (a :class:`~gradcheck.numeric.methods.Method`) from g(h) and g(2h): g(h), or
        Richardson's (4·g(h) − g(2h))/3."""
        return method.estimate(self.g1, self.g2)

    def looks_smooth(self, eps=EPS, atol=0.0):
        """(P,) True where the differences agree as a smooth function's do: g(h) ≈ g(2h), and the one-sided slope
        gaps w(h) = D(+h) − D(−h) ≈ f''·h and w(2h) ≈ 2·w(h) (a kink within 2h breaks at least one of the two;
        each is blind at one offset)."""
        with np.errstate(invalid="ignore"):
            noise = NOISE_ULPS * eps * self.fmax / self.h
            return self.bend() <= KINK_RTOL * np.maximum(np.abs(self.g1), np.abs(self.g2)) + noise + atol

    def bend(self):
        """(P,) How far the differences are from a smooth function's: max(|g(h) − g(2h)|, |2·w(h) − w(2h)|), w the
        one-sided slope gaps D(+h) − D(−h). Where f is smooth both shrink with the step (as h² and h³); where the
        steps cross a kink at a distance d < h, with slopes J apart, they stay of the order of J (J·d/4h and
        J·|1 − 1.5·d/h|), at least the error of the central difference there, J·(h − d)/2h."""
        c = self.chords
        with np.errstate(invalid="ignore"):
            return np.maximum(np.abs(self.g1 - self.g2), np.abs(2 * (c[0] - c[1]) - (c[2] - c[3])))

    def crosses_nothing(self):
        """(P,) True where no point of the stencil changed a kink state."""
        return ~np.asarray(self.crossed, bool).any(axis=0)


def _finite_max(x):
    """max |x| over axis 0 of the finite entries (0 where none is): the scale of values some of which may lie past
    the edge of f's domain or overflow, whose smaller steps are still worth taking."""
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(x), np.abs(x), 0.0).max(axis=0)


@dataclass
class Resolved:
    """Per element: its state (:data:`SMOOTH`, :data:`KINK`, :data:`UNRESOLVED`), numeric value and bound (for a
    kink or an unresolved element, the middle of its interval and a bound reaching both ends, see
    :func:`interval`), the one-sided derivatives D₋, D₊ at a kink (NaN elsewhere), and the evaluations spent."""

    state: np.ndarray
    numeric: np.ndarray
    bound: np.ndarray
    minus: np.ndarray
    plus: np.ndarray
    calls: int = 0
    #: Elements whose kink is at θ (their steps cross it however small), whether or not their one-sided
    #: derivatives differ: where kinks meet, one that cancels another leaves the loss differentiable, but a
    #: backprop's choice at each kink then need not be its derivative.
    at_theta: np.ndarray | None = None
    #: Unresolved elements whose steps crossed kinks on one side of θ only, at every level (known from kink
    #: states): where those steps cross one same kink, the slopes seen bracket the derivative (see :func:`resolve`).
    one_side: np.ndarray | None = None
    #: Per element, the finest step tried.
    finest: np.ndarray | None = None
    #: Per element, whether f at ±2h moved from f(θ) by about what it moved at ±h, on both sides (within a factor
    #: of 1.5), at the first steps: plateaus, f turning within h, where a slope moves it twice as far.
    plateau: np.ndarray | None = None


def interval(lo, hi, widen):
    """(middle, bound): the verdict's band "within MARGIN × bound of the middle" is [lo − widen, hi + widen]."""
    return (lo + hi) / 2, ((hi - lo) / 2 + widen) / MARGIN


def steady(a, b):
    """True where two levels' one-sided derivatives, rows (D₊, bound, D₋, bound) (or (D₋, bound, D₊, bound): the
    test is the same), agree within their bounds; (P,) for rows of P elements, one bool for scalars."""
    with np.errstate(invalid="ignore"):
        return (np.abs(a[0] - b[0]) <= a[1] + b[1]) & (np.abs(a[2] - b[2]) <= a[3] + b[3])


def _erratic(crossed):
    """(P,) True where a side's point at h crossed a kink and its point at 2h did not (rows of ``crossed``: +h, −h,
    +2h, −2h). No kink's place does that (the farther point is past whatever the nearer one crossed): the states
    flip by rounding, at a tie at θ that the element does not move (a hinge's margin exactly 0 whose two classes'
    scores it moves alike), so which points cross says nothing of where a kink is."""
    return (crossed[0] & ~crossed[2]) | (crossed[1] & ~crossed[3])


def _both_sides(crossed):
    """(P,) True where a point on each side of θ crossed a kink (rows of ``crossed``: +h, −h, +2h, −2h)."""
    c = np.asarray(crossed, bool)
    return (c[0] | c[2]) & (c[1] | c[3])


def resolve(evaluate, first, f0, method=CENTRAL, eps=EPS, noise=0.0, smooth=None, x=None):
    """:class:`Resolved` for P elements whose stencil ``first`` (a :class:`Stencil`) crossed a kink; ``noise``: the
    loss's rounding, one for all or one per element (P,).

    ``evaluate(sel, steps)`` returns (values, crossed or None, taken), each (4, len(sel)), of f with
    elements ``sel`` (positions among the P) moved by ``steps`` (4, len(sel)); ``smooth(stencil)``
    says where a stencil crossed nothing (default: :meth:`Stencil.crosses_nothing`); ``x`` (P,): the elements'
    values, where there are no kink states (the refinements past the first ones stay :data:`FAR_ULPS` ulps of them
    wide).

    A kink at θ keeps both one-sided derivatives where they are at every step; one at a distance s
    from θ bends the derivative on its side by about its jump × s/h, ten times more at each
    refinement, and by more than the bounds wherever float64 can see s at all. So the refinement
    stops once two refinements in a row leave both derivatives where they were, and no side crossed at 2h only
    (the kink is at θ; where the crossings are erratic, see :func:`_erratic`, the derivatives alone decide),
    when the stencil crosses nothing (smooth), or when the loss's rounding no longer allows a smaller
    step (unresolved, unless the derivatives held still from the first step to the last).
    """
    smooth, method = smooth or Stencil.crosses_nothing, lookup(method)
    p = len(first.h)
    noise = np.broadcast_to(np.asarray(noise, float), (p,))  # one for all, or one per element
    state = np.full(p, UNRESOLVED)
    numeric, bound = first.central(method).copy(), first.bound.copy()
    minus, plus = np.full(p, np.nan), np.full(p, np.nan)
    # Every slope seen, NaN left out where some level's four points were all finite: a refinement that reaches past
    # the edge of f's domain (a norm whose two values the step makes equal, 0/0) has seen the slopes it had; one
    # never clear of it (sqrt at 1e-12, every step across 0) has no slope to give.
    lo, hi = np.fmin.reduce(first.chords, axis=0), np.fmax.reduce(first.chords, axis=0)
    clear = np.isfinite(first.chords).all(axis=0)
    prev = np.stack([first.plus, first.plus_bound, first.minus, first.minus_bound])
    floor, run, refined = first.floor.copy(), np.zeros(p, dtype=int), np.zeros(p, dtype=bool)
    moving = np.full(p, np.inf)  # per element, how far its sides moved at its last refinement (from `prev`'s level)
    scale = _finite_max(first.chords)  # a point where f is not finite (past the edge of its domain) says nothing
    active, h, calls = np.arange(p), first.h.copy(), 0
    erratic = np.zeros(p, dtype=bool) if first.crossed is None else _erratic(np.asarray(first.crossed, bool))
    states = first.crossed is not None  # which steps cross is known, not guessed from the differences
    both = _both_sides(first.crossed) if states else np.ones(p, dtype=bool)  # crossed on either side at some level
    rtol, cap = (RESOLVE_RTOL, MAX_LEVELS) if states else (BLIND_RESOLVE_RTOL, BLIND_MAX_LEVELS)
    levels = cap + (FAR_LEVELS if states or x is not None else 0)
    # With kink states, the rounding test takes the slopes seen so far and the loss's size at the last level: where the
    # first steps go far out, the loss there (3.5e17 for a loss of 1.7) and its chords (2e4 for slopes of 4e14) are
    # not those of the finer steps.
    # Without them, the slopes seen so far count where the steps cross a plateau: f at ±s and ±2s moved from f(θ) by
    # what it moved at the level before, every one of the four within a factor of two (the jump lies within the
    # finest step yet, its slopes grow tenfold a level, and only smaller steps reach where f turns: a layernorm over
    # features 1e-9 apart, its first steps moving f by 5.7 and 34 on its two plateaus for a slope of −1.3e9); a
    # function that is all rounding moves by chance, and its chords, noise over the step, grow as well.
    jumps = first.chords * (OFFSETS[:, None] * first.h[None, :])
    with np.errstate(invalid="ignore", divide="ignore"):  # the first steps' own plateaus (Resolved.plateau)
        twice = jumps[2:] / jumps[:2]
        first_plateau = ((twice >= 1 / 1.5) & (twice <= 1.5)).all(axis=0)
    fmax, first_scale = first.fmax.copy(), scale.copy()
    smallest_tried = np.zeros(p, dtype=bool)  # with kink states
    # Per element, the refined level whose sides' change from the level before, with its rounding, is the least: the
    # sides' estimate there and that bound (see below, where the sides agree).
    paired, pair_bound = np.full(p, np.nan), np.full(p, np.inf)
    bend = None if states else first.bend()  # without: at each element's last level (see Stencil.bend)
    first_sides = np.stack([first.plus, first.plus_bound, first.minus, first.minus_bound])
    left_first = np.zeros(p, dtype=bool)  # per element, a refined level whose sides the first level's are not
    for level in range(levels):
        if level == cap:
            active = active[scale[active] >= FAR * first_scale[active]]
        if level >= cap and not states:  # steps of a few ulps see the sawtooth of f's rounding, not its slope
            active = active[h[active] / FACTOR >= FAR_ULPS * np.spacing(np.abs(x[active]))]
        step = h[active] / FACTOR
        with np.errstate(invalid="ignore", divide="ignore"):
            allowed = rtol * scale[active]
            fits = rounding_floor(fmax[active], step, eps, noise[active]) <= allowed
            # Where a tenth of the step is finer than the rounding allows, the finest step it allows, once: a kink
            # between the two is cleared by it (a tenfold refinement lands anywhere from one to ten times finer than
            # the kink's distance, and the rounding there can hide the slope that a step just inside it shows).
            smallest = SMALLEST_MARGIN * rounding_floor(fmax[active], 1.0, eps, noise[active]) / allowed
            last = states & ~fits & ~smallest_tried[active] & (smallest <= 0.8 * h[active])  # 0.8: else the same
        smallest_tried[active[last]] = True
        step = np.where(last, smallest, step)
        active, step = active[fits | last], step[fits | last]
        if not active.size:
            break
        values, crossed, taken = evaluate(active, OFFSETS[:, None] * step[None, :])
        s = Stencil(values, taken, f0, step, eps, noise[active], crossed)
        calls += values.size
        if states:
            fmax[active] = s.fmax
            scale[active] = np.maximum(scale[active], _finite_max(s.chords))
        else:
            moved = np.asarray(values).real - f0
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = moved / jumps[:, active]
                plateau = ((ratio >= 0.5) & (ratio <= 2.0)).all(axis=0)
            jumps[:, active] = moved
            scale[active[plateau]] = np.maximum(scale[active[plateau]], _finite_max(s.chords[:, plateau]))
        h[active], refined[active] = step, True
        done = smooth(s)
        numeric[active[done]], bound[active[done]] = s.central(method)[done], s.bound[done]
        if not states:
            # Smooth as far as the differences tell, within a tolerance that can hide a kink's jump: where their bend
            # did not shrink with the step as a smooth function's does (by a hundred a level at least), it is a kink
            # the steps still cross, and the estimate may be off by as much.
            now = s.bend()
            with np.errstate(invalid="ignore"):
                jump = done & ~(now <= bend[active] / BEND_SHRINK)
            bound[active[jump]] = np.maximum(s.bound, now)[jump]
            bend[active] = now
        if crossed is not None:  # ±h clear of the kink, ±2h not: g(h), bounded by its one-sided chords' spread
            inner = ~done & ~np.asarray(crossed, bool)[:2].any(axis=0)
            numeric[active[inner]] = s.g1[inner]
            bound[active[inner]] = (np.abs(s.chords[0] - s.chords[1]) / 2 + s.floor)[inner]
            done |= inner
        state[active[done]] = SMOOTH
        rest, active = ~done, active[~done]
        cur = np.stack([s.plus, s.plus_bound, s.minus, s.minus_bound])[:, rest]
        with np.errstate(invalid="ignore"):
            moved_now = np.maximum(np.abs(cur[0] - prev[0, active]), np.abs(cur[2] - prev[2, active]))
            change = np.abs(cur[0] - cur[2]) / 2 + moved_now + s.floor[rest]
            less = change < pair_bound[active]
        paired[active[less]], pair_bound[active[less]] = ((cur[0] + cur[2]) / 2)[less], change[less]
        same = steady(prev[:, active], cur)
        left_first[active] |= ~steady(first_sides[:, active], cur)
        if states:
            # A kink at θ leaves its sides where they are, to a change that falls or stays within rounding (a one-sided
            # extrapolation carries up to five times a quotient's, at two levels: sixteen in all); one at a
            # distance d bends them by its jump × d/s, tenfold more at each refinement: a change that grows is one
            # coming near, whatever the bounds (a loss saturating within the steps bounds its sides far above
            # their values: under weights of 1e-12 and inputs of 1e12, sides moving by 2e5 and then 2.1e6 held still
            # within bounds of 5e14).
            with np.errstate(invalid="ignore"):
                same &= ~(moved_now > GROWING * moving[active] + 16 * s.floor[rest])
        if crossed is not None:  # a side crossing at 2h but not at h has its kink between them, not at θ
            both[active] |= _both_sides(crossed)[rest]
            c = np.asarray(crossed, bool)[:, rest]
            erratic[active] |= _erratic(c)
            same &= erratic[active] | ((c[0] == c[2]) & (c[1] == c[3]))
        run[active] = np.where(same, run[active] + 1, 0)
        prev[:, active], floor[active], moving[active] = cur, s.floor[rest], moved_now
        lo[active] = np.fmin(lo[active], np.fmin.reduce(s.chords[:, rest], axis=0))
        hi[active] = np.fmax(hi[active], np.fmax.reduce(s.chords[:, rest], axis=0))
        clear[active] |= np.isfinite(s.chords[:, rest]).all(axis=0)
        active = active[run[active] < 2]
    pending = state == UNRESOLVED
    # Never refined: at θ as far as kink states tell (the first steps cross one and no finer step is allowed); without
    # them, one level's differences say only that f is not smooth within its steps, not where (a loss that saturates
    # within them bends its differences as a kink does). Held from the first level to the last means at every level
    # between too: a last level whose bounds swamp its sides agrees with anything (a layernorm over features 1e-9
    # apart, its sides growing tenfold a level across its plateaus, 1.4e6 to 9.8e8, then 3.4e8 ± 4.1e8 at the last,
    # stood as a kink at x with the first level's sides, for a slope of −1.29e9).
    at_theta = pending & ((run >= 2) | (~refined & states) | ((run >= 1) & steady(first_sides, prev) & ~left_first))
    if states:  # a kink at θ is crossed by every step: one that crosses nothing clears θ of it
        s, at, spent = _clear_of_theta(evaluate, f0, at_theta, h, scale, (eps, noise, rtol))
        calls += spent
        numeric[at], bound[at], h[at] = s.central(method), s.bound, s.h
        state[at], at_theta[at], pending[at] = SMOOTH, False, False
    # The first level's sides are the slopes at θ only where the finest level's agree with them. Where they do not,
    # the first steps crossed kinks near θ besides the one at θ (a relu unit 1e-7 from 0 in another sample, one at
    # 1e-124 in this one: its first sides −0.21 and 0.33, each bounded by 0.0016, its finest 0.165 and 0.191), and
    # the finest level's sides, bounded by their last change, stand.
    held = ~refined | steady(first_sides, prev)
    sides = np.where(held, first_sides, prev)
    with np.errstate(invalid="ignore"):
        apart = np.abs(sides[0] - sides[2]) > sides[1] + sides[3]
        last_change = moving + floor  # where refined (the only place it is asked)
    agree = at_theta & ~apart
    numeric[agree] = ((sides[0] + sides[2]) / 2)[agree]
    # Each side's bound is its first-order term (|D(h) − D(2h)|), far above the error of its extrapolated value
    # where f is differentiable at θ but a higher derivative jumps (elu with α = 1 at 0): once refined, how far
    # the extrapolated sides moved from the first level to the last, plus the rounding, bounds it.
    moved = np.maximum(np.abs(first.plus - prev[0]), np.abs(first.minus - prev[2])) + floor
    first_bound = np.maximum(first.plus_bound, first.minus_bound)
    bound[agree] = (np.abs(sides[0] - sides[2]) / 2
                    + np.where(held, np.where(refined, np.minimum(moved, first_bound), first_bound),
                               last_change))[agree]
    # A refined level's sides, bounded by their change from the level before: their error, O(s²) on each side, falls
    # a hundredfold a level, so that change bounds it, far below the first level's where the loss curves within the
    # first steps (an elu at 0 under weights of 1e3: the first level's sides 12% off, the finest 1e-4). The level
    # where that bound, with its rounding, is the least: the rounding grows tenfold a level, and at the finest one
    # may be far above the change it adds to (an elu at 0 in an rnn with weights ×3: a gradient of 3.6e-8, the
    # finest level's rounding 6.4e-8, the first refinement's 6.4e-9).
    # Kept where that bound is the smaller, and the first level's sides are the finest's (else a level between them
    # may be as far off as the first).
    with np.errstate(invalid="ignore"):
        finer = agree & refined & held & (pair_bound < bound)
    numeric[finer], bound[finer] = paired[finer], pair_bound[finer]
    state[agree] = SMOOTH
    kink = at_theta & apart
    # Each side's slope from the finest level where its bound, the sides' last change, is the smaller (the loss
    # curving on one side within the first steps: a leaky relu at 0 whose left slope is 96656 at every step below
    # 1e-7 and 6931 at 1e-4, so that the first level's bound let a negated right slope of −966.56 pass as a kink).
    side_bound = np.where(held, first_bound, last_change)
    with np.errstate(invalid="ignore"):
        finer = kink & refined & held & (last_change < side_bound)
    minus[kink], plus[kink] = sides[2][kink], sides[0][kink]
    minus[finer], plus[finer], side_bound[finer] = prev[2][finer], prev[0][finer], last_change[finer]
    widen = MARGIN * side_bound
    numeric[kink], bound[kink] = interval(np.minimum(minus, plus)[kink], np.maximum(minus, plus)[kink], widen[kink])
    state[kink] = KINK
    lost = pending & ~at_theta
    lo[~clear], hi[~clear] = np.nan, np.nan
    trunc = np.maximum(np.abs(first.chords[0] - first.chords[2]), np.abs(first.chords[1] - first.chords[3]))
    numeric[lost], bound[lost] = interval(lo[lost], hi[lost], MARGIN * (floor + trunc)[lost])
    return Resolved(state, numeric, bound, minus, plus, calls, at_theta, lost & ~both & ~erratic, h, first_plateau)


#: Where kink states put a kink at θ, stencils at steps this many times finer than the finest, down to the finest the
#: loss's rounding allows, test that each still crosses one (see :func:`_clear_of_theta`).
CLEAR_FACTOR = 1e3


def _clear_of_theta(evaluate, f0, held, h, scale, how):
    """(a :class:`Stencil` of the elements of ``held`` (P,) at the largest step tried that crosses nothing, their
    indices, the evaluations spent): stencils at steps :data:`CLEAR_FACTOR` times finer than ``h``,
    and again, down to the finest step that the loss's rounding at its size at θ allows (``how``: (ε, the noise,
    the fraction of the slopes ``scale`` that rounding may reach)).

    A kink at θ is crossed however small the step; two refinements whose sides hold still say it is there only where
    the steps are within the loss's scale: where the loss turns far within them (inputs of 1e14 under first weights
    of 1e-14 move a leaky relu's z by 6e8 at the default step), every step that wide crosses every unit's kink, and
    the loss far out is a polynomial whose one-sided extrapolations hold still: sides that agreed to 1.3e13 ± 2e13
    for slopes of −3.2e11 to −3.2e13, all inconclusive, and a negated value among them would be too."""
    eps, noise, rtol = how
    at = np.flatnonzero(held)
    with np.errstate(divide="ignore", invalid="ignore"):
        smallest = SMALLEST_MARGIN * rounding_floor(abs(f0), 1.0, eps, noise[at]) / (rtol * scale[at])
    step, spent = h[at].copy(), 0
    found, steps = [], []
    while at.size:
        step = step / CLEAR_FACTOR
        with np.errstate(invalid="ignore"):
            room = step >= smallest
        at, step, smallest = at[room], step[room], smallest[room]
        if not at.size:
            break
        values, crossed, taken = evaluate(at, OFFSETS[:, None] * step[None, :])
        spent += values.size
        nothing = ~np.asarray(crossed, bool).any(axis=0)
        found.append((at[nothing], values[:, nothing], taken[:, nothing], crossed[:, nothing]))
        steps.append(step[nothing])
        at, step, smallest = at[~nothing], step[~nothing], smallest[~nothing]
    idx = np.concatenate([f[0] for f in found]) if found else np.zeros(0, dtype=int)
    values, taken, crossed = (np.concatenate([f[k] for f in found], axis=1) if found else np.zeros((4, 0))
                              for k in (1, 2, 3))
    step = np.concatenate(steps) if steps else np.zeros(0)
    return Stencil(values, taken, f0, step, eps, noise[idx], crossed), idx, spent


@dataclass
class Sides:
    """A param's elements at kinks: the one-sided derivatives D₋ and D₊ at θ where an element sits on a kink (NaN
    elsewhere), the elements too close to a kink for any step float64 resolves, and those of them whose slopes seen
    bracket their derivative (see :func:`resolve_layer`) (arrays of the param's shape)."""

    minus: np.ndarray
    plus: np.ndarray
    unresolved: np.ndarray
    bracketed: np.ndarray


def resolve_layer(net, i, todo, h, estimate, method, noise):
    """Resolve layer i's elements of ``todo`` whose stencil crossed a kink, in place: ``estimate`` is (g, err,
    flags), their estimate, bound (see :func:`resolve`) and kink flags (True only at kinks at θ afterwards). Returns
    {param: :class:`Sides`} for the layer, or None when no element crossed a kink. Only the flagged elements cost
    evaluations.

    An unresolved element whose steps crossed on one side of θ only, each of them one same kink (one entry of the
    kink states, :meth:`~gradcheck.numeric.perturbed.Perturbed.kinks_crossed`, at the widest and the finest step
    that crossed), is *bracketed*: its derivative is the slope of θ's own piece, which the other side's chords
    measure, or, were that kink at θ as far as float64 can tell, any value between it and the next piece's slope,
    which the crossing side's chords measure (its kink far nearer than their steps). So the slopes seen, widened
    by their bounds (the numeric value's band), hold every value the derivative may take, and a value beyond
    them is wrong. Where a side's steps crossed two kinks, the piece between them is never measured, and every
    value stays inconclusive, as it does for a layer's unresolved elements past the first
    :data:`BRACKETED_PER_LAYER`."""
    g, err, flags = estimate
    idx = todo[flags[todo]]
    if not idx.size:
        return None
    values, crossed, taken = net.stencil(i, idx, h[idx], OFFSETS)
    first = Stencil(values, taken, net.loss, h[idx], EPS, noise, crossed)
    out = resolve(lambda sel, steps: net.losses(i, idx[sel], steps), first, net.loss, method, EPS, noise)
    _levels_from(net, i, idx, out, method, noise)
    g[idx], err[idx], flags[idx] = out.numeric, out.bound, (out.state == KINK) | out.at_theta
    shapes = [net.params[i][key].shape for key in net.keys(i)]
    size = len(g)
    minus, plus, lost = np.full(size, np.nan), np.full(size, np.nan), np.zeros(size, dtype=bool)
    minus[idx], plus[idx], lost[idx] = out.minus, out.plus, out.state == UNRESOLVED
    bracketed = np.zeros(size, dtype=bool)
    for at in np.flatnonzero(out.one_side)[:BRACKETED_PER_LAYER]:
        side = 1.0 if np.asarray(crossed, bool)[[0, 2], at].any() else -1.0
        steps = side * np.array([2 * h[idx[at]], h[idx[at]], 2 * out.finest[at], out.finest[at]])
        bracketed[idx[at]] = _one_kink(net, i, int(idx[at]), steps)
    return {key: Sides(*parts) for key, parts in zip(net.keys(i), zip(*(unflatten(a, shapes)
                                                                         for a in (minus, plus, lost, bracketed))))}


def _levels_from(net, i, idx, out, method, noise):
    """The elements of layer i's ``idx`` that :func:`resolve` found smooth at a refined step (their stencil crossing
    nothing, or only at 2h), estimated again by step levels from that step (:func:`gradcheck.numeric.steps.resolve`),
    in ``out``, in place.

    One stencil's g(h) and g(2h) bound the estimate only where h is in the asymptotic regime, which a tenfold
    refinement lands in or not by chance: weights of 1e-12 under inputs of 1e12 turn an elu's z across 0 at every
    step down to 1e-12, and at the first that crosses nothing, 6e-13, z still moves by 0.6: g(h) was 5.24e10
    ± 2.7e9 for a slope of 6.89e10. The levels halve from there until three of them are in the regime. Their
    estimate is kept where its bound is the smaller, or where it lies beyond both bounds from the stencil's: a
    stencil clear of a kink at a refined step, where the loss is piecewise quadratic (a relu's z 1e-14 from 0 under a
    loss of squares), may be bounded more tightly than levels that go on into the rounding of finer steps; where the
    levels resolve nothing, the stencil's estimate stands."""
    again = np.flatnonzero((out.state == SMOOTH) & ~out.at_theta)
    if not again.size:
        return
    value, bound, *_ = resolve_steps(lambda at, s, offsets: net.stencil(i, idx[again[at]], s, offsets),
                                     out.finest[again], method, lambda fmax, s, _: rounding_floor(fmax, s, EPS, noise),
                                     f0=net.loss)
    kept = replaces(value, bound, out.numeric[again], out.bound[again])
    out.numeric[again[kept]], out.bound[again[kept]] = value[kept], bound[kept]


def replaces(value, bound, was, was_bound):
    """Where step levels' estimate ``value`` ± ``bound`` replaces a refined stencil's ``was`` ± ``was_bound`` (arrays):
    where its bound is the smaller, or where it lies beyond both bounds from the stencil's (then the stencil's step
    was not in the asymptotic regime, whatever its bound said)."""
    with np.errstate(invalid="ignore"):
        return (bound < was_bound) | (np.abs(value - was) > bound + was_bound)


def _one_kink(net, i, flat, steps):
    """True where the steps of ``steps`` (layer i's flat element ``flat`` moved by each) that cross a kink all cross
    one same kink, and no other (the widest and the finest levels' points on the side that crosses)."""
    seen = {net.kinks_crossed(i, flat, float(step)) for step in steps}
    seen.discard(frozenset())  # a point short of the kink
    return len(seen) == 1 and None not in seen and len(next(iter(seen))) == 1


def merge_sides(ours, theirs, located):
    """Copy the :class:`Sides` of the elements ``located`` (per layer {param: flat indices}) from the
    NumericGradient ``theirs`` into ``ours`` (a sampled check estimates the elements group testing named later)."""
    if theirs.sides is None:
        return
    if ours.sides is None:
        ours.sides = [None] * len(theirs.sides)
    for i, (layer, picked) in enumerate(zip(theirs.sides, located)):
        if layer is None:
            continue
        if ours.sides[i] is None:
            ours.sides[i] = {key: Sides(np.full(s.minus.shape, np.nan), np.full(s.minus.shape, np.nan),
                                        np.zeros(s.minus.shape, dtype=bool), np.zeros(s.minus.shape, dtype=bool))
                             for key, s in layer.items()}
        for key, flat in picked.items():
            for part in ("minus", "plus", "unresolved", "bracketed"):
                getattr(ours.sides[i][key], part).ravel()[flat] = getattr(layer[key], part).ravel()[flat]


def agreeing(numeric, layer, key):
    """The mask of a param's elements flagged at a kink at θ whose one-sided derivatives agree within their bounds
    (differentiable there, a higher derivative jumping: an elu with α = 1 at 0, or a kink the loss does not feel):
    a value that only their bound explains is inconclusive, not a kink (None where the layer has no such
    record)."""
    sides = _layer_sides(numeric, layer)
    if sides is None:
        return None
    return np.asarray(numeric.kinks[layer][key], bool) & np.isnan(sides[key].minus)


def unresolved(numeric, layer, key):
    """The mask of a param's elements too close to a kink for any step (None where there are none)."""
    sides = _layer_sides(numeric, layer)
    return None if sides is None else sides[key].unresolved


def bracketed(numeric, layer, key):
    """The mask of a param's unresolved elements whose slopes seen bracket their derivative (None where the layer
    has no record of kinks): a value beyond them is wrong however close the kink (see :func:`resolve_layer`)."""
    sides = _layer_sides(numeric, layer)
    return None if sides is None else sides[key].bracketed


def _layer_sides(numeric, layer):
    """Layer ``layer``'s {param: :class:`Sides`} in a NumericGradient, or None where it has no record of kinks."""
    return (numeric.sides or [None] * (layer + 1))[layer]
