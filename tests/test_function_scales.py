"""check_function where f turns far within the default steps: inputs of 1e12 to 1e16 under weights as much smaller.

The default step is relative to max(1, |x|), so a weight of 1e-14 multiplying inputs of 1e14 moves its unit's z by
6e8 at it: f is saturated, or far out on one piece of a relu, at every step of the first stencils. None of those
steps measures the slope at x, and the judge must neither fail a correct gradient from them nor pass a wrong one.
"""

import numpy as np
import pytest
from oracles import all_rounding

from gradcheck import check_function

ACTIVATIONS = {
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0) * 1.0),
    "softplus": (lambda z: np.logaddexp(0.0, z), lambda z: 0.5 * (1 + np.tanh(z / 2))),
}


def _problem(seed, scale, activation):
    """f(W) = ½‖V·act(W·X) − Y‖² with X of ``scale`` and W of 1/``scale``, and its gradient (W (4, 3), X (3, 5))."""
    rng = np.random.default_rng(seed)
    X, W = rng.normal(size=(3, 5)) * scale, rng.normal(size=(4, 3)) / scale
    V, Y = rng.normal(size=(2, 4)), rng.normal(size=(2, 5))
    act, slope = ACTIVATIONS[activation]

    def f(W):
        return 0.5 * float(np.sum((V @ act(W @ X) - Y) ** 2))

    def grad(W):
        z = W @ X
        return ((V.T @ (V @ act(z) - Y)) * slope(z)) @ X.T

    return f, grad, W


# Each failed a correct gradient before: a tanh's at 1e12 (all twelve elements found wrong from differences of a
# saturated f, its rounding measured as 0.04 where it is 1e-15), relus' (f far out on one piece at every step:
# one-sided slopes that held still, −1.6e14 for −3.7e13), and the rest at 1e16 (f's rounding found only on lines a
# million to a billion times finer than the usual one).
CASES = [(19, 1e12, "tanh"), (1, 1e14, "relu"), (3, 1e16, "softplus"), (0, 1e16, "tanh"), (1, 1e16, "relu")]


@pytest.mark.parametrize(("seed", "scale", "activation"), CASES)
def test_a_correct_gradient_passes_where_f_turns_within_the_default_steps(seed, scale, activation):
    f, grad, W = _problem(seed, scale, activation)
    r = check_function(f, grad, W)
    assert r.passed, str(r)
    assert r.counts()["wrong"] == 0


# A saturating f (tanh) far out at the kink tests' finest step leaves its elements unresolved: no step levels are
# taken from there without kink states (they cross a relu's turn unseen), and a slip is inconclusive, never good.
CAUGHT = [case for case in CASES if case[2] != "tanh"]


@pytest.mark.parametrize(("seed", "scale", "activation"), CASES)
def test_a_slip_is_caught_or_left_open_where_f_turns_within_the_default_steps(seed, scale, activation):
    f, grad, W = _problem(seed, scale, activation)
    exact = grad(W)
    element = int(np.argmax(np.abs(exact)))
    for change in (lambda g: -g, lambda g: g * 1.01):
        def slipped(W, change=change):
            g = grad(W).copy()
            g.flat[element] = change(g.flat[element])
            return g

        r = check_function(f, slipped, W)
        verdict = r.tensors[0].verdict("analytic").flat[element]
        assert verdict in (("wrong", "suspicious") if (seed, scale, activation) in CAUGHT else
                           ("wrong", "suspicious", "inconclusive")), str(r)
        blamed = {row.element for row in r.blame(n=0) if row.verdict in ("wrong", "suspicious")}
        assert blamed <= {f"x[{element // 3}, {element % 3}]"}, blamed


# Every element resolved once the undecided elements are estimated again at smaller steps where f's rounding, as
# finer lines measure it, is f's own (the usual line finds 0.29 where f turns between its points, and no element was
# estimated again: 6 to 12 of 12 inconclusive).
@pytest.mark.parametrize(("seed", "scale", "activation"), [(0, 1e8, "softplus"), (1, 1e8, "softplus"),
                                                          (1, 1e12, "relu")])
def test_every_element_is_resolved_where_f_turns_within_the_default_steps(seed, scale, activation):
    f, grad, W = _problem(seed, scale, activation)
    counts = check_function(f, grad, W).counts()
    assert counts["good"] == W.size, counts


def _batch(f):
    return lambda T: np.array([f(t) for t in T])


def test_f_turning_between_a_lines_points_is_not_taken_for_its_rounding():
    from gradcheck.numeric.noise import function_rounding, settled_rounding

    x = np.array([0.3e-12, -0.7e-12, 1.1e-12])
    f = _batch(lambda v: float(np.sum(np.tanh(1e12 * v))))  # z moves by 100 between the usual line's points
    coarse = max(function_rounding(f, x, f(x[None])[0], scale=1e-3)[:2])
    settled = max(settled_rounding(f, x, f(x[None])[0], scale=1e-3)[:2])
    assert coarse > 1e-3
    assert settled < 1e-14, settled


