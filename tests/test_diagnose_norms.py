"""The classic mistakes of group norm and of batchnorm with Bessel's correction are named.

Each wrong backprop in tests/impls/norm_nets.py makes one mistake; the check must fail it and
the diagnosis must name that mistake and no other (a dγ or dβ of the wrong shape gets a shape
hint instead).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gradcheck import check_network, load_spec
from gradcheck.diagnose.layers import mistaken
from gradcheck.diagnose.mistake import REGISTRY
from gradcheck.diagnose.search import named_replays
from gradcheck.reference.backprop import backprop

IMPLS = Path(__file__).parent / "impls"
sys.path.insert(0, str(IMPLS))
from norm_nets import SPECS  # noqa: E402

NAMED = {  # impl -> words the diagnosis must contain
    "gn_cnn_per_channel": ["groupnorm layer 1 computes μ and σ² per channel (instance norm", "group of 2 channels",
                           "G = 2"],
    "gn_cnn_whole_sample": ["groupnorm layer 1 computes μ and σ² over the whole sample (layer norm"],
    "bessel_mlp_backward_biased": ["batchnorm layer 1: the forward pass divides the batch variance by n − 1",
                                   "the backward pass by n (∂σ²/∂x = 2(x − μ)/n)"],
    "biased_mlp_backward_unbiased": ["batchnorm layer 1: the forward pass divides the batch variance by n (biased)",
                                     "the backward pass by n − 1"],
}
SHAPES = {  # impl -> words of the shape hint for dγ and dβ
    "gn_cnn_not_summed": ["dgamma is not summed at all", "groupnorm has one gamma per channel",
                          "sum over N, H and W (axis=(0, 2, 3)): shape (4,)", "dbeta is not summed at all"],
    "gn_cnn_summed_over_hw_only": ["dgamma is summed over H and W only", "dbeta is summed over H and W only"],
    "gn_cnn_keepdims": ["dgamma must be a flat vector of shape (4,)", "without keepdims"],
}
KEYS = {("groupnorm", "per_channel"), ("groupnorm", "whole_sample"), ("groupnorm", "constant_stats"),
        ("batchnorm", "backward_biased"), ("batchnorm", "backward_unbiased")}


def _check(impl):
    net = next(k for k in sorted(SPECS, key=len, reverse=True) if impl.startswith(k))
    return check_network(SPECS[net], f"{IMPLS / 'norm_nets.py'}:{impl}", symbolic="off")


@pytest.mark.parametrize("impl", ["gn_cnn", "bessel_mlp", "biased_mlp"])
def test_the_correct_backprops_pass(impl):
    result = _check(impl)
    assert result.passed and not result.diagnosis, str(result)


@pytest.mark.parametrize("impl", sorted(NAMED))
def test_each_norm_mistake_is_named(impl):
    result = _check(impl)
    assert not result.passed
    assert len(result.diagnosis) == 1 and result.diagnosis[0].startswith("matches a known mistake: "), \
        result.diagnosis
    for words in NAMED[impl]:
        assert words in result.diagnosis[0], result.diagnosis[0]


@pytest.mark.parametrize("impl", sorted(SHAPES))
def test_dgamma_and_dbeta_not_summed_over_n_h_w_get_a_shape_hint(impl):
    result = _check(impl)
    text = " | ".join(result.problems)
    assert not result.passed
    for words in SHAPES[impl]:
        assert words in text, text


def test_the_new_mistakes_are_registered():
    assert KEYS <= {(m.kind, m.key) for m in REGISTRY if not m.local}


REPLAYS = {  # the same mistakes replayed in other layouts (column convention, spatial batchnorm)
    "groupnorm": ({"input": [2, 3, 3], "convention": "column", "loss": "mse", "batch": 2, "layers": [
        {"type": "conv2d", "filters": 4, "kernel": 2}, {"type": "groupnorm", "groups": 2},
        {"type": "activation", "activation": "tanh"}, {"type": "flatten"}, {"type": "dense", "units": 2}]},
        ["per_channel", "whole_sample", "constant_stats"]),
    "batchnorm": ({"input": [1, 3, 3], "convention": "column", "loss": "mse", "batch": 2, "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 2}, {"type": "batchnorm", "variance": "unbiased"},
        {"type": "activation", "activation": "tanh"}, {"type": "flatten"}, {"type": "dense", "units": 2}]},
        ["backward_biased", "constant_stats"]),
    "biased": ({"input": 3, "convention": "column", "loss": "mse", "batch": 4, "layers": [
        {"units": 4}, {"type": "batchnorm"}, {"units": 2, "activation": "sigmoid"}]}, ["backward_unbiased"]),
}


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_the_replay_names_its_own_mistakes_in_other_layouts(name):
    raw, keys = REPLAYS[name]
    spec = load_spec(raw)
    kind = spec.layers[1].kind
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    for key in keys:
        m = next(m for m in REGISTRY if not m.local and m.kind == kind and m.key == key)
        wrong = tuple(mistaken(ly, m) if ly.kind == kind else ly for ly in spec.layers)
        _, user = backprop(spec.__class__(**{**spec.__dict__, "layers": wrong}), params, X, Y)
        assert named_replays(spec, params, X, Y, user, ref) == [f"matches a known mistake: {m.text(spec, [1])}"]
    assert named_replays(spec, params, X, Y, ref, ref) == []  # the right gradients match no mistake


def test_a_mistake_that_would_change_nothing_does_not_apply():
    """G = C is instance norm already, G = 1 layer norm: the wrong-axes mistakes are not claimed there; the other
    variance's backward applies to one setting each."""
    def applicable(raw):
        spec = load_spec(raw)
        return {m.key for m in REGISTRY if not m.local and m.applies(spec, spec.layers[0])}
    image = {"input": [2, 2, 2], "layers": [{"type": "groupnorm", "groups": 2}, {"type": "flatten"}, {"units": 1}]}
    assert applicable(image) == {"whole_sample", "constant_stats"}
    assert applicable({**image, "layers": [{"type": "groupnorm", "groups": 1}, *image["layers"][1:]]}) == \
        {"per_channel", "constant_stats"}
    vector = {"input": 2, "layers": [{"type": "batchnorm", "variance": "unbiased"}, {"units": 1}]}
    assert applicable(vector) == {"constant_stats", "backward_biased"}


def test_gradients_near_the_largest_float_are_compared_without_overflow():
    import warnings

    import numpy as np

    from gradcheck import check_function
    from gradcheck.diagnose.mistake import close

    x = np.array([1e308, -1e308, 3e307])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow inside the comparison would raise here
        assert close(x, x.copy()) and not close(x, -x) and close(x, x * (1 + 1e-12))
        r = check_function(lambda w: float(np.sum(w)) * 1e307, lambda w: np.full(3, -1e307), np.array([1.0, 2.0, 3.0]))
    assert not r.passed and any("the sign is flipped" in d for d in r.diagnosis), r.diagnosis
