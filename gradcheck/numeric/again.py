"""Elements estimated again after the judge's first verdicts, in place in the
:class:`~gradcheck.numeric.network.NumericGradient`:

* **grown** (:func:`grow_elements`): elements whose gradient is so small that the loss's rounding hides it at the
  default steps take growing steps (:func:`~gradcheck.numeric.steps.grow`);
* **refined** (:func:`refine_elements`): inconclusive elements are estimated again with the rounding measured along
  their own axis, at the default and smaller steps (:func:`~gradcheck.numeric.steps.refine`);
* **grown alone** (:func:`grow_alone`): elements still inconclusive whose own rounding is far below their
  layer's take growing steps bounded by their own rounding;
* **confirmed** (:func:`confirm_elements`): an element found wrong by a difference its bound misses by little has
  the loss's rounding measured again where its steps go, and its bound widened where that is larger;
* **estimated at smaller steps** (:func:`estimates_at` and :func:`put_estimates`): an element whose slope changes
  within its steps is estimated again at a fraction of them, and that estimate put in the first one's place
  where the judge finds it measures the slope at θ.

Grown and refined estimates replace the first one only where their bound is smaller and they agree with it within
both bounds; the first is kept beside them (:attr:`~gradcheck.numeric.network.NumericGradient.replaced`).
"""

from __future__ import annotations

import numpy as np

from . import methods
from .noise import element_noise
from .stencils import EPS, default_step, rounding_floor
from .steps import GROW_LIMIT, SMALLER_STEPS, afresh, grow, kept_rounding, refine

__all__ = ["confirm_elements", "estimates_at", "grow_alone", "grow_elements", "put_estimates", "refine_elements"]


def grow_elements(spec, params, X, Y, numeric, elements, done=None):
    """Estimate again, with growing steps (:func:`gradcheck.numeric.steps.grow`), the elements ``elements`` (per
    layer {param: flat indices}) of the :class:`~gradcheck.numeric.network.NumericGradient` ``numeric``, in place, where
    that gives a smaller bound: elements whose gradient is so small that the loss's rounding hides it at the default
    step (each bound floored by the layer's noise, or by what a unit's line, fitted again for the wider steps, may
    miss where that is more). True if any estimate changed. ``done``: the
    :class:`~gradcheck.reference.backprop.ReferencePass` of these params, if made."""
    noises = numeric.noises  # measured once, by numeric_gradient
    changed = False
    for net, i, flat, offsets, stencil in _picked(spec, params, X, Y, elements, done):
        theta = net.theta(i)
        value, bound, step = grow(stencil,
                                  default_step(theta[flat], numeric.method), numeric.method,
                                  lambda fmax, s, at, noise=noises[i], net=net, i=i, flat=flat: rounding_floor(
                                      fmax, s, noise=np.maximum(noise, net.line_miss(i, flat[at]))),
                                  GROW_LIMIT * np.maximum(1.0, np.abs(theta[flat])), f0=net.loss)
        changed |= _replace(numeric, net, i, flat, offsets, (value, bound, step))
    return changed


