"""An element whose kink is nearer than any step float64 resolves is inconclusive where its value lies between the
slopes its steps saw: every chord averages the pieces on both sides of the kink, so the derivative at θ itself (here
0) is never measured. Where those steps crossed one same kink, on one side of θ only, a value beyond the slopes seen
is wrong."""

from __future__ import annotations

import numpy as np

from gradcheck import check_network, load_spec
from gradcheck.defaults import MARGIN
from gradcheck.numeric.perturbed import Perturbed
from gradcheck.reference.backprop import backprop

# A network a property test drew: unit 1 of the relu layer (layer 3) has z ≈ −5e-13 and −2e-13 on its samples
# (weights 1e-12 and −1e-38): its weights' derivative at θ is exactly 0, while every step the loss's rounding allows
# crosses relu's kink on one side or on both.
NEAR = {"input": {"steps": 1, "vocab": 3}, "layers": [{"type": "embedding", "dim": 3}, {"units": 2, "activation": "elu"}, {"type": "flatten"}, {"units": 4, "activation": "relu"}, {"units": 3, "activation": "tanh"}], "loss": "mse", "convention": "row", "bias": "none", "batch": 3, "seed": 31, "params": [{"W": [[0.08886991889981588, -0.034568753856933254, -0.8452242731350035], [1.1754943508222875e-38, -0.3333333333333333, -0.3333333333333333], [-0.3333333333333333, -0.6774906158201279, -0.7115378516776154]]}, {"W": [[0.5835113679358837, 0.8827993350408887], [0.06051834131244132, -0.028540849651178535], [0.7607446827927533, -3.480337509512998e-22]]}, {}, {"W": [[-6.103515625e-05, 1e-12, -4.609954647694627e-201, -0.7784893584990988], [-0.43960757115824733, -1.1754943508222875e-38, 0.43710694069119627, -6.103515625e-05]]}, {"W": [[0.05122412074124738, -0.14270067648204132, -5.009200507707879e-51], [-0.07465849512296141, -0.8742712037398395, 0.0006587491615298378], [0.20357639878718792, -0.24360983539211545, 0.3233686150467674], [0.06215824843966655, 3.112134461287077e-77, 0.5827994886890848]]}], "data": {"X": [[2], [2], [1]], "Y": [[0.26021054539049504, 0.1, 0.8038380381258339], [0.520902950516819, -0.6696209811026912, -5.960464477539063e-08], [4.762491502208825e-76, 0.5858900590031602, 0.47097561792346476]]}}  # noqa: E501 - the drawn example as it is


def test_a_correct_zero_next_to_an_unresolvable_kink_is_not_failed():
    spec = load_spec(NEAR)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    assert np.all(grads[3]["W"][:, 1] == 0)  # z < 0 at θ on every sample
    result = check_network(spec, symbolic="off")
    assert result.passed, str(result)
    verdicts = result.tensor("W3").verdict("backprop")
    assert set(verdicts[:, 1]) <= {"inconclusive", "good"}


