"""The judge at the corners of gradcheck.strategies: correct networks never fail, resolvable planted errors never pass.

A planted value p at an element whose reference gradient is e is *resolvable* when |p − e| > 1e-4·max(|p|, |e|)
(ten times the default rtol) and a float64 central difference resolves it with the judge's own error accounting: on
the ladder of steps max(1, |θ|)·10^(−k/2), k = 2..20, two neighbouring steps land within |p − e|/10 of e, and the
rounding of such a quotient, 4 ulps of max|C(θ ± h)| per loss over the step taken, is below |p − e|/36 (the judge
needs three levels of halving steps, whose extrapolate carries about six such roundings, and calls an element wrong
only outside three times its bound), and |p − e| exceeds the rounding a correct float64 backprop may make in that
element, which the judge allows every analytic opinion (:mod:`gradcheck.reference.rounding`: on a saturated sigmoid
output the textbook δ = a − y is 0 where σ(z) rounds to 1, and so is every gradient it feeds), as e itself does: the
reference is this module's only oracle, and a value within its own rounding says nothing of the exact one (a
batchnorm over equal values has x̂ = 0 exactly, and γ's gradient 0, where the rounded mean gives 1.9e-13).
``benchmarks/sweep_judge.py`` runs the same at scale, against torch and mpmath.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from gradcheck import check_network, load_spec
from gradcheck.judge.tolerances import tolerance
from gradcheck.numeric.noise import _RootSumSquares, forward_rounding
from gradcheck.reference.backprop import backprop, forward, loss_value
from gradcheck.reference.rounding import backprop_rounding
from gradcheck.render.results import verdict_line
from gradcheck.strategies import CORNERS, corner_networks


def _case(name):
    """(net dict, spec) of the saved network ``tests/cases/<name>.json``."""
    net = json.loads((Path(__file__).parent / "cases" / f"{name}.json").read_text())
    return net, load_spec(net)


def _changed(spec, layer, key, change):
    """An impl: the reference backprop, with ``grads[layer][key]`` replaced by ``change`` of it."""
    def impl(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[layer][key] = change(grads[layer][key])
        return grads
    return impl

# Derandomized, and without shrinking: a failure is reported as drawn (its "description" says where its corner is).
FEW = settings(max_examples=20, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TWENTY = settings(FEW, max_examples=12)
EPS = float(np.finfo(np.float64).eps)
LADDER = [10.0 ** (-k / 2) for k in range(2, 21)]


def _arrays(net):
    spec = load_spec(net)
    params = spec.parameters()
    X, Y = spec.batch_data()
    return spec, params, X, Y


def _loss(spec, params, X, Y):
    fw = forward(spec, params, X)
    return float(loss_value(spec, fw.output, Y, fw.z[-1]))


def resolvable(spec, params, X, Y, layer, key, flat, exact, planted):
    """The rule of the module's docstring, with the reference backprop's value as the exact one."""
    gap = abs(planted - exact)
    if not gap > 1e-4 * max(abs(planted), abs(exact)):
        return False
    allowance = tolerance().rounding(backprop_rounding(spec, params, X, Y)[layer][key]).flat[flat]
    if not gap > allowance or not abs(exact) > allowance:  # a value within its own rounding: the exact one unknown
        return False
    params = [{k: v.copy() for k, v in p.items()} for p in params]
    theta = params[layer][key].flat[flat]
    near = []
    for scale in LADDER:
        h = scale * max(1.0, abs(theta))
        up, down = theta + h, theta - h
        params[layer][key].flat[flat] = up
        c_up = _loss(spec, params, X, Y)
        params[layer][key].flat[flat] = down
        c_down = _loss(spec, params, X, Y)
        g, floor = (c_up - c_down) / (up - down), 4 * EPS * max(abs(c_up), abs(c_down)) / (up - down)
        near.append(abs(g - exact) <= gap / 10 and floor <= gap / 36)
    return any(a and b for a, b in zip(near, near[1:]))


# -- the strategies give what they claim ------------------------------------------------------

@TWENTY
@given(corner_networks(["near_kink"]))
def test_near_kink_networks_put_a_relu_z_within_1e_5_of_the_kink(net):
    spec, params, X, _ = _arrays(net)
    fw = forward(spec, params, X)
    z = np.concatenate([np.abs(fw.z[ly.index]).ravel() for ly in spec.layers if ly.has_activation and ly.act.kinks])
    near = (z >= 0.99e-9) & (z <= 1.01e-5)
    assert "no z placed" in net["description"] or near.any(), (np.sort(z)[:3], net["description"])


@TWENTY
@given(corner_networks(["pool_ties"]))
def test_pool_tie_networks_have_a_tied_maximum(net):
    assert net["layers"][1]["type"] == "maxpool2d"
    assert " 0 window(s)" not in net["description"], net["description"]


@TWENTY
@given(corner_networks(["saturated"]))
def test_saturated_networks_place_an_output_z_beyond_12(net):
    spec, params, X, _ = _arrays(net)
    assert np.max(np.abs(forward(spec, params, X).z[-1])) >= 12 - 1e-9


@TWENTY
@given(corner_networks(["narrow_norm"]))
def test_narrow_norm_networks_normalise_at_most_2_values_or_samples(net):
    spec = load_spec(net)
    norm = next(ly for ly in spec.layers if ly.kind in ("batchnorm", "layernorm"))
    per_sample = int(np.prod(norm.in_shape)) if norm.kind == "layernorm" else 1
    assert per_sample <= 2 or spec.n_samples <= 2


def test_corner_kinds_are_checked():
    with pytest.raises(ValueError, match="corners"):
        corner_networks(["saturate"])
    with pytest.raises(ValueError, match="pool_ties needs"):
        corner_networks(["pool_ties"], cnn=False)


# -- the judge --------------------------------------------------------------------------------

@pytest.mark.parametrize("corner", CORNERS)
def test_correct_corner_networks_never_fail(corner):
    """The reference backprop, and a user's gradients within 2 ulps of it, pass."""
    @FEW
    @given(corner_networks([corner]), st.randoms(use_true_random=False))
    def check(net, rnd):
        spec, params, X, Y = _arrays(net)
        _, grads = backprop(spec, params, X, Y)
        rng = np.random.default_rng(rnd.getrandbits(32))
        for g in grads:
            for v in g.values():
                v += rng.integers(-2, 3, v.shape) * np.spacing(v)

        def impl(p, X, Y):
            return [{k: v.copy() for k, v in g.items()} for g in grads]

        result = check_network(net, impl, symbolic="off", trace_code=False)
        assert result.passed, str(result) + "\n" + net["description"]

    check()


