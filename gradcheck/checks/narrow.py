"""Elements whose slope changes within the finite difference's steps.

Where the reference backprop is found wrong at an element, its own gradient at the ends of the steps the kept
estimate took (:func:`~gradcheck.reference.around.gradients_around`) says whether the difference measured the slope
at θ or a feature narrower than its steps: a quotient is the mean of ∂C/∂θ_e over its step, so the field's mean over
each step, taken from its two ends and combined as the estimate combines its quotients, is the field's value at θ to
O(h⁴) where the field is smooth, and a backprop wrong a step away as at θ predicts its own wrong value. Where the
field gives the difference's value instead, the slope changes within the steps (:func:`look`).

Such an element is estimated again at a fraction of its steps (:data:`RUNGS`), each with the loss's rounding
measured along its own axis there, until the field is flat within them (:func:`finer`): that estimate measures the
slope at θ and replaces the first one, and every opinion is judged against it. Where no rung gets there before its
rounding hides the question (a spike within 1e-91 of θ), every opinion stays inconclusive at the element.
"""

from __future__ import annotations

import numpy as np

from ..judge.bands import MARGIN
from ..judge.tolerances import tolerance
from ..numeric.again import estimates_at, put_estimates
from ..numeric.methods import lookup
from ..reference.around import gradients_around

__all__ = ["finer", "look", "still_narrow"]

#: At most this many elements the reference backprop is found wrong at have its gradient computed again around θ
#: (a backward pass per offset).
ELEMENTS = 64
#: ... at these multiples of its kept estimate's step h: the ends of the steps whose quotients it combines (h/2, h).
OFFSETS = (0.5, -0.5, 1.0, -1.0)
#: ... and where the caller fixed the step h, whose quotients at h and 2h the estimate combines.
FIXED_OFFSETS = (1.0, -1.0, 2.0, -2.0)
#: A narrow element is estimated again from its kept steps times each of these in turn, until the field is flat
#: within them or their rounding could no longer tell the reference from the first estimate.
RUNGS = (2.0**-7, 2.0**-14, 2.0**-21, 2.0**-28)


def look(s, tensors, opts):
    """Whether some element at which the reference backprop is found wrong is narrow (all kept in ``s.narrow``, per
    layer {param: bool mask}): the field around θ, combined as the kept estimate combines its quotients, gives the
    difference's value within the tolerance, the difference's bound and the backprop's rounding. At most
    :data:`ELEMENTS` elements are looked at; a check whose reference agrees everywhere never takes this look, nor
    one by complex steps (no chord: the imaginary part of C(θ + ih)/h is the slope at θ itself)."""
    if not lookup(s.numeric.method).per_element_steps:
        return False
    # A settled tensor (known from the first judgement) has every opinion good: nothing to look at.
    failing = [t for t in tensors if not t.settled and t.layer is not None and "backprop" in t.checked
               and t.problem is None and t.values.get("backprop") is not None and not t.opinion_passed("backprop")]
    picked = []
    for t in failing:
        wrong = np.flatnonzero(np.isin(t.verdict("backprop"), ("wrong", "suspicious")))
        picked += [(t, int(flat)) for flat in wrong[:ELEMENTS - len(picked)]]
    if not picked:
        return False
    elements = [(t.layer, t.kind, flat) for t, flat in picked]
    steps = np.array([float(s.numeric.steps[t.layer][t.kind].flat[flat]) for t, flat in picked])
    value = np.array([float(np.asarray(t.values["numeric"], float).flat[flat]) for t, flat in picked])
    bound = np.array([float(np.asarray(t.bound, float).flat[flat]) for t, flat in picked])
    narrow = _explains(s, opts, elements, steps, value, bound, OFFSETS if opts.step is None else FIXED_OFFSETS)[0]
    s.narrow = [{key: np.zeros(shape, bool) for key, shape in shapes.items()} for shapes in s.spec.param_shapes()]
    for (layer, key, flat), hit in zip(elements, narrow):
        s.narrow[layer][key].flat[flat] = bool(hit)
    return bool(narrow.any())


