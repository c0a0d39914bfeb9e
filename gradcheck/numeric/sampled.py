"""Sampled checks for big networks: chosen elements, random directional derivatives, group testing.

A full check perturbs every element. For a network of a million params that is too
slow, so a *sampled* check:

* checks ``sample`` elements per tensor by finite differences, chosen so that every row
  and every column of each weight matrix is hit (a mistake confined to one unit, or one
  input, is always seen);
* adds ``directions`` random directional derivatives over *all* elements: for a unit
  vector v, the analytic J·v = Σ_i g_i·v_i against the finite difference
  (C(θ + h·v) − C(θ − h·v)) / 2h (and at 2h, for the error bound);
* when a direction disagrees, localises the cause by group testing: it bisects the
  elements, keeps the halves whose own directional derivative still disagrees, and
  checks the few elements it ends with one by one, so the result names them.

``mode="auto"`` runs the full check when it is estimated to take about
:data:`~gradcheck.numeric.estimate.FULL_SECONDS` or less, and the sampled one otherwise
(:mod:`gradcheck.numeric.estimate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..catalogue.losses import loss_of
from ..catalogue.regularization import weight_entries
from ..defaults import DIRECTIONS, MARGIN, MODES, RTOL, SAMPLE
from ..reference.backprop import cost, forward
from .kinks import OFFSETS, Stencil
from .noise import layer_noise
from .perturbed import Perturbed, layer_states
from .stencils import EPS, STEP_SCALE, error_bound

__all__ = ["DIRECTIONS", "MODES", "SAMPLE", "Direction", "check_directions", "choose_elements", "directions",
           "directions_text", "stencil_along"]

#: Group testing stops splitting at this many elements and checks them one by one.
LEAF = 8
#: A direction along which the loss is not smooth at the first steps is tried once more at steps this much smaller.
KINK_SHRINK = 16

def choose_elements(shape, k, rng, cover=True):
    """Flat indices of at least ``k`` elements of a tensor of ``shape``, hitting every row and every column (with
    ``cover`` False, ``k`` at random).

    A tensor of more than two axes counts as a matrix (shape[0], the rest): a conv
    weight's rows are its filters. With R rows and C columns, max(R, C) elements cover
    them all (a random pairing of row and column permutations); the rest are random.

    >>> idx = choose_elements((3, 5), 5, np.random.default_rng(0))
    >>> r, c = np.unravel_index(idx, (3, 5))
    >>> sorted(set(r.tolist())), sorted(set(c.tolist()))
    ([0, 1, 2], [0, 1, 2, 3, 4])
    """
    size = int(np.prod(shape, dtype=np.int64))
    if size > k and not cover:
        return np.sort(rng.choice(size, k, replace=False))
    if size <= k:
        return np.arange(size)
    if len(shape) < 2:
        return np.sort(rng.choice(size, k, replace=False))
    rows, cols = shape[0], size // shape[0]
    m = max(rows, cols)
    t = np.arange(m)
    cover = rng.permutation(rows)[t % rows] * cols + rng.permutation(cols)[t % cols]
    extra = rng.choice(size, min(size, max(k, m) - m + 8), replace=False) if k > m else np.zeros(0, int)
    chosen = np.unique(np.concatenate([cover, extra]))
    if len(chosen) > max(k, m):  # drop surplus random ones, never the cover
        surplus = np.setdiff1d(chosen, cover)
        chosen = np.union1d(cover, surplus[:max(k, m) - len(np.unique(cover))])
    return chosen


@dataclass
class Direction:
    """One directional derivative: analytic J·v per opinion against the finite difference, and what it found."""

    index: int
    numeric: float
    bound: float
    analytic: dict
    agrees: dict
    located: dict = field(default_factory=dict)  # opinion -> [(tensor name, flat index)]
    kinked: bool = False  # the loss has a kink at θ along it: only the elements it names are judged

    def __repr__(self):
        ok = ", ".join(f"{op} {'ok' if a else 'DISAGREES'}" for op, a in self.agrees.items())
        kink = ", across a kink at θ" if self.kinked else ""
        return f"Direction({self.index}: numeric {self.numeric:.6g} ± {self.bound:.1g}{kink}; {ok})"


class _Flat:
    """All trainable params as one vector, and back."""

    def __init__(self, spec, params):
        self.entries = [(name, layer, kind, tuple(shape)) for name, layer, kind, shape in spec.param_names()]
        self.sizes = [int(np.prod(s, dtype=np.int64)) for *_, s in self.entries]
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int)
        self.params = params

    @property
    def size(self):
        return int(self.starts[-1])

    def vector(self, grads):
        """One opinion's gradients (list of dicts) as a flat vector (NaN where missing or misshapen)."""
        out = np.full(self.size, np.nan)
        for (_, layer, kind, shape), a, b in zip(self.entries, self.starts[:-1], self.starts[1:]):
            g = grads[layer].get(kind) if grads is not None else None
            if g is not None and np.shape(g) == shape:
                out[a:b] = np.ravel(g)
        return out

    def moved(self, t, v):
        """The params moved by t·v (v a flat vector)."""
        out = [dict(p) for p in self.params]
        for (_, layer, kind, shape), a, b in zip(self.entries, self.starts[:-1], self.starts[1:]):
            if np.any(v[a:b]):
                out[layer][kind] = self.params[layer][kind] + t * v[a:b].reshape(shape)
        return out

    def element(self, flat):
        """(tensor name, index tuple within it) of flat index ``flat``."""
        k = int(np.searchsorted(self.starts, flat, side="right") - 1)
        name, _, _, shape = self.entries[k]
        return name, tuple(int(i) for i in np.unravel_index(int(flat - self.starts[k]), shape))