@pytest.mark.parametrize("corner", CORNERS)
def test_a_resolvable_planted_error_never_passes(corner):
    @FEW
    @given(corner_networks([corner]), st.data())
    def check(net, data):
        spec, params, X, Y = _arrays(net)
        _, grads = backprop(spec, params, X, Y)
        names = [(name, layer, key) for name, layer, key, _ in spec.param_names()
                 if np.any(grads[layer][key] != 0)]
        assume(names)
        name, layer, key = data.draw(st.sampled_from(names))
        g = grads[layer][key]
        flat = data.draw(st.sampled_from(np.flatnonzero(g).tolist()))
        factor = data.draw(st.sampled_from([-1.0, 2.0, 0.0, 1.001]))
        exact = float(g.flat[flat])
        planted = exact * factor
        assume(resolvable(spec, params, X, Y, layer, key, flat, exact, planted))

        def impl(p, X, Y):
            _, out = backprop(spec, p, X, Y)
            out[layer][key].flat[flat] = planted
            return out

        result = check_network(net, impl, symbolic="off", trace_code=False)
        verdict = result.tensor(name).verdict("impl").flat[flat]
        assert not result.passed, (f"{name}.flat[{flat}] = {exact:.6g} × {factor:g} judged {verdict}; "
                                   f"{net['description']}\n{result}")

    check()


