"""A cause for a failing check_layer: the layer behind the user's functions recognised on their own inputs, and the
known mistake whose replay is their gradient named; correct code gets no cause."""

import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_layer

sys.path.insert(0, str(Path(__file__).parent / "impls"))
import cs231n_layers as L  # noqa: N812 - the student's layer functions
import cs231n_rnn as R  # noqa: N812
import layer_bugs as B  # noqa: N812

RNG = np.random.default_rng(3)
X2 = RNG.normal(size=(5, 4))
IMG = RNG.normal(size=(2, 2, 6, 6))
IDS = np.array([[0, 2, 2], [5, 0, 2]])
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
CONV = ({"stride": 2, "pad": 1},)
MASK = (RNG.random((5, 4)) > 0.5) / 0.5


def _bn(dout, cache):
    dx, dgamma, dbeta = L.batchnorm_backward(dout, cache)
    return dx, dbeta, dgamma


def _rnn_args():
    rng = np.random.default_rng(4)
    return (rng.normal(size=(3, 4, 3)), rng.normal(size=(3, 5)), 0.5 * rng.normal(size=(3, 5)),
            0.5 * rng.normal(size=(5, 5)), rng.normal(size=5))


def _lstm_args():
    rng = np.random.default_rng(5)
    return (rng.normal(size=(3, 4)), rng.normal(size=(3, 5)), rng.normal(size=(3, 5)),
            0.5 * rng.normal(size=(4, 20)), 0.5 * rng.normal(size=(5, 20)), rng.normal(size=20))


