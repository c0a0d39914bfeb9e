"""A layer kind's known mistakes: wrong backward (or forward) passes the diagnosis replays and names.

Each kind lists its own in ``mistakes`` (a tuple of :class:`KnownMistake`), written in its
module next to the forward and backward they get wrong, from the layer's own facts (its
kernel, stride, window, normalised axes): the diagnosis (:mod:`gradcheck.diagnose`)
registers them and replays each by swapping the layer's backward for the mistaken one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["KnownMistake", "where"]


@dataclass(frozen=True)
class KnownMistake:
    """One mistake of a layer kind.

    ``backward(ly, own, delta, cache, a_prev, params, conv, bias) -> (grads, da_prev)`` replaces the
    layer's backward; ``own(delta, cache, params)`` is the layer's own. ``forward(ly, z, conv) -> z``
    (optional) changes the forward output (a flatten in the wrong order). ``text(layers)`` is the
    sentence naming the mistake at those layers (a list of configured layers); ``applies(ly)`` says
    where it can happen. ``configured(ly)`` (optional) is the layer as the mistaken code sets it up (a group
    norm's statistics over other groups): its forward and backward then stand in for the layer's.
    """

    key: str
    text: Callable
    backward: Callable
    forward: Callable | None = None
    applies: Callable = lambda ly: True
    configured: Callable | None = None

    def __repr__(self):
        return f"KnownMistake({self.key!r})"


def where(layers):
    """``conv2d layer 1`` or ``every conv2d layer (0, 2)``: the layers a sentence is about."""
    idx = [ly.index for ly in layers]
    kind = layers[0].kind
    return f"{kind} layer {idx[0]}" if len(idx) == 1 else f"every {kind} layer ({', '.join(map(str, idx))})"
