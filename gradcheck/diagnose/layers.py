"""Layer replays: the known mistakes of each layer kind, swapped into the reference backprop and named.

Each layer kind lists its own mistakes beside its forward and backward, in its catalogue
file (``mistakes`` of :mod:`gradcheck.catalogue.layers`: a conv kernel flipped in dW or dx,
padding not stripped, stride ignored; a max pool's gradient sent to every element or
averaged; an average pool's not divided; a norm's μ and σ² taken as constants; dropout
without its mask or rescale; a flatten in the wrong order). This module registers each as
a :class:`LayerReplay`, the :class:`~gradcheck.diagnose.mistake.Mistake` that swaps the
configured layer for a copy whose class makes the mistake (built from the layer's own
forward and backward, so no maths is written twice).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

from ..catalogue import LAYER_KINDS
from .mistake import Mistake, register

__all__ = ["LayerReplay", "mistaken"]


@dataclass(frozen=True)
class LayerReplay(Mistake):
    """A known mistake (a :class:`~gradcheck.catalogue.layers.mistakes.KnownMistake`) of the layer class
    ``kind_class``."""

    kind_class: type
    known: object
    local = False
    site = None

    @property
    def key(self):
        return self.known.key

    @property
    def kind(self):
        return self.kind_class.kind

    def applies(self, spec, ly):
        return type(ly) is self.kind_class and self.known.applies(ly)

    def text(self, spec, layers):
        return self.known.text([spec.layers[i] for i in layers])

    def swap(self, ly):
        return mistaken(ly, self.known)

    def __repr__(self):
        return f"LayerReplay({self.key!r} on {self.kind})"


@functools.cache
def _mistaken_class(base, mistake):
    def forward(self, params, a_prev, conv, bias, tape=None):
        z, cache = base.forward(self, params, a_prev, conv, bias, tape)
        if mistake.forward is not None:
            z = mistake.forward(self, z, conv)
        return z, (cache, a_prev)

    def backward(self, delta, cache, params, conv, bias, tape=None):
        cache, a_prev = cache

        def own(d, c, p):
            return base.backward(self, d, c, p, conv, bias)

        return mistake.backward(self, own, delta, cache, a_prev, params, conv, bias)

    return type(f"{base.__name__}With_{mistake.key}", (base,), {"forward": forward, "backward": backward})


def mistaken(layer, mistake):
    """A copy of ``layer`` (a configured catalogue layer) whose backward makes ``mistake`` (a KnownMistake of its
    kind, or the LayerReplay that holds one)."""
    known = getattr(mistake, "known", mistake)
    new = copy.copy(known.configured(layer) if known.configured else layer)
    object.__setattr__(new, "__class__", _mistaken_class(type(layer), known))
    return new


for _kind in LAYER_KINDS.values():
    for _known in _kind.mistakes:
        register(LayerReplay(_kind, _known))
