"""The vanilla recurrent layer (CS231n's ``rnn_step_forward`` run over every step).

    s_t = x_t·Wx + h_(t−1)·Wh + b,   h_t = act(s_t),   h_0 = 0

with x_t (N, D) the step t of the input (N, T, D), Wx (D, H), Wh (H, H), b (H,) in the row
convention (the transposes Wx (H, D), Wh (H, H) in the column convention; see
:mod:`.recurrent`), ``act`` any elementwise activation (tanh by default). Backpropagation
through time, from the last step down, with ds_t = ∂C/∂s_t:

    dh_t = δ_t + ds_(t+1)·Whᵀ,   ds_t = dh_t ⊙ act'(s_t)   (tanh: 1 − h_t²)
    dWx = Σ_t x_tᵀ·ds_t,   dWh = Σ_t h_(t−1)ᵀ·ds_t,   db = Σ_t Σ_n ds_t,   dx_t = ds_t·Wxᵀ

where δ_t = ∂C/∂h_t from the layers above (0 for t < T when only h_T is returned).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from ..activations import ACTIVATIONS
from .base import Recorder
from .mistakes import KnownMistake, where
from .recurrent import Recurrent, previous, rows, slope_magnitude, states_of
from .recurrent import slip as _slip

__all__ = ["RNN"]


MISTAKES = (
    KnownMistake("not_summed_over_steps", lambda ls: (
        f"{where(ls)} does not sum dWx, dWh and db over the time steps: each step's term replaces the one before "
        "(dWx = x_tᵀ·ds_t instead of +=), so only the term of step 1, the last the backward loop visits, is left; "
        "the same weights act at every step, so dWx = Σ_t x_tᵀ·ds_t (and so dWh and db)"),
        _slip("not_summed_over_steps")),
    KnownMistake("state_gradient_not_carried", lambda ls: (
        f"{where(ls)} does not carry ∂C/∂h back to the earlier step: dh_t takes only the output's δ_t, without "
        "dh_prev = ds_(t+1)·Whᵀ from step t + 1, so dx_t holds only output t's term; in the backward loop, "
        "dh = δ_t + dh_prev"), _slip("state_gradient_not_carried")),
    KnownMistake("derivative_of_previous_state", lambda ls: (
        f"{where(ls)} takes tanh' at the previous state (1 − h_(t−1)²) instead of the step's own output; "
        "h_t = tanh(s_t), so ds_t = dh_t·(1 − h_t²)"), _slip("derivative_of_previous_state"),
        applies=lambda ly: ly.cell == "tanh"),
)


@dataclass(frozen=True, repr=False)
class RNN(Recurrent):
    """h_t = act(x_t·Wx + h_(t−1)·Wh + b) over every step, from h_0 = 0; every state or only the last."""

    kind = "rnn"
    keys: ClassVar[dict] = {"units": ..., "activation": "tanh", "sequences": True}
    mistakes = MISTAKES
    meanings: ClassVar[dict] = {
        **Recurrent.common_meanings, "Wx": "input-to-state weights", "Wh": "state-to-state weights",
        "b": "bias, one per state unit", "s": "pre-activation s_t = x_t·Wx + h_(t−1)·Wh + b of every step",
        "h": "state h_t = act(s_t) of every step",
        "ds": "∂C/∂s_t = (δ_t + ds_(t+1)·Whᵀ) ⊙ act'(s_t), every step"}

    @classmethod
    def build(cls, read, index, in_shape, bias):
        units, sequences, out_shape = cls._shapes(read, index, in_shape, bias)
        act = read.activation()
        if ACTIVATIONS[act].derivative is None or ACTIVATIONS[act].last_only:
            raise SpecError(f"{read.path}.activation", f"rnn layer {index} applies its activation to each state "
                                                       f"unit: it must be elementwise, got {act}", read.source)
        return cls(index, tuple(in_shape), out_shape, options={"units": units, "activation": act,
                                                               "sequences": sequences},
                   formulas=cls._formulas(index, in_shape, units, sequences, bias))

    @property
    def cell(self):
        """The activation inside the cell (the layer's ``activation`` key)."""
        return self.options["activation"]

    @property
    def cell_act(self):
        return ACTIVATIONS[self.cell]

    @property
    def kinked(self):
        return bool(self.cell_act.kinks)

    @property
    def kink_texts(self):
        return (f"{self.cell_act.kink_text} (inside rnn layer {self.index}, at every step)",) if self.kinked else ()

    @property
    def structured(self):
        """A smooth cell's moved networks run as one structured stack (:meth:`output_change`); a cell with kinks is
        recomputed in full, network by network: its kinks are read from every step's pre-activations."""
        return not self.kinked

    def describe(self):
        return self._describe(f", {self.cell}")

    # -- arrays ----------------------------------------------------------------------------------
    def _run(self, params, x, conv):
        """Every step's pre-activation S and state H, each (..., N, T, H)."""
        act = self.cell_act
        xw, Wh = self._inputs(params, x, conv)
        h = states_of(xw, Wh, self.width)
        S, H = [], []
        for t in range(self.steps):
            s = xw[..., t, :] + h @ Wh
            h = act.forward(s)
            S.append(s)
            H.append(h)
        return xw, np.stack(S, axis=-2), np.stack(H, axis=-2)

    def output_change(self, params, key, index, delta, cache, z, conv, bias):
        """z of a stack of networks, network p with element ``index[p]`` (flat) of param ``key`` moved by
        ``delta[p]`` (P,): (P, *z.shape). Every step runs once for the whole stack, with the base Wh, and the moved
        element adds its share to its one column j of s_t: δ·x_t[k] (Wx[k, j]), δ (b[j]) or δ·h_(t−1)[k]
        (Wh[k, j]); the input's product x·Wx + b is the base network's (only where :attr:`structured`)."""
        x, j, k, xw, Wh, at, d, dtype = self.moved_stack(params, key, index, delta, cache, conv)
        width, (n, steps, _), p = self.width, x.shape, len(at)
        h = np.zeros((p, n, width), dtype=dtype)
        out = np.empty((p, n, steps, width), dtype=dtype) if self.sequences else None
        for t in range(steps):
            s = h @ Wh
            s += xw[:, t]
            self.add_moved(s, key, at, j, k, d, x[:, t], h if t else None)
            h = self.cell_act.forward(s)
            if out is not None:
                out[:, :, t] = h
        return out if out is not None else self._output(h[:, :, None, :], conv)

    def forward(self, params, a_prev, conv, bias, tape=None):
        rec = Recorder(tape, "forward")
        xw, S, H = self._run(params, a_prev, conv)
        self._record_inputs(rec, params, a_prev, xw, conv)
        wh = "Wh.T" if conv.samples_are_columns else "Wh"
        h_prev = previous(H)
        rec("s", f"xWx + h_prev @ {wh}, step by step", S, xWx=xw, h_prev=h_prev, **{wh: rows(params["Wh"], conv)})
        rec("h", f"{self.cell}(s)", H, s=S)
        return self._record_output(rec, H, conv), (a_prev, S, H, np.real(S) > 0)

    def backward(self, delta, cache, params, conv, bias, tape=None):
        dS, Hin = self._deltas(delta, cache, params, conv)
        grads, dx = self._grads(cache[0], Hin, dS, rows(params["Wx"], conv), conv, bias)
        self._record_grads(tape, grads, dx, (cache[0], Hin, dS), params, conv)
        return grads, dx

    def backward_magnitude(self, size, cache, params, conv, bias, a_prev=None):
        dS, Hin = self._deltas(size, cache, params, conv, magnitude=True)
        return self._grads(cache[0], Hin, dS, rows(params["Wx"], conv), conv, bias)

    def _deltas(self, delta, cache, params, conv, slip=None, magnitude=False, states=False):
        """(ds_t of every step, h_(t−1) of every step), each (..., N, T, H): backpropagation through time (see
        the module) from the last step down; ``slip`` makes one of the known mistakes instead; ``magnitude`` runs
        it on magnitudes with the cell's slope's own rounding added; ``states`` also returns ∂C/∂h_t of every
        step."""
        S, H = cache[1], cache[2]
        act = self.cell_act
        WhT = np.swapaxes(rows(params["Wh"], conv), -1, -2)
        dH = self._state_deltas(delta, H, conv)
        Hin = previous(H)
        at = (previous(S), Hin) if slip == "derivative_of_previous_state" else (S, H)
        if magnitude:  # the slope at the signed s: |s| and |h| alone do not say which side of 0 (and of a kink) s
            # is on, and elu's or selu's slope there is λ on one side and λ·α·exp(s), 1e-400, on the other
            s = np.where(cache[3], S, -S)
            factor = slope_magnitude(act, act.forward(s), s)
        else:
            factor = act.derivative(*at)
        dS, dh_all, carry = [], [], 0.0
        for t in reversed(range(self.steps)):
            dh = dH[..., t, :] if slip == "state_gradient_not_carried" else dH[..., t, :] + carry
            dS.append(dh * factor[..., t, :])
            dh_all.append(dh)
            carry = dS[-1] @ WhT
        dS = np.stack(dS[::-1], axis=-2)
        return (dS, Hin, np.stack(dh_all[::-1], axis=-2)) if states else (dS, Hin)

    def step_rounding(self, delta, cache, params, conv):
        """|x|·|∂C/∂x| of every step's pre-activation s_t and state h_t (∂C/∂h_t carried from the steps after)."""
        S, H = cache[1], cache[2]
        dS, _, dH = self._deltas(delta, cache, params, conv, states=True)
        return np.abs(S) * np.abs(dS), np.abs(H) * np.abs(dH)

    def _bptt(self, delta, cache, params, conv, bias, slip=None):
        """The backward pass with one of the known mistakes (``slip``)."""
        x, Wx = cache[0], rows(params["Wx"], conv)
        dS, Hin = self._deltas(delta, cache, params, conv, slip)
        if slip == "not_summed_over_steps":  # the gradients keep step 1's term only; dx is still right
            grads, _ = self._grads(x[..., :1, :], Hin[..., :1, :], dS[..., :1, :], Wx, conv, bias)
            return grads, self._grads(x, Hin, dS, Wx, conv, bias)[1]
        return self._grads(x, Hin, dS, Wx, conv, bias)

    def kink_state(self, a_prev, z, conv, params=None):
        """The side of the activation's kinks of every step's pre-activation s_t (not only of the returned states):
        recomputed from ``params``, or, without them, read off the states (relu: h_t > 0 exactly where s_t > 0)."""
        kinks = self.cell_act.kinks
        if not kinks:
            return None
        if params is not None and a_prev is not None:
            _, S, _ = self._run(params, a_prev, conv)
        else:
            S = z
        return np.stack([np.sign(np.real(S) - k) for k in kinks], axis=-1)

    def symbolic_z(self, params, a_prev, conv, bias, define=None):
        """One sample's states from h_0 = 0, step by step: h_t = act(x_t·Wx + h_(t−1)·Wh + b); ``define`` (from the
        derivation) names each state, so that a step's form holds the previous state's name, not its expression."""
        H = self.width
        h, states = [0] * H, []
        for t in range(self.steps):
            s = [a + b for a, b in zip(self._symbolic_inputs(params, a_prev, conv, t),
                                       self._symbolic_matvec(h, params["Wh"], conv, range(H)))]
            h = self._named(define, "h", t, self.cell_act.symbolic(s))
            states.append(h)
        return self._symbolic_output(states)
