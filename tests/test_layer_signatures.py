"""check_layer on the signatures people write: several outputs, integer ids, boolean masks, wrt=, names, errors."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_layer

sys.path.insert(0, str(Path(__file__).parent / "impls"))
import cs231n_rnn as R  # noqa: N812 - the student's layer functions

RNG = np.random.default_rng(0)
N, D, H, T, V = 3, 4, 5, 3, 6


def _lstm_inputs():
    rng = np.random.default_rng(1)
    return (rng.normal(size=(N, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H)),
            0.5 * rng.normal(size=(D, 4 * H)), 0.5 * rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H))


def test_lstm_step_checks_as_it_is():
    good = check_layer(R.lstm_step_forward, R.lstm_step_backward, *_lstm_inputs())
    assert good.passed and [t.name for t in good.tensors] == ["x", "prev_h", "prev_c", "Wx", "Wh", "b"]
    assert len(good.extra["dout"]) == 2  # one dout per output: next_h and next_c
    bad = check_layer(R.lstm_step_forward, R.lstm_step_backward_c_only, *_lstm_inputs())
    assert not bad.passed and not bad.problems


def test_word_embedding_ids_pass_through_untouched():
    seen = []

    def forward(x, W):
        seen.append(x.dtype)
        return R.word_embedding_forward(x, W)

    ids, W = np.array([[0, 2, 2], [5, 0, 1]]), RNG.normal(size=(V, D))
    good = check_layer(forward, R.word_embedding_backward, ids, W)
    assert good.passed and [t.name for t in good.tensors] == ["W"]
    assert set(seen) == {ids.dtype}
    assert not check_layer(R.word_embedding_forward, R.word_embedding_backward_buffered, ids, W).passed


def test_a_boolean_mask_gets_no_gradient_and_wrt_overrides():
    def forward(x, keep):
        return x * keep, keep

    def backward(dout, keep):
        return dout * keep

    x, keep = RNG.normal(size=(4, 3)), RNG.random((4, 3)) > 0.5
    assert check_layer(forward, backward, x, keep).passed
    assert not check_layer(forward, lambda dout, keep: dout, x, keep).passed

    def scaled(x, mask):
        return x * mask, mask

    mask = RNG.random((4, 3)) * 2.0  # a float mask: data here, named by wrt
    r = check_layer(scaled, lambda dout, m: dout * m, x, mask, wrt=["x"])
    assert r.passed and [t.name for t in r.tensors] == ["x"]
    with pytest.raises(ValueError, match="wrt names 'y'"):
        check_layer(scaled, backward, x, mask, wrt=["y"])


def test_names_come_from_the_signature_even_for_star_params():
    def forward(X, *params):
        W, b = params
        return X @ W + b, (X, W)

    def backward(dout, cache):
        X, W = cache
        return dout @ W.T, X.T @ dout, dout.sum(axis=0)

    r = check_layer(forward, backward, RNG.normal(size=(3, 2)), RNG.normal(size=(2, 4)), RNG.normal(size=4))
    assert r.passed and [t.name for t in r.tensors] == ["X", "params[0]", "params[1]"]


def test_an_error_in_the_users_code_is_located_there():
    def forward(x, W):
        return W[x.astype(float)], None  # an index of floats: IndexError in this file

    r = check_layer(forward, R.word_embedding_backward, np.array([[0, 1]]), RNG.normal(size=(V, D)))
    assert r.problems and "IndexError" in r.problems[0] and "test_layer_signatures.py" in r.problems[0]

    r = check_layer(lambda x: (None, x), lambda d, c: d, RNG.normal(size=3))
    assert r.problems[0].startswith("forward returned NoneType as an output; expected a numeric array")

    def empty(x):
        return ()

    r = check_layer(empty, lambda d, c: d, RNG.normal(size=3))
    assert r.problems == ["forward returned an empty tuple; expected out, (out, cache) or (out_1, …, out_k, cache)"]


def test_an_rnn_over_a_sequence():
    xs, h0 = RNG.normal(size=(N, T, D)), RNG.normal(size=(N, H))
    Wx, Wh, b = 0.5 * RNG.normal(size=(D, H)), 0.5 * RNG.normal(size=(H, H)), RNG.normal(size=H)
    assert check_layer(R.rnn_forward, R.rnn_backward, xs, h0, Wx, Wh, b).passed
    bad = check_layer(R.rnn_forward, R.rnn_backward_dx_local, xs, h0, Wx, Wh, b)
    assert [t.name for t in bad.tensors if not t.passed] == ["x"]