def finer(s, opts):
    """Estimate every narrow element again at :data:`RUNGS` of its steps; where the field is flat within a rung's
    steps and gives its estimate, put that estimate in the first one's place and clear the element's mark. Returns
    the elements so resolved ((layer, param name, flat index) each). A step the caller fixed is kept: none."""
    if opts.step is not None:
        return []
    todo = [(layer, key, int(flat)) for layer, masks in enumerate(s.narrow) for key, mask in masks.items()
            for flat in np.flatnonzero(mask)]
    numeric, resolved = s.numeric, []
    first = np.array([float(numeric.grads[layer][key].flat[flat]) for layer, key, flat in todo])
    for rung in RUNGS:
        if not todo:
            break
        value, own, step = estimates_at(s.spec, s.params, s.X, s.Y, numeric, todo, rung, done=s.done)
        bound = np.array([s.judged_bound(b, *e) for b, e in zip(own, todo)])  # as the judge will bound them
        explained, flat_, at_theta = _explains(s, opts, todo, step, value, bound, OFFSETS)
        with np.errstate(invalid="ignore"):
            # The rung can answer only where its bound is below the question: the reference against the first value.
            answers = np.isfinite(value) & (MARGIN * bound < np.abs(at_theta - first))
        done = answers & explained & flat_
        if done.any():
            put = [e for e, hit in zip(todo, done) if hit]
            put_estimates(numeric, put, value[done], own[done], step[done])
            for layer, key, flat in put:
                s.narrow[layer][key].flat[flat] = False
            resolved += put
        # Smaller steps go on only where the field explains this rung's estimate but changes within its steps.
        going = answers & explained & ~flat_
        todo, first = [e for e, hit in zip(todo, going) if hit], first[going]
    return resolved


def still_narrow(s, tensors, resolved):
    """Mark again those of the ``resolved`` elements at which the reference is still found wrong against the
    estimate at smaller steps (the field's flatness was judged with the tolerance, the verdict with the bands: a
    difference that falls between them is no verdict on the reference). True if any."""
    by = {(t.layer, t.kind): t for t in tensors if t.layer is not None}
    again = False
    for layer, key, flat in resolved:
        t = by.get((layer, key))
        if t is not None and t.verdict("backprop").flat[flat] in ("wrong", "suspicious"):
            s.narrow[layer][key].flat[flat] = again = True
    return again


def _explains(s, opts, elements, steps, value, bound, offsets):
    """Per element ((layer, param name, flat index), P of them), whether the reference's field at ``offsets`` (the
    fine step's two ends, then the wide one's) times its ``steps`` (P,), the mean over each step combined as the
    estimate combines its quotients, gives the estimate ``value`` (P,) with its ``bound`` (P,); whether it gives
    the reference's own value at θ (the field is flat within the steps); and that value at θ. The tolerance is
    the difference's own (rtol of its value, not of the prediction: a spike's huge value would widen it), with
    the bound and the backprop's rounding."""
    around = gradients_around(s.spec, s.params, s.X, s.Y, elements, steps, offsets)
    rounding = s.backprop_rounding()
    allowances = {}
    for layer, key, _ in elements:  # a tensor's allowance is made once, however many of its elements are looked at
        if (layer, key) not in allowances:
            allowances[layer, key] = np.asarray(tolerance().rounding(rounding[layer][key]), float)
    allowance = np.array([float(np.broadcast_to(allowances[layer, key], s.reference[layer][key].shape).flat[flat])
                          for layer, key, flat in elements])
    at_theta = np.array([float(np.asarray(s.reference[layer][key], float).flat[flat]) for layer, key, flat in elements])
    method = lookup(s.numeric.method)
    # The field's mean over each step, from its two ends (a spike at θ narrower than the step is no part of it),
    # combined as the kept estimate combines its quotients at its fine and wide steps.
    predicted = method.estimate((around[:, 0] + around[:, 1]) / 2, (around[:, 2] + around[:, 3]) / 2)
    slack = opts.rtol * np.abs(value) + opts.atol + MARGIN * bound + allowance
    with np.errstate(invalid="ignore"):
        return np.abs(predicted - value) <= slack, np.abs(at_theta - predicted) <= slack, at_theta
