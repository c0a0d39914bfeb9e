"""Probes for layers the user writes by index and by step: nearest-neighbour upsampling, a word embedding, a
vanilla RNN over a sequence or one step of it, and one LSTM step (CS231n's signatures). Each recomputes the forward
pass on the user's inputs and, when it is the user's output, replays the mistakes these layers are known for.
"""

from __future__ import annotations

import numpy as np

from .probe import Kind, same_out

__all__ = ["PROBES"]


def _floats(case):
    return [(i, a) for i, a in enumerate(case.inputs) if i in case.names and isinstance(a, np.ndarray)]


def upsamples(case):
    floats = _floats(case)
    if len(floats) != 1 or len(case.outs) != 1:
        return []
    (i, x), out, dout = floats[0], case.outs[0], case.douts[0]
    if x.ndim < 2 or out.ndim != x.ndim or out.shape[:-2] != x.shape[:-2]:
        return []
    (H, W), (ho, wo) = x.shape[-2:], out.shape[-2:]
    if ho % H or wo % W or ho // H != wo // W or ho == H:
        return []
    k = ho // H
    if not same_out(x.repeat(k, axis=-2).repeat(k, axis=-1), out):
        return []
    blocks = dout.reshape(*dout.shape[:-2], H, k, W, k)

    def kept(p, q):
        return lambda: {i: blocks[..., p, :, q]}

    def text(p, q):
        return (f"each input pixel is copied to a {k}x{k} block of the output, so its gradient is the sum of the "
                f"block's {k * k} gradients (dout.reshape(..., H, {k}, W, {k}).sum(axis=(-3, -1))); your dx keeps "
                f"one element of every block (dout[..., {p or ''}::{k}, {q or ''}::{k}])")

    return [Kind(f"nearest-neighbour upsampling x{k}", lambda: {i: blocks.sum(axis=(-3, -1))},
                 [(text(p, q), kept(p, q)) for p in range(k) for q in range(k)])]


def embeddings(case):
    ids = [(j, a) for j, a in enumerate(case.inputs) if isinstance(a, np.ndarray) and a.dtype.kind in "iu"]
    floats = [(j, a) for j, a in _floats(case) if a.ndim == 2]
    if len(ids) != 1 or len(floats) != 1 or len(case.outs) != 1:
        return []
    (_, x), (i, W), out, dout = ids[0], floats[0], case.outs[0], case.douts[0]
    if not same_out(W[x], out):
        return []

    def right():
        dW = np.zeros_like(W)
        np.add.at(dW, x, dout)
        return {i: dW}

    def buffered():
        dW = np.zeros_like(W)
        dW[x] += dout
        return {i: dW}

    text = ("dW[x] += dout is a buffered fancy-index +=: an id that occurs more than once keeps only one of its "
            "gradients; accumulate with np.add.at(dW, x, dout)")
    return [Kind("word embedding", right, [(text, buffered)])]


def _tanh_rnn(x, h0, Wx, Wh, b):
    hs, zs, prev = [], [], h0
    for t in range(x.shape[1]):
        zs.append(x[:, t] @ Wx + prev @ Wh + b)
        prev = np.tanh(zs[-1])
        hs.append(prev)
    return np.stack(hs, axis=1), np.stack(zs, axis=1)


#: tanh' as the right backward takes it, and as it is mistaken: (h, z) -> the factor dz = dh·factor.
_TANH_PRIME = {"right": lambda h, z: 1 - h ** 2, "at h": lambda h, z: 1 - np.tanh(h) ** 2,
               "z squared": lambda h, z: 1 - z ** 2, "left out": lambda h, z: np.ones_like(h)}
_TANH_TEXT = {
    "at h": "tanh' is evaluated at the output h = tanh(z) (1 − tanh²(h)) where it belongs at z: tanh'(z) = 1 − h²",
    "z squared": "tanh' is taken as 1 − z² with the pre-activation z; tanh'(z) = 1 − tanh²(z) = 1 − h²",
    "left out": "the derivative of tanh is left out (dz = dh); dz = dh·(1 − h²)",
}


