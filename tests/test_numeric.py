"""Finite differences: known derivatives, stencil accuracy, relative steps, kink flags."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_network, load_spec, numeric_gradient
from gradcheck.judge.bands import MARGIN
from gradcheck.numeric.methods import METHODS
from gradcheck.numeric.stencils import STEP_SCALE, central_difference, default_step, flatten, unflatten
from gradcheck.reference.backprop import backprop  # the function (gradcheck.reference.backprop is also its module)

EPS = np.finfo(np.float64).eps
#: The methods of real steps, by every name (complex step has tests of its own).
REAL = [name for name, m in METHODS.items() if not m.complex]


# -- central_difference on functions with known derivatives -------------------------------

def test_polynomial_with_cross_terms():
    c = np.array([2.0, -1.0, 0.5, 3.0])

    def f(T):  # Σ c_i θ_i³ + θ_0 θ_1 − 4 θ_2² θ_3
        return (c * T ** 3).sum(axis=1) + T[:, 0] * T[:, 1] - 4 * T[:, 2] ** 2 * T[:, 3]

    th = np.array([0.7, -1.3, 2.0, 0.25])
    want = 3 * c * th ** 2 + np.array([th[1], th[0], -8 * th[2] * th[3], -4 * th[2] ** 2])
    got = central_difference(f, th)
    assert got.shape == th.shape
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_quadratic_is_exact_up_to_rounding():
    # A central difference has no truncation error on a quadratic.
    th = np.array([1.5, -0.5, 3.0])
    got = central_difference(lambda T: (T ** 2).sum(axis=1), th, step=0.25)
    np.testing.assert_allclose(got, 2 * th, rtol=1e-14)


@pytest.mark.parametrize("method", REAL)
def test_sine(method):
    th = np.linspace(-3, 3, 13)
    got = central_difference(lambda T: np.sin(T).sum(axis=1), th, method=method)
    np.testing.assert_allclose(got, np.cos(th), rtol=1e-7, atol=1e-9)


def test_five_point_is_more_accurate_than_central_on_a_smooth_function():
    th = np.linspace(-2, 2, 41)

    def f(T):
        return np.exp(np.sin(T)).sum(axis=1)

    exact = np.exp(np.sin(th)) * np.cos(th)
    for step in (None, 1e-2, 1e-3):
        central = np.abs(central_difference(f, th, step=step) - exact).max()
        five = np.abs(central_difference(f, th, step=step, method="five-point") - exact).max()
        assert five < central / 10, (step, central, five)
    # O(h²) vs O(h⁴): at h = 1e-2 the truncation errors are ~h²/6·|f'''| and ~h⁴/30·|f⁽⁵⁾|.
    central = np.abs(central_difference(f, th, step=1e-2) - exact).max()
    assert 1e-6 < central < 1e-4


def test_linear_function_uses_the_step_actually_taken():
    # At θ = 1e6 + 0.3 the step h ≈ 6 and (θ+h) − (θ−h) differs from 2h by rounding; dividing by
    # the step taken makes the slope of a linear function exact to rounding.
    # With power-of-two slopes every operation is exact, so the result must be the slope exactly
    # (dividing by 2h instead would be off by about ulp(θ)/h ≈ 1e-11).
    for theta, slope in [(1e6 + 0.3, 2.0), (-7e5 + 0.1, -0.5), (0.001, 4.0), (123.456, 0.25), (-3.3e4, 1.0)]:
        h = default_step(np.array([theta]))[0]
        assert (theta + h) - (theta - h) != 2 * h  # the premise: rounding makes them differ
        got = central_difference(lambda T, slope=slope: slope * T[:, 0], np.array([theta]))
        assert got[0] == slope


# -- the step ------------------------------------------------------------------------------

def test_default_step_scales_with_theta():
    th = np.array([0.0, 1e-3, -0.5, 1.0, -4.0, 1e3, -1e6])
    np.testing.assert_allclose(default_step(th), EPS ** (1 / 3) * np.maximum(1, np.abs(th)), rtol=1e-15)
    np.testing.assert_allclose(default_step(th, "five-point"), EPS ** (1 / 5) * np.maximum(1, np.abs(th)),
                               rtol=1e-15)
    assert STEP_SCALE == pytest.approx(EPS ** (1 / 3))
    assert default_step(np.zeros((2, 3))).shape == (2, 3)


@pytest.mark.parametrize("method", REAL)
def test_the_points_evaluated_are_theta_plus_multiples_of_the_scaled_step(method):
    th = np.array([0.1, -20.0, 3e4])
    seen = []

    def f(T):
        seen.append(T.copy())
        return T.sum(axis=1)

    central_difference(f, th, method=method)
    T = np.vstack(seen)
    offsets = METHODS[method].estimate_offsets
    assert T.shape == (len(offsets) * th.size, th.size)
    h = EPS ** (1 / 3 if method == "central" else 1 / 5) * np.maximum(1, np.abs(th))
    for j, o in enumerate(offsets):
        block = T[j * th.size:(j + 1) * th.size]
        moved = block - th
        # Each row moves exactly one element, by o·h of that element (up to the rounding of θ + o·h).
        np.testing.assert_allclose(np.diag(moved), o * h, rtol=1e-9)
        np.testing.assert_array_equal(moved - np.diag(np.diag(moved)), 0)


def test_chunking_does_not_change_the_result():
    th = np.random.default_rng(0).normal(size=17)

    def f(T):
        return (np.tanh(T) * np.arange(1, 18)).sum(axis=1)

    whole = central_difference(f, th)
    for chunk in (1, 4, 16, 100):
        np.testing.assert_array_equal(central_difference(f, th, chunk=chunk), whole)


def test_extra_flags_are_ored_over_the_perturbed_points():
    th = np.array([0.0, 5.0, -5.0])

    def extra(T):  # True where the point has an element that became positive from 0
        return (T[:, 0] > 0)

    _, flags = central_difference(lambda T: T.sum(axis=1), th, extra=extra)
    np.testing.assert_array_equal(flags, [True, False, False])


def test_unknown_method():
    with pytest.raises(ValueError, match="five-point"):
        central_difference(lambda T: T.sum(axis=1), np.zeros(2), method="forward")


def test_flatten_unflatten_round_trip():
    arrays = [np.arange(6.0).reshape(2, 3), np.array([7.0, 8.0]), np.ones((1, 1))]
    vec = flatten(arrays)
    assert vec.shape == (9,)
    back = unflatten(np.stack([vec, 2 * vec]), [a.shape for a in arrays])
    for a, b in zip(arrays, back):
        np.testing.assert_array_equal(b[0], a)
        np.testing.assert_array_equal(b[1], 2 * a)


# -- numeric_gradient on networks -------------------------------------------------------------

@pytest.mark.parametrize("method", REAL)
@pytest.mark.parametrize(("convention", "bias"), [("column", "separate"), ("row", "augmented"), ("row", "none")])
def test_numeric_gradient_matches_backprop(convention, bias, method):
    spec = load_spec({"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 3, "activation": "softmax"}],
                      "loss": "cross_entropy", "convention": convention, "bias": bias, "batch": 6, "seed": 3})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    num = numeric_gradient(spec, params, X, Y, method=method)
    for r, n, s, k, p in zip(ref, num.grads, num.steps, num.kinks, params):
        assert n.keys() == r.keys() == s.keys() == k.keys()
        for key in r:
            assert n[key].shape == r[key].shape
            np.testing.assert_allclose(n[key], r[key], rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(s[key], default_step(p[key], method))
            assert not k[key].any()


def test_numeric_gradient_with_a_fixed_step():
    spec = load_spec({"input": 2, "layers": [{"units": 2, "activation": "sigmoid"}], "seed": 1})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    num = numeric_gradient(spec, params, X, Y, step=1e-4)
    assert all(np.all(s[k] == 1e-4) for s in num.steps for k in s)
    _, ref = backprop(spec, params, X, Y)
    np.testing.assert_allclose(num.grads[0]["W"], ref[0]["W"], rtol=1e-6)


def test_numeric_gradient_does_not_modify_params():
    spec = load_spec({"input": 2, "layers": [{"units": 3, "activation": "relu"}, {"units": 1}], "seed": 2})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    before = [{k: v.copy() for k, v in p.items()} for p in params]
    numeric_gradient(spec, params, X, Y)
    for p, q in zip(params, before):
        for k in p:
            np.testing.assert_array_equal(p[k], q[k])


# -- kinks ----------------------------------------------------------------------------------

X_KINK = [[1.0, -1.0, 0.5, 2.0], [0.5, 1.0, -1.0, 1.0]]  # (input 2, N 4), column layout
W0_KINK = [[1.0, 1.0], [1.0, -1.0], [-1.0, 0.5]]


def kink_spec(z_near):
    """2-3-1, relu hidden layer; unit 1 of layer 0 has z = ``z_near`` on sample 2, every other |z| >= 0.19."""
    x2 = np.array(X_KINK)[:, 2]
    b0 = [1.0, z_near - float(np.array(W0_KINK[1]) @ x2), 0.2]
    return load_spec({
        "input": 2, "layers": [{"units": 3, "activation": "relu"}, {"units": 1, "activation": "linear"}],
        "loss": "mse",
        "params": [{"W": W0_KINK, "b": b0}, {"W": [[1.0, -2.0, 0.5]], "b": [0.1]}],
        "data": {"X": np.array(X_KINK).T.tolist(), "Y": [0.3, -0.2, 0.8, 0.1]},
    })


def _z0(spec):
    p = spec.parameters()[0]
    X, _ = spec.batch_data()
    return p["W"] @ X + p["b"][:, None]


def test_kinks_flagged_where_a_z_sits_at_zero():
    spec = kink_spec(0.0)
    z0 = _z0(spec)
    assert z0[1, 2] == 0.0  # the premise: one z at the kink ...
    others = np.delete(z0.ravel(), 1 * 4 + 2)
    assert np.abs(others).min() >= 0.4  # ... and every other z far from it
    params, (X, Y) = spec.parameters(), spec.batch_data()
    num = numeric_gradient(spec, params, X, Y)
    np.testing.assert_array_equal(num.kinks[0]["b"], [False, True, False])
    np.testing.assert_array_equal(num.kinks[0]["W"], [[False, False], [True, True], [False, False]])
    assert not num.kinks[1]["W"].any() and not num.kinks[1]["b"].any()
    # The one-sided derivatives: unit 1 off for a step down (0), on for a step up (relu's other slope).
    _, ref = backprop(spec, params, X, Y)
    sides = num.sides[0]["b"]
    assert sides.minus[1] == pytest.approx(ref[0]["b"][1], abs=1e-9)  # backprop takes relu'(0) = 0
    assert sides.plus[1] == pytest.approx(0.2, rel=1e-6) and np.isnan(sides.plus[0])


@pytest.mark.parametrize("z_near", [1e-5, 1e-7, 1e-9, -1e-7])
def test_a_z_next_to_zero_is_no_kink_the_step_shrinks_past_it(z_near):
    """The ±h step crosses a z at 1e-7, but the loss is differentiable at θ: smaller steps resolve it."""
    spec = kink_spec(z_near)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    num = numeric_gradient(spec, params, X, Y)
    assert not any(k[key].any() for k in num.kinks for key in k)
    _, ref = backprop(spec, params, X, Y)
    for r, n, b, sides in zip(ref, num.grads, num.bounds, num.sides):
        for key in r:
            lost = np.zeros(r[key].shape, bool) if sides is None else sides[key].unresolved
            err = np.abs(n[key] - r[key])
            assert (err[~lost] <= 1e-6 * np.abs(r[key][~lost]) + MARGIN * b[key][~lost] + 1e-12).all(), key
            resolved = 1e-3 if z_near == 1e-9 else 1e-4  # steps of 1e-10 leave the loss's rounding at ~1e-4
            assert (b[key][~lost] <= resolved * np.abs(r[key]).max()).all(), key  # resolved, not just bounded
    if z_near != 1e-9:  # 1e-9 is at the edge of what the loss's rounding resolves; the others are resolved
        assert not any(s[key].unresolved.any() for s in num.sides if s for key in s)


def test_kink_resolution_costs_nothing_without_kinks():
    spec = kink_spec(0.3)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    net_calls = []
    from gradcheck.numeric import perturbed

    original = perturbed.Perturbed.losses

    def counted(self, i, flat, delta, rows=None):
        net_calls.append(np.size(delta))
        return original(self, i, flat, delta, rows)

    perturbed.Perturbed.losses = counted
    try:
        numeric_gradient(spec, params, X, Y)
        clean = sum(net_calls)
        net_calls.clear()
        numeric_gradient(kink_spec(0.0), kink_spec(0.0).parameters(), X, Y)
        kinked = sum(net_calls)
    finally:
        perturbed.Perturbed.losses = original
    size = sum(p[k].size for p in params for k in p)
    from gradcheck.numeric.steps import FIRST, KINK_LEVELS

    assert clean == len(FIRST) * size  # the first stencil of every element, nothing more
    # only the 3 elements at the kink: their halvings, then a few tenfold refinements of 4 points each
    assert clean < kinked <= clean + 3 * (2 * KINK_LEVELS + 4 * 8)


def test_no_kinks_flagged_away_from_zero():
    spec = kink_spec(0.3)
    assert np.abs(_z0(spec)).min() >= 0.19
    params, (X, Y) = spec.parameters(), spec.batch_data()
    num = numeric_gradient(spec, params, X, Y)
    assert not any(k[key].any() for k in num.kinks for key in k)
    _, ref = backprop(spec, params, X, Y)
    for r, n in zip(ref, num.grads):
        for key in r:
            np.testing.assert_allclose(n[key], r[key], rtol=1e-7, atol=1e-10)


def test_a_z_near_but_not_on_the_kink_is_stepped_away_from_and_judged():
    """At 1e-9 from relu's kink the loss is differentiable: the steps shrink until they no longer cross it, and the
    element is judged like any other (its slope is the side it is on)."""
    spec = kink_spec(1e-9)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    num = numeric_gradient(spec, params, X, Y)
    assert not any(k[key].any() for k in num.kinks for key in k)
    _, ref = backprop(spec, params, X, Y)
    assert np.all(np.abs(num.grads[0]["b"] - ref[0]["b"]) <= num.bounds[0]["b"])
    # resolved as well as an ordinary element: from the side of θ whose steps cross no kink
    assert num.bounds[0]["b"][1] < 1e-6 * abs(ref[0]["b"][1])


def test_kinked_elements_are_reported_not_judged():
    result = check_network(kink_spec(0.0), symbolic="off")
    b0 = result.tensor("b0")
    assert list(b0.verdict("backprop")) == ["good", "kink", "good"]
    assert result.passed and b0.n_kinks == 1
    assert any("kink" in note for note in result.notes)
    clean = check_network(kink_spec(0.3), symbolic="off")
    assert clean.passed and not any("kink" in note for note in clean.notes)
    assert all(t.n_kinks == 0 for t in clean.tensors)


def test_kinks_in_an_upper_layer_are_seen_from_the_layer_below():
    # Two relu layers: a z of layer 1 at the kink is crossed by perturbing layer 0's params too.
    spec = load_spec({"input": 1, "layers": [{"units": 1, "activation": "relu"}, {"units": 1, "activation": "relu"},
                                             {"units": 1}],
                      "params": [{"W": [[1.0]], "b": [1.0]}, {"W": [[1.0]], "b": [-2.0]},
                                 {"W": [[1.0]], "b": [0.0]}],
                      "data": {"X": [[1.0]], "Y": [[1.0]]}})
    params, (X, Y) = spec.parameters(), spec.batch_data()
    kinks = numeric_gradient(spec, params, X, Y).kinks
    assert kinks[0]["b"][0] and kinks[0]["W"][0, 0] and kinks[1]["b"][0]
    assert not kinks[2]["b"][0]


# -- structured finite differences -----------------------------------------------------------

STRUCTURED_NETS = [
    ([3, 4, 2], ["tanh", "linear"], "mse", "column", "separate"),
    ([3, 4, 2], ["sigmoid", "sigmoid"], "bce", "row", "augmented"),
    ([2, 5, 3, 3], ["relu", "tanh", "softmax"], "cross_entropy", "column", "none"),
    ([4, 3, 3, 2], ["softplus", "leaky_relu", "linear"], "sse", "row", "separate"),
    ([3, 2], ["softmax"], "cross_entropy", "row", "augmented"),
]


@pytest.mark.parametrize(("sizes", "acts", "loss", "convention", "bias"), STRUCTURED_NETS)
@pytest.mark.parametrize("method", ["central", "richardson"])
def test_structured_and_plain_finite_differences_agree(sizes, acts, loss, convention, bias, method):
    from oracles import make_spec

    spec = make_spec(sizes, acts, loss, convention, bias, batch=4, seed=5)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    fast = numeric_gradient(spec, params, X, Y, method=method)
    plain = numeric_gradient(spec, params, X, Y, method=method, structured=False)
    for f, p, kf, kp in zip(fast.grads, plain.grads, fast.kinks, plain.kinks):
        for key in f:
            scale = np.abs(p[key]).max()
            np.testing.assert_allclose(f[key], p[key], rtol=1e-7, atol=1e-9 * scale)
            np.testing.assert_array_equal(kf[key], kp[key])


def test_structured_mode_evaluates_only_the_changed_unit_and_the_layers_above(monkeypatch):
    """No perturbation of layer 1 runs layer 0 or layer 1's full forward pass."""
    from oracles import make_spec

    from gradcheck.catalogue.layers.dense import Dense

    spec = make_spec([3, 4, 3, 2], ["tanh", "tanh", "linear"], batch=3)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    calls = []
    original = Dense.forward

    def spy(self, p, a_prev, *args, **kwargs):
        calls.append(self.index)
        return original(self, p, a_prev, *args, **kwargs)

    monkeypatch.setattr(Dense, "forward", spy)
    # (the loss's rounding is measured by whole forward passes at θ·(1 ± kε): not perturbations, left out here)
    monkeypatch.setattr("gradcheck.numeric.network.layer_rounding",
                        lambda net, **_: [(0.0, 0.0)] * len(net.spec.layers))
    numeric_gradient(spec, params, X, Y)
    assert calls.count(0) == 1 and calls.count(1) == 1  # the base forward pass only
    assert calls.count(2) > 1  # layer 2 runs on the stacks of perturbed networks


