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

import math
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

    symbolic_dense = True

    kind = "dense"
    keys: ClassVar[dict] = {"units": ..., "activation": "linear"}
    params = ("W", "b")
    weights = ("W",)
    meanings: ClassVar[dict] = {"b": "bias, one per unit", "z": "weighted input z"}
    complex_step = True
    cache_linear = True
    folds = False

    weights = ("W",)

    @classmethod
    def build(cls, read, index, in_shape, bias):
        units = read.int("units")
        if len(in_shape) == 3:
            shape = "x".join(map(str, in_shape))
            raise SpecError(read.path, f"dense layer {index} needs a vector (or sequence) input, got a {shape} "
                                       f"image; put {{\"type\": \"flatten\"}} before it", read.source)
        if len(in_shape) == 2:  # a sequence (T, D): the same affine map at every step
            return cls(index, tuple(in_shape), (in_shape[0], units), read.activation(), {"units": units},
                       formulas=(f"dense {index}: every step of {in_shape[0]}: {in_shape[1]} -> {units}",))
        return cls(index, tuple(in_shape), (units,), read.activation(), {"units": units})

    @property
    def steps(self):
        """True on a sequence (N, T, D): z_t = W·a_t + b at every step t, with the same W and b."""
        return len(self.in_shape) == 2

    @property
    def fan_in(self):
        """Inputs of one unit (D on a sequence)."""
        return self.in_shape[-1]

    @property
    def width(self):
        """Units of one step (of the sample, on vectors)."""
        return self.options["units"]

    @property
    def work(self):
        return self.units + math.prod(self.in_shape)

    @property
    def forward_macs(self):
        """W·a_prev: fan_in products per output (per step on a sequence)."""
        return self.units * self.in_shape[-1]

    @property
    def change_macs(self):
        """W·a_prev again for every output (on a sequence a moved element reaches every step; on vectors the check
        recomputes one unit's row only, and does not ask)."""
        return self.forward_macs

    @property
    def structured(self):
        """True when one element's change moves one unit's z row (N,): vector inputs."""
        return not self.steps

    @property
    def stacks_backward(self):
        """On vectors, δ (..., units, N) / (..., N, units): every product of :meth:`backward` is a matmul."""
        return not self.steps

    def describe(self):
        if self.steps:
            return f"dense {self.in_shape[0]}x{self.fan_in} -> {self.in_shape[0]}x{self.width} per step, " \
                   f"{self.act.label}"
        return f"dense {self.fan_in} -> {self.units}, {self.act.label}"

    def param_shapes(self, conv, bias):
        """{"W": shape, "b": shape} (no "b" unless bias is "separate")."""
        fan_in, units = self.fan_in, self.width
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
        fan_in, units = self.fan_in, self.width
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
        if self.steps:
            return self._forward_steps(params, a_prev, conv, bias, tape)
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
        if self.steps:
            return self._backward_steps(delta, a_in, params, conv, bias, tape)
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

    # -- sequences (N, T, D): z[n, t] = W·a_prev[n, t] + b; W laid out by the convention as for vectors ------------
    def _forward_steps(self, params, a_prev, conv, bias, tape):
        rec = Recorder(tape, "forward")
        W, a_in, name = params["W"], a_prev, "a_prev"
        if bias.in_weights:
            ones = np.ones((*a_prev.shape[:-1], 1))
            a_in = rec("a_in", "np.concatenate([a_prev, ones], axis=-1)", np.concatenate([a_prev, ones], axis=-1),
                       a_prev=a_prev, ones=ones)
            name = "a_in"
        Wr, w_text = (_t(W), "W.T") if conv.samples_are_columns else (W, "W")
        n, t = a_in.shape[-3:-1]
        flat = a_in.reshape(*a_in.shape[:-3], n * t, a_in.shape[-1])
        if np.ndim(W) > 2 and flat.ndim == 2:
            flat = flat[None]
        z = flat @ Wr
        z = z.reshape(*z.shape[:-2], n, t, z.shape[-1])
        if bias.has_b:
            z = z + params["b"][..., None, None, :]
            return rec("z", f"{name} @ {w_text} + b", z, **{name: a_in}, **{w_text: Wr}, b=params["b"]), a_in
        return rec("z", f"{name} @ {w_text}", z, **{name: a_in}, **{w_text: Wr}), a_in

    def _backward_steps(self, delta, a_in, params, conv, bias, tape):
        """dW = Σ_n Σ_t δ[n, t] a_in[n, t]ᵀ (every step adds to the one W), db = Σ_n Σ_t δ[n, t], ∂C/∂a_prev[n, t] =
        Wᵀ δ[n, t]."""
        rec = Recorder(tape, "backward")
        W = params["W"]
        name = "a_in" if bias.in_weights else "a_prev"
        grads = {}
        if conv.samples_are_columns:
            grads["W"] = rec("dW", f"np.einsum('nth,ntd->hd', delta, {name})",
                             np.einsum("...nth,...ntd->...hd", delta, a_in), delta=delta, **{name: a_in})
        else:
            grads["W"] = rec("dW", f"np.einsum('ntd,nth->dh', {name}, delta)",
                             np.einsum("...ntd,...nth->...dh", a_in, delta), **{name: a_in}, delta=delta)
        if bias.has_b:
            grads["b"] = rec("db", "delta.sum(axis=(0, 1))", delta.sum(axis=(-3, -2)), delta=delta)
        Wr = W if conv.samples_are_columns else _t(W)  # (units, fan_in [+ 1])
        if bias.in_weights:
            Wr = Wr[..., :, :-1]
        w_text = ("W[:, :-1]" if conv.samples_are_columns else "W[:-1].T") if bias.in_weights else \
            ("W" if conv.samples_are_columns else "W.T")
        n, t = delta.shape[-3:-1]
        flat = delta.reshape(*delta.shape[:-3], n * t, delta.shape[-1]) @ Wr
        da_prev = rec("da_prev", f"delta @ {w_text}", flat.reshape(*flat.shape[:-2], n, t, flat.shape[-1]),
                      delta=delta, **{w_text: Wr})
        return grads, da_prev

    def line_rows(self, a_in, conv, bias):
        """The rows (K, N) along which this layer's elements move z: a_in's inputs (fan_in [+ 1 for the augmented
        bias], N), and a row of ones for a separate bias b."""
        inputs = a_in if conv.samples_are_columns else a_in.T
        if bias.has_b:
            return np.concatenate([inputs, np.ones((1, inputs.shape[-1]))])
        return inputs

    @staticmethod
    def line_index(params, key, index, conv):
        """For flat indices ``index`` (P,) into param ``key``: (unit j (P,), row k of :meth:`line_rows` (P,)); a
        function of the params' shapes and the convention alone (the unit lines keep it per shape).

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
        # The outer products by einsum: 1.5× as fast as a broadcast multiply here (the same products, bit for bit).
        if conv.samples_are_columns:
            out = np.einsum("pu,pn->pun", W.T[unit], da_row)
        else:
            out = np.einsum("pn,pu->pnu", da_row, W[unit])
        out += z  # in place: several times faster than broadcasting z[None] into a new array
        return out

    def symbolic_z(self, params, a_prev, conv, bias):
        """SymPy z_j = Σ_k w_jk a_in_k (+ b_j) from symbol matrices ``params`` and a list ``a_prev``.

        ``params["W"]`` is a SymPy Matrix in the convention's shape; in the row
        convention the weight from input k to unit j is ``W[k, j]``. On a sequence, the
        flat list holds the steps one after another and so does the result.
        """
        if self.steps:
            d = self.fan_in
            flat = Dense(self.index, (d,), (self.width,), self.activation, self.options)
            return [z for t in range(self.in_shape[0])
                    for z in flat.symbolic_z(params, a_prev[t * d:(t + 1) * d], conv, bias)]
        W = params["W"]
        a_in = list(a_prev) + ([1] if bias.in_weights else [])
        units = W.shape[0] if conv.samples_are_columns else W.shape[1]
        zs = []
        import sympy as sp  # here: SymPy is loaded only when a symbolic form is built

        from ..sympy_forms import product, total

        for j in range(units):
            weights = W[j, :] if conv.samples_are_columns else W[:, j]
            terms = [product(w, sp.sympify(a)) for w, a in zip(weights, a_in)]  # one sum: a running one is quadratic
            zs.append(total(terms + ([params["b"][j]] if bias.has_b else [])))
        return zs

    def unit_input(self, kind, index, conv):
        """For the element ``index`` of param ``kind``, return (j, k): unit j, input k (k=None for b)."""
        if kind == "b":
            return index[0], None
        return tuple(index) if conv.samples_are_columns else (index[1], index[0])
