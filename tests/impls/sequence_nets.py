"""A temporal affine layer and CS231n's temporal softmax loss, written by hand (X (N, T, D), W (D, K) row-major).

``temporal(params, X, Y, mask=None)``: scores = X W + b at every step, loss = −1/N Σ_n Σ_t mask·log p[y];
the wrong variants each make one mistake, named in the docstring. Nothing here uses gradcheck.
"""

import numpy as np


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _temporal(params, X, Y, mask, per_step_mean=False, ignore_mask=False):
    (p,) = params
    n, t, _ = X.shape
    mask = np.ones((n, t)) if mask is None or ignore_mask else mask
    probs = _softmax(X @ p["W"] + p["b"])
    dscores = (probs - Y) * mask[..., None] / (n * t if per_step_mean else n)
    return [{"W": np.einsum("ntd,ntk->dk", X, dscores), "b": dscores.sum(axis=(0, 1))}]


def temporal(params, X, Y, mask=None):
    return _temporal(params, X, Y, mask)


def temporal_mask_ignored(params, X, Y, mask=None):
    """dscores = probs − y at every step: the masked steps still send a gradient."""
    return _temporal(params, X, Y, mask, ignore_mask=True)


def temporal_mean_over_steps(params, X, Y, mask=None):
    """dscores /= N·T: the loss averaged over steps too, where the temporal loss sums them."""
    return _temporal(params, X, Y, mask, per_step_mean=True)