def grow_alone(spec, params, X, Y, numeric, elements, reference, done=None):
    """Estimate again, with growing steps (:func:`gradcheck.numeric.steps.grow`) each bounded by the loss's rounding
    measured along its own axis, the elements ``elements`` (per layer {param: flat indices}) of the
    :class:`~gradcheck.numeric.network.NumericGradient` ``numeric``, in place, where that gives a smaller bound that
    ``reference`` (per layer {param: gradient}, the reference backprop's) lies within. True if any estimate changed.
    ``done``: the :class:`~gradcheck.reference.backprop.ReferencePass` of these params, if made.

    A layer's noise moves every element at once: its ±ulp probe and its line shake every sample and every unit the
    layer feeds. An element whose steps leave most of that bit-identical subtracts losses whose rounding is far
    smaller: a conv weight whose input is 2e-10 in one sample and 9e-217 in the other never changes the other
    sample's layernorm over two features 1e-5 apart, whose rounding set the layer's noise at twenty times ε·C; an
    output weight never changes the other outputs' terms of a loss of squares. Where its own rounding at the default
    steps (:func:`~gradcheck.numeric.noise.element_noise`, at least ε·max|C|) is :data:`SMALLER_STEPS` times below
    the layer's, the element takes growing steps bounded by it; its rounding is measured again where the steps kept
    go, and its bound widened by what that adds.

    Eight points along one axis can miss a rounding that climbs by nearly whole ulps a point (a saturated gate's
    output moving C in steps far above C's own ulps: an LSTM weight's grown estimate came out bounded at 5e-29 for
    a gradient of 1.06e-20 that it missed by 4.7e-24), so a grown estimate is kept only where the reference lies
    within its bound. Taken once, never retried, an estimate that agrees is evidence of its own; where the reference
    is wrong the element stays as it was, inconclusive."""
    method = methods.lookup(numeric.method)
    changed = False
    for net, i, flat, offsets, stencil in _picked(spec, params, X, Y, elements, done):
        theta = net.theta(i)
        h = default_step(theta[flat], method)
        own = element_noise(stencil, h)
        with np.errstate(invalid="ignore"):
            alone = np.flatnonzero(SMALLER_STEPS * np.maximum(own, EPS * abs(net.loss)) < numeric.noises[i])
        if not len(alone):
            continue
        picked = flat[alone]

        def part(at, s, o, alone=alone, stencil=stencil):
            return stencil(alone[at], s, o)

        value, bound, step = grow(part, h[alone], method,
                                  lambda fmax, s, at, own=own[alone]: rounding_floor(fmax, s, noise=own[at]),
                                  GROW_LIMIT * np.maximum(1.0, np.abs(theta[picked])), f0=net.loss)
        kept = np.isfinite(bound)
        if kept.any():  # its rounding where the kept steps go, beside the one assumed at the default steps
            at = np.flatnonzero(kept)
            there = element_noise(lambda sel, s, o, at=at: part(at[sel], s, o), step[at])
            fmax = abs(net.loss)
            with np.errstate(invalid="ignore"):
                more = kept_rounding(method, _floor, fmax, step[at], there) - kept_rounding(
                    method, _floor, fmax, step[at], own[alone][at])
            bound[at] += np.where(np.isfinite(more), np.maximum(more, 0.0), np.inf)
        ref = _flat(reference, net, i, picked)
        with np.errstate(invalid="ignore"):
            bound[~(np.abs(value - ref) <= bound)] = np.inf  # the reference outside: not kept
        changed |= _replace(numeric, net, i, picked, offsets, (value, bound, step))
    return changed


def refine_elements(spec, params, X, Y, numeric, elements, done=None):
    """Estimate again the elements ``elements`` (per layer {param: flat indices}) of the
    :class:`~gradcheck.numeric.network.NumericGradient` ``numeric``, in place, each with the rounding measured where its
    own steps go (:func:`gradcheck.numeric.steps.refine`), keeping what gives a smaller bound. True if any estimate
    changed.

    The layer's noise, which every element's bound is floored by at first, is measured along a line that moves
    all the layer's elements at once (:func:`~gradcheck.numeric.noise.layer_noise`). Near a loss of 0 (outputs on
    their targets) the elements that move C most set that line's C and its rounding: a bias under outputs of
    1e-20 makes it 1e-23, while a weight that moves C by 1e-41 sees losses of 1e-42 at its own steps, rounded at
    1e-57. Along the element's own axis, with the layer's ±ulp probe and first-order model at θ for its rounding
    there, the floor is that of the losses its differences subtract; where C at the element's own steps is the
    curvature's C''·h²/2, far above C(θ), smaller steps lower it further. ``done``: the
    :class:`~gradcheck.reference.backprop.ReferencePass` of these params, if made."""
    method = methods.lookup(numeric.method)
    changed = False
    for net, i, flat, offsets, stencil in _picked(spec, params, X, Y, elements, done):
        kept = tuple(_flat(part, net, i, flat) for part in (numeric.grads, numeric.bounds, numeric.steps))
        if refine(stencil,
                  default_step(net.theta(i)[flat], method), method,
                  _floor, (_at_theta(numeric, net, i), numeric.noises[i], None),
                  net.loss, kept).any():
            changed |= _replace(numeric, net, i, flat, offsets, kept)
    return changed


