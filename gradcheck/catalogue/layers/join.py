"""Layers that join two or more inputs: ``add`` (a residual connection) and ``concat``.

    add:     z = a_1 + a_2 + … (same shapes)           ∂C/∂a_m = δ for every input m
    concat:  z = [a_1, a_2, …] along the feature axis   ∂C/∂a_m = δ's slice of input m

The feature axis is the unit axis for vectors (rows in the column convention, columns in
the row convention), the last axis of sequences (N, T, D) and the channel axis of images
(N, C, H, W). Both take their inputs from ``"inputs": ["name", ...]``; the graph (which
layer reads which) is the engine's, see :mod:`gradcheck.spec.graph`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from .base import Layer, Recorder, feature_axis
from .mistakes import KnownMistake, where

__all__ = ["Add", "Concat"]


def _size(shape):
    return "x".join(map(str, shape))


def _leading(arrays, ndim):
    """The broadcast stack axes of ``arrays`` whose own batch has ``ndim`` axes (finite differences stack
    perturbed networks in front of the ones a perturbation reaches)."""
    return np.broadcast_shapes(*(a.shape[:a.ndim - ndim] for a in arrays))


def _skip_dropped(m):
    def backward(ly, own, delta, cache, a_prev, params, conv, bias):
        grads, das = own(delta, cache, params)
        return grads, [np.zeros_like(d) if i == m else d for i, d in enumerate(das)]
    return backward


def _swapped_slices(ly, own, delta, cache, a_prev, params, conv, bias):
    grads, parts = own(delta, cache, params)
    return grads, parts[::-1]


def _source(ly, m):
    j = ly.inputs[m] if len(ly.inputs) > m else -1
    return "the network input" if j < 0 else f"layer {j}'s output"


def _at(ly, shape):
    return 0 if len(shape) != 2 else 1


@dataclass(frozen=True, repr=False)
class _Join(Layer):
    keys: ClassVar[dict] = {}
    multi_input = True
    complex_step = True
    symbolic_dense = True
    joiner: ClassVar[str] = ", "
    #: One sample's shape of each input, in the order of ``inputs``.
    in_shapes: tuple = ()

    def describe(self):
        joined = self.joiner.join(map(_size, self.in_shapes))
        return f"{self.kind} {joined} -> {_size(self.out_shape)}"

    @property
    def fan_in(self):
        return sum(int(np.prod(s)) for s in self.in_shapes)

    def backward_magnitude(self, size, cache, params, conv, bias, a_prev=None):
        return self.backward(size, cache, params, conv, bias)


@dataclass(frozen=True, repr=False)
class Add(_Join):
    """z = Σ_m a_m over same-shaped inputs: the gradient reaches every input whole."""

    kind = "add"
    joiner = " + "
    meanings: ClassVar[dict] = {"z": "the sum of the inputs"}
    mistakes = tuple(
        KnownMistake(f"input{m}_dropped", lambda ls, m=m: (
            f"{where(ls)}: the gradient does not reach inputs[{m}] ({_source(ls[0], m)}) directly; an add passes δ to "
            "every input whole, so that input's gradient is δ plus what reaches it along its other paths (for a "
            "residual h + f(h): dh = df·∂f/∂h + dr, the skip path's dr added)"), _skip_dropped(m))
        for m in (0, 1))

    @classmethod
    def build(cls, read, index, in_shapes, bias):
        first = tuple(in_shapes[0])
        for m, shape in enumerate(in_shapes[1:], 1):
            if tuple(shape) != first:
                raise SpecError(f"{read.path}.inputs", f"add layer {index} needs inputs of one shape, but "
                                                       f"inputs[0] gives {_size(first)} and inputs[{m}] gives "
                                                       f"{_size(shape)}", read.source)
        return cls(index, first, first, in_shapes=tuple(tuple(s) for s in in_shapes))

    def forward(self, params, a_prev, conv, bias, tape=None):
        z = a_prev[0]
        for a in a_prev[1:]:
            z = z + a
        names = {f"a_prev{m}": a for m, a in enumerate(a_prev)}
        return Recorder(tape, "forward")("z", " + ".join(names), z, **names), None

    def backward(self, delta, cache, params, conv, bias, tape=None):
        rec = Recorder(tape, "backward")
        return {}, [rec(f"da_prev{m}", "delta", delta, delta=delta) for m in range(len(self.in_shapes))]

    def symbolic_z(self, params, a_prev, conv, bias):
        """One sample's flat lists, one per input, added entry by entry."""
        return [sum(entries) for entries in zip(*a_prev)]


@dataclass(frozen=True, repr=False)
class Concat(_Join):
    """z = the inputs joined along the feature axis; its backward splits δ at the same offsets."""

    kind = "concat"
    meanings: ClassVar[dict] = {"z": "the inputs joined along the feature axis"}
    mistakes = (
        KnownMistake("slices_swapped", lambda ls: (
            f"{where(ls)}: δ is split at the wrong offset, each input getting another input's slice (the first "
            "input's gradient is δ's last block); split where the forward pass joined, in the order of \"inputs\": "
            "np.split(delta, np.cumsum(sizes)[:-1], axis=feature axis)"),
            _swapped_slices, applies=lambda ly: len(set(ly.in_shapes)) == 1),
    )

    @classmethod
    def build(cls, read, index, in_shapes, bias):
        shapes = [tuple(s) for s in in_shapes]
        at = _at(None, shapes[0])
        rest = [s[:at] + s[at + 1:] for s in shapes]
        for m, shape in enumerate(shapes[1:], 1):
            if len(shape) != len(shapes[0]) or rest[m] != rest[0]:
                raise SpecError(f"{read.path}.inputs", f"concat layer {index} joins inputs along the feature axis; "
                                                       f"the other axes must agree, but inputs[0] gives "
                                                       f"{_size(shapes[0])} and inputs[{m}] gives {_size(shape)}",
                                read.source)
        out = list(shapes[0])
        out[at] = sum(s[at] for s in shapes)
        return cls(index, shapes[0], tuple(out), in_shapes=tuple(shapes))

    def _axis(self, conv):
        return feature_axis(self.out_shape, conv)

    def forward(self, params, a_prev, conv, bias, tape=None):
        ndim = len(self.out_shape) + 1
        lead = _leading(a_prev, ndim)
        parts = [np.broadcast_to(a, lead + a.shape[a.ndim - ndim:]) for a in a_prev]
        axis = self._axis(conv)
        names = {f"a_prev{m}": a for m, a in enumerate(a_prev)}
        z = np.concatenate(parts, axis=axis)
        return Recorder(tape, "forward")("z", f"np.concatenate([{', '.join(names)}], axis={axis})", z, **names), None

    def backward(self, delta, cache, params, conv, bias, tape=None):
        sizes = [s[_at(self, s)] for s in self.in_shapes]
        rec = Recorder(tape, "backward")
        cuts, axis = [int(c) for c in np.cumsum(sizes)[:-1]], self._axis(conv)
        parts = np.split(delta, cuts, axis=axis)
        return {}, [rec(f"da_prev{m}", f"np.split(delta, {cuts}, axis={axis})[{m}]", d, delta=delta)
                    for m, d in enumerate(parts)]

    def symbolic_z(self, params, a_prev, conv, bias):
        """One sample's flat lists joined: channel blocks follow each other for images and vectors; a sequence
        joins each step's features."""
        if len(self.out_shape) != 2:
            return [e for part in a_prev for e in part]
        steps = self.out_shape[0]
        widths = [s[1] for s in self.in_shapes]
        return [e for t in range(steps) for part, d in zip(a_prev, widths) for e in part[t * d:(t + 1) * d]]
