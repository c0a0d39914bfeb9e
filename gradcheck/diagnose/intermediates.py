"""The user's own intermediates (activations a, deltas δ = ∂C/∂z, the loss) compared with the reference's.

A wrong gradient has a first wrong quantity: the forward pass (some layer's a, or the loss) or, with the
forward right, the δ of some layer carried back from the output. :func:`compare` judges one returned
array with the judge's tolerances (:func:`gradcheck.judge.bands.verdict_codes`); :func:`first_departure`
says which of them, in the order the computation makes them, departs first. The network check feeds it
the reference backprop's ``seen`` record; ``check_function``/``check_layer`` feed it
``intermediates={name: (yours, reference)}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..judge.bands import BANDS, errors, verdict_codes
from ..reference.backprop import backprop
from ..reference.shapetext import fmt_shape as _fmt

__all__ = ["Intermediate", "attach", "compare", "first_departure", "network_intermediates", "given_intermediates"]


@dataclass
class Intermediate:
    """One compared intermediate: its name, whether it agrees, its max relative error, and ``detail``: what keeps
    it from being compared element by element (a shape, a value that is no array), or how it was read."""

    name: str
    passed: bool
    max_rel: float | None = None
    detail: str = ""

    def text(self):
        """``layer 1's a (max rel err 0.5)``, or with what kept it from being compared."""
        return f"{self.name} ({self.detail or f'max rel err {self.max_rel:.3g}'})"


def compare(name, yours, reference, rtol, atol):
    """The :class:`Intermediate` of ``yours`` against ``reference``; a (1, n)/(n, 1) against (n,) or a squeezed
    axis is compared as the reference's shape, a transposed one is named."""
    ref = np.asarray(reference, dtype=float)
    try:
        got = np.asarray(yours, dtype=float)
    except (TypeError, ValueError):
        return Intermediate(name, False, detail=f"not a numeric array ({type(yours).__name__})")
    note = ""
    if got.shape != ref.shape:
        if got.size == ref.size and tuple(d for d in got.shape if d != 1) == tuple(d for d in ref.shape if d != 1):
            note = f"returned as {_fmt(got.shape)}, compared as {_fmt(ref.shape)}"
            got = got.reshape(ref.shape)
        elif got.ndim == 2 and got.shape == ref.shape[::-1]:
            return Intermediate(name, False, detail=f"has shape {_fmt(got.shape)}, expected {_fmt(ref.shape)}: "
                                                     "transposed (the other convention's layout?)")
        else:
            return Intermediate(name, False, detail=f"has shape {_fmt(got.shape)}, expected {_fmt(ref.shape)}")
    codes = verdict_codes(got, ref, rtol, atol)
    _, rel = errors(got, ref)
    max_rel = float(rel.max()) if rel.size else 0.0
    return Intermediate(name, bool(np.all(codes == BANDS.index("good"))), max_rel,
                        f"max rel err {max_rel:.3g}; {note}" if note else "")


def first_departure(forward, backward, grads_passed=None):
    """One sentence: the first of ``forward`` (a, the loss: the order the forward pass makes them) and then of
    ``backward`` (δ from the output down) that departs; or, all agreeing, where the error must then be."""
    for item in forward:
        if not item.passed:
            return f"your forward already differs at {item.text()}: fix the forward pass first"
    for item in backward:
        if not item.passed:
            right = "your forward is right; " if forward else ""
            return f"{right}δ departs at {item.text()}"
    names = ", ".join(i.name for i in [*forward, *backward])
    if grads_passed is False and names:
        return (f"your {names} all agree with the reference: the error is in the gradients taken from them "
                "(dW from δ and the layer's input, db from δ)")
    return f"your {names} agree with the reference" if names else ""


def network_intermediates(spec, params, X, Y, returned, rtol, atol, grads_passed):
    """(sentence, [Intermediate]) for the user's ``returned`` {"a": [...], "delta": [...], "loss": C}."""
    seen = {}
    C, _ = backprop(spec, params, X, Y, seen=seen)
    n = len(spec.layers)
    forward, backward, bad = [], [], []
    for key, pos, label in (("a", 2, "a"), ("delta", 1, "δ")):
        given = returned.get(key)
        if given is None:
            continue
        if not isinstance(given, (list, tuple)) or len(given) != n:
            bad.append(f"your '{key}' should be a list of {n} arrays, one per layer (first layer first); got "
                       f"{type(given).__name__}" + (f" of {len(given)}" if isinstance(given, (list, tuple)) else ""))
            continue
        items = [compare(f"layer {i}'s {label}", given[i], seen[i][pos], rtol, atol) for i in range(n)]
        (forward if key == "a" else backward).extend(items if key == "a" else items[::-1])
    if "loss" in returned:
        forward.append(compare("the loss", returned["loss"], C, rtol, atol))
    sentence = first_departure(forward, backward, grads_passed)
    return [*bad, *([sentence] if sentence else [])], forward + backward


def attach(result, intermediates, args=()):
    """Compare ``intermediates`` ({name: (yours, reference)}) under the result's tolerances; the sentence leads its
    diagnosis when it failed, or is a note; the items are ``result.intermediates``."""
    if not intermediates:
        return result
    if not isinstance(intermediates, dict):
        raise TypeError("intermediates: expected a dict name -> (yours, reference), got "
                        f"{type(intermediates).__name__}")
    sentences, result.intermediates = given_intermediates(intermediates, result.rtol, result.atol, args)
    if result.passed:
        result.notes += sentences
    else:
        result.diagnosis[:0] = sentences
    return result


def given_intermediates(intermediates, rtol, atol, args=()):
    """(sentences, [Intermediate]) for ``{name: (yours, reference)}``, in the order given; a callable reference
    is called with ``args`` (the check's inputs, as the user passed them)."""
    items = []
    for name, pair in intermediates.items():
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"intermediates[{name!r}]: expected a pair (yours, reference), got {type(pair).__name__}")
        yours, reference = pair
        try:
            ref = reference(*args) if callable(reference) else reference
        except Exception as e:  # the reference of an intermediate is the user's code too
            items.append(Intermediate(name, False, detail=f"its reference raised {type(e).__name__}: {e}"))
            continue
        items.append(compare(name, yours, ref, rtol, atol))
    first = next((i for i in items if not i.passed), None)
    if first is None:
        return [f"your intermediates agree with their references: {', '.join(i.name for i in items)}"], items
    return [f"the first of your intermediates to differ is {first.text()}"], items