def test_a_rounding_that_is_f_own_stands():
    from gradcheck.numeric.noise import function_rounding, settled_rounding

    x = np.array([0.25, -1.5, 2.0])
    # The small difference of larger terms: a rounding of 1e4·ε at every spacing, not f's variation.
    f = _batch(lambda v: float(np.sum((1e4 + np.sin(v)) - 1e4)))
    line = function_rounding(f, x, f(x[None])[0], scale=1e-3)
    assert settled_rounding(f, x, f(x[None])[0], scale=1e-3) == line
    assert line[1] > 1e-14


def test_a_step_too_wide_for_f_whose_rounding_allows_no_finer_one_is_no_kink():
    # f a staircase of 1.2e-4 (the ulp of 1e12) whose tanh turns within 1e-8 of x: at the default step of 6e-6 its
    # differences bend as across a kink, and the rounding allows no finer step. One level's bend says f is not
    # smooth within the steps, not that a kink is at x: taken for one, its sides, 2.5e5, failed a slope of 9.9e7.
    x = np.array([1e-9, 0.5])

    def f(v):
        return float(np.sum((1e12 + np.tanh(1e8 * v)) - 1e12))

    def grad(v):
        return 1e8 * (1 - np.tanh(1e8 * v) ** 2)

    r = check_function(f, grad, x)
    assert r.passed and r.counts()["wrong"] == 0, str(r)
    negated = check_function(f, lambda v: -grad(v), x)
    assert negated.tensors[0].verdict("analytic")[0] in ("wrong", "suspicious", "inconclusive"), str(negated)


def test_an_analytic_value_that_agrees_with_the_first_difference_is_good_only_where_its_truncation_is_small():
    # f turns within a few hundred default steps (sin(k·x) with k·h = 0.0775): g(h) = f'·sin(kh)/(kh) is 1e-3 below
    # the slope, an analytic value 1e-3 below it agrees with g(h) to the last digits, and the slope it has no chance
    # to miss is not measured at all. The one-sided slopes at ±h turn by k·h·tan(k·x) of g(h) between them, more than
    # the first difference may turn for an agreement to stand: its bound takes g(h)'s truncation from the stencil at
    # 2h, a thousandth, and smaller steps resolve the element.
    from gradcheck.numeric.stencils import default_step

    x = np.array([3e-5, -4.5e-5, 6e-5])  # k·x of order one: sin rounds at ε
    k = 0.0775 / float(default_step(np.array([0.5]))[0])

    def f(v):
        return float(np.sum(np.sin(k * np.asarray(v))))

    def grad(v):
        return k * np.cos(k * v)

    kh = k * default_step(x)
    slipped = grad(x) * np.where(np.arange(3) == 1, np.sin(kh) / kh, 1.0)  # g(h) itself, 1e-3 off
    assert check_function(f, grad, x).passed
    r = check_function(f, lambda v: slipped, x)
    assert not r.passed, str(r)
    assert r.tensors[0].verdict("analytic")[1] in ("wrong", "suspicious"), str(r)


def test_an_element_beside_a_turn_no_step_resolves_is_not_estimated_by_blind_step_levels():
    # Without kink states, an element whose kink tests end unresolved (a relu's z within the finest step of 0 for
    # one sample) must stay inconclusive: step levels halving from that step cross the turn unseen, and kept
    # 4.17e11 ± 1.08e11 for a slope of 6.53e10 in a function of the same class, failing a correct gradient.
    f, grad, W = _problem(68, 1e12, "relu")
    r = check_function(f, grad, W)
    assert r.passed and r.counts()["wrong"] == 0, str(r)


def test_levels_are_not_taken_at_a_kink_at_x_whose_sides_agree():
    # A function that is all rounding at its minimum (softplus(u) − log 2 − u/2 at u = 0, a gradient of 0): its kink
    # tests found sides that held still and agreed, and step levels taken from there read a staircase of rounding as
    # a slope, 1.3e-9 ± 3.7e-10, failing the gradient of 0. Levels are taken where the element is smooth at a step,
    # not where a kink at x was found.
    A = np.array([[0.8068530811551692], [2.9576020319589844], [0.2924445988332438]])
    c = np.array([-0.2030373969333982])
    f, grad = all_rounding(A, c)
    r = check_function(f, grad, c.copy())
    assert r.passed and r.counts()["wrong"] == 0, str(r)


