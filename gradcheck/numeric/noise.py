"""How much a network's loss moves by rounding alone: the floor of every finite difference's error bound.

A difference quotient (C(θ + h) − C(θ − h))/(2h) carries the rounding of both losses
divided by h. That rounding is not always ε·|C|:

* the loss can be the small difference of larger terms (an output that cancels to
  0 up to rounding), so C's rounding is at the scale of the terms, far above ε·|C|
  (:func:`layer_probe`: C with the perturbed layer's params at θ·(1 ± ε); :func:`ulp_probe`, every param);
* the loss can move in steps where an intermediate is quantised (a saturated tanh
  whose output changes only by whole units in its last place, fed to a norm that
  magnifies it): then C is a staircase in θ whose steps the ±ulp probe does not see.
  Each stored intermediate x is rounded to ε/2·|x|, which moves C by up to
  ε/2·|x|·|∂C/∂x| (:func:`forward_rounding`, from the reference backprop's own δ and
  ∂C/∂a: the first-order rounding model of the forward pass);
* and, measured rather than modelled, the scatter of C at a few nearby points
  (:func:`ecnoise`: Moré & Wild's ECnoise, from the differences of C at equally spaced
  points along a random direction, where the smooth part of C has vanished); for an element the judge
  leaves inconclusive, the same along that element's own axis, at its own steps (:func:`element_noise`).

Only the layers from the perturbed one up change when one of its elements moves (the
layers below give bit-identical values), so every estimate is made per layer.
"""

from __future__ import annotations

import math

import numpy as np

from ..reference.rounding import random_signs
from .kept import read_only_cache

__all__ = ["ECNOISE_POINTS", "ecnoise", "element_noise", "forward_rounding", "function_rounding",
           "layer_noise", "layer_probe", "layer_rounding", "line_noise", "odd_ulps", "settled_rounding",
           "stepped_rounding", "ulp_probe"]

EPS = np.finfo(np.float64).eps
#: Points of an ECnoise estimate (equally spaced along one direction), and their spacing relative to max(1, |θ|).
ECNOISE_POINTS = 8
ECNOISE_STEP = 1e-7
#: The step that spacing suits: Richardson's default scale, ε^{1/5} (see :func:`element_noise`).
METHOD_STEP = float(np.finfo(np.float64).eps ** 0.2)
#: Memory for one stacked pass of ECnoise's points (a layer's params, copied once per point).
STACK_BYTES = 4 * 2**20
#: γ_k = (k!)²/(2k)!: the variance of the k-th difference of unit noise is 1/γ_k.
_GAMMA = [math.factorial(k) ** 2 / math.factorial(2 * k) for k in range(ECNOISE_POINTS)]


