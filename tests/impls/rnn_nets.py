"""Recurrent networks written as a student writes them (CS231n's rnn_step_forward/backward, d2l's GRU), with the
classic backpropagation-through-time mistakes.

Called as ``fn(params, X, Y)``; row convention throughout: X (N, T, D), rnn Wx (D, H), Wh (H, H), b (H,); gru
Wx (D, 3H), Wh (H, 3H), b (3H,) in gate blocks r, z, h̃; dense W (H, K). Each network's net.json is in
:data:`SPECS`. Each wrong variant makes one mistake, named in its docstring. Nothing here uses gradcheck.
"""

import numpy as np

SPECS = {
    # rnn tanh, every state -> dense per step -> softmax, cross-entropy summed over the steps
    "rnn_many": {
        "input": {"steps": 4, "features": 3}, "loss": "cross_entropy", "convention": "row", "batch": 3, "seed": 4,
        "layers": [{"type": "rnn", "units": 3, "activation": "tanh", "sequences": True},
                   {"type": "dense", "units": 2, "activation": "softmax"}],
    },
    # gru, every state -> dense per step -> softmax
    "gru_many": {
        "input": {"steps": 3, "features": 2}, "loss": "cross_entropy", "convention": "row", "batch": 3, "seed": 6,
        "layers": [{"type": "gru", "units": 3, "sequences": True},
                   {"type": "dense", "units": 2, "activation": "softmax"}],
    },
}


# -- the vanilla rnn (CS231n) ------------------------------------------------------------------------------

def rnn_forward(x, Wx, Wh, b):
    N, T, _ = x.shape
    H = Wh.shape[0]
    h, hs = np.zeros((N, H)), []
    for t in range(T):
        h = np.tanh(x[:, t] @ Wx + h @ Wh + b)
        hs.append(h)
    return np.stack(hs, axis=1), (x, Wx, Wh, hs)


def rnn_backward(dh_all, cache, summed=True, carried=True, tanh_of_previous=False):
    x, Wx, Wh, hs = cache
    N, T, _ = x.shape
    dx = np.zeros_like(x)
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[0])
    dprev_h = np.zeros((N, Wh.shape[0]))
    for t in reversed(range(T)):
        h_prev = hs[t - 1] if t > 0 else np.zeros_like(hs[0])
        dh = dh_all[:, t] + (dprev_h if carried else 0)
        ds = dh * (1 - (h_prev if tanh_of_previous else hs[t]) ** 2)
        if summed:
            dWx += x[:, t].T @ ds
            dWh += h_prev.T @ ds
            db += ds.sum(axis=0)
        else:
            dWx = x[:, t].T @ ds
            dWh = h_prev.T @ ds
            db = ds.sum(axis=0)
        dx[:, t] = ds @ Wx.T
        dprev_h = ds @ Wh.T
    return dx, dWx, dWh, db


# -- d2l's gru -------------------------------------------------------------------------------------------------

def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def gru_forward(x, Wx, Wh, b):
    N, T, _ = x.shape
    H = Wh.shape[0]
    h, steps = np.zeros((N, H)), []
    for t in range(T):
        a = x[:, t] @ Wx + b
        r = _sigmoid(a[:, :H] + h @ Wh[:, :H])
        z = _sigmoid(a[:, H:2 * H] + h @ Wh[:, H:2 * H])
        c = np.tanh(a[:, 2 * H:] + (r * h) @ Wh[:, 2 * H:])
        steps.append((h, r, z, c))
        h = z * h + (1 - z) * c
        steps[-1] += (h,)
    return np.stack([s[4] for s in steps], axis=1), (x, Wx, Wh, steps)


def gru_backward(dh_all, cache, swapped=False, reset_path=True):
    x, Wx, Wh, steps = cache
    H = Wh.shape[0]
    dx, dWx, dWh, db = np.zeros_like(x), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(3 * H)
    dnext = 0
    for t in reversed(range(x.shape[1])):
        h_prev, r, z, c, _ = steps[t]
        dh = dh_all[:, t] + dnext
        if swapped:  # differentiates h = (1 − z)·h_prev + z·c
            dc, dz, dnext = dh * z, dh * (c - h_prev), dh * (1 - z)
        else:
            dc, dz, dnext = dh * (1 - z), dh * (h_prev - c), dh * z
        dac = dc * (1 - c ** 2)
        drh = dac @ Wh[:, 2 * H:].T
        dar = drh * h_prev * r * (1 - r)
        daz = dz * z * (1 - z)
        da = np.concatenate([dar, daz, dac], axis=1)
        dWx += x[:, t].T @ da
        dWh[:, :2 * H] += h_prev.T @ da[:, :2 * H]
        dWh[:, 2 * H:] += (r * h_prev).T @ dac
        db += da.sum(axis=0)
        dx[:, t] = da @ Wx.T
        dnext = dnext + da[:, :2 * H] @ Wh[:, :2 * H].T + (drh * r if reset_path else 0)
    return dx, dWx, dWh, db


# -- the networks ----------------------------------------------------------------------------------------------

def _per_step_softmax(hs, W, b, Y):
    """Dense per step and softmax; cross-entropy summed over the steps, averaged over N: (dW, db, dhs)."""
    scores = hs @ W + b
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    dscores = (p - Y) / hs.shape[0]
    return np.einsum("nth,ntk->hk", hs, dscores), dscores.sum(axis=(0, 1)), dscores @ W.T


def _net(params, X, Y, forward, backward, **slip):
    cell, out = params
    hs, cache = forward(X, cell["Wx"], cell["Wh"], cell["b"])
    dW, db, dhs = _per_step_softmax(hs, out["W"], out["b"], Y)
    _, dWx, dWh, dbh = backward(dhs, cache, **slip)
    return [{"Wx": dWx, "Wh": dWh, "b": dbh}, {"W": dW, "b": db}]


def rnn_many(params, X, Y):
    return _net(params, X, Y, rnn_forward, rnn_backward)


def rnn_many_not_summed(params, X, Y):
    """``dWx = x[:, t].T @ ds`` (and dWh, db) instead of ``+=``: only the t = 0 term is left."""
    return _net(params, X, Y, rnn_forward, rnn_backward, summed=False)


def rnn_many_not_carried(params, X, Y):
    """``dh = dh_all[:, t]``: dprev_h from step t + 1 is dropped, so dx[t] holds only output t's term."""
    return _net(params, X, Y, rnn_forward, rnn_backward, carried=False)


def rnn_many_tanh_of_previous(params, X, Y):
    """``ds = dh * (1 - h_prev ** 2)``: tanh' at the previous state instead of the step's own."""
    return _net(params, X, Y, rnn_forward, rnn_backward, tanh_of_previous=True)


def gru_many(params, X, Y):
    return _net(params, X, Y, gru_forward, gru_backward)


def gru_many_swapped(params, X, Y):
    """The backward of h = (1 − z)·h_prev + z·h̃ on d2l's forward h = z·h_prev + (1 − z)·h̃."""
    return _net(params, X, Y, gru_forward, gru_backward, swapped=True)


def gru_many_reset_path_dropped(params, X, Y):
    """dh_prev misses (dâh @ Whhᵀ) * r, the previous state's path through r ⊙ h_prev in the candidate."""
    return _net(params, X, Y, gru_forward, gru_backward, reset_path=False)
