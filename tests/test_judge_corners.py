"""The judge in the corners: features narrower than the step, rounding at the scale of a network's terms, float32.

Each case: the correct gradient passes, and a wrong one that a float64 finite difference resolves is caught.
"""

import numpy as np
import pytest
from oracles import all_rounding, case, exact_lstm_gradient, slipped

from gradcheck import check_function, check_network, load_spec
from gradcheck.judge.tolerances import tolerance
from gradcheck.numeric.network import numeric_gradient
from gradcheck.numeric.noise import ecnoise, forward_rounding, layer_noise, layer_probe, ulp_probe
from gradcheck.numeric.perturbed import Perturbed
from gradcheck.numeric.steps import resolve
from gradcheck.reference.backprop import backprop
from gradcheck.reference.rounding import backprop_rounding, low_precision_rounding

EPS = np.finfo(np.float64).eps

#: 1 → dense 2 → layernorm → 1, one sample: the two features differ by 0.001, so the layernorm turns within
#: sqrt(ε_norm) ≈ 3e-3 of b0, narrower than Richardson's default step there (7.4e-3).
NARROW_NORM = {"input": 1, "convention": "row", "layers": [{"units": 2}, {"type": "layernorm"}, {"units": 1}],
               "params": [{"W": [[0.3, 0.3]], "b": [10.001, 10]}, {"gamma": [1, 1], "beta": [0, 0]},
                          {"W": [[1.5], [-0.7]], "b": [0.1]}],
               "data": {"X": [[1.0]], "Y": [[0.3]]}}


