"""A CS231n linear SVM and softmax classifier with L2, written the way the course writes them, and their mistakes.

Row convention: X (N, D), W (D, C), b (C,); y is a vector of N integer class labels, as in
CS231n's ``svm_loss_vectorized(W, X, y, reg)``. The loss is the multiclass hinge averaged over
the samples, plus ``reg * np.sum(W * W)`` (the form "sum": its gradient is 2·reg·W).
"""

import numpy as np

REG = 0.05  # the specs' "regularization": {"l2": 0.05, "form": "sum"}


def _hinge_dscores(scores, y, delta=1.0, strict=True):
    n = scores.shape[0]
    correct = scores[np.arange(n), y][:, None]
    margins = scores - correct + delta
    on = (margins > 0) if strict else (margins >= 0)
    on = on.astype(float)
    on[np.arange(n), y] = 0.0
    on[np.arange(n), y] = -on.sum(axis=1)
    return on


def _svm(params, X, y, *, reg=REG, reg_grad=None, divide=True, strict=True):
    (p,) = params
    W = p["W"]
    scores = X @ W + p["b"]
    dscores = _hinge_dscores(scores, y, strict=strict)
    if divide:
        dscores = dscores / X.shape[0]
    dW = X.T @ dscores
    dW = dW + (2 * reg * W if reg_grad is None else reg_grad(W))
    return [{"W": dW, "b": dscores.sum(axis=0)}]


def svm(params, X, y):
    """Right: CS231n's svm_loss_vectorized with reg·ΣW²."""
    if np.ndim(y) != 1 or np.asarray(y).dtype.kind not in "iu":
        raise TypeError(f"expected integer class labels, got {np.asarray(y).dtype} of shape {np.shape(y)}")
    return _svm(params, X, y)


def svm_at_ties_too(params, X, y):
    """Also right where a margin is exactly 0: counting margins >= 0 picks the other one-sided derivative."""
    return _svm(params, X, y, strict=False)


def svm_half_form(params, X, y):
    """Wrong for the spec's form "sum": the gradient of ½·reg·ΣW² (reg·W)."""
    return _svm(params, X, y, reg_grad=lambda W: REG * W)


def svm_no_reg(params, X, y):
    """Wrong: the regularisation term's gradient left out."""
    return _svm(params, X, y, reg_grad=lambda W: 0 * W)


def svm_summed(params, X, y):
    """Wrong for a mean: the hinge summed over the samples (not divided by N)."""
    return _svm(params, X, y, divide=False)


def svm_doubled_hinge(params, X, y):
    """Wrong: the hinge's gradient doubled (the regularisation term right)."""
    (g,) = _svm(params, X, y, reg=0.0)
    return [{"W": 2 * g["W"] + 2 * REG * params[0]["W"], "b": 2 * g["b"]}]


def softmax_ce(params, X, y):
    """Right: a softmax classifier with cross-entropy on integer labels, mean over N, plus reg·ΣW²."""
    (p,) = params
    scores = X @ p["W"] + p["b"]
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    n = X.shape[0]
    dscores = probs.copy()
    dscores[np.arange(n), y] -= 1
    dscores /= n
    return [{"W": X.T @ dscores + 2 * REG * p["W"], "b": dscores.sum(axis=0)}]
