"""The LSTM layer on a sequence (N, T, D), gates in the order i, f, o, g.

At every step t, with h_{-1} = c_{-1} = 0 and the same params at every step (row convention):

    a_t = x_t·Wx + h_{t−1}·Wh + b                      (N, 4H)
    i = σ(a[:H]), f = σ(a[H:2H]), o = σ(a[2H:3H]), g = tanh(a[3H:])
    c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)

Wx (D, 4H), Wh (H, 4H) and b (4H,) in the row convention, their transposes in the column
convention, one block of H per gate (:mod:`.recurrent`, as rnn and gru). ``sequences``
(default true) returns every h_t (N, T, H), false only h_{T−1} (a vector, in the
convention's vector layout). Backprop through time carries ∂C/∂h and ∂C/∂c from step t+1
to step t and sums the params' gradients over the steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Recorder
from .mistakes import KnownMistake, where
from .recurrent import EPS, SIGMOID, TANH, Recurrent, previous, rows, sigmoid_error, slope_error, states_of
from .recurrent import slip as _slip

__all__ = ["LSTM"]

GATES = "ifog"  # the blocks of a (and of Wx's and Wh's gate axis, and of b)


def _cell(a_t, c_prev, H, gates, c, tc, h, spare):
    """One step from the gates' input a_t (..., 4H), written into ``gates`` (σ(i, f, o) and tanh(g), (..., 4H)),
    ``c`` (c_t), ``tc`` (tanh(c_t)) and ``h`` (h_t), with ``spare`` (shaped like c_t) for i·g: no array is
    made, so that the steps of a stack of networks reuse their memory (a fresh array of a few MiB per step
    costs its pages again every time). σ(a) = (1 + tanh(a/2))/2: one transcendental pass, analytic (complex
    steps go through it)."""
    s = gates[..., :3 * H]
    np.multiply(a_t[..., :3 * H], 0.5, out=s)
    np.tanh(s, out=s)
    s *= 0.5
    s += 0.5
    np.tanh(a_t[..., 3 * H:], out=gates[..., 3 * H:])
    i, f, o, g = (gates[..., k * H:(k + 1) * H] for k in range(4))
    np.multiply(f, c_prev, out=c)
    np.multiply(i, g, out=spare)
    c += spare
    np.tanh(c, out=tc)
    np.multiply(o, tc, out=h)


def _factors(gates_t, tc_t, pre_t, H, magnitude):
    """The gates (i, f, o, g), the σ gates' slopes σ(1 − σ), tanh'(g) and tanh'(c_t) of one step (``pre_t``: the
    gates' input a_t). On magnitudes (every argument ≥ 0), each with its own rounding added, in units of ε: how
    far σ, its slope and tanh's slope, computed from the rounded gates, are from their values at a_t (σ saturated
    at 1 computes a slope of 0 where the exact one is 1e-17; :func:`sigmoid_error`, :func:`slope_error`); a
    subtraction 1 − tanh²(c) counts its terms."""
    i, f, o, g = (gates_t[..., k * H:(k + 1) * H] for k in range(4))
    if not magnitude:
        return (i, f, o, g), (i * (1.0 - i), f * (1.0 - f), o * (1.0 - o)), 1.0 - g ** 2, 1.0 - tc_t ** 2
    gate, a = (lambda k: gates_t[..., k * H:(k + 1) * H]), (lambda k: pre_t[..., k * H:(k + 1) * H])
    values = tuple(gate(k) + sigmoid_error(gate(k), a(k)) for k in range(3))
    slopes = tuple(gate(k) * (1.0 - gate(k)) + slope_error(SIGMOID, gate(k), a(k)) for k in range(3))
    return (*values, g), slopes, 1.0 - g ** 2 + slope_error(TANH, g, a(3)), 1.0 + tc_t ** 2


def _t(x):
    return np.swapaxes(x, -1, -2)


@dataclass(frozen=True)
class Slip:
    """How a backward pass through time departs from the right one: ``order`` stacks the gates' gradients in
    another order, ``carry_c``/``carry_h`` False drop ∂C/∂c, ∂C/∂h from step t+1, ``sum_time`` False keeps only
    step 0's share of the params' gradients."""

    order: str = GATES
    carry_c: bool = True
    carry_h: bool = True
    sum_time: bool = True


def _formula(ls):
    return "a = x·Wx + h·Wh + b; i = σ(a[:H]), f = σ(a[H:2H]), o = σ(a[2H:3H]), g = tanh(a[3H:])"


MISTAKES = (
    KnownMistake("gates_ifgo", lambda ls: (
        f"{where(ls)}: the backward pass stacks the gate gradients in the order i, f, g, o, but the forward pass "
        f"reads the gates as i, f, o, g ({_formula(ls)}): da = [di, df, do, dg]"), _slip(Slip(order="ifgo"))),
    KnownMistake("gates_fiog", lambda ls: (
        f"{where(ls)}: the backward pass swaps the input and forget gates' gradients (f, i, o, g), but the "
        f"forward pass reads the gates as i, f, o, g ({_formula(ls)}): da = [di, df, do, dg]"),
        _slip(Slip(order="fiog"))),
    KnownMistake("c_not_carried", lambda ls: (
        f"{where(ls)}: ∂C/∂c is not carried back through time: c_{{t+1}} = f_{{t+1}}·c_t + i·g, so dc_t adds "
        "dc_{t+1}·f_{t+1} from the step after to dh_t·o_t·(1 − tanh²(c_t))"), _slip(Slip(carry_c=False)),
        applies=lambda ly: ly.steps > 1),
    KnownMistake("h_not_carried", lambda ls: (
        f"{where(ls)}: ∂C/∂h is not carried to the earlier step: h_t also feeds step t+1 through Wh, so dh_t "
        "adds da_{t+1}·Whᵀ (dprev_h) to the gradient from the layer above"), _slip(Slip(carry_h=False)),
        applies=lambda ly: ly.steps > 1),
    KnownMistake("not_summed_over_time", lambda ls: (
        f"{where(ls)} does not sum the weight gradients over time: Wx, Wh and b are shared by all "
        f"T = {ls[0].steps} steps, so dWx, dWh and db add every step's share (+=); the backward pass kept only "
        "the last step it visited (t = 0)"), _slip(Slip(sum_time=False)), applies=lambda ly: ly.steps > 1),
)


def _grid(a):
    """The rounding of a gate (1 + tanh(a/2))/2 from the grid of ε/4 it lies on, in units of ε: ¼ where its exact
    value and 1 minus it are both above ε/16, so that steps along a may move it from one grid point to the next (a
    gate of 1e-15 moves in stairs of 6% of itself, which a finite difference crosses where the gate at θ is exact);
    0 where it rounds to 0 or 1 and stays there."""
    return np.where(np.exp(-np.abs(a)) >= EPS / 16, 0.25, 0.0)


@dataclass(frozen=True, repr=False)
class LSTM(Recurrent):
    """LSTM over a sequence: ``units`` H, ``sequences`` (every h, or only the last)."""

    kind = "lstm"
    gates = 4
    gate_names = tuple(GATES)
    mistakes = MISTAKES
    meanings: ClassVar[dict] = {
        "Wx": "input weights, gates i, f, o, g", "Wh": "recurrent weights, gates i, f, o, g",
        "b": "bias, one per gate unit (4H)", "a_x": "x_t·Wx + b of every step", "a_t": "the gates' input at step t",
        "gates": "σ(i, f, o), tanh(g) of every step", "c": "cell state c_t of every step", "h": "h_t of every step",
        "z": "h of every step, or the last h", "da": "∂C/∂a_t of every step (through time)",
        "dWx": "∂C/∂Wx: summed over the steps", "dWh": "∂C/∂Wh: summed over the steps"}

    @classmethod
    def build(cls, read, index, in_shape, bias):
        units, sequences, out = cls._shapes(read, index, in_shape, bias)
        steps, d = in_shape
        last = "every step's h" if sequences else "the last step's h"
        return cls(index, tuple(in_shape), out, options={"units": units, "sequences": sequences},
                   formulas=(f"lstm {index}: gates 4·{units} = {4 * units} from {d} inputs and {units} "
                             f"recurrent, at each of {steps} steps",
                             f"lstm {index}: keeps {last}: {'x'.join(map(str, out))}"))

    @property
    def fan_in(self):
        """D: the inputs of one step (the layer reads T of them)."""
        return self.features

    @property
    def work(self):
        return self.steps * 7 * self.width + self.features * self.steps

    @property
    def symbolic_cost(self):
        """Twice a recurrent layer's: each step names four gates, c and h, and differentiates through them (at
        auto's limit with the recurrent cost alone, an lstm's third opinion took 0.8-1.5 s of CPU, a gru's
        0.2-0.5 s)."""
        return 2 * super().symbolic_cost

    def describe(self):
        t, d = self.in_shape
        return f"lstm {t}x{d} -> {t}x{self.width}" + (" every step" if self.sequences else ", last step")

    # -- arrays ------------------------------------------------------------------------------
    def forward(self, params, a_prev, conv, bias, tape=None):
        """z: every h (..., N, T, H) or the last h; the cache holds a_prev and every step's gates, c, tanh(c), h
        and the gates' input a_t (for the rounding model of the gates' slopes)."""
        rec = Recorder(tape, "forward")
        H, (n, steps, d) = self.width, a_prev.shape[-3:]
        Wx, Wh = rows(params["Wx"], conv), rows(params["Wh"], conv)
        a_x = (a_prev.reshape(*a_prev.shape[:-3], n * steps, d) @ Wx).reshape(
            *np.broadcast_shapes(a_prev.shape[:-3], Wx.shape[:-2]), n, steps, 4 * H)
        if bias.has_b:
            a_x = a_x + params["b"][..., None, None, :]
        wx = "Wx.T" if conv.samples_are_columns else "Wx"
        rec("a_x", f"a_prev @ {wx}" + (" + b" if bias.has_b else ""), a_x, a_prev=a_prev, **{wx: Wx})
        h = c_t = states_of(a_x, Wh, H)
        pre, gates = (np.empty((*h.shape[:-1], steps, 4 * H), dtype=h.dtype) for _ in range(2))
        c, tc, hs = (np.empty((*h.shape[:-1], steps, H), dtype=h.dtype) for _ in range(3))
        spare = np.empty((*h.shape[:-1], H), dtype=h.dtype)
        for t in range(steps):
            np.add(a_x[..., t, :], h @ Wh, out=pre[..., t, :])
            _cell(pre[..., t, :], c_t, H, gates[..., t, :], c[..., t, :], tc[..., t, :], hs[..., t, :], spare)
            c_t, h = c[..., t, :], hs[..., t, :]
        self._record_step(rec, conv, n, H, d)
        return self._record_output(rec, hs, conv), (a_prev, gates, c, tc, hs, pre)

    @staticmethod
    def _record_step(rec, conv, n, H, d):
        """One step of the loop over t, as shapes (every step has the same)."""
        if rec.tape is None:
            return
        wh = "Wh.T" if conv.samples_are_columns else "Wh"
        row, gate = np.empty((n, H)), np.empty((n, 4 * H))
        rec("a_t", f"a_x[:, t] + h_prev @ {wh}", gate, **{"a_x[:, t]": gate, "h_prev": row, wh: np.empty((H, 4 * H))})
        rec("c_t", "f * c_prev + i * g", row, f=row, c_prev=row, i=row, g=row)
        rec("h_t", "o * np.tanh(c_t)", row, o=row, c_t=row)

    def output_change(self, params, key, index, delta, cache, z, conv, bias):
        """z of a stack of networks, network p with element ``index[p]`` (flat) of param ``key`` moved by
        ``delta[p]`` (P,): (P, *z.shape).

        Every step runs once for the whole stack, one product (P·N, H) @ Wh with the base Wh, and the moved
        element adds its share to its one gate column j: δ·x_t[k] (Wx[k, j]), δ (b[j]) or δ·h_{t−1}[k]
        (Wh[k, j]); the input's product x @ Wx + b is the base network's."""
        x = cache[0]
        H, (n, steps, _) = self.width, x.shape
        Wx, Wh = rows(params["Wx"], conv), rows(params["Wh"], conv)
        j, k = self.moved_columns(key, index, conv)
        a_x = x @ Wx + (params["b"] if bias.has_b else 0.0)
        p, at = len(j), np.arange(len(j))
        dtype = np.result_type(delta, a_x)
        # every step's arrays made once: two of c and of h, each step writing the one the step before did not
        h, c = np.zeros((2, p, n, H), dtype=dtype), np.zeros((2, p, n, H), dtype=dtype)
        a_t, gates = np.empty((p, n, 4 * H), dtype=dtype), np.empty((p, n, 4 * H), dtype=dtype)
        tc, spare = np.empty((p, n, H), dtype=dtype), np.empty((p, n, H), dtype=dtype)
        out = np.empty((p, n, steps, H), dtype=dtype) if self.sequences else None
        d = np.asarray(delta)[:, None]
        for t in range(steps):
            now, then = t % 2, (t + 1) % 2
            np.matmul(h[now], Wh, out=a_t)
            a_t += a_x[:, t]
            self.add_moved(a_t, key, at, j, k, d, x[:, t], h[now] if t else None)
            _cell(a_t, c[now], H, gates, c[then], tc, h[then], spare)
            if out is not None:
                out[:, :, t] = h[then]
        h = h[steps % 2]
        if out is not None:
            return out
        return _t(h) if conv.samples_are_columns else h

    def backward(self, delta, cache, params, conv, bias, tape=None):
        """Backprop through time: ({"Wx", "Wh", "b"}, ∂C/∂a_prev) from δ = ∂C/∂z."""
        return self.bptt(delta, cache, params, conv, bias, tape=tape)

    def bptt(self, delta, cache, params, conv, bias, tape=None, slip=Slip(), magnitude=False):
        """:meth:`backward`; a :class:`Slip` makes one of its known mistakes; ``magnitude`` (all arguments ≥ 0) runs
        it on magnitudes with each factor's own rounding added (see :func:`_factors`)."""
        rec = Recorder(tape, "backward")
        x, hs = cache[0], cache[4]
        da, _, _ = self._through_time(delta, cache, params, conv, slip, magnitude)
        rec("da", "[di, df, do, dg] from delta[:, t] + dh_next, t = T−1 .. 0", da, delta=delta)
        h_prev = previous(hs)
        Wx = rows(params["Wx"], conv)
        grads, da_prev = self._grads(x, h_prev, da, Wx, conv, bias)
        if not slip.sum_time:  # the gradients keep step 0's share only; ∂C/∂a_prev is still right
            grads = self._grads(x[..., :1, :], h_prev[..., :1, :], da[..., :1, :], Wx, conv, bias)[0]
        rec("dWx", "Σ_t a_prev[:, t].T @ da[:, t]", grads["Wx"], a_prev=x, da=da)
        rec("dWh", "Σ_t h[:, t−1].T @ da[:, t]", grads["Wh"], h=hs, da=da)
        if bias.has_b:
            rec("db", "da.sum(axis=(0, 1))", grads["b"], da=da)
        rec("da_prev", "da @ Wx.T" if not conv.samples_are_columns else "da @ Wx", da_prev, da=da, Wx=Wx)
        return grads, da_prev

    def backward_magnitude(self, size, cache, params, conv, bias, a_prev=None):
        return self.bptt(size, cache, params, conv, bias, magnitude=True)

    def _through_time(self, delta, cache, params, conv, slip=Slip(), magnitude=False):
        """(∂C/∂a_t, ∂C/∂h_t, ∂C/∂c_t) of every step, each carried back from the steps after it."""
        _, gates, c, tc, hs, pre = cache
        H, steps = self.width, self.steps
        Wh = rows(params["Wh"], conv)
        dh_out = self._state_deltas(delta, hs, conv)
        da = np.empty(gates.shape, dtype=np.result_type(dh_out, gates))
        dH, dC = np.empty_like(da[..., :H]), np.empty_like(da[..., :H])
        dh_next = dc_next = 0.0
        at = [GATES.index(k) for k in slip.order]
        for t in reversed(range(steps)):
            dh = dh_out[..., t, :] + (dh_next if slip.carry_h else 0.0)
            (i, f, o, g), (di, df, do), dg, dtc = _factors(gates[..., t, :], tc[..., t, :], pre[..., t, :], H,
                                                           magnitude)
            dc = dh * o * dtc + (dc_next if slip.carry_c else 0.0)
            c_prev = c[..., t - 1, :] if t else 0.0
            blocks = (dc * g * di, dc * c_prev * df, dh * tc[..., t, :] * do, dc * i * dg)
            da[..., t, :] = da_t = np.concatenate([blocks[k] for k in at], axis=-1)
            dH[..., t, :], dC[..., t, :] = dh, dc
            dc_next = dc * f
            dh_next = da_t @ _t(Wh)
        return da, dH, dC

    def step_rounding(self, delta, cache, params, conv):
        """|x|·|∂C/∂x| of every value each step rounds (the gates' input a_t, i, f, o, g, c_t, tanh(c_t), h_t), for
        the loss's rounding model. A gate σ = (1 + tanh(a/2))/2 is good to ε/4 absolute, not relative: it counts
        with its distance from σ(a_t), and at least ε/4, the grid it lies on, wherever it is not saturated to an
        exact 0 or 1 (:func:`_grid`); c_t = f·c_(t−1) + i·g as the sum of its terms."""
        _, gates, c, tc, hs, pre = cache
        H = self.width
        da, dh, dc = (np.abs(v) for v in self._through_time(delta, cache, params, conv))
        i, f, o = (np.abs(gates[..., k * H:(k + 1) * H]) + 2 * np.maximum(
            sigmoid_error(gates[..., k * H:(k + 1) * H], pre[..., k * H:(k + 1) * H]),
            _grid(pre[..., k * H:(k + 1) * H])) for k in range(3))
        g, c_prev = np.abs(gates[..., 3 * H:]), np.abs(previous(c))
        return (np.abs(pre) * da, i * dc * g, f * dc * c_prev, o * dh * np.abs(tc), g * dc * i,
                (f * c_prev + i * g) * dc, np.abs(tc) * dh * o, np.abs(hs) * dh)

    def output_rounding(self, cache, params, a_prev, conv):
        """How far a correct forward pass's h may be from this one's, in units of ε (shaped like the output). A
        gate σ = (1 + tanh(a/2))/2 is good to ε/4 absolute, and one computed as 1/(1 + e^(−a)) to ε relative: where
        a gate saturates toward 0 the two differ far beyond ε·|h| (an output gate of 3e-14 puts 5e-4 of itself on
        h), and the gradients of the layers h feeds multiply that. Carried through c_t = f·c_(t−1) + i·g over the
        steps, and into h_t = o·tanh(c_t)."""
        _, gates, c, tc, _, pre = cache
        H = self.width
        di, df, do = (sigmoid_error(gates[..., k * H:(k + 1) * H], pre[..., k * H:(k + 1) * H]) for k in range(3))
        f, o, g = np.abs(gates[..., H:2 * H]), np.abs(gates[..., 2 * H:3 * H]), np.abs(gates[..., 3 * H:])
        c_prev = np.abs(previous(c))
        dc = np.empty_like(c)
        carried = 0.0
        for t in range(c.shape[-2]):
            carried = f[..., t, :] * carried + df[..., t, :] * c_prev[..., t, :] + di[..., t, :] * g[..., t, :]
            dc[..., t, :] = carried
        return self._output(do * np.abs(tc) + o * (1.0 - tc * tc) * dc, conv)

    _bptt = bptt  # the name the known mistakes' backward (recurrent.slip) calls

    # -- symbolic form -----------------------------------------------------------------------
    def symbolic_z(self, params, a_prev, conv, bias, define=None):
        """SymPy h's of one sample from the params' symbols and a flat list a_prev (C order of (T, D)): every
        step's h one after another, or the last h; ``define`` (from the derivation) names each step's gates'
        input a_t (``ga``), gates, c and h, so that a step's forms hold the step before by name, not written out
        again, and a weight's chain rule is its gate input's adjoint times its input, as a dense layer's is."""
        import sympy as sp

        H = self.width
        h, c, states = [0] * H, [0] * H, []
        for t in range(self.steps):
            x_t, h_w = self._symbolic_inputs(params, a_prev, conv, t), self._symbolic_matvec(h, params["Wh"], conv,
                                                                                           range(4 * H))
            a = self._named(define, "ga", t, [s + r for s, r in zip(x_t, h_w)])
            i, f, o = (self._named(define, letter, t, [1 / (1 + sp.exp(-v)) for v in a[k * H:(k + 1) * H]])
                       for k, letter in enumerate(("gi", "gf", "go")))
            g = self._named(define, "gg", t, [sp.tanh(v) for v in a[3 * H:]])
            c = self._named(define, "c", t, [f[j] * c[j] + i[j] * g[j] for j in range(H)])
            h = self._named(define, "h", t, [o[j] * sp.tanh(c[j]) for j in range(H)])
            states.append(h)
        return self._symbolic_output(states)
