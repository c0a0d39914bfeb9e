"""Calling the user's functions: their inputs as float arrays, what they return as gradients, one-line problems.

:func:`~gradcheck.checks.function.check_function` and :func:`~gradcheck.checks.function.check_layer` take
``x`` as one array, a tuple/list of arrays or a dict of arrays, and a gradient returned in
the same structure (a layer's backward: one gradient per array input of forward). A wrong
structure, a wrong shape (with a hint why), a NaN or an exception becomes one line naming
the input, never a traceback.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import describe_exception
from ..numeric.methods import names

__all__ = ["check_method_argument", "label", "to_float", "inputs", "gradients",
           "element", "gradient_shape_hint", "failure", "NotScalarError", "scalar"]


def check_method_argument(fn, method):
    if method not in names():
        raise ValueError(f"{fn}: method={method!r}; expected one of {', '.join(map(repr, names()))}")


def label(fn, default):
    n = getattr(fn, "__name__", None)
    return n if n and n != "<lambda>" else default


def to_float(value, fn, where):
    try:
        arr = np.asarray(value)
    except ValueError:
        raise ValueError(f"{fn}: {where} is ragged (lists of different lengths), not an array; pass arrays, or a "
                         "tuple/list/dict of arrays (nested lists of arrays work too)") from None
    if arr.dtype.kind == "c":
        raise TypeError(f"{fn}: {where} is complex; gradcheck checks real-valued functions of real inputs")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {where} must be a numeric array, got {type(value).__name__}"
                        + (f" of {arr.dtype}" if isinstance(value, np.ndarray) else "")
                        + "; pass numbers, e.g. np.array([...], dtype=float)")
    return np.array(arr, dtype=np.float64)


def inputs(fn, x):
    """(kind, names, float64 arrays, rebuild) for one array, a tuple/list of arrays or a dict."""
    if isinstance(x, dict) and any(isinstance(v, (tuple, list)) and _holds_array(v) for v in x.values()):
        leaves = [leaf for k in x for leaf in _leaves(x[k], str(k))]  # {"weights": [W0, W1]}: weights[0], ...
        keys = list(x)
        return ("dict", [nm for nm, _ in leaves], [to_float(v, fn, f"x[{nm!r}]") for nm, v in leaves],
                lambda arrs: dict(zip(keys, _rebuild([x[k] for k in keys], iter(arrs)))))
    if isinstance(x, dict):
        keys = list(x)
        return ("dict", [str(k) for k in keys], [to_float(x[k], fn, f"x[{k!r}]") for k in keys],
                lambda arrs: dict(zip(keys, arrs)))
    if isinstance(x, (tuple, list)) and _holds_array(x):
        leaves = list(_leaves(x, "x"))
        return ("sequence", [nm for nm, _ in leaves], [to_float(v, fn, nm) for nm, v in leaves],
                lambda arrs: _rebuild(x, iter(arrs)))
    return "single", ["x"], [to_float(x, fn, "x")], lambda arrs: arrs[0]


def _nesting(who, why):
    return f"{who} returned {why} (one gradient per array of x, in the same nesting)"


def _holds_array(v):
    """An ndarray, or a tuple/list with one somewhere inside (Nielsen's ``(biases, weights)``, lists per layer)."""
    return isinstance(v, np.ndarray) or (isinstance(v, (tuple, list)) and any(_holds_array(e) for e in v))


def _leaves(v, path):
    """(name, value) of every array of a nested tuple/list, depth first: ``x[0][1]``."""
    if isinstance(v, (tuple, list)) and _holds_array(v):
        for i, e in enumerate(v):
            yield from _leaves(e, f"{path}[{i}]")
    else:
        yield path, v


def _rebuild(template, arrs):
    if isinstance(template, (tuple, list)) and _holds_array(template):
        kind = type(template) if type(template) in (tuple, list) else tuple
        return kind(_rebuild(e, arrs) for e in template)
    return next(arrs)


def _like(out, template, path="x"):
    """``out``'s entries in the order of ``template``'s arrays, or (None, why) where its structure differs."""
    if not (isinstance(template, (tuple, list)) and _holds_array(template)):
        return [out], None
    if not isinstance(out, (tuple, list)) or len(out) != len(template):
        got = f"{len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__
        return None, f"{got} at {path}; expected {len(template)}, as in x"
    entries = []
    for i, (o, t) in enumerate(zip(out, template)):
        sub, why = _like(o, t, f"{path}[{i}]")
        if why:
            return None, why
        entries += sub
    return entries, None


def gradients(out, x, names, arrays, who, kind, out_shape=None, returned=None):
    """What ``who`` returned -> (list of float arrays or None, {name: problem}, [structure problems]).

    ``kind`` is how the inputs were given: "single", "sequence", "dict" or "layer". ``returned``, a dict, gets
    the shape each gradient was returned in where it differs from its input's (a (1, n) row is compared as (n,)).
    """
    n = len(arrays)
    shown = ["d" + nm for nm in names] if kind == "layer" else names
    if kind == "dict":
        if not isinstance(out, dict):
            return [None] * n, {}, [f"{who} returned {type(out).__name__}; expected a dict with the keys of x "
                                    f"({', '.join(map(repr, x))})"]
        unexpected = [k for k in out if k not in x]
        structure = [f"{who} returned unexpected key(s) {', '.join(map(repr, unexpected))}; x has "
                     f"{', '.join(map(repr, x))}"] if unexpected else []
        entries = [out.get(k) for k in x]
        if len(entries) != n:  # nested values: one entry per array, in x's nesting
            entries, why = _like(entries, [x[k] for k in x])
            if why:
                return [None] * n, {}, [*structure, _nesting(who, why)]
    elif kind == "sequence" and x is not None and any(isinstance(v, (tuple, list)) for v in x):
        entries, why = _like(out, x)
        if why:
            return [None] * n, {}, [_nesting(who, why)]
        structure = []
    elif kind in ("sequence", "layer"):
        if not isinstance(out, (tuple, list)) or len(out) != n:
            got = f"{len(out)} values" if isinstance(out, (tuple, list)) else type(out).__name__
            want = (f"a tuple ({', '.join(shown)}): one gradient per float array input of forward, in order (name "
                    "the inputs to differentiate with wrt= if some are data, e.g. a float mask)"
                    if kind == "layer" else f"a {type(x).__name__} of {n} arrays, one per input x[0], x[1], ... "
                    "in order")
            return [None] * n, {}, [f"{who} returned {got}; expected {want}"]
        entries, structure = list(out), []
    else:
        entries, structure = [out], []
    analytic, problems = [], {}
    for name, label, got, ref in zip(names, shown, entries, arrays):
        arr, problem = _one_gradient(got, ref.shape, name, label, who, out_shape)
        if returned is not None and got is not None and np.shape(got) != ref.shape:
            returned[label] = np.shape(got)
        analytic.append(arr)
        if problem:
            problems[name] = problem
    return analytic, problems, structure


def _one_gradient(got, shape, name, label, who, out_shape=None):
    """(float64 array or None, problem or None) for one returned gradient ``label`` of input ``name``."""
    if got is None:
        return None, f"{label}: {who} returned None; expected an array of shape {shape} (the shape of {name})"
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None, f"{label}: {who} returned {type(got).__name__}, not a numeric array of shape {shape}"
    if arr.shape != shape:
        hint = gradient_shape_hint(arr.shape, shape, out_shape)
        problem = (f"{label}: {who} returned shape {arr.shape}, expected {shape} (the shape of {name})"
                   f"{': ' + hint if hint else ''}")
        if _squeezed(arr.shape) == _squeezed(shape):  # a (1, n) for an (n,): its values still tell right from wrong
            return arr.reshape(shape), f"{problem}; its values are compared as {shape}"
        return arr, problem
    bad = ~np.isfinite(arr)
    if bad.any():
        return arr, (f"{label}: {int(bad.sum())} of {arr.size} elements {who} returned are NaN/Inf "
                     f"(first {element(label, bad)})")
    return arr, None


def _squeezed(shape):
    return tuple(d for d in shape if d != 1)


def element(name, mask):
    """``"x[1, 2]"`` for the first True of ``mask`` (``"x"`` for a 0-d mask)."""
    idx = np.argwhere(np.asarray(mask))[0]
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]" if len(idx) else name