#: (forward, right backward, wrong backward, inputs, keywords, words the cause must hold)
BUGS = {
    "softmax element-wise": (B.softmax_forward, B.softmax_backward, B.softmax_backward_elementwise, (X2,), {},
                             "dx: matches a known mistake of softmax: softmax treated as element-wise"),
    "max pool overwritten": (B.max_pool_forward, B.max_pool_backward, B.max_pool_backward_overwrite,
                             (IMG, {"size": 3, "stride": 1}), {}, "later window's zeros overwrite"),
    "upsampling one of four": (B.upsample_forward, B.upsample_backward, B.upsample_backward_one_of_four, (IMG,), {},
                               "keeps one element of every block"),
    "embedding buffered +=": (R.word_embedding_forward, R.word_embedding_backward,
                              R.word_embedding_backward_buffered, (IDS, RNG.normal(size=(6, 3))), {},
                              "dW: matches a known mistake of word embedding: dW[x] += dout is a buffered"),
    "dropout without mask": (L.dropout_forward, L.dropout_backward, L.dropout_backward_no_mask, (X2, MASK),
                             {"wrt": ["x"]}, "the mask is not applied in the backward pass"),
    "rnn dx without time": (R.rnn_forward, R.rnn_backward, R.rnn_backward_dx_local, _rnn_args(), {},
                            "dx: matches a known mistake of vanilla RNN (tanh)"),
    "flatten unflattened channels last": (L.flatten_forward, L.flatten_backward, L.flatten_backward_channels_last,
                                          (IMG,), {}, "unflattens dout in channels last (x.transpose(0, 2, 3, 1)"),
    "flatten channels last unflattened in C order": (
        L.flatten_forward_channels_last, L.flatten_backward_channels_last, L.flatten_backward_c_order, (IMG,), {},
        "unflattens dout in C order (x.reshape(N, -1)) while the forward flattens in channels last"),
    "flatten in Fortran order unflattened in C order": (
        L.flatten_forward_fortran, L.flatten_backward_fortran, L.flatten_backward_c_order, (IMG,), {},
        'unflattens dout in C order (x.reshape(N, -1)) while the forward flattens in Fortran order'),
    "conv channels last, dW flipped": (
        L.conv_channels_last_forward, L.conv_channels_last_backward, L.conv_channels_last_backward_flipped_dw,
        (RNG.normal(size=(2, 5, 5, 2)), RNG.normal(size=(3, 3, 2, 3)), RNG.normal(size=3)), {},
        "dW uses the kernel flipped by 180°"),
    "swapped dgamma, dbeta": (L.batchnorm_forward, L.batchnorm_backward, _bn,
                              (X2, RNG.normal(size=4), RNG.normal(size=4), {}), {},
                              "returned in the wrong order: backward returns (dx, dbeta, dgamma)"),
    "max pool to all": (L.max_pool_forward_naive, L.max_pool_backward_naive, L.max_pool_backward_to_all,
                        (IMG, POOL), {}, "sends each window's gradient to every element"),
    "batchnorm constant stats": (L.batchnorm_forward, L.batchnorm_backward, L.batchnorm_backward_constant_stats,
                                 (X2, RNG.normal(size=4), RNG.normal(size=4), {}), {},
                                 "dx: matches a known mistake of batchnorm: your backward treats the batch mean"),
    "avg pool not divided": (L.avg_pool_forward_naive, L.avg_pool_backward_naive, L.avg_pool_backward_not_divided,
                             (IMG, POOL), {}, "does not divide the gradient by the window size"),
    "conv dx flipped": (L.conv_forward_naive, L.conv_backward_naive, L.conv_backward_flipped_dx,
                        (RNG.normal(size=(2, 2, 5, 5)), RNG.normal(size=(3, 2, 3, 3)), RNG.normal(size=3), *CONV), {},
                        "dx: matches a known mistake of conv2d 3x3, stride 2, padding 1: your backward: dx uses the "
                        "kernel flipped"),
    "sigmoid prime at input": (B.sigmoid_forward, B.sigmoid_backward, B.sigmoid_backward_at_input, (X2,), {},
                               "evaluated at the input x"),
    "lstm dc without dnext_h": (R.lstm_step_forward, R.lstm_step_backward, R.lstm_step_backward_c_only,
                                _lstm_args(), {}, "the cell's gradient is dnext_c alone"),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_the_bug_is_named_and_the_right_code_gets_no_cause(bug):
    forward, right, wrong, args, kwargs, cause = BUGS[bug]
    good = check_layer(forward, right, *args, **kwargs)
    assert good.passed and not good.diagnosis
    bad = check_layer(forward, wrong, *args, **kwargs)
    assert not bad.passed
    named = [d for d in bad.diagnosis if "known mistake" in d or "wrong order" in d]
    assert len(named) == 1 and cause in named[0], bad.diagnosis


def test_gradients_swapped_by_shape_are_named():
    def backward(dout, cache):
        dx, dw, db = L.affine_backward(dout, cache)
        return dx, db, dw

    r = check_layer(L.affine_forward, backward, X2, RNG.normal(size=(4, 3)), RNG.normal(size=3))
    assert any("backward returns (dx, db, dw)" in d for d in r.diagnosis), r.diagnosis


@pytest.mark.parametrize("slip", ["db_mean", "dx_w"])
def test_dense_mistakes_are_named(slip):
    def backward(dout, cache):
        x, w, _ = cache
        if slip == "db_mean":
            return dout @ w.T, x.T @ dout, dout.mean(axis=0)
        return dout @ w, x.T @ dout, dout.sum(axis=0)

    w = RNG.normal(size=(4, 4))
    r = check_layer(L.affine_forward, backward, X2, w, RNG.normal(size=4))
    want = "db averaged over the batch" if slip == "db_mean" else "dx multiplies dout by w where its transpose"
    assert any(want in d and "dense (affine)" in d for d in r.diagnosis), r.diagnosis


def test_a_keepdims_shape_is_named():
    def backward(dout, cache):
        dx, dw, db = L.affine_backward(dout, cache)
        return dx, dw, db[None, :]

    r = check_layer(L.affine_forward, backward, X2, RNG.normal(size=(4, 3)), RNG.normal(size=3))
    assert any("keepdims=True?" in p for p in r.problems), r.problems


def test_relu_without_its_derivative_is_not_taken_for_dropout():
    r = check_layer(L.relu_forward, lambda dout, cache: dout.copy(), X2)
    named = [d for d in r.diagnosis if "known mistake" in d]
    assert len(named) == 1 and "of relu: the activation's derivative is left out" in named[0], r.diagnosis


def test_an_unknown_mistake_gets_no_known_cause():
    def backward(dout, cache):  # right except one element: no known mistake gives this
        dx = L.relu_backward(dout, cache)
        dx[0, 0] += 1.0
        return dx

    r = check_layer(L.relu_forward, backward, X2)
    assert not r.passed and not any("known mistake" in d or "wrong order" in d for d in r.diagnosis)


def test_a_sampled_check_names_the_cause_too():
    forward, _, wrong, args, _, cause = BUGS["conv dx flipped"]
    r = check_layer(forward, wrong, *args, mode="sampled", sample=10)
    assert r.mode == "sampled" and any(cause in d for d in r.diagnosis), r.diagnosis
