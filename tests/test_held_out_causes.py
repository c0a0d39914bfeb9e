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
