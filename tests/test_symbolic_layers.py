"""SymPy's third opinion for every layer kind: convolution, pooling, flatten, norms, dropout, activation layers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import HealthCheck, Phase, given, settings

from gradcheck import check_network, load_spec
from gradcheck.catalogue.activations import SYMPY_NUMPY
from gradcheck.catalogue.sympy_forms import is_window_max, window_max
from gradcheck.reference.backprop import backprop
from gradcheck.reference.rounding import backprop_rounding
from gradcheck.strategies import cnn_specs
from gradcheck.symbolic.derive import derive, should_run
from gradcheck.symbolic.reach import limit_of

sys.path.insert(0, str(Path(__file__).parent / "impls"))
from cs231n_nets import SPECS
from oracles import TINY_CNN

IMAGE_NORMS = {"input": [2, 4, 4], "loss": "mse", "convention": "column", "batch": 2, "layers": [
    {"type": "conv2d", "filters": 2, "kernel": 2, "padding": 1, "stride": 2, "activation": "tanh"},
    {"type": "layernorm"}, {"type": "dropout", "p": 0.3}, {"type": "avgpool2d", "size": [1, 3]},
    {"type": "flatten"}, {"type": "dense", "units": 2, "activation": "sigmoid"}]}
NETS = {**SPECS, "tiny_cnn": TINY_CNN, "tiny_cnn_column": {**TINY_CNN, "convention": "column"},
        "image_norms": IMAGE_NORMS, "bn_mlp_column": {**SPECS["bn_mlp"], "convention": "column"},
        "spatial_bn_column": {**SPECS["bn_cnn"], "convention": "column", "batch": 2}}


def _agree(spec, params, X, Y):
    _, ref = backprop(spec, params, X, Y)
    got = derive(spec, expand="off").gradients(params, X, Y)
    for i, r in enumerate(ref):
        for k, v in r.items():
            scale = max(float(np.max(np.abs(v))), 1e-12)  # a bias before batchnorm has gradient 0 (round-off)
            np.testing.assert_allclose(got[i][k], v, rtol=0, atol=1e-11 * scale + 1e-15, err_msg=f"{k}{i}")


@pytest.mark.parametrize("name", sorted(NETS))
def test_symbolic_gradients_equal_the_reference_backprop(name):
    spec = load_spec(NETS[name])
    assert should_run(spec, "on")[0], should_run(spec, "on")[1]
    params = spec.parameters()
    X, Y = spec.batch_data()
    _agree(spec, params, X, Y)


def test_auto_skips_a_batchnorm_net_whose_whole_batch_is_large():
    from gradcheck.symbolic.derive import UNITS_LIMIT
    from gradcheck.symbolic.reach import BATCH_UNITS_LIMIT

    small = load_spec(SPECS["bn_mlp"])  # N = 5, 18 units per sample
    assert should_run(small, "auto")[0]
    assert should_run({**SPECS["bn_mlp"], "batch": 32}, "auto")[0]  # 576: each sample's forms renamed from one
    big = load_spec({**SPECS["bn_mlp"], "batch": 120})
    run, reason = should_run(big, "auto")
    assert not run and f"N·units = {120 * 18} > limit {BATCH_UNITS_LIMIT}" in reason and "batchnorm" in reason
    assert should_run(big, "on")[0]
    assert should_run({**SPECS["ln_dropout"], "batch": 32}, "auto")[0]  # per sample: N does not matter
    wide = {"input": [3, 8, 8], "loss": "mse", "layers": [{"type": "conv2d", "filters": 4, "kernel": 3,
                                                            "padding": 1}, {"type": "flatten"}]}
    run, reason = should_run(wide, "auto")  # 112 parameters, but 512 units to write out
    assert not run and f"512 units per sample to write out > limit {UNITS_LIMIT}" in reason


def test_a_batchnorm_net_is_derived_over_the_whole_batch():
    d = derive(SPECS["bn_mlp"], expand="off")
    n = load_spec(SPECS["bn_mlp"]).n_samples
    assert d.batch and d.cost_name == "C" and len(d.x) == n * 4
    mu = [s for s in d.forward if s.name.startswith("mu1_")]
    assert len(mu) == 5  # one mean per feature, shared by the samples
    # the adjoints of μ and σ² are steps of the backward pass
    assert {s.name[:5] for s in d.deltas if s.name.startswith("d")} >= {"dmu1_", "dvar1"}
    assert sp.latex(mu[0]) == r"\mu^{(1)}_{0}"


def test_a_layernorm_is_derived_per_sample_with_its_mean_and_variance():
    d = derive(SPECS["ln_dropout"], expand="off")
    assert not d.batch and d.cost_name == "C_n"
    assert [s.name for s in d.forward if s.name[:2] in ("mu", "va")] == ["mu1_0", "var1_0"]


def test_the_dropout_mask_is_data_like_x():
    spec = load_spec(SPECS["ln_dropout"])
    params = spec.parameters()
    X, Y = spec.batch_data()
    d = derive(spec, expand="off")
    masks = [s for s in d.net.inputs if s.name.startswith("m2_")]
    assert len(masks) == 6 and not any(m in {e.symbol for e in d.elements} for m in masks)
    flipped = [dict(p) for p in params]
    flipped[2] = {"mask": np.where(params[2]["mask"] == 0, 2.0, 0.0)}  # the other half dropped
    _agree(spec, flipped, X, Y)
    assert not np.allclose(d.gradients(flipped, X, Y)[0]["W"], d.gradients(params, X, Y)[0]["W"])


def test_a_conv_weight_element_is_the_fact_summed_over_the_output_positions():
    d = derive(TINY_CNN, expand="off")
    e = d.element("W0", (1, 0, 2, 0))  # filter 1, channel 0, kernel row 2, column 0
    x, delta = {s.name: s for s in d.x}, {s.name: s for s in d.delta[0]}
    want = sp.Add(*[delta[f"delta0_1_{i}_{j}"] * x[f"x_0_{i + 2}_{j}"] for i in range(4) for j in range(4)])
    assert sp.expand(e.chain_rule - want) == 0
    assert e.unit is not None and e.input is None


def test_max_pool_derivative_goes_to_the_first_maximum_only():
    xs = sp.symbols("u0:4", real=True)
    m = window_max(*xs)
    assert sp.diff(m, xs[2]) == is_window_max(2, *xs)
    fn = sp.lambdify(xs, [sp.diff(m, x) for x in xs], modules=[SYMPY_NUMPY, "numpy"])
    assert [float(v) for v in fn(0.5, 2.0, 2.0, -1.0)] == [0.0, 1.0, 0.0, 0.0]  # a tie: the first one
    assert str(is_window_max(1, *xs)) == "[u1 = max(u0, u1, u2, u3)]"


def test_three_way_check_of_a_cnn_fails_a_wrong_gradient():
    spec = load_spec(TINY_CNN)

    def flipped(params, X, Y):
        _, g = backprop(spec, params, X, Y)
        g[0]["W"] = g[0]["W"][..., ::-1, ::-1]
        return g

    good = check_network(spec, symbolic="on")
    assert good.passed and "symbolic" in good.checked
    assert not check_network(spec, flipped, symbolic="on").passed


def test_a_cnn_report_shows_the_convolution_and_pooling_facts(tmp_path):
    from gradcheck.reports.derivation import build_report, report_json

    spec = load_spec({"input": [1, 5, 5], "loss": "cross_entropy", "batch": 2, "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 3, "stride": 2, "padding": 1, "activation": "relu"},
        {"type": "maxpool2d", "size": 3}, {"type": "flatten"}, {"type": "dense", "units": 2, "activation": "softmax"}]})
    result = check_network(spec)
    md = build_report(result, "markdown")
    assert "## The local fact of a convolution" in md and "## Where pooling sends the gradient" in md
    assert r"\left[f = g\right] {x}_{d,- P + S i + r,- P + S j + s}" in md
    assert "In this network: layer 0: S = 2, P = 1, 3×3 kernels." in md
    assert "(0, 0, 1, 0, 0, 0, 0, 0, 0)" in md  # the example window's gradient goes to its maximum only
    doc = report_json(result)
    assert doc["conv_fact"]["dz_dW"]["text"] == "[f = g]*x[d, -P + S*i + r, -P + S*j + s]"
    assert [p["layer"] for p in doc["pool_facts"]] == [1] and len(doc["pool_facts"][0]["grads"]) == 9
    dense = load_spec(SPECS["bn_mlp"])
    plain = report_json(check_network(dense, symbolic="off"))
    assert "conv_fact" not in plain and "pool_facts" not in plain


# 10 draws: every kind in both conventions is also compared, fixed, in the test over NETS above; the draws add
# odd sizes, strides and paddings, and a SymPy derivation of a drawn CNN takes up to seconds.
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # a failure is shown as drawn, not shrunk
@given(cnn_specs(max_size=5, max_filters=2))
def test_symbolic_gradients_agree_with_backprop_on_random_cnns(raw):
    """Every kind, both conventions, strides, padding, norms, dropout; a max-pool tie (zeros after relu) goes to
    the first maximum in both."""
    spec = load_spec(raw)
    params = spec.parameters()
    X, Y = spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    got = derive(spec, expand="off").gradients(params, X, Y)
    # round-off at the scale of the network's largest gradient (a norm can make a whole tensor's true value 0), and
    # the reference's own rounding allowance (where a norm over one value makes every gradient round-off: SymPy's
    # exact 0 against the reference's 1e-19)
    scale = max([float(np.max(np.abs(v))) for r in ref for v in r.values()] + [1e-12])
    allowed = backprop_rounding(spec, params, X, spec.targets(Y))
    for i, r in enumerate(ref):
        for k, v in r.items():
            assert np.all(np.abs(got[i][k] - v) <= 1e-9 * np.abs(v) + 1e-10 * scale
                          + np.finfo(float).eps * allowed[i][k]), f"{k}{i} {raw}: {got[i][k]} vs {v}"


def test_an_lstm_is_written_step_by_step_and_its_gradients_equal_the_reference():
    """Each step's gates, c and h are named, so that a step's forms hold the step before by name (written whole,
    an lstm's forms grew a thousandfold a step and "auto" wrote out one step only): "auto" derives an lstm of
    three steps, the last h is o·tanh(c) of its own step's names, and SymPy's gradients equal the backprop's."""
    net = {"input": {"steps": 3, "features": 2}, "layers": [{"type": "lstm", "units": 2, "sequences": False},
                                                            {"units": 1}], "loss": "mse", "batch": 3}
    assert should_run(net, "auto")[0]
    d = derive(net, expand="off")
    h = {s.name: s for s in d.forward if s.name.startswith("h0_")}
    assert sorted(h) == [f"h0_{t}_{j}" for t in range(3) for j in range(2)]
    assert {s.name for s in sp.sympify(d.forward[h["h0_2_1"]]).free_symbols} == {"go0_2_1", "c0_2_1"}
    spec = load_spec(net)
    _agree(spec, spec.parameters(), *spec.batch_data())


def _chain_rule(net, name, index):
    """The chain-rule form of element ``index`` of param ``name`` and the names of the symbols it holds."""
    chain = next(e.chain_rule for e in derive(net, expand="off").elements if (e.name, e.index) == (name, index))
    return chain, {s.name for s in chain.free_symbols}


def test_a_weights_chain_rule_is_its_products_adjoint_times_its_input_in_an_lstm_and_in_attention():
    """The lstm's gate inputs a_t and attention's q, k, v and heads' output are named intermediates: a weight's chain
    rule is then the adjoint of the product it enters times that product's input, summed over the steps, as a dense
    layer's is (written through the gates or the softmax, it filled pages of a report)."""
    lstm = {"input": {"steps": 3, "features": 2}, "layers": [{"type": "lstm", "units": 2, "sequences": False},
                                                             {"units": 1}], "loss": "mse"}
    chain, held = _chain_rule(lstm, "Wx0", (5, 1))  # gate column 5 (f's unit 1) from input feature 1
    assert held == {f"dga0_{t}_5" for t in range(3)} | {f"x_{t}_1" for t in range(3)}
    assert chain.is_Add and all(term.is_Mul and len(term.args) == 2 for term in chain.args)
    attention = {"input": {"steps": 2, "features": 2}, "loss": "mse", "bias": "none",
                 "layers": [{"type": "attention", "heads": 1}, {"type": "flatten"}, {"units": 1}]}
    for key, letter in (("Wq0", "q"), ("Wk0", "k"), ("Wv0", "v"), ("Wo0", "o")):
        chain, held = _chain_rule(attention, key, (0, 1))  # output 0 from input 1 (the column convention)
        inputs = {f"o0_{t}_1" for t in range(2)} if letter == "o" else {f"x_{t}_1" for t in range(2)}
        adjoints = {f"d{letter}0_{t}_0" for t in range(2)} if letter != "o" else set()
        assert held >= inputs | adjoints and len(chain.args) == 2, (key, chain)


def test_an_lstm_costs_sympy_twice_what_a_gru_of_as_many_steps_does():
    lstm, gru = ({"input": {"steps": 4, "features": 3}, "layers": [{"type": kind, "units": 6}, {"units": 2}]}
                 for kind in ("lstm", "gru"))
    assert limit_of(load_spec(lstm)) == limit_of(load_spec(gru)) // 2
    run, reason = should_run(lstm, "auto")
    assert not run and f"{load_spec(lstm).n_params} parameters > limit {limit_of(load_spec(lstm))}" in reason
    assert should_run(gru, "auto")[0]
