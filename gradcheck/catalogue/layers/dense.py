"""The dense (fully connected) layer.

Conventions (``N`` samples, ``fan_in`` inputs, ``units`` outputs of the layer):

=========== ====================== ============== ================= ==========
convention  z                      W              a_prev, z, a       b
=========== ====================== ============== ================= ==========
column      z = W @ a_prev + b     (units, fan_in) (features, N)    (units,)
row         z = a_prev @ W + b     (fan_in, units) (N, features)    (units,)
=========== ====================== ============== ================= ==========

With ``bias="augmented"`` a constant 1 is appended to a_prev (a_in) and W gets one
more column (column convention) or row (row convention) holding the bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from .base import Layer, Recorder

__all__ = ["Dense"]


def _t(x):
    return np.swapaxes(x, -1, -2)


@dataclass(frozen=True, repr=False)
class Dense(Layer):
    """Fully connected layer: z = W·a_prev + b (column) or a_prev·W + b (row).

    Methods take ``conv`` (a :class:`~gradcheck.catalogue.Convention`) and ``bias`` (a
    :class:`~gradcheck.catalogue.BiasStyle`). Array methods accept leading stack axes on W, b and a_prev
    (used to evaluate many perturbed networks at once). ``tape``, when given, records
    every step with its operands' shapes; that record *is* the shape trace.
    """

    kind = "dense"
    keys: ClassVar[dict] = {"units": ..., "activation": "linear"}
    params = ("W", "b")
    weights = ("W",)
    meanings: ClassVar[dict] = {"b": "bias, one per unit", "z": "weighted input z"}
    complex_step = True
    folds = False

    @classmethod
    def build(cls, read, index, in_shape, bias):
        units = read.int("units")
        if len(in_shape) != 1:
            shape = "x".join(map(str, in_shape))
            raise SpecError(read.path, f"dense layer {index} needs a vector input, got a {shape} image; put "
                                       f"{{\"type\": \"flatten\"}} before it", read.source)
        return cls(index, tuple(in_shape), (units,), read.activation(), {"units": units})

    def describe(self):
        return f"dense {self.fan_in} -> {self.units}, {self.activation}"

    def param_shapes(self, conv, bias):
        """{"W": shape, "b": shape} (no "b" unless bias is "separate")."""
        fan_in, units = self.fan_in, self.units
        extra = 1 if bias.in_weights else 0
        shapes = {"W": conv.weight(units, fan_in + extra)}
        if bias.has_b:
            shapes["b"] = (units,)
        return shapes

    def param_layout(self, name, conv, bias):
        what = conv.weight_layout
        if bias.in_weights:
            what = what.replace("fan_in", "fan_in + 1")
        return f"{what if name == 'W' else '(units,)'} in the {conv.name} convention"

    def init(self, rng, conv, bias):
        """Reproducible params: W ~ N(0, 1/fan_in), b ~ N(0, 0.1²)."""
        fan_in, units = self.fan_in, self.units
        shapes = self.param_shapes(conv, bias)
        params = {"W": rng.normal(0.0, 1.0 / np.sqrt(fan_in), shapes["W"])}
        if bias.in_weights:  # the bias row/column gets the bias scale
            params["W"][self._bias_index(conv)] = rng.normal(0.0, 0.1, units)
        if "b" in shapes:
            params["b"] = rng.normal(0.0, 0.1, shapes["b"])
        return params

    def weight_mask(self, key, conv, bias):
        """An augmented W's bias line is a bias, not a weight: left out of a regularisation term."""
        if not bias.in_weights:
            return None
        mask = np.ones(self.param_shapes(conv, bias)[key], dtype=bool)
        mask[self._bias_index(conv)] = False
        return mask

    @staticmethod
    def _bias_index(conv):
        return (slice(None), -1) if conv.samples_are_columns else (-1, slice(None))

    def forward(self, params, a_prev, conv, bias, tape=None):
        """Return (z, a_in): z is (units, N) / (N, units); a_in is the input actually multiplied."""
        rec = Recorder(tape, "forward")
        W = params["W"]
        a_in = a_prev
        if bias.in_weights:
            ones = np.ones(a_prev.shape[:-2] + conv.batch(1, a_prev.shape[conv.sample_axis]))
            if conv.samples_are_columns:
                a_in = rec("a_in", "np.vstack([a_prev, ones])",
                           np.concatenate([a_prev, ones], axis=-2), a_prev=a_prev, ones=ones)
            else:
                a_in = rec("a_in", "np.hstack([a_prev, ones])",
                           np.concatenate([a_prev, ones], axis=-1), a_prev=a_prev, ones=ones)
        name = "a_in" if bias.in_weights else "a_prev"
        if conv.samples_are_columns:
            if bias.has_b:
                b = params["b"][..., :, None]
                z = rec("z", f"W @ {name} + b[:, None]", W @ a_in + b,
                        W=W, **{name: a_in}, **{"b[:, None]": b})
            else:
                z = rec("z", f"W @ {name}", W @ a_in, W=W, **{name: a_in})
        else:
            if bias.has_b:
                b = params["b"][..., None, :]
                z = rec("z", f"{name} @ W + b", a_in @ W + b, **{name: a_in}, W=W, b=params["b"])
            else:
                z = rec("z", f"{name} @ W", a_in @ W, **{name: a_in}, W=W)
        return z, a_in

    def backward(self, delta, a_in, params, conv, bias, tape=None):
        """From δ = ∂C/∂z, return ({"W": dW, "b": db}, ∂C/∂a_prev).

        column: dW = δ @ a_inᵀ (units, fan_in); db = Σ_N δ (units,); ∂C/∂a_prev = Wᵀ @ δ.
        row:    dW = a_inᵀ @ δ (fan_in, units); db = Σ_N δ (units,); ∂C/∂a_prev = δ @ Wᵀ.
        """
        rec = Recorder(tape, "backward")
        W = params["W"]
        name = "a_in" if bias.in_weights else "a_prev"
        grads = {}
        if conv.samples_are_columns:
            grads["W"] = rec("dW", f"delta @ {name}.T", delta @ _t(a_in),
                             delta=delta, **{f"{name}.T": _t(a_in)})
            if bias.has_b:
                grads["b"] = rec("db", "delta.sum(axis=1)", delta.sum(axis=-1), delta=delta)
            W_in = W[..., :, :-1] if bias.in_weights else W
            w_name = "W[:, :-1].T" if bias.in_weights else "W.T"
            da_prev = rec("da_prev", f"{w_name} @ delta", _t(W_in) @ delta,
                          **{w_name: _t(W_in)}, delta=delta)
        else:
            grads["W"] = rec("dW", f"{name}.T @ delta", _t(a_in) @ delta,
                             **{f"{name}.T": _t(a_in)}, delta=delta)
            if bias.has_b:
                grads["b"] = rec("db", "delta.sum(axis=0)", delta.sum(axis=-2), delta=delta)
            W_in = W[..., :-1, :] if bias.in_weights else W
            w_name = "W[:-1].T" if bias.in_weights else "W.T"
            da_prev = rec("da_prev", f"delta @ {w_name}", delta @ _t(W_in),
                          delta=delta, **{w_name: _t(W_in)})
        return grads, da_prev

    def line_rows(self, a_in, conv, bias):
        """The rows (K, N) along which this layer's elements move z: a_in's inputs (fan_in [+ 1 for the augmented
        bias], N), and a row of ones for a separate bias b."""
        inputs = a_in if conv.samples_are_columns else a_in.T
        if bias.has_b:
            return np.concatenate([inputs, np.ones((1, inputs.shape[-1]))])
        return inputs

    def line_index(self, params, key, index, conv):
        """For flat indices ``index`` (P,) into param ``key``: (unit j (P,), row k of :meth:`line_rows` (P,)).

        Moving the element by δ moves z_j by δ·line_rows[k] and no other z: the layer's
        forward pass for unit j, z_j(W + δ·e_jk) = Σ_k' W_jk' a_k' + δ·a_k = z_j + δ·a_k and
        z_j(b + δ·e_j) = z_j + δ·1.
        """
        if key == "b":
            return index, np.full_like(index, params["W"].shape[1 if conv.samples_are_columns else 0])
        r, c = np.unravel_index(index, params["W"].shape)
        return (r, c) if conv.samples_are_columns else (c, r)

    def units_of(self, params, key, index, conv):
        return self.line_index(params, key, index, conv)[0]

    def unit_change(self, params, key, index, delta, a_in, z, conv, bias):
        """Unit j's z over the batch when element ``index`` (flat) of ``key`` moves by ``delta`` (arrays (P,)).

        Returns (j (P,), z_j (P, N)), z_j + δ·line_rows[k] (see :meth:`line_index`).
        """
        rows = z if conv.samples_are_columns else z.T  # (units, N)
        j, k = self.line_index(params, key, index, conv)
        return j, rows[j] + delta[:, None] * self.line_rows(a_in, conv, bias)[k]

    def input_change(self, params, z, unit, da_row, conv, bias):
        """This layer's z for a stack of inputs that each differ in one unit: ``da_row[p]`` (N,) added to unit
        ``unit[p]``. The forward pass of an affine layer, z' = z + W[:, j]·Δa_j; a stack (P, ...) of z's."""
        W = params["W"]
        if conv.samples_are_columns:
            out = W.T[unit][:, :, None] * da_row[:, None, :]
        else:
            out = da_row[:, :, None] * W[unit][:, None, :]
        out += z  # in place: several times faster than broadcasting z[None] into a new array
        return out

    def symbolic_z(self, params, a_prev, conv, bias):
        """SymPy z_j = Σ_k w_jk a_in_k (+ b_j) from symbol matrices ``params`` and a list ``a_prev``.

        ``params["W"]`` is a SymPy Matrix in the convention's shape; in the row
        convention the weight from input k to unit j is ``W[k, j]``.
        """
        W = params["W"]
        a_in = list(a_prev) + ([1] if bias.in_weights else [])
        units = W.shape[0] if conv.samples_are_columns else W.shape[1]
        zs = []
        for j in range(units):
            weights = W[j, :] if conv.samples_are_columns else W[:, j]
            z = sum(w * a for w, a in zip(weights, a_in))
            if bias.has_b:
                z += params["b"][j]
            zs.append(z)
        return zs

    def unit_input(self, kind, index, conv):
        """For the element ``index`` of param ``kind``, return (j, k): unit j, input k (k=None for b)."""
        if kind == "b":
            return index[0], None
        return tuple(index) if conv.samples_are_columns else (index[1], index[0])
