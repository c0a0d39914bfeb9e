"""Bias styles: how a layer's bias is held.

=========== ============================================================= ==============
style       the bias                                                      params
=========== ============================================================= ==============
separate    a vector b, one entry per unit (per filter of a conv layer)    W, b
none        no bias                                                        W
augmented   the weight on a constant input 1 appended to a_prev: one more  W
            column (column convention) or row (row convention) of W
=========== ============================================================= ==============

Code outside the catalogue asks a style what it needs (``has_b``, ``in_weights``,
``extra_inputs``, ``text``) instead of testing its name.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AUGMENTED", "BIAS_STYLES", "NONE", "SEPARATE", "BiasStyle", "bias_style"]


@dataclass(frozen=True)
class BiasStyle:
    """One bias style. ``has_b``: the layer has a separate param b; ``in_weights``: the bias is a line of W,
    the weight on a constant input 1 (``extra_inputs`` = 1 more input per layer); ``text``: what it means, in
    words. Printed as its net.json name."""

    name: str
    has_b: bool
    in_weights: bool
    text: str

    @property
    def extra_inputs(self):
        """Inputs a dense layer multiplies besides a_prev: the constant 1 of an augmented bias."""
        return 1 if self.in_weights else 0

    def __str__(self):
        return self.name


SEPARATE = BiasStyle("separate", True, False, "a vector b, one entry per unit")
NONE = BiasStyle("none", False, False, "no bias")
AUGMENTED = BiasStyle("augmented", False, True, "a constant 1 is appended to each layer's input; its weight is the "
                                                "bias")

#: net.json ``bias`` -> :class:`BiasStyle`.
BIAS_STYLES = {b.name: b for b in (SEPARATE, NONE, AUGMENTED)}


def bias_style(value):
    """The :class:`BiasStyle` of a name or of a style (a Spec built in Python may give either)."""
    return value if isinstance(value, BiasStyle) else BIAS_STYLES[value]
