"""The gated recurrent unit, as d2l defines it (Dive into Deep Learning, 10.2).

    r_t = σ(x_t·Wxr + h_(t−1)·Whr + br)              reset gate
    z_t = σ(x_t·Wxz + h_(t−1)·Whz + bz)              update gate
    h̃_t = tanh(x_t·Wxh + (r_t ⊙ h_(t−1))·Whh + bh)   candidate state
    h_t = z_t ⊙ h_(t−1) + (1 − z_t) ⊙ h̃_t,   h_0 = 0

The three gates' weights are held side by side, one block of H columns per gate in the
order r, z, h̃: ``Wx`` = [Wxr | Wxz | Wxh] (D, 3H), ``Wh`` = [Whr | Whz | Whh] (H, 3H) and
``b`` = [br | bz | bh] (3H,) in the row convention; the transposes Wx (3H, D), Wh (3H, H)
(row blocks, same order) in the column convention. Backward, from the last step down, with
dh_t = δ_t + what step t + 1 sends back:

    dh̃ = dh ⊙ (1 − z),   dz = dh ⊙ (h_(t−1) − h̃),   dâh = dh̃ ⊙ (1 − h̃²)
    d(r ⊙ h) = dâh·Whhᵀ,   dr = d(r ⊙ h) ⊙ h_(t−1),   dâr = dr ⊙ r(1 − r),   dâz = dz ⊙ z(1 − z)
    dh_(t−1) = dh ⊙ z + d(r ⊙ h) ⊙ r + [dâr, dâz]·[Whr, Whz]ᵀ

(â the gates' pre-activations); the weights' gradients sum every step's terms, with
(r ⊙ h_(t−1)) as the input of Whh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Recorder
from .mistakes import KnownMistake, where
from .recurrent import SIGMOID, TANH, Recurrent, previous, rows, slope_magnitude, states_of
from .recurrent import slip as _slip

__all__ = ["GRU"]

MISTAKES = (
    KnownMistake("update_gate_swapped", lambda ls: (
        f"{where(ls)}: the backward pass swaps z and 1 − z (it differentiates h_t = (1 − z)⊙h_(t−1) + z⊙h̃, the "
        "other papers' convention); the forward pass is d2l's h_t = z⊙h_(t−1) + (1 − z)⊙h̃, so dh̃ = dh⊙(1 − z), "
        "dz = dh⊙(h_(t−1) − h̃) and dh_(t−1) gets dh⊙z"), _slip("update_gate_swapped")),
    KnownMistake("reset_path_dropped", lambda ls: (
        f"{where(ls)}: dh_(t−1) misses the path through the candidate, where the previous state enters as "
        "r⊙h_(t−1): add d(r⊙h)⊙r, with d(r⊙h) = dâh·Whhᵀ (dâh = ∂C/∂ of the candidate's pre-activation)"),
        _slip("reset_path_dropped")),
)


@dataclass(frozen=True, repr=False)
class GRU(Recurrent):
    """d2l's gated recurrent unit: gates r, z and candidate h̃, one block of H each in Wx, Wh and b."""

    kind = "gru"
    gates = 3
    gate_names = ("r", "z", "h̃")
    mistakes = MISTAKES
    meanings: ClassVar[dict] = {
        **Recurrent.common_meanings, "dA": "∂C/∂ of the gates' pre-activations, blocks r, z, h̃, every step",
        "h_in": "the input of Wh at every step: h_(t−1) for blocks r and z, r ⊙ h_(t−1) for h̃",
        "Wx": "input weights [Wxr | Wxz | Wxh], gate blocks r, z, h̃",
        "Wh": "state weights [Whr | Whz | Whh], gate blocks r, z, h̃",
        "b": "biases [br | bz | bh], gate blocks r, z, h̃", "xWx": "x_t·Wx + b for every step, gate blocks r, z, h̃",
        "r": "reset gate r_t of every step", "u": "update gate z_t of every step",
        "c": "candidate state h̃_t of every step", "h": "state h_t = z⊙h_(t−1) + (1 − z)⊙h̃ of every step",
        "z": "every state h_t, or the last state h_T"}

    @classmethod
    def build(cls, read, index, in_shape, bias):
        units, sequences, out_shape = cls._shapes(read, index, in_shape, bias)
        return cls(index, tuple(in_shape), out_shape, options={"units": units, "sequences": sequences},
                   formulas=cls._formulas(index, in_shape, units, sequences, bias))

    def describe(self):
        return self._describe(", gates r, z, h̃")

    # -- arrays ----------------------------------------------------------------------------------
    def _run(self, params, x, conv):
        """Every step's gates R, Z, candidate C and state H, each (..., N, T, H)."""
        Hn = self.width
        xw, Wh = self._inputs(params, x, conv)
        h = states_of(xw, Wh, Hn)
        out = {"r": [], "u": [], "c": [], "h": [], "pre": []}
        for t in range(self.steps):
            a = xw[..., t, :]
            hw = h @ Wh[..., :, :2 * Hn]
            gated = a[..., :2 * Hn] + hw
            pre = np.concatenate([gated, np.broadcast_to(a[..., 2 * Hn:], (*gated.shape[:-1], Hn))], axis=-1)
            r = SIGMOID.forward(pre[..., :Hn])
            u = SIGMOID.forward(pre[..., Hn:2 * Hn])
            pre[..., 2 * Hn:] += (r * h) @ Wh[..., :, 2 * Hn:]
            c = np.tanh(pre[..., 2 * Hn:])
            h = u * h + (1.0 - u) * c
            for key, v in zip("r u c h pre".split(), (r, u, c, h, pre)):
                out[key].append(v)
        return xw, {key: np.stack(v, axis=-2) for key, v in out.items()}

    def forward(self, params, a_prev, conv, bias, tape=None):
        rec = Recorder(tape, "forward")
        xw, g = self._run(params, a_prev, conv)
        self._record_inputs(rec, params, a_prev, xw, conv)
        H = g["h"]
        h_prev = previous(H)
        n = self.width
        rec("r", f"sigmoid(xWx[..., :{n}] + h_prev @ Whr), step by step", g["r"], xWx=xw, h_prev=h_prev)
        rec("u", f"sigmoid(xWx[..., {n}:{2 * n}] + h_prev @ Whz), step by step", g["u"], xWx=xw, h_prev=h_prev)
        rec("c", f"tanh(xWx[..., {2 * n}:] + (r * h_prev) @ Whh), step by step", g["c"], xWx=xw, r=g["r"],
            h_prev=h_prev)
        rec("h", "u * h_prev + (1 - u) * c", H, u=g["u"], h_prev=h_prev, c=g["c"])
        return self._record_output(rec, H, conv), (a_prev, g["r"], g["u"], g["c"], H, g["pre"])

    def output_change(self, params, key, index, delta, cache, z, conv, bias):
        """z of a stack of networks, network p with element ``index[p]`` (flat) of param ``key`` moved by
        ``delta[p]`` (P,): (P, *z.shape).

        Every step runs once for the whole stack, with the base Wh, and the moved element adds its share to its
        one column j: δ·x_t[k] to x_t·Wx + b (Wx[k, j]), δ (b[j]), δ·h_(t−1)[k] to h_(t−1)·Wh's r or z block, or
        δ·(r ⊙ h_(t−1))[k] to the candidate's (Wh[k, j]); the input's product x·Wx + b is the base network's, not
        one per network of the stack."""
        x, j, k, xw, Wh, at, d, dtype = self.moved_stack(params, key, index, delta, cache, conv)
        n_h, (n, steps, _), p = self.width, x.shape, len(at)
        gated = (j < 2 * n_h) if key == "Wh" else None  # a moved Wh element of the r or z block, else of h̃'s
        h = np.zeros((p, n, n_h), dtype=dtype)
        out = np.empty((p, n, steps, n_h), dtype=dtype) if self.sequences else None
        for t in range(steps):
            a = np.broadcast_to(xw[:, t], (p, n, 3 * n_h)).astype(dtype)
            self.add_moved(a, key, at, j, k, d, x[:, t])  # Wh's share goes to h·Wh's blocks, below
            hw = h @ Wh[:, :2 * n_h]
            if gated is not None:
                hw[at[gated], :, j[gated]] += d[gated] * h[at[gated], :, k[gated]]
            r = SIGMOID.forward(a[..., :n_h] + hw[..., :n_h])
            u = SIGMOID.forward(a[..., n_h:2 * n_h] + hw[..., n_h:])
            rh = r * h
            cw = rh @ Wh[:, 2 * n_h:]
            if gated is not None:
                free = ~gated
                cw[at[free], :, j[free] - 2 * n_h] += d[free] * rh[at[free], :, k[free]]
            c = np.tanh(a[..., 2 * n_h:] + cw)
            h = u * h + (1.0 - u) * c
            if out is not None:
                out[:, :, t] = h
        return out if out is not None else self._output(h[:, :, None, :], conv)

    def backward(self, delta, cache, params, conv, bias, tape=None):
        grads, dx, terms = self._bptt(delta, cache, params, conv, bias, terms=True)
        self._record_grads(tape, grads, dx, terms, params, conv, name="dA")
        return grads, dx

    def backward_magnitude(self, size, cache, params, conv, bias, a_prev=None):
        return self._bptt(size, cache, params, conv, bias, magnitude=True)

    def _bptt(self, delta, cache, params, conv, bias, slip=None, magnitude=False, terms=False):
        """Backpropagation through time (see the module); ``slip`` makes one of the known mistakes instead;
        ``magnitude`` runs it on magnitudes with each factor's rounding added (see :meth:`_through_time`);
        ``terms`` also returns (x, h_(t−1), dA) of every step, for the shape trace."""
        x, R, Hin = cache[0], cache[1], previous(cache[4])
        Hn = self.width
        dA, _, _ = self._through_time(delta, cache, params, conv, slip, magnitude)
        grads, dx = self._grads(x, Hin, dA, rows(params["Wx"], conv), conv, bias)
        # Whh's input is r ⊙ h_(t−1), not h_(t−1): its block of dWh is Σ (r ⊙ h_prev)ᵀ·dâh
        dWhh = np.einsum("...ntg,...nth->...gh", R * Hin, dA[..., 2 * Hn:])
        dWh = rows(grads["Wh"], conv).copy()
        dWh[..., :, 2 * Hn:] = dWhh
        grads["Wh"] = rows(dWh, conv)
        return (grads, dx, (x, Hin, dA)) if terms else (grads, dx)

    def _through_time(self, delta, cache, params, conv, slip=None, magnitude=False):
        """(dA: ∂C/∂ of the gates' pre-activations, dH: ∂C/∂h_t, dRH: ∂C/∂(r ⊙ h_(t−1))) of every step, each
        carried back from the steps after it. On magnitudes (``magnitude``, every argument ≥ 0) each subtraction
        adds its terms (1 − z, h_(t−1) − h̃) and each slope its own rounding (1 − h̃² and σ(1 − σ) cancel where
        they saturate)."""
        _, R, U, Cn, H, pre = cache
        Hn = self.width
        Wh = rows(params["Wh"], conv)
        WrzT, WhhT = np.swapaxes(Wh[..., :, :2 * Hn], -1, -2), np.swapaxes(Wh[..., :, 2 * Hn:], -1, -2)
        dH = self._state_deltas(delta, H, conv)
        Hin = previous(H)
        slope = slope_magnitude if magnitude else lambda act, y, _: act.derivative(None, y)
        dA, dh_all, drh_all = [], [], []
        carry = 0.0
        for t in reversed(range(self.steps)):
            r, u, c, hp = R[..., t, :], U[..., t, :], Cn[..., t, :], Hin[..., t, :]
            a_r, a_u, a_c = (pre[..., t, k * Hn:(k + 1) * Hn] for k in range(3))
            dh = dH[..., t, :] + carry
            keep, new = (1.0 - u, u) if slip == "update_gate_swapped" else (u, 1.0 + u if magnitude else 1.0 - u)
            gap = hp + c if magnitude else (c - hp if slip == "update_gate_swapped" else hp - c)
            dah = dh * new * slope(TANH, c, a_c)
            drh = dah @ WhhT
            dar = drh * hp * slope(SIGMOID, r, a_r)
            dau = dh * gap * slope(SIGMOID, u, a_u)
            dA.append(np.concatenate(np.broadcast_arrays(dar, dau, dah), axis=-1))
            dh_all.append(dh)
            drh_all.append(drh)
            carry = dh * keep + np.concatenate(np.broadcast_arrays(dar, dau), axis=-1) @ WrzT
            if slip != "reset_path_dropped":
                carry = carry + drh * r
        return tuple(np.stack(v[::-1], axis=-2) for v in (dA, dh_all, drh_all))

    def step_rounding(self, delta, cache, params, conv):
        """|x|·|∂C/∂x| of every value each step rounds: the gates' pre-activations, r, z, r ⊙ h_(t−1), h̃, and
        h_t = z·h_(t−1) + (1 − z)·h̃ as the sum of its terms (1 − z is good to ε/2 absolute, times h̃)."""
        _, R, U, Cn, H, pre = cache
        dA, dH, dRH = (np.abs(v) for v in self._through_time(delta, cache, params, conv))
        Hin = previous(H)
        r, u, c, hp = np.abs(R), np.abs(U), np.abs(Cn), np.abs(Hin)
        return (np.abs(pre) * dA, r * dRH * hp, u * dH * np.abs(Hin - Cn), c * dH * (1.0 - u), r * hp * dRH,
                (u * hp + (1.0 - u) * c + c) * dH)

    def symbolic_z(self, params, a_prev, conv, bias, define=None):
        """One sample's states from h_0 = 0, step by step, d2l's gates (see the module); ``define`` (from the
        derivation) names each step's gates, candidate and state."""
        Hn, Wh = self.width, params["Wh"]
        h, states = [0] * Hn, []
        for t in range(self.steps):
            a = self._symbolic_inputs(params, a_prev, conv, t)
            hw = self._symbolic_matvec(h, Wh, conv, range(2 * Hn))
            r = self._named(define, "r", t, SIGMOID.symbolic([a[j] + hw[j] for j in range(Hn)]))
            u = self._named(define, "u", t, SIGMOID.symbolic([a[Hn + j] + hw[Hn + j] for j in range(Hn)]))
            rh = [ri * hi for ri, hi in zip(r, h)]
            cw = self._symbolic_matvec(rh, Wh, conv, range(2 * Hn, 3 * Hn))
            c = self._named(define, "c", t, TANH.symbolic([a[2 * Hn + j] + cw[j] for j in range(Hn)]))
            h = self._named(define, "h", t, [ui * hi + (1 - ui) * ci for ui, hi, ci in zip(u, h, c)])
            states.append(h)
        return self._symbolic_output(states)
