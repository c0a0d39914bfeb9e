"""A function check's kink tests where they must go on without kink states (:mod:`gradcheck.numeric.function`).

A network's forward pass says which steps cross a kink; a user's f says nothing, and its differences alone must
tell a kink at x from one beside it, from f turning far within the steps, and from a staircase of rounding. After
:func:`~gradcheck.numeric.kinks.resolve`, a kink at x is confirmed at the finest step f's rounding allows
(:func:`confirm_at_x`), an element found smooth at a refined step (or unresolved at the first) is estimated by step
levels from there (:func:`levels_from`), and the bounds of the refined stencils carry f's rounding measured along
each element's own axis where it is above f's own (:func:`own_rounding`).
"""

from __future__ import annotations

import numpy as np

from ..defaults import MARGIN
from .along import mover
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
)
from .noise import ECNOISE_POINTS, ECNOISE_STEP, METHOD_STEP, OWN_ULPS, ecnoise, odd_ulps
from .stencils import rounding_floor
from .steps import afresh

__all__ = ["along_noise", "axis_noise", "beyond_own", "confirm_at_x", "flat_near", "levels_from", "own_rounding",
           "tread_noise"]

#: :func:`tread_noise`'s points are this fraction of the step apart.
TREAD_SPREAD = 0.25


def confirm_at_x(f_batch, theta, f0, at, res, eps, noise):
    """The elements ``at`` (indices into x) whose kink tests put a kink at x (apart, or whose sides agree), tested
    by one more stencil at the finest step f's rounding allows (:data:`~gradcheck.numeric.kinks.BLIND_RESOLVE_RTOL`
    of the slopes), in ``res``, in place. The kink stands where that stencil's one-sided derivatives are its sides
    (each within its bound and the kink's) and no sharper than them; elsewhere, where its sides agree with each
    other, the element is smooth at that step, with their mean (:func:`levels_from` goes on from there); where they
    do not, unresolved, its finest step that one. Returns which of ``at`` it left unresolved.

    Without kink states, sides that hold still over a few tenfold refinements say the kink is at x only where the
    steps are within f's scale: where f turns far within them (inputs of 1e14 under weights of 1e-14 move a relu's
    z across 0 by 6e8 at the default step), the steps see the polynomial f is far out, whose one-sided
    extrapolations hold still at every step that wide, and a slope of −1.6e14 ± 9e12 stood for one of −3.7e13."""
    lost_here = np.zeros(len(res.state), dtype=bool)
    noise = np.broadcast_to(np.asarray(noise, float), (len(res.state),))  # one for all, or one per element of ``at``
    held = np.flatnonzero(res.at_theta & (res.state != UNRESOLVED))
    if not held.size:
        return lost_here
    kink = res.state[held] == KINK
    plus, minus = (np.where(kink, side[held], res.numeric[held]) for side in (res.plus, res.minus))
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.maximum(np.abs(plus), np.abs(minus))
        # At f's size at x: the wide steps' f may be far larger (f far out), and the stencil's own bounds carry
        # its rounding where it is larger.
        smallest = SMALLEST_MARGIN * rounding_floor(abs(f0), 1.0, eps, noise[held]) / (BLIND_RESOLVE_RTOL * slope)
        room = np.flatnonzero(smallest < res.finest[held] / 10)
    if not room.size:
        return lost_here
    held, step = held[room], smallest[room]
    values, _, taken = mover(f_batch, theta, at[held])(np.arange(held.size), OFFSETS[:, None] * step[None, :])
    s = Stencil(values, taken, f0, step, eps, noise[held])
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
    kept_held = held[~lost]
    _flat_below(f_batch, theta, f0, at, (kept_held, step[~lost], slope[room][~lost]), res, (eps, noise[kept_held]))
    return lost_here


