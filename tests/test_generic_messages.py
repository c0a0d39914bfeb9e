"""What check_function and check_layer say when the user's code returns something unexpected."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_function, check_layer

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3))
LABELS = np.array([0, 1, 2, 1])


def softmax_loss(x, y):
    """CS231n's contract: x (N, C), y (N,) -> (loss, dx)."""
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = len(y)
    loss = -np.log(p[np.arange(n), y]).mean()
    dx = p.copy()
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def test_a_function_returning_loss_and_grad_is_named():
    r = check_function(lambda x: softmax_loss(x, LABELS), lambda x: softmax_loss(x, LABELS)[1], X)
    assert not r.passed
    assert "f returned a tuple (loss, grad), as CS231n's softmax_loss does" in r.problems[0]
    assert "generic.py" not in r.problems[0] and "raised" not in r.problems[0]


def test_a_function_returning_loss_and_grad_is_checked_with_grad_none():
    assert check_function(lambda x: softmax_loss(x, LABELS), None, X).passed

    def wrong(x, y):
        loss, dx = softmax_loss(x, y)
        return loss, dx * len(y)  # the 1/N forgotten

    r = check_function(lambda x: wrong(x, LABELS), None, X)
    assert not r.passed and r.blame(1)[0].verdict == "wrong"


@pytest.mark.parametrize("grad", [lambda x: None, lambda x: 1 / 0])
def test_no_gradient_is_a_problem_not_a_disagreement(grad):
    r = check_function(lambda x: np.sum(x ** 2), grad, X)
    assert not r.passed
    assert r.tensor("x").problem is not None and "NaN/Inf" not in " ".join(r.problems)


def test_a_function_not_finite_at_x_is_a_problem_not_a_disagreement():
    # CS231n's softmax loss under scores 900 apart: the right class's probability exactly 0, its −log inf; every
    # element inconclusive, none wrong, and the first line said "x disagrees with finite differences".
    scores = np.array([[237.0, 185.6, -21.7], [197.4, -642.4, 249.9]])
    y = np.eye(3)[[1, 1]]

    def loss(x):
        p = np.exp(x - x.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        with np.errstate(all="ignore"):
            return float(-np.sum(y * np.log(p)) / len(x))

    def grad(x):
        p = np.exp(x - x.max(axis=1, keepdims=True))
        return (p / p.sum(axis=1, keepdims=True) - y) / len(x)

    r = check_function(loss, grad, scores)
    first = str(r).splitlines()[0]
    assert not r.passed
    assert "could not be compared (f returned inf at x itself" in first and "disagree" not in first, first


def _affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def _bn_forward(x, gamma, beta):
    mu, var = x.mean(axis=0), x.var(axis=0)
    xh = (x - mu) / np.sqrt(var + 1e-5)
    return gamma * xh + beta, (x, gamma, xh, var)


def _bn_backward_keepdims(dout, cache):
    x, gamma, xh, var = cache
    n = x.shape[0]
    dbeta = dout.sum(axis=0, keepdims=True)
    dgamma = (dout * xh).sum(axis=0, keepdims=True)
    dxh = dout * gamma
    dx = (n * dxh - dxh.sum(axis=0) - xh * (dxh * xh).sum(axis=0)) / (n * np.sqrt(var + 1e-5))
    return dx, dgamma, dbeta


def test_a_keepdims_dgamma_is_told_it_is_already_summed():
    r = check_layer(_bn_forward, _bn_backward_keepdims, X, np.ones(3), np.zeros(3))
    problem = r.tensor("gamma").problem
    assert "shape (1, 3), expected (3,)" in problem and "already summed" in problem and "keepdims" in problem
    assert "sum over axis 0" not in problem
    assert r.tensor("x").passed


def test_db_summed_over_the_wrong_axis_gets_a_hint():
    def backward(dout, cache):
        x, w, _ = cache
        return dout @ w.T, x.T @ dout, dout.sum(axis=1)

    r = check_layer(_affine_forward, backward, X, RNG.normal(size=(3, 5)), RNG.normal(size=5))
    problem = r.tensor("b").problem
    assert "shape (4,), expected (5,)" in problem
    assert "summed over the wrong axis" in problem and "dout.sum(axis=0) -> (5,)" in problem


def test_a_nan_in_a_layer_gradient_is_not_called_a_bad_shape():
    def backward(dout, cache):
        x, w, _ = cache
        dw = x.T @ dout
        dw[0, 0] = np.nan
        return dout @ w.T, dw, dout.sum(axis=0)

    r = check_layer(_affine_forward, backward, X, RNG.normal(size=(3, 5)), RNG.normal(size=5))
    problem = r.tensor("w").problem
    assert "NaN/Inf" in problem and "shape" not in problem


def test_sys_exit_in_a_layers_backward_is_a_problem():
    import sys

    def backward(dout, cache):
        sys.exit(3)

    r = check_layer(_affine_forward, backward, X, RNG.normal(size=(3, 5)), RNG.normal(size=5))
    assert not r.passed and "backward raised SystemExit: 3" in r.problems[0]


def test_a_layer_whose_forward_returns_complex_numbers_is_checked_on_their_real_part_without_a_warning():
    import warnings

    X, W = np.arange(6.0).reshape(3, 2) / 7, np.array([[0.5, -1.0], [2.0, 0.25]])

    def forward(x, w):
        return (x @ w).astype(complex), (x, w)

    def backward(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout

    def doubled(dout, cache):
        dx, dw = backward(dout, cache)
        return dx, 2 * dw

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's ComplexWarning from inside the check would raise here
        r = check_layer(forward, backward, X, W)
        bad = check_layer(forward, doubled, X, W)
    assert r.passed, r
    assert not bad.passed and bad.tensor("w").count("wrong") == 4 and bad.tensor("x").passed
