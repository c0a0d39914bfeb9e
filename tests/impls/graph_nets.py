"""Residual and concatenating networks written by hand in NumPy (row convention: X (N, D), W (in, out)).

``residual``: h = tanh(X W0 + b0); f = tanh(h W1 + b1); r = h + f; out = r W3 + b3, mse.
``joined``: h = tanh(X W0 + b0) with as many units as X has features; c = [X, h]; out = c W2 + b2, mse.
The correct backward of each comes first; each wrong one makes exactly one mistake, named in its
docstring with the line a learner writes. Nothing here uses gradcheck.
"""

import numpy as np


def _mse(out, Y):
    n, k = Y.shape
    return 2 * (out - Y) / (n * k)


def _residual(params, X, Y, skip=True):
    p0, p1, _, p3 = params
    h = np.tanh(X @ p0["W"] + p0["b"])
    f = np.tanh(h @ p1["W"] + p1["b"])
    r = h + f
    out = r @ p3["W"] + p3["b"]
    dout = _mse(out, Y)
    dr = dout @ p3["W"].T
    df = dr * (1 - f ** 2)
    dh = df @ p1["W"].T + (dr if skip else 0)
    dz0 = dh * (1 - h ** 2)
    return [{"W": X.T @ dz0, "b": dz0.sum(0)}, {"W": h.T @ df, "b": df.sum(0)}, {},
            {"W": r.T @ dout, "b": dout.sum(0)}]


def residual(params, X, Y):
    return _residual(params, X, Y)


def residual_skip_dropped(params, X, Y):
    """dh = df @ W1.T: the skip path's gradient (dr) is not added to h's."""
    return _residual(params, X, Y, skip=False)


def _joined(params, X, Y, reverse=False):
    p0, _, p2 = params
    h = np.tanh(X @ p0["W"] + p0["b"])
    c = np.concatenate([X, h], axis=1)
    out = c @ p2["W"] + p2["b"]
    dout = _mse(out, Y)
    dc = dout @ p2["W"].T
    d = X.shape[1]
    dh = dc[:, :d] if reverse else dc[:, d:]
    dz0 = dh * (1 - h ** 2)
    return [{"W": X.T @ dz0, "b": dz0.sum(0)}, {}, {"W": c.T @ dout, "b": dout.sum(0)}]


def joined(params, X, Y):
    return _joined(params, X, Y)


def joined_slices_swapped(params, X, Y):
    """dh = dc[:, :D]: h's gradient taken from X's slice (the offset of the wrong input)."""
    return _joined(params, X, Y, reverse=True)