def _flat_below(f_batch, theta, f0, at, held, res, rounding):
    """The ``held`` elements (their indices into ``at``, the step that confirmed them, their slopes) tested once
    more where the rounding ``rounding`` (ε, f's measured rounding) that bounded that step is far above f's own: by
    a stencil at the finest step f's own rounding, ε·|f(x)|, allows. Where its sides agree with each other and
    not with the estimate that stands, the element is unresolved, its interval reaching both, in ``res``, in place
    (and no step levels are taken from there: :func:`levels_from`).

    f's rounding is measured on lines, and a line that crosses a turn of f scatters as noise would: ½‖V·relu(W·X)
    − Y‖² under inputs of 1e12, every z below 0 (a gradient of exactly 0), one z at −1.2e-3, turns units on at
    every step such a rounding (0.012) allows, on both sides, and its one-sided slopes there agreed by chance
    (−7.1e11 ± 3.1e10); at the steps of 1e-24 f's own rounding allows, f is flat. Flat at a step finer than every
    stencil's is what a staircase of rounding shows too (f moving only where its values change by whole steps of
    that rounding), so the element is unresolved, not resolved to 0."""
    eps, noise = rounding  # noise: per held element
    at_held, step, slope = held
    if not at_held.size:
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        finer = SMALLEST_MARGIN * rounding_floor(abs(f0), 1.0, eps) / (BLIND_RESOLVE_RTOL * slope)
        room = (finer < step / 10) & (noise > OWN_ULPS * eps * abs(f0))
    at_held, finer = at_held[room], finer[room]
    if not at_held.size:
        return
    values, _, taken = mover(f_batch, theta, at[at_held])(np.arange(at_held.size), OFFSETS[:, None] * finer[None, :])
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


def levels_from(f_batch, theta, f0, elements, res, out, how, measured=None):
    """The ``elements`` (their indices, their first steps, and which :func:`confirm_at_x` left unresolved) whose kink
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
    and kept, resolved, where the levels resolve them and the first steps saw no plateaus (f at ±2h moved about as
    far as at ±h on both sides: f turns within h, and levels from there read the plateaus as a slope). An element
    the refinements themselves left unresolved is left so: without kink states, levels halving from its finest step
    cross the turn it sits beside unseen (a relu's z within that step of 0 for one sample: 4.17e11 ± 1.08e11 kept
    for a slope of 6.53e10). ``how``: (the method, ε, f's rounding at x itself); ``measured``: what
    :func:`own_rounding` measured at the same steps, if it ran (not measured again)."""
    at, h, confirmed = elements
    method, eps, at_x = how
    at_x = np.broadcast_to(np.asarray(at_x, float), at.shape)  # one for all, or one per element of ``at``
    # f's rounding let no finer step reach them, or the stencil at the finest step found no kink at x after all
    never = (res.state == UNRESOLVED) & (~(res.finest < h) | confirmed)
    again = np.flatnonzero(((res.state == SMOOTH) & (res.finest < h) & ~res.at_theta) | never)
    if not again.size:
        return
    evaluate = mover(f_batch, theta, at[again], crossings=True)
    # The levels' measure of f's rounding on the grid of whole ulps, an odd number apart (:func:`axis_noise`): points
    # 1.35e-4 of a refined step apart, as the levels would place them, are all x itself below an ulp of x (a batchnorm
    # over two samples 1e-6 apart, under eps = 0, steps by 1.2e-8 as the last bits of x go 0, 1, 2, and levels from
    # 3.3e-13 read 1.37e7 ± 0 from steps of one ulp for a gradient of 0). Behind x where f is not finite ahead of it
    # (x a step and a fifth from the edge of sqrt's domain, its points from x + 2s all past it).
    idx, s = at[again], res.finest[again]
    noise, top = np.zeros(len(again)), np.zeros(len(again))
    have = np.zeros(len(again), dtype=bool) if measured is None else measured[0][again]
    if have.any():
        noise[have], top[have] = measured[1][again][have], measured[2][again][have]
    if (~have).any():
        noise[~have], top[~have] = axis_noise(f_batch, theta, f0, idx[~have], s[~have])
    behind = ~np.isfinite(top)
    if behind.any():
        noise[behind], top[behind] = axis_noise(f_batch, theta, f0, idx[behind], -s[behind])
    out.own[idx] = np.maximum(out.own[idx], beyond_own(noise, top, eps))
    noise = np.where(np.isfinite(top), noise, np.inf)

    def floor(fmax, step, n):
        return rounding_floor(np.maximum(fmax, abs(f0)), step, eps, n)

    value, bound, _, _ = afresh(lambda sel, s, offsets: evaluate(sel, np.outer(offsets, s)), s, method, floor,
                                at_x[again], f0, noise=noise)
    lost = never[again]
    # An element no refinement reached whose levels' first stencil reaches where f is not finite (x a step and a
    # fifth from the edge of sqrt's domain, and a gradient of 2e-7 beside f of 1.2, too small for the kink tests'
    # finer steps): levels from half that step, whose points are the first stencil's, where f was finite.
    edge = np.flatnonzero(lost & ~np.isfinite(bound))
    if edge.size:
        value[edge], bound[edge], _, _ = afresh(lambda sel, s, offsets: evaluate(edge[sel], np.outer(offsets, s)),
                                                s[edge] / 2, method, floor, at_x[again][edge], f0, noise=noise[edge])
    was, was_bound = out.numeric[idx], out.bound[idx]
    # Where the first steps already saw plateaus (f turning within them, its rounding too coarse for any finer step),
    # levels from those steps read the plateaus as a slope: −6e4 ± 1e5 for 1e7 (a layernorm over features 1e-8
    # apart whose lines, but the finest, cross its turns).
    trusted = np.isfinite(bound) & ~(res.plateau[again] if res.plateau is not None else False)
    kept = np.where(lost, trusted, replaces(value, bound, was, was_bound))
    out.numeric[idx[kept]], out.bound[idx[kept]] = value[kept], bound[kept]
    out.unresolved[idx[kept]] = False