def stencil_along(f, h, noise=0.0, f0=None):
    """Directional finite differences of ``f(t·v)``: a function ``dd(v) -> (J·v, error bound, smooth)`` from C at
    θ ± h·v and θ ± 2h·v; ``f(t, v)`` evaluates C at θ + t·v, or returns (C, crossed) where it also knows whether
    that point is on another side of a kink than θ (a network's kink states); ``noise`` is C's measured rounding.

    With ``f0``, C at θ: where C is not smooth along v within the steps (a point crossed a kink, or the one-sided
    slopes differ as no smooth function's do, :meth:`~gradcheck.numeric.kinks.Stencil.looks_smooth`), the steps
    shrink by :data:`KINK_SHRINK` once, stepping off a kink next to θ; where C is still not smooth, a kink sits at
    θ along v and ``smooth`` is False: J·v need not equal the central difference there, the mean of the one-sided
    slopes (a sub- or supergradient of several kinks at once need not even lie between them). Where it is smooth,
    the bound also allows half the gap between the one-sided slopes: a kink at θ too small to show, whose valid
    values lie anywhere between the slopes, not at their mean.
    """
    def dd(v):
        for step in (h, h / KINK_SHRINK) if f0 is not None else (h,):
            got = [f(t, v) for t in step * OFFSETS]
            crossed = any(isinstance(x, tuple) and x[1] for x in got)  # a point on another side of a kink than θ
            values = [float(x[0] if isinstance(x, tuple) else x) for x in got]
            g1 = (values[0] - values[1]) / (2 * step)
            g2 = (values[2] - values[3]) / (4 * step)
            bound = float(error_bound(g1, g2, max(map(abs, values)), step, noise=noise))
            if f0 is None:
                return g1, bound, True
            sides = Stencil(np.array(values)[:, None], (step * OFFSETS)[:, None], f0, np.array([step]), noise=noise)
            if not crossed and _smooth(sides):  # a kink too small to show may be there: J·v may be either side
                return g1, bound + abs(float(sides.plus[0]) - float(sides.minus[0])) / 2, True
        return g1, bound, False
    return dd


def _smooth(stencil):
    """True where a one-point :class:`~gradcheck.numeric.kinks.Stencil` shows a smooth function: its differences
    agree as a smooth function's do, and its one-sided slopes agree within their bounds (a kink whose jump is
    too small for the first test can still be larger than what a verdict allows)."""
    gap = abs(float(stencil.plus[0]) - float(stencil.minus[0]))
    return bool(stencil.looks_smooth()[0]) and gap <= float(stencil.plus_bound[0] + stencil.minus_bound[0])


def _agree(a, n, bound, rtol):
    return bool(np.isfinite(a) and abs(a - n) <= rtol * max(abs(a), abs(n)) + MARGIN * bound)


def directions(dd, grads, noise, count, seed=0, rtol=RTOL, budget=24):
    """Check ``count`` random unit directions of every opinion's flat gradient in ``grads`` ({op: vector}).

    ``dd`` is a :func:`stencil_along` function; ``noise`` (a vector) the analytic side's
    rounding per element. Returns the :class:`Direction` list, where ``located[op]`` holds
    the flat indices group testing narrowed a disagreement down to (each opinion once).
    A direction along which the loss has a kink at θ is not held to its central difference: where they
    disagree, group testing still names the elements, which are then checked one by one (those at the kinks by
    their one-sided derivatives), and their verdicts decide.
    """
    size = len(noise)
    rng = np.random.default_rng([seed, 0xD1EC])
    grads = {op: g for op, g in grads.items() if np.all(np.isfinite(g))}  # misshapen ones are reported already
    out = []
    for d in range(count if size else 0):
        v = rng.standard_normal(size)
        v /= np.linalg.norm(v)
        num, bound, smooth = dd(v)
        analytic, agrees, located = {}, {}, {}
        for op, g in grads.items():
            a = analytic[op] = float(np.dot(g, v))
            ok = _agree(a, num, bound + 4 * float(np.dot(np.abs(v), noise)), rtol)
            agrees[op] = ok or not smooth
            if not ok and not any(op in earlier.located for earlier in out):  # name them once
                located[op] = _bisect(dd, g, noise, v, rtol, budget)
        out.append(Direction(d, num, bound, analytic, agrees, located, kinked=not smooth))
    return out