def test_a_value_at_a_kink_whose_sides_agree_is_inconclusive_not_a_kink():
    """A relu at 0 under a tied max, in a network whose loss barely feels it: the conv layer's gradients are about
    1e-12, the one-sided derivatives of each element agree with 0 within 7e-11. The reference's 1.04e-12 and its
    sign flipped are both explained by that bound alone: the difference cannot resolve them (inconclusive), and
    neither lies between two slopes apart (a kink)."""
    net, spec = _case("agreeing_sides_pool_ties")
    good = check_network(net, symbolic="off")

    bad = check_network(net, _changed(spec, 0, "b", lambda g: g * np.array([1.0, -1.0])), symbolic="off")
    for result, op in ((good, "backprop"), (bad, "impl")):
        assert result.passed
        assert result.tensor("b0").count("kink", op) == 0 and result.tensor("b0").count("inconclusive", op) == 2


def test_a_zero_where_the_sides_agree_on_a_tiny_gradient_is_not_called_good():
    """Tied max-pool windows under a saturated tanh: every W0 and b0 element sits on a kink whose one-sided
    derivatives agree, at about 1e-13, and the loss's rounding hides them at every step that crosses no tie (the
    finite difference gives exactly 0, ± 2e-10). The reference's values are inconclusive. A gradient returned as 0
    agrees with that 0 exactly, but with one right value at such a kink and the reference's 8e-14 far from 0 beyond
    both backprops' rounding, the judge cannot tell which is right: inconclusive too, not good."""
    net, spec = _case("agreeing_pool_ties_tiny_gradient")
    good = check_network(net, symbolic="off")
    assert good.passed and all(v == "inconclusive" for v in good.tensor("W0").verdict("backprop").ravel())

    def zeroed(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[0]["W"].flat[0] = 0.0
        return grads

    bad = check_network(net, zeroed, symbolic="off")
    assert bad.tensor("W0").values["numeric"].flat[0] == 0.0  # the plant agrees with the difference exactly
    assert bad.tensor("W0").verdict("impl").flat[0] == "inconclusive"


def test_rounding_made_alike_in_copied_samples_adds_up_instead_of_cancelling():
    """Two samples that are copies of each other, a softmax saturated at 1 − 4.5e-31: δ = a − y rounds the same way
    in both, and the conv layers' exact gradient is 0 (both classes' weights are equal), while the textbook
    backprop gives −1.8e-29 there. With random signs alone the two samples' rounding cancelled exactly in every
    draw (one chance in eight) and that correct backprop failed; the coherent draw keeps it. A sign flipped where
    the finite difference resolves the element still fails."""
    net, spec = _case("saturated_copied_samples")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    assert correct.tensor("b1").values["numeric"].flat[0] == 0.0 != correct.tensor("b1").values["backprop"].flat[0]

    bad = check_network(net, _changed(spec, 3, "b", lambda g: g * np.array([1.0, -1.0])), symbolic="off")
    assert not bad.passed and bad.tensor("b3").verdict("impl").flat[1] == "wrong"


def test_the_rounding_of_a_loss_stationary_at_theta_is_modelled_where_the_steps_go():
    """An output exactly on its target makes ∂C/∂x = 0 for every intermediate x at θ, so the first-order rounding
    model there is 0; one step away, a saturated sigmoid's quantised output, magnified by a batchnorm over a
    channel of equal values (x − μ over √eps), moves C by ulps that grow with the step, and the finite difference
    of an exact 0 came out −8.2e-17 ± 2.4e-17, failing the correct backprop. The loss's scatter is now measured
    where the steps go, as far from θ as two of a layer's steps. Every gradient here is 0: one returned as 1e-3
    still fails."""
    net, spec = _case("batchnorm_equal_channel_stationary")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    numeric, bound = correct.tensor("W0").values["numeric"].flat[4], correct.tensor("W0").bound.flat[4]
    assert abs(numeric) <= bound  # the exact 0 within the finite difference's own bound

    bad = check_network(net, _changed(spec, 3, "b", lambda g: g + 1e-3), symbolic="off")
    assert not bad.passed and bad.tensor("b3").verdict("impl").flat[0] == "wrong"


def test_growing_steps_that_lift_one_same_change_of_the_loss_resolve_nothing():
    """A softmax saturated over two batchnorms (N = 3): the loss of 26.8 moves by a few ulps at the default steps of
    the first conv's weights, and by one same amount at every wider step, so that the growing steps' quotients fall
    as 1/s, flat to a rounding that falls as fast. Growth once took such a level: −1.9e-12 ± 2.5e-12 for an exact
    −1.9e-11, failing the correct backprop. A grown level now counts only where the loss's change grows with the
    step; those weights stay inconclusive, and a wrong gradient the steps resolve still fails."""
    net, spec = _case("saturated_growth_constant_change")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    assert correct.tensor("W0").verdict("backprop").flat[8] == "inconclusive"

    bad = check_network(net, _changed(spec, 7, "b", lambda g: g * np.array([1.0, 1.0, 1.001])), symbolic="off")
    assert not bad.passed and bad.tensor("b7").verdict("impl").flat[2] in ("wrong", "suspicious")


def test_a_rounding_far_below_the_weights_it_came_through_is_still_allowed_for():
    """A layernorm over 2 features of equal samples under output weights of 3.6e-86: the outputs cancel to 1e-106,
    all rounding, so every exact gradient is 0, and the backprop's γ gradient is rounding of 1.9e-195. Carried down
    with random signs, that rounding is 1e-179 in units of ε, whose square underflows to 0: the allowance was the
    local part alone, 5e-204, and the correct backprop failed. The draws' spread is now scaled by their largest
    before squaring: γ is inconclusive, and a wrong γ of 1e-12 still fails."""
    net, spec = _case("layernorm_rounding_below_tiny_weights")
    params, (X, Y) = spec.parameters(), spec.batch_data()
    Y = spec.targets(Y)
    _, grads = backprop(spec, params, X, Y)
    allowed = backprop_rounding(spec, params, X, Y)[1]["gamma"] * np.finfo(np.float64).eps
    assert np.all(allowed >= np.abs(grads[1]["gamma"])), (allowed, grads[1]["gamma"])  # exact: 0

    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    assert set(correct.tensor("gamma1").verdict("backprop").flat) == {"inconclusive"}

    off = np.array([1e-12, 0.0]).reshape(2, 1, 1)
    bad = check_network(net, _changed(spec, 1, "gamma", lambda g: g + off), symbolic="off")
    assert not bad.passed and bad.tensor("gamma1").verdict("impl").flat[0] == "wrong"


def test_a_slip_of_1e_3_through_a_softplus_at_minus_31_is_caught():
    """Softplus outputs at 2e-14 and below (z near −31), targets 0, a loss of squares: δ = a·σ(z) is 4e-28, and a
    conv bias's gradient of −7.8e-28 slipped by 1e-3 passed, within an allowance of 4% of it, as softplus's σ(z)
    was allowed an absolute ulp. σ(z), computed the usual ways, is good to a few ulps of itself: the slip fails,
    and the correct backprop passes."""
    net, spec = _case("softplus_output_deep_negative")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)

    bad = check_network(net, _changed(spec, 0, "b", lambda g: g * np.array([1.001, 1.0, 1.0])), symbolic="off")
    assert not bad.passed and bad.tensor("b0").verdict("impl").flat[0] in ("wrong", "suspicious")


