"""Flatten: a batch of images (N, C, H, W) becomes a batch of vectors of C·H·W entries.

C order in the row convention, (N, C·H·W); its transpose, (C·H·W, N), in the column
convention. On a batch of vectors it changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Layer, Recorder

__all__ = ["Flatten"]


@dataclass(frozen=True, repr=False)
class Flatten(Layer):
    """(N, C, H, W) -> (N, C·H·W) (row) or (C·H·W, N) (column)."""

    kind = "flatten"
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
        flat = a_prev.reshape(*a_prev.shape[:-3], self.units)
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