@pytest.mark.parametrize(("method", "tol"), [("auto", 1e-9), ("richardson", 1e-9), ("complex-step", 1e-12)])
def test_accuracy_against_the_reference_on_smooth_nets(method, tol):
    """The default method to 1e-9 relative or better; the most accurate one (complex step) to 1e-12."""
    from oracles import make_spec

    for sizes, acts, loss in [([6, 8, 5, 3], ["tanh", "sigmoid", "linear"], "mse"),
                              ([4, 6, 3], ["softplus", "softmax"], "cross_entropy"),
                              ([5, 7, 2], ["tanh", "sigmoid"], "bce")]:
        spec = make_spec(sizes, acts, loss, batch=8, seed=2)
        params, (X, Y) = spec.parameters(), spec.batch_data()
        _, ref = backprop(spec, params, X, Y)
        num = numeric_gradient(spec, params, X, Y, method=method)
        for r, n in zip(ref, num.grads):
            for key in r:
                rel = np.abs(n[key] - r[key]).max() / np.abs(r[key]).max()
                assert rel <= tol, (sizes, acts, key, rel)


def test_complex_step_refuses_a_network_with_a_kink():
    from oracles import make_spec

    spec = make_spec([2, 3, 1], ["relu", "linear"])
    with pytest.raises(ValueError, match="complex-step"):
        numeric_gradient(spec, spec.parameters(), *spec.batch_data(), method="complex-step")


