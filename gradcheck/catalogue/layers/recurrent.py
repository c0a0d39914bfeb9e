"""What the recurrent kinds (:mod:`.rnn`, :mod:`.gru`, :mod:`.lstm`) share: keys, shapes, the layout of their
weights, the gradient sums over the steps.

A recurrent layer reads a sequence x (N, T, D) step by step, from h_0 = 0, and returns
every state h_1 … h_T, (N, T, H) in both conventions (``"sequences": true``), or the last
one, h_T, as a batch of vectors ((H, N) column, (N, H) row; ``"sequences": false``).

Its weights are laid out by the convention like a dense layer's, one block of H units per
gate (G gates: 1 for rnn, 3 for gru, 4 for lstm):

=========== ============= ============= ======
convention  Wx            Wh            b
=========== ============= ============= ======
row         (D, G·H)      (H, G·H)      (G·H,)
column      (G·H, D)      (G·H, H)      (G·H,)
=========== ============= ============= ======

The kinds compute in the row layout (``x_t @ Wx``, x_t (N, D)); the column convention's
weights are the transposes. Params and x may carry leading stack axes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from ..activations import ACTIVATIONS
from .base import SYMBOLIC_OTHER_COST, Layer, Recorder

__all__ = ["SIGMOID", "TANH", "Recurrent", "previous", "rows", "sigmoid_error", "slip", "slope_error",
           "slope_magnitude", "states_of", "unrows"]


def rows(W, conv):
    """A weight in the row layout (in, out), whatever the convention."""
    return np.swapaxes(W, -1, -2) if conv.samples_are_columns else W


def unrows(dW, conv):
    """A gradient computed in the row layout, back in the convention's."""
    return rows(dW, conv)


def states_of(xw, Wh, units):
    """h_0 = 0, shaped like one step of ``xw`` (..., N, T, ·) broadcast with the stack axes of ``Wh``."""
    shape = np.broadcast_shapes((*xw.shape[:-2], units), (*Wh.shape[:-2], 1, units))
    return np.zeros(shape, dtype=np.result_type(xw, Wh))


def previous(H):
    """The step before's value for every step of H (..., N, T, ·): 0 at the first (h_0 = 0), then H but its last."""
    return np.concatenate([np.zeros_like(H[..., :1, :]), H[..., :-1, :]], axis=-2)


SIGMOID, TANH = ACTIVATIONS["sigmoid"], ACTIVATIONS["tanh"]
EPS = float(np.finfo(np.float64).eps)
#: σ'(z) and tanh'(z) from e = exp(−|z|) (≤ 1: no overflow), good to a few ulps of themselves however small.
_EXACT_SLOPES = {SIGMOID.name: lambda e: e / (1.0 + e) ** 2, TANH.name: lambda e: 4.0 * e * e / (1.0 + e * e) ** 2}


def slope_error(act, y, z):
    """How far ``act``'s slope computed the usual way from its rounded output ``y`` (σ(1 − σ), 1 − tanh²) may be
    from its slope at the pre-activation ``z``, in units of ε (σ or tanh and their magnitudes alike: the slope is
    even in z): the difference itself, which is all of the slope where y saturates (y = 1 exactly, a slope of 0
    for an exact 1e-17), plus what z's own rounding moves the exact slope by."""
    exact = _EXACT_SLOPES[act.name](np.exp(-np.abs(z)))
    return np.abs(act.derivative(None, np.abs(y) if act is TANH else y) - exact) / EPS + 2.0 * exact * (1.0 + np.abs(z))


def sigmoid_error(s, z):
    """How far a rounded σ ``s`` may be from σ(z), in units of ε (``s`` and ``z`` or their magnitudes: z ≥ 0
    exactly where s ≥ ½): a σ computed as (1 + tanh(z/2))/2 is good to ε/4 absolute, not relative, so that at
    z = −40 it is 0 for an exact 4e-18."""
    e = np.exp(-np.abs(z))
    exact = np.where(s >= 0.5, 1.0 / (1.0 + e), e / (1.0 + e))
    return np.abs(s - exact) / EPS + _EXACT_SLOPES[SIGMOID.name](e) * np.abs(z)


def slope_magnitude(act, y, z):
    """|act'| at output ``y`` (pre-activation ``z``; magnitudes) with its own rounding added, in units of ε: the
    magnitudes a backprop's rounding model multiplies by. σ and tanh: :func:`slope_error`; other activations:
    their ``derivative_rounding``, or an absolute ε, or nothing for a piecewise-linear one."""
    if act.name in _EXACT_SLOPES:
        return np.abs(act.derivative(z, y)) + slope_error(act, y, z)
    own = act.derivative_rounding
    extra = own(z, y) if own is not None else 0.0 if act.kinks else 1.0
    return np.abs(act.derivative(z, y)) + extra