def test_a_norm_s_mean_rounding_counts_in_the_loss_s_rounding_for_the_layers_below():
    """A batchnorm over two copies of one sample whose 18 values are all alike (the layers below are scaled to 0):
    C is stationary in those values, so no z or a of the network shows rounding, and neither does a line through
    all the layernorm's params. But one element of the layernorm's β moved off θ makes the 18 values differ, and
    the batchnorm's mean, rounded, moves C by 1e-16 to 1e-15 (magnified by 1/√eps), a slope of its own at small
    steps: −1.6e-8 ± 2e-9 for an exact 0, and the correct backprop failed. The mean's and the variance's rounding
    now count in the loss's rounding model for the layers below the norm: β is inconclusive, and a wrong β of
    1e-4 still fails."""
    net, spec = _case("batchnorm_over_copies_mean_rounding")
    params, (X, Y) = spec.parameters(), spec.batch_data()
    Y = spec.targets(Y)
    model = forward_rounding(spec, params, X, Y)
    assert model[1] > 1e3 * model[5]  # the batchnorm (layer 4) rounds its mean far above everything after it
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)

    off = np.zeros((1, 5, 5))
    off[0, 1, 1] = 1e-4
    bad = check_network(net, _changed(spec, 1, "beta", lambda g: g + off), symbolic="off")
    assert not bad.passed and bad.tensor("beta1").verdict("impl")[0, 1, 1] == "wrong"


