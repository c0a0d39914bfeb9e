"""Hypothesis strategies for an activation's keys on the layer that names it (``slope``, ``alpha``).

:func:`activation_keys` draws the keys of a layer dict for a named activation, its parameters
given half the time; :func:`bad_activation_layers` turns a valid spec dict into one whose
layer gives an activation key that is refused (a key of another activation, not a number, out
of range). Used by :mod:`gradcheck.strategies`; needs the ``test`` extra (hypothesis).
"""

from __future__ import annotations

from hypothesis import strategies as st

from ..catalogue import ACTIVATIONS
from ..catalogue.activations import ACTIVATION_KEYS
from .once import booleans, integers, sampled_from

__all__ = ["activation_keys", "bad_activation_layers"]


def activation_keys(draw, names, smooth=False):
    """{"activation": one of ``names``} and, half the time, values in [0, 2] (hundredths) for its parameters;
    ``smooth``: only values that leave it without kinks (none, when the activation has kinks whatever its values)."""
    name = draw(sampled_from(names))
    out = {"activation": name}
    act = ACTIVATIONS[name]
    if not act.params or not draw(booleans()):
        return out
    values = {k: draw(integers(0, 200)) / 100 for k in act.settings}
    if smooth and act.configured(**values).kinks:
        return out
    return {**out, **values}


def _bad_value(key):
    lo, hi = ACTIVATION_KEYS[key]
    return st.one_of(st.floats(max_value=lo, exclude_max=True, allow_nan=False, allow_infinity=False),
                     st.floats(min_value=hi, exclude_min=True, allow_nan=False, allow_infinity=False),
                     st.text(max_size=4), st.booleans(), st.lists(st.integers(), max_size=2))


def bad_activation_layers(base):
    """Spec dicts from ``base`` (valid spec dicts) with one layer's activation key refused."""
    @st.composite
    def build(draw):
        raw = draw(base)
        i = draw(st.integers(0, len(raw["layers"]) - 1))
        layers = [dict(ly) for ly in raw["layers"]]
        act = ACTIVATIONS[layers[i].get("activation", "linear")]
        key = draw(st.sampled_from(sorted(ACTIVATION_KEYS)))
        if key in act.settings:
            layers[i][key] = draw(_bad_value(key))
        else:  # a key of another activation: refused whatever its value
            layers[i][key] = draw(st.integers(0, 2))
        return {**raw, "layers": layers}

    return build()
