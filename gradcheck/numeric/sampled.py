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
:data:`FULL_SECONDS` or less, and the sampled one otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..defaults import DIRECTIONS, MARGIN, MODES, RTOL, SAMPLE
from ..reference.backprop import cost
from . import methods
from .network import kinked
from .noise import layer_noise
from .perturbed import Perturbed
from .rows import row_top
from .stencils import EPS, STEP_SCALE, error_bound

__all__ = ["DIRECTIONS", "MODES", "SAMPLE", "Direction", "check_directions", "check_mode", "choose_elements",
           "directions", "estimate_seconds", "resolve_mode", "sampled_counts", "stencil_along"]

#: auto runs the full check when it is estimated to take at most this long.
FULL_SECONDS = 2.0
#: Group testing stops splitting at this many elements and checks them one by one.
LEAF = 8
#: For :func:`estimate_seconds`, measured on a modest machine (one core): seconds per multiply-add of a matrix
#: product, per entry of an elementwise step (tanh, a loss, their temporaries), and the fixed cost of a layer.
SECONDS_PER_MAC = 1e-10
SECONDS_PER_ENTRY = 5e-9
LAYER_SECONDS = 2e-4
#: ... and the bookkeeping of one (element, stencil point) pair: its step, its loss, the combination.
PAIR_SECONDS = 1.5e-7


def choose_elements(shape, k, rng):
    """Flat indices of at least ``k`` elements of a tensor of ``shape``, hitting every row and every column.

    A tensor of more than two axes counts as a matrix (shape[0], the rest): a conv
    weight's rows are its filters. With R rows and C columns, max(R, C) elements cover
    them all (a random pairing of row and column permutations); the rest are random.

    >>> idx = choose_elements((3, 5), 5, np.random.default_rng(0))
    >>> r, c = np.unravel_index(idx, (3, 5))
    >>> sorted(set(r.tolist())), sorted(set(c.tolist()))
    ([0, 1, 2], [0, 1, 2, 3, 4])
    """
    size = int(np.prod(shape, dtype=np.int64))
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


def estimate_seconds(spec, n, method="auto", counts=None):
    """Estimated time of a full structured finite-difference check of ``spec`` with batch ``n`` (with ``counts``,
    one number per layer: of a check of that many elements of each layer).

    Per perturbed network, per sample: the multiply-adds of the layers above the perturbed
    one (a rank-one change for the next dense layer), at :data:`SECONDS_PER_MAC`, and the
    entries of their outputs, at :data:`SECONDS_PER_ENTRY`; a perturbed layer that is not
    changed one unit at a time adds its own recomputation
    (:attr:`~gradcheck.catalogue.layers.base.Layer.change_macs`, and the entries it works on). A layer
    evaluates one network per stencil point per element, or, where its losses come from the unit lines
    (:mod:`gradcheck.numeric.unitlines`), six per unit and a few products; every
    (element, point) pair also costs its bookkeeping.
    """
    from .unitlines import NODES, POWERS, fits_lines

    method = methods.lookup(method, kinked(spec))
    layers, total = spec.layers, 0.0
    for i, shapes in enumerate(spec.param_shapes()):
        if not shapes:
            continue
        count = sum(int(np.prod(s, dtype=np.int64)) for s in shapes.values()) if counts is None else counts[i]
        rows = hasattr(layers[i], "unit_change") and getattr(layers[i], "structured", True)
        top = row_top(spec, i) if rows and layers[i].act.elementwise else i  # rows carried up to there, ~N each
        upper = layers[top + 1:]
        macs = [m.units * m.fan_in for m in upper]
        if upper and hasattr(upper[0], "input_change") and layers[top].act.elementwise:
            macs[0] = upper[0].units
        own = (0, 0) if rows else (layers[i].change_macs, layers[i].work)
        per_network = ((sum(macs) + own[0]) * SECONDS_PER_MAC
                       + (sum(m.units for m in upper) + 1 + top - i + own[1]) * SECONDS_PER_ENTRY)
        if not method.complex and fits_lines(spec, i) and counts is None:
            networks = 2 * len(NODES) * layers[i].units
            total += len(POWERS) * count * n * SECONDS_PER_MAC
        else:
            networks = count * method.points
        total += networks * n * per_network + count * method.points * PAIR_SECONDS + LAYER_SECONDS
    return total


