"""The network input of net.json (a number of features, an image, a sequence or token ids) and the way a
spec's input and layers are written back to JSON."""

from __future__ import annotations

from ..catalogue.layers.base import Tokens
from ..errors import SpecError
from .keys import check_keys, whole

__all__ = ["input_json", "layers_json", "parse_input"]


def input_json(shape):
    """The net.json ``input`` of one sample's input shape."""
    if isinstance(shape, Tokens):
        return {"steps": shape[0], "vocab": shape.vocab}
    if isinstance(shape, tuple) and len(shape) == 2:
        return {"steps": shape[0], "features": shape[1]}
    return list(shape) if isinstance(shape, tuple) else shape


def layers_json(layers):
    """The net.json ``layers``, each with its ``name`` and, where it does not take the previous layer's output,
    its ``inputs``."""
    names = {ly.index: ly.name for ly in layers}
    out = []
    for ly in layers:
        raw = ly.to_json()
        if ly.name:
            raw["name"] = ly.name
        if ly.inputs != (ly.index - 1,):
            raw["inputs"] = [names[j] if j >= 0 else "input" for j in ly.inputs]
        out.append(raw)
    return out


def _sequence_input(value, source):
    """``input``: {"steps": T, "features": D} (a sequence) or {"steps": T, "vocab": V} (token ids)."""
    check_keys(value, {"steps": ..., "features": None, "vocab": None}, "input", source)
    steps = whole(value["steps"], "input.steps", source)
    if ("features" in value) == ("vocab" in value):
        raise SpecError("input", "expected {\"steps\": T, \"features\": D} (a sequence) or {\"steps\": T, "
                                 "\"vocab\": V} (token ids), one of features and vocab", source)
    if "vocab" in value:
        return Tokens(steps, whole(value["vocab"], "input.vocab", source))
    return steps, whole(value["features"], "input.features", source)


def parse_input(value, source):
    """``input``: a whole number (features), [C, H, W] (an image), or a sequence object (see
    :func:`_sequence_input`)."""
    if isinstance(value, dict):
        return _sequence_input(value, source)
    if isinstance(value, list):
        if len(value) != 3:
            raise SpecError("input", f"expected a whole number (features) or [C, H, W] (an image), got a list of "
                                     f"{len(value)}", source)
        return tuple(whole(v, f"input[{i}]", source) for i, v in enumerate(value))
    return whole(value, "input", source)
