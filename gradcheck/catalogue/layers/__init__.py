"""Layer kinds: one class per kind, registered by its JSON ``type`` in :data:`LAYER_KINDS`.

See :mod:`.base` for the interface a kind implements. A subclass of :class:`Layer` with a
``kind`` of its own registers itself when its module is imported; every module of this
package is imported here, the built-in kinds first in the order they are listed (net.json
errors, strategies), so a new kind is one new module.
"""

from __future__ import annotations

import importlib
import pkgutil

from .activation import ActivationLayer
from .base import LAYER_KINDS, Layer
from .conv import Conv2d
from .dense import Dense
from .dropout import Dropout
from .flatten import Flatten
from .norm import BatchNorm, LayerNorm
from .pool import AvgPool2d, MaxPool2d

__all__ = ["LAYER_KINDS", "Layer", "Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "BatchNorm", "LayerNorm",
           "Dropout", "ActivationLayer"]

_ORDER = (Dense, Conv2d, MaxPool2d, AvgPool2d, Flatten, BatchNorm, LayerNorm, Dropout, ActivationLayer)

for _info in pkgutil.iter_modules(__path__):  # a kind added as a module of its own
    importlib.import_module(f"{__name__}.{_info.name}")

# The built-in kinds first, in this order; any other in the order its module was imported.
for _cls in [*_ORDER, *(c for c in LAYER_KINDS.values() if c not in _ORDER)]:
    LAYER_KINDS[_cls.kind] = LAYER_KINDS.pop(_cls.kind)
