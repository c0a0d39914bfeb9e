"""Backward slips met in public layer code, each beside its right form. Nothing here uses gradcheck.

* dropout with a keep probability ``p`` and one mask row shared by the batch, whose backward rescales by 1/p but
  leaves the mask out;
* a max pool whose backward assigns each window's gradient to its max element (``dx[argmax] = dout``), right only
  where windows do not overlap;
* one step of a tanh RNN whose backward takes tanh' at the wrong place.
"""

import numpy as np
from layer_bugs import max_pool_forward  # noqa: F401 - the same forward, with these backwards


def dropout_forward(x, dropout_param):
    p = dropout_param["p"]  # the keep probability
    mask = (np.random.default_rng(dropout_param["seed"]).random((1, x.shape[1])) < p) / p
    return x * mask, (mask, p)


def dropout_backward(dout, cache):
    return dout * cache[0]


def dropout_backward_rescale_only(dout, cache):
    return dout / cache[1]


def _max_pool_backward(dout, cache, add):
    x, pool_param = cache
    k, s = pool_param["size"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dout.shape):
        win = x[n, c, i * s:i * s + k, j * s:j * s + k]
        r, q = np.unravel_index(win.argmax(), win.shape)
        if add:
            dx[n, c, i * s + r, j * s + q] += dout[n, c, i, j]
        else:
            dx[n, c, i * s + r, j * s + q] = dout[n, c, i, j]
    return dx


def max_pool_backward(dout, cache):
    return _max_pool_backward(dout, cache, add=True)


def max_pool_backward_assigned(dout, cache):
    return _max_pool_backward(dout, cache, add=False)


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    z = x @ Wx + prev_h @ Wh + b
    next_h = np.tanh(z)
    return next_h, (x, prev_h, Wx, Wh, z, next_h)


def _rnn_step_backward(dnext_h, cache, prime):
    x, prev_h, Wx, Wh, z, next_h = cache
    dz = dnext_h * prime(z, next_h)
    return dz @ Wx.T, dz @ Wh.T, x.T @ dz, prev_h.T @ dz, dz.sum(axis=0)


def rnn_step_backward(dnext_h, cache):
    return _rnn_step_backward(dnext_h, cache, lambda z, h: 1 - h ** 2)


def rnn_step_backward_at_h(dnext_h, cache):
    """tanh' evaluated at the output: 1 − tanh²(next_h)."""
    return _rnn_step_backward(dnext_h, cache, lambda z, h: 1 - np.tanh(h) ** 2)


def rnn_step_backward_z_squared(dnext_h, cache):
    """tanh' written as 1 − z²."""
    return _rnn_step_backward(dnext_h, cache, lambda z, h: 1 - z ** 2)
