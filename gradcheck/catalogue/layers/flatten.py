"""Flatten: a batch of images (N, C, H, W) or sequences (N, T, D) becomes a batch of vectors of C·H·W (T·D)
entries.

C order in the row convention, (N, C·H·W); its transpose, (C·H·W, N), in the column
convention. On a batch of vectors it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Layer, Recorder
from .mistakes import KnownMistake, where

__all__ = ["Flatten"]


def _order(ly, order):
    """Permutation: entry m of a flatten in ``order`` ("fortran" or "channels_last") is entry order[m] of the C-order
    flatten."""
    idx = np.arange(ly.fan_in).reshape(ly.in_shape)
    return (idx.transpose(2, 1, 0) if order == "fortran" else idx.transpose(1, 2, 0)).ravel()


def _forward_in(order):
    def forward(ly, z, conv):
        return np.take(z, _order(ly, order), axis=conv.unit_axis)
    return forward


def _backward_in(order):
    def backward(ly, own, delta, cache, a_prev, params, conv, bias):
        return own(np.take(delta, np.argsort(_order(ly, order)), axis=conv.unit_axis), cache, params)
    return backward


def _image(ly):
    return len(ly.in_shape) == 3


MISTAKES = (
    KnownMistake("fortran", lambda ls: (
        f"{where(ls)} flattens in Fortran order (order='F', W fastest after the batch: the features come out "
        "as (W, H, C)); flatten in C order: a_prev.reshape(N, -1), and back with delta.reshape(N, C, H, W)"),
        _backward_in("fortran"), forward=_forward_in("fortran"), applies=_image),
    KnownMistake("channels_last", lambda ls: (
        f"{where(ls)} flattens channels-last (a_prev.transpose(0, 2, 3, 1), features as (H, W, C)); images "
        "are (N, C, H, W), so flatten in C order: a_prev.reshape(N, -1)"),
        _backward_in("channels_last"), forward=_forward_in("channels_last"), applies=_image),
    KnownMistake("unflatten_channels_last", lambda ls: (
        f"{where(ls)}: the backward pass reshapes δ channels-last (delta.reshape(N, H, W, C).transpose(0, 3, "
        "1, 2)) while the forward pass flattened in C order; undo the forward: delta.reshape(N, C, H, W)"),
        _backward_in("channels_last"), applies=_image),
)


@dataclass(frozen=True, repr=False)
class Flatten(Layer):
    """(N, C, H, W) -> (N, C·H·W) (row) or (C·H·W, N) (column)."""

    kind = "flatten"
    mistakes = MISTAKES
    complex_step = True
    meanings: ClassVar[dict] = {"z": "one vector of C·H·W entries per sample (C order)"}
    complex_step = True

    @classmethod
    def build(cls, read, index, in_shape, bias):
        size = 1
        for d in in_shape:
            size *= d
        formulas = (f"flatten {index}: {'·'.join(map(str, in_shape))} = {size}",) if len(in_shape) > 1 else ()
        return cls(index, tuple(in_shape), (size,), formulas=formulas)

    def forward(self, params, a_prev, conv, bias, tape=None):
        if len(self.in_shape) == 1:
            return Recorder(tape, "forward")("z", "a_prev", a_prev, a_prev=a_prev), None
        flat = a_prev.reshape(*a_prev.shape[:a_prev.ndim - len(self.in_shape)], self.units)
        if conv.samples_are_columns:
            z = Recorder(tape, "forward")("z", f"a_prev.reshape(-1, {self.units}).T", flat.swapaxes(-1, -2),
                                          a_prev=a_prev)
        else:
            z = Recorder(tape, "forward")("z", f"a_prev.reshape(-1, {self.units})", flat, a_prev=a_prev)
        return z, None

    def backward(self, delta, cache, params, conv, bias, tape=None):
        rec = Recorder(tape, "backward")
        if len(self.in_shape) == 1:
            return {}, rec("da_prev", "delta", delta, delta=delta)
        shape = ", ".join(map(str, self.in_shape))
        if conv.samples_are_columns:
            da = delta.swapaxes(-1, -2)
            return {}, rec("da_prev", f"delta.T.reshape(-1, {shape})", da.reshape(*da.shape[:-1], *self.in_shape),
                           delta=delta)
        return {}, rec("da_prev", f"delta.reshape(-1, {shape})", delta.reshape(*delta.shape[:-1], *self.in_shape),
                       delta=delta)

    def symbolic_z(self, params, a_prev, conv, bias):
        """The flat list of one sample is already its C-order flatten."""
        return list(a_prev)

