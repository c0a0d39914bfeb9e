"""CS231n's recurrent layers (third assignment), written as a student writes them, with real mistakes.

``rnn_step``, ``rnn``, ``lstm_step`` and ``word_embedding`` keep the assignment's signatures:
``lstm_step_forward`` returns ``(next_h, next_c, cache)`` and its backward takes
``(dnext_h, dnext_c, cache)``; ``word_embedding_forward(x, W)`` takes integer ids x (N, T).
Each wrong backward makes one mistake, named in its docstring. Nothing here uses gradcheck.
"""

import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# -- vanilla RNN ----------------------------------------------------------------------------------


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """x (N, D), prev_h (N, H), Wx (D, H), Wh (H, H), b (H,) -> next_h (N, H)."""
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    dz = dnext_h * (1 - next_h ** 2)
    return dz @ Wx.T, dz @ Wh.T, x.T @ dz, prev_h.T @ dz, dz.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    """x (N, T, D), h0 (N, H) -> h (N, T, H)."""
    N, T, _ = x.shape
    h = np.zeros((N, T, h0.shape[1]))
    prev, caches = h0, []
    for t in range(T):
        prev, cache = rnn_step_forward(x[:, t], prev, Wx, Wh, b)
        h[:, t] = prev
        caches.append(cache)
    return h, caches


def _rnn_backward(dh, caches, through_time):
    N, T, H = dh.shape
    x0, _, Wx, Wh, _ = caches[0]
    dx = np.zeros((N, T, x0.shape[1]))
    dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    dprev = np.zeros((N, H))
    for t in reversed(range(T)):
        dx_t, dprev_t, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev, caches[t])
        if not through_time:  # dx from this step's own dh only
            dx_t = rnn_step_backward(dh[:, t], caches[t])[0]
        dx[:, t], dprev = dx_t, dprev_t
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev, dWx, dWh, db


def rnn_backward(dh, caches):
    return _rnn_backward(dh, caches, True)


def rnn_backward_dx_local(dh, caches):
    """``dx[:, t] = step_backward(dh[:, t], ...)``: dx misses the terms that come back through time."""
    return _rnn_backward(dh, caches, False)


# -- LSTM step --------------------------------------------------------------------------------------


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """x (N, D), prev_h, prev_c (N, H), Wx (D, 4H), Wh (H, 4H), b (4H,) -> next_h, next_c, cache."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


def _lstm_step_backward(dnext_h, dnext_c, cache, through_h=True):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + (dnext_h * o * (1 - tc ** 2) if through_h else 0)
    di, df, do, dg = dc * g, dc * prev_c, dnext_h * tc, dc * i
    da = np.hstack([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g ** 2)])
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_step_backward(dnext_h, dnext_c, cache):
    return _lstm_step_backward(dnext_h, dnext_c, cache)


def lstm_step_backward_c_only(dnext_h, dnext_c, cache):
    """``dc = dnext_c``: the cell's gradient misses what comes through next_h = o·tanh(next_c)."""
    return _lstm_step_backward(dnext_h, dnext_c, cache, through_h=False)


# -- word embedding ---------------------------------------------------------------------------------


def word_embedding_forward(x, W):
    """x (N, T) integer ids into W (V, D) -> out (N, T, D)."""
    return W[x], (x, W)


def word_embedding_backward(dout, cache):
    x, W = cache
    dW = np.zeros_like(W)
    np.add.at(dW, x, dout)
    return dW


def word_embedding_backward_buffered(dout, cache):
    """``dW[x] += dout``: a buffered fancy-index +=, so a repeated id keeps one of its gradients."""
    x, W = cache
    dW = np.zeros_like(W)
    dW[x] += dout
    return dW