def confirm_elements(spec, params, X, Y, numeric, elements, done=None):
    """Measure the loss's rounding of the elements ``elements`` (per layer {param: flat indices}) of the
    :class:`~gradcheck.numeric.network.NumericGradient` ``numeric`` again, along each one's own axis where its kept
    estimate's steps go (:func:`~gradcheck.numeric.noise.element_noise`), and widen its bound, in place, by the rounding
    that gives its estimate where that is larger than the bound. True if any bound changed. ``done``: the
    :class:`~gradcheck.reference.backprop.ReferencePass` of these params, if made.

    A layer's noise is its first-order model at θ and the scatter along a line that moves all its elements at once.
    Where the loss is stationary at θ in every intermediate (an output on its target) and a norm magnifies the
    rounding of its inputs, the loss's rounding at an element's steps grows with the step, as the loss's slope in
    the intermediates does: under a batchnorm over a channel of equal values, a conv weight's steps of 7e-4 move C
    by rounding of 1e-19, where the layer's line measured 2e-21, and its central differences settle at −1.6e-16 at
    every step (a slope of the rounded function) for an exact 0. Asked of elements found wrong by a difference
    their bound misses by a small factor only: elsewhere a bound that much too small is not the question."""
    method = methods.lookup(numeric.method)
    changed = False
    for net, i, flat, offsets, stencil in _picked(spec, params, X, Y, elements, done):
        step, bound = (_flat(part, net, i, flat) for part in (numeric.steps, numeric.bounds))
        noise = element_noise(stencil, step)
        rounding = kept_rounding(method, _floor, abs(net.loss), step, noise)
        with np.errstate(invalid="ignore"):
            wider = np.isfinite(rounding) & (rounding > bound)
        for j, key in enumerate(net.keys(i)):
            sel = wider & (flat >= offsets[j]) & (flat < offsets[j + 1])
            if sel.any():
                numeric.bounds[i][key].ravel()[flat[sel] - offsets[j]] = (bound + rounding)[sel]
                changed = True
    return changed


def estimates_at(spec, params, X, Y, numeric, elements, scale, done=None):
    """(value, bound, step), arrays (P,), of the elements ``elements`` ((layer, param name, flat index) each, P of
    them) estimated afresh from their kept steps × ``scale``, each with the loss's rounding measured along its own
    axis where those steps go (as :func:`refine_elements` does at its rungs); the bound is inf where a step crosses
    a kink. ``numeric`` (the :class:`~gradcheck.numeric.network.NumericGradient` whose steps are scaled) is left as
    it is."""
    method = methods.lookup(numeric.method)
    value, bound, step = (np.full(len(elements), np.nan) for _ in range(3))
    picked = [{} for _ in numeric.grads]
    for layer, key, flat in elements:
        picked[layer].setdefault(key, []).append(flat)
    for net, i, flat, _, stencil in _picked(spec, params, X, Y, picked, done):
        keys = net.keys(i)
        where = [p for key in keys for p, (layer, k, _) in enumerate(elements) if layer == i and k == key]
        h = _flat(numeric.steps, net, i, flat) * scale
        value[where], bound[where], step[where], _ = afresh(stencil, h, method, _floor, _at_theta(numeric, net, i),
                                                            net.loss)
    return value, bound, step


def put_estimates(numeric, elements, value, bound, step):
    """Make (``value``, ``bound``, ``step``) (arrays (P,)) the estimate of each of the elements ``elements``
    ((layer, param name, flat index) each) of the :class:`~gradcheck.numeric.network.NumericGradient` ``numeric``,
    in place, keeping the default steps' one in :attr:`~gradcheck.numeric.network.NumericGradient.replaced`."""
    for p, (layer, key, flat) in enumerate(elements):
        _keep_default(numeric, layer, key, np.array([flat]))
        for part, new in ((numeric.grads, value), (numeric.bounds, bound), (numeric.steps, step)):
            part[layer][key].ravel()[flat] = new[p]


