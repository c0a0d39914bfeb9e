"""The verdicts of a check, assembled the same way for a network and for a function or layer.

Each tensor's evidence (its opinions' values, the finite difference's error bound, kinks,
the joint test at kinks, the sample's mask) becomes a :class:`~gradcheck.judge.compare.TensorCheck`;
the tensors, the notes on kinks and on elements too close to one, and the problems become a
:class:`~gradcheck.judge.outcome.CheckResult` (which adds its notes on float32 and inconclusive
elements itself).
"""

from __future__ import annotations

import numpy as np

from ..judge.compare import TensorCheck
from ..judge.outcome import CheckResult
from ..judge.tolerances import tolerance

__all__ = ["judged_rtol", "tensor_check", "kink_notes", "outcome"]


def judged_rtol(rtol, float32):
    """The relative tolerance a gradient is judged with: float32's where the gradient is float32."""
    return tolerance("float32" if float32 else "float64").judged_rtol(rtol)


def tensor_check(name, shape, values, checked, opts, **evidence):
    """The :class:`TensorCheck` of one tensor under the options' tolerances (``evidence``: kinks, bound, ...)."""
    return TensorCheck(name, evidence.pop("layer", None), evidence.pop("kind", None), tuple(shape), values, checked,
                       opts.rtol, opts.atol, **evidence)


def kink_notes(tensors, on_kink, near_kink, rounding):
    """Notes on the elements at a kink and on those too close to one for any step to clear it.

    They name what is not differentiable, the loss of a network or the user's f: ``on_kink(tensors)``
    follows "N element(s) sit", ``near_kink`` follows "so close to", ``rounding`` is whose rounding
    a step must resolve.
    """
    notes = []
    n_kinks = sum(t.n_kinks for t in tensors)
    if n_kinks:
        notes.append(f"{n_kinks} element(s) sit {on_kink(tensors)}: their one-sided derivatives differ. A value "
                     "between them is reported as 'kink', not failed, and the values at all kinks were tested "
                     "together along directions over them (a sub- or supergradient as a vector)")
    n_lost = sum(int(np.count_nonzero(t.unresolved)) for t in tensors if t.unresolved is not None)
    if n_lost:
        notes.append(f"{n_lost} element(s) sit so close to {near_kink} that no step {rounding} "
                     "resolves stays clear of it: every step averages the slopes on both sides of that kink, so the "
                     "derivative at the point itself is never measured. A value between the slopes seen is "
                     "inconclusive; one beyond them is wrong where the steps crossed that one kink alone, on one "
                     "side, and inconclusive where they crossed more or could not tell")
    return notes


def outcome(name, tensors, opinions, checked, opts, *, notes, problems, later=(), **fields):
    """The :class:`CheckResult`: ``problems``, then each tensor's, then ``later`` ones (that name no tensor);
    ``fields``: its diagnosis and what it carries."""
    return CheckResult(name, tensors, tuple(opinions), tuple(checked), opts.rtol, opts.atol, notes=list(notes),
                       problems=list(problems) + [t.problem for t in tensors if t.problem] + list(later), **fields)