def test_the_forward_rounding_s_root_sum_of_squares_counts_terms_that_are_not_finite_as_0():
    """The rounding model's ‖terms‖₂ is kept at the scale of the largest term (terms of 1e-300 squared would
    underflow to nothing) and counts an inf or NaN term as 0 (an overflowed intermediate is no rounding to allow
    for), whether or not the rest of its array is finite."""
    rss = _RootSumSquares()
    rss.add(np.array([3e-300, np.inf, 4e-300]))
    assert rss.norm() == pytest.approx(5e-300, rel=1e-15, abs=0)
    rss.add(np.array([np.nan, -np.inf]))
    rss.add(np.zeros(3))
    assert rss.norm(2.0) == pytest.approx(1e-299, rel=1e-15, abs=0)
    rss.add(np.array([[12e-300], [np.nan]]))
    assert rss.norm() == pytest.approx(13e-300, rel=1e-15, abs=0)
    clean = _RootSumSquares()
    clean.add(np.array([3.0, 4.0]))
    clean.add(np.array([12.0]))
    assert clean.norm() == 13.0


def test_the_rounding_a_cancelling_sum_carries_up_to_the_output_is_allowed_for():
    """Two layernorm channels of ±0.44 summed by equal 1×1 conv weights: the sum cancels to 1e-17, all rounding,
    and every output above it (2.2e-24 under dense weights of 6e-8) and every gradient carry it. The allowance
    counted only the output layer's own rounding: γ's gradient of 2.1e-32 (torch: 3.3e-32, 60 digits: 2.9e-32)
    failed against a finite difference of 2.45e-32 ± 1e-33. The rounding the layers below carry into the output
    (each product's rounding, as every param moved by an ulp with random signs) is now part of the output error:
    γ is inconclusive, and a wrong γ of 1e-20 still fails."""
    net, spec = _case("conv_sum_cancels_to_rounding")
    params, (X, Y) = spec.parameters(), spec.batch_data()
    Y = spec.targets(Y)
    _, grads = backprop(spec, params, X, Y)
    allowed = backprop_rounding(spec, params, X, Y)[1]["gamma"] * np.finfo(np.float64).eps
    assert np.all(allowed >= 0.3 * np.abs(grads[1]["gamma"]))  # 30% of it is rounding (against 60 digits)
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)

    bad = check_network(net, _changed(spec, 1, "gamma", lambda g: g + 1e-20), symbolic="off")
    assert not bad.passed and "wrong" in set(bad.tensor("gamma1").verdict("impl").flat)


def test_the_rounding_a_norm_magnifies_into_its_outputs_is_allowed_for_the_weights_above():
    """An unbiased batchnorm over 3 samples, two of them copies, of values alike to their last digits: its outputs
    are 6e-14, x − μ's rounding times 1/√eps, and a correct backprop's own forward pass (SymPy's, here, whose μ sums
    in another order) puts them elsewhere in that rounding. The output weights' gradients multiply them: SymPy's
    −2.3e-18 against the reference's 7.6e-19 was judged wrong. The norm's output rounding now reaches the
    allowance of the weights above it (through the flatten): SymPy's values there are inconclusive, and a wrong
    gradient of those weights still fails."""
    net, spec = _case("batchnorm_outputs_all_rounding")
    correct = check_network(net, symbolic="on")
    assert correct.passed, str(correct)
    assert "wrong" not in set(correct.tensor("W3").verdict("symbolic").flat)

    off = np.zeros(spec.param_shapes()[3]["W"])
    off.flat[3] = 1e-12
    bad = check_network(net, _changed(spec, 3, "W", lambda g: g + off), symbolic="off")
    assert not bad.passed and bad.tensor("W3").verdict("impl").flat[3] == "wrong"


