"""Hypothesis strategies for graphs (named layers, ``add``, ``concat``) and sequences (N, T, D) in net.json.

Reached through :mod:`gradcheck.strategies` (``from gradcheck.strategies import graph_specs``). Every
example is a valid spec that the three-way check passes with the reference backprop; with params and
data filled in (``*_networks``) it is a complete net.json a property test can hand to
:func:`~gradcheck.checks.network.check_network`.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..catalogue import ACTIVATIONS, CONVENTIONS
from .once import booleans, integers, sampled_from
from .specs import _choose, _positive

__all__ = ["graph_networks", "graph_specs", "sequence_networks", "sequence_specs"]

_OUTPUTS = {"mse": "linear", "quadratic": "tanh", "cross_entropy": "softmax"}


def _hidden(smooth):
    return sorted(a for a, act in ACTIVATIONS.items()
                  if not act.last_only and not act.identity and not (smooth and act.kinks))


def _output(draw, max_units):
    loss = draw(sampled_from(sorted(_OUTPUTS)))
    act = _OUTPUTS[loss]
    return loss, {"units": draw(integers(ACTIVATIONS[act].min_units, max(2, max_units))), "activation": act}


def graph_specs(max_units=4, max_input=4, conventions=None, smooth=False, max_batch=4):
    """Strategy for networks that are not chains: a residual block (``add`` of a layer and a layer above it,
    one or two layers deep) or a ``concat`` of the input (or a hidden layer) with a hidden layer, then a dense
    output layer.

    >>> from hypothesis import given, settings
    >>> from gradcheck import load_spec
    >>> @settings(max_examples=5, deadline=None)
    ... @given(graph_specs())
    ... def test(raw):
    ...     assert not load_spec(raw).is_chain
    >>> test()
    """
    _positive("graph_specs", max_units=max_units, max_input=max_input, max_batch=max_batch)
    convs = (sorted(CONVENTIONS) if conventions is None else
             _choose(conventions, CONVENTIONS, "conventions", "graph_specs"))
    acts = _hidden(smooth)

    @st.composite
    def build(draw):
        units = draw(integers(1, max_units))
        act = st.sampled_from(acts)
        layers = [{"units": units, "activation": draw(act), "name": "h"}]
        depth = draw(integers(1, 2))
        for d in range(depth):
            layers.append({"units": units, "activation": draw(act), "name": f"f{d}"})
        if draw(booleans()):
            layers.append({"type": "add", "inputs": ["h", f"f{depth - 1}"], "name": "r"})
        else:
            first = draw(sampled_from(["input", "h"])) if depth == 1 else "h"
            layers.append({"type": "concat", "inputs": [first, f"f{depth - 1}"], "name": "c"})
        loss, out = _output(draw, max_units)
        return {"name": "graph", "input": draw(integers(1, max_input)), "layers": [*layers, out], "loss": loss,
                "convention": draw(sampled_from(convs)), "batch": draw(integers(1, max_batch)),
                "seed": draw(integers(0, 2**16))}

    return build()


def sequence_specs(max_steps=3, max_features=3, max_units=4, conventions=None, smooth=False, max_batch=4):
    """Strategy for networks on sequences ``{"steps": T, "features": D}``: a dense layer per step, then either
    ``flatten`` and a dense output layer, or a per-step output (softmax with the temporal cross-entropy, or
    linear with mse)."""
    _positive("sequence_specs", max_steps=max_steps, max_features=max_features, max_units=max_units,
              max_batch=max_batch)
    convs = (sorted(CONVENTIONS) if conventions is None else
             _choose(conventions, CONVENTIONS, "conventions", "sequence_specs"))
    acts = _hidden(smooth)

    @st.composite
    def build(draw):
        layers = [{"units": draw(integers(1, max_units)), "activation": draw(sampled_from(acts))}]
        loss, out = _output(draw, max_units)
        if draw(booleans()):
            layers.append({"type": "flatten"})
        return {"name": "sequence", "input": {"steps": draw(integers(1, max_steps)),
                                              "features": draw(integers(1, max_features))},
                "layers": [*layers, out], "loss": loss, "convention": draw(sampled_from(convs)),
                "batch": draw(integers(1, max_batch)), "seed": draw(integers(0, 2**16))}

    return build()


def _filled(specs, masked=False):
    from .. import load_spec
    from .specs import complete, data_for, params_for

    @st.composite
    def build(draw):
        raw = draw(specs)
        spec = load_spec(raw)
        params = draw(params_for(spec))
        X, Y = draw(data_for(spec))
        mask = {}
        if masked and len(spec.output_shape) == 2:
            n, t = Y.shape[:2]
            mask["mask"] = np.asarray(draw(st.lists(st.integers(0, 1), min_size=n * t, max_size=n * t))
                                      ).reshape(n, t).tolist()
        return complete(raw, params, X, Y, **mask)

    return build()


def graph_networks(**options):
    """:func:`graph_specs` with params and data filled in."""
    return _filled(graph_specs(**options))


def sequence_networks(masked=True, **options):
    """:func:`sequence_specs` with params and data filled in; a per-step output gets a random ``data.mask``
    (``masked``)."""
    return _filled(sequence_specs(**options), masked)