def _floor(fmax, s, noise):
    """A quotient's rounding at step ``s``, the loss's scale ``fmax`` and its measured ``noise``."""
    return rounding_floor(fmax, s, noise=noise)


def _at_theta(numeric, net, i):
    """The loss's rounding at θ itself for layer i's elements: its ε·|C| and what the first estimate measured
    there, a floor under every element's own."""
    return max(numeric.floors[i], EPS * abs(net.loss))


def _flat(part, net, i, flat):
    """Layer i's values of ``part`` (per layer {param: array}: gradients, bounds or steps) at the elements ``flat``
    of its θ (its params flattened in order)."""
    return np.concatenate([np.asarray(part[i][key], float).ravel() for key in net.keys(i)])[flat]


def _picked(spec, params, X, Y, elements, done):
    """(the perturbed networks, layer i, flat indices into its θ, the offsets of its params in θ, the stencil of those
    elements: ``stencil(at, steps, offsets)`` as :meth:`~gradcheck.numeric.perturbed.Perturbed.stencil` of
    ``flat[at]``) for each layer with elements picked in ``elements`` (per layer {param: flat indices in that
    param}); the
    :class:`~gradcheck.numeric.perturbed.Perturbed` networks are made once, if any element is picked (on ``done``'s
    forward pass, where given), and let go of each layer's lines after it."""
    from .perturbed import Perturbed

    if not any(len(idx) for layer in elements for idx in layer.values()):
        return
    net = Perturbed(spec, params, X, Y, base=None if done is None else done.fw)
    for i, picked in enumerate(elements):
        keys = net.keys(i)
        offsets = np.cumsum([0] + [net.params[i][k].size for k in keys])
        flat = np.concatenate([np.asarray(picked.get(k, ()), dtype=int) + offsets[j] for j, k in enumerate(keys)]
                              ) if keys else np.zeros(0, dtype=int)
        if len(flat):
            yield net, i, flat, offsets, lambda at, steps, o, i=i, flat=flat: net.stencil(i, flat[at], steps, o)
            net.close()


def _replace(numeric, net, i, flat, offsets, estimate):
    """Put the new ``estimate`` (value, bound, step) of layer i's elements ``flat`` into ``numeric`` where its bound
    is smaller than the one there and the two agree within their bounds (an estimate is not overruled by one from
    other steps that contradicts it). True if any changed. The default steps' estimate of an element is kept in
    :attr:`~gradcheck.numeric.network.NumericGradient.replaced` the first time it is replaced."""
    value, bound, step = estimate
    changed = False
    for j, key in enumerate(net.keys(i)):
        sel = (flat >= offsets[j]) & (flat < offsets[j + 1])
        at = flat[sel] - offsets[j]
        old, was = numeric.bounds[i][key].ravel()[at], numeric.grads[i][key].ravel()[at]
        with np.errstate(invalid="ignore"):
            keep = (bound[sel] < old) & ~(np.abs(value[sel] - was) > bound[sel] + old)
        if keep.any():
            changed = True
            _keep_default(numeric, i, key, at[keep])
            for part, new in ((numeric.grads, value), (numeric.bounds, bound), (numeric.steps, step)):
                part[i][key].ravel()[at[keep]] = new[sel][keep]
    return changed


def _keep_default(numeric, i, key, at):
    """Keep the current (value, bound) of layer i's ``key`` elements ``at`` (flat) as their default steps' estimate
    (:attr:`~gradcheck.numeric.network.NumericGradient.replaced`), where not kept already."""
    if numeric.replaced is None:
        numeric.replaced = [{} for _ in numeric.grads]
    shape = numeric.grads[i][key].shape
    value, bound = numeric.replaced[i].setdefault(key, (np.full(shape, np.nan), np.full(shape, np.nan)))
    fresh = at[np.isnan(value.ravel()[at])]
    value.ravel()[fresh] = numeric.grads[i][key].ravel()[fresh]
    bound.ravel()[fresh] = numeric.bounds[i][key].ravel()[fresh]