def test_a_norm_over_one_value_magnifies_no_rounding():
    """A layernorm over 1 feature: μ is x itself, x − μ is 0 however x rounds, and the output is β exactly. Counted
    as a norm whose outputs carry x − μ's rounding times 1/√eps, the weights above it were allowed 1e-3 of their
    gradient, and a slip of 1e-3 there passed. A norm over one value states no output rounding: the slip fails."""
    net, spec = _case("layernorm_one_feature_exact")
    assert check_network(net, symbolic="off").passed
    bad = check_network(net, _changed(spec, 3, "W", lambda g: g * np.array([[1.0], [1.001]])), symbolic="off")
    assert not bad.passed and bad.tensor("W3").verdict("impl")[1, 0] in ("wrong", "suspicious")


def test_a_loss_near_0_is_differenced_where_its_own_rounding_is_measured():
    """A loss of 1.7e-40 (sse, outputs on their targets to 1e-20). The layer's rounding, measured along a line that
    moves all its elements, is that of the bias, which moves C to 1e-7 there: 7e-24, so the bias's gradient of
    −2e-20 came out 0 ± 8e-18, inconclusive, and a slip of 1e-3 in it passed. Measured along the element's own
    axis where its steps go (and at smaller steps, where C is nearer its value at θ), the rounding is that of C's
    own scale: the difference resolves the gradient, the correct backprop passes and the slip fails."""
    net, spec = _case("sse_loss_near_zero_tiny_bias")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    b1 = correct.tensor("b1")
    assert set(b1.verdict("backprop").flat) == {"good"}, str(correct)
    assert np.all(b1.bound < 1e-3 * np.abs(b1.values["backprop"])), (b1.bound, b1.values["backprop"])
    slipped = np.array([1.001, 1.0])
    bad = check_network(net, _changed(spec, 1, "b", lambda g: g * slipped), symbolic="off")
    assert not bad.passed and bad.tensor("b1").verdict("impl").flat[0] in ("wrong", "suspicious"), str(bad)


def test_a_chord_across_a_turn_of_the_loss_is_not_taken_for_the_slope():
    """A saturated network (tanh output at z = −12, a loss of 3e-21) with conv weights of 3e-170 whose exact
    gradient is 0. The loss's rounding (whole ulps of the saturated output, 6e-27 of C) hid the slope at the
    default steps, so the steps grew, to 0.01-0.1: there the chords rise to 1e-23 and level off, each level
    within the others' rounding, and 9.8e-24 ± 2.4e-24 was kept, failing the correct backprop. The quotients of
    the smaller steps, taken on the way, fall short of it by more than their rounding: the wider levels are not
    kept, and the elements are inconclusive. A gradient a thousand times that chord still fails."""
    net, spec = _case("saturated_chord_of_tiny_weight")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    w3 = correct.tensor("W3").verdict("backprop")
    assert "wrong" not in set(w3.flat) and w3[0, 2, 0, 0] == "inconclusive"
    off = np.zeros((3, 3, 2, 2))
    off[0, 2] = 1e-20
    bad = check_network(net, _changed(spec, 3, "W", lambda g: g + off), symbolic="off")
    assert not bad.passed and set(bad.tensor("W3").verdict("impl")[0, 2].flat) == {"wrong"}, str(bad)


