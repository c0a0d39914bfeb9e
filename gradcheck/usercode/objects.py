"""A layer object (numpy-ml, ML-From-Scratch style) as a layer check sees it.

The object has ``forward(X)`` and ``backward(dout)``; its parameters and their gradients
live in dicts at ``params``/``grads`` or ``parameters``/``gradients`` (or the attributes
named by ``params=``/``grads=``). Every evaluation runs on a fresh deep copy of the object
with the parameters under test put in place, so a cache, a step counter or gradients
accumulated with ``+=`` never carry over from one call to the next. State that does leak
(forward's result changes when it is called again on the same object) is named in a note.
"""

from __future__ import annotations

import copy
import inspect

import numpy as np

from . import calls, tensors
from .signature import ReturnError, split_outputs

__all__ = ["LayerObject", "is_layer_object"]

_PARAMS, _GRADS = ("params", "parameters"), ("grads", "gradients")


def is_layer_object(value):
    """An object with callable ``forward`` and ``backward`` (not a function)."""
    return not inspect.isroutine(value) and callable(getattr(value, "forward", None)) and \
        callable(getattr(value, "backward", None))


def _ready(layer, inputs, p_attr):
    """The layer to copy for every evaluation: initialised where its parameters are still None (numpy-ml creates
    them in the first forward call), and emptied of cached inputs and gradients (``flush_gradients()``)."""
    store = getattr(layer, p_attr, None) if p_attr else None
    lazy = isinstance(store, dict) and any(v is None for v in store.values())
    if not lazy and not callable(getattr(layer, "flush_gradients", None)):
        return layer
    layer = copy.deepcopy(layer)
    if lazy:
        try:
            layer.forward(*inputs)
        except Exception as e:
            from ..errors import describe_exception

            raise ValueError(f"check_layer: the layer's parameters are None until its first forward call, and that "
                             f"call raised {describe_exception(e)}") from None
    if callable(getattr(layer, "flush_gradients", None)):
        layer.flush_gradients()
    return layer


def _dict_attr(obj, given, defaults, what):
    names = (given,) if given else defaults
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, dict):
            return name
    if given:
        raise ValueError(f"check_layer: the layer has no dict attribute {given!r} ({what}=)")
    return None


def _douts_taken(method):
    """How many outputs backward takes a gradient for: its required positional arguments."""
    try:
        sig = inspect.signature(method)
    except (TypeError, ValueError):
        return 1
    return max(1, sum(1 for p in sig.parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty))


class LayerObject:
    """The small interface of :mod:`gradcheck.checks.layer` for a layer object evaluated at ``inputs``."""

    def __init__(self, layer, inputs, params=None, grads=None, names=None):
        self.p_attr = _dict_attr(layer, params, _PARAMS, "params")
        layer = self.layer = _ready(layer, inputs, self.p_attr)
        self.g_attr = _dict_attr(layer, grads, _GRADS, "grads")
        own = getattr(layer, self.p_attr) if self.p_attr else {}
        start = getattr(layer, self.g_attr) if self.g_attr else {}
        # Parameters with a gradient entry already are the trainable ones (running statistics are not).
        self.keys = [k for k, v in own.items() if isinstance(tensors.to_numpy(v), np.ndarray)
                     and tensors.to_numpy(v).dtype.kind == "f" and (not start or k in start)]
        if self.keys and self.g_attr is None:
            raise ValueError(f"check_layer: the layer keeps its parameters in .{self.p_attr} but has no dict of "
                             "gradients (.grads or .gradients); name it with grads=")
        self.inputs = list(inputs)
        x_names = _input_names(layer.forward, len(self.inputs))
        self.names = [*x_names, *map(str, self.keys)] if names is None else [str(n) for n in names]
        if len(self.names) != len(self.inputs) + len(self.keys):
            raise ValueError(f"check_layer: names has {len(self.names)} entries, expected "
                             f"{len(self.inputs) + len(self.keys)} ({', '.join([*x_names, *self.keys])})")
        self.arrays = [calls.to_float(tensors.to_numpy(v), "check_layer", nm) for v, nm in zip(self.inputs, x_names)]
        self.arrays += [calls.to_float(tensors.to_numpy(own[k]), "check_layer", f"{self.p_attr}[{k!r}]")
                        for k in self.keys]
        self.label_fn = type(layer)
        self.taken = _douts_taken(layer.backward)
        self.notes = []

    def _fresh(self, arrs):
        try:
            obj = copy.deepcopy(self.layer)
        except Exception:  # an object that cannot be copied deeply: its own dicts copied at least
            obj = copy.copy(self.layer)
            for attr in (self.p_attr, self.g_attr):
                if attr:
                    setattr(obj, attr, dict(getattr(self.layer, attr)))
        n = len(self.inputs)
        if self.p_attr:
            store = getattr(obj, self.p_attr)
            for k, arr in zip(self.keys, arrs[n:]):
                store[k] = tensors.like(arr, store[k])
        return obj, [tensors.like(a, v) for a, v in zip(arrs[:n], self.inputs)]

    def forward(self, arrs):
        obj, xs = self._fresh(arrs)
        outs, _ = split_outputs(obj.forward(*xs))
        return outs[:self.taken], obj

    def backward(self, douts, obj):
        like = self.inputs[0]
        got = obj.backward(*[tensors.like(d, like) for d in douts])
        got = list(got) if isinstance(got, (tuple, list)) else [got]
        store = getattr(obj, self.g_attr) if self.g_attr else {}
        missing = [k for k in self.keys if k not in store]
        if missing:
            raise ReturnError(f"backward left no gradient for {', '.join(map(repr, missing))} in "
                              f".{self.g_attr}")
        return [*got[:len(self.inputs)], *[tensors.to_numpy(store[k]) for k in self.keys]]

    def case_inputs(self):
        """(inputs, {input index: tensor name}) as the layer recogniser sees them: X, then the parameters."""
        return list(self.arrays), dict(enumerate(self.names))

    def traced(self, douts, obj):
        return obj.backward, tuple(douts)

    def leak(self):
        """A note when forward's result on one object changes from its first call to its second."""
        obj, xs = self._fresh(self.arrays)
        try:
            first = [np.array(tensors.to_numpy(o), dtype=float) for o in split_outputs(obj.forward(*xs))[0]]
            second = [np.array(tensors.to_numpy(o), dtype=float) for o in split_outputs(obj.forward(*xs))[0]]
        except Exception:
            return None
        if len(first) == len(second) and all(a.shape == b.shape and np.array_equal(a, b)
                                              for a, b in zip(first, second)):
            return None
        return (f"{type(self.layer).__name__}.forward gives a different result when called again on the same object: "
                "state leaks from one call to the next (a step counter, a cached input, a random state); every "
                "evaluation here ran on a fresh copy of the layer")


def _input_names(forward, n):
    try:
        params = [p for p in inspect.signature(forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i].name if i < len(params) else f"x{i}" for i in range(n)]