def ecnoise(values):
    """The standard deviation of the noise in ``values``, C at equally spaced points along a line.

    The k-th differences Δᵏf of a smooth f at a small spacing vanish fast; those of
    independent noise of deviation σ have variance σ²·(2k)!/(k!)². So
    σ_k = √(γ_k · mean((Δᵏf)²)), γ_k = (k!)²/(2k)!, falls with k until the smooth part
    is gone and then stays near σ: the estimate is the median of σ_k for k = 3 … m − 2
    (Moré & Wild, "Estimating computational noise", 2011).

    >>> rng = np.random.default_rng(0)
    >>> x = np.linspace(0.0, 1e-6, 8)
    >>> f = 1.0 + 3.0 * x + x ** 2 + 1e-12 * rng.standard_normal(8)
    >>> 1e-13 < ecnoise(f) < 1e-11  # σ to within a small factor, from eight points
    True
    >>> ecnoise(1.0 + 3.0 * x) < 1e-15  # a straight line: only its own rounding
    True
    """
    f = np.asarray(values, dtype=np.float64)
    if len(f) < 5 or not np.isfinite(f).all():
        return 0.0
    # At the scale of the largest value (a power of two: exact), so that the squares of the differences of a loss
    # of 1e-211 do not underflow to 0, nor those of 1e200 overflow.
    _, power = np.frexp(np.abs(f).max())
    f = np.ldexp(f, -power)
    sigmas = []
    for k in range(1, len(f) - 1):
        f = f[1:] - f[:-1]
        if k >= 3:
            sigmas.append(math.sqrt(_GAMMA[k] * float(f @ f) / len(f)))
    ranked = sorted(sigmas)  # the median, without np.median's set-up (dozens of times a check's whole cost here)
    return math.ldexp((ranked[(len(ranked) - 1) // 2] + ranked[len(ranked) // 2]) / 2, int(power))


def ulp_probe(spec, params, X, Y, loss):
    """How far C moves when every trainable param moves by one unit in its last place, either way.

    That is the rounding of the forward pass at the scale of its own terms: where the
    loss is the small difference of larger ones it is far above ε·|C|. Two forward passes.
    """
    from ..reference.backprop import cost

    trainable = spec.param_shapes()
    out = 0.0
    for k in (-1, 1):
        moved = [{key: v * (1 + k * EPS) if key in trainable[i] else v for key, v in p.items()}
                 for i, p in enumerate(params)]
        out = max(out, abs(cost(spec, moved, X, Y) - loss))
    return out if np.isfinite(out) else 0.0


def forward_rounding(spec, params, X, Y, seen=None, fw=None):
    """Per layer l, ε/2·‖|x|·|∂C/∂x|‖₂ over every z and a of layers l and above, and over the values the layers
    above l round inside (:meth:`~gradcheck.catalogue.layers.base.Layer.rounding_terms`: a norm's mean and
    variance, which its own γ and β leave bit-identical), and over the values layer l and those above round inside
    that move with their own params too (:meth:`~gradcheck.catalogue.layers.base.Layer.own_rounding_terms`: a
    recurrent layer's gates and states at every step): how far rounding each intermediate moves C (root sum of
    squares: the roundings are independent), when an element of layer l moves. The squares are taken at the scale
    of the largest term, so that terms near the smallest normal number (a loss of 1e-290) do not underflow to
    nothing. ``seen``: the reference backprop's, if already made; ``fw``: the forward pass of these params, if
    made."""
    from ..reference.backprop import backprop, forward

    if seen is None:
        seen = {}
        backprop(spec, params, X, Y, seen=seen)
    fw = forward(spec, params, X) if fw is None else fw
    terms, inner = [[] for _ in spec.layers], [[] for _ in spec.layers]
    with np.errstate(all="ignore"):
        for i, (z, delta, a, da) in seen.items():
            for x, dx in ((np.abs(z), delta), (spec.layers[i].rounded_output(z, a), da)):
                if dx is not None:
                    terms[i].append(x * np.abs(dx))
            terms[i].extend(spec.layers[i].own_rounding_terms(delta, fw, params[i], spec.conv))
            inner[i] = spec.layers[i].rounding_terms(delta, fw, params[i], spec.conv)
    out, rss = np.zeros(len(spec.layers)), _RootSumSquares()
    for i in reversed(range(len(spec.layers))):  # from the last layer down
        for t in terms[i]:
            rss.add(t)
        out[i] = rss.norm(EPS / 2)
        for t in inner[i]:  # a norm's mean and variance move only with the layers below it
            rss.add(t)
    return out


class _RootSumSquares:
    """‖terms‖₂ of the terms added so far, kept as the largest term and Σ (term/largest)², so that terms near the
    smallest normal number do not underflow to nothing when squared; terms that are not finite count as 0."""

    def __init__(self):
        self.top = self.total = 0.0

    def norm(self, times=1.0):
        """``times``·‖terms‖₂."""
        return times * self.top * math.sqrt(self.total)

    def add(self, t):
        flat = np.asarray(t).ravel()
        if not self._added(flat):  # an inf or NaN among the terms
            self._added(np.where(np.isfinite(flat), flat, 0.0))

    def _added(self, flat):
        """Add ``flat``; False, adding nothing, where some term is not finite."""
        m = float(flat.max(initial=0.0))
        if not m > 0:
            return m == 0  # NaN: not finite
        scale = max(self.top, m)
        part = float(np.sum((flat / scale) ** 2))
        if not math.isfinite(part):
            return False
        self.total = self.total * (self.top / scale) ** 2 + part
        self.top = scale
        return True


def function_rounding(f_batch, theta, f0, seed=0, scale=1.0):
    """(f's change when θ moves by one ulp either way, :func:`ecnoise` of f at eight points along a random
    direction, the largest |f| at those points): f's rounding near θ, measured (ten calls of f), and the scale it
    is measured at; the larger of the first two is far above ε·|f| where f is the small difference of larger
    terms (a sum that cancels). ``scale`` multiplies the points' spacing."""
    return _function_line(f_batch, theta, f0, seed, scale)[0]


def stepped_rounding(f_batch, theta, f0, seed=0, scale=1.0, wider=None):
    """:func:`function_rounding` at ``scale``, or where that line repeats values (fewer than :data:`DISTINCT` distinct
    of eight: f flat there, or a staircase whose steps the line is too short to cross), the larger of it and
    ``wider``, :func:`function_rounding` at a wider spacing that sees the steps. A staircase measured as flat
    bounds nothing: CS231n's softmax loss at 2.1e-10, computed from a probability within 4e-10 of 1, moves only in
    steps of 5.5e-17 (an ulp of that probability, far above an ulp of the loss), and a line a thousandth of the
    usual spacing found f flat, a rounding of 0, which let the kink tests' steps shrink until f was flat and read
    a slope of 0 ± 2e-18 for one of 7.3e-11."""
    line, values = _function_line(f_batch, theta, f0, seed, scale)
    if wider is None or len(np.unique(values)) >= DISTINCT:
        return line
    return max(line[0], wider[0]), max(line[1], wider[1]), line[2]


#: Lines :data:`FINER_LINE` times as finely spaced as the one before that :func:`settled_rounding` measures (at most
#: :data:`FINER_LINES`), the factor within which their measures of f's rounding lie (an eight-point estimate
#: scatters by ten or more), and the distinct values of f (of eight) a line must have to measure anything (fewer:
#: f is flat there, saturated, or a staircase).
FINER_LINE = 1e-3
FINER_LINES = 6
ROUNDING_SPREAD = 64.0
DISTINCT = 6
#: A measure within this many ε·|f(θ)| is f's own rounding: finer lines are measured only above it.
OWN_ULPS = 16


def settled_rounding(f_batch, theta, f0, seed=0, scale=1.0, first=None):
    """:func:`function_rounding` at ``scale``, or where f's rounding is measured by finer lines: rounding is the
    same at any spacing, while f's own variation falls with it. Where f turns within the line's spacing (inputs
    of 1e12 under weights of 1e-12 move a tanh's z by 100 between points 1e-10 apart; a relu's z across 0
    leaves f at θ off the parabola the other points lie on), its values scatter as noise would, 0.04 to 1.2 for a
    rounding of 1e-15, and that scatter stops every finer step.

    Where the measure at ``scale`` is above :data:`OWN_ULPS` ulps of f at θ, the lines a thousand, a
    million, … times as finely spaced (:data:`FINER_LINES` of them, as long as they move x by an ulp) are
    measured, those of :data:`DISTINCT` distinct values count, and f's rounding is the largest measure within
    :data:`ROUNDING_SPREAD` times the least (not 0), where two lines or more give one, and it is below the measure
    at ``scale``; elsewhere that measure stands. The least, because f's variation can agree with itself over
    several lines (0.34, 0.19 and 0.27 on three lines for a softplus under inputs of 1e16, then 1.1e-12 where it
    still curves, and 8.7e-15, 4.8e-16 and 4.4e-15): rounding is the floor the measures fall to, and where f is
    the small difference of larger terms every line shows the same. A staircase of rounding, whose finer lines
    repeat one value, is measured at the spacing that sees its steps. ``first``: :func:`function_rounding` at
    ``scale``, if already measured."""
    line = function_rounding(f_batch, theta, f0, seed, scale) if first is None else first
    if not line[1] > OWN_ULPS * EPS * abs(f0):
        return line  # within a few ulps of f's size at θ: no finer line measures much less
    found, reach = [line], _ulp_reach([theta])
    for _ in range(FINER_LINES):
        scale *= FINER_LINE
        if ECNOISE_STEP * scale * reach < 1.0:
            break  # the line moves no coordinate by an ulp, nor will a finer one
        finer, values = _function_line(f_batch, theta, f0, seed, scale)
        if len(np.unique(values)) >= DISTINCT:  # fewer: f flat there (saturated), or a staircase
            found.append(finer)
    at = _rounding_floor([r[1] for r in found])
    return line if at is None else found[at]


def _ulp_reach(arrays):
    """The largest max(1, |θ|)/ulp(θ) over the elements of ``arrays``: a line spaced s·max(1, |θ|) moves some element
    by an ulp or more where s·reach ≥ 1."""
    with np.errstate(all="ignore"):
        return max(float(np.max(np.where(np.isfinite(v), np.maximum(1.0, np.abs(v)) / np.maximum(
            np.spacing(np.abs(v)), np.finfo(float).tiny), 0.0), initial=0.0)) for v in arrays)


def _rounding_floor(measures):
    """The index of the rounding among ECnoise ``measures`` of lines ever more finely spaced, the first the usual
    one (see :func:`settled_rounding`): the largest within :data:`ROUNDING_SPREAD` times the least (not 0), where
    two or more are and it is below the first; None where the first stands."""
    measured = [(m, k) for k, m in enumerate(measures) if m > 0]
    if not measured:
        return None
    least = min(m for m, _ in measured)
    floor = [(m, k) for m, k in measured if m <= ROUNDING_SPREAD * least]
    top, at = max(floor)
    return at if len(floor) >= 2 and top < measures[0] else None


def odd_ulps(d, ulp):
    """``d`` rounded to a whole and odd number of ``ulp`` (at least one), keeping its sign.

    A line whose points are a whole number of ulps apart is exact, and one an even number apart keeps the last bits
    of x alike at every point: f's rounding is often periodic in them (a batchnorm's mean of two values 1e-7 apart
    rounds its sum one way or the other with the last two bits, a staircase of 1.9e-12 in f with a tread of one
    ulp), and a spacing of 5,896 ulps put all eight points on one tread, measuring 1e-18 for it. An odd spacing
    takes the last bits through every pattern.

    >>> odd_ulps(np.array([4.0, -6.2, 0.1, -0.1]), 1.0)
    array([ 5., -7.,  1., -1.])
    """
    d = np.asarray(d)
    k = np.round(d / ulp)
    return np.where(k % 2 == 0, k + np.where(d < 0, -1.0, 1.0), k) * ulp


def _function_line(f_batch, theta, f0, seed, scale):
    """(:func:`function_rounding`, f at the line's points)."""
    rng = np.random.default_rng([seed, 0xEC])
    d = random_signs(rng, theta.size) * np.maximum(1.0, np.abs(theta)) * (ECNOISE_STEP * scale)
    # Each coordinate's spacing a whole number of its ulps, so that the points are exactly θ + t·d: rounded
    # points would move f by ∂f/∂θ_j·ulp(θ_j) in every coordinate (a weight of 800 near a minimum), a scatter of
    # the inputs that no one element's finite difference, whose steps are the steps taken, has.
    with np.errstate(all="ignore"):
        ulp = np.spacing(np.abs(theta))
        d = np.where(np.isfinite(theta) & (np.abs(d) > ulp), odd_ulps(d, ulp), d)
    t = np.arange(ECNOISE_POINTS, dtype=float)[:, None]
    T = np.concatenate([theta[None, :] * (1 + np.array([[EPS], [-EPS]])), theta[None, :] + t * d])
    with np.errstate(all="ignore"):
        values = np.asarray(f_batch(T), dtype=float).real
        probe = float(np.max(np.abs(values[:2] - f0), initial=0.0))
        top = float(np.abs(values[2:]).max(initial=0.0))
    rounding = probe if np.isfinite(probe) else 0.0, ecnoise(values[2:]), top if np.isfinite(top) else np.inf
    return rounding, values[2:]


def layer_noise(net, seed=0, seen=None, step=None):
    """Per layer of the :class:`~gradcheck.numeric.perturbed.Perturbed` network ``net``, the loss's rounding near
    θ when that layer's elements move: the largest of :func:`layer_probe` (the layer's params one ulp either way),
    :func:`forward_rounding` and :func:`line_noise` along a random direction in the layer's params. With ``step``
    (the steps' scale, relative to max(1, |θ|)), that line starts where the steps go: as far from θ as two of the
    layer's elements' steps (each of its n elements moved 2·``step``/√n along the direction). A list of floats,
    one per layer (0 for layers without trainable params). ``seen``: the reference backprop's, if already made.

    At θ itself the loss can be stationary in every intermediate (an output exactly on its target: ∂C/∂x = 0),
    so that neither the first-order model nor the scatter right at θ shows any rounding, while at the steps' points
    each stored x's rounding moves C by ε/2·|x|·|∂C/∂x(θ ± s)|, growing with s: a saturated sigmoid fed to a
    batchnorm over a channel of equal values (its x − μ magnified by 1/√eps) gave a finite difference of
    −8.2e-17 ± 2.4e-17 for an exact 0 that way. Measured where the steps go, the scatter shows it."""
    return [max(at_theta, line) for at_theta, line in layer_rounding(net, seed, seen, step)]


def layer_rounding(net, seed=0, seen=None, step=None):
    """:func:`layer_noise`'s parts, per layer: (the rounding at θ itself, the larger of :func:`layer_probe` and
    :func:`forward_rounding`; :func:`line_noise` where the steps go), (0, 0) for layers without trainable
    params."""
    spec, params, X, Y = net.spec, net.params, net.X, net.Y
    model = forward_rounding(spec, params, X, Y, seen, fw=net.base)
    shapes = tuple(tuple((key, np.shape(params[i][key])) for key in trainable)
                   for i, trainable in enumerate(spec.param_shapes()))
    out = []
    for i, signs in enumerate(_line_signs(seed, shapes)):
        if not signs:
            out.append((0.0, 0.0))
            continue
        trainable = list(signs)
        size = sum(int(np.size(params[i][key])) for key in trainable)
        origin = 0.0 if step is None else 2 * step / np.sqrt(max(size, 1))
        probe, line = _probe_and_line(net, i, trainable, signs, origin)
        out.append((max(probe, float(model[i])), line))
    return out


#: The draws of :func:`_line_signs` are kept for networks of at most this many params (a property test checks
#: hundreds of small networks of a few shapes; a large network's draws cost little beside its passes).
SIGNS_KEPT = 2**16


def _line_signs(seed, shapes):
    """Per layer, {param: ±1 array} of the noise lines' directions (``shapes``: per layer, its trainable (key,
    shape) pairs), drawn from ``seed`` in that order: the same draws every call, so kept (read-only) for the last
    few small networks."""
    if sum(math.prod(shape) for layer in shapes for _, shape in layer) <= SIGNS_KEPT:
        return _kept_signs(seed, shapes)
    return _draw_signs(seed, shapes)


def _draw_signs(seed, shapes):
    rng = np.random.default_rng([seed, 0xEC])
    return tuple({name: random_signs(rng, shape) for name, shape in layer} for layer in shapes)


_kept_signs = read_only_cache(maxsize=8)(_draw_signs)


def element_noise(stencil, step):
    """Per element p of a stencil (P,), :func:`ecnoise` of C along that element's own axis, from where its steps
    ``step`` (P,) go: C at θ + (2 + t·r)·step·e for t = 0 … 7, r = :data:`ECNOISE_STEP`/:data:`METHOD_STEP`
    (the default line's spacing relative to the default step), one call of ``stencil(index, step, offsets)`` →
    (losses (m, P), crossed a kink (m, P) or None, steps taken). Where the points from the first that crosses a
    kink on leave fewer than five, or the losses are not finite: inf.

    A network layer's own line (:func:`layer_noise`) moves every element at once, each by max(1, |θ|) times the
    same spacing: where a loss is near 0 (outputs on their targets), the elements that move it most (a bias under
    outputs of 1e-20) set that line's C, and its rounding, far above what the steps of a weight that barely moves
    it see. Along the element's own axis, at the scale of its own steps, the measure is of the losses its
    finite differences subtract."""
    t = np.arange(ECNOISE_POINTS, dtype=float)
    offsets = tuple(2.0 + t * (ECNOISE_STEP / METHOD_STEP))
    with np.errstate(all="ignore"):
        values, crossed, _ = stencil(np.arange(len(step)), step, offsets)
    values = np.asarray(values).real
    crossed = np.zeros(values.shape, bool) if crossed is None else np.asarray(crossed, bool)
    out = np.full(len(step), np.inf)
    ends = np.where(crossed.any(axis=0), crossed.argmax(axis=0), len(offsets))
    for e in np.flatnonzero((ends >= 5) & np.isfinite(values).all(axis=0)):
        out[e] = ecnoise(values[:ends[e], e])
    return out

def _probe_and_line(net, i, keys, signs, origin=0.0):
    """(:func:`layer_probe`, :func:`line_noise`) of layer i, from one stacked pass of the probe's two networks and
    the first line's eight where the layer's copies fit in :data:`STACK_BYTES` (each network's loss is the same as
    in its own pass; a line that crosses a kink goes on in :func:`line_noise`); else each from its own passes."""
    params = net.params[i]
    if (2 + ECNOISE_POINTS) * sum(np.size(params[key]) for key in keys) * 8 > STACK_BYTES:
        return layer_probe(net, i, keys), line_noise(net, i, signs, origin=origin)
    t = np.arange(ECNOISE_POINTS, dtype=float)
    stacked = dict(params)
    for key in keys:
        v = np.asarray(params[key])
        both = stacked[key] = np.empty((2 + len(t), *v.shape), dtype=np.result_type(v, signs[key]))
        _ulps(v, out=both[:2])
        _line(v, signs[key], ECNOISE_STEP, t, origin, out=both[2:])
    with np.errstate(all="ignore"):
        losses, crossed = (np.asarray(x) for x in net.along(i, stacked))
    return _moved(net, losses[:2], crossed[:2]), line_noise(net, i, signs, first=(losses[2:], crossed[2:]),
                                                            origin=origin)


def layer_probe(net, i, keys):
    """:func:`ulp_probe` for layer i alone: how far C moves when the params ``keys`` of layer i move by one unit in
    their last place, either way (one stacked pass of the layers from i up). The layers below give bit-identical
    values when an element of layer i moves, so their rounding is no part of its finite differences: a batchnorm
    over two samples 1e-6 apart rounds C at 100 ulps when the weights below it move, and at a few when its own γ
    does. A side whose step crosses a kink is left out (a kink is not rounding)."""
    stacked = dict(net.params[i])
    for key in keys:
        stacked[key] = _ulps(np.asarray(stacked[key]))
    with np.errstate(all="ignore"):
        return _moved(net, *(np.asarray(x) for x in net.along(i, stacked)))


def _ulps(v, out=None):
    """v one unit in its last place down and up, stacked (2, ...) (into ``out``, if given)."""
    out = np.empty((2, *np.shape(v)), dtype=np.result_type(v, EPS)) if out is None else out
    np.multiply(v, 1 - EPS, out=out[0])
    np.multiply(v, 1 + EPS, out=out[1])
    return out


def _line(v, d, spacing, t, origin=0.0, out=None):
    """v + (``origin`` + t·spacing)·d·max(1, |v|) for each point of ``t``, stacked (len(t), ...) (into ``out``, if
    given)."""
    out = np.multiply((np.maximum(1.0, np.abs(v)) * d)[None], (origin + spacing * t).reshape(-1, *[1] * v.ndim),
                      out=out)
    out += v
    return out


def _moved(net, losses, crossed):
    """The largest |C − C(θ)| of ``losses`` whose pass crossed no kink (0 where none is finite)."""
    with np.errstate(all="ignore"):
        out = float(np.abs(np.asarray(losses, float) - net.loss)[~np.asarray(crossed, bool)].max(initial=0.0))
    return out if np.isfinite(out) else 0.0


def line_noise(net, i, signs, first=None, origin=0.0):
    """:func:`ecnoise` of C at θ + (o + t·s)·d (t = 0 … 7), d = ``signs`` scaled by max(1, |θ|) in layer i's params,
    o = ``origin`` (one stacked forward pass of the layers from i up).

    Noise, not a kink: the line ends before the first point whose forward pass is on another side of a kink
    than θ's (a relu's z across 0, a new max in a pooling window); with fewer than five points left, the
    spacing s shrinks (by 1e-3, twice) and the other direction is tried (from −o); where none of those lines
    can be measured, the same from θ itself (o = 0). Where every line crosses a kink at once, 0 (the other two
    estimates stand). ``first``: (C, crossed) of the first line (the widest spacing, the + direction), if already
    evaluated.
    """
    params = net.params[i]
    size = sum(np.size(params[key]) for key in signs)
    per = max(1, STACK_BYTES // (8 * max(size, 1)))  # points per stacked pass: a wide layer's copies stay small
    for start in dict.fromkeys((origin, 0.0)):
        across = set()  # the signs whose line starts across a kink: a narrower spacing starts there too
        for spacing in (ECNOISE_STEP, ECNOISE_STEP * 1e-3, ECNOISE_STEP * 1e-6):
            for sign in (1.0, -1.0):
                if sign in across:
                    continue
                if first is not None and start == origin and spacing == ECNOISE_STEP and sign > 0:
                    losses, crossed = (np.asarray(x) for x in first)
                else:
                    parts = [_along(net, i, signs, sign * spacing,
                                    np.arange(at, min(at + per, ECNOISE_POINTS), dtype=float), sign * start)
                             for at in range(0, ECNOISE_POINTS, per)]
                    losses, crossed = (np.concatenate(x) for x in zip(*parts))
                end = int(np.argmax(crossed)) if crossed.any() else len(losses)
                if end >= 5:
                    return _settled_line(net, i, signs, ecnoise(losses[:end]), (sign * spacing, sign * start))
                if start and crossed[0]:
                    across.add(sign)
    return 0.0


def _settled_line(net, i, signs, measure, line):
    """``measure``, :func:`ecnoise` of C along layer i's line ``line`` ((spacing, origin), signed), or the rounding
    that lines a thousand, a million, … times as finely spaced measure, as :func:`settled_rounding` finds it for a
    function: where the loss turns between the line's points (inputs of 1e12 under first weights of 1e-12 move a
    unit's z by 1e5 between points 1e-7 apart), its losses scatter as noise would (1.6e-6 for a rounding of 5e-16),
    and that scatter stops every finer step. Only above :data:`OWN_ULPS` ulps of C; a finer line that crosses a
    kink, has fewer than :data:`DISTINCT` distinct losses, or moves no element by an ulp measures nothing."""
    if not measure > OWN_ULPS * EPS * abs(net.loss):
        return measure
    spacing, origin = line
    reach = _ulp_reach([net.params[i][key] for key in signs])
    measures, t = [measure], np.arange(ECNOISE_POINTS, dtype=float)
    for _ in range(FINER_LINES):
        spacing *= FINER_LINE
        if abs(spacing) * reach < 1.0:
            break  # the line moves no element by an ulp, nor will a finer one
        losses, crossed = (np.asarray(x) for x in _along(net, i, signs, spacing, t, origin))
        if not crossed.any() and np.isfinite(losses).all() and len(np.unique(losses)) >= DISTINCT:
            measures.append(ecnoise(losses))
    at = _rounding_floor(measures)
    return measure if at is None else measures[at]


def _along(net, i, signs, spacing, t, origin=0.0):
    """(C, crossed a kink) at θ + (``origin`` + t·spacing)·d in layer i's params, for the points ``t``, in one
    stacked pass."""
    stacked = dict(net.params[i])
    for key, d in signs.items():
        stacked[key] = _line(stacked[key], d, spacing, t, origin)
    return net.along(i, stacked)