def test_a_tie_the_element_does_not_move_is_no_kink_near_it():
    """An svm whose class 1 scores exactly its margin below class 0 on every sample, through output weights that
    move both scores alike: every step of W1[0, 0] flips the hinge's state by rounding, at random (+h crossing where
    +2h does not), and the one-sided derivatives agree, 0.0231577 on both sides at every step. Those crossings used
    to be read as a kink between the steps at every refinement, so the element was taken as next to a kink no
    step resolves: inconclusive whatever its value, and a sign flipped passed. A side crossing at h only says the
    states flip by rounding; the derivatives alone decide: good, and the flipped sign is wrong."""
    net, spec = _case("svm_tie_its_elements_move_alike")
    good = check_network(net, symbolic="off")
    W1 = good.tensor("W1")
    assert good.passed and W1.verdict("backprop")[0, 0] == "good" and W1.bound[0, 0] < 1e-8
    bad = check_network(net, _changed(spec, 1, "W", lambda g: g * np.array([[-1.0, 1.0], [1.0, 1.0]])),
                        symbolic="off")
    assert not bad.passed and bad.tensor("W1").verdict("impl")[0, 0] == "wrong", str(bad)


def test_a_loss_turning_within_the_default_steps_is_resolved_at_smaller_ones():
    """Attention with every weight ×100: W2[1, 1]'s default steps of 7e-3 see a softmax turn (one-sided slopes of
    0.29 and 8541 at 1e-3), and the levels stopped at −246 ± 487 for an exact 4.6968: inconclusive, and a sign
    flipped passed. Its bound is thousands of times its rounding, so smaller steps lower it: the levels' halving
    goes on while their extrapolations close in on each other, and the estimate is 4.69680 to within 1e-3, the
    value good and the flipped sign wrong."""
    net, spec = _case("attention_turning_within_the_default_steps")
    good = check_network(net, symbolic="off")
    W2 = good.tensor("W2")
    assert good.passed and W2.verdict("backprop")[1, 1] == "good" and W2.bound[1, 1] < 1e-3
    assert abs(W2.values["numeric"][1, 1] - W2.values["backprop"][1, 1]) <= W2.bound[1, 1]
    bad = check_network(net, _changed(spec, 2, "W", lambda g: g * np.where(np.arange(g.size) == 4, -1.0, 1.0)
                                      .reshape(g.shape)), symbolic="off")
    assert not bad.passed and bad.tensor("W2").verdict("impl")[1, 1] == "wrong", str(bad)


@pytest.mark.parametrize("factor, verdict", [(1.001, "good"), (1.02, "inconclusive"), (1.1, "wrong")])
def test_a_slip_at_a_cancelling_gradient_is_judged_against_a_correct_backprop_s_rounding(factor, verdict):
    # b3's gradient, −5e-13, is the sum of δ = a − y over outputs equal to their targets to 13 digits: a correct
    # float64 backprop computes a to a few ulps of 0.86, so its value may be 1e-3 of it off or more. A slip within
    # that allowance and below 1% is good (the summary says on what), one within it and of 1% or more is
    # inconclusive, one beyond it is wrong.
    net, spec = _case("output_bias_cancelling_on_its_target")
    result = check_network(net, _changed(spec, 3, "b", lambda g: g * np.array([1.0, factor])), symbolic="off")
    b = result.tensor("b3")
    assert b.verdict("impl")[1] == verdict and b.verdict("impl")[0] == "good"
    allowance = float(b.rounding[1])
    gap = abs(b.values["impl"][1] - b.values["backprop"][1])
    assert (gap <= allowance) == (verdict != "wrong")
    assert result.passed == (verdict != "wrong")
    if verdict == "good":
        assert "within the rounding a correct float64 backprop may make there" in verdict_line(result)