def test_a_gradient_of_zero_between_turns_closer_than_the_measured_rounding_allows_is_not_failed():
    # Every z below 0 (a gradient of exactly 0), one at −1.2e-3 under inputs of 1e12: every step the rounding
    # measured on lines allows (0.012: the lines cross the units' turns) turns units on, on both sides, and the
    # one-sided slopes there agreed by chance (−7.1e11 ± 3.1e10), which failed the gradient. At the steps f's own
    # rounding allows, f is flat: the element is unresolved between the two.
    X = np.array([[-1.2658145491203587e+11, 1.0660951369213588e+12, 5.0738989871134778e+11],
                  [-4.3993701007217029e+11, 1.1249423959132366e+12, 8.0288531424687378e+10]])
    V = np.array([[0.5218899729929806], [0.9841286658919498]])
    Y = np.array([[1.1300573127945437, 1.129291236868882, 1.6811692353339374],
                  [-2.322208162511899, -0.4413765546001912, -0.30339871499098764]])
    W = np.array([-4.304261553647479e-13, 1.266249914971256e-13])

    def f(W):
        return 0.5 * float(np.sum((V @ np.maximum(W.reshape(1, 2) @ X, 0.0) - Y) ** 2))

    assert (W @ X < 0).all()
    r = check_function(f, lambda W: np.zeros(2), W)
    assert r.passed and r.counts()["wrong"] == 0, str(r)
    # And a slip to the slopes the wide steps saw is not judged good.
    r = check_function(f, lambda W: np.array([-6.1e11, -7.1e11]), W)
    assert r.counts()["good"] == 0, str(r)


def test_a_relu_flat_within_the_first_steps_is_not_taken_for_a_kink_at_x():
    # Every z below 0 under inputs of 1e8 (a gradient of exactly 0), the nearest turns 5e-9 either side of W[0]: the
    # usual line crosses them, and its measure of f's rounding (0.06, for 1e-15) stopped the kink tests at 6e-8,
    # where f looks like a kink at x whose sides agree, and 2.3e8 ± 4.3e7 was kept. Along W[0]'s own axis, at its
    # first steps, f rounds at its own size, and the kink tests go on to where f is flat.
    V = np.array([[0.1476934016769135], [2.617140919781255]])
    W = np.array([-4.859040650149514e-09, -1.957247002375232e-09, -8.374573688306055e-09])
    X = np.array([[1597609.9388120852, 31767611.81200613, -136395275.19240072, 124674746.86207277],
                  [18983747.408219714, 142399241.58910736, 180109850.34422374, -4011796.3504409688],
                  [37413820.79271999, -31738966.324525453, 132535006.2074466, -17928975.7554061]])
    Y = np.array([[-0.4621260411720026, -0.10081760200001862, 1.094572292678931, -2.915053239832163],
                  [-1.19313434004234, 0.8604501691836095, -1.4247730532831449, -1.9320086492638628]])

    def f(w):
        return 0.5 * float(np.sum((V @ np.maximum(w.reshape(1, 3) @ X, 0.0) - Y) ** 2))

    assert (W @ X < 0).all()
    r = check_function(f, lambda w: np.zeros(3), W.copy())
    assert r.passed and r.counts()["wrong"] == 0, str(r)
    # A gross slip is caught at the step that confirms x is no kink (its bound, 2e5, is set by the slopes the wide
    # steps saw, 4e8); a slope of 1 stays inconclusive there.
    r = check_function(f, lambda w: np.array([1e7, 0.0, 0.0]), W.copy())
    assert not r.passed and r.tensors[0].verdict("analytic")[0] == "wrong", str(r)

def _unit_vector_loss(scale):
    """f(x) = dout·x/‖x‖ at x of ``scale`` (scale-invariant: it turns within ‖x‖ of x), and its exact gradient."""
    rng = np.random.default_rng(3)
    x, dout = rng.normal(size=4) * scale, rng.normal(size=4)

    def f(v):
        return float(dout @ v / np.sqrt(v @ v))

    def grad(v):
        n = np.sqrt(v @ v)
        return dout / n - v * (dout @ v) / n ** 3

    return f, grad, x


@pytest.mark.parametrize("scale", [1e-10, 1e-14, 1e-18])
def test_a_slip_is_caught_where_f_turns_within_a_millionth_of_the_first_steps(scale):
    # The default steps (6e-6) go a million times as far as x itself or more: f sits on plateaus at every step of
    # the first six refinements, whose slopes grow tenfold a level; the refinement stopped there, unresolved, and
    # a slip of a thousandth was inconclusive. Where the slopes seen over plateaus grow a hundredfold, up to twelve
    # refinements more reach steps within x's scale.
    f, grad, x = _unit_vector_loss(scale)
    r = check_function(f, grad, x)
    assert r.passed, str(r)
    assert r.counts()["inconclusive"] == 0, str(r)
    g = grad(x)
    g[1] *= 1.001
    slip = check_function(f, lambda v: g.copy(), x)
    assert not slip.passed and slip.tensors[0].verdict("analytic")[1] in ("wrong", "suspicious"), str(slip)
