"""groupnorm and batchnorm's "variance" option: bad input, the layer's own facts, finite differences, SymPy, traces.

The reference backprop of both against an independent oracle and torch is in test_layers.py and
test_torch_layers.py (net ``groupnorm_unbiased_batchnorm`` of oracles.LAYER_NETS).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracles import LAYER_NETS, assert_grads_close

from gradcheck import SpecError, check_network, load_spec, trace_shapes
from gradcheck.cli import main
from gradcheck.numeric.network import numeric_gradient
from gradcheck.numeric.perturbed import Perturbed
from gradcheck.reference.backprop import backprop
from gradcheck.symbolic.derive import derive

TAIL = [{"type": "flatten"}, {"units": 2}]
GN_CNN = {"input": [2, 3, 3], "loss": "mse", "batch": 2, "layers": [
    {"type": "conv2d", "filters": 4, "kernel": 2}, {"type": "groupnorm", "groups": 2}, *TAIL]}
BESSEL = {"input": 3, "loss": "mse", "batch": 3, "layers": [
    {"units": 4}, {"type": "batchnorm", "variance": "unbiased"}, {"units": 2}]}


def refused(raw):
    with pytest.raises(SpecError) as e:
        load_spec(raw)
    assert "\n" not in str(e.value)
    return e.value


@pytest.mark.parametrize(("raw", "path", "fragments"), [
    ({**GN_CNN, "layers": [GN_CNN["layers"][0], {"type": "groupnorm", "groups": 3}, *TAIL]},
     "layers[1].groups", ["4 channels", "3 groups", "1, 2, 4"]),
    ({"input": 6, "layers": [{"type": "groupnorm", "groups": 2}, {"units": 1}]},
     "layers[0].groups", ["vector of 6 features", "2 groups"]),
    ({**GN_CNN, "layers": [GN_CNN["layers"][0], {"type": "groupnorm"}, *TAIL]},
     "layers[1]", ["missing required key 'groups'"]),
    ({**GN_CNN, "layers": [GN_CNN["layers"][0], {"type": "groupnorm", "groups": 0}, *TAIL]},
     "layers[1].groups", [">= 1"]),
    ({**BESSEL, "batch": 1}, "layers[1].variance", ["batch of 1 sample", "n − 1 = 0"]),
    ({**BESSEL, "layers": [{"units": 4}, {"type": "batchnorm", "variance": "bessel"}, {"units": 2}]},
     "layers[1].variance", ["unknown 'bessel'", "biased, unbiased"]),
    ({**BESSEL, "layers": [{"units": 4}, {"type": "batchnorm", "variance": True}, {"units": 2}]},
     "layers[1].variance", ["got true"]),
])
def test_bad_norm_options(raw, path, fragments):
    err = refused(raw)
    assert err.path == path, str(err)
    for words in fragments:
        assert words in str(err), str(err)


def test_one_sample_of_images_is_enough_for_the_unbiased_spatial_variance():
    """n = N·H·W values per channel: a batch of 1 image of 2x2 has n − 1 = 3."""
    spec = load_spec({"input": [1, 3, 3], "batch": 1, "loss": "mse", "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 2}, {"type": "batchnorm", "variance": "unbiased"}, *TAIL]})
    assert spec.layers[1].unbiased and check_network(spec, symbolic="off").passed


def test_data_of_one_sample_given_to_check_network_is_refused_for_the_unbiased_variance():
    spec = load_spec(BESSEL)
    X, Y = spec.batch_data()
    with pytest.raises(SpecError, match=r"layers\[1\]\.variance: .*a batch of 1 sample"):
        check_network(spec, data=(X[:, :1], Y[:, :1]), symbolic="off")
    assert check_network(spec, data=(X[:, :2], Y[:, :2]), symbolic="off").passed


def test_cli_exits_2_on_bad_groups(tmp_path, capsys):
    path = tmp_path / "gn.json"
    path.write_text(json.dumps({**GN_CNN, "layers": [GN_CNN["layers"][0], {"type": "groupnorm", "groups": 3}, *TAIL]}))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "layers[1].groups" in err and "Traceback" not in err


def test_default_variance_is_biased_and_not_written_out():
    biased = load_spec({**BESSEL, "layers": [{"units": 4}, {"type": "batchnorm"}, {"units": 2}]})
    same = load_spec({**BESSEL, "layers": [{"units": 4}, {"type": "batchnorm", "variance": "biased"}, {"units": 2}]})
    unbiased = load_spec(BESSEL)
    assert biased.layers == same.layers and "variance" not in biased.to_dict()["layers"][1]
    assert unbiased.to_dict()["layers"][1]["variance"] == "unbiased"
    assert load_spec(unbiased.to_dict()).layers == unbiased.layers
    params, (X, Y) = unbiased.parameters(), unbiased.batch_data()
    C_b, g_b = backprop(biased, params, X, Y)
    C_u, g_u = backprop(unbiased, params, X, Y)
    assert C_b != C_u and not np.allclose(g_b[0]["W"], g_u[0]["W"])


def test_groupnorm_with_one_group_per_channel_is_instance_norm_and_one_group_is_layer_norm():
    """G = 1 normalises like layernorm over (C, H, W); G = C like instance norm (each channel over H, W)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3, 3))
    ones = {"gamma": np.ones(4), "beta": np.zeros(4)}
    for groups, axes in ((1, (1, 2, 3)), (4, (2, 3))):
        spec = load_spec({**GN_CNN, "input": [4, 3, 3], "layers": [{"type": "groupnorm", "groups": groups}, *TAIL]})
        z, _ = spec.layers[0].forward(ones, x, spec.conv, spec.bias)
        mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        np.testing.assert_allclose(z, (x - mu) / np.sqrt(var + 1e-5), rtol=1e-12)


