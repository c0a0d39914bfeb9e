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


def _method_names(obj):
    """("forward", "backward"), or ML-From-Scratch's ("forward_pass", "backward_pass"), or None."""
    for pair in (("forward", "backward"), ("forward_pass", "backward_pass")):
        if all(callable(getattr(obj, m, None)) for m in pair):
            return pair
    return None


def _fwd(obj):
    return getattr(obj, _method_names(obj)[0])


def _bwd(obj):
    return getattr(obj, _method_names(obj)[1])


def is_layer_object(value):
    """An object with callable ``forward`` and ``backward`` (or ``forward_pass`` and ``backward_pass``), not a
    function."""
    return not inspect.isroutine(value) and _method_names(value) is not None


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
            _fwd(layer)(*inputs)
        except Exception as e:
            from ..errors import describe_exception

            raise ValueError(f"check_layer: the layer's parameters are None until its first forward call, and that "
                             f"call raised {describe_exception(e)}") from None
    if callable(getattr(layer, "flush_gradients", None)):
        kept = copy.deepcopy(layer)
        layer.flush_gradients()
        if not _runs(layer, inputs) and _runs(kept, inputs):
            return kept  # flushing breaks it (numpy-ml's RNNCell empties its step counters): keep it unflushed
    return layer


def _runs(layer, inputs):
    """Whether forward and backward run on a copy of ``layer`` at ``inputs``."""
    try:
        obj = copy.deepcopy(layer)
        outs, _ = split_outputs(_fwd(obj)(*inputs))
        _bwd(obj)(*[np.ones(np.shape(tensors.to_numpy(o))) for o in outs[:_douts_taken(_bwd(obj))]])
    except Exception:
        return False
    return True


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
        self.slots = [_slot(v) for v in self.inputs]
        x_names = [nm for nm, v, slot in zip(_input_names(_fwd(layer), len(self.inputs)), self.inputs, self.slots)
                   for nm in _slot_names(nm, v, slot)]
        if not x_names and not self.keys:
            raise ValueError("check_layer: no float array to differentiate: the layer's inputs are integer or boolean "
                             "data (ids, masks) and it has no parameters with gradients")
        self.names = [*x_names, *map(str, self.keys)] if names is None else [str(n) for n in names]
        if len(self.names) != len(x_names) + len(self.keys):
            raise ValueError(f"check_layer: names has {len(self.names)} entries, expected "
                             f"{len(x_names) + len(self.keys)} ({', '.join([*x_names, *self.keys])})")
        given = [a for v, slot in zip(self.inputs, self.slots) if slot != "data"
                 for a in (v if slot == "list" else [v])]
        self.n_x = len(given)
        self.arrays = [calls.to_float(tensors.to_numpy(v), "check_layer", nm) for v, nm in zip(given, x_names)]
        self.arrays += [calls.to_float(tensors.to_numpy(own[k]), "check_layer", f"{self.p_attr}[{k!r}]")
                        for k in self.keys]
        self.label_fn = type(layer)
        self.taken = _douts_taken(_bwd(layer))
        self.notes = [] if self.p_attr or not _float_attrs(layer) else [
            f"only the input's gradient is checked: {type(layer).__name__} keeps its parameters "
            f"({', '.join(_float_attrs(layer))}) in no dict of parameters and gradients (.params/.grads or "
            ".parameters/.gradients; name them with params=/grads=)"]

    def _fresh(self, arrs):
        try:
            obj = copy.deepcopy(self.layer)
        except Exception:  # an object that cannot be copied deeply: its own dicts copied at least
            obj = copy.copy(self.layer)
            for attr in (self.p_attr, self.g_attr):
                if attr:
                    setattr(obj, attr, dict(getattr(self.layer, attr)))
        n = self.n_x
        if self.p_attr:
            store = getattr(obj, self.p_attr)
            for k, arr in zip(self.keys, arrs[n:]):
                store[k] = tensors.like(arr, store[k])
        it = iter(arrs[:n])
        xs = [v if slot == "data" else [tensors.like(next(it), u) for u in v] if slot == "list"
              else tensors.like(next(it), v) for v, slot in zip(self.inputs, self.slots)]
        return obj, xs

    def forward(self, arrs):
        obj, xs = self._fresh(arrs)
        outs, _ = split_outputs(_fwd(obj)(*xs))
        return outs[:self.taken], obj

    def backward(self, douts, obj):
        like = next((v for v, slot in zip(self.inputs, self.slots) if slot == "array"), None)
        got = _bwd(obj)(*[tensors.like(d, like) if like is not None else d for d in douts])
        store = getattr(obj, self.g_attr) if self.g_attr else {}
        missing = [k for k in self.keys if k not in store]
        if missing:
            raise ReturnError(f"backward left no gradient for {', '.join(map(repr, missing))} in "
                              f".{self.g_attr}")
        return [*self._input_gradients(got), *[tensors.to_numpy(store[k]) for k in self.keys]]

    def _input_gradients(self, got):
        """backward's return value as one gradient per differentiated input array: dX, a list of dX for a list
        input (numpy-ml's Add), one entry per input for several; none for integer or boolean data."""
        wanted = [slot for slot in self.slots if slot != "data"]
        if not wanted:
            return []
        if len(self.slots) == 1:
            got = [got]
        elif not isinstance(got, (tuple, list)):
            got = [got]
        got = [g for g, slot in zip(got, self.slots) if slot != "data"] if len(got) == len(self.slots) else got
        out = []
        for g, slot, v in zip(got, wanted, [v for v, sl in zip(self.inputs, self.slots) if sl != "data"]):
            if slot == "list":
                g = list(g) if isinstance(g, (tuple, list)) else [g]
                out += (g + [None] * len(v))[:len(v)]
            else:
                out.append(g)
        return out

    def case_inputs(self):
        """(inputs, {input index: tensor name}) as the layer recogniser sees them: X (ids as given), then the
        parameters."""
        it, names = iter(self.arrays), iter(self.names)
        inputs, named = [], {}
        for v, slot in zip(self.inputs, self.slots):
            for _ in (v if slot == "list" else [v]):
                if slot != "data":
                    named[len(inputs)] = next(names)
                inputs.append(tensors.to_numpy(v) if slot == "data" else next(it))
        for arr in it:
            named[len(inputs)] = next(names)
            inputs.append(arr)
        return inputs, named

    def traced(self, douts, obj):
        return _bwd(obj), tuple(douts)

    def leak(self):
        """A note when forward's result on one object changes from its first call to its second."""
        obj, xs = self._fresh(self.arrays)
        try:
            start = np.random.get_state()  # every evaluation restarts NumPy's global random state: no leak
            first = [np.array(tensors.to_numpy(o), dtype=float) for o in split_outputs(_fwd(obj)(*xs))[0]]
            np.random.set_state(start)
            second = [np.array(tensors.to_numpy(o), dtype=float) for o in split_outputs(_fwd(obj)(*xs))[0]]
        except Exception:
            return None
        if len(first) == len(second) and all(a.shape == b.shape and np.array_equal(a, b)
                                              for a, b in zip(first, second)):
            return None
        method = f"{type(self.layer).__name__}.{_method_names(self.layer)[0]}"
        return (f"{method} gives a different result when called again on the same object: "
                "state leaks from one call to the next (a step counter, a cached input, a random state); every "
                "evaluation here ran on a fresh copy of the layer")


def _float_attrs(obj):
    return [k for k, v in vars(obj).items() if isinstance(v, np.ndarray) and v.dtype.kind == "f"][:4] \
        if hasattr(obj, "__dict__") else []


def _slot(value):
    """How an input reaches forward: "array" (differentiated), "list" (a list of arrays, each differentiated, as
    numpy-ml's Add and Multiply take) or "data" (integer or boolean ids and masks, passed through untouched)."""
    if isinstance(value, (list, tuple)) and value and all(isinstance(tensors.to_numpy(v), np.ndarray)
                                                          for v in value):
        return "list"
    arr = tensors.to_numpy(value)
    return "data" if isinstance(arr, np.ndarray) and arr.dtype.kind in "biu" else "array"


def _slot_names(name, value, slot):
    return [] if slot == "data" else [f"{name}[{j}]" for j in range(len(value))] if slot == "list" else [name]


def _input_names(forward, n):
    try:
        params = [p for p in inspect.signature(forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i].name if i < len(params) else f"x{i}" for i in range(n)]