def own_rounding(f_batch, theta, f0, elements, res, out, eps):
    """Where the kink tests of ``elements`` (their indices, and their first steps) ended smooth at a step s finer
    than the first, their bound in ``out`` also carries f's rounding measured along each one's own axis there
    (:func:`along_noise`). The rounding measured near x, at a thousandth of the usual spacing, can be far below it
    (log1p(exp(u)) − log 2 − u/2 is exact at u = 0 and rounds at 1e-16 a hair away), and a staircase of rounding
    differences then passes for a slope with a bound of nothing (−4.2e-10 ± 1.4e-12 for a gradient of 0).

    Returns (which elements were measured, :func:`axis_noise`'s rounding and f's size there), each (len(at),), for
    :func:`levels_from`, which measures at the same steps."""
    at, h = elements
    where = (res.state == SMOOTH) & (res.finest < h)
    noise, top = np.zeros(len(at)), np.zeros(len(at))
    fine = np.flatnonzero(where)
    if fine.size:
        noise[fine], top[fine] = axis_noise(f_batch, theta, f0, at[fine], res.finest[fine])
        own = beyond_own(noise[fine], top[fine], eps)
        out.bound[at[fine]] += rounding_floor(0.0, res.finest[fine], eps, own)
        out.own[at[fine]] = np.maximum(out.own[at[fine]], own)
    return where, noise, top


def along_noise(f_batch, theta, f0, at, s, eps, known=None):
    """Per element ``at[e]`` (indices into x), f's rounding along its own axis where its step ``s[e]`` goes
    (:func:`axis_noise`), where it is above f's own (:func:`beyond_own`; 0 elsewhere). Eight calls of f per element,
    none for one whose step is that of ``known``, (steps (P,), :func:`axis_noise` there) already measured for these
    elements."""
    if known is None:
        noise, top = axis_noise(f_batch, theta, f0, at, s)
    else:
        steps, (noise, top) = known
        noise, top, again = noise.copy(), top.copy(), s != steps
        noise[again], top[again] = axis_noise(f_batch, theta, f0, at[again], s[again])
    return beyond_own(noise, top, eps)