def gradient_shape_hint(got, want, out_shape=None):
    """Why a gradient of shape ``got`` is not of shape ``want``; ``out_shape`` is dout's shape (layers only)."""
    if got != want and tuple(d for d in got if d != 1) == tuple(d for d in want if d != 1) and \
            len(got) > len(want):
        return (f"already summed, but with an extra axis of length 1 (keepdims=True?): drop it, "
                f".reshape({want}), or sum without keepdims")
    wrong_axes = _summed_axes(got, want, out_shape)
    if wrong_axes:
        return wrong_axes
    if len(got) == 2 and got == want[::-1]:
        return "it is the transpose (return .T, or swap the factors of the matrix product)"
    if len(got) == len(want) + 1 and got[1:] == want:
        return "one axis too many: sum over axis 0 (the batch)"
    if len(got) == len(want) + 1 and got[:-1] == want:
        return "one axis too many: sum over the last axis"
    if math.prod(got) == math.prod(want):
        return f"same number of elements, different layout: reshape to {want} (a flattened or column vector?)"
    return ""


def _summed_axes(got, want, out_shape):
    """"summed over the wrong axis …" when got and want both keep some of dout's axes, but different ones."""
    if out_shape is None or not got or len(got) != len(want) or len(got) >= len(out_shape):
        return ""

    def kept(shape):  # which axes of dout a sum that gives ``shape`` keeps (first match, in order)
        axes, start = [], 0
        for d in shape:
            hits = [ax for ax in range(start, len(out_shape)) if out_shape[ax] == d]
            if not hits:
                return None
            axes.append(hits[0])
            start = hits[0] + 1
        return axes

    k_got, k_want = kept(got), kept(want)
    if k_got is None or k_want is None or k_got == k_want:
        return ""
    summed = tuple(ax for ax in range(len(out_shape)) if ax not in k_want)
    axis = summed[0] if len(summed) == 1 else summed
    return (f"summed over the wrong axis: {got} keeps axis {', '.join(map(str, k_got))} of dout {tuple(out_shape)}; "
            f"sum over axis {axis} instead: dout.sum(axis={axis}) -> {want}")


def failure(exc, who, where):
    """One line for an exception raised while evaluating ``who`` (``where``: "at x itself", ...)."""
    if isinstance(exc, NotScalarError):
        return str(exc)
    return f"{who} raised {describe_exception(exc)} {where}"


class NotScalarError(TypeError):
    """f returned something other than one number; the message is the whole story."""


def scalar(value, who, complex_ok=False):
    if isinstance(value, tuple) and len(value) == 2 and np.ndim(value[0]) == 0 and np.ndim(value[1]) > 0:
        raise NotScalarError(f"{who} returned a tuple (loss, grad), as CS231n's softmax_loss does; {who} must "
                              "return the loss alone: pass grad=None to check the grad it returns, or wrap it as "
                              "lambda x: softmax_loss(x, y)[0]")
    arr = np.asarray(value)
    if complex_ok and arr.dtype.kind == "c" and arr.size == 1:
        return complex(arr.reshape(()))
    if arr.dtype.kind not in "biuf":
        raise NotScalarError(f"{who} must return one number (the loss), got {type(value).__name__}")
    if arr.size != 1:
        raise NotScalarError(f"{who} must return one number (the loss), got an array of shape {arr.shape}: "
                        "return its sum or mean")
    return float(arr.reshape(()))