@pytest.mark.parametrize("convention", ["column", "row"])
def test_groupnorm_finite_differences_use_its_channels_and_complex_steps(convention):
    spec = load_spec({**LAYER_NETS["groupnorm_unbiased_batchnorm"], "convention": convention})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    assert Perturbed(spec, params, X, Y).uses_structure(1)  # γ_c, β_c move channel c only
    _, grads = backprop(spec, params, X, Y)
    plain = numeric_gradient(spec, params, X, Y, method="central", structured=False)
    fast = numeric_gradient(spec, params, X, Y, method="central")
    np.testing.assert_allclose(fast.grads[1]["gamma"], plain.grads[1]["gamma"], rtol=1e-7, atol=1e-11)
    np.testing.assert_allclose(fast.grads[1]["beta"], plain.grads[1]["beta"], rtol=1e-7, atol=1e-11)
    complex_step = numeric_gradient(spec, params, X, Y, method="complex-step")
    assert_grads_close(complex_step.grads, grads, rtol=1e-11, what="complex step")


def test_a_wrong_groupnorm_gradient_is_caught_and_the_right_one_passes():
    spec = load_spec({**GN_CNN, "convention": "row"})

    def right(params, X, Y):
        return backprop(spec, params, X, Y)[1]

    def wrong(params, X, Y):
        grads = right(params, X, Y)
        grads[1]["gamma"] = grads[1]["gamma"] * np.array([1.0, 1.0, 1.01, 1.0])
        return grads

    assert check_network(spec, right, symbolic="off").passed
    bad = check_network(spec, wrong, symbolic="off")
    assert not bad.passed and not bad.tensor("gamma1").passed and bad.tensor("beta1").passed


@pytest.mark.parametrize("raw", [GN_CNN, {**BESSEL, "convention": "row"}])
def test_sympy_derives_both_norms_to_the_reference_gradients(raw):
    """SymPy writes out each group's (or the batch's) μ and σ², dividing the unbiased variance by n − 1: its gradients
    are the reference backprop's, and not those of the other variance (so it would catch that slip)."""
    spec = load_spec(raw)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    d = derive(spec, expand="off")
    got = d.gradients(params, X, Y)
    for i, r in enumerate(ref):
        for k, v in r.items():
            scale = max(float(np.max(np.abs(v))), 1e-12)  # a bias before a norm has gradient 0 (round-off)
            np.testing.assert_allclose(got[i][k], v, rtol=0, atol=1e-11 * scale + 1e-15, err_msg=f"{k}{i}")
    mu = [s.name for s in d.forward if s.name.startswith("mu1_")]
    if spec.layers[1].kind == "groupnorm":
        assert mu == ["mu1_0", "mu1_1"] and not d.batch  # one mean per group, per sample
    else:
        assert mu == ["mu1_0", "mu1_1", "mu1_2", "mu1_3"] and d.batch  # one per feature, over the batch
        biased = load_spec({**raw, "layers": [{"units": 4}, {"type": "batchnorm"}, {"units": 2}]})
        assert not np.allclose(got[0]["W"], backprop(biased, params, X, Y)[1][0]["W"], rtol=1e-6)


def test_the_shape_trace_shows_the_groups_and_the_bessel_factor():
    steps = {s.name: s for s in trace_shapes(load_spec(GN_CNN)).steps() if s.layer == 1}
    assert steps["x"].equation() == "x = a_prev.reshape(-1, 2, 2, 2, 2) : (N,4,2,2).reshape(-1, 2, 2, 2, 2) -> " \
        "(N,2,2,2,2)"
    assert steps["mu"].result == ("N", 2, 1, 1, 1) and steps["da_prev"].result == ("N", 4, 2, 2)
    for step in steps.values():  # every equation is NumPy that gives the recorded shape (N = 3)
        env = {name: np.full(tuple(3 if d == "N" else d for d in shape), 0.5) for name, shape in step.operands.items()}
        env = {name.split("[")[0]: v.reshape(-1) if "[" in name else v for name, v in env.items()}
        assert np.shape(eval(step.expr, {"np": np}, env)) == tuple(3 if d == "N" else d for d in step.result), \
            step.equation()
    bessel = {s.name: s.equation() for s in trace_shapes(load_spec(BESSEL)).steps() if s.layer == 1}
    assert "ddof=1" in bessel["var"] and "- N/(N - 1) * xhat" in bessel["da_prev"], bessel
