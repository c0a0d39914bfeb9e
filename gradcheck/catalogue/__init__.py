"""The catalogue: every activation, loss, layer kind, convention and bias style, each defined once, in a registry.

The shape tracer, the reference backprop, the finite differences, the SymPy derivation,
the diagnosis and the renderers all ask the entries; none of them repeats the maths, and
no module outside this package tests a kind's, convention's or bias style's name
(``tests/test_layout.py`` fails listing any that does): what it needs to know is a field
or method of the entry.

- :data:`ACTIVATIONS` (:mod:`.activations`): name -> :class:`Activation`;
- :data:`LOSSES` (:mod:`.losses`): name -> :class:`Loss`;
- :data:`LAYER_KINDS` (:mod:`.layers`): JSON ``type`` -> layer class;
- :data:`CONVENTIONS` (:mod:`.conventions`): name -> :class:`Convention`;
- :data:`BIAS_STYLES` (:mod:`.bias`): name -> :class:`BiasStyle` (``SEPARATE``, ``NONE``, ``AUGMENTED``).

A kind's facts, each beside its maths: kinks and what they are in words (``kinks``,
``kink_text``, a layer's ``kink_state``, ``on_kink`` and ``kink_texts``), where it may stand and what
it suits (an activation's ``last_only``, ``losses``, ``output_range``; a loss's
``output``, ``target_range``), its known mistakes (a layer's ``mistakes``, replayed and
named by :mod:`gradcheck.diagnose`), shape hints for its own params (``shape_hint``), the
unit an element feeds (``units_of``, ``unit_word``), its local fact in derivation reports
(``conv_fact``, ``pool_fact``, ``fact_text``), how it prints (``describe``, ``meanings``,
``text_head``).

Adding an activation or a loss is one entry in its registry. Adding a layer kind is one
module in ``layers/`` (plus its tests):

1. subclass :class:`~.layers.base.Layer` with ``kind`` (its JSON ``type``), ``keys`` and
   ``params``; importing the module registers it (every module of ``layers/`` is imported);
2. implement ``build``, ``param_shapes``/``init`` (if it has params), ``forward`` and
   ``backward``, and ``describe``; optionally ``symbolic_z`` (the SymPy opinion),
   ``kink_state`` and ``kink_text`` (if it is not differentiable everywhere),
   ``complex_step``, ``shape_hint``, ``units_of`` (see :mod:`.layers.base`);
3. list its known mistakes in ``mistakes``: :class:`~.layers.mistakes.KnownMistake` entries
   whose backward is built from the layer's own (``own``), with the sentence that names them;
4. tests: its forward and backward against finite differences (``tests/test_layers.py``),
   its bad input (``tests/test_layer_specs.py``) and a wrong backprop for each mistake that
   the diagnosis must name (``tests/test_diagnose_layers.py``).
"""

from __future__ import annotations

from .activations import ACTIVATIONS, Activation
from .bias import AUGMENTED, BIAS_STYLES, NONE, SEPARATE, BiasStyle
from .conventions import CONVENTIONS, Convention
from .layers import LAYER_KINDS
from .losses import LOSSES, Loss

__all__ = ["ACTIVATIONS", "LOSSES", "LAYER_KINDS", "CONVENTIONS", "BIAS_STYLES", "Activation", "Loss", "Convention",
           "BiasStyle", "SEPARATE", "NONE", "AUGMENTED"]