def planted(spec, layer, key, index, how):
    """A user backprop: the reference's, with one element changed by ``how`` (a function of the value)."""
    spec = load_spec(spec)

    def impl(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[layer][key] = grads[layer][key].copy()
        grads[layer][key][index] = how(grads[layer][key][index])
        return grads

    return impl


def test_a_norm_over_two_features_narrower_than_the_step_is_not_called_wrong():
    result = check_network(NARROW_NORM, symbolic="off")
    assert result.passed, str(result)
    b0 = result.tensor("b0")
    assert list(b0.verdict("backprop")) == ["good", "good"]  # resolved by smaller steps, not excused
    assert abs(b0.values["numeric"][0] - b0.values["backprop"][0]) < 1e-6 * abs(b0.values["backprop"][0])


@pytest.mark.parametrize("how", [lambda v: -v, lambda v: 1.001 * v, lambda v: 0.0])
def test_a_wrong_element_behind_a_narrow_norm_is_caught(how):
    result = check_network(NARROW_NORM, impl=planted(NARROW_NORM, 0, "b", 0, how), symbolic="off")
    assert not result.passed
    assert result.tensor("b0").verdict("impl")[0] in ("wrong", "suspicious")
    assert result.tensor("b0").verdict("impl")[1] == "good"


def test_steps_go_on_halving_until_three_levels_are_in_the_asymptotic_regime():
    """At the default step the layernorm's feature is inside the stencil: g(h), g(2h), g(h/2) are far apart and
    not in the ratio 4, so the element gets smaller steps; the kept estimate is good to its own bound."""
    spec = load_spec(NARROW_NORM)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    num = numeric_gradient(spec, params, X, Y)
    _, ref = backprop(spec, params, X, Y)
    h = num.steps[0]["b"]
    assert np.all(h < 7.4e-3 / 8)  # several halvings below the default step
    err = np.abs(num.grads[0]["b"] - ref[0]["b"])
    assert np.all(err <= num.bounds[0]["b"]) and np.all(num.bounds[0]["b"] < 1e-5 * np.abs(ref[0]["b"]))


def test_an_element_never_in_the_regime_is_inconclusive_not_judged():
    """A function whose difference quotients never settle (a feature at every scale) gets no bound: inconclusive."""
    def stencil(at, s, offsets):
        x = np.asarray(offsets, float)[:, None] * np.broadcast_to(s, (len(at),))[None, :]
        return np.sin(1 / np.maximum(np.abs(x), 1e-300)) * x, np.zeros(x.shape, bool), x

    _, bound, kink, resolved, _ = resolve(stencil, np.array([1e-3]), "richardson",
                                              lambda fmax, s, _: 8 * EPS * np.maximum(fmax, 1.0) / s)
    assert not resolved[0] and not kink[0] and bound[0] == np.inf


def test_a_rounding_sized_gradient_of_a_one_feature_layernorm_passes_and_a_larger_one_fails():
    """x − μ over one feature is exactly 0, so dγ is exactly 0; a backprop that computes μ with another rounding
    gets dγ of the size of ε·|x|/√ε_norm times ∂C/∂z. That is rounding, not a mistake; a thousand times it is."""
    net = {"input": 2, "convention": "row", "batch": 3, "seed": 1,
           "layers": [{"units": 1, "activation": "tanh"}, {"type": "layernorm"}, {"units": 2}]}
    spec = load_spec(net)
    params, (X, Y) = spec.parameters(1, n=3), spec.batch_data(1)
    params[0]["W"] = params[0]["W"] * 30
    params[2]["W"] = params[2]["W"] * 1000
    seen = {}
    backprop(spec, params, X, Y, seen=seen)
    a0, dz1 = seen[0][2], seen[1][1]
    rounded = (dz1 * (a0 - a0 * (1 + EPS)) / np.sqrt(1e-5)).sum(axis=0)  # dγ with μ one ulp off
    assert 0 < abs(rounded[0])
    ok = check_network(net, impl=planted(net, 1, "gamma", 0, lambda v: v + rounded[0]), params=params,
                       symbolic="off")
    assert ok.passed, str(ok)
    bad = check_network(net, impl=planted(net, 1, "gamma", 0, lambda v: v + 1e3 * rounded[0]), params=params,
                        symbolic="off")
    assert not bad.passed and bad.tensor("gamma1").verdict("impl")[0] == "wrong"


def test_a_sign_flip_on_a_small_gradient_deep_in_a_network_is_caught():
    """Through 17 layers the rounding allowance follows the backward pass's own signs; carried on magnitudes it
    would grow past the gradients of the first layer and excuse anything there."""
    net = {"input": 3, "layers": [{"units": 3, "activation": "tanh"}] * 16 + [{"units": 1}], "batch": 4, "seed": 5}
    spec = load_spec(net)
    params = spec.parameters(5, n=4)
    for p in params:
        p["W"] = p["W"] * 1.5
    result = check_network(net, params=params, symbolic="off")
    assert result.passed
    w0 = result.tensor("W0")
    X, Y = spec.batch_data(None)
    allowance = tolerance().rounding(backprop_rounding(spec, params, X, spec.targets(Y))[0]["W"])
    assert np.all(allowance < 1e-6 * np.abs(w0.values["backprop"]).max())
    wrong = check_network(net, impl=planted(net, 0, "W", (1, 2), lambda v: -v), params=params, symbolic="off")
    assert not wrong.passed and wrong.tensor("W0").verdict("impl")[1, 2] == "wrong"


def test_a_saturated_tanh_feeding_a_batchnorm_is_not_called_wrong():
    """tanh(17) rounds to 1 − a few ulps: the loss moves in steps the finite difference cannot resolve there."""
    net = {"input": 1, "convention": "row",
           "layers": [{"units": 1, "activation": "tanh"}, {"type": "batchnorm"}, {"units": 1}],
           "params": [{"W": [[1.0]], "b": [0.0]}, {"gamma": [1.0], "beta": [0.0]}, {"W": [[2.0]], "b": [0.1]}],
           "data": {"X": [[17.0], [17.3], [17.6]], "Y": [[0.5], [-0.2], [0.1]]}}
    result = check_network(net, symbolic="off")
    assert result.passed, str(result)
    spec = load_spec(net)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    C, _ = backprop(spec, params, X, Y)
    assert forward_rounding(spec, params, X, Y)[0] > 1e3 * EPS * abs(C)  # the staircase the ±ulp probe misses
    wrong = check_network(net, impl=planted(net, 2, "b", 0, lambda v: -v), symbolic="off")
    assert not wrong.passed and wrong.tensor("b2").verdict("impl")[0] == "wrong"


def test_ecnoise_measures_noise_and_ignores_the_smooth_part():
    rng = np.random.default_rng(3)
    t = np.arange(8) * 1e-6
    smooth = np.exp(t) + 5 * t ** 3
    assert ecnoise(smooth) < 1e-15
    noisy = smooth + 1e-10 * rng.standard_normal(8)
    assert 1e-11 < ecnoise(noisy) < 1e-9


def test_ecnoise_holds_at_the_ends_of_float64():
    """A loss of 1e-211 (outputs that cancel to 1e-106 under a loss of squares) has differences whose squares
    underflow to 0, and one of 1e200 differences whose squares overflow: the scatter is the same, scaled."""
    rng = np.random.default_rng(4)
    noisy = 1.0 + np.arange(8) * 1e-6 + 1e-12 * rng.standard_normal(8)
    sigma = ecnoise(noisy)
    assert 1e-13 < sigma < 1e-11
    for power in (-700, 660):
        assert ecnoise(np.ldexp(noisy, power)) == np.ldexp(sigma, power)


def test_layer_noise_is_at_least_the_layer_s_ulp_probe_and_the_rounding_model():
    spec = load_spec({"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 2}], "batch": 5})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    net = Perturbed(spec, params, X, Y)
    noise = layer_noise(net)
    probes = [layer_probe(net, i, ("W", "b")) for i in range(2)]
    model = forward_rounding(spec, params, X, Y)
    assert all(n >= p for n, p in zip(noise, probes)) and all(n >= m for n, m in zip(noise, model))
    assert model[0] >= model[1] > 0  # the layers above a layer round too


@pytest.mark.parametrize("act", ["tanh", "relu"])
@pytest.mark.parametrize("origin", [0.0, 1e-3])
def test_layer_noise_s_one_stacked_pass_gives_the_probe_and_the_line_of_their_own_passes(act, origin):
    from gradcheck.numeric.noise import _probe_and_line, line_noise
    from gradcheck.reference.rounding import random_signs

    # relu at N=40 with z's near 0: some lines cross a kink, and the line is then measured as line_noise measures it
    spec = load_spec({"input": 3, "layers": [{"units": 6, "activation": act}, {"units": 2}], "batch": 40, "seed": 4})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    params[0]["b"][:] = -(params[0]["W"] @ X)[:, 0]  # every unit's z at 0 for sample 0: a kink within ulps
    net = Perturbed(spec, params, X, Y)
    for i in range(2):
        signs = {key: random_signs(np.random.default_rng(i), params[i][key].shape) for key in ("W", "b")}
        assert _probe_and_line(net, i, ("W", "b"), signs, origin) == (layer_probe(net, i, ("W", "b")),
                                                                      line_noise(net, i, signs, origin=origin))


def test_the_noise_line_starts_where_the_steps_go_and_at_theta_where_that_is_across_a_kink(monkeypatch):
    """With an origin, the line's eight points start that far along its direction; where the start is on another
    side of a kink than θ (both ways), the line is measured from θ as before."""
    from gradcheck.numeric import noise
    from gradcheck.reference.rounding import random_signs

    spec = load_spec({"input": 3, "layers": [{"units": 6, "activation": "relu"}, {"units": 2}], "batch": 40,
                      "seed": 4})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    net = Perturbed(spec, params, X, Y)
    signs = {key: random_signs(np.random.default_rng(0), params[0][key].shape) for key in ("W", "b")}
    starts = []
    original = noise._along
    monkeypatch.setattr(noise, "_along", lambda net, i, signs, spacing, t, origin=0.0: starts.append(origin)
                        or original(net, i, signs, spacing, t, origin))
    noise.line_noise(net, 0, signs, origin=1e-3)
    assert starts and starts[0] == 1e-3  # where the steps go, first
    params[0]["b"][:] = -(params[0]["W"] @ X)[:, 0]  # sample 0's z at 0: any move of the layer crosses the kink
    net = Perturbed(spec, params, X, Y)
    starts.clear()
    noise.line_noise(net, 0, signs, origin=1e-3)
    assert {abs(s) for s in starts} == {1e-3, 0.0}  # tried there both ways, then from θ
    assert [abs(s) for s in starts].count(1e-3) == 2  # a start across a kink is not tried at narrower spacings


def test_float32_x_with_a_float64_function_and_gradient_is_not_called_float32():
    def f(x):
        return float(np.sum(np.asarray(x, dtype=np.float64) ** 3))

    def grad(x):
        return 3 * np.asarray(x, dtype=np.float64) ** 2

    x = np.array([0.5, -1.25, 2.0], dtype=np.float32)
    result = check_function(f, grad, x)
    assert result.passed and not any("float32" in n for n in result.notes), result.notes

    def wrong(x):  # a float64 bug of 1.7e-4 relative: never excused as float32 rounding
        g = grad(x)
        g[1] *= 1 + 1.7e-4
        return g

    bad = check_function(f, wrong, x)
    assert not bad.passed and bad.blame(1)[0].element == "x[1]"


def test_a_float32_gradient_off_by_a_thousandth_fails():
    def f(x):
        return np.sum(np.tanh(x))

    def grad(x):
        return (1 - np.tanh(x) ** 2).astype(np.float32) * np.float32(1.001)

    result = check_function(f, grad, np.array([0.3, -0.8, 1.1]))
    assert not result.passed
    assert any("your gradients are float32" in n for n in result.notes)


def test_check_function_chooses_its_steps_where_a_feature_is_narrower_than_the_step():
    """tanh(3000·(x − c)) turns within 3e-4 of x = 100, narrower than the default step there (6e-4): the correct
    gradient passes and a 1% error there is caught."""
    c = np.array([100.0003, 50.0001, 3.0])

    def f(x):
        return float(np.sum(np.tanh(3000 * (x - c))))

    def grad(x):
        return 3000 / np.cosh(3000 * (x - c)) ** 2

    x = np.array([100.0, 50.0, 3.0002])
    assert check_function(f, grad, x).passed
    bad = check_function(f, lambda x: grad(x) * np.array([1.0, 1.01, 1.0]), x)
    assert not bad.passed and bad.blame(1)[0].element == "x[1]"


def test_check_function_never_takes_a_turn_narrower_than_its_steps_for_a_slope():
    """w·softplus((x − c)/w) + b·x turns from slope b to a + b within w = 1e-12 of c, far inside every step: the
    central differences there are the mean of the two slopes, the same at every level. A correct gradient a hair
    from c is inconclusive, never failed, and never good; a 1% slip of an element away from the turn is caught."""
    w, a, b, c = 1e-12, 2.0, -1.0, np.array([0.3, 0.3, 0.3])

    def f(x):
        return float(np.sum(a * w * np.logaddexp(0.0, (x - c) / w) + b * (x - c)))

    def grad(x):
        return a / (1 + np.exp(-(x - c) / w)) + b

    x = c + np.array([w, 3 * w, 0.4])
    result = check_function(f, grad, x)
    assert result.passed
    assert result.counts()["inconclusive"] == 2
    bad = check_function(f, lambda x: grad(x) * np.array([1.0, 1.0, 1.01]), x)
    assert not bad.passed and bad.blame(1)[0].element == "x[2]"


def test_check_function_measures_the_noise_of_a_function_that_cancels():
    """Σ sin(x)·1e-8 over a symmetric x is 0 up to rounding at the scale of its terms: the bound must know that
    rounding (measured), or every element is left unresolved; twice the gradient is still caught everywhere."""
    x = np.linspace(-2.0, 2.0, 7)

    def f(x):
        return float(np.sum(np.sin(x)) * 1e-8)

    assert check_function(f, lambda x: np.cos(x) * 1e-8, x).passed
    wrong = check_function(f, lambda x: 2 * np.cos(x) * 1e-8, x)
    assert wrong.counts()["wrong"] == x.size


def _float32_backprop(spec, plant=None):
    """A correct backprop that computes in float32, forward and backward (the reference run on float32 arrays),
    with one element times 1.001 where ``plant`` = (layer, key, flat index) is given."""
    def impl(params, X, Y):
        low = [{k: v.astype(np.float32) for k, v in p.items()} for p in params]
        with np.errstate(all="ignore"):
            _, grads = backprop(spec, low, X.astype(np.float32), Y.astype(np.float32))
        grads = [{k: np.asarray(v, dtype=np.float32).copy() for k, v in g.items()} for g in grads]
        if plant is not None:
            layer, key, flat = plant
            grads[layer][key].flat[flat] *= np.float32(1.001)
        return grads
    return impl


@pytest.mark.parametrize("net", [
    {"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"type": "batchnorm"}, {"units": 2}], "batch": 3,
     "seed": 4},
    {"input": 2, "loss": "bce",
     "layers": [{"units": 3, "activation": "sigmoid"}, {"units": 1, "activation": "sigmoid"}],
     "params": [{"W": [[30.0, -20.0], [12.0, 8.0], [-25.0, 1.0]], "b": [0.5, -1.0, 2.0]},
                {"W": [[9.0, -7.0, 4.0]], "b": [0.3]}],
     "data": {"X": [[1.0, 0.5], [-0.3, 2.0]], "Y": [[1.0], [0.0]]}},
])
def test_a_backprop_computing_in_float32_passes_and_a_thousandth_off_fails(net):
    """A float32 forward pass rounds every a and z to ε₃₂, and saturated units and norms carry that far into the
    gradients: the allowance is measured by running the reference in float32, not guessed from ε₆₄'s."""
    spec = load_spec(net)
    result = check_network(net, _float32_backprop(spec), symbolic="off")
    assert result.passed, str(result)
    assert any("your gradients are float32" in note for note in result.notes)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    low = low_precision_rounding(spec, params, X, Y)
    # the element a float32 backprop gets most accurately (the premise: far below 1e-3 of it)
    layer, key, flat, ratio = min(((i, k, int(j), float(low[i][k].flat[j] / abs(g[k].flat[j])))
                                   for i, g in enumerate(grads) for k in g for j in np.flatnonzero(g[k])),
                                  key=lambda t: t[3])
    assert ratio < 1e-4
    name = next(n for n, i, k, _ in spec.param_names() if (i, k) == (layer, key))
    bad = check_network(net, _float32_backprop(spec, (layer, key, flat)), symbolic="off")
    assert not bad.passed and bad.tensor(name).verdict("impl").flat[flat] in ("wrong", "suspicious")


def test_a_layer_s_rounding_floor_is_its_own_not_the_layers_below():
    """A batchnorm over two samples 1e-6 apart: one ulp of the convolution's weights below it moves the loss by
    about 100 ulps (x − μ cancels), one ulp of the batchnorm's own γ by a few. The finite differences of γ never
    move the layers below, so their floor is γ's own: a sign flipped on γ's gradient of −6.3e-12 is resolved and
    fails (with the whole network's floor it stayed inconclusive)."""
    import json
    from pathlib import Path

    net = json.loads((Path(__file__).parent / "cases" / "narrow_batchnorm_two_samples.json").read_text())
    spec = load_spec(net)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    perturbed = Perturbed(spec, params, X, spec.targets(Y))
    whole = ulp_probe(spec, params, X, spec.targets(Y), perturbed.loss)
    assert layer_probe(perturbed, 1, ("gamma", "beta")) < whole / 10 < layer_probe(perturbed, 0, ("W", "b"))
    _, exact = backprop(spec, params, X, spec.targets(Y))
    assert 1e-12 < abs(exact[1]["gamma"][1]) < 1e-11

    def flipped(p, X, Y):
        _, g = backprop(spec, p, X, spec.targets(Y))
        g[1]["gamma"][1] *= -1
        return g

    result = check_network(net, flipped, symbolic="off")
    assert not result.passed and result.tensor("gamma1").verdict("impl")[1] == "wrong"
    correct = check_network(net, symbolic="off")
    assert correct.passed
    # b0's gradients cancel far below their terms: inconclusive for the backprop's rounding, so the note on the
    # finite difference's bound does not name them first
    b0 = correct.tensor("b0")
    assert b0.first("inconclusive") == "b0[0]" and b0.first("inconclusive", swamped=False) is None


def test_growing_steps_stop_at_a_feature_of_the_loss_and_never_overrule_what_the_default_steps_resolve():
    """A layernorm over two features 1e-6 apart (the conv's biases differ by that): steps of a bias wider than about
    1e-3 saturate the norm, and the central differences fall with the step to 0, flat to rounding, at steps of 0.4.
    Growing the steps of the biases (inconclusive at the default steps by a few parts in 1e4) once passed the
    feature and took that 0 with a bound of 3e-14 against an exact 4.2e-7: the correct backprop failed."""
    import json
    from pathlib import Path

    net = json.loads((Path(__file__).parent / "cases" / "narrow_layernorm_saturates.json").read_text())
    spec = load_spec(net)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, exact = backprop(spec, params, X, spec.targets(Y))
    assert 4e-7 < abs(exact[0]["b"][0]) < 5e-7
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    b0 = correct.tensor("b0")
    assert np.all(np.abs(b0.values["numeric"] - exact[0]["b"]) <= b0.bound)  # the bound holds the exact value

    def flipped(p, X, Y):
        _, g = backprop(spec, p, X, spec.targets(Y))
        g[0]["b"] *= -1
        return g

    wrong = check_network(net, flipped, symbolic="off")
    assert not wrong.passed and set(wrong.tensor("b0").verdict("impl")) == {"wrong"}


def test_grow_gives_no_bound_that_excludes_the_slope_where_wide_steps_pass_a_feature():
    """f(θ) = c·θ·exp(−(θ/w)²): f'(0) = c, and the central differences c·exp(−(s/w)²) vary outside the asymptotic
    regime at steps near w and are 0, flat to rounding, far past it. Growing steps from 1e-4 must stop at the
    feature (no estimate: bound infinite), not take the flat 0 of the wide steps."""
    from gradcheck.numeric.stencils import rounding_floor
    from gradcheck.numeric.steps import grow

    c, w = 3e-9, np.array([3e-4, 1e-2])  # a feature within the first grown steps; and far beyond them

    def stencil(index, step, offsets):
        x = np.asarray(offsets, float)[:, None] * np.broadcast_to(step, (len(index),))[None, :]
        values = 1.0 + c * x * np.exp(-(x / w[index]) ** 2)
        return values, np.zeros(x.shape, bool), x

    value, bound, _ = grow(stencil, np.full(2, 1e-4), "richardson", lambda fmax, s, _: rounding_floor(fmax, s),
                           np.full(2, 0.1))
    assert not np.isfinite(bound[0])  # stopped at the feature: nothing claimed
    assert np.isfinite(bound[1]) and abs(value[1] - c) <= bound[1]  # an honest estimate where the steps are clear


def test_a_richardson_bound_two_levels_agree_on_by_accident_is_dropped_when_a_finer_level_contradicts_it():
    """g(s) = 1 + a₃s² + a₅s⁴ + a₇s⁶ with a₅ ≈ −21·a₇·s₀²: at s₀ the s⁴ and s⁶ terms of R(s₀) − R(2s₀) nearly
    cancel, so the first level's two extrapolations agree to 1e-6 while both are 6e-5 off (the d-ratio is 4: the
    level is in the regime). A narrow layernorm over two features 1e-6 apart did this to a conv bias's
    difference, and a correct backprop failed. The finer level contradicts that bound, and the estimate kept is
    the finer levels', whose bound holds the slope."""
    from gradcheck.numeric.stencils import default_step, rounding_floor
    from gradcheck.numeric.steps import resolve

    h = default_step(np.zeros(1), "richardson")
    s0 = float(h[0]) / 2  # the first level's finest step: R(s₀) and R(2s₀) are its two extrapolations
    a7 = -1e-6 / s0 ** 6
    a3, a5 = 1e-2 / s0 ** 2, -21 * a7 * s0 ** 2 * (1 - 1e-3)

    def f(x):
        return 5.0 + x + a3 * x ** 3 + a5 * x ** 5 + a7 * x ** 7

    def stencil(index, step, offsets):
        x = np.asarray(offsets, float)[:, None] * np.broadcast_to(step, (len(index),))[None, :]
        return f(x), np.zeros(x.shape, bool), x

    first = (4 * (1 + a3 * s0 ** 2 + a5 * s0 ** 4 + a7 * s0 ** 6) - (1 + 4 * a3 * s0 ** 2 + 16 * a5 * s0 ** 4
                                                                     + 64 * a7 * s0 ** 6)) / 3
    second = (4 * (1 + 4 * a3 * s0 ** 2 + 16 * a5 * s0 ** 4 + 64 * a7 * s0 ** 6)
              - (1 + 16 * a3 * s0 ** 2 + 256 * a5 * s0 ** 4 + 4096 * a7 * s0 ** 6)) / 3
    assert abs(first - 1.0) > 5e-5 and abs(first - second) < 2e-6  # the premise: agreeing, and 6e-5 off
    value, bound, _, resolved, _ = resolve(stencil, h, "richardson", lambda fmax, s, _: rounding_floor(fmax, s))
    assert resolved[0] and abs(value[0] - 1.0) <= bound[0]


def test_a_narrow_layernorm_s_lucky_first_level_does_not_fail_a_correct_backprop_and_a_slip_of_1e_3_fails():
    import json
    from pathlib import Path

    net = json.loads((Path(__file__).parent / "cases" / "narrow_layernorm_lucky_levels.json").read_text())
    spec = load_spec(net)
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)

    def slipped(p, X, Y):
        _, g = backprop(spec, p, X, spec.targets(Y))
        g[0]["b"][0] *= 1.001
        return g

    result = check_network(net, slipped, symbolic="off")
    assert not result.passed and result.tensor("b0").verdict("impl")[0] in ("wrong", "suspicious")


def _planted(spec, layer, key, flat, factor):
    def impl(p, X, Y):
        _, g = backprop(spec, p, X, spec.targets(Y))
        g[layer][key].flat[flat] *= factor
        return g
    return impl


def test_a_first_level_whose_ratio_falls_in_range_by_chance_is_not_kept_against_the_finer_levels():
    """A layernorm over two features 1e-5 apart: b0[0]'s first three levels, at steps wider than the features' gap,
    have a ratio of differences of 3.4 (in the asymptotic range by chance) and extrapolate to −3.53 ± 0.10, against
    an exact −1.894. The next two levels are not in the regime but contradict it, so the steps go on halving until
    they are, and the estimate is the exact value to 2e-8."""
    import json
    from pathlib import Path

    net = json.loads((Path(__file__).parent / "cases" / "narrow_layernorm_lucky_ratio.json").read_text())
    spec = load_spec(net)
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    b0 = correct.tensor("b0")
    assert abs(b0.values["numeric"][0] - b0.values["backprop"][0]) <= b0.bound[0] < 1e-6
    result = check_network(net, _planted(spec, 0, "b", 0, 1.001), symbolic="off")
    assert not result.passed and result.tensor("b0").verdict("impl")[0] in ("wrong", "suspicious")


def test_growing_steps_that_lift_nothing_out_of_rounding_claim_no_bound():
    """A layernorm over two features 3.2e-5 apart: the loss changes by the same few ulps however wide a weight's
    step, so the grown quotients fall as 1/s, flat to a rounding that falls as fast. They once bounded weights of
    an exact 9.4e-14 at 1e-15 ± 4e-15, and a correct backprop failed; now no grown level counts, and the default
    steps' bound stands."""
    import json
    from pathlib import Path

    net = json.loads((Path(__file__).parent / "cases" / "narrow_layernorm_saturated_growth.json").read_text())
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W0 = correct.tensor("W0")
    assert np.all(np.abs(W0.values["numeric"] - W0.values["backprop"]) <= 3 * W0.bound)


def test_grow_lifts_a_slope_out_of_rounding_and_claims_nothing_where_nothing_is_lifted():
    """What growing steps are for: a slope of 1e-13 that C(θ ± h) hides in rounding at the default steps, found at
    the wider ones. A loss that does not change at all at any step, or whose change stays at a few ulps however
    wide the step, gives no estimate: wider steps lifted nothing out of rounding, and the default steps' bound
    stands (flat at a wide step says nothing of a slope at θ under a feature narrower than that step)."""
    from gradcheck.numeric.stencils import rounding_floor
    from gradcheck.numeric.steps import grow

    def stencil_of(f):
        def stencil(index, step, offsets):
            x = np.asarray(offsets, float)[:, None] * np.broadcast_to(step, (len(index),))[None, :]
            return f(x), np.zeros(x.shape, bool), x
        return stencil

    def run(f):
        return grow(stencil_of(f), np.full(1, 1e-5), "richardson", lambda fmax, s, _: rounding_floor(fmax, s),
                    np.full(1, 0.1))

    value, bound, _ = run(lambda x: 1.0 + 1e-13 * x)
    assert abs(value[0] - 1e-13) <= bound[0] < 1e-13
    value, bound, _ = run(lambda x: np.full(x.shape, 1.0))
    assert not np.isfinite(bound[0])
    value, bound, _ = run(lambda x: 1.0 + 4e-16 * np.tanh(x / 1e-7))  # a step in C of 8e-16 at every wide step
    assert not np.isfinite(bound[0])
    value, bound, _ = run(lambda x: 1.0 + 2e-17 * np.tanh(x / 3e-3))  # a slope of 7e-15 that never moves C a bit
    assert not np.isfinite(bound[0])


def test_a_loss_flat_to_the_last_bit_at_every_step_leaves_a_tiny_gradient_inconclusive():
    """A layernorm over two features 3.3e-6 apart (a feature of width √eps = 3e-3 in b0), under output weights of
    2.2e-16: b0's exact gradient is 5.5e-15, and the loss changes by less than half an ulp at every step, inside
    the feature or across it. Growing steps once took that flatness at steps of 2.9 for a bound of 1.3e-15 on 0,
    and the correct backprop failed; no float64 difference resolves b0, so it is inconclusive. A slip far beyond
    what the loss's rounding at the default steps allows still fails."""
    import json
    from pathlib import Path

    net = json.loads((Path(__file__).parent / "cases" / "narrow_layernorm_flat_at_every_step.json").read_text())
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    b0 = correct.tensor("b0")
    assert np.all(np.abs(b0.values["backprop"]) > 1e-15)  # the premise: a gradient, not a zero
    assert set(b0.verdict("backprop").flat) == {"inconclusive"}
    spec = load_spec(net)

    def slipped(p, X_, Y_):
        _, g = backprop(spec, p, X_, Y_)
        g[0]["b"] = g[0]["b"] * 1e4
        return g

    wrong = check_network(net, slipped, symbolic="off")
    assert not wrong.passed and "wrong" in set(wrong.tensor("b0").verdict("impl").flat), str(wrong)


def test_check_function_near_a_minimum_resolves_a_gradient_of_the_functions_own_scale():
    """½‖x‖² at x of 1e-20: its gradient is x, and f(x ± h) at the default steps is the curvature's 3e-7, whose
    rounding hid it (inconclusive, and a slip of 1e-3 passed). Measured at the element's own steps, and at smaller
    ones where f is nearer f(x), the rounding is that of f's own scale: the gradient is good, the slip fails."""
    x = np.array([1e-20, -3e-20, 2e-19])

    def f(v):
        return 0.5 * np.sum(v ** 2)

    good = check_function(f, lambda v: v.copy(), x.copy())
    assert good.passed and set(good.tensors[0].verdict("analytic").flat) == {"good"}, str(good)
    assert np.all(good.tensors[0].bound < 1e-6 * np.abs(x))
    slipped = check_function(f, lambda v: v * 1.001, x.copy())
    assert not slipped.passed, str(slipped)


def _big_sum():
    """f = 1e6 + Σ log cosh(A x) + ½‖x‖² (a sum whose other terms carry 1e6), its exact gradient, and x, where the
    default steps leave x[0] and x[3] (gradients of -0.30 and -0.12) undecided."""
    rng = np.random.default_rng(3)
    A = rng.normal(size=(6, 4))
    x = rng.normal(size=4) * 0.3

    def f(v):
        return 1e6 + np.sum(np.log(np.cosh(A @ v))) + 0.5 * np.sum(v ** 2)

    def g(v):
        return A.T @ np.tanh(A @ v) + v
    return f, g, x


def test_check_function_resolves_with_wider_steps_what_a_large_sum_s_rounding_hides():
    """A function that sums many terms rounds at ε times its size: at 1e6, 2e-10, which at the default steps of
    6e-6 puts 4e-5 on every difference quotient and left gradients of -0.30 and -0.12 inconclusive at rtol 1e-5.
    At wider steps the rounding falls below the tolerance before the truncation rises to it: every element is
    good, and each estimate kept from the wider steps has a bound within the tolerance that holds the exact
    value."""
    f, g, x = _big_sum()
    result = check_function(f, g, x.copy())
    t = result.tensors[0]
    assert result.passed and set(t.verdict("analytic").flat) == {"good"}, str(result)
    exact = g(x)
    assert np.all(np.abs(t.values["numeric"] - exact) <= t.bound)
    assert np.all(t.bound[[0, 3]] <= 1e-5 * np.abs(exact[[0, 3]]))


@pytest.mark.parametrize("factor", [1.0001, 0.9999, -1.0])
def test_wider_steps_never_clear_a_slip_the_default_steps_leave_open(factor):
    """The wider steps only clear an element: x[0] slipped by a ten-thousandth (ten times rtol), which the default
    steps leave open under a sum of 1e6, is never good; the other elements are; a slip the default steps resolve
    (its sign flipped) fails."""
    f, g, x = _big_sum()
    slipped = g(x)
    slipped[0] *= factor
    result = check_function(f, lambda v: slipped.copy(), x.copy())
    verdicts = result.tensors[0].verdict("analytic")
    assert verdicts[0] != "good" and set(verdicts[1:]) == {"good"}, str(result)
    if factor < 0:
        assert not result.passed and verdicts[0] == "wrong", str(result)


def test_a_slip_that_agrees_with_a_vague_first_estimate_by_chance_is_estimated_again_and_fails():
    """½‖A(x − c)‖² one ulp of x from its minimum: the gradient is −1.7795e-16, and the first central difference
    −1.78128e-16 ± 8.8e-18, a thousandth off and known to 5%. A slip of a thousandth agreed with it to 6e-6 and was
    called good, so no more was done. An estimate known to worse than 1% is estimated again wherever the gradient
    agrees with it: the slip fails, the exact gradient is good."""
    A = np.array([[-5.157080179562527], [-53.27839286150898], [20.431081301286266]])
    c = np.array([0.00038929746650764044])
    x = np.array([0.0003892974665076404])

    def f(v):
        return 0.5 * np.sum((A @ (v - c)) ** 2)

    exact = np.array([-1.779507371006411e-16])
    good = check_function(f, lambda v: exact.copy(), x.copy())
    assert good.passed and good.tensors[0].verdict("analytic")[0] == "good", str(good)
    slipped = check_function(f, lambda v: exact * 1.001, x.copy())
    assert not slipped.passed and slipped.tensors[0].verdict("analytic")[0] in ("wrong", "suspicious"), str(slipped)


def test_a_slip_that_agrees_with_an_estimate_known_to_worse_than_a_percent_is_not_good():
    """Σ log cosh(A x) + ½‖x‖² under a constant of 4.6e7 (benchmarks/sweep_function.py, "offset", seed 2114): f
    rounds at 7e-9, and the difference, at every step tried, is −0.247924 known to 0.0068 (2.7%), itself 1e-3 off
    the exact −0.247678. A slip of 1e-3 agreed with it within rtol and was called good, while the exact value was
    inconclusive. An agreement with an estimate that loose certifies nothing: both are inconclusive, with a note
    saying why, and a sign flipped still fails."""
    A = np.array([[-0.27814905527518374], [-0.2216909238717723], [-0.17218486880401354]])

    def f(v):
        return 46248511.389466524 + np.sum(np.log(np.cosh(A @ v))) + 0.5 * np.sum(v ** 2)

    x, exact = np.array([-0.21425070349144834]), np.array([-0.24767800555836297])
    for factor in (1.0, 1.001):
        result = check_function(f, lambda v, g=exact * factor: g.copy(), x.copy())
        t = result.tensors[0]
        assert result.passed and t.verdict("analytic")[0] == "inconclusive", (factor, str(result))
        assert t.bound[0] > 0.01 * abs(exact[0])
    assert t.unjudged("vague") == 1
    assert any("certifies nothing to the tolerance" in note for note in result.notes), result.notes
    flipped = check_function(f, lambda v: -exact, x.copy())
    assert not flipped.passed and flipped.tensors[0].verdict("analytic")[0] == "wrong", str(flipped)


def test_a_staircase_of_rounding_a_hair_from_x_is_not_taken_for_a_slope():
    """softplus(u) − log 2 − u/2 at u = A(x − c) = 0 exactly (benchmarks/sweep_function.py, "cancelling", seed
    2115): f is exact at x and a hair away, where its rounding is measured, and rounds at 1e-16 at the steps the
    kink tests end at, 6e-8: their differences gave −4.2e-10 ± 1.4e-12 for a gradient of 0, which failed. Measured
    along the element's own axis at that step, on points equally spaced to the last bit, that rounding bounds the
    estimate: 0 passes, and a gradient of 1e-6 still fails."""
    A = np.array([[0.03174857346010449], [0.03603468419640465], [-0.019792854288594106]])
    c = np.array([0.00358825468349553])

    def f(v):
        u = A @ (v - c)
        return np.sum(np.log1p(np.exp(u)) - np.log(2) - 0.5 * u)

    result = check_function(f, lambda v: np.zeros(1), c.copy())
    assert result.passed and result.tensors[0].verdict("analytic")[0] == "inconclusive", str(result)
    wrong = check_function(f, lambda v: np.full(1, 1e-6), c.copy())
    assert not wrong.passed and wrong.tensors[0].verdict("analytic")[0] == "wrong", str(wrong)


def test_an_agreement_with_the_first_difference_is_bounded_by_f_s_measured_rounding():
    """softplus(u) − log 2 − u/2 in five dimensions, a hair from its minimum (benchmarks/sweep_function.py,
    "cancelling", seed 2115): f is 1.5e-16 and rounds at 1.6e-16, and the first central difference of x[1],
    5.47378e-9, is 1e-3 off the exact 5.46831e-9. An element agreeing with it kept the bound ε·|f|/h, 4e-18: a slip
    of 1e-3 agreed and was judged good. Bounded by f's rounding as measured, that estimate is known to 2%: the slip
    is not good, and the exact value passes."""
    A = np.array([[15.024016860358198, 24.439158799042623, 47.86408896888617, 24.879574693988186, -28.513687705311774], [32.5723425515135, 37.02408117153458, 5.400570430142129, -14.514152531132499, 23.34156103207653], [20.12793024584043, -2.2142040421585474, -10.695702507520247, 20.720112038680128, 8.733042442345173], [-21.12544547527574, -46.365575731740954, -64.59188725879453, 15.36456372545924, -16.836343652075836], [16.827962390305967, -24.388043649304414, -3.4597436724572677, -12.678616720043664, 27.574190501728104], [42.1891157058417, 8.186289285050073, -48.826349969411815, 62.55869408321561, 11.83945736631566], [9.976705866321073, 28.363323187318112, 31.76435726590209, -68.65351361012011, -3.6712643400807567]])  # noqa: E501 - the drawn example as it is
    c = np.array([0.013650345505294412, 0.000633195288829559, -0.00273387632921718, 0.008037573399798199, 0.006930405314043181])  # noqa: E501 - the drawn example as it is
    x = np.array([0.01365034547497251, 0.0006331953037332177, -0.002733876331425151, 0.00803757338191401, 0.006930405313172687])  # noqa: E501 - the drawn example as it is
    exact = np.array([-3.072353410731442e-08, 5.468305835803954e-09, 3.505394162058221e-08, -6.285301117571143e-08, -1.04861054248672e-08])  # noqa: E501 - the drawn example as it is

    def f(v):
        u = A @ (v - c)
        return np.sum(np.log1p(np.exp(u)) - np.log(2) - 0.5 * u)

    slipped = exact.copy()
    slipped[1] *= 1.001
    result = check_function(f, lambda v: slipped.copy(), x.copy())
    assert result.tensors[0].verdict("analytic")[1] != "good", str(result)
    assert result.tensors[0].bound[1] > 1e-3 * abs(exact[1])
    assert check_function(f, lambda v: exact.copy(), x.copy()).passed


def test_check_function_allows_for_a_function_that_is_all_rounding():
    """softplus(u) − log 2 − u/2 at u = A(x − c) = 0 is 0 with a gradient of 0, and near it u²/8, but computed it is
    the rounding of log 2's terms, 1e-16. Its differences at the steps a kink test takes were bounded by ε·|f|
    alone, and their noise passed for a slope: the correct gradient of 0 failed. f's measured rounding now bounds
    them: the correct gradient passes, and one of 1e-6 still fails."""
    A = np.array([[-0.011266167572447234, -0.024568657211797414, 0.029234926279710464],
                  [-0.026801913518904524, 0.07811363487887926, 0.019765175880826064],
                  [-0.026675599660036027, -0.10934182435539246, -0.0735455928702752],
                  [0.0611213297775618, -0.002845877824644173, -0.015922423941442644],
                  [0.09241339611395437, -0.07213379353501652, -0.03293629884484203]])
    c = np.array([-0.004626738999916071, -0.04480690119984251, 0.031277666102289915])
    f, g = all_rounding(A, c)
    correct = check_function(f, g, c.copy())
    assert correct.passed, str(correct)
    assert not check_function(f, lambda v: g(v) + 1e-6, c.copy()).passed


def test_a_slope_narrower_than_every_float64_step_is_inconclusive_and_slips_elsewhere_still_fail():
    """An input of 2^63 beside inputs of order 1 in one batchnorm: four conv weights have exact gradients of -9e7
    (mpmath at 60 digits agrees with the reference), but the loss moves by only 11 ulps, within a width of 1e-21,
    so the finite difference finds it flat at every step. It used to fail the correct backprop; no float64
    difference resolves those weights, so they are inconclusive for every opinion, with a note saying why. A slip
    on an element the difference does resolve still fails, and so does a wrong value where the loss really is
    flat (the reference agreeing with the difference there)."""
    net = case("batchnorm_over_a_huge_input")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W0 = correct.tensor("W0")
    blind = W0.unjudged_elements("blind", "backprop")
    assert blind.sum() == 4 and np.all(np.abs(W0.values["backprop"][blind]) > 1e7)
    assert np.all(np.abs(W0.values["numeric"][blind]) <= W0.bound[blind])  # the premise: the difference sees no slope
    assert any("narrower than any step" in note for note in correct.notes)
    spec = load_spec(net)
    params = spec.parameters(None)
    X, Y = spec.batch_data(None)
    _, exact = backprop(spec, params, X, spec.targets(Y))
    resolved = np.abs(exact[6]["W"]) > 1e-6  # a dense layer's weights, far above rounding

    flip = np.unravel_index(int(np.argmax(resolved)), resolved.shape)
    wrong = check_network(net, slipped(spec, 6, "W", lambda g: g.__setitem__(flip, -g[flip])), symbolic="off")
    assert not wrong.passed and "wrong" in set(wrong.tensor("W6").verdict("impl").flat), str(wrong)
    layer, kind, at = next((t.layer, t.kind, int(np.flatnonzero(hit)[0])) for t in correct.tensors
                           if (hit := ((np.abs(t.values["backprop"]) < 1e-9) & (t.verdict("backprop") == "good")
                                       & (np.abs(t.values["numeric"]) <= t.bound)).ravel()).any())  # a flat loss

    wrong = check_network(net, slipped(spec, layer, kind, lambda g: g.flat.__setitem__(at, 5.0)), symbolic="off")
    name = next(t.name for t in wrong.tensors if (t.layer, t.kind) == (layer, kind))
    assert not wrong.passed and wrong.tensor(name).verdict("impl").flat[at] == "wrong", str(wrong)


def test_a_rounding_allowance_under_a_scale_of_1e200_is_a_number_and_an_overflow_no_bound():
    """A groupnorm scale of 1.02e200: the dense weights above it have gradients of 4e199 that the finite difference
    matches to 1e-13. The reference backprop's rounding allowance overflowed in its draws (the softmax's slope
    taken as |a| times logits' terms of 1e200) and came out NaN, which made every comparison it joined false: the
    correct backprop was 'suspicious'. The saturated softmax now moves by its others' share, and the allowance is
    a number; where draws still overflow they are run again scaled down, and what overflows even so is inf, no
    bound, never NaN. A sign flip where the allowance is finite still fails."""
    from gradcheck.reference.rounding import _Spread, _unbounded

    net = case("groupnorm_gamma_of_1e200")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    assert all(not np.isnan(t.rounding).any() for t in correct.tensors)
    W4 = correct.tensor("W4")
    huge = np.abs(W4.values["backprop"]) > 1e199
    assert huge.any() and set(W4.verdict("backprop")[huge]) == {"good"}
    at = int(np.flatnonzero((np.isfinite(W4.rounding) & (W4.verdict("backprop") == "good")
                             & (np.abs(W4.values["backprop"]) > 1e3 * W4.rounding)).ravel())[0])
    spec = load_spec(net)
    wrong = check_network(net, slipped(spec, 4, "W", lambda g: g.flat.__setitem__(at, -g.flat[at])), symbolic="off")
    assert not wrong.passed and wrong.tensor("W4").verdict("impl").flat[at] == "wrong", str(wrong)

    spread = _Spread()  # a draw that overflowed is no bound, and inf − inf (NaN) is no bound either
    spread.add(np.array([[np.inf, 1.0], [1.0, 2.0]]))
    assert list(_unbounded(spread.rms(2))) == [np.inf, np.sqrt(2.5)]
    assert list(_unbounded(np.array([np.nan, 3.0]))) == [np.inf, 3.0]


def test_the_rounding_draws_scale_with_what_they_carry_and_a_run_that_overflows_says_so():
    """The draws of the propagated rounding are linear in the roundings they carry, which lets a run that
    overflows be run again scaled down: scaled by 2^-600, every draw is the same draw times 2^-600, bit for bit.
    An output error of 1e307 (the roundings of a network scaled beyond float64) overflows at full scale through
    output weights of 1000, and not at 2^-600."""
    from gradcheck.reference import rounding
    from gradcheck.reference.backprop import reference_pass

    plain_net = {"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 2}], "loss": "mse", "batch": 5,
                 "seed": 3}
    spec = load_spec(plain_net)
    params, (X, Y) = spec.parameters(None), spec.batch_data(None)
    params[1] = {key: 1e3 * v for key, v in params[1].items()}
    Y = spec.targets(Y)
    done = reference_pass(spec, params, X, Y)
    slopes, own_da, out_err, local = rounding.roundings(spec, params, X, Y, done)
    for injected, overflows in (((slopes, own_da, out_err, local), False),
                                ((slopes, own_da, out_err + 1e307, local), True)):
        plain, over = rounding._propagated(spec, params, done, injected, 0)
        scaled, over_scaled = rounding._propagated(spec, params, done, injected, 0, scale=rounding.RESCALE)
        assert over == overflows and not over_scaled
        if not overflows:
            for a, b in zip(plain, scaled):
                for key in a:
                    for x, y in zip(a[key].stacks, b[key].stacks):
                        np.testing.assert_array_equal(x * rounding.RESCALE, y)


def test_an_element_whose_every_step_overflows_the_loss_is_inconclusive_and_slips_elsewhere_still_fail():
    """A loss of 1.7e-40 with one weight of 3e183 above a bias at 0: every step the finite difference takes on
    that bias sends the loss to inf, so the difference has no value there. The correct backprop used to fail on
    a NaN; no value can be judged there, so every opinion is inconclusive, with a note of its own, and the
    summary's largest error leaves the element out. A slip on a measured element still fails."""
    net = case("overflow_at_every_step")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    b0 = correct.tensor("b0")
    assert np.isnan(b0.values["numeric"][0])
    assert b0.unjudged_elements("unmeasured", "backprop").tolist() == [True] + [False] * 4
    assert any("not finite at any step" in note and "b0[0]" in note for note in correct.notes)
    assert np.isfinite(correct.max_rel_error)
    spec = load_spec(net)

    # the output biases move C by 2e-20 each: measured
    wrong = check_network(net, slipped(spec, 1, "b", lambda g: np.negative(g, out=g)), symbolic="off")
    assert not wrong.passed and set(wrong.tensor("b1").verdict("impl").flat) == {"wrong"}, str(wrong)


def test_a_plateau_only_growing_steps_see_does_not_fail_a_reference_the_default_steps_agree_with():
    """A saturated network with a first-layer weight of -1e100: W3[0]'s exact gradient is 0 (the reference, torch
    and 60-digit mpmath agree), and its central differences rise as 3e-19·s² to a plateau of 1.34e-23 at steps of
    0.012, the finer ones within the loss's rounding of it. Growing steps took the plateau for the slope, 1.35e-23
    ± 3.4e-24, and failed the correct backprop, which the default steps' estimate agrees with.

    Two rules now stand in the way: the grown levels' bends do not shrink with the step across the plateau, so
    they are not taken as resolved (the default steps' bound stands); and where a grown estimate alone calls the
    reference wrong while the reference agrees with the default steps' one, every opinion is inconclusive (held
    on its own below). Where the reference agrees with a grown estimate (beta4), a slip still fails."""
    from gradcheck.judge.compare import TensorCheck

    net = case("saturated_chord_plateau")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W3 = correct.tensor("W3")
    exact = 0.0
    assert np.all(np.abs(W3.values["numeric"][0] - exact) <= 3 * W3.bound[0])  # no bound excludes the slope
    beta4 = correct.tensor("beta4")
    assert np.isfinite(beta4.replaced[0]).all() and set(beta4.verdict("backprop").flat) == {"good"}
    spec = load_spec(net)
    wrong = check_network(net, slipped(spec, 4, "beta", lambda g: np.multiply(g, 2, out=g)), symbolic="off")
    assert not wrong.passed and set(wrong.tensor("beta4").verdict("impl").flat) == {"wrong"}, str(wrong)

    def judged(reference, impl):
        return TensorCheck("W3", 3, "W", (1,), {"numeric": np.array([1.35e-23]), "backprop": np.array([reference]),
                                                "impl": np.array([impl])}, ("backprop", "impl"),
                           bound=np.array([3.4e-24]), replaced=(np.array([-7.6e-24]), np.array([1.03e-22])))

    plateau = judged(0.0, 0.0)  # the reference agrees with the default steps only
    assert plateau.passed and plateau.unjudged("replaced") == 2
    assert list(plateau.verdict("impl")) == ["inconclusive"]
    slip = judged(1.36e-23, 5e-22)  # the reference agrees with the grown estimate: the slip fails
    assert not slip.passed and slip.unjudged("replaced") == 0 and slip.verdict("impl")[0] == "wrong"


def test_the_default_steps_estimate_is_kept_the_first_time_an_element_is_estimated_again():
    """Grown, then refined: the estimate kept beside the numeric value is the default steps' one."""
    from gradcheck.numeric.again import _replace
    from gradcheck.numeric.network import NumericGradient

    numeric = NumericGradient([{"b": np.array([1.0, 2.0])}], [{"b": np.zeros(2, bool)}], [{"b": np.ones(2)}],
                              [{"b": np.array([0.5, 0.5])}])

    class Net:
        @staticmethod
        def keys(i):
            return ["b"]

    for value, bound in ((1.1, 0.01), (1.105, 0.001)):  # a grown estimate, then a refined one
        _replace(numeric, Net, 0, np.array([0]), np.array([0, 2]), (np.array([value]), np.array([bound]), np.ones(1)))
    default_value, default_bound = numeric.at_default_steps(0, "b")
    assert numeric.grads[0]["b"][0] == 1.105 and default_value[0] == 1.0 and default_bound[0] == 0.5
    assert np.isnan(default_value[1]) and numeric.grads[0]["b"][1] == 2.0  # never replaced


def test_a_refined_estimate_of_an_lstm_weight_keeps_a_bound_that_holds_its_exact_value():
    """An LSTM with weights ×10 (loss 7.1e-10): Wh0[7, 2]'s exact gradient is -1.2669e-17 (60-digit mpmath agrees
    with the reference). The default steps give -3.5e-18 ± 1.7e-12; the loss's rounding measured along the
    element's own axis, at smaller steps, gave -5.3e-18 ± 1.1e-20, a bound that excluded the exact value, as the
    rounding model of the loss did not count the cell's own gates and states. Every estimate's bound holds the
    exact value now, and the element is inconclusive; a slip elsewhere is still caught."""
    net = case("lstm_weights_x10_refined")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    Wh0 = correct.tensor("Wh0")
    assert Wh0.verdict("backprop")[7, 2] == "inconclusive"
    assert abs(Wh0.values["numeric"][7, 2] - Wh0.values["backprop"][7, 2]) <= Wh0.bound[7, 2]
    spec = load_spec(net)
    big = np.unravel_index(int(np.argmax(np.abs(correct.tensor("Wx0").values["backprop"]))), (12, 1))
    wrong = check_network(net, slipped(spec, 0, "Wx", lambda g: g.__setitem__(big, -g[big])), symbolic="off")
    assert not wrong.passed and wrong.tensor("Wx0").verdict("impl")[big] == "wrong", str(wrong)


def test_an_unbounded_rounding_allowance_does_not_fail_the_joint_test_of_kinks():
    """Relu units on their kinks under an input of 3.3e205: the gradients that input feeds have a rounding
    allowance beyond float64 (inf), and the joint test of the kinks summed it times each coefficient of a unit's
    fan-in, one of them 0 (a weight of 0): inf·0 = NaN failed the correct backprop's kink choices. An element
    outside a direction adds none of its allowance; a slip away from the kinks still fails."""
    from gradcheck.judge.subgradient import _allowed

    assert _allowed(np.array([np.inf, 1.0, 2.0]), np.array([0.0, -2.0, 0.5])) == 3.0
    net = case("kinks_under_a_huge_input")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    assert any(np.isinf(t.rounding).any() for t in correct.tensors) and sum(t.n_kinks for t in correct.tensors)

    def judged(t):  # good, away from the kinks, far above the rounding its backprop may make
        return (t.verdict("backprop") == "good") & ~t.kinks & (np.abs(t.values["backprop"]) > 1e6 * t.rounding)

    t = next(t for t in correct.tensors if judged(t).any())
    at = int(np.flatnonzero(judged(t).ravel())[0])
    spec = load_spec(net)

    flipped = slipped(spec, t.layer, t.kind, lambda g: g.flat.__setitem__(at, -g.flat[at]))
    wrong = check_network(net, flipped, symbolic="off")
    assert not wrong.passed and wrong.tensor(t.name).verdict("impl").flat[at] == "wrong", str(wrong)


def _passed_with_exact_reference(name, index, exact):
    """(the saved case ``name``, its W0's TensorCheck) checked with the reference backprop, which must pass and be
    the ``exact`` value at W0[``index``]."""
    net = case(name)
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W0 = correct.tensor("W0")
    assert abs(W0.values["backprop"][index] - exact) < 1e-10 * exact
    return net, W0


def test_an_estimate_first_kept_at_the_last_level_is_confirmed_by_finer_ones_before_it_stands():
    """First-layer weights of 1e-12 under inputs of 1e12: the loss moves at the scale of 1e-12 in each weight, and
    the steps halve 30 times from the default one before three levels are in the asymptotic regime. W0[0, 2]'s
    met it by chance there (ratio 3.9): a Richardson estimate 1% off the exact 4.816e11 (60-digit mpmath agrees
    with the reference), with a bound of 0.16%, never confirmed nor contradicted by a finer level, failed the
    correct backprop. Such an estimate gets the finer levels now, which contradict it; a slip elsewhere fails."""
    exact = 481596121072.427  # mpmath, 60 digits, step 1e-25
    net, W0 = _passed_with_exact_reference("weights_of_1e-12_under_inputs_of_1e12", (0, 2), exact)
    assert abs(W0.values["numeric"][0, 2] - exact) <= 3 * W0.bound[0, 2]  # the bound reaches the exact value
    spec = load_spec(net)

    wrong = check_network(net, slipped(spec, 3, "W", lambda g: g.__setitem__((0, 0), 1.01 * g[0, 0])), symbolic="off")
    assert not wrong.passed and wrong.tensor("W3").verdict("impl")[0, 0] in ("wrong", "suspicious"), str(wrong)


def test_levels_closing_in_on_the_regime_after_a_contradiction_are_progress_not_patience_spent():
    """The saved network itself: W0[0, 2]'s level 30 halvings down met the regime by chance (4.8632e11), the next
    contradicted it, and the two after it, outside the regime, closed in on the exact 4.816e11 (their extrapolations
    apart by 4.0e9, 6.6e8, 5.2e7): counted as levels without progress, they ended the halving two short of the
    regime, and the element was inconclusive, 1% off. Now the halving goes on into the regime: good, to 1e-9."""
    exact = 481596121072.427  # mpmath, 60 digits, step 1e-25
    _, W0 = _passed_with_exact_reference("weights_of_1e-12_under_inputs_of_1e12", (0, 2), exact)
    assert W0.verdict("backprop")[0, 2] == "good"
    assert abs(W0.values["numeric"][0, 2] - exact) <= W0.bound[0, 2] < 1e-9 * exact


def test_an_estimate_kept_past_the_levels_cap_is_confirmed_by_a_finer_level_before_it_stands():
    """The same network with another output weight: W0[1, 3]'s steps halve 31 times before an estimate is kept, and
    the next level's, 32 halvings down, extrapolates to 1.70602e11 with a bound of 1.3e7, its two extrapolations
    agreeing by chance, each about 4e7 off the exact 1.705547e11 (60-digit mpmath agrees with the reference). It was
    the last level any element took, so nothing finer contradicted it, and the correct backprop failed. An element
    with an estimate now goes on past the cap until a finer level confirms it: the bound holds the exact value and
    is within 1e-8 of it, and a slip of 1e-4 fails."""
    exact = 170554663233.32605  # mpmath, 60 digits, step 1e-25
    net, W0 = _passed_with_exact_reference("weights_of_1e-12_under_inputs_of_1e12_resolved_past_the_levels_cap", (1, 3),
                                           exact)
    assert abs(W0.values["numeric"][1, 3] - exact) <= W0.bound[1, 3] < 1e-8 * exact
    spec = load_spec(net)
    wrong = check_network(net, slipped(spec, 0, "W", lambda g: g.__setitem__((1, 3), 1.0001 * g[1, 3])),
                          symbolic="off")
    assert not wrong.passed and wrong.tensor("W0").verdict("impl")[1, 3] == "suspicious", str(wrong)


def test_a_turn_of_the_slope_narrower_than_the_steps_is_not_taken_for_the_slope():
    """A softmax classifier with tied weights and inputs of 1e12: each weight turns the softmax within a width of
    1e-12 and the loss is linear on either side, so at the default steps the central quotients are the mean of
    the two slopes, the same at every level ("flat"), and the correct backprop failed (W0[2, 0]: 5.02e10 exact,
    1.25e10 "measured"). The second differences over the step do not shrink with it there, as C''·s would: the
    levels are not taken as resolved, the steps go on halving, and no level reaches the regime before the last.
    Its bound, far above its rounding then, makes it one that smaller steps can gain on: at 2^-10 of the default
    steps and below the turn is resolved, 5.0235e10 ± 3.4e8, the backprop good, and a user's value of the mean
    slope the default steps saw is wrong. A slip on a bias, which moves the logits alike, still fails."""
    from gradcheck.numeric.steps import Levels

    smooth = Levels([np.zeros(1)] * 3, [np.full(1, 1e-12)] * 3, [np.zeros(1, bool)] * 3, np.ones(1),
                    [np.array([4.0]), np.array([2.0]), np.array([1.0])])  # C''·s: halves with the step
    turned = Levels([np.zeros(1)] * 3, [np.full(1, 1e-12)] * 3, [np.zeros(1, bool)] * 3, np.ones(1),
                    [np.array([3.0]), np.array([3.0]), np.array([3.0])])  # the same at every step
    assert smooth.resolved(np.array([0]))[0] and not turned.resolved(np.array([0]))[0]
    net = case("softmax_turn_narrower_than_the_steps")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W0 = correct.tensor("W0")
    assert W0.verdict("backprop")[2, 0] == "good" and W0.bound[2, 0] < 1e-2 * W0.values["backprop"][2, 0]
    first, first_bound = (x[2, 0] for x in W0.replaced)
    assert abs(first - 1.25e10) < 1e3 and first_bound > 1e10  # the premise: the default steps' mean of the slopes
    spec = load_spec(net)
    mean = check_network(net, slipped(spec, 0, "W", lambda g: g.__setitem__((2, 0), first)), symbolic="off")
    assert not mean.passed and mean.tensor("W0").verdict("impl")[2, 0] == "wrong", str(mean)
    wrong = check_network(net, slipped(spec, 0, "b", lambda g: np.multiply(g, -1, out=g)), symbolic="off")
    assert not wrong.passed and "wrong" in set(wrong.tensor("b0").verdict("impl").flat), str(wrong)


@pytest.mark.parametrize("name, key, elements", [
    ("lstm_gates_saturated_below_the_steps", "Wx", [(1, 0), (0, 0), (1, 8)]),
    ("lstm_gradients_far_below_the_cells_rounding", "Wx", [(2, 0), (2, 1), (3, 0), (3, 1)])])
def test_a_saturated_lstm_cell_is_judged_by_its_own_rounding(name, key, elements):
    """LSTMs with weights ×100, their gates saturated to exactly 0 or 1 in float64. The loss's rounding model did
    not count the cell's gates and states, so bounds of 1e-25 held finite differences 1e-4 of the exact
    gradient; and the reference's allowance did not count the gates' slopes computed from a σ rounded at 1, so a
    correct backprop off by 40% there was called wrong. Against 60-digit mpmath: every element named (each of
    them failed) has a numeric bound and a rounding allowance that hold the exact value, the correct backprop
    passes, and a slip of 10% of the largest gradient is caught."""
    net = case(name)
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    t = correct.tensor(key + "0")
    for at in elements:
        exact = exact_lstm_gradient(net, key, at)
        assert abs(t.values["backprop"][at] - exact) <= t.rounding[at], (at, exact)
        assert abs(t.values["numeric"][at] - exact) <= t.bound[at] + t.rounding[at], (at, exact)
    spec = load_spec(net)
    big = np.unravel_index(int(np.argmax(np.abs(t.values["backprop"]))), t.shape)
    wrong = check_network(net, slipped(spec, 0, key, lambda g: g.__setitem__(big, 1.1 * g[big])), symbolic="off")
    assert not wrong.passed and wrong.tensor(key + "0").verdict("impl")[big] == "wrong", str(wrong)


def test_a_gru_under_a_layernorm_of_two_near_equal_units_is_not_failed():
    """A GRU with weights ×60 whose two units differ by little, under a layernorm with eps 1e-8: the float64
    backprop is 0.2% from the exact gradient and the finite difference 1% from it, each within what the cell's
    rounding allows; a slip of the largest gradient is still caught."""
    net = case("gru_layernorm_over_two_near_equal_units")
    assert check_network(net, symbolic="off").passed
    spec = load_spec(net)
    _, g = backprop(spec, spec.parameters(), *spec.batch_data())
    big = np.unravel_index(int(np.argmax(np.abs(g[2]["W"]))), g[2]["W"].shape)
    wrong = check_network(net, slipped(spec, 2, "W", lambda w: w.__setitem__(big, 1.1 * w[big])), symbolic="off")
    assert not wrong.passed and wrong.tensor("W2").verdict("impl")[big] == "wrong", str(wrong)


def test_a_softmax_saturated_under_logits_of_1e8_leaves_the_gradients_below_it_judged():
    """An rnn whose states grow to 3.6e8 under a softmax saturated at exactly (1, 0): the logits round at 1e-8,
    but a saturated output hardly moves with them. The allowance for a correct backprop holds what the gradients
    really move by when every param moves by an ulp, and stays far below the gradients themselves, so two
    swapped biases are wrong, not inconclusive."""
    net = case("rnn_states_of_4e8_under_a_saturated_softmax")
    spec = load_spec(net)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    _, g = backprop(spec, params, X, Y)
    rng = np.random.default_rng(0)
    for _ in range(8):  # what rounding each param really does to the gradients
        moved = [{k: v * (1 + EPS * rng.choice([-1.0, 1.0], size=np.shape(v))) for k, v in p.items()} for p in params]
        _, g2 = backprop(spec, moved, X, Y)
        for key in ("Wx", "b"):
            t = correct.tensor(key + "0")
            assert np.all(np.abs(g2[0][key] - g[0][key]) <= t.rounding)
            assert np.all(t.rounding <= 1e-4 * np.abs(g[0][key]))

    def swap(b):
        b[[0, 1]] = b[[1, 0]]

    wrong = check_network(net, slipped(spec, 0, "b", swap), symbolic="off")
    assert not wrong.passed and list(wrong.tensor("b0").verdict("impl")) == ["wrong", "wrong"], str(wrong)


@pytest.mark.parametrize("spread", [1.0, 30.0, 1e8])
def test_the_bound_on_softmaxs_move_holds_its_worst_move_and_no_more(spread):
    """Each z_j moved by up to t_j: the bound (with the outputs' own rounding) holds every move drawn, and the
    worst signs (+t_i at the output, −t_j elsewhere) reach at least half of it, saturated (logits 1e8 apart or 30
    apart) or not."""
    from gradcheck.reference.rounding import _softmax_rounding

    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 3)) * spread
    t = np.abs(rng.normal(size=z.shape)) * 1e-9 * max(1.0, spread)

    def softmax(v):
        e = np.exp(v - v.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    a = softmax(z)
    bound = _softmax_rounding(a, t / EPS, 1) * EPS  # in units of ε: its own rounding, and the move
    for _ in range(200):
        dz = t * rng.uniform(-1, 1, size=z.shape)
        assert np.all(np.abs(softmax(z + dz) - a) <= bound * (1 + 1e-6) + 4 * EPS)
    for i in range(3):
        signs = -np.ones(z.shape)
        signs[:, i] = 1.0
        worst = np.abs(softmax(z + signs * t) - a)[:, i]
        assert np.all((worst >= 0.5 * bound[:, i]) | (bound[:, i] < 8 * EPS))


def test_output_errors_alike_in_size_do_not_cancel_in_the_allowance():
    """A softmax saturated in both samples, over states of −1 and +1: δ = a − y is exactly 0 in float64 where the
    exact one is −3.5e-24, so W1[1, 1]'s exact 3.5e-24 (mpmath agrees with the finite difference) comes out 0.
    The two samples' output errors were alike in size, and with states of opposite signs every draw of the
    reference's rounding cancelled them exactly: the correct backprop was wrong. The output layer now carries its
    output error through its own products on magnitudes: inconclusive. A slip of a gradient the finite
    difference resolves is still wrong."""
    net = case("gru_softmax_saturated_in_two_samples")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W1 = correct.tensor("W1")
    assert W1.values["backprop"][1, 1] == 0.0 and W1.verdict("backprop")[1, 1] == "inconclusive"
    assert W1.rounding[1, 1] >= abs(W1.values["numeric"][1, 1])
    spec = load_spec(net)
    big = np.unravel_index(int(np.argmax(np.abs(W1.values["backprop"]))), W1.shape)
    wrong = check_network(net, slipped(spec, 1, "W", lambda g: g.__setitem__(big, 2 * g[big])), symbolic="off")
    assert not wrong.passed and wrong.tensor("W1").verdict("impl")[big] == "wrong", str(wrong)


def test_a_sample_whose_softmax_is_exact_adds_no_rounding_to_the_gradients():
    """An rnn with a selu cell and weights ×1000: one sample's states grow to 8e14, its logits to 4.7e17, and its
    softmax is exactly (0, 1, 0), on its target: δ is exact there. Its outputs' own rounding taken as ε·|a| and
    carried back through 6 steps of weights of 1000 (and elu's side of 0 taken from |s|) gave the reference an
    allowance of 400 for a gradient of 360: a doubled Wh[1, 0] passed as good. It is wrong now, and the
    allowance still holds what the gradients move by when every param moves by an ulp."""
    net = case("rnn_selu_states_of_8e14_under_a_saturated_softmax")
    spec = load_spec(net)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    wrong = check_network(net, slipped(spec, 0, "Wh", lambda g: g.__setitem__((1, 0), 2 * g[1, 0])), symbolic="off")
    assert not wrong.passed and wrong.tensor("Wh0").verdict("impl")[1, 0] == "wrong", str(wrong)
    rounding = wrong.tensor("Wh0").rounding
    _, g = backprop(spec, params, X, Y)
    rng = np.random.default_rng(0)
    for _ in range(8):
        moved = [{k: v * (1 + EPS * rng.choice([-1.0, 1.0], size=np.shape(v))) for k, v in p.items()} for p in params]
        assert np.all(np.abs(backprop(spec, moved, X, Y)[1][0]["Wh"] - g[0]["Wh"]) <= rounding)


def test_a_difference_of_a_percent_that_only_the_rounding_explains_is_inconclusive_not_good():
    """An analytic value 1.7 times the numeric one, within an allowance of 300 for a numeric value of 360 (below
    the element itself): "good" would promise a value known to 1%; it is inconclusive. Within 1% it is good."""
    from gradcheck.judge.compare import TensorCheck

    def judged(analytic):
        return TensorCheck("W0", 0, "W", (1,), {"numeric": np.array([360.0]), "backprop": np.array([analytic])},
                           ("backprop",), bound=np.array([1e-7]), rounding=np.array([300.0]))

    assert list(judged(600.0).verdict("backprop")) == ["inconclusive"] and judged(600.0).passed
    assert list(judged(362.0).verdict("backprop")) == ["good"]
    assert list(judged(1200.0).verdict("backprop")) == ["wrong"]


def test_levels_that_enter_the_regime_by_chance_wait_for_a_finer_one():
    """A softmax classifier under inputs of 1e12: W[2, 0] turns the softmax within about 1e-11. Halving from the
    default step, the levels met the asymptotic ratio for the first time at 5.5e-12, still in the turn, and their
    extrapolation, 0.53% above the exact gradient with a bound of 0.04%, failed the correct backprop. Levels just
    entering the regime now wait for a finer one: the estimate's bound holds the exact value (the complex step's)
    and the correct backprop passes; a sign flipped where the differences resolve the gradient is wrong."""
    from oracles import complex_step

    net = case("softmax_turn_entered_by_chance")
    spec = load_spec(net)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W0 = correct.tensor("W0")
    exact = complex_step(spec, params, X, Y)[0]["W"]
    assert abs(W0.values["numeric"][2, 0] - exact[2, 0]) <= W0.bound[2, 0]
    good = np.flatnonzero(W0.verdict("backprop") == "good")
    at = int(good[np.argmax(np.abs(W0.values["backprop"].flat[good]))])
    wrong = check_network(net, slipped(spec, 0, "W", lambda g: g.flat.__setitem__(at, -g.flat[at])), symbolic="off")
    assert not wrong.passed and wrong.tensor("W0").verdict("impl").flat[at] == "wrong", str(wrong)


def _a_resolved_sign_flip_is_wrong(net, correct):
    """The largest of W1's elements the differences resolve, its sign flipped in a user's backprop: wrong."""
    W1 = correct.tensor("W1")
    good = np.flatnonzero(W1.verdict("backprop") == "good")
    at = int(good[np.argmax(np.abs(W1.values["backprop"].flat[good]))])
    flipped = slipped(load_spec(net), 1, "W", lambda g: g.flat.__setitem__(at, -g.flat[at]))
    wrong = check_network(net, flipped, symbolic="off")
    assert not wrong.passed and wrong.tensor("W1").verdict("impl").flat[at] == "wrong", str(wrong)


def test_a_spike_at_the_point_narrower_than_every_step_is_not_taken_for_its_slope():
    """An lstm under an input of 4.8e90: moving Wx[9, 0] by any step from 1e-88 to 1e-12 saturates a gate, and
    C(θ ± s) is 0.139 above C(θ) on both sides, so the central quotients, which never see C(θ), give the slope of
    the curve beside the spike (177) at every level, for an exact −1.19e86: the correct backprop failed. Each
    level's second difference over its step doubles as the step halves (an offset of C(θ), not C''·s): not
    resolved, inconclusive. A sign flipped where the differences do resolve the gradient is still wrong."""
    net = case("lstm_spike_at_theta_under_an_input_of_5e90")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    Wx0 = correct.tensor("Wx0")
    assert Wx0.verdict("backprop")[9, 0] == "inconclusive"
    assert abs(Wx0.values["numeric"][9, 0] - Wx0.values["backprop"][9, 0]) > 1e80  # the premise: 177 against -1.2e86
    _a_resolved_sign_flip_is_wrong(net, correct)


def test_a_slope_narrower_than_every_step_is_inconclusive_not_wrong(monkeypatch):
    """The same lstm with other inputs and output weights: Wx[9, 0]'s slope at θ, −1.58e32 (exact to 60 digits:
    mpmath's differences at steps of 1e-150 to 1e-300), holds only within about 1e-91 of the weight and moves the
    loss by less than its rounding, and every level of steps, from 1e-12 up, sees the smooth slope beside it,
    2.855e-11, with no offset of C(θ) to give the spike away: the correct backprop failed. The backprop's own
    gradient at the ends of the steps gives the differences' value, so the slope changes within the steps:
    inconclusive, with a note of its own. A slip where the differences resolve the gradient is still wrong, and a
    backprop wrong a step away as at θ is not excused."""
    net = case("lstm_slope_narrower_than_every_step")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    Wx0 = correct.tensor("Wx0")
    assert abs(Wx0.values["numeric"][9, 0] - Wx0.values["backprop"][9, 0]) > 1e30  # the premise: 2.9e-11 vs -1.6e32
    assert Wx0.verdict("backprop")[9, 0] == "inconclusive" and Wx0.unjudged("narrow") >= 1
    assert any("a feature narrower than they are" in note for note in correct.notes)
    _a_resolved_sign_flip_is_wrong(net, correct)

    from gradcheck.reference import around
    from gradcheck.reference import backprop as module

    original = module.backprop

    def doubled(*args, **kwargs):  # a backprop wrong at W1[0, 2] wherever it runs, θ or a step away
        loss, grads = original(*args, **kwargs)
        grads[1]["W"] = np.array(grads[1]["W"], dtype=float)
        grads[1]["W"][0, 2] *= 2.0
        return loss, grads

    monkeypatch.setattr(module, "backprop", doubled)
    monkeypatch.setattr(around, "backprop", doubled)
    both = check_network(net, symbolic="off")
    assert not both.passed and both.tensor("W1").verdict("backprop")[0, 2] == "wrong", str(both)
    assert both.tensor("W1").unjudged("narrow") == 0


def test_a_feature_within_the_steps_is_resolved_at_smaller_steps():
    """The same lstm with a recurrent weight of 4.7e51: Wx[11, 0]'s exact slope is 3.2339e-11 (mpmath, steps of
    1e-25 to 1e-300; its differences see it up to steps of 1e-8), but from steps of 1e-6 up the quotients climb
    (3.76e-11 at 1e-6, 4.14e-11 at 1e-4) smoothly enough for the levels' ratio test, which kept 3.91e-11 ± 1.2e-12:
    the correct backprop failed by 17%. Its own gradient at the ends of the steps (1.1e-10 and 1.6e-11 at ±h)
    gives the differences' value as the estimate combines them: the slope changes within the steps. At 1/128 of
    them it still does; at 1/16384 the field is flat and the difference gives the slope at θ: good, judged against
    that estimate, with the default steps' kept beside it. A user's value of the default steps' estimate is wrong
    there (it was inconclusive), and a slip where the differences resolve the gradient is still wrong. (The bound
    of that estimate, 9e-4 of it, counts each σ gate's rounding grid of ε/4: several gates are below 1e-6.)"""
    net = case("lstm_feature_within_the_steps")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    Wx0 = correct.tensor("Wx0")
    backprop, numeric = Wx0.values["backprop"][11, 0], Wx0.values["numeric"][11, 0]
    assert abs(backprop - 3.23393261013e-11) < 1e-9 * backprop
    assert Wx0.verdict("backprop")[11, 0] == "good" and abs(numeric - backprop) <= Wx0.bound[11, 0] < 1e-3 * backprop
    first, _ = (x[11, 0] for x in Wx0.replaced)
    assert abs(first - backprop) > 0.1 * backprop  # the premise: the default steps' estimate is 17% off
    at = 11 * Wx0.shape[1]
    planted = slipped(load_spec(net), 0, "Wx", lambda g: g.flat.__setitem__(at, first))
    wrong = check_network(net, planted, symbolic="off")
    assert not wrong.passed and wrong.tensor("Wx0").verdict("impl")[11, 0] == "wrong", str(wrong)
    _a_resolved_sign_flip_is_wrong(net, correct)


@pytest.mark.parametrize("how", [{"method": "complex-step"}, {"step": 1e-5}, {"method": "central"}])
def test_a_wrong_reference_is_looked_at_with_the_steps_the_estimate_took(monkeypatch, how):
    """The look around θ at a reference found wrong combines the field as the estimate combined its quotients: at
    h/2 and h where the levels chose the steps, at h and 2h where the caller fixed h (and no smaller steps are
    tried then), and not at all for complex steps, which take no chord. A reference doubled wherever it runs is
    wrong in each, and none of them fails to run (complex steps crashed the look)."""
    from gradcheck.reference import around
    from gradcheck.reference import backprop as module

    original = module.backprop

    def doubled(*args, **kwargs):
        loss, grads = original(*args, **kwargs)
        grads[0]["W"] = np.array(grads[0]["W"], dtype=float) * 2.0
        return loss, grads

    monkeypatch.setattr(module, "backprop", doubled)
    monkeypatch.setattr(around, "backprop", doubled)
    net = {"input": 2, "layers": [{"units": 3, "activation": "tanh"}, {"units": 1}], "seed": 1}
    result = check_network(net, symbolic="off", **how)
    W0 = result.tensor("W0")
    assert not result.passed and set(W0.verdict("backprop").flat) == {"wrong"} and W0.unjudged("narrow") == 0


def test_an_estimate_at_smaller_steps_the_bands_reject_leaves_the_element_inconclusive(monkeypatch):
    """The field's flatness within the smaller steps is judged with the tolerance and the verdict with the bands:
    where an estimate at smaller steps passes the first and the bands still call the reference wrong against it
    (here an estimate 10% off, planted with a field said to explain it), the element stays inconclusive, not
    wrong."""
    from gradcheck.checks import narrow

    original = narrow.estimates_at

    def off(*args, **kwargs):
        value, bound, step = original(*args, **kwargs)
        return value * 1.1, bound, step

    monkeypatch.setattr(narrow, "estimates_at", off)
    monkeypatch.setattr(narrow, "_explains", lambda s, opts, elements, *_: (np.ones(len(elements), bool),) * 2 + (
        np.array([float(np.asarray(s.reference[layer][key]).flat[flat]) for layer, key, flat in elements]),))
    result = check_network(case("lstm_feature_within_the_steps"), symbolic="off")
    assert result.passed, str(result)
    Wx0 = result.tensor("Wx0")
    assert Wx0.verdict("backprop")[11, 0] == "inconclusive" and Wx0.unjudged("narrow") >= 1
    assert abs(Wx0.values["numeric"][11, 0] / Wx0.values["backprop"][11, 0] - 1.1) < 1e-3  # the planted estimate


def test_a_loss_whose_rounding_grows_with_the_step_is_measured_again_before_a_wrong_verdict():
    """A conv channel of equal saturated values under a batchnorm over two samples, an output on its target up to
    the rounding of the channel's mean: the exact gradient of W0[1, 0, 0, 0] is 0, and the rounded loss's central
    differences settle at −1.6e-16 at every step, eight times the bound the layer's noise gave (its line moves all
    the layer's elements at once). Measured again along the element's own axis where its steps go, the loss's
    rounding explains the difference: inconclusive, not wrong. A value far beyond that rounding is still wrong,
    and so is a sign flipped where the differences resolve the gradient."""
    net = case("batchnorm_rounding_offset_at_the_steps")
    spec = load_spec(net)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    first = numeric_gradient(spec, params, X, Y)
    premise = first.grads[0]["W"][1, 0, 0, 0]
    assert abs(premise) > 4 * first.bounds[0]["W"][1, 0, 0, 0]  # the layer's noise bounds it far too tightly
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W0 = correct.tensor("W0")
    assert W0.verdict("backprop")[1, 0, 0, 0] == "inconclusive"
    assert W0.bound[1, 0, 0, 0] > abs(premise) > 1e-17
    far = check_network(net, slipped(spec, 0, "W", lambda g: g.__setitem__((1, 0, 0, 0), 1e-12)), symbolic="off")
    assert not far.passed and far.tensor("W0").verdict("impl")[1, 0, 0, 0] == "wrong", str(far)
    beta = correct.tensor("beta1")
    assert beta.verdict("backprop")[0] == "good"
    wrong = check_network(net, slipped(spec, 1, "beta", lambda g: g.__setitem__(0, -g[0])), symbolic="off")
    assert not wrong.passed and wrong.tensor("beta1").verdict("impl")[0] == "wrong", str(wrong)


def test_soft_targets_that_sum_to_one_by_rounding_leave_cross_entropys_delta_to_rounding(monkeypatch):
    """Targets of 1 and 7e-131 on one sample sum to exactly 1 in float64, and its softmax saturates at exactly 1 on
    the class whose target is 1: δ = a·Σy − y is 0 there for an exact 7e-131, and the loss, whose only term is
    7e-131 times a logit gap of 1e197, shows the finite differences a gradient of 9e66 in that class's weights. The
    reference backprop failed its own check. The rounding of the targets' sum, times a, is now in the allowance for
    a correct backprop: those elements are inconclusive, not wrong, and a slip of 1e-3 in the next class's weights
    (an allowance of 1e52 under gradients of 4e66) is still caught."""
    from gradcheck.reference import rounding

    net = case("soft_target_sums_to_one_by_rounding")
    spec = load_spec(net)
    result = check_network(net, symbolic="off")
    assert result.passed, str(result)
    W3 = result.tensor("W3")
    gap = np.abs(np.asarray(W3.values["numeric"]) - np.asarray(W3.values["backprop"]))
    assert gap[:4, 0].min() > 1e66 and np.all(gap <= np.asarray(W3.rounding) + np.asarray(W3.bound))
    wrong = check_network(net, slipped(spec, 3, "W", lambda g: g.__setitem__((1, 1), g[1, 1] * (1 + 1e-3))),
                          symbolic="off")
    assert not wrong.passed and wrong.tensor("W3").verdict("impl")[1, 1] in ("wrong", "suspicious"), str(wrong)
    monkeypatch.setattr(rounding, "_target_sum", lambda a, Y, axis: 0.0)
    assert not check_network(net, symbolic="off").passed  # without it, the correct backprop is failed again


def test_a_backprop_that_overflows_where_the_gradient_does_not_is_inconclusive_there_and_judged_elsewhere():
    """A weight of 5.5e229 above an input of 8.3e-84: the chain rule's δ of layer 0 overflows, so the reference
    backprop's W0[1, 1] is −inf where the finite difference gives −2.1e293, and NaN where inf meets an input of 0.
    It was called wrong: float64's limit, not a mistake. Those elements are inconclusive now (the reason named in a
    note), the check passes, and a slip of 1e-3 in a weight whose gradient (3.8e63) is finite is still caught."""
    net = case("backprop_overflows_under_a_finite_gradient")
    spec = load_spec(net)
    result = check_network(net, symbolic="off")
    assert result.passed, str(result)
    W0 = result.tensor("W0")
    assert W0.values["backprop"][1, 1] == -np.inf and np.isfinite(W0.values["numeric"][1, 1])
    assert W0.verdict("backprop")[1, 1] == "inconclusive" and W0.unjudged("overflowed") >= 3
    assert any("overflows there" in note for note in result.notes)
    with np.errstate(over="ignore", invalid="ignore"):  # the slipped backprop overflows as the reference does
        wrong = check_network(net, slipped(spec, 1, "W", lambda g: g.__setitem__((1, 0), g[1, 0] * (1 + 1e-3))),
                              symbolic="off")
    assert not wrong.passed and wrong.tensor("W1").verdict("impl")[1, 0] in ("wrong", "suspicious"), str(wrong)


def test_a_direction_whose_steps_cross_a_kink_the_point_is_not_on_is_not_tested(monkeypatch):
    """b0[0] sits on a leaky relu at z = −1.8e-208, and past it a weight of 1.7e30 turns a relu of layer 1 on 2e-33
    from the point, closer than any step: along the elements at kinks, the steps' one-sided derivatives were
    measured past that second kink (−0.0025 and 0) and the reference's 0.32 called outside them, b0 wrong. A
    direction whose points change a kink state that the point is not on is not tested now: the check passes, b0[0]
    is a kink, and a slip of 1e-3 in b2 is still caught."""
    from gradcheck.judge import subgradient

    net = case("kink_behind_a_kink_closer_than_any_step")
    spec = load_spec(net)
    result = check_network(net, symbolic="off")
    assert result.passed and result.tensor("b0").verdict("backprop")[0] == "kink", str(result)
    wrong = check_network(net, slipped(spec, 2, "b", lambda g: g.__setitem__(0, g[0] * (1 + 1e-3))), symbolic="off")
    assert not wrong.passed and wrong.tensor("b2").verdict("impl")[0] in ("wrong", "suspicious"), str(wrong)
    original = subgradient._kink_states

    def only_at_the_point(spec, fw, params, Y, on=False):  # every state taken as on its kink: the rule left out
        states = original(spec, fw, params, Y, on)
        return [(s, None if o is None else np.ones(np.shape(o), bool)) for s, o in states] if on else states

    monkeypatch.setattr(subgradient, "_kink_states", only_at_the_point)
    assert not check_network(net, symbolic="off").passed


def test_a_gelu_tanh_that_cancels_rounds_in_steps_the_differences_count():
    """gelu_tanh(z) = z·(1 + tanh(u))/2 at z = −4.5: 1 + tanh(u) cancels, and a of 4e-6 rounds at 2e-16 absolute,
    in stairs whose treads tilt by the z factor alone. Along a weight of 1e-37 under it, differences at steps
    below 1e-7 gave +1.08e-14, cleanly, for an exact −2.84279e-13 (SymPy's forms to 60 digits), and the rounding
    model, counting ε/2 of a, took them: the reference backprop failed. gelu_tanh states its output's absolute
    rounding now: the difference resolves the gradient at steps above the stairs, and a slip of 1e-3 fails."""
    net = case("gelu_tanh_cancels_under_a_saturated_sigmoid")
    result = check_network(net, symbolic="off")
    assert result.passed, str(result)
    w2 = result.tensor("W2")
    assert w2.verdict("backprop")[0, 0] == "good"
    assert abs(w2.values["numeric"][0, 0] - -2.84279219e-13) <= w2.bound[0, 0] + 1e-5 * 2.84279219e-13

    def slip(g):
        g[0, 0] *= 1.001

    bad = check_network(net, slipped(load_spec(net), 2, "W", slip), symbolic="off")
    assert not bad.passed and bad.tensor("W2").verdict("impl")[0, 0] in ("wrong", "suspicious"), str(bad)


def test_a_layers_rounding_is_measured_where_its_noise_line_crosses_the_turns_of_the_loss():
    """Inputs of 1e12 under first weights of 1e-12: the line that measures layer 0's rounding moves each unit's z by
    about 1e5 between its points, and its losses scatter by 1.6e-6 for a rounding of 4e-16. That scatter allowed no
    step fine enough to clear the relu's turn, and every W0 element, of the correct backprop and negated alike, was
    inconclusive; lines a thousand, a million, … times as finely spaced measure the rounding, and each is resolved."""
    net = case("relu_under_inputs_of_1e12_whose_rounding_finer_lines_measure")
    spec, params = load_spec(net), load_spec(net).parameters()
    X, Y = spec.batch_data()
    noise = layer_noise(Perturbed(spec, params, X, spec.targets(Y)))
    assert noise[0] < 1e-14  # the loss is 2.3: within a few dozen ulps of it
    correct = check_network(net, symbolic="off")
    assert correct.passed and (correct.tensor("W0").verdict("backprop") == "good").all(), str(correct)
    for k in range(4):
        wrong = check_network(net, slipped(spec, 0, "W", lambda g, k=k: g.reshape(-1).__setitem__(k, -g.flat[k])),
                              symbolic="off")
        assert wrong.tensor("W0").verdict("impl").flat[k] == "wrong", str(wrong)
