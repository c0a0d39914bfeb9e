"""How long a network check takes, estimated before it runs: what ``mode="auto"`` decides by.

Per perturbed network, every layer the perturbation reaches recomputes its output, at its own
multiply-adds (:attr:`~gradcheck.catalogue.layers.base.Layer.forward_macs`) and output entries; a
perturbed layer that is not changed one unit at a time recomputes itself too
(:attr:`~gradcheck.catalogue.layers.base.Layer.change_macs`). A full check evaluates a network per
stencil point per element, or six per unit (at most) where the unit lines serve a layer; a sampled check as many
for its sample, plus its random directions and the verdicts on every element.
"""

from __future__ import annotations

import math

import numpy as np

from ..catalogue import LOSSES
from ..defaults import DIRECTIONS, MODES, SAMPLE
from ..reference.backprop import fused_loss
from . import methods
from .network import kinked
from .rows import row_top

__all__ = ["FULL_SECONDS", "MIN_SAMPLE", "SAMPLED_SECONDS", "check_mode", "estimate_seconds", "plan_sample",
           "resolve_mode", "sampled_counts", "sampled_seconds"]

#: auto runs the full check when it is estimated to take at most this long.
FULL_SECONDS = 2.0
#: auto keeps a sampled check within about this long: beyond it the sample stops covering every row and column of
#: each weight (a big recurrent or attention layer's rows cost a rerun of every step each), then halves, down to
#: :data:`MIN_SAMPLE` elements per tensor; the random directions over all elements stay.
SAMPLED_SECONDS = 30.0
MIN_SAMPLE = 16
#: For :func:`estimate_seconds`, fitted to full checks of networks of every kind on one core of a 2-core Xeon
#: (the 29 of ``benchmarks/bench_estimate.py``, all within 2× of their estimates): seconds per multiply-add of a
#: matrix product, per entry of a layer's output (its temporaries; what its activation adds is the activation's
#: own ``entry_seconds``), and the fixed cost of a layer.
SECONDS_PER_MAC = 2e-11
SECONDS_PER_ENTRY = 2e-9
LAYER_SECONDS = 2e-4
#: ... and NumPy's fixed cost of one row reduced along a short axis (a norm's mean of one step, a softmax's sum over a
#: few keys: :attr:`~gradcheck.catalogue.layers.base.Layer.row_reductions`), most of the work where rows are short.
ROW_SECONDS = 1.5e-8
#: ... and the bookkeeping of one (element, stencil point) pair: its step, its loss, the combination.
PAIR_SECONDS = 3e-8
#: ... and the passes of the whole network every check makes besides its perturbed ones (the reference backprop,
#: the loss's noise, the rounding allowance's draws), counted as forward passes.
CHECK_PASSES = 20
#: The share of a layer's units whose line needs the middle pair of points too (the degree-6 fit, six passes; the
#: others take four): 28 of 52 units of 16-32-16-4, 87 of 202 of 64-128-64-10, 364 of 1,290 of
#: 784-1024-256-10.
MIDDLE_SHARE = 0.5
#: ... and, for a sampled check, what every param costs each random direction (drawing it, J·v) and the verdicts
#: (every element is judged, sampled or not).
DIRECTION_PARAM_SECONDS = 2e-8
JUDGE_PARAM_SECONDS = 1.5e-7


