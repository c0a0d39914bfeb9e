"""Hypothesis strategies for the loss's options: "reduction", "regularization", "margin", and class targets.

Used by :mod:`gradcheck.strategies` (which exports :func:`loss_options`). Needs the ``test`` extra (hypothesis).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..catalogue import ACTIVATIONS, LOSSES
from ..catalogue.losses import REDUCTIONS
from ..catalogue.regularization import FORMS
from .once import made_once

__all__ = ["classes_for", "loss_options", "min_outputs"]


def min_outputs(loss, out_act):
    """The fewest outputs worth drawing: a softmax needs two, and a loss over classes has none to compare with one."""
    return max(ACTIVATIONS[out_act].min_units if out_act else 1, 2 if LOSSES[loss].labels else 1)


@made_once
def loss_options(loss, smooth=False):
    """Strategy for the loss's options of a spec with ``loss``: {} (the defaults) or some of "reduction" (one the
    loss defines), "regularization" (l2 in a drawn form or, unless ``smooth``, l1) and, for the hinge, "margin".

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(loss_options("bce", smooth=True))
    ... def test(d):
    ...     assert "l1" not in d.get("regularization", {})
    >>> test()
    """
    reductions = [r for r in REDUCTIONS if r not in LOSSES[loss].refused]
    regs = st.one_of(
        st.builds(lambda lam, form: {"l2": lam, "form": form}, st.sampled_from([0.01, 0.1, 0.5]),
                  st.sampled_from(FORMS)),
        *([] if smooth else [st.builds(lambda lam: {"l1": lam}, st.sampled_from([0.01, 0.1]))]))

    given, reduction, margin = st.booleans(), st.sampled_from(reductions), st.sampled_from([0.5, 1, 2])

    @st.composite
    def build(draw):
        out = {}
        if draw(given):
            out["reduction"] = draw(reduction)
        if draw(given):
            out["regularization"] = draw(regs)
        if LOSSES[loss].takes_margin and draw(given):
            out["margin"] = draw(margin)
        return out

    return build()


def classes_for(loss, n, k):
    """Strategy for the targets of ``n`` samples of a loss over ``k`` classes: integer labels (N,) where the loss
    takes them, or one-hot rows (N, K)."""
    labels = st.lists(st.integers(0, k - 1), min_size=n, max_size=n).map(lambda idx: np.array(idx, dtype=np.int64))
    rows = labels.map(lambda idx: np.eye(k)[idx])
    return st.one_of(labels, rows) if loss.labels else rows