def tread_noise(f_batch, theta, f0, at, s, eps):
    """:func:`along_noise` where f is a staircase whose treads are wider than its points reach, and narrower than the
    step: :func:`axis_noise` on points :data:`TREAD_SPREAD` of the step apart, from x + 2s, which cross the treads a
    difference at s crosses. Eight calls of f per element.

    A softmax loss whose probability is within 1e-9 of 1 is −log p rounded to the ulps of p near 1, treads 1.6e-6
    wide along a weight whose gradient is 6.9e-11: points 1.35e-4 of a step of 3e-5 apart lie on one, and the
    difference at that step read −6.8686e-11 ± 3e-20 for −6.8785e-11. At a quarter of the step, the points of a
    smooth f differ by its truncation's (s/4)ᵏ terms, far below what the bound allows it already."""
    return beyond_own(*axis_noise(f_batch, theta, f0, at, s, spread=TREAD_SPREAD), eps)


#: :func:`flat_near`'s points are about this far from x, relative to max(1, |x|): the finest spacing the lines that
#: measure f's rounding start with (a thousandth of the usual 1e-7).
NEAR_X = 1e-10


def flat_near(f_batch, theta, f0, at):
    """Per element ``at[e]`` (indices into x), whether f at four points along its own axis within about
    :data:`NEAR_X`·max(1, |x|) of x, on the grid of whole ulps an odd number apart, is f(x) to the bit. Four calls
    of f per element."""
    if not len(at):
        return np.zeros(0, dtype=bool)
    x = theta[at]
    ulp = np.spacing(np.abs(x) + 4 * NEAR_X * np.maximum(1.0, np.abs(x)))
    step = odd_ulps(NEAR_X * np.maximum(1.0, np.abs(x)), ulp)
    offsets = np.array([1.0, -1.0, 3.0, -3.0])[:, None] * step[None, :]
    values, _, _ = mover(f_batch, theta, at)(np.arange(len(at)), offsets)
    return (np.asarray(values) == f0).all(axis=0)


def beyond_own(noise, top, eps):
    """The rounding ``noise`` :func:`axis_noise` measured, where it is above
    :data:`~gradcheck.numeric.noise.OWN_ULPS` ulps of f's size ``top`` there; 0 elsewhere (the bound's own floor at
    f's size holds it)."""
    with np.errstate(invalid="ignore"):
        return np.where(noise > OWN_ULPS * eps * top, noise, 0.0)


def axis_noise(f_batch, theta, f0, at, s, spread=None):
    """(f's rounding along the axis of each element ``at[e]`` (indices into x) where its step ``s[e]`` goes, the
    largest |f| there), arrays: :func:`~gradcheck.numeric.noise.ecnoise` of f at eight points from x + 2s, spaced
    1.35e-4·s, as :func:`~gradcheck.numeric.noise.element_noise` places them, each moved onto a grid of whole ulps
    so that they are equally spaced to the last bit (rounded points jitter, and a quadratic's values at jittered
    points pass for noise), an odd number of ulps apart (:func:`~gradcheck.numeric.noise.odd_ulps`: a staircase of
    rounding periodic in x's last bits is not sampled on one tread); 0 where a point is not finite or not exactly
    on the grid. Eight calls of f per element. ``spread``: the points' spacing over s, if not 1.35e-4; a negative s
    places them behind x.

    A line that moves every element at once can miss what one element's axis shows: a layernorm over two features
    under eps = 0 is constant, and computed steps by 1,318 ulps of f as the last two bits of one x go 0, 1, 2, 3,
    while the usual line, every x moved at once, climbed by 8 ulps a point."""
    if not len(at):
        return np.zeros(0), np.zeros(0)
    x = theta[at]
    spacing = (ECNOISE_STEP / METHOD_STEP if spread is None else spread) * s
    ulp = np.spacing(np.abs(x) + np.abs(2 * s + ECNOISE_POINTS * spacing))  # of every point, or a multiple of it
    start = np.round((x + 2 * s) / ulp) * ulp
    points = start + np.arange(ECNOISE_POINTS)[:, None] * odd_ulps(spacing, ulp)
    values, _, taken = mover(f_batch, theta, at)(np.arange(len(at)), points - x)
    exact = np.all(x + taken == points, axis=0) & np.isfinite(values).all(axis=0)
    noise = np.array([ecnoise(values[:, e]) if exact[e] else 0.0 for e in range(len(at))])
    with np.errstate(invalid="ignore"):
        return noise, np.maximum(np.abs(values).max(axis=0), abs(f0))