def slip(how):
    """A known mistake's backward for a recurrent kind: its own backprop through time making the mistake ``how``
    (its name, or for lstm a :class:`~.lstm.Slip`)."""
    def backward(ly, own, delta, cache, a_prev, params, conv, bias):
        return ly._bptt(delta, cache, params, conv, bias, slip=how)
    return backward


@dataclass(frozen=True, repr=False)
class Recurrent(Layer):
    """A layer that runs a cell over the steps of a sequence; subclasses give the cell (``gates`` blocks of H)."""

    keys: ClassVar[dict] = {"units": ..., "sequences": True}
    params = ("Wx", "Wh", "b")
    weights = ("Wx", "Wh")
    complex_step = True
    #: Blocks of H units in Wx, Wh and b, one per gate, in the order of ``gate_names``.
    gates: ClassVar[int] = 1
    gate_names: ClassVar[tuple] = ()
    #: What the shared quantities of the shape trace are (merged into each kind's ``meanings``).
    common_meanings: ClassVar[dict] = {
        "xWx": "x_t·Wx + b for every step", "h_prev": "h_(t−1) of every step (h_0 = 0)",
        "h": "state h_t of every step", "z": "every state h_t, or the last state h_T",
        "dWx": "∂C/∂Wx: every step's term summed", "dWh": "∂C/∂Wh: every step's term summed",
        "db": "∂C/∂b: every step's term summed", "h_in": "the input of Wh at every step"}

    @classmethod
    def _shapes(cls, read, index, in_shape, bias):
        """(units, sequences, out_shape), with the checks every recurrent kind makes."""
        units = read.int("units")
        sequences = read.get("sequences")
        if not isinstance(sequences, bool):
            raise SpecError(f"{read.path}.sequences", f"expected true (every state) or false (the last state), got "
                                                      f"{json.dumps(sequences)}", read.source)
        if bias.in_weights:
            raise SpecError("bias", f"bias \"augmented\" is not defined for {cls.kind} layers (layers[{index}] is "
                                    f"{cls.kind}): use \"separate\" (a b per gate unit) or \"none\"", read.source)
        if len(in_shape) != 2:
            got = "a vector of " + str(in_shape[0]) if len(in_shape) == 1 else \
                "an image " + "x".join(map(str, in_shape))
            raise SpecError(read.path, f"{cls.kind} layer {index} needs a sequence input (T, D), got {got}; give "
                                       "\"input\": {\"steps\": T, \"features\": D} (or a layer that keeps the steps)",
                            read.source)
        return units, sequences, ((in_shape[0], units) if sequences else (units,))

    @classmethod
    def _formulas(cls, index, in_shape, units, sequences, bias):
        (T, D), G = in_shape, cls.gates
        g = f"{G}·{units} = {G * units}" if G > 1 else str(units)
        b = f", b {G * units}" if bias.has_b else ""
        out = f"{T}x{units} (every state)" if sequences else f"{units} (the last state h_{T})"
        return (f"{cls.kind} {index}: every step of {T}: x_t ({D}) and h_(t−1) ({units}) -> h_t ({units}), through "
                f"Wx {D}x{g} and Wh {units}x{g} (in x out){b}", f"{cls.kind} {index}: output {out}")

    # -- facts -------------------------------------------------------------------------------
    @property
    def steps(self):
        return self.in_shape[0]

    @property
    def symbolic_cost(self):
        """A recurrent weight enters every step, and each step's h every later one: a convolution's cost per step
        (an rnn of 3 steps measured at about 30 dense weights per param, growing with the width)."""
        return SYMBOLIC_OTHER_COST * self.steps

    @property
    def features(self):
        return self.in_shape[1]

    @property
    def width(self):
        """H, the units of one state."""
        return self.options["units"]

    @property
    def sequences(self):
        return self.options["sequences"]

    @property
    def work(self):
        T, D, H, G = self.steps, self.features, self.width, self.gates
        return T * (D + 4 * G * H)

    @property
    def forward_macs(self):
        """Every step: the gates' products x_t·Wx and h_{t−1}·Wh."""
        T, D, H, G = self.steps, self.features, self.width, self.gates
        return T * G * H * (D + H)

    @property
    def change_macs(self):
        """Every step again."""
        return self.forward_macs

    @property
    def has_activation(self):
        """The cell's activations are inside the layer: the engine applies none after it."""
        return False

    def to_json(self):
        return {"type": self.kind, **self.options}

    def _describe(self, extra=""):
        T, D, H = self.steps, self.features, self.width
        out = f"{T}x{H} (every state)" if self.sequences else f"{H} (the last state)"
        return f"{self.kind} {T}x{D} -> {out}{extra}"

    # -- params ------------------------------------------------------------------------------
    def param_shapes(self, conv, bias):
        GH = self.gates * self.width
        shapes = {"Wx": conv.weight(GH, self.features), "Wh": conv.weight(GH, self.width)}
        if bias.has_b:
            shapes["b"] = (GH,)
        return shapes

    def param_layout(self, name, conv, bias):
        g = f"{self.gates}·units" if self.gates > 1 else "units"
        gates = f", gate blocks {', '.join(self.gate_names)}" if self.gate_names else ""
        if name == "b":
            return f"({g},){gates}"
        inputs = "features" if name == "Wx" else "units"
        shape = f"({g}, {inputs})" if conv.samples_are_columns else f"({inputs}, {g})"
        return f"{shape} in the {conv.name} convention{gates}"

    def init(self, rng, conv, bias):
        """Wx ~ N(0, 1/D), Wh ~ N(0, 1/H), b ~ N(0, 0.1²)."""
        shapes = self.param_shapes(conv, bias)
        params = {"Wx": rng.normal(0.0, 1.0 / np.sqrt(self.features), shapes["Wx"]),
                  "Wh": rng.normal(0.0, 1.0 / np.sqrt(self.width), shapes["Wh"])}
        if "b" in shapes:
            params["b"] = rng.normal(0.0, 0.1, shapes["b"])
        return params

    # -- arrays ------------------------------------------------------------------------------
    def moved_columns(self, key, index, conv):
        """(gate column j (P,), input row k (P,), None for b) of the flat elements ``index`` of param ``key``, in the
        row layout: Wx[k, j] (D, G·H), Wh[k, j] (H, G·H), b[j] (a structured stack's :meth:`output_change`)."""
        if key == "b":
            return np.asarray(index), None
        shape = (self.gates * self.width, self.features if key == "Wx" else self.width)
        return np.unravel_index(index, shape) if conv.samples_are_columns else \
            np.unravel_index(index, shape[::-1])[::-1]

    def moved_stack(self, params, key, index, delta, cache, conv):
        """What every step of a structured stack of moved networks needs (:meth:`output_change`): (the input x
        (N, T, D), the moved elements' column j and row k (:meth:`moved_columns`), the base network's x·Wx + b
        (N, T, G·H) and Wh (H, G·H) in the row layout, the stack's positions (P,), δ as a column (P, 1), and the
        stack's dtype: complex for complex steps)."""
        x = cache[0]
        j, k = self.moved_columns(key, index, conv)
        xw, Wh = self._inputs(params, x, conv)
        return x, j, k, xw, Wh, np.arange(len(j)), np.asarray(delta)[:, None], np.result_type(delta, xw)

    @staticmethod
    def add_moved(a, key, at, j, k, d, x_t, h=None):
        """Add, in place, each moved network's share of its element to one step's pre-activations ``a`` (P, N, ...):
        network ``at[p]``'s column ``j[p]`` gets δ·x_t[k] for Wx[k, j], δ for b[j], and δ·h[k] for Wh[k, j] where
        ``h`` (the stack's h_(t−1), P, N, H) is given (at the first step h_(−1) = 0 adds nothing)."""
        if key == "Wx":
            a[at, :, j] += d * x_t[:, k].T
        elif key == "b":
            a[at, :, j] += d
        elif h is not None:
            a[at, :, j] += d * h[at, :, k]

    def own_rounding_terms(self, delta, fw, params, conv):
        """The values every step rounds inside the cell (:meth:`step_rounding`), which a move of any of the
        layer's params moves too."""
        return self.step_rounding(delta, fw.a_in[self.index], params, conv)

    def step_rounding(self, delta, cache, params, conv):
        """|x|·|∂C/∂x| of the values every step rounds inside the cell, besides the states of the output."""
        return ()

    def _inputs(self, params, x, conv):
        """(x @ Wx + b over every step (..., N, T, G·H), Wh in the row layout)."""
        Wx, Wh = rows(params["Wx"], conv), rows(params["Wh"], conv)
        xw = x @ Wx[..., None, :, :]
        if "b" in params:
            xw = xw + params["b"][..., None, None, :]
        return xw, Wh

    def _output(self, H, conv):
        """The layer's output from every state H (..., N, T, H): all of them, or the last as a batch of vectors."""
        if self.sequences:
            return H
        last = H[..., -1, :]
        return np.swapaxes(last, -1, -2) if conv.samples_are_columns else last

    def _record_output(self, rec, H, conv):
        """z from every state H (see :meth:`_output`), on the shape trace."""
        last = "h" if self.sequences else ("h[:, -1].T" if conv.samples_are_columns else "h[:, -1]")
        return rec("z", last, self._output(H, conv), h=H)

    def _state_deltas(self, delta, like, conv):
        """∂C/∂h_t of the output alone for every step, (..., N, T, H): δ itself, or δ at the last step."""
        if self.sequences:
            return delta
        last = np.swapaxes(delta, -1, -2) if conv.samples_are_columns else delta
        dH = np.zeros(np.broadcast_shapes(like.shape, (*last.shape[:-2], 1, 1, 1)), dtype=np.result_type(like, last))
        dH[..., -1, :] = last
        return dH

    def _grads(self, x, Hin, dA, Wx, conv, bias):
        """dWx = Σ_n Σ_t x_tᵀ·dA_t, dWh = Σ_n Σ_t h_inᵀ·dA_t, db = Σ_n Σ_t dA_t, ∂C/∂x_t = dA_t·Wxᵀ (every step
        uses the same weights, so every step's term adds to their gradients)."""
        grads = {"Wx": unrows(np.einsum("...ntd,...nth->...dh", x, dA), conv),
                 "Wh": unrows(np.einsum("...ntg,...nth->...gh", Hin, dA), conv)}
        if bias.has_b:
            grads["b"] = dA.sum(axis=(-3, -2))
        return grads, dA @ np.swapaxes(Wx, -1, -2)[..., None, :, :]

    def _record_inputs(self, rec, params, a_prev, xw, conv):
        wx = "Wx.T" if conv.samples_are_columns else "Wx"
        operands = {"a_prev": a_prev, wx: rows(params["Wx"], conv), **({"b": params["b"]} if "b" in params else {})}
        rec("xWx", f"a_prev @ {wx}" + (" + b" if "b" in params else ""), xw, **operands)

    def _record_grads(self, tape, grads, dx, terms, params, conv, name="ds"):
        """The backward steps on the shape trace (``terms``: x, h_in, ∂C/∂ of the gates' pre-activations, every
        step): every step's term summed, in the convention's layout."""
        if tape is None:
            return
        x, Hin, dA = terms
        rec = Recorder(tape, "backward")
        col = conv.samples_are_columns
        rec("dWx", f"np.einsum('nth,ntd->hd', {name}, a_prev)" if col else f"np.einsum('ntd,nth->dh', a_prev, {name})",
            grads["Wx"], a_prev=x, **{name: dA})
        rec("dWh", f"np.einsum('nth,ntg->hg', {name}, h_in)" if col else f"np.einsum('ntg,nth->gh', h_in, {name})",
            grads["Wh"], h_in=Hin, **{name: dA})
        if "b" in grads:
            rec("db", f"{name}.sum(axis=(0, 1))", grads["b"], **{name: dA})
        wx = "Wx" if col else "Wx.T"
        rec("da_prev", f"{name} @ {wx}", dx, **{name: dA, wx: np.swapaxes(rows(params["Wx"], conv), -1, -2)})

    def _symbolic_inputs(self, params, a_prev, conv, t):
        """One step's x_t·Wx + b, a list of G·H SymPy sums (row layout: Wx[k, j] is input k's weight on unit j)."""
        D, GH = self.features, self.gates * self.width
        Wx, b = params["Wx"], params.get("b")
        x = a_prev[t * D:(t + 1) * D]
        out = []
        for j in range(GH):
            s = sum(x[k] * (Wx[j, k] if conv.samples_are_columns else Wx[k, j]) for k in range(D))
            out.append(s + b[j] if b is not None else s)
        return out

    @staticmethod
    def _symbolic_matvec(h, Wh, conv, cols):
        """h·Wh[:, cols] (row layout) for a list of SymPy entries ``h``."""
        return [sum(h[g] * (Wh[j, g] if conv.samples_are_columns else Wh[g, j]) for g in range(len(h)))
                for j in cols]

    def _symbolic_output(self, states):
        """The flat output of one sample from its list of states (each a list of H)."""
        return [e for h in states for e in h] if self.sequences else list(states[-1])