def _rnn_backward(x, h0, Wx, Wh, hz, dh, through_time, prime="right"):
    (h, z), d = hz, _TANH_PRIME[prime]
    dx, dWx, dWh, db = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0])
    dprev = np.zeros_like(h0)
    for t in reversed(range(x.shape[1])):
        prev = h0 if t == 0 else h[:, t - 1]
        dz = (dh[:, t] + dprev) * d(h[:, t], z[:, t])
        dx[:, t] = dz @ Wx.T if through_time else (dh[:, t] * d(h[:, t], z[:, t])) @ Wx.T
        dprev = dz @ Wh.T
        dWx, dWh, db = dWx + x[:, t].T @ dz, dWh + prev.T @ dz, db + dz.sum(axis=0)
    return dx, dprev, dWx, dWh, db


def rnns(case):
    """CS231n's rnn_forward over a sequence x (N, T, D), or rnn_step_forward for one step x (N, D)."""
    floats = _floats(case)
    if len(floats) != 5 or len(case.outs) != 1 or floats[0][1].ndim not in (2, 3):
        return []
    idx, arrays = zip(*floats)
    step = arrays[0].ndim == 2
    x, h0, Wx, Wh, b = arrays
    x = x[:, None] if step else x
    try:
        hz = _tanh_rnn(x, h0, Wx, Wh, b)
    except ValueError:  # shapes that do not chain: not an RNN
        return []
    if not same_out(hz[0][:, 0] if step else hz[0], case.outs[0]):
        return []
    dh = case.douts[0][:, None] if step else case.douts[0]

    def run(through, prime="right"):
        def grads():
            g = _rnn_backward(x, h0, Wx, Wh, hz, dh, through, prime)
            return dict(zip(idx, (g[0][:, 0], *g[1:]) if step else g))
        return grads

    mistakes = [(text, run(True, key)) for key, text in _TANH_TEXT.items()]
    if not step:
        mistakes.insert(0, ("dx at step t takes only dh[:, t], the gradient of that step's own output; the terms "
                            "that come back through time (dh_next from step t + 1) are missing: "
                            "dx[:, t] = ((dh[:, t] + dh_next)·(1 − h_t²)) @ Wx.T", run(False)))
    return [Kind("vanilla RNN step (tanh)" if step else "vanilla RNN (tanh)", run(True), mistakes)]


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _lstm(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = _sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    c = f * prev_c + i * g
    return (o * np.tanh(c), c), (i, f, o, g, c)


def _lstm_backward(arrays, gates, dh, dc_next, through_h):
    x, prev_h, prev_c, Wx, Wh, _ = arrays
    i, f, o, g, c = gates
    tc = np.tanh(c)
    dc = dc_next + (dh * o * (1 - tc ** 2) if through_h else 0.0)
    da = np.hstack([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dh * tc * o * (1 - o), dc * i * (1 - g ** 2)])
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_steps(case):
    floats = _floats(case)
    if len(floats) != 6 or len(case.outs) != 2 or floats[3][1].shape[1] != 4 * floats[1][1].shape[1]:
        return []
    idx, arrays = zip(*floats)
    outs, gates = _lstm(*arrays)
    if not (same_out(outs[0], case.outs[0]) and same_out(outs[1], case.outs[1])):
        return []

    def run(through):
        return lambda: dict(zip(idx, _lstm_backward(arrays, gates, *case.douts, through)))

    text = ("the cell's gradient is dnext_c alone; next_h = o·tanh(next_c) sends dnext_h·o·(1 − tanh²(next_c)) "
            "into it too: dc = dnext_c + dnext_h * o * (1 - np.tanh(next_c) ** 2)")
    return [Kind("LSTM step", run(True), [(text, run(False))])]


#: Tried after the catalogue's probes.
PROBES = (embeddings, upsamples, rnns, lstm_steps)
