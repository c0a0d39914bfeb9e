"""Layer kinds: one class per kind, registered by its JSON ``type`` in :data:`LAYER_KINDS`."""

from __future__ import annotations

from .dense import Dense

__all__ = ["LAYER_KINDS", "Dense"]

LAYER_KINDS = {layer.kind: layer for layer in (Dense(),)}
