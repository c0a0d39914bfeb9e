"""The judge on networks: small wrong gradients fail, inconclusive only where the bound says so."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_network
from gradcheck.numeric.network import numeric_gradient
from gradcheck.numeric.stencils import default_step
from gradcheck.reference.backprop import backprop  # the function (gradcheck.reference.backprop is also its module)
from gradcheck.spec.parse import load_spec


def vanishing_net():
    """Nielsen's chapter 5 setting: 12 sigmoid layers, layer 0's gradient is ~1e-9."""
    spec = load_spec({"input": 3, "layers": [{"units": 3, "activation": "sigmoid"}] * 12, "loss": "quadratic",
                      "batch": 4, "seed": 0})
    return spec, spec.parameters(), spec.batch_data()


def with_layer0(spec, change):
    def impl(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[0]["W"] = change(grads[0]["W"])
        return grads
    return impl


def test_the_premise_layer_0_gradients_are_tiny():
    spec, params, (X, Y) = vanishing_net()
    _, grads = backprop(spec, params, X, Y)
    assert np.abs(grads[0]["W"]).max() < 1e-8 < np.abs(grads[-1]["W"]).max()


@pytest.mark.parametrize("mistake", [lambda w: 2 * w, lambda w: -w, lambda w: w.T, lambda w: 1.01 * w],
                         ids=["doubled", "sign-flipped", "transposed", "one-percent"])
def test_a_wrong_vanishing_gradient_fails(mistake):
    spec, params, data = vanishing_net()
    result = check_network(spec, with_layer0(spec, mistake), symbolic="off", params=params, data=data)
    assert not result.passed
    assert not result.tensor("W0").opinion_passed("impl")
    assert all(t.passed for t in result.tensors if t.name != "W0")


def test_the_right_vanishing_gradient_passes():
    spec, params, data = vanishing_net()
    result = check_network(spec, with_layer0(spec, lambda w: w), symbolic="off", params=params, data=data)
    assert result.passed, str(result)


def test_inconclusive_only_where_the_bound_exceeds_the_tolerance():
    spec, params, (X, Y) = vanishing_net()
    result = check_network(spec, symbolic="off", params=params, data=(X, Y), method="central")
    num = numeric_gradient(spec, params, X, Y, method="central")
    for t in result.tensors:
        ver, bound = t.verdict("backprop"), num.bounds[t.layer][t.kind]
        a, n = t.values["backprop"], t.values["numeric"]
        tol = t.rtol * np.maximum(np.abs(a), np.abs(n))
        inconclusive = ver == "inconclusive"
        # Every inconclusive element has a disagreement beyond rtol that its bound explains ...
        assert np.all(np.abs(a - n)[inconclusive] > tol[inconclusive])
        assert np.all(np.abs(a - n)[inconclusive] <= tol[inconclusive] + 3 * bound[inconclusive])
        # ... and every element whose bound is far below the tolerance is decided.
        assert not np.any(inconclusive & (3 * bound < 0.5 * tol))


def test_a_pass_with_undecided_elements_says_so_and_not_that_an_absolute_floor_passed_them():
    """A tiny gradient off by 0.02%, less than the finite difference resolves (its bound is 0.03% of the value):
    inconclusive, never called "within atol"."""
    spec = load_spec({"input": 2, "layers": [{"units": 1, "activation": "sigmoid"}], "loss": "sse",
                      "bias": "none", "batch": 1, "seed": 700483})
    params = [{"W": spec.parameters(483)[0]["W"] * 10}]
    data = spec.batch_data(483)

    def impl(p, X, Y):
        _, g = backprop(spec, p, X, Y)
        g[0]["W"] = g[0]["W"] * 1.0002
        return g

    result = check_network(spec, impl, symbolic="off", params=params, data=data)
    assert result.passed and result.max_rel_error > result.rtol
    assert "inconclusive element(s) the finite difference cannot resolve" in str(result)
    assert "absolute floor" not in str(result)


# -- stable losses: saturated outputs ------------------------------------------------------

@pytest.mark.parametrize(("loss", "output"), [("bce", "sigmoid"), ("cross_entropy", "softmax")])
def test_a_saturated_output_passes(loss, output):
    spec = load_spec({"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 3, "activation": output}],
                      "loss": loss, "batch": 5, "seed": 1})
    params = spec.parameters()
    for p in params:
        p["W"] = p["W"] * 60  # σ(z) rounds to 1.0 for some samples: log(1 − a) is −inf there
    X, Y = spec.batch_data()
    from gradcheck.reference.backprop import forward
    a = forward(spec, params, X).output
    assert np.any((a == 1.0) | (a == 0.0))  # the premise: saturated outputs
    result = check_network(spec, symbolic="off", params=params, data=(X, Y))
    assert result.passed, str(result)
    assert np.isfinite(result.loss)
    for t in result.tensors:
        assert np.all(np.isfinite(t.values["numeric"])) and np.all(np.isfinite(t.values["backprop"]))


def test_bce_from_z_keeps_the_digits_that_log_one_minus_a_loses():
    from gradcheck.catalogue import LOSSES
    bce = LOSSES["bce"]
    z = np.array([[40.0, -40.0, 5.0]])
    y = np.array([[0.0, 1.0, 1.0]])
    # softplus(40) (y = 0 on 40), softplus(40) (y = 1 on -40), log1p(e^-5) (y = 1 on 5)
    want = (2 * (40 + np.log1p(np.exp(-40.0))) + np.log1p(np.exp(-5.0))) / 3
    assert bce.value_from_z(z, y, 1, 3, -1) == pytest.approx(want, rel=1e-15)
    a = 1 / (1 + np.exp(-z))
    with np.errstate(divide="ignore"):
        assert not np.isfinite(bce.value(a, y, 1, 3))  # the plain formula overflows at a = 1.0


def test_no_false_fail_over_many_random_correct_networks():
    """Both conventions, all bias styles and losses, relu nets, weights up to 40× larger (saturated outputs)."""
    from oracles import random_spec

    rng = np.random.default_rng(2024)
    for i in range(300):
        spec = random_spec(rng, i)
        params = spec.parameters(i)
        scale = float(rng.choice([1.0, 3.0, 10.0, 40.0]))
        for p in params:
            for key in p:
                p[key] = p[key] * scale
        result = check_network(spec, symbolic="off", params=params)
        assert result.passed, (i, scale, spec.to_dict(), str(result))


# -- progress -------------------------------------------------------------------------------

def test_progress_draws_on_a_terminal_only_after_the_delay_and_clears_its_line():
    import io

    from gradcheck.progress import Progress

    out = io.StringIO()
    bar = Progress(stream=out, delay=0.0)
    spec = load_spec({"input": 8, "layers": [{"units": 16, "activation": "tanh"}, {"units": 3}], "batch": 4})
    numeric_gradient(spec, spec.parameters(), *spec.batch_data(), progress=bar)
    bar.close()
    text = out.getvalue()
    assert "gradcheck: finite differences [" in text and "of 195)" in text
    assert text.endswith("\r\033[K")
    quiet = io.StringIO()
    Progress(stream=quiet, delay=60.0)(5, 10)
    assert quiet.getvalue() == ""


def test_no_progress_bar_off_a_terminal_or_for_json_or_quiet(monkeypatch):
    import sys

    from gradcheck.progress import Progress

    assert Progress.for_terminal(quiet=True) is None
    assert Progress.for_terminal(for_people=False) is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert Progress.for_terminal() is None


# -- size guard ------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "key"), [
    ({"input": 10, "layers": [{"units": 10_000_000}]}, "layers[0].units"),
    ({"input": 50_000, "layers": [{"units": 30_000, "activation": "tanh"}, {"units": 2}]}, "input"),
    ({"input": 3, "layers": [{"units": 2}], "batch": 200_000_000}, "batch"),
])
def test_a_network_too_big_for_the_memory_budget_is_refused_naming_the_key(spec, key):
    from gradcheck.errors import SpecError

    with pytest.raises(SpecError, match="GiB a check may use") as info:
        load_spec(spec)
    assert key in str(info.value)


def test_a_million_param_network_fits():
    spec = load_spec({"input": 784, "layers": [{"units": 1024, "activation": "tanh"}, {"units": 256},
                                              {"units": 10}], "batch": 32})
    assert spec.n_params == 1_068_810


def test_a_float32_backprop_is_named_float32_in_a_network_check():
    spec = load_spec({"input": 5, "layers": [{"units": 6, "activation": "tanh"}, {"units": 2}], "batch": 4})
    params, data = spec.parameters(), spec.batch_data()

    def in_float32(params, X, Y, factor=1.0):
        _, grads = backprop(spec, params, X, Y)
        out = [{k: (v * (factor if k == "b" and i == 1 else 1.0)).astype(np.float32) for k, v in g.items()}
               for i, g in enumerate(grads)]
        return out

    result = check_network(spec, in_float32, symbolic="off", params=params, data=data)
    assert result.passed, str(result)
    assert any("your gradients are float32" in n for n in result.notes), result.notes
    wrong = check_network(spec, lambda p, X, Y: in_float32(p, X, Y, 1.05), symbolic="off", params=params, data=data)
    assert not wrong.passed and wrong.blame(1, opinion="impl")[0].param == "b1"


def test_no_false_pass_over_many_random_networks_with_one_wrong_element():
    """One element off by a factor (2, −1, 1.01 or 1.001), however small the gradient, always fails."""
    from oracles import random_spec

    rng = np.random.default_rng(9)
    for i in range(150):
        spec = random_spec(rng, i)
        params, data = spec.parameters(i), spec.batch_data(i)
        _, ref = backprop(spec, params, *data)
        names = [(layer, key) for layer, p in enumerate(ref) for key in p if p[key].size]
        layer, key = names[rng.integers(len(names))]
        flat = ref[layer][key].ravel()
        j = int(np.argmax(np.abs(flat) * rng.random(flat.size)))
        factor = float(rng.choice([2.0, -1.0, 1.01, 1.001]))
        if flat[j] == 0:
            continue

        def impl(p, X, Y, spec=spec, layer=layer, key=key, j=j, factor=factor):
            _, g = backprop(spec, p, X, Y)
            g[layer][key].ravel()[j] *= factor
            return g

        result = check_network(spec, impl, symbolic="off", params=params, data=data)
        assert not result.passed, (i, factor, flat[j], spec.to_dict())


# -- steps wider than the loss's features ----------------------------------------------------

def _sharp_net():
    """Weights 10x larger through softplus, tanh, tanh: the loss bends within 1e-3 of some weights, narrower than
    the default Richardson step (7e-4·|θ|, |θ| up to 4), where g(h) and g(2h) agree to 10% and both miss."""
    spec = load_spec({"input": 6, "layers": [{"units": 9, "activation": "softplus"}, {"units": 4, "activation": "tanh"},
                                             {"units": 12, "activation": "tanh"}],
                      "loss": "mse", "convention": "row", "bias": "none", "seed": 1013, "batch": 37})
    params = [{k: v * 10 for k, v in p.items()} for p in spec.parameters(1013)]
    return spec, params, spec.batch_data(1013)


def test_steps_wider_than_the_loss_features_are_refined_not_judged():
    spec, params, (X, Y) = _sharp_net()
    _, ref = backprop(spec, params, X, Y)
    num = numeric_gradient(spec, params, X, Y)
    for r, n, b in zip(ref, num.grads, num.bounds):
        assert np.all(np.abs(n["W"] - r["W"]) <= b["W"] + 1e-9 * np.abs(r["W"]).max())
    refined = num.steps[1]["W"] < 0.5 * default_step(params[1]["W"], "richardson")
    assert refined.any() and not refined.all()  # only where the wide step missed
    assert check_network(spec, symbolic="off", params=params, data=(X, Y)).passed


def test_a_wrong_element_where_the_steps_were_refined_still_fails():
    spec, params, data = _sharp_net()
    num = numeric_gradient(spec, params, *data)
    refined = np.flatnonzero(num.steps[1]["W"].ravel() < 0.5 * default_step(params[1]["W"], "richardson").ravel())
    j = int(refined[0])

    def impl(p, X, Y):
        _, g = backprop(spec, p, X, Y)
        g[1]["W"].ravel()[j] *= 1.001
        return g

    result = check_network(spec, impl, symbolic="off", params=params, data=data)
    assert not result.passed
    w1 = result.tensor("W1")
    assert np.asarray(w1.verdict("impl")).ravel()[j] in ("wrong", "suspicious")
    assert w1.count("wrong", "impl") + w1.count("suspicious", "impl") == 1


def test_a_tiny_gradient_returned_as_zero_is_never_wrong():
    """Weights 40x: one gradient is -7.7e-15, below what the finite difference resolves (its bound is larger).
    A backprop that returns 0 there agrees with the finite difference; the reference's -7.7e-15 is within the
    rounding a correct float64 backprop has there (tanh' of a saturated unit is 0 to within ε), so 0 is good or
    inconclusive, never a failure; a value the finite difference does resolve is still wrong."""
    spec = load_spec({"input": 4, "layers": [{"units": 3, "activation": "tanh"}], "loss": "mse",
                      "convention": "row", "bias": "augmented", "seed": 800107, "batch": 1})
    params = [{"W": spec.parameters(107)[0]["W"] * 40}]
    data = spec.batch_data(107)
    _, ref = backprop(spec, params, *data)
    j = 9
    assert 0 < abs(ref[0]["W"].ravel()[j]) < 1e-13

    def impl(p, X, Y):
        _, g = backprop(spec, p, X, Y)
        g[0]["W"].ravel()[j] = 0.0
        return g

    result = check_network(spec, impl, symbolic="off", params=params, data=data)
    w0 = result.tensor("W0")
    numeric, bound = w0.values["numeric"].ravel()[j], w0.bound.ravel()[j]
    assert abs(numeric - ref[0]["W"].ravel()[j]) <= bound and bound >= abs(numeric)  # the premise: unresolved
    assert np.asarray(w0.verdict("impl")).ravel()[j] in ("good", "inconclusive")
    assert w0.rounding.ravel()[j] >= abs(ref[0]["W"].ravel()[j])  # excused by the backprop's rounding there
    assert result.passed

    def far(p, X, Y):
        _, g = backprop(spec, p, X, Y)
        g[0]["W"].ravel()[j] = 1e-3
        return g

    assert not check_network(spec, far, symbolic="off", params=params, data=data).passed


def test_refinement_of_sampled_elements_matches_the_full_check():
    spec, params, (X, Y) = _sharp_net()
    full = numeric_gradient(spec, params, X, Y)
    refined = np.flatnonzero(full.steps[1]["W"].ravel() < 0.5 * default_step(params[1]["W"], "richardson").ravel())
    chosen = np.union1d(refined[:3], [0, 1])
    part = numeric_gradient(spec, params, X, Y, elements=[{}, {"W": chosen}, {}])
    scale = np.abs(full.grads[1]["W"]).max()
    np.testing.assert_allclose(part.grads[1]["W"].ravel()[chosen], full.grads[1]["W"].ravel()[chosen], rtol=1e-9,
                               atol=1e-12 * scale)
    np.testing.assert_array_equal(part.steps[1]["W"].ravel()[chosen], full.steps[1]["W"].ravel()[chosen])


def test_a_loss_that_is_rounding_squared_does_not_fail():
    """Units 3-5 are units 0-2 with their weights negated, so after tanh and batchnorm they cancel them, and one
    output unit with equal weights sums to 0 up to rounding: C is that rounding squared, and so is every
    gradient. The error bound must know C's rounding at the scale of its terms (measured), not ε·|C|, or the
    rounding of one opinion is called wrong."""
    from gradcheck.numeric.noise import ulp_probe as loss_noise

    failed = premise = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        half = rng.normal(size=(3, 4))
        net = {"input": 4, "layers": [{"units": 6, "activation": "tanh"}, {"type": "batchnorm"},
                                      {"units": 1, "activation": "linear"}], "loss": "sse", "batch": 3,
               "params": [{"W": np.vstack([half, -half]).tolist(), "b": [0.0] * 6},
                          {"gamma": [1.0] * 6, "beta": [0.0] * 6}, {"W": [[0.99999] * 6], "b": [0.0]}],
               "data": {"X": rng.normal(size=(3, 4)).tolist(), "Y": [[0.0]] * 3}}
        result = check_network(net, symbolic="off")
        failed += not result.passed
        spec = load_spec(net)
        loss = result.loss
        premise += loss_noise(spec, spec.parameters(), *spec.batch_data(), loss) > 1e3 * 2.2e-16 * abs(loss)
    assert premise >= 30  # C's rounding is far above ε·|C| (C < 1e-28 here)
    assert failed == 0


def test_the_measured_loss_rounding_does_not_hide_a_wrong_gradient():
    """On an ordinary network the loss's measured rounding is ε-sized, so a 0.1% error still fails."""
    from oracles import make_spec

    from gradcheck.numeric.noise import ulp_probe as loss_noise

    spec = make_spec([4, 6, 3], ["tanh", "sigmoid"], "mse", batch=5, seed=4)
    params, data = spec.parameters(), spec.batch_data()
    loss, _ = backprop(spec, params, *data)
    assert loss_noise(spec, params, *data, loss) <= 16 * 2.2e-16 * abs(loss)

    def impl(p, X, Y):
        _, g = backprop(spec, p, X, Y)
        g[0]["W"][2, 1] *= 1.001
        return g

    result = check_network(spec, impl, symbolic="off", params=params, data=data)
    assert not result.passed
    assert [(r.element, r.verdict) for r in result.blame(1, opinion="impl")] == [("W0[2, 1]", "suspicious")]


#: A hypothesis CNN: batchnorm 4 has γ = 3.5e-28 and β = -8.4e-191, so the relu outputs are about 1e-190, their
#: squares underflow and the loss is exactly 0. The gradients of the layers below are about 1e-231: no finite
#: difference can see them.
UNDERFLOWING_CNN = (
    {'batch': 3,
     'convention': 'row',
     'data': {'X': [[[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]],
                    [[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]],
                    [[[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]]],
              'Y': [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]},
     'input': [1, 6, 6],
     'layers': [{'activation': 'sigmoid', 'filters': 2, 'kernel': 4, 'padding': 1, 'stride': 2, 'type': 'conv2d'},
                {'type': 'batchnorm'}, {'size': 3, 'stride': 2, 'type': 'maxpool2d'},
                {'activation': 'softplus', 'filters': 1, 'kernel': 1, 'padding': 0, 'stride': 1, 'type': 'conv2d'},
                {'type': 'batchnorm'}, {'type': 'flatten'}, {'activation': 'relu', 'units': 2}],
     'loss': 'mse',
     'name': 'random_cnn',
     'params': [{'W': [[[[3.0247951626745317e-149, -1.0, -2.396708699576274e-22, -1.0], [-1.0, -1.0, -1.0, -1.0],
                         [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]]],
                       [[[-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0],
                         [-1.0, -1.0, -1.0, -1.0]]]],
                 'b': [-0.5, 0.6400105110676009]},
                {'beta': [-0.6386227393260335, -0.0], 'gamma': [-0.19069705622392852, 0.18598538055716252]}, {},
                {'W': [[[[-0.9814595277806242]], [[-9.025700878062873e-125]]]], 'b': [0.0]},
                {'beta': [-8.370032354699849e-191], 'gamma': [3.5435466644349946e-28]}, {},
                {'W': [[-0.9821214872295307, -0.9821214872295307]], 'b': [0.0, 0.0]}],
     'seed': 2803}
)


def test_gradients_below_what_the_loss_can_show_are_inconclusive_through_a_norm():
    """The backprop's rounding bound must reach below the batchnorm (a norm's backward subtracts means: its bound
    adds them), or the rounding-sized gradients there are called wrong against a finite difference of exactly 0."""
    result = check_network(UNDERFLOWING_CNN, symbolic="off")
    assert result.loss == 0.0  # the premise: the loss underflowed
    b3 = result.tensor("b3")
    assert 0 < abs(b3.values["backprop"][0]) < 1e-200 and b3.values["numeric"][0] == 0.0
    assert result.passed
    assert b3.count("inconclusive") == 1


def test_a_gradient_below_a_float64_backprop_s_rounding_is_inconclusive_not_good():
    """Saturated sigmoid outputs (z ≈ 40.7, y = 1): every exact gradient is below 1e-17, and the textbook δ = a − y
    gives 0 (σ(z) rounds to 1). A correct float64 backprop's rounding there is as large as the gradients, so neither
    a 0 nor every sign flipped can be judged: inconclusive, never good, never a FAIL. Where the output is not
    saturated the same flips are wrong."""
    net = {"input": 4, "layers": [{"units": 2, "activation": "linear"}, {"units": 1, "activation": "sigmoid"}],
           "loss": "bce", "convention": "row", "bias": "separate", "batch": 2, "reduction": "sum",
           "params": [{"W": [[0.144, 0.0], [0.0635, 0.149], [0.782, 0.636], [0.0603, 0.759]], "b": [0.0, -0.173]},
                      {"W": [[0.528], [0.0]], "b": [40.66]}],
           "data": {"X": [[-0.00513, -0.0301, -0.0301, 0.387], [1.48, 0.463, 0.0, 2.0]], "Y": [[1.0], [1.0]]}}
    spec = load_spec(net)
    _, exact = backprop(spec, spec.parameters(), *spec.batch_data())
    assert 0 < abs(exact[0]["W"][1, 0]) < 1e-17

    def zero(p, X, Y):
        _, g = backprop(spec, p, X, Y)
        g[0]["W"][1, 0] = 0.0
        return g

    def flipped(p, X, Y):
        return [{k: -v for k, v in g.items()} for g in backprop(spec, p, X, Y)[1]]

    result = check_network(net, zero, symbolic="off")
    assert result.passed and result.tensor("W0").verdict("impl")[1, 0] == "inconclusive"
    assert "below a float64 backprop's rounding" in str(result).splitlines()[0]
    assert any("as large as the gradient itself" in note for note in result.notes)
    result = check_network(net, flipped, symbolic="off")
    changed = [t.verdict("impl")[t.values["backprop"] != 0] for t in result.tensors]
    assert all((v == "inconclusive").all() for v in changed) and result.passed
    net["params"][1]["b"] = [0.5]  # not saturated: the flipped signs are wrong
    assert not check_network(net, flipped, symbolic="off").passed
