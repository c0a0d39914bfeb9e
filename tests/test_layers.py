"""Every layer kind's reference backprop against an independent computation, and its finite differences.

The independent forward pass (oracles.py) is written from the documented definitions with
explicit loops over output positions (no sliding windows, no col2im), complex-safe,
so that the complex step ∂C/∂θ = Im C(θ + i·h)/h gives exact derivatives to compare
with. relu and max pooling are evaluated on the real part, so their kinks do no harm.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracles import LAYER_NETS as NETS
from oracles import assert_grads_close, complex_step, network_cost

from gradcheck import check_network, forward, load_spec
from gradcheck.numeric.network import numeric_gradient
from gradcheck.reference.backprop import backprop  # the function (gradcheck.reference.backprop is also its module)


def make(name, convention="column"):
    return load_spec({**NETS[name], "name": name, "convention": convention})


@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_reference_backprop_matches_complex_step(name, convention):
    spec = make(name, convention)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    C, grads = backprop(spec, params, X, Y)
    np.testing.assert_allclose(C, network_cost(spec, params, X, Y), rtol=1e-12)
    assert_grads_close(grads, complex_step(spec, params, X, Y), rtol=1e-9, what=name)


@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_finite_differences_match_backprop(name, convention):
    spec = make(name, convention)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    numeric = numeric_gradient(spec, params, X, Y, method="central")
    scale = max(np.abs(g[k]).max() for g in grads for k in g)
    for g, n in zip(grads, numeric.grads):
        assert g.keys() == n.keys()
        for k in g:
            np.testing.assert_allclose(n[k], g[k], rtol=1e-5, atol=1e-8 * scale)
    assert check_network(spec, symbolic="off").passed


#: Kinds checked by tests of their own (sequences, graphs) rather than by the image and vector nets here.
OWN_TESTS = {"add": "test_graph.py", "concat": "test_graph.py", "attention": "test_attention.py", "rnn": "test_rnn.py",
             "gru": "test_gru.py", "lstm": "test_lstm.py"}


def test_every_kind_is_covered():
    from pathlib import Path

    from gradcheck.catalogue import LAYER_KINDS
    kinds = {ly["type"] for net in NETS.values() for ly in net["layers"] if "type" in ly} | {"dense"}
    assert set(LAYER_KINDS) - kinds == set(OWN_TESTS)
    for kind, name in OWN_TESTS.items():
        assert f'"type": "{kind}"' in (Path(__file__).parent / name).read_text(), (kind, name)


def test_conv_gradient_is_the_windows_of_the_input():
    """dW of a single 1x1-output convolution is the input patch itself, times δ."""
    spec = load_spec({"input": [1, 3, 3], "loss": "sse", "layers": [
        {"type": "conv2d", "filters": 1, "kernel": 3}, {"type": "flatten"}, {"units": 1}],
        "params": [{"W": np.ones((1, 1, 3, 3)).tolist(), "b": [0]}, {}, {"W": [[1.0]], "b": [0.0]}],
        "data": {"X": [np.arange(9.0).reshape(1, 3, 3).tolist()], "Y": [0.0]}})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    delta = 36.0  # z = Σ x = 36, C = ½ z², δ = z
    np.testing.assert_allclose(grads[0]["W"][0, 0], delta * np.arange(9.0).reshape(3, 3))


@pytest.mark.parametrize("kind", ["avgpool2d", "maxpool2d"])
@pytest.mark.parametrize(("chw", "size", "stride"), [((3, 8, 8), 2, 2), ((2, 9, 9), 3, 3), ((2, 7, 7), 3, 2),
                                                      ((1, 6, 6), 2, 1), ((2, 5, 5), 1, 1), ((1, 9, 9), 9, 1)])
def test_pooling_is_the_reduction_of_every_window_bit_for_bit(kind, chw, size, stride):
    """The pooled output, from strided slices of the input, equals the max or mean over each window of the
    window view (a stack of perturbed networks in front: the shape a check's finite differences pass)."""
    from gradcheck.catalogue.layers.windows import windows

    spec = load_spec({"input": list(chw), "layers": [{"type": kind, "size": size, "stride": stride},
                                                     {"type": "flatten"}, {"units": 2}], "loss": "mse"})
    ly = spec.layers[0]
    rng = np.random.default_rng(sum(chw) + size)
    x = rng.standard_normal((3, 4, *chw)) * 10.0 ** rng.uniform(-3, 3, (3, 4, *chw))
    want = getattr(windows(x, ly.size, ly.stride), ly.reduction)(axis=(-2, -1))
    assert np.array_equal(ly.forward({}, x, spec.conv, spec.bias)[0], want)


def test_max_pool_sends_the_gradient_to_the_maximum_only():
    spec = load_spec({"input": [1, 2, 2], "loss": "sse", "layers": [
        {"type": "maxpool2d", "size": 2}, {"type": "flatten"}, {"units": 1}],
        "params": [{}, {}, {"W": [[1.0]], "b": [0.0]}],
        "data": {"X": [[[[1.0, 4.0], [2.0, 3.0]]]], "Y": [0.0]}})
    params, (X, _) = spec.parameters(), spec.batch_data()
    fw = forward(spec, params, X)
    _, da = spec.layers[0].backward(np.ones((1, 1, 1, 1)), fw.a_in[0], {}, spec.conv, spec.bias)
    np.testing.assert_array_equal(da[0, 0], [[0, 1], [0, 0]])


def test_max_pool_switch_is_reported_as_a_kink():
    """Two channels tie in a pooling window: a ±h step on either filter weight switches the maximum."""
    spec = load_spec({"input": [2, 1, 2], "loss": "sse", "bias": "none", "layers": [
        {"type": "conv2d", "filters": 1, "kernel": 1}, {"type": "maxpool2d", "size": [1, 2]},
        {"type": "flatten"}, {"units": 1}],
        "params": [{"W": [[[[1.0]], [[1.0]]]]}, {}, {}, {"W": [[1.0]]}],
        "data": {"X": [[[[1.0, 0.0]], [[0.0, 1.0]]]], "Y": [0.5]}})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    numeric = numeric_gradient(spec, params, X, Y)
    assert numeric.kinks[0]["W"].all()
    assert not numeric.kinks[3]["W"].any()


def test_dropout_mask_is_fixed_from_the_seed_and_inverted():
    spec = make("mlp_layernorm_dropout")
    mask = spec.parameters()[2]["mask"]
    assert mask.shape == (5, 4)  # the layer's input batch, column convention
    assert set(np.unique(mask)) <= {0.0, 2.0}
    np.testing.assert_array_equal(mask, spec.parameters()[2]["mask"])
    other = load_spec({**NETS["mlp_layernorm_dropout"], "layers": [
        *NETS["mlp_layernorm_dropout"]["layers"][:2], {"type": "dropout", "p": 0.5, "seed": 10},
        NETS["mlp_layernorm_dropout"]["layers"][3]]})
    assert not np.array_equal(mask, other.parameters()[2]["mask"])


def test_given_mask_is_used_and_gets_no_gradient():
    raw = {"input": 2, "batch": 2, "layers": [{"units": 2}, {"type": "dropout", "p": 0.5}, {"units": 1}]}
    spec = load_spec({**raw, "params": [{"W": [[1, 0], [0, 1]], "b": [0, 0]}, {"mask": [[2, 0], [0, 2]]},
                                        {"W": [[1, 1]], "b": [0]}]})
    params = spec.parameters()
    np.testing.assert_array_equal(params[1]["mask"], [[2, 0], [0, 2]])
    _, grads = backprop(spec, params, *spec.batch_data())
    assert grads[1] == {}
    assert [name for name, *_ in spec.param_names()] == ["W0", "b0", "W2", "b2"]


def test_bias_before_batchnorm_has_no_gradient():
    spec = make("mlp_batchnorm")
    _, grads = backprop(spec, spec.parameters(), *spec.batch_data())
    assert np.abs(grads[0]["b"]).max() < 1e-15 < np.abs(grads[0]["W"]).max()


@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize("name", sorted(NETS))
def test_structured_finite_differences_agree_with_plain(name, convention):
    """A conv weight moves its own output channel only; rebuilding just that channel gives the plain result."""
    spec = make(name, convention)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    from gradcheck.numeric.perturbed import Perturbed
    net = Perturbed(spec, params, X, Y)
    assert all(net.uses_structure(ly.index) for ly in spec.layers if ly.kind == "conv2d")
    plain = numeric_gradient(spec, params, X, Y, method="central", structured=False)
    fast = numeric_gradient(spec, params, X, Y, method="central", structured=True)
    for p, f in zip(plain.grads, fast.grads):
        for k in p:
            np.testing.assert_allclose(f[k], p[k], rtol=1e-7, atol=1e-10)
    for p, f in zip(plain.kinks, fast.kinks):
        for k in p:
            np.testing.assert_array_equal(f[k], p[k])


def test_complex_step_through_conv_and_average_pooling():
    spec = make("strided_padded_conv_avgpool")
    assert all(ly.complex_step for ly in spec.layers)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    numeric = numeric_gradient(spec, params, X, Y, method="complex-step")
    assert_grads_close(numeric.grads, grads, rtol=1e-12, what="complex step")
