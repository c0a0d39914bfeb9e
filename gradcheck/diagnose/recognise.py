"""A cause for a failing layer or function check: the layer behind the user's code, recognised, and its known
mistakes replayed on the failing gradients.

A *probe* (:mod:`.probes` for the catalogue's kinds, :mod:`.probes_seq` for upsampling,
embeddings and recurrent steps) recomputes a kind's forward pass on the user's own inputs,
searching its hyperparameters (a window, a stride, an ε); the kind is recognised when the
result is the user's output. Its correct backward must then give the finite differences, and
each known mistake is replayed: a mistake is named for a tensor only when its replay *is* the
user's gradient (:func:`~gradcheck.diagnose.mistake.close`) and not the correct one, the rule
the network path's replays follow. Gradients returned in the wrong order (an exact permutation
of the expected ones, by value or by shape) are named for any check.
"""

from __future__ import annotations

import numpy as np

from .mistake import close
from .probe import Case, Kind

__all__ = ["Case", "Kind", "causes", "swapped_order"]

#: How near the finite differences a recognised kind's own backward must be (relative, in norm).
AGREE = 1e-5


def _agrees(got, numeric):
    """``got`` is the finite differences where they were taken (a sampled check leaves NaN elsewhere)."""
    if np.shape(got) != np.shape(numeric):
        return False
    taken = np.isfinite(numeric)
    if not taken.any():
        return False
    got, numeric = np.asarray(got)[taken], np.asarray(numeric)[taken]
    with np.errstate(invalid="ignore", over="ignore"):  # gradients near 1e308: the norms overflow, nothing agrees
        return bool(np.linalg.norm(got - numeric) <= AGREE * max(np.linalg.norm(numeric), 1e-12))


def causes(case, user, numeric, failing):
    """Sentences naming the known mistakes that give the failing tensors' gradients.

    ``user`` and ``numeric`` map tensor names to the user's and the finite-difference gradients;
    ``failing`` are the names that failed.
    """
    from . import probes, probes_seq  # on first use: a check that passes never loads the probes

    found = []
    for probe in (*probes.PROBES, *probes_seq.PROBES):
        try:
            kinds = probe(case)
        except (ValueError, IndexError, TypeError, FloatingPointError):
            continue
        for kind in kinds:
            try:
                found += _named(kind, case, user, numeric, failing)
            except (ValueError, IndexError, TypeError, FloatingPointError):
                continue
        if found:
            break
    return found


def _named(kind, case, user, numeric, failing):
    with np.errstate(all="ignore"):
        ref = kind.reference()
    if not all(_agrees(g, numeric[case.names[i]]) for i, g in ref.items() if case.names.get(i) in numeric):
        return []  # the forward matched but the kind's backward is not this function's: say nothing
    named = {}
    for text, replay in kind.mistakes:
        try:
            with np.errstate(all="ignore"):
                wrong = replay()
        except (ValueError, IndexError, TypeError):
            continue
        hit = [case.names[i] for i, g in wrong.items()
               if case.names.get(i) in failing and np.shape(g) == np.shape(user.get(case.names[i]))
               and close(user[case.names[i]], g) and i in ref and not close(g, ref[i])]
        if hit:
            named.setdefault(text, []).extend(hit)
    return [f"{', '.join('d' + n for n in names)}: matches a known mistake of {kind.label}: {text}"
            for text, names in named.items()]


def swapped_order(names, user, numeric):
    """A sentence when the user's gradients are the expected ones in another order (by value, or by shape), or ""."""
    got = [user.get(n) for n in names]
    if any(g is None for g in got) or len(names) < 2:
        return ""
    want = [numeric[n] for n in names]
    order = []
    for g in got:
        fits = [j for j, w in enumerate(want) if j not in order and np.shape(g) == np.shape(w) and _agrees(g, w)]
        if not fits:
            return ""
        order.append(fits[0])
    if order == list(range(len(names))):
        return ""
    returned = ", ".join("d" + names[j] for j in order)
    return (f"the gradients are right but returned in the wrong order: backward returns ({returned}); return them "
            f"in the order of forward's inputs ({', '.join('d' + n for n in names)})")
