"""A known mistake: the one interface, its registry, the hypothesis that replays mistakes, and the closeness rule.

A :class:`Mistake` is something a hand-written backprop gets wrong that the reference
backprop can be made to get wrong the same way. Two kinds implement it:

- a *site tweak* (:class:`~gradcheck.diagnose.mistakes.SiteMistake`) replaces one step of
  one layer's backward pass (∂C/∂a at the output, δ, the input dW pairs δ with, the
  returned gradients, the ∂C/∂a_prev carried down). It is *local*: the search walks the
  layers from the output down and fits it layer by layer, with one constant factor shared
  by every layer;
- a *layer replay* (:class:`~gradcheck.diagnose.layers.LayerReplay`) swaps a layer for one
  whose backward (and maybe forward) is wrong, as its kind's catalogue file defines it
  (:attr:`~gradcheck.catalogue.layers.Layer.mistakes`). Its effect reaches past its own
  layer, so it is replayed over the whole network, alone at each layer and at all of its
  layers at once, and must give the user's gradients exactly.

Both are held in :data:`REGISTRY` (in the order they are tried) and replayed by a
:class:`Hypothesis`; :func:`close` is the one rule that says a replay is the user's gradient.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..reference.backprop import backprop

__all__ = ["MATCH", "REGISTRY", "Hypothesis", "Mistake", "close", "register"]

#: Relative distance (in norm) under which two gradients count as the same.
MATCH = 1e-7


def close(x, y):
    """Whether x and y are the same gradient: ‖x − y‖ ≤ MATCH·max(‖x‖, ‖y‖), taken at the scale of their largest
    entry (gradients near 1e308 would overflow the norms)."""
    with np.errstate(invalid="ignore", over="ignore"):
        scale = max(float(np.max(np.abs(x), initial=0.0)), float(np.max(np.abs(y), initial=0.0)))
        if not np.isfinite(scale) or scale == 0.0:
            return bool(np.array_equal(x, y))
        x, y = np.asarray(x) / scale, np.asarray(y) / scale
        return bool(np.linalg.norm(x - y) <= MATCH * max(np.linalg.norm(y), np.linalg.norm(x), 1e-300))


class Mistake:
    """The interface every known mistake implements.

    ``key`` names it; ``local`` says how the search replays it (see the module docstring);
    ``site`` is the step of the backward pass a local mistake replaces (None for a layer
    replay). ``applies(spec, ly)`` says where it can happen, ``text(spec, layers)`` is the
    sentence naming it at those layer indices, and ``swap(ly)`` is the layer a replay runs
    where the mistake is made (the layer itself for a site tweak).
    """

    # key, site, applies(spec, ly) and text(spec, layers) are each implementation's own fields or methods.
    local = True

    def swap(self, ly):
        return ly


#: Every registered mistake, in the order they are tried.
REGISTRY: list = []


def register(mistake):
    """Add a :class:`Mistake` to the registry (returns it)."""
    if not isinstance(mistake, Mistake):
        raise TypeError(f"register: expected a Mistake, got {type(mistake).__name__}")
    REGISTRY.append(mistake)
    return mistake


@dataclass
class Hypothesis:
    """Mistakes at given layers ({layer: [Mistake]}; a loss mistake at the output layer) and a scale c.

    :meth:`replay` runs the reference backprop with them: layers swapped where a layer replay
    is made, and the hypothesis itself as ``backprop(..., tweak=...)`` for the site tweaks when
    ``sites`` (always for the layer-by-layer search). ``c`` is the constant factor between the
    user's gradients and the replay (None when none was fitted); ``n`` the samples checked.
    """

    spec: object
    at: dict = field(default_factory=dict)
    c: float | None = None
    n: int = 1
    sites: bool = True

    def with_(self, layer, mistakes, c=None):
        return Hypothesis(self.spec, {**self.at, layer: list(mistakes)}, self.c if c is None else c, self.n,
                          self.sites)

    def mistakes(self):
        """[(layer, Mistake)] from the output layer down."""
        return [(i, m) for i in sorted(self.at, reverse=True) for m in self.at[i]]

    def replay(self, params, X, Y):
        """(C, grads) of the reference backprop with these mistakes made."""
        spec = self.spec
        swapped = tuple(self._swap(ly) for ly in spec.layers)
        if any(new is not old for new, old in zip(swapped, spec.layers)):
            spec = copy.copy(spec)
            object.__setattr__(spec, "layers", swapped)
        return backprop(spec, params, X, Y, tweak=self if self.sites else None)

    def _swap(self, ly):
        for m in self.at.get(ly.index, ()):
            ly = m.swap(ly)
        return ly

    def _site(self, layer, site):
        return next((m for m in self.at.get(layer, ()) if m.site == site), None)

    # the tweak interface of gradcheck.reference.backprop.backprop
    def loss_grad(self, da, a, Y):
        m = self._site(len(self.spec.layers) - 1, "loss")
        return m.fn(self.spec, da, a, Y) if m else da

    def act_grad(self, i):
        m = self._site(i, "delta")
        return m.fn if m else None

    def layer_input(self, i, fw):
        m = self._site(i, "input")
        return m.fn(fw, i) if m else fw.a_in[i]

    def grads(self, i, g):
        m = self._site(i, "grads")
        return m.fn(g, self.n) if m else g

    def carry(self, i, da_prev, delta, a_in, p):
        m = self._site(i, "carry")
        return m.fn(self.spec, i, da_prev, delta, a_in, p) if m else da_prev

    def __repr__(self):
        return f"Hypothesis({[(i, m.key) for i, m in self.mistakes()]}, c={self.c})"