def sampled_counts(spec, k):
    """Per layer, about how many elements a sampled check of ``k`` per tensor perturbs (:func:`choose_elements`: k,
    or as many as it takes to hit every row and column of a matrix)."""
    out = []
    for shapes in spec.param_shapes():
        total = 0
        for shape in shapes.values():
            size = int(np.prod(shape, dtype=np.int64))
            cover = max(shape[0], size // shape[0]) if len(shape) >= 2 and shape[0] else 0
            total += min(size, max(k, cover))
        out.append(total)
    return out


def check_mode(mode):
    """Raise ValueError unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {', '.join(MODES)}")


def resolve_mode(mode, spec, n, method="auto", sample=SAMPLE):
    """("full" or "sampled", a note or None) for ``mode`` "auto", "full" or "sampled" and the finite-difference
    ``method`` (a name, "auto" or a :class:`~gradcheck.numeric.methods.Method`); ``sample``, the elements per tensor
    of a sampled check."""
    check_mode(mode)
    if mode != "auto":
        return mode, None
    seconds = estimate_seconds(spec, n, method)
    if seconds <= FULL_SECONDS:
        return "full", None
    sampled = estimate_seconds(spec, n, method, sampled_counts(spec, sample))
    return "sampled", (f"auto mode: a full check of {spec.n_params:,} params would take about {_seconds(seconds)}, "
                       f"so this check is sampled (about {_seconds(sampled)})")


def _seconds(t):
    """``0.4 s``, ``3 s``, ``25 min``, ``5 h``, ``12 days``: an estimate, to the precision it has."""
    for unit, size, above in (("days", 86400, 2 * 86400), ("h", 3600, 2 * 3600), ("min", 60, 600)):
        if t >= above:
            return f"{t / size:.0f} {unit}"
    return f"{t:.0f} s" if t >= 1 else f"{t:.1g} s"


@dataclass
class Direction:
    """One directional derivative: analytic J·v per opinion against the finite difference, and what it found."""

    index: int
    numeric: float
    bound: float
    analytic: dict
    agrees: dict
    located: dict = field(default_factory=dict)  # opinion -> [(tensor name, flat index)]

    def __repr__(self):
        ok = ", ".join(f"{op} {'ok' if a else 'DISAGREES'}" for op, a in self.agrees.items())
        return f"Direction({self.index}: numeric {self.numeric:.6g} ± {self.bound:.1g}; {ok})"


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


def stencil_along(f, h, noise=0.0):
    """Directional finite differences of ``f(t·v)``: a function ``dd(v) -> (J·v, error bound)`` from C at
    θ ± h·v and θ ± 2h·v; ``f(t, v)`` evaluates C at θ + t·v; ``noise`` is C's measured rounding."""
    def dd(v):
        values = [float(f(t, v)) for t in (h, -h, 2 * h, -2 * h)]
        g1 = (values[0] - values[1]) / (2 * h)
        g2 = (values[2] - values[3]) / (4 * h)
        return g1, float(error_bound(g1, g2, max(map(abs, values)), h, noise=noise))
    return dd


def _agree(a, n, bound, rtol):
    return bool(np.isfinite(a) and abs(a - n) <= rtol * max(abs(a), abs(n)) + MARGIN * bound)


def directions(dd, grads, noise, count, seed=0, rtol=RTOL, budget=24):
    """Check ``count`` random unit directions of every opinion's flat gradient in ``grads`` ({op: vector}).

    ``dd`` is a :func:`stencil_along` function; ``noise`` (a vector) the analytic side's
    rounding per element. Returns the :class:`Direction` list, where ``located[op]`` holds
    the flat indices group testing narrowed a disagreement down to (each opinion once).
    """
    size = len(noise)
    rng = np.random.default_rng([seed, 0xD1EC])
    grads = {op: g for op, g in grads.items() if np.all(np.isfinite(g))}  # misshapen ones are reported already
    out = []
    for d in range(count if size else 0):
        v = rng.standard_normal(size)
        v /= np.linalg.norm(v)
        num, bound = dd(v)
        analytic, agrees, located = {}, {}, {}
        for op, g in grads.items():
            a = float(np.dot(g, v))
            analytic[op] = a
            agrees[op] = _agree(a, num, bound + 4 * float(np.dot(np.abs(v), noise)), rtol)
            if not agrees[op] and not any(op in earlier.located for earlier in out):  # name them once
                located[op] = _bisect(dd, g, noise, v, rtol, budget)
        out.append(Direction(d, num, bound, analytic, agrees, located))
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

    def loss_at(t, v):
        return cost(spec, flat.moved(t, v), X, Y)

    if noise is None:
        noise = max(layer_noise(Perturbed(spec, params, X, Y)))
    dd = stencil_along(loss_at, STEP_SCALE * max(1.0, float(np.abs(theta).max())), noise)
    found = directions(dd, {op: flat.vector(g) for op, g in opinions.items()}, EPS * flat.vector(rounding),
                       count, seed, rtol)
    for d in found:
        d.located = {op: [flat.element(i) for i in idx] for op, idx in d.located.items()}
    return found


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
            num, bound = dd(part)
            if not _agree(float(np.dot(g[half], part[half])), num, bound + 4 * float(np.dot(np.abs(part), noise)),
                          rtol):
                todo.append(half)
    return np.array(found, dtype=int)