def check_directions(spec, params, data, opinions, rounding, drawn, rtol=RTOL, noise=None):
    """:func:`directions` for a network and its ``data`` (X, Y): ``drawn`` is (count, seed) of the random directions,
    ``opinions`` maps an opinion to its gradients (list of dicts),
    ``rounding`` is :func:`~gradcheck.reference.rounding.backprop_rounding` (in units of ε), ``noise`` the
    loss's measured rounding (the largest of :func:`~gradcheck.numeric.noise.layer_noise`; measured here if None).
    ``located[op]`` lists (tensor name, index) pairs."""
    flat, (X, Y), (count, seed) = _Flat(spec, params), data, drawn
    if flat.size == 0:
        return []
    theta = np.concatenate([np.ravel(params[layer][kind]) for _, layer, kind, _ in flat.entries])

    states = _KinkStates(spec, X, Y)
    base = states.at(params)[1]

    def loss_at(t, v):
        value, now = states.at(flat.moved(t, v))
        return value, any(a is not None and not np.array_equal(a, b) for a, b in zip(now, base))

    if noise is None:
        noise = max(layer_noise(Perturbed(spec, params, X, Y), step=STEP_SCALE))
    dd = stencil_along(loss_at, STEP_SCALE * max(1.0, float(np.abs(theta).max())), noise, f0=states.at(params)[0])
    found = directions(dd, {op: flat.vector(g) for op, g in opinions.items()}, EPS * flat.vector(rounding),
                       count, seed, rtol)
    for d in found:
        d.located = {op: [flat.element(i) for i in idx] for op, idx in d.located.items()}
    return found


class _KinkStates:
    """C of a network at given params, with every kink state of its forward pass: each layer's (a relu's signs, a
    max pool's winners), the loss's (a hinge's active terms) and the signs of the weights an l1 term penalises."""

    def __init__(self, spec, X, Y):
        self.spec, self.X, self.Y, self.targets = spec, X, Y, spec.targets(Y)
        self.penalised = weight_entries(spec) if spec.regularization is not None and \
            spec.regularization.kind == "l1" else []

    def at(self, params):
        """(C, [kink states]) at ``params``; a state is None where a layer has none."""
        spec = self.spec
        fw = forward(spec, params, self.X)
        states = [*layer_states(spec, fw, params), loss_of(spec).kink_state(fw.output, self.targets)]
        states += [np.sign(params[layer][key]) for layer, key, _ in self.penalised]
        return cost(spec, params, self.X, self.Y, fw=fw), states


def _bisect(dd, g, noise, v, rtol, budget):
    """Flat indices of the leaves (≤ :data:`LEAF` elements each) whose directional derivative disagrees."""
    found, todo = [], [np.flatnonzero(v)]
    while todo and len(found) < budget * LEAF:
        support = todo.pop()
        if len(support) <= LEAF:
            found.extend(support.tolist())
            continue
        for half in np.array_split(support, 2):
            part = np.zeros_like(v)
            part[half] = v[half]
            num, bound, _ = dd(part)  # a half across a kink that disagrees is narrowed down too: its elements decide
            if not _agree(float(np.dot(g[half], part[half])), num, bound + 4 * float(np.dot(np.abs(part), noise)),
                          rtol):
                todo.append(half)
    return np.array(found, dtype=int)


def directions_text(found):
    """``8 random directional derivatives over all elements, all agreeing`` (or how many disagree, and how many
    cross a kink at θ, where only the elements they name are judged)."""
    bad = sum(1 for d in found if not all(d.agrees.values()))
    kinked = sum(1 for d in found if d.kinked)
    return (f"{len(found)} random directional derivatives over all elements"
            + (f", {bad} of which disagree" if bad else ", all agreeing")
            + (f" ({kinked} cross a kink at θ, where a chain rule's choice need not be their central difference: "
               "the elements group testing names there are checked one by one)" if kinked else ""))
