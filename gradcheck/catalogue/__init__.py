"""The catalogue: every activation, loss and layer kind, each defined once, in a registry.

The shape tracer, the reference backprop, the finite differences and the SymPy
derivation all call the entries' methods; none of them repeats the maths, and no
module outside this package tests a kind's name: what it needs to know about a kind
(kinks, allowed positions, target ranges, printed names, applicable mistakes) is a
field of the kind's entry.

- :data:`ACTIVATIONS` (:mod:`.activations`): name -> :class:`Activation`;
- :data:`LOSSES` (:mod:`.losses`): name -> :class:`Loss`;
- :data:`LAYER_KINDS` (:mod:`.layers`): JSON ``type`` -> layer class;
- :data:`CONVENTIONS`, :data:`BIAS_STYLES` (:mod:`.conventions`): batch layouts and bias styles.

Adding a kind means adding one entry (an activation or loss) or one class (a layer)
in one place.
"""

from __future__ import annotations

from .activations import ACTIVATIONS, Activation
from .bias import BIAS_STYLES, BiasStyle
from .conventions import CONVENTIONS, Convention
from .layers import LAYER_KINDS
from .losses import LOSSES, Loss

__all__ = ["ACTIVATIONS", "LOSSES", "LAYER_KINDS", "CONVENTIONS", "BIAS_STYLES", "Activation", "Loss", "Convention",
           "BiasStyle"]
