"""Causes named for slips met in public layer code: dropout rescaled without its mask, a max pool that assigns
to each window's max element where windows overlap, and tanh' taken at the wrong place in one RNN step. The
right backward of each gets no cause."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_layer

sys.path.insert(0, str(Path(__file__).parent / "impls"))
import held_out_bugs as B  # noqa: N812

RNG = np.random.default_rng(21)
STEP = (RNG.normal(size=(3, 4)), RNG.normal(size=(3, 5)), 0.5 * RNG.normal(size=(4, 5)),
        0.5 * RNG.normal(size=(5, 5)), RNG.normal(size=5))

#: (forward, right backward, wrong backward, inputs, words the cause must hold)
BUGS = {
    "dropout rescaled without its mask": (
        B.dropout_forward, B.dropout_backward, B.dropout_backward_rescale_only,
        (RNG.normal(size=(4, 6)), {"p": 0.5, "seed": 3}), "rescales without the mask"),
    "max pool assigned to the max element": (
        B.max_pool_forward, B.max_pool_backward, B.max_pool_backward_assigned,
        (RNG.normal(size=(2, 2, 6, 6)), {"size": 3, "stride": 1}), "assigned to its max element (dx[argmax] = dout)"),
    "rnn step tanh' at h": (B.rnn_step_forward, B.rnn_step_backward, B.rnn_step_backward_at_h, STEP,
                            "vanilla RNN step (tanh): tanh' is evaluated at the output h"),
    "rnn step tanh' as 1 - z^2": (B.rnn_step_forward, B.rnn_step_backward, B.rnn_step_backward_z_squared, STEP,
                                  "tanh' is taken as 1 − z²"),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_the_slip_is_named_and_the_right_code_gets_no_cause(bug):
    forward, right, wrong, args, cause = BUGS[bug]
    good = check_layer(forward, right, *args)
    assert good.passed and not good.diagnosis, good.diagnosis
    bad = check_layer(forward, wrong, *args)
    assert not bad.passed
    named = [d for d in bad.diagnosis if "known mistake" in d]
    assert len(named) == 1 and cause in named[0], bad.diagnosis


def test_a_max_pool_that_assigns_is_right_where_windows_do_not_overlap():
    x = RNG.normal(size=(2, 2, 6, 6))
    assert check_layer(B.max_pool_forward, B.max_pool_backward_assigned, x, {"size": 2, "stride": 2}).passed


def _softmax_loss(x, y, divide=True):
    """CS231n-style (loss, dx) of the mean cross-entropy; divide=False forgets dx's 1/N."""
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(p[np.arange(n), y]).mean()
    p[np.arange(n), y] -= 1
    return loss, (p / n if divide else p)


def test_a_factor_equal_to_the_batch_axis_is_read_as_a_missing_division_by_n():
    from gradcheck import check_function

    x, y = RNG.normal(size=(4, 5)), np.array([0, 3, 1, 3])
    assert check_function(lambda s: _softmax_loss(s, y), None, x).passed
    r = check_function(lambda s: _softmax_loss(s, y, divide=False), None, x)
    assert any("4 × the true value" in d and "a division by N is missing" in d for d in r.diagnosis), r.diagnosis
    square = check_function(lambda s: float(np.sum(s ** 2)), lambda s: 6 * s, RNG.normal(size=(2, 3)))
    assert not any("batch size" in d for d in square.diagnosis), square.diagnosis  # 3 × is no axis length here


def _hinge_loss(W, X, y, reg, with_penalty=True):
    """Multiclass hinge loss with an L2 penalty reg·‖W‖²; with_penalty=False leaves it out of the value only."""
    scores = X @ W
    n = X.shape[0]
    margins = np.maximum(0, scores - scores[np.arange(n), y][:, None] + 1)
    margins[np.arange(n), y] = 0
    loss = margins.sum() / n + (reg * np.sum(W * W) if with_penalty else 0.0)
    ind = (margins > 0).astype(float)
    ind[np.arange(n), y] = -ind.sum(axis=1)
    return loss, X.T @ ind / n + 2 * reg * W


def test_a_penalty_in_the_gradient_but_not_in_the_value_is_named():
    from gradcheck import check_function

    W, X, y = 0.01 * RNG.normal(size=(6, 3)), RNG.normal(size=(8, 6)), RNG.integers(0, 3, size=8)
    good = check_function(lambda w: _hinge_loss(w, X, y, 0.1), None, W)
    assert good.passed and not good.diagnosis
    r = check_function(lambda w: _hinge_loss(w, X, y, 0.1, with_penalty=False), None, W)
    assert any("minus the numeric one is 0.2·x" in d for d in r.diagnosis), r.diagnosis
    square = check_function(lambda s: float(np.sum(s ** 2)), lambda s: 6 * s, RNG.normal(size=(2, 3)))
    assert not any("minus the numeric one" in d for d in square.diagnosis), square.diagnosis  # a factor 3 alone


def test_a_factor_equal_to_an_axis_of_one_of_several_tensors_is_no_batch_reading():
    from gradcheck import check_function

    W, v = RNG.normal(size=(2, 4)), RNG.normal(size=4)
    r = check_function(lambda p: float(np.sum((p[0] @ p[1]) ** 2)),
                       lambda p: (np.outer(2 * (p[0] @ p[1]), p[1]) / 2, 2 * p[0].T @ (p[0] @ p[1])), (W, v))
    assert any("0.5 × the true value" in d for d in r.diagnosis), r.diagnosis
    assert not any("batch size" in d for d in r.diagnosis), r.diagnosis
