"""elu, selu, gelu, gelu_tanh and leaky_relu's slope: erf, forms, spec keys, the three opinions, complex step,
kinks and the diagnosis of a backward pass with the wrong parameter."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import Phase, find, given, settings
from oracles import assert_grads_close, complex_step

from gradcheck import SpecError, check_network, load_spec
from gradcheck.catalogue import ACTIVATIONS
from gradcheck.catalogue.activations import SYMPY_NUMPY
from gradcheck.catalogue.special import erf, erfc, normal_cdf, normal_pdf
from gradcheck.cli import main
from gradcheck.numeric.network import numeric_gradient
from gradcheck.reference.backprop import backprop
from gradcheck.reference.shapes import trace_shapes
from gradcheck.strategies import cnn_specs, specs
from gradcheck.strategies.activations import bad_activation_layers

IMPLS = Path(__file__).parent / "impls" / "param_acts.py"

#: (activation, its keys on the layer): every new activation, parameterised ones at a default and another value.
CONFIGS = [("leaky_relu", {}), ("leaky_relu", {"slope": 0.2}), ("elu", {}), ("elu", {"alpha": 0.5}), ("selu", {}),
           ("gelu", {}), ("gelu_tanh", {})]


def _ulps(got, want):
    return np.max(np.abs(got - want) / np.maximum(np.spacing(np.abs(want)), np.spacing(0.0)))


# -- erf ------------------------------------------------------------------------------------------

def _erf_points():
    tails = np.geomspace(1e-300, 27.0, 600)
    edges = [0.5, 4.0, np.nextafter(0.5, 1), np.nextafter(4.0, 5), 0.0]
    x = np.concatenate([np.linspace(-8, 8, 3201), tails, edges])
    return np.concatenate([x, -x])


def test_erf_and_erfc_match_math_to_a_few_ulp_and_a_wrong_value_is_seen():
    x = _erf_points()
    want = np.array([math.erf(v) for v in x])
    assert _ulps(erf(x), want) <= 4
    assert _ulps(erf(x) * (1 + 1e-14), want) > 4  # the measure sees a slip of 1e-14
    tail = x[np.abs(x) < 26]  # erfc above 1e-300 (no subnormals)
    want_c = np.array([math.erfc(v) for v in tail])
    assert _ulps(erfc(tail), want_c) <= 8
    assert erfc(np.array([27.5]))[0] == math.erfc(27.5)  # underflows alike


def test_normal_cdf_has_its_digits_in_the_lower_tail_and_phi_is_its_derivative():
    z = np.linspace(-30, 8, 761)
    want = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in z])
    # Φ's condition number is z² (2e-13 at z = −30): a rounding of z/√2 alone moves it that much
    tol = 4 * np.spacing(1.0) * np.maximum(z * z, 1)
    assert np.all(np.abs(normal_cdf(z) - want) <= tol * want)
    h = 1e-20  # the complex step: Im Φ(z + ih)/h = φ(z) to rounding (φ's condition number is z² too)
    assert np.all(np.abs(np.imag(normal_cdf(z + 1j * h)) / h - normal_pdf(z)) <= tol * normal_pdf(z))
    central = (normal_cdf(z + 1e-6) - normal_cdf(z - 1e-6)) / 2e-6
    np.testing.assert_allclose(central, normal_pdf(z), rtol=1e-7, atol=1e-9)  # Φ near 1: ε/h
    with pytest.raises(ValueError, match="real axis"):
        erf(np.array([0.5 + 0.1j]))


# -- forms ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "keys"), CONFIGS)
def test_numpy_derivative_sympy_form_and_complex_step_agree(name, keys):
    act = ACTIVATIONS[name].configured(**keys)
    z = np.linspace(-6, 4, 101) + 0.0137  # never at 0
    a = act.forward(z)
    d = act.derivative(z, a)
    central = (act.forward(z + 1e-6) - act.forward(z - 1e-6)) / 2e-6
    np.testing.assert_allclose(central, d, rtol=1e-7, atol=1e-9)
    # atol: gelu_tanh's (1 + tanh u) cancels for z ≪ 0 in σ' (the complex step keeps those digits)
    np.testing.assert_allclose(np.imag(act.forward(z + 1e-20j)) / 1e-20, d, rtol=1e-13, atol=1e-14)
    s = sp.Symbol("z")
    form, = act.symbolic([s])
    np.testing.assert_allclose(sp.lambdify(s, form, [SYMPY_NUMPY, "numpy"])(z), a, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(sp.lambdify(s, sp.diff(form, s), [SYMPY_NUMPY, "numpy"])(z), d, rtol=1e-14,
                               atol=1e-15)


def test_known_values_and_the_derivative_of_a_neighbour_differs():
    z = np.array([-2.0, -0.5, 0.5, 3.0])
    elu = ACTIVATIONS["elu"].configured(alpha=0.5)
    np.testing.assert_allclose(elu.forward(z), [0.5 * math.expm1(-2), 0.5 * math.expm1(-0.5), 0.5, 3.0], rtol=1e-15)
    selu = ACTIVATIONS["selu"]
    assert selu.forward(np.array([1.0]))[0] == 1.0507009873554805
    np.testing.assert_allclose(selu.forward(np.array([-1.0])), 1.0507009873554805 * 1.6732632423543772 *
                               math.expm1(-1), rtol=1e-15)
    gelu, tanh_form = ACTIVATIONS["gelu"], ACTIVATIONS["gelu_tanh"]
    np.testing.assert_allclose(gelu.forward(z), [v * (1 + math.erf(v / math.sqrt(2))) / 2 for v in z], rtol=1e-15)
    gap = np.abs(gelu.derivative(z, gelu.forward(z)) - tanh_form.derivative(z, tanh_form.forward(z)))
    assert 1e-6 < gap.max() < 1e-2  # the tanh approximation is close but not the same function
    leaky = ACTIVATIONS["leaky_relu"]
    assert leaky.derivative(z, z)[0] == 0.01 and leaky.configured(slope=0.2).derivative(z, z)[0] == 0.2


def test_kinks_facts_and_printed_forms():
    # elu with α = 1 is differentiable at 0, but its second derivative jumps there: finite differences across 0
    # are bent as by a kink, so it has one too (a property test found a false FAIL at z = 0 exactly without it)
    assert ACTIVATIONS["elu"].kinks == (0.0,) == ACTIVATIONS["elu"].configured(alpha=2).kinks
    assert "second derivative" in ACTIVATIONS["elu"].kink_text
    assert ACTIVATIONS["selu"].kinks == (0.0,) and not ACTIVATIONS["gelu"].kinks
    assert not ACTIVATIONS["gelu_tanh"].kinks and ACTIVATIONS["leaky_relu"].configured(slope=0.3).kinks == (0.0,)
    assert ACTIVATIONS["elu"].configured(alpha=0.5).kink_text == "elu at 0"
    assert ACTIVATIONS["elu"].prime_of_a_slip and not ACTIVATIONS["gelu"].prime_of_a_slip
    s = sp.Symbol("z")
    form, = ACTIVATIONS["leaky_relu"].configured(slope=0.2).symbolic([s])
    assert str(form) == "leaky_relu_0.2(z)" and str(sp.diff(form, s)) == "Piecewise((1, z > 0), (0.2, True))"
    assert sp.latex(form) == r"\operatorname{leaky\_relu}_{0.2}\left(z\right)"
    with pytest.raises(KeyError):
        ACTIVATIONS["elu"].configured(slope=1)


# -- net.json ----------------------------------------------------------------------------------------

def _net(act, keys, kind="dense", loss="mse"):
    first = {"units": 3} if kind == "dense" else {"type": "activation"}
    layers = [{"units": 4}] if kind != "dense" else []
    return {"input": 3, "layers": [*layers, {**first, "activation": act, **keys}, {"units": 2}], "loss": loss,
            "batch": 4, "seed": 3}


def test_keys_are_read_written_back_and_used_by_the_layer():
    spec = load_spec(_net("leaky_relu", {"slope": 0.2}))
    assert spec.layers[0].act.settings == {"slope": 0.2}
    assert spec.to_dict()["layers"][0] == {"type": "dense", "units": 3, "activation": "leaky_relu", "slope": 0.2}
    assert load_spec(spec.to_dict()).layers[0].act.settings == {"slope": 0.2}
    old = load_spec(_net("leaky_relu", {}))
    assert old.layers[0].act is ACTIVATIONS["leaky_relu"] and old.to_dict()["layers"][0]["slope"] == 0.01
    assert "slope" not in load_spec(_net("tanh", {})).to_dict()["layers"][0]
    conv = load_spec({"input": [1, 4, 4], "layers": [
        {"type": "conv2d", "filters": 2, "kernel": 3, "activation": "elu", "alpha": 0.5}, {"type": "flatten"},
        {"units": 1}]})
    assert conv.layers[0].act.settings == {"alpha": 0.5} and "elu(alpha=0.5)" in conv.layers[0].describe()
    steps = [s.equation() for s in trace_shapes(spec).steps()]
    assert any("leaky_relu(" in e and "slope=0.2" in e for e in steps)
    assert any("leaky_relu'(" in e and "slope=0.2" in e for e in steps)


@pytest.mark.parametrize(("act", "keys", "where", "words"), [
    ("tanh", {"slope": 0.2}, "layers[0].slope", "tanh takes no slope"),
    ("leaky_relu", {"alpha": 1.0}, "layers[0].alpha", "takes no alpha (only elu does)"),
    ("leaky_relu", {"slope": -0.1}, "layers[0].slope", ">= 0"),
    ("elu", {"alpha": -1}, "layers[0].alpha", ">= 0"),
    ("elu", {"alpha": "big"}, "layers[0].alpha", "expected a number"),
    ("leaky_relu", {"slope": True}, "layers[0].slope", "expected a number"),
    ("elu", {"alpha": 1e9}, "layers[0].alpha", "<= 100"),
])
def test_bad_activation_keys_are_one_line_errors(act, keys, where, words):
    with pytest.raises(SpecError) as e:
        load_spec(_net(act, keys))
    assert str(e.value).startswith(where) and words in str(e.value) and "\n" not in str(e.value)


def test_a_bad_key_exits_2_from_the_cli(tmp_path, capsys):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(_net("sigmoid", {"slope": 0.1}, kind="activation")))
    assert main([str(path), "--symbolic", "off"]) == 2
    err = capsys.readouterr().err
    assert "layers[1].slope" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# -- the three opinions and a user's wrong gradient -----------------------------------------------------

@pytest.mark.parametrize(("name", "keys"), CONFIGS[1:])
def test_the_three_way_check_passes_and_a_sibling_activation_is_caught(name, keys):
    spec = load_spec(_net(name, keys, kind="activation" if name.startswith("gelu") else "dense"))
    params, (X, Y) = spec.parameters(), spec.batch_data()
    result = check_network(spec, symbolic="on", trace_code=False)
    assert result.passed and "symbolic" in result.checked, str(result)
    sibling = {"leaky_relu": ("leaky_relu", {"slope": 0.25}), "elu": ("selu", {}), "selu": ("elu", {}),
               "gelu": ("gelu_tanh", {}), "gelu_tanh": ("gelu", {})}[name]
    other = load_spec(_net(sibling[0], sibling[1], kind="activation" if name.startswith("gelu") else "dense"))

    def wrong(p, x, y):  # the gradient of a network whose activation is the sibling
        return backprop(other, p, x, y)[1]
    bad = check_network(spec, wrong, symbolic="off", trace_code=False, params=params, data=(X, Y))
    assert not bad.passed


@pytest.mark.parametrize("convention", ["column", "row"])
@pytest.mark.parametrize(("name", "keys"), CONFIGS)
def test_backprop_matches_the_independent_complex_step_oracle(name, keys, convention):
    raw = {**_net(name, keys, kind="activation" if name == "gelu" else "dense"), "convention": convention,
           "bias": "augmented" if name == "selu" else "separate"}
    spec = load_spec(raw)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    assert_grads_close(grads, complex_step(spec, params, X, Y), what=spec.describe())
    if keys:  # the oracle reads the key: another value gives another gradient, and the comparison sees it
        other = load_spec({**raw, "layers": [{**ly, **{k: 0.3 for k in keys}} if "activation" in ly else ly
                                             for ly in raw["layers"]]})
        with pytest.raises(AssertionError):
            assert_grads_close(grads, complex_step(other, params, X, Y), what="")


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "elu"])
def test_complex_step_runs_through_smooth_activations(name):
    spec = load_spec(_net(name, {}))
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    numeric = numeric_gradient(spec, params, X, Y, method="complex-step")
    for r, n in zip(ref, numeric.grads):
        for k in r:
            np.testing.assert_allclose(n[k], r[k], rtol=1e-12, atol=1e-15)
    wrong = check_network(spec, lambda p, x, y: [{k: v * 1.001 for k, v in g.items()} for g in ref],
                          method="complex-step", symbolic="off", trace_code=False)
    assert not wrong.passed


@pytest.mark.parametrize(("name", "keys"), [("selu", {}), ("elu", {"alpha": 0.5}), ("leaky_relu", {"slope": 0.2})])
def test_complex_step_refuses_a_kinked_activation(name, keys):
    spec = load_spec(_net(name, keys))
    with pytest.raises(ValueError, match=f"complex-step.*{name}"):
        numeric_gradient(spec, spec.parameters(), *spec.batch_data(), method="complex-step")


# -- diagnosis ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("act", "fn", "words"), [
    ({"activation": "leaky_relu", "slope": 0.2}, "leaky_good", None),
    ({"activation": "leaky_relu", "slope": 0.2}, "leaky_default_slope", "uses slope = 0.01 in leaky_relu'"),
    ({"activation": "elu", "alpha": 0.5}, "elu_good", None),
    ({"activation": "elu", "alpha": 0.5}, "elu_exp_without_alpha", "uses alpha = 1.0 in elu'"),
    ({"activation": "elu", "alpha": 0.5}, "elu_prime_of_a", "applies elu' to the activation a instead of to z"),
    ({"activation": "selu"}, "selu_good", None),
    ({"activation": "selu"}, "selu_no_lambda", "uses elu's derivative with SELU's α but without its λ"),
    ({"activation": "gelu"}, "gelu_good", None),
    ({"activation": "gelu"}, "gelu_phi_only", "uses Φ(z) alone (the product rule's z·φ(z) left out) for gelu'"),
    ({"activation": "gelu"}, "gelu_tanh_prime", "uses the tanh approximation's derivative"),
    ({"activation": "elu", "alpha": 0.5}, "elu_a_plus_one", "uses alpha = 1.0 in elu' (1 if z > 0 else 1.0·exp(z) = a "
                                                            "+ 1.0, written with a from the forward pass)"),
])
def test_a_wrong_parameter_in_the_backward_pass_is_named(act, fn, words):
    spec = {"input": 3, "layers": [{"units": 4, **act}, {"units": 2}], "loss": "quadratic", "batch": 5}
    result = check_network(spec, f"{IMPLS}:{fn}", symbolic="off", trace_code=False)
    if words is None:
        assert result.passed, str(result)
    else:
        assert not result.passed
        assert any(line.startswith("matches a known mistake: layer 0") and words in line
                   for line in result.diagnosis), result.diagnosis


# -- strategies -------------------------------------------------------------------------------------------

FIRST = settings(phases=[Phase.generate], database=None, max_examples=500)  # the first example found, unshrunk


@pytest.mark.parametrize("key", ["slope", "alpha"])
def test_the_strategies_draw_each_key_and_each_new_activation(key):
    for strategy in (specs(), cnn_specs()):
        raw = find(strategy, lambda d: any(key in ly for ly in d["layers"]), settings=FIRST)
        layers = load_spec(raw).layers
        for i, d in enumerate(raw["layers"]):  # each layer that names the key has the value it names
            if key in d:
                assert layers[i].act.settings[key] == d[key]
    for name in ("selu", "gelu", "gelu_tanh"):
        find(specs(), lambda d, name=name: any(ly.get("activation") == name for ly in d["layers"]), settings=FIRST)


@settings(max_examples=15, deadline=None)
@given(specs(smooth=True, max_layers=2))
def test_smooth_specs_draw_no_kinked_activation(raw):
    assert not any(ly.act.kinks for ly in load_spec(raw).layers)


@settings(max_examples=15, deadline=None)
@given(bad_activation_layers(specs(max_layers=2)))
def test_drawn_bad_activation_keys_are_refused_naming_the_key(raw):
    with pytest.raises(SpecError, match=r"layers\[\d+\]\.(slope|alpha)"):
        load_spec(raw)


#: σ'(z) in 80-bit long double, for each activation whose derivative_rounding is a fact of the catalogue.
_EXACT_PRIME = {"sigmoid": lambda zl: 1 / (1 + np.exp(-zl)) * (1 - 1 / (1 + np.exp(-zl))),
                "tanh": lambda zl: 1 - np.tanh(zl) ** 2,
                "softplus": lambda zl: 1 / (1 + np.exp(-zl))}
#: The other ways users compute σ'(z) in float64, which the allowance must cover too.
_USER_PRIMES = {"softplus": [lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(z) / (1 + np.exp(z))]}


@pytest.mark.parametrize("name", [n for n, a in ACTIVATIONS.items() if a.derivative_rounding is not None])
def test_an_activation_s_derivative_rounding_bounds_float64_s_error_and_is_relative_where_sigma_is_small(name):
    """σ'(z) computed in float64 (by the catalogue, and in the other usual forms), against 80-bit long double, over
    z from −40 to 40 and near 0: the error stays within ε·derivative_rounding(z, a). Where σ' is tiny and a small (a
    sigmoid at 2e-14, a tanh near 0, a softplus at −31) the allowance is a few ulps of σ' itself, not an absolute
    ulp."""
    act = ACTIVATIONS[name]
    z = np.concatenate([np.linspace(-40, 40, 8001), np.geomspace(1e-12, 40, 800), -np.geomspace(1e-12, 40, 800)])
    a = act.forward(z)
    exact = _EXACT_PRIME[name](z.astype(np.longdouble))
    allowance = np.finfo(float).eps * act.derivative_rounding(z, a)
    d = act.derivative(z, a)
    for computed in [d, *(form(z) for form in _USER_PRIMES.get(name, ()))]:
        err = np.abs(computed.astype(np.longdouble) - exact).astype(float)
        assert np.all(err <= allowance)
    small = (np.abs(d) < 1e-8) & (np.abs(a) < 0.5)
    assert small.any() or name == "tanh"
    if small.any():
        assert np.all(allowance[small] <= 10 * np.finfo(float).eps * np.abs(d[small]) + 1e-300)


def test_a_slip_of_1e_3_through_a_sigmoid_saturated_near_0_is_caught():
    """Weights up to 60 put two sigmoid outputs at 2e-39 and 2e-14; an element of 4.9e-26 below them, slipped by
    1e-3, was passed as "within the rounding a correct float64 backprop may make there", as σ' was allowed an
    absolute ulp. σ(1 − σ) is good to a few ulps of itself there: the slip fails, and the correct backprop
    passes."""
    from gradcheck.reference.backprop import backprop

    net = json.loads((Path(__file__).parent / "cases" / "sigmoid_saturated_at_zero.json").read_text())
    spec = load_spec(net)
    assert check_network(net, symbolic="off").passed

    def slipped(p, X, Y):
        _, g = backprop(spec, p, X, spec.targets(Y))
        g[4]["W"].flat[1] *= 1.001
        return g

    result = check_network(net, slipped, symbolic="off")
    assert not result.passed and result.tensor("W4").verdict("impl").flat[1] in ("wrong", "suspicious")