def test_a_wrong_value_elsewhere_in_the_same_network_still_fails():
    spec = load_spec(NEAR)

    def impl(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads[4]["W"] = grads[4]["W"].copy()
        grads[4]["W"][0, 0] *= 1.5  # a resolvable element of the tanh layer, away from any kink
        return grads

    result = check_network(spec, impl, symbolic="off")
    assert not result.passed
    assert result.tensor("W4").verdict("impl")[0, 0] == "wrong"


# A convolution drawn by the corner strategies: leaky_relu (slope 1.31, a concave kink) at z = −1e-6 beside exact
# ties, then batchnorm and a max pool. Along W0[0, 0, 0, 1] − W0[0, 0, 0, 2] the one-sided derivatives at the joint
# test's steps (1e-5 and 1e-6) are bent by the near kink and move between the steps; at 1e-8 they hold still at
# −4.58 and −4.36: a kink at θ, where no smooth test applies.
TIED = {"name": "tied_kinks_beside_a_near_kink", "input": [2, 5, 5], "layers": [{"type": "conv2d", "filters": 2, "kernel": 4, "stride": 1, "padding": 1, "activation": "leaky_relu", "slope": 1.31}, {"type": "batchnorm"}, {"type": "maxpool2d", "size": 4, "stride": 2}, {"type": "flatten"}, {"units": 2, "activation": "tanh"}], "loss": "mse", "convention": "row", "batch": 3, "seed": 0, "params": [{"W": [[[[-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260]], [[-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260]]], [[[-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260]], [[-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260], [-1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260, -1.267405223578318e-260]]]], "b": [-9.999999999732445e-07, 0.0]}, {"gamma": [1.0, 0.0], "beta": [-0.67578125, 0.0]}, {}, {}, {"W": [[0.515625, 0.0], [0.0, 0.0]], "b": [0.2109375, -0.3158420629601414]}], "data": {"X": [[[[0.0, 1.0, 0.0, 0.0, -2.0], [0.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [0.0, 0.0, -2.0, 0.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0]], [[-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, 0.0, -2.0], [-2.0, -2.0, -2.0, -2.0, 1.1665272187155251], [-2.0, -2.0, 0.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0]]], [[[-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [0.0, -2.0, 0.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0]], [[-2.0, -2.0, 1.1, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0]]], [[[-2.0, 0.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, 0.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0]], [[-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, 0.4796900311666126, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0], [-2.0, -2.0, -2.0, -2.0, -2.0]]]], "Y": [[0.0, -0.375], [0.0, -0.375], [-0.375, -0.375]]}}  # noqa: E501 - the drawn example as it is


def test_slopes_that_move_between_the_joint_tests_steps_decide_nothing():
    result = check_network(TIED, symbolic="off", trace_code=False)
    assert result.passed, str(result)
    spec = load_spec(TIED)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    grads[4]["W"][0, 1] *= 1.5  # a wrong value away from the kinks is still caught
    wrong = check_network(TIED, lambda p, X, Y: grads, symbolic="off", trace_code=False)
    assert not wrong.passed and wrong.tensor("W4").verdict("impl")[0, 1] == "wrong", str(wrong)


# Drawn by a property test: three samples with z = 0 exactly at an elu with α = 1 (differentiable, its second
# derivative jumps), one with z = 4.6e-6.
ELU_AT_ZERO = {"input": 2, "layers": [{"units": 1, "activation": "elu"}], "loss": "mse", "convention": "column",
               "bias": "separate", "batch": 4, "seed": 0, "params": [{"W": [[0.375, 0.0]], "b": [0.0]}],
               "data": {"X": [[0.0, 1.75], [0.0, 1.0], [0.0, 1.0], [1.2345678901234568e-05, 1.0]],
                        "Y": [[0.0], [0.0], [0.0], [0.0]]}}


def test_a_jump_of_the_second_derivative_at_the_point_fails_no_correct_gradient():
    assert check_network(ELU_AT_ZERO, symbolic="off").passed
    spec = load_spec(ELU_AT_ZERO)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    grads[0]["W"][0, 1] *= 2.0
    wrong = check_network(ELU_AT_ZERO, lambda p, X, Y: grads, symbolic="off", trace_code=False)
    assert not wrong.passed, str(wrong)


# Drawn by benchmarks/sweep_near_kinks.py (seed 3): the relu unit's z for sample 0 is 1.6e-14 above 0, and every step
# the loss's rounding allows along b0 crosses that kink, on θ's lower side only.
ONE_KINK = {"input": 3, "loss": "mse", "batch": 3, "layers": [{"units": 1, "activation": "relu"}, {"units": 1, "activation": "linear"}], "params": [{"W": [[-1.909100510236264, -0.36991473647090195, 1.3758126432831452]], "b": [-1.75316603242408]}, {"W": [[-1.8075280260718596]], "b": [0.7502006181800082]}], "data": {"X": [[-0.636597508892728, 0.8737318077714875, 0.6258436997243708], [0.36996772984435566, -1.9492810670167267, 0.6033297509887972], [0.6453078134813879, -0.9166214341419721, 1.6677427529142066]], "Y": [[0.8078658496486658], [1.223719337019241], [1.1283747206987926]]}}  # noqa: E501 - the drawn example as it is


def _with_b0(value):
    spec = load_spec(ONE_KINK)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, grads = backprop(spec, params, X, Y)
    grads[0]["b"][0] = value
    return check_network(ONE_KINK, lambda p, X, Y: grads, symbolic="off", trace_code=False)


def _exact_b0():
    spec = load_spec(ONE_KINK)
    _, grads = backprop(spec, spec.parameters(), *spec.batch_data())
    return float(grads[0]["b"][0])


def test_a_value_beyond_the_slopes_seen_is_wrong_where_the_steps_crossed_one_kink():
    """The correct 0.0695 passes; its negation lies beyond both slopes the steps saw (θ's piece and the next) and is
    wrong; half of it lies between them, where the derivative at θ is never measured, and stays inconclusive."""
    result = check_network(ONE_KINK, symbolic="off")
    b0 = result.tensor("b0")
    assert result.passed and b0.unresolved[0] and b0.bracketed[0], str(result)
    # inconclusive beside the kink, and said so: not "a more accurate method" (no method resolves it)
    assert b0.unjudged("near_kink") == 1 and b0.verdict("backprop")[0] == "inconclusive"
    assert any("beside a kink closer than any step resolves" in note for note in result.notes), result.notes
    exact = _exact_b0()
    for value, wanted in ((-exact, "wrong"), (exact / 2, "inconclusive")):
        assert _with_b0(value).tensor("b0").verdict("impl")[0] == wanted, value


# Built: the relu unit of layer 1 has z = 1e-17 and the one of layer 0 z = 2e-14; lowering b0 turns the first off
# 3e-18 away (below b0's ulp: a kink at θ as far as float64 tells) and then the second, and raising it crosses
# nothing. The slope between the two kinks, a valid one-sided derivative at θ, is never measured.
TWO_KINKS = {"input": 1, "loss": "mse", "batch": 1, "convention": "column", "layers": [{"units": 1, "activation": "relu"}, {"units": 2, "activation": "relu"}, {"units": 1, "activation": "linear"}], "params": [{"W": [[1.0]], "b": [-0.99999999999998]}, {"W": [[3.0], [1.0]], "b": [-5.994204332975845e-14, 1.0]}, {"W": [[-1.0, 1.0]], "b": [0.0]}], "data": {"X": [[1.0]], "Y": [[0.5]]}}  # noqa: E501


def test_where_the_steps_cross_two_kinks_a_value_beyond_the_slopes_seen_stays_inconclusive():
    result = check_network(TWO_KINKS, symbolic="off")
    b0 = result.tensor("b0")
    assert result.passed and b0.unresolved[0] and not b0.bracketed[0], str(result)
    spec = load_spec(TWO_KINKS)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    net = Perturbed(spec, params, X, Y)
    assert len(net.kinks_crossed(0, 1, -1e-5)) == 2 and net.kinks_crossed(0, 1, 1e-5) == frozenset()
    _, grads = backprop(spec, params, X, Y)
    grads[0]["b"][0] = b0.values["numeric"][0] + 2 * MARGIN * b0.bound[0]  # beyond every slope seen
    wrong = check_network(TWO_KINKS, lambda p, X, Y: grads, symbolic="off", trace_code=False)
    assert wrong.tensor("b0").verdict("impl")[0] == "inconclusive", str(wrong)


def test_the_kinks_a_step_crosses_are_counted_entry_by_entry():
    spec = load_spec(ONE_KINK)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    net = Perturbed(spec, params, X, Y)
    b = net.theta(0).size - 1  # b0[0], after W0's three
    assert net.kinks_crossed(0, b, 1e-13) == frozenset()  # away from the kink
    assert net.kinks_crossed(0, b, -1e-13) == frozenset({(0, 0)})  # sample 0's z across 0
    assert net.kinks_crossed(0, b, 100.0) == frozenset({(0, 1), (0, 2)})  # the other two samples' z across 0
