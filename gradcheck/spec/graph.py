"""The graph of net.json: each layer's ``name`` and ``inputs``, resolved to the indices of earlier layers.

A layer takes the previous layer's output unless it names its ``inputs``: ``"input"`` is the
network input, any other string the ``name`` of an earlier layer. Layers run in the order
they are listed, so a network is always acyclic; the last layer is the output. Every
problem is a one-line :class:`~gradcheck.errors.SpecError` naming the layer.
"""

from __future__ import annotations

from ..errors import SpecError, suggest
from .keys import kind

__all__ = ["GRAPH_KEYS", "check_used", "layer_name", "resolve_inputs"]

#: Keys every layer may have besides its kind's own.
GRAPH_KEYS = {"name": None, "inputs": None}
#: The name of the network input in ``inputs``.
INPUT = "input"


def layer_name(raw, path, names, source):
    """The layer's ``name`` ("" without one), checked: a string, not "input", not taken by an earlier layer."""
    value = raw.get("name")
    if value is None:
        return ""
    if not isinstance(value, str) or not value:
        raise SpecError(f"{path}.name", f"expected a non-empty string, got {kind(value)}", source)
    if value == INPUT:
        raise SpecError(f"{path}.name", "'input' names the network input; choose another name", source)
    if value in names:
        raise SpecError(f"{path}.name", f"'{value}' is already the name of layers[{names[value]}]; names must be "
                                        "unique", source)
    return value


def resolve_inputs(raw, index, names, later, multi, source):
    """The indices (-1: the network input) a layer takes its inputs from.

    ``names`` maps the names of earlier layers to their indices and ``later`` the names of
    the layers after this one (named only to say why they cannot be used); ``multi``
    says whether the kind takes several inputs (``add``, ``concat``) or one.
    """
    path = f"layers[{index}].inputs"
    value = raw.get("inputs")
    if value is None:
        if multi:
            raise SpecError(f"layers[{index}]", f"a {raw.get('type')} layer needs \"inputs\": the names of the "
                                                "two or more layers it joins", source)
        return (index - 1,)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise SpecError(path, f"expected a list of layer names, got {kind(value)}", source)
    if multi and len(value) < 2:
        raise SpecError(path, f"a {raw.get('type')} layer joins two or more inputs, got {len(value)}", source)
    if not multi and len(value) != 1:
        raise SpecError(path, f"a {raw.get('type', 'dense')} layer takes one input, got {len(value)}; join them "
                              "first with {\"type\": \"add\"} or {\"type\": \"concat\"}", source)
    out = []
    for m, entry in enumerate(value):
        out.append(_source(entry, f"{path}[{m}]", index, names, later, source))
    return tuple(out)


def _source(entry, path, index, names, later, source):
    if not isinstance(entry, str):
        raise SpecError(path, f"expected a layer name or \"input\", got {kind(entry)}", source)
    if entry == INPUT:
        return -1
    if entry in names:
        return names[entry]
    if entry in later:
        raise SpecError(path, f"'{entry}' is layers[{later[entry]}], which comes after layers[{index}]: a layer "
                              "takes only earlier layers' outputs (that would be a cycle)", source)
    raise SpecError(path, f"no layer is named '{entry}'{suggest(entry, [INPUT, *names])}", source)


def check_used(layers, source):
    """Every layer but the last must feed a later one: an unused output is a mistake in the graph."""
    used = {j for ly in layers for j in ly.inputs}
    for ly in layers[:-1]:
        if ly.index not in used:
            label = f" ('{ly.name}')" if ly.name else ""
            raise SpecError(f"layers[{ly.index}]", f"layer {ly.index}{label} is used by no later layer (the last "
                                                   "layer is the output); name it in a later layer's \"inputs\" or "
                                                   "remove it", source)