def estimate_seconds(spec, n, method="auto", counts=None):
    """Estimated time of a full structured finite-difference check of ``spec`` with batch ``n`` (with ``counts``,
    one number per layer: of a check of that many elements of each layer).

    Per perturbed network, per sample: the multiply-adds of the layers above the perturbed
    one (:attr:`~gradcheck.catalogue.layers.base.Layer.forward_macs`; a rank-one change for the next dense
    layer), at :data:`SECONDS_PER_MAC`, and the
    entries of their outputs, at :data:`SECONDS_PER_ENTRY` and their activation's own cost
    (:attr:`~gradcheck.catalogue.activations.Activation.entry_seconds`: gelu's costs seventy times tanh's), then the
    loss's (:attr:`~gradcheck.catalogue.losses.Loss.entry_seconds`); a perturbed layer that is not
    changed one unit at a time adds its own recomputation
    (:attr:`~gradcheck.catalogue.layers.base.Layer.change_macs` and
    :attr:`~gradcheck.catalogue.layers.base.Layer.change_entries`). A layer
    evaluates one network per stencil point per element (six where each element's steps are chosen, the first
    level of :mod:`gradcheck.numeric.steps`), or, where its losses come from the unit lines
    (:mod:`gradcheck.numeric.unitlines`), four per unit and two more for :data:`MIDDLE_SHARE` of them, and a few
    products; every
    (element, point) pair also costs its bookkeeping.
    """
    from .steps import FIRST
    from .unitlines import FIRST_NODES, NODES, POWERS, fits_lines

    method = methods.lookup(method, kinked(spec))
    points = len(FIRST) if method.per_element_steps else method.points
    layers, total = spec.layers, 0.0
    rows_out = math.prod(spec.output_shape[:-1])
    loss = (LOSSES[spec.loss].entry_seconds * math.prod(spec.output_shape)
            + LOSSES[spec.loss].row_reductions * rows_out * ROW_SECONDS)
    fused = fused_loss(spec) is not None  # the output's activation is the loss's business
    for i, shapes in enumerate(spec.param_shapes()):
        if not shapes:
            continue
        count = sum(int(np.prod(s, dtype=np.int64)) for s in shapes.values()) if counts is None else counts[i]
        rows = hasattr(layers[i], "unit_change") and getattr(layers[i], "structured", True)
        top = row_top(spec, i) if rows and layers[i].act.elementwise else i  # rows carried up to there, ~N each
        upper = layers[top + 1:]
        macs = [m.forward_macs for m in upper]
        if upper and hasattr(upper[0], "input_change") and layers[top].act.elementwise:
            macs[0] = upper[0].units
        own = (0, 0) if rows else (layers[i].change_macs, layers[i].change_entries)
        per_network = ((sum(macs) + own[0]) * SECONDS_PER_MAC
                       + (sum(m.units for m in upper) + 1 + top - i + own[1]) * SECONDS_PER_ENTRY
                       + _activations(layers[i:top + 1], rows) + _activations(upper, fused=fused) + loss
                       + (_reductions(upper, fused) + (0 if rows else _reductions([layers[i]]))) * ROW_SECONDS)
        if not method.complex and fits_lines(spec, i) and counts is None:
            networks = (2 * len(FIRST_NODES) + MIDDLE_SHARE * 2 * (len(NODES) - len(FIRST_NODES))) * layers[i].units
            total += len(POWERS) * count * n * SECONDS_PER_MAC
        else:
            networks = count * points
        total += networks * n * per_network + count * points * PAIR_SECONDS + LAYER_SECONDS
    return total


def _reductions(layers, fused=False):
    """Rows reduced along a short axis per sample by ``layers``' forward passes, their activations' included (not
    the last layer's with ``fused``: a loss computed from z), and each layer's rows of output once: NumPy's inner
    loops run along the last axis, and where that is a few entries long their fixed cost is most of the work."""
    out = 0
    for k, ly in enumerate(layers):
        out += ly.row_reductions + math.prod(ly.out_shape[:-1])
        if ly.has_activation and not (fused and k == len(layers) - 1):
            out += ly.act.row_reductions * math.prod(ly.out_shape[:-1])
    return out


def _activations(layers, rows=False, fused=False):
    """What the activations of ``layers`` cost per sample beyond :data:`SECONDS_PER_ENTRY`: each unit's, or one
    unit's where a change is carried up as one unit's row (``rows``); with ``fused``, not the last layer's (a loss
    computed from z)."""
    layers = layers[:-1] if fused and layers else layers
    return sum((1 if rows else ly.units) * ly.act.entry_seconds for ly in layers if ly.has_activation)