def test_a_gradient_the_loss_s_rounding_hides_below_a_step_of_a_tenth_is_judged_from_wider_steps():
    """A GRU's bias gradient of 1.07e-13 under a loss of 3.7: central differences resolve it only at steps of a few
    hundredths to a tenth of max(1, |θ|) (the loss's rounding hides it below), where the growing steps once
    stopped, their widest (coarse) level at a tenth and their finest, whose quotient the estimate is made from, at
    a fortieth. The coarse level now reaches 0.4 and the fine one a tenth: the negated gradient fails, and the
    correct backprop passes (its element still inconclusive: a bound of half the value confirms no rtol)."""
    net, spec = _case("gru_bias_gradient_resolved_at_wide_steps")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    b = correct.tensor("b0")
    exact = b.values["backprop"][1]
    assert abs(b.values["numeric"][1] - exact) <= b.bound[1] < abs(exact)  # resolved, and honest about it

    negated = check_network(net, _changed(spec, 0, "b", lambda g: g * np.array([1.0, -1.0, 1.0, 1.0, 1.0, 1.0])),
                            symbolic="off")
    assert not negated.passed and negated.tensor("b0").verdict("impl")[1] == "wrong"


def test_an_output_error_below_root_tiny_is_seen_by_a_log_loss():
    """A softmax saturated to an output of 1.9e-198 on a class of target 0, under cross-entropy: the loss is that
    output (log1p of it), and so is the output bias's gradient of that class. Below √tiny a loss of squares cannot
    see an output error (its square underflows), and that allowance, 1.5e-154, was given to every loss: the element
    was inconclusive and its doubling passed. A log loss's term is the error itself: the doubling fails, the
    correct backprop passes, its bound far below the value."""
    net, spec = _case("cross_entropy_output_error_below_root_tiny")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    b = correct.tensor("b1")
    exact = b.values["backprop"][1]
    assert 1e-199 < exact < 1e-197
    assert abs(b.values["numeric"][1] - exact) <= b.bound[1] < 1e-3 * exact

    doubled = check_network(net, _changed(spec, 1, "b", lambda g: g * np.array([1.0, 2.0])), symbolic="off")
    assert not doubled.passed and doubled.tensor("b1").verdict("impl")[1] == "wrong"


def test_a_weight_that_never_touches_the_layers_rounding_is_resolved():
    """A conv weight whose input is 2.3e-10 in one sample and 9.2e-217 in the other, under a layernorm over the other
    sample's two features 1e-5 apart: the layer's rounding, measured by moving all its params at once, is 4e-15 of
    a loss of 0.9, and bounded the weight's gradient of 1.67e-13 at 6.6e-11 at every step tried; its negation
    passed. The weight's own steps never change that sample: the losses they subtract are rounded at ε·C, and
    growing steps bounded by that rounding resolve it. The negation fails; the correct backprop passes."""
    net, spec = _case("layernorm_rounding_a_weight_never_touches")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W = correct.tensor("W0")
    at = (1, 0, 1, 1)
    exact = W.values["backprop"][at]
    assert 1e-13 < exact < 2e-13
    assert abs(W.values["numeric"][at] - exact) <= W.bound[at] < 0.5 * abs(exact)

    negated = check_network(net, _changed(spec, 0, "W", lambda g: g * np.where(np.arange(g.size) == 7, -1.0, 1.0)
                                           .reshape(g.shape)), symbolic="off")
    assert not negated.passed and negated.tensor("W0").verdict("impl")[at] == "wrong"


def test_an_output_weight_below_its_layers_rounding_is_resolved():
    """A tanh output layer at z = −12 and −5.3 under a quadratic loss of 1.4e-9: the layer's rounding, measured by
    moving all its params at once (the steeper unit's among them), is 4.2e-21, and it hid the first unit's weight
    gradient of 5.7e-21; its doubling passed. That weight moves the first unit's share of C only, rounded at
    ε·C = 3e-25: growing steps bounded by that resolve it to 2.4e-23. The doubling fails; the correct backprop
    passes, within the bound of the exact value (mpmath, 60 digits: 5.700656e-21)."""
    net, spec = _case("output_weight_below_its_layers_rounding")
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    W = correct.tensor("W4")
    assert abs(W.values["numeric"][0, 0] - 5.700656330318118e-21) <= W.bound[0, 0] < 1e-2 * 5.7e-21

    doubled = check_network(net, _changed(spec, 4, "W", lambda g: g * np.array([[2.0, 1.0]])), symbolic="off")
    assert not doubled.passed and doubled.tensor("W4").verdict("impl")[0, 0] == "wrong"
