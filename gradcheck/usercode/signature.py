"""A layer function's inputs and outputs as the user wrote them: which arguments are differentiated, their names,
and what forward returned.

CS231n and numpy-ml write ``forward(x, *params)`` returning ``out``, ``(out, cache)`` or
``(out_1, …, out_k, cache)`` (``lstm_step_forward`` returns ``next_h, next_c, cache``), and
``backward(dout_1, …, dout_k, cache)`` returning one gradient per differentiable argument, in
order. Float arrays are differentiated; integer and boolean arrays (token ids, masks) and
anything that is not an array (a ``conv_param`` dict, an int) pass through untouched and get no
gradient. ``wrt=`` (names or positions) says which arguments are differentiated instead.
Names come from forward's own signature (``x``, ``prev_h``, ``Wx``; ``params[0]`` for ``*params``).
"""

from __future__ import annotations

import inspect

import numpy as np

from . import calls, tensors

__all__ = ["ReturnError", "Signature", "split_outputs"]


class ReturnError(calls.NotScalarError):
    """What the user's code returned has the wrong structure; the message is the whole story (no location)."""


def split_outputs(res):
    """forward's return value -> (list of outputs, cache or None): ``out``, ``(out, cache)``, ``(out_1, …, cache)``."""
    if isinstance(res, tuple):
        if len(res) == 0:
            raise ReturnError("forward returned an empty tuple; expected out, (out, cache) or (out_1, …, out_k, cache)")
        if len(res) == 1:
            return [res[0]], None
        return list(res[:-1]), res[-1]
    return [res], None


def _is_passthrough(value):
    """Integer and boolean arrays (ids, masks) and non-arrays are data, not inputs to differentiate."""
    if tensors.is_tensor(value):
        return not tensors.is_float(value)
    return not isinstance(value, np.ndarray) or value.dtype.kind in "biu"


def _arg_names(forward, n):
    """The name of each of forward's ``n`` positional arguments, from its signature."""
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    names, star = [], None
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            star = p.name
            break
    out = names[:n]
    for i in range(len(out), n):
        out.append(f"{star}[{i - len(names)}]" if star else ("x" if i == 0 else f"arg{i}"))
    return out


class Signature:
    """forward's arguments: ``inputs`` as given, ``differentiated`` flags, ``names`` and float64 ``arrays`` of the
    differentiated ones."""

    def __init__(self, forward, inputs, names=None, wrt=None, who="check_layer"):
        self.inputs = list(inputs)
        self.torch = any(tensors.is_tensor(v) for v in self.inputs)
        all_names = _arg_names(forward, len(self.inputs))
        self.differentiated = self._which(all_names, wrt, who)
        self.arrays = [self._as_float(v, who, nm) for v, nm, d in zip(self.inputs, all_names, self.differentiated) if d]
        chosen = [nm for nm, d in zip(all_names, self.differentiated) if d]
        if names is not None:
            names = [str(v) for v in names]
            if len(names) != len(chosen):
                raise ValueError(f"{who}: names has {len(names)} entries, expected {len(chosen)} "
                                 f"(one per differentiated input: {', '.join(chosen)})")
            chosen = names
        self.names = chosen

    def _which(self, all_names, wrt, who):
        if wrt is None:
            flags = [(i == 0 and not isinstance(v, np.ndarray) and not tensors.is_tensor(v))
                     or not _is_passthrough(v) for i, v in enumerate(self.inputs)]
            if not any(flags):
                raise ValueError(f"{who}: no float array among the inputs ({', '.join(all_names)}) to differentiate; "
                                 "integer and boolean arrays pass through untouched: name the ones to differentiate "
                                 "with wrt=")
            return flags
        wanted = [wrt] if isinstance(wrt, (str, int)) else list(wrt)
        flags = [False] * len(self.inputs)
        for w in wanted:
            i = w if isinstance(w, int) else (all_names.index(w) if w in all_names else None)
            if i is None or not 0 <= i < len(self.inputs):
                raise ValueError(f"{who}: wrt names {w!r}, which is not one of forward's inputs "
                                 f"({', '.join(all_names)})")
            flags[i] = True
        return flags

    def _as_float(self, value, who, name):
        return calls.to_float(tensors.to_numpy(value), who, name)

    def call_args(self, arrs):
        """forward's arguments with ``arrs`` in place of the differentiated ones (as tensors where given as tensors)."""
        it = iter(arrs)
        return [self._like(next(it), v) if d else v for v, d in zip(self.inputs, self.differentiated)]

    def _like(self, arr, given):
        return tensors.like(arr, given) if tensors.is_tensor(given) else arr

    def default_cache(self):
        """The cache backward gets when forward returns none: forward's arguments as given."""
        return tuple(self.call_args([a.copy() for a in self.arrays]))