def test_best_method_per_network():
    from oracles import make_spec

    from gradcheck.numeric.network import best_method

    assert best_method(make_spec([2, 3, 1], ["relu", "linear"])) == "central"
    assert best_method(make_spec([2, 3, 1], ["tanh", "linear"])) == "richardson"


@pytest.mark.parametrize("net", [
    {"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 3, "activation": "sigmoid"}, {"units": 2}],
     "batch": 4, "seed": 2},
    {"input": 3, "layers": [{"units": 4, "activation": "relu"}, {"units": 2}], "batch": 5, "seed": 7},
    {"input": [1, 5, 5], "layers": [{"type": "conv2d", "filters": 2, "kernel": 3, "activation": "tanh"},
                                    {"type": "flatten"}, {"units": 2}], "batch": 3, "seed": 1},
])
def test_layers_taking_their_step_levels_together_give_each_layer_s_own_numbers(net, monkeypatch):
    """Consecutive layers that fit one chunk take their step levels in one pass; every value, bound, step and kink
    flag is the one each layer's own pass gives."""
    import gradcheck.numeric.network as numeric_network

    spec = load_spec(net)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    together = numeric_gradient(spec, params, X, Y)
    monkeypatch.setattr(numeric_network._Run, "layers",  # each layer its own pass
                        lambda self, todos: ((i, *self.layer(i, todo)) for i, todo in enumerate(todos)))
    alone = numeric_gradient(spec, params, X, Y)
    for part in ("grads", "bounds", "steps", "kinks"):
        for a, b in zip(getattr(together, part), getattr(alone, part)):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{part} {key}")


def test_the_noise_lines_directions_are_the_same_draws_when_kept():
    """The noise lines' ±1 directions of a small network are kept between checks: the same draws as fresh ones, in
    the same order, read-only (a line reads them and never writes them); a large network's are drawn each time."""
    from gradcheck.numeric import noise
    from gradcheck.reference.rounding import random_signs

    shapes = ((("W", (3, 2)), ("b", (2,))), (), (("W", (2, 1)),))
    noise._kept_signs.cache_clear()
    first = noise._line_signs(5, shapes)
    assert noise._line_signs(5, shapes) is first and noise._line_signs(6, shapes) is not first
    rng = np.random.default_rng([5, 0xEC])
    for layer, kept in zip(shapes, first):
        assert list(kept) == [key for key, _ in layer]
        for key, shape in layer:
            assert np.array_equal(kept[key], random_signs(rng, shape)) and not kept[key].flags.writeable
    big = ((("W", (noise.SIGNS_KEPT + 1,)),),)
    assert noise._line_signs(5, big) is not noise._line_signs(5, big)
