"""Your code's lines set against the reference shape trace: each line next to the reference step whose shape it
holds, and the first line whose shape departs from every shape the network has (:mod:`gradcheck.diagnose.linetrace`
records the lines)."""

from __future__ import annotations

import re

import numpy as np

from ..reference.shapetext import fmt_shape as _fmt
from ..usercode.impl import mask_for
from .linetrace import SYNONYMS, trace_call

__all__ = ["compare_with_reference", "trace_impl"]


def compare_with_reference(trace, steps, n, known=(), unlike=None):
    """Set each line of ``trace`` next to the reference step with its shape; find the first departure.

    ``steps`` are the reference trace's steps (forward, then backward); ``n`` is the batch
    size used, which replaces "N" (and 1 stands for it too, for per-sample code).
    ``known`` are further shapes that are no departure (params, inputs, targets);
    ``unlike`` says what a departing shape is unlike, in the sentence that names it.
    """
    if unlike:
        trace.unlike, trace.only_wrong = unlike, True
    def concrete(shape, size):
        return tuple(size if d == "N" else d for d in shape)

    refs = [(concrete(s.result, size), f"layer {s.layer}: {s.name} = {s.expr}", s.name)
            for s in steps for size in (n, 1)]
    shapes = {r[0] for r in refs} | {tuple(k) for k in known}
    shapes |= {tuple(concrete(v, size)) for s in steps for v in s.operands.values() for size in (n, 1)}
    # Forms a user may hold the same quantity in: flat vectors, and (k, 1)/(1, k) per-sample columns.
    shapes |= {tuple(d for d in s if d != 1) for s in shapes}
    at = -1
    for line in trace.lines:
        results = [s for seen in line.shapes.values() for s in seen]
        names = {re.sub(r"\W", "", nm.split("[")[0]).lower() for nm in line.shapes}
        names |= {"d" + key.lower() for nm in line.shapes for key in re.findall(r"\['(\w+)'\]", nm)}
        names |= {step for step, words in SYNONYMS.items() if names & words}
        order = [*range(at + 1, len(refs)), *range(at + 1)]  # after the last match, wrapping round for loops
        fits = [j for j in order if refs[j][0] in results]
        j = next((j for j in fits if refs[j][2] in names), fits[0] if fits else None)
        if j is not None:
            line.reference = f"{refs[j][1]} {_fmt(refs[j][0])}"
            at = max(at, j)
        if trace.departure is None and results and not any(
                s in shapes or tuple(d for d in s if d != 1) in shapes or len(s) == 0 for s in results):
            trace.departure = line
    return trace


def trace_impl(fn, spec, params, X, Y, trace):
    """Run the user's backprop ``fn(params, X, Y)`` on copies under the line tracer, against the shape trace."""
    copies = [{k: v.copy() for k, v in p.items()} for p in params]
    lt = trace_call(fn, copies, X.copy(), Y.copy(), **mask_for(fn, spec))
    known = [np.shape(v) for p in params for v in p.values()] + [X.shape, Y.shape, X.T.shape, Y.T.shape]
    n = spec.samples_in(Y)
    return compare_with_reference(lt, trace.steps(), n, known)
