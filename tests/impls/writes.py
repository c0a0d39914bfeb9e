"""Backward passes that go wrong in a write into an array they already have, as people write them.

Each wrong one makes exactly one mistake, named in its docstring; the correct one comes first.
Nothing here uses gradcheck.
"""

import numpy as np


def max_pool_forward(x, pool_param):
    """Max pooling of x (N, C, H, W) over windows of pool_height × pool_width, moved by stride."""
    N, C, H, W = x.shape
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward(dout, cache):
    """Each window's gradient is added to its maximum (windows that overlap add up)."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            mask = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += mask * dout[:, :, i, j][:, :, None, None]
    return dx


def max_pool_backward_overwritten(dout, cache):
    """``dx[win] = mask * dout``: where windows overlap (stride < pool size) a later window overwrites."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            mask = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] = mask * dout[:, :, i, j][:, :, None, None]
    return dx


def embedding_forward(W, ids):
    """Rows of W (V, D) picked by the list of token ids: out (len(ids), D)."""
    return W[ids], (W, ids)


def embedding_backward(dout, cache):
    """Every id's gradient added to its row, repeats included."""
    W, ids = cache
    dW = np.zeros_like(W)
    np.add.at(dW, ids, dout)
    return dW


def embedding_backward_buffered(dout, cache):
    """``dW[ids] += dout``: a fancy-index += adds once per distinct id, so a repeated id loses its gradients."""
    W, ids = cache
    dW = np.zeros_like(W)
    dW[ids] += dout
    return dW


def rnn_dx(dh, Wx):
    """dx (N, T, D) of a vanilla RNN's inputs from dh (N, T, H), written one step at a time."""
    N, T, _ = dh.shape
    dx = np.zeros((N, T, Wx.shape[0]))
    for t in range(T):
        dx[:, t] = dh[:, t] @ Wx.T
    return dx


def centred(a, y):
    """a (N, 1) - y (N,) broadcast to (N, N) inside an expression whose result is no array of its own."""
    return float(np.sum((a - y) ** 2))


class SquaredError:
    """A loss object keeping its output in a cache dict, and its scale as an attribute."""

    def __init__(self, scale):
        self.scale = scale
        self.cache = {}

    def forward(self, a, y):
        self.cache["a"] = a
        return 0.5 * np.sum((a - y) ** 2)

    def backward(self, y):
        """``self.cache["a"] - y`` with a of shape (N, 1) and y of shape (N,): broadcast to (N, N)."""
        return self.cache["a"] - y

    def scaled(self, g):
        """``g * self.scale.T``: (N, 1) times (1, K), an outer product written on purpose."""
        return g * self.scale.T
