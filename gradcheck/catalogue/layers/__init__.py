"""Layer kinds: one class per kind, registered by its JSON ``type`` in :data:`LAYER_KINDS`.

See :mod:`.base` for the interface a kind implements.
"""

from __future__ import annotations

from .activation import ActivationLayer
from .base import Layer
from .conv import Conv2d
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .norm import BatchNorm, LayerNorm
from .pool import AvgPool2d, MaxPool2d

__all__ = ["LAYER_KINDS", "Layer", "Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "BatchNorm", "LayerNorm",
           "Dropout", "ActivationLayer"]

#: JSON ``type`` -> layer class.
LAYER_KINDS = {cls.kind: cls for cls in (Dense, Conv2d, MaxPool2d, AvgPool2d, Flatten, BatchNorm, LayerNorm, Dropout,
                                         ActivationLayer)}
