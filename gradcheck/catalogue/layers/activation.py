"""A standalone activation layer, CS231n style: ``{"type": "activation", "activation": "relu"}``.

z = a_prev and a = σ(z), on vectors or images; no params.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Layer, Recorder

__all__ = ["ActivationLayer"]


@dataclass(frozen=True, repr=False)
class ActivationLayer(Layer):
    """a = σ(a_prev), element by element (softmax: over the units of each sample, last layer only)."""

    symbolic_dense = True

    kind = "activation"
    complex_step = True
    keys: ClassVar[dict] = {"activation": ...}
    meanings: ClassVar[dict] = {"z": "z = a_prev (the activation's input)"}
    complex_step = True

    @classmethod
    def build(cls, read, index, in_shape, bias):
        return cls(index, tuple(in_shape), tuple(in_shape), read.activation())

    def describe(self):
        return f"activation {self.act.label} on {'x'.join(map(str, self.in_shape))}"

    @property
    def rowwise(self):
        """True on vectors: unit j's z is unit j's input (see :meth:`row_change`)."""
        return len(self.in_shape) == 1

    def row_change(self, params, unit, x_row, conv):
        """z of units ``unit`` (P,) whose inputs over the batch are ``x_row`` (P, N): the same rows."""
        return x_row

    def forward(self, params, a_prev, conv, bias, tape=None):
        return Recorder(tape, "forward")("z", "a_prev", a_prev, a_prev=a_prev), None

    def backward(self, delta, cache, params, conv, bias, tape=None):
        return {}, Recorder(tape, "backward")("da_prev", "delta", delta, delta=delta)

    def symbolic_z(self, params, a_prev, conv, bias):
        """z = a_prev (the activation is applied to z after this)."""
        return list(a_prev)

