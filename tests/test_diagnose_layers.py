"""The classic mistakes of convolution, pooling, norm, dropout and flatten layers are named.

Each wrong backprop in tests/impls/cs231n_nets.py (built from the CS231n-style layers of
tests/impls/cs231n_layers.py, as a student writes them) makes one mistake; the check
must fail it and the diagnosis must name that mistake and no other.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_layer, check_network, load_spec
from gradcheck.cli import main
from gradcheck.diagnose.layers import mistaken
from gradcheck.diagnose.mistake import REGISTRY
from gradcheck.diagnose.search import named_replays
from gradcheck.reference.backprop import backprop

IMPLS = Path(__file__).parent / "impls"
sys.path.insert(0, str(IMPLS))
import cs231n_layers as L  # noqa: E402, N812 - the student's layer functions
from cs231n_nets import SPECS  # noqa: E402

NAMED = {  # impl -> words the diagnosis must contain
    "deep_cnn_flipped_dw": ["conv2d layer", "dW uses the kernel flipped", "cross-correlation"],
    "deep_cnn_flipped_dx": ["conv2d layer 1:", "dx uses the kernel flipped"],
    "deep_cnn_padding_kept": ["conv2d layer 1:", "padding is not stripped from dx", "P = 1"],
    "deep_cnn_stride_ignored": ["conv2d layer 1:", "ignores the stride S = 2"],
    "deep_cnn_maxpool_to_all": ["maxpool2d layer 2", "every element of the window"],
    "deep_cnn_maxpool_averaged": ["maxpool2d layer 2", "spreads each window's gradient evenly"],
    "deep_cnn_flatten_fortran": ["flatten layer 3", "Fortran order"],
    "deep_cnn_flatten_channels_last": ["flatten layer 3 flattens channels-last"],
    "deep_cnn_unflatten_channels_last": ["flatten layer 3: the backward pass reshapes δ channels-last"],
    "bn_cnn_avgpool_not_divided": ["avgpool2d layer 3", "does not divide the gradient by the window size", "δ/4"],
    "bn_cnn_constant_stats": ["batchnorm layer 1", "μ and variance σ² as constants"],
    "bn_mlp_constant_stats": ["batchnorm layer 1", "μ and variance σ² as constants"],
    "ln_dropout_constant_stats": ["layernorm layer 1", "mean μ and variance σ² as constants"],
    "ln_dropout_no_mask": ["dropout layer 2", "mask is not applied in the backward pass"],
    "ln_dropout_no_rescale": ["dropout layer 2", "without the rescale", "1/(1 − p) = 2"],
}
SHAPES = {  # impl -> words of the shape hint for dγ and dβ
    "bn_mlp_not_summed": ["dgamma is not summed over the 5 samples", "dbeta is not summed"],
    "bn_cnn_summed_over_n_only": ["dgamma is summed over N only", "sum over N, H and W (axis=(0, 2, 3))"],
}


def _net(impl):
    return next(k for k in sorted(SPECS, key=len, reverse=True) if impl.startswith(k))


def _check(impl):
    return check_network(SPECS[_net(impl)], f"{IMPLS / 'cs231n_nets.py'}:{impl}", symbolic="off")


@pytest.mark.parametrize("impl", sorted(SPECS))
def test_the_correct_cs231n_backprops_pass(impl):
    result = _check(impl)
    assert result.passed and not result.diagnosis, str(result)


@pytest.mark.parametrize("impl", sorted(NAMED))
def test_each_layer_mistake_is_named(impl):
    result = _check(impl)
    assert not result.passed
    assert len(result.diagnosis) == 1 and result.diagnosis[0].startswith("matches a known mistake: "), \
        result.diagnosis
    for words in NAMED[impl]:
        assert words in result.diagnosis[0], result.diagnosis[0]


@pytest.mark.parametrize("impl", sorted(SHAPES))
def test_dgamma_and_dbeta_not_summed_get_a_shape_hint(impl):
    result = _check(impl)
    text = " | ".join(result.problems)
    assert not result.passed
    for words in SHAPES[impl]:
        assert words in text, text


def test_every_mistake_in_the_registry_is_exercised():
    keys = {(m.kind, m.key) for m in REGISTRY if not m.local}
    named = {("conv2d", "flipped_dw"), ("conv2d", "flipped_dx"), ("conv2d", "padding_kept"),
             ("conv2d", "stride_ignored"), ("maxpool2d", "to_all"), ("maxpool2d", "averaged"),
             ("avgpool2d", "not_divided"), ("batchnorm", "constant_stats"), ("layernorm", "constant_stats"),
             ("dropout", "no_mask"), ("dropout", "no_rescale"), ("flatten", "fortran"),
             ("flatten", "channels_last"), ("flatten", "unflatten_channels_last")}
    named |= {("lstm", key) for key in ("gates_ifgo", "gates_fiog", "c_not_carried", "h_not_carried",
                                        "not_summed_over_time")}  # tests/test_lstm.py
    assert keys == named


COLUMN = {  # the same mistakes in the column convention and on image norms, replayed into a wrong backprop
    "flatten": ({"input": [2, 3, 3], "convention": "column", "loss": "mse", "batch": 3, "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 2}, {"type": "flatten"}, {"type": "dense", "units": 2}]},
        ["fortran", "channels_last", "unflatten_channels_last"]),
    "dropout": ({"input": 4, "convention": "column", "loss": "sse", "batch": 5, "layers": [
        {"units": 5, "activation": "tanh"}, {"type": "dropout", "p": 0.25}, {"units": 2}]}, ["no_mask", "no_rescale"]),
    "batchnorm": ({"input": 3, "convention": "column", "loss": "mse", "batch": 6, "layers": [
        {"units": 4}, {"type": "batchnorm"}, {"units": 2, "activation": "sigmoid"}]}, ["constant_stats"]),
    "layernorm": ({"input": [1, 4, 4], "loss": "mse", "batch": 2, "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "layernorm"}, {"type": "flatten"},
        {"type": "dense", "units": 1}]}, ["constant_stats"]),
}


@pytest.mark.parametrize("kind", sorted(COLUMN))
def test_the_replay_names_its_own_mistakes_in_other_layouts(kind):
    raw, keys = COLUMN[kind]
    spec = load_spec(raw)
    params = spec.parameters()
    X, Y = spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    for key in keys:
        m = next(m for m in REGISTRY if not m.local and m.kind == kind and m.key == key)
        wrong = tuple(mistaken(ly, m) if ly.kind == kind else ly for ly in spec.layers)
        variant = spec.__class__(**{**spec.__dict__, "layers": wrong})
        _, user = backprop(variant, params, X, Y)
        lines = named_replays(spec, params, X, Y, user, ref)
        at = [ly.index for ly in spec.layers if ly.kind == kind]
        assert lines == [f"matches a known mistake: {m.text(spec, at)}"]
    assert named_replays(spec, params, X, Y, ref, ref) == []  # the right gradients match no mistake


def test_the_cli_names_a_flipped_kernel(tmp_path, capsys):
    path = tmp_path / "deep_cnn.json"
    path.write_text(json.dumps(SPECS["deep_cnn"]))
    code = main([str(path), "--impl", f"{IMPLS / 'cs231n_nets.py'}:deep_cnn_flipped_dw", "--symbolic", "off"])
    out = capsys.readouterr().out
    assert code == 1 and "dW uses the kernel flipped by 180°" in out


def test_check_layer_names_a_flipped_kernel_in_dw():
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(2, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    conv = {"stride": 2, "pad": 1}
    good = check_layer(L.conv_forward_naive, L.conv_backward_naive, x, w, b, conv)
    assert good.passed and not good.diagnosis
    bad = check_layer(L.conv_forward_naive, L.conv_backward_flipped_dw, x, w, b, conv)
    assert not bad.passed
    assert any(d.startswith("w: your gradient is the numeric one with every kernel rotated by 180°")
               for d in bad.diagnosis), bad.diagnosis
    other = check_layer(L.conv_forward_naive, L.conv_backward_flipped_dx, x, w, b, conv)
    assert not any("rotated" in d for d in other.diagnosis)  # dx's mistake is not a rotation of dx
