"""Layers as public NumPy code writes them, each correct and with the value bug found in such code.

softmax (its backward taken element-wise), sigmoid (the derivative formula for the output
evaluated at the input), max pooling over overlapping windows (each window's gradient
assigned, not added), nearest-neighbour upsampling (one of every block's gradients kept).
Nothing here uses gradcheck.
"""

import numpy as np


def softmax_forward(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    s = e / e.sum(axis=1, keepdims=True)
    return s, s


def softmax_backward(dout, s):
    return s * (dout - (dout * s).sum(axis=1, keepdims=True))


def softmax_backward_elementwise(dout, s):
    """``dout * s * (1 - s)``: the diagonal of the Jacobian only."""
    return dout * s * (1 - s)


def sigmoid_forward(x):
    return 1 / (1 + np.exp(-x)), x


def sigmoid_backward(dout, x):
    s = 1 / (1 + np.exp(-x))
    return dout * s * (1 - s)


def sigmoid_backward_at_input(dout, x):
    """``dout * x * (1 - x)``: s(1 − s) written for the output, given the cached input."""
    return dout * x * (1 - x)


def max_pool_forward(x, pool_param):
    """x (N, C, H, W), windows of pool_param["size"] every pool_param["stride"] pixels (they may overlap)."""
    k, s = pool_param["size"], pool_param["stride"]
    N, C, H, W = x.shape
    ho, wo = (H - k) // s + 1, (W - k) // s + 1
    out = np.zeros((N, C, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + k, j * s:j * s + k].max(axis=(2, 3))
    return out, (x, pool_param)


def _max_pool_backward(dout, cache, overwrite):
    x, pool_param = cache
    k, s = pool_param["size"], pool_param["stride"]
    N, C = x.shape[:2]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * s:i * s + k, j * s:j * s + k].reshape(N, C, -1)
            mask = (np.arange(k * k) == win.argmax(axis=2)[..., None]).reshape(N, C, k, k)
            if overwrite:
                dx[:, :, i * s:i * s + k, j * s:j * s + k] = mask * dout[:, :, i, j, None, None]
            else:
                dx[:, :, i * s:i * s + k, j * s:j * s + k] += mask * dout[:, :, i, j, None, None]
    return dx


def max_pool_backward(dout, cache):
    return _max_pool_backward(dout, cache, False)


def max_pool_backward_overwrite(dout, cache):
    """``dx[win] = mask * dout``: where windows overlap, a later window's zeros overwrite the gradient."""
    return _max_pool_backward(dout, cache, True)


def upsample_forward(x):
    """Nearest-neighbour upsampling by 2: (N, C, H, W) -> (N, C, 2H, 2W)."""
    return x.repeat(2, axis=2).repeat(2, axis=3), None


def upsample_backward(dout, cache):
    N, C, H2, W2 = dout.shape
    return dout.reshape(N, C, H2 // 2, 2, W2 // 2, 2).sum(axis=(3, 5))


def upsample_backward_one_of_four(dout, cache):
    """``dout[:, :, ::2, ::2]``: one gradient of every 2x2 block kept, three lost."""
    return dout[:, :, ::2, ::2]