def sampled_counts(spec, k, cover=True):
    """Per layer, about how many elements a sampled check of ``k`` per tensor perturbs
    (:func:`~gradcheck.numeric.sampled.choose_elements`: k, or as many as it takes to hit every row and column of a
    matrix)."""
    out = []
    for shapes in spec.param_shapes():
        total = 0
        for shape in shapes.values():
            size = int(np.prod(shape, dtype=np.int64))
            rows = max(shape[0], size // shape[0]) if cover and len(shape) >= 2 and shape[0] else 0
            total += min(size, max(k, rows))
        out.append(total)
    return out


def sampled_seconds(spec, n, method="auto", sample=SAMPLE, count=DIRECTIONS, cover=True):
    """Estimated time of a sampled check of ``spec``: the finite differences of :func:`sampled_counts` elements,
    ``count`` random directions (four forward passes each, and a pass over every param), and every element's
    verdict."""
    return (estimate_seconds(spec, n, method, sampled_counts(spec, sample, cover))
            + count * (4 * n * _pass_seconds(spec) + spec.n_params * DIRECTION_PARAM_SECONDS)
            + spec.n_params * JUDGE_PARAM_SECONDS)


def resolve_mode(mode, spec, n, method="auto", sample=SAMPLE, count=DIRECTIONS):
    """("full" or "sampled", a note or None) for ``mode`` "auto", "full" or "sampled" and the finite-difference
    ``method`` (a name, "auto" or a :class:`~gradcheck.numeric.methods.Method`); ``sample`` and ``count``, the
    elements per tensor and the random directions of a sampled check."""
    check_mode(mode)
    if mode != "auto":
        return mode, None
    fixed = CHECK_PASSES * n * _pass_seconds(spec)
    seconds = estimate_seconds(spec, n, method) + fixed
    if seconds <= FULL_SECONDS:
        return "full", None
    k, cover, sampled = plan_sample(spec, n, method, sample, count)
    if sampled + fixed >= seconds:  # few params, many samples: sampling saves nothing
        return "full", (f"auto mode: a full check of {spec.n_params:,} params takes about {_seconds(seconds)}, no "
                        "longer than a sampled one, so it runs in full")
    within = "" if cover else (f", {k} elements of each tensor at random: covering every row and column would take "
                               f"about {_seconds(sampled_seconds(spec, n, method, sample, count) + fixed)}")
    return "sampled", (f"auto mode: a full check of {spec.n_params:,} params would take about {_seconds(seconds)}, "
                       f"so this check is sampled (about {_seconds(sampled + fixed)}{within})")


def _pass_seconds(spec):
    """One sample's forward pass of the whole network."""
    return sum(ly.forward_macs * SECONDS_PER_MAC + ly.units * SECONDS_PER_ENTRY for ly in spec.layers)


def plan_sample(spec, n, method="auto", sample=SAMPLE, count=DIRECTIONS):
    """(elements per tensor, every row and column covered?, estimated seconds) of the sampled check auto runs:
    ``sample`` covering every row and column; else, beyond :data:`SAMPLED_SECONDS`, ``sample`` at random, then
    halved down to :data:`MIN_SAMPLE`."""
    seconds = sampled_seconds(spec, n, method, sample, count)
    if seconds <= SAMPLED_SECONDS:
        return sample, True, seconds
    k = sample
    while True:
        seconds = sampled_seconds(spec, n, method, k, count, cover=False)
        if seconds <= SAMPLED_SECONDS or k // 2 < MIN_SAMPLE:
            return k, False, seconds
        k //= 2


def _seconds(t):
    """``0.4 s``, ``3 s``, ``25 min``, ``5 h``, ``12 days``: an estimate, to the precision it has."""
    for unit, size, above in (("days", 86400, 2 * 86400), ("h", 3600, 2 * 3600), ("min", 60, 600)):
        if t >= above:
            return f"{t / size:.0f} {unit}"
    return f"{t:.0f} s" if t >= 1 else f"{t:.1g} s"


def check_mode(mode):
    """Raise ValueError unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {', '.join(MODES)}")
