"""An LSTM network's backprop as a student writes it (CS231n's lstm_step_forward/backward, gates i, f, o, g),
called as ``fn(params, X, Y)``; row convention: X (N, T, D), Wx (D, 4H), Wh (H, 4H), b (4H,).

The network (:data:`SPEC`): lstm (every h) -> dense per step, mse over every step. Each
wrong variant makes one classic mistake of backprop through time.
"""

import numpy as np

SPEC = {
    "input": {"steps": 4, "features": 3}, "loss": "mse", "convention": "row", "batch": 3, "seed": 4,
    "layers": [{"type": "lstm", "units": 3, "sequences": True}, {"type": "dense", "units": 2}],
}
#: The same network keeping only the last h.
LAST = {**SPEC, "layers": [{"type": "lstm", "units": 3, "sequences": False}, {"type": "dense", "units": 2}]}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def lstm_step_backward(dnext_h, dnext_c, cache, order="ifog"):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc ** 2)
    parts = {"i": dc * g * i * (1 - i), "f": dc * prev_c * f * (1 - f), "o": dnext_h * tc * o * (1 - o),
             "g": dc * i * (1 - g ** 2)}
    da = np.hstack([parts[k] for k in order])
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, Wx, Wh, b):
    N, T, _ = x.shape
    H = Wh.shape[0]
    h, c = np.zeros((N, H)), np.zeros((N, H))
    hs, caches = np.zeros((N, T, H)), []
    for t in range(T):
        h, c, cache = lstm_step_forward(x[:, t], h, c, Wx, Wh, b)
        hs[:, t] = h
        caches.append(cache)
    return hs, caches


def lstm_backward(dh, caches, order="ifog", carry_c=True, carry_h=True, accumulate=True):
    N, T, H = dh.shape
    x, _, _, Wx, Wh, *_ = caches[0]
    dx = np.zeros((N, T, x.shape[1]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H)
    dprev_h, dprev_c = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        dnext_h = dh[:, t] + (dprev_h if carry_h else 0)
        dnext_c = dprev_c if carry_c else np.zeros((N, H))
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dnext_h, dnext_c, caches[t], order)
        if accumulate:
            dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
        else:
            dWx, dWh, db = dWx_t, dWh_t, db_t
    return dx, dWx, dWh, db


def _net(params, X, Y, last=False, **mistake):
    lstm, dense = params
    hs, caches = lstm_forward(X, lstm["Wx"], lstm["Wh"], lstm["b"])
    N = hs.shape[0]
    if last:
        out = hs[:, -1] @ dense["W"] + dense["b"]
        dout = 2 * (out - Y) / (N * Y.shape[-1])
        dW, db = hs[:, -1].T @ dout, dout.sum(axis=0)
        dh = np.zeros_like(hs)
        dh[:, -1] = dout @ dense["W"].T
    else:
        out = hs @ dense["W"] + dense["b"]
        dout = 2 * (out - Y) / (N * Y.shape[-1])
        dW, db = np.einsum("nth,ntk->hk", hs, dout), dout.sum(axis=(0, 1))
        dh = dout @ dense["W"].T
    _, dWx, dWh, dlb = lstm_backward(dh, caches, **mistake)
    return [{"Wx": dWx, "Wh": dWh, "b": dlb}, {"W": dW, "b": db}]


def lstm_net(params, X, Y):
    return _net(params, X, Y)


def lstm_last(params, X, Y):
    return _net(params, X, Y, last=True)


def lstm_net_gates_ifgo(params, X, Y):
    return _net(params, X, Y, order="ifgo")


def lstm_net_gates_fiog(params, X, Y):
    return _net(params, X, Y, order="fiog")


def lstm_net_c_not_carried(params, X, Y):
    return _net(params, X, Y, carry_c=False)


def lstm_net_h_not_carried(params, X, Y):
    return _net(params, X, Y, carry_h=False)


def lstm_last_h_not_carried(params, X, Y):
    return _net(params, X, Y, last=True, carry_h=False)


def lstm_net_not_summed(params, X, Y):
    return _net(params, X, Y, accumulate=False)
