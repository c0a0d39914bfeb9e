"""check_function where f moves in steps far above an ulp of its value, or not at all: a saturated softmax loss.

CS231n's softmax loss, −log of a probability computed as exp(s_y − max)/Σ exp(s − max), is −log(1.0) = 0 exactly
where the right score leads by 40 or more, at x and at every step, while its exact gradient is 1e-30 to 1e-156;
where it leads by 20, the loss is 2e-10 and moves only in steps of an ulp of that probability, 5.5e-17. The finite
differences of such an f say 0, or nothing, about slopes of 1e-11 and below: a correct gradient must not fail, and a
gross slip must still be caught.
"""

import numpy as np
import pytest

from gradcheck import check_function


def _softmax_loss(X, y):
    def loss_and_grad(W):
        s = X @ W
        s = s - s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        n = X.shape[0]
        d = p.copy()
        d[np.arange(n), y] -= 1
        return -np.log(p[np.arange(n), y]).sum() / n, X.T @ d / n
    return (lambda W: loss_and_grad(W)[0]), (lambda W: loss_and_grad(W)[1])


# Scores 300 to 770 apart: the loss is 0 exactly.
ZERO = (np.array([[67.39748304411016, -108.17614470270681], [-51.22247058992477, -54.164547986438805]]),
        np.array([[-2.006588577190624, -2.0949171553513564], [4.44831315859278, -4.773090367713138]]), [1, 0])
# One sample's scores 21.6 apart: the loss is 2.1e-10, in steps of 5.5e-17.
STEPPED = (np.array([[26.06698356079532, 63.12956850404158], [13.165259128052607, 6.420530090455633],
                     [-13.548437626031468, 44.00878330390167], [33.44047739315752, -43.89239838082466]]),
           np.array([[0.4669051090976256, 0.883917206106219, 1.792067761184917, -1.8507709522834699],
                     [3.2253862209189923, 0.11766936744484119, -0.3439092264498271, 1.5586893653177487]]), [1, 0])


# Scores 13.9 and 36.7 apart: the loss is 4.2e-7, smooth to 2e-23 along the line through every weight, and along
# one weight's axis it moves in steps of 1.1e-16, which only the finer line's measure shows.
AXIS = (np.array([[-181.76701558148144, -67.83645660470059, 140.04904324845882],
                  [-203.25906314579763, -65.20534622214873, -135.5370871573982],
                  [98.83234553246074, -168.3122345179093, -119.22686405040147],
                  [35.89630293041816, 129.03750348859327, 190.5066411383246]]),
        np.array([[0.23138230203088248, 0.12975306947731538, -0.11236628219397835, 0.05288735126450528],
                  [0.17926874586049596, -0.04859276276854359, 0.014239695069774003, -0.2413547830683119]]), [2, 2])


# Scores 27.8 to 90.6 apart: the loss is 2.7e-13, and one weight moves it by 0, −7.4e-17, 7.4e-17 and −7.4e-17 at
# ±h and ±2h, whole steps of a probability within an ulp or so of 1; the kink tests' finer steps, flat to the bit,
# resolved its slope of 2e-13 to 0 ± 2e-23.
CLIMB = (np.array([[-21.239808193344924, 11.954045135864723], [-0.2764719398069159, 9.675388028628289],
                   [-11.026969946228526, -1.472537514088515], [17.92073244218661, -7.879215110063423]]),
         np.array([[1.0639165814403493, 1.2599878848112247, -0.12058870203573145, -1.6997040809323372],
                   [-0.7435339184355795, 0.2865714902712752, -0.5190794577964654, 0.040628871588245984],
                   [-1.088312733599148, -1.9285901894213504, -1.079375472212644, -0.4017922279468257]]), [1, 0, 0])


# Scores 18.2 to 402 apart: the loss is 8e-9 and climbs 34 whole steps of 1.1e-16 between the usual line's points, so
# regularly that the line measures a rounding of 5e-25; the step levels went down to steps where it no longer moved
# and kept 0 ± 2e-13 for a slope of −8e-9 that ±h showed.
REGULAR = (np.array([[11.840630959760158, -198.61197530979933, 62.46371408676188],
                     [237.77451939753857, -57.80084420948402, -125.46385475202872],
                     [-95.30783987188485, 114.29701170190087, 118.52797464175522],
                     [-34.254083649174156, -15.82284397941932, -32.498524438504965]]),
           np.array([[-0.14464351287961644, 1.0275355170007257, -0.10981434733304678, 0.9650564451217639],
                     [0.9996500320404575, 0.060226933414148635, -0.22058345685447323, 0.27690297711052847]]), [0, 0])
# Scores 26.1 and 184.3 apart: the loss is 1.6e-12, and one weight moves it by 11, −10, 22 and −21 whole steps of
# 1.1e-16 at ±h and ±2h; the kink tests' tenfold finer step, where it moves by one step, kept 1.064e-11 ± 7e-22 for
# a slope of 1.138e-11.
MANY = (np.array([[-19.72587567248885, -6.24982228717752, -13.535719617916751],
                  [10.597649990763351, -11.652747804380862, -9.634452648435124],
                  [-0.5959902722753259, 16.025807705655744, 5.2733155669476455],
                  [-25.17716224249858, -17.2309482608955, -7.10825554639843]]),
        np.array([[-5.3697204186228005, 11.967349869732638, 4.210319135807547, 3.6500053247116893],
                  [25.814856533625573, 4.488537629856023, -12.279138083286663, 7.259129663401376]]), [0, 2])
# Three samples, scores 21 to 77 apart: the loss is 2.4e-10, and every change of it at ±h and ±2h is a whole number
# of 3.7e-17 (34 to 372 of them); finer steps, where it moves by a step or two, kept slopes 0.5% to 1.4% off with
# bounds of 1e-22.
LATTICE = (np.array([[-16.094013170861935, -6.831585991340501], [-33.3026900933637, -7.321027874406821],
                     [17.9503436901754, 60.82396933681256], [-29.102148637514972, -50.37664229710786]]),
           np.array([[0.9872419312615082, -0.2182215265508641, 1.45916210920432, -0.546331983157224],
                     [-0.49680437511323455, 0.5246411154346401, 0.1418821183952067, -0.2785257091330367],
                     [0.27036375128538664, -0.04576511329220763, -0.6838712081433557, 0.5209396415808208]]),
           [1, 1, 0])
CASES = [ZERO, STEPPED, AXIS, CLIMB, REGULAR, MANY, LATTICE]
IDS = ["zero", "stepped", "axis", "climb", "regular", "many", "lattice"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_correct_gradient_of_a_saturated_softmax_loss_passes(case):
    W, X, y = case
    f, grad = _softmax_loss(X, np.array(y))
    r = check_function(f, grad, W)
    assert r.passed and r.counts()["wrong"] == 0 and r.counts()["suspicious"] == 0, str(r)


def test_the_note_says_that_f_does_not_change_at_its_steps():
    W, X, y = ZERO
    f, grad = _softmax_loss(X, np.array(y))
    r = check_function(f, grad, W)
    flat = [note for note in r.notes if "does not change at the steps taken" in note]
    assert len(flat) == 1 and flat[0].startswith("2 element(s) inconclusive"), r.notes
    assert "log1p" in flat[0]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_gross_slip_of_a_saturated_softmax_loss_is_caught(case):
    W, X, y = case
    f, grad = _softmax_loss(X, np.array(y))
    flat = np.abs(grad(W)) < 1e-9
    r = check_function(f, lambda W: grad(W) + flat * 1e-3, W)  # 1e-3 where the slope is below 1e-9
    assert not r.passed, str(r)
    verdicts = r.tensors[0].verdict("analytic")
    assert np.isin(verdicts[flat], ["wrong", "suspicious"]).all(), str(r)


@pytest.mark.parametrize(("slope", "verdict"), [(1.0, "wrong"), (1e-9, "wrong"), (1e-11, "inconclusive"),
                                                (0.0, "good")])
def test_a_function_flat_to_the_bit_judges_a_slope_by_the_change_it_would_make(slope, verdict):
    # f = 0 at every point: a slope of 1e-9 would move it by 6e-15 at the default steps, beyond the rounding of
    # terms of order one; one of 1e-11 by 6e-17, within it.
    r = check_function(lambda v: 0.0 * float(np.sum(v)), lambda v: np.full(2, slope), np.array([0.5, -1.0]))
    assert list(r.tensors[0].verdict("analytic")) == [verdict] * 2, str(r)


def test_a_line_whose_changes_are_whole_multiples_of_one_step_is_no_staircase():
    # At x = 0 the steps are equal, and slopes of 4, 5 and 6 change f by 4h, 5h and 6h at ±h (8h, 10h, 12h at ±2h):
    # whole multiples of h, but scaling with the step as a line's do. The slip must still be caught.
    def f(v):
        return 1.0 + 4 * v[0] + 5 * v[1] + 6 * v[2]

    x = np.zeros(3)
    assert list(check_function(f, lambda v: np.array([4.0, 5.0, 6.0]), x).tensors[0].verdict("analytic")) == \
        ["good"] * 3
    r = check_function(f, lambda v: np.array([4.004, 5.0, 6.0]), x)
    assert list(r.tensors[0].verdict("analytic")) == ["suspicious", "good", "good"], str(r)


# A score that leads by 20.7: p is 1 − 1e-9, −log p moves in steps of an ulp of p near 1 (1.1e-16), and along a
# weight whose gradient is 6.9e-11 those steps are 1.6e-6 apart, wider than the points that measure f's rounding
# along that weight reach (1.35e-4 of a step of 3e-5) and narrower than the step.
TREADS = (np.array([[-0.128407918554776, 0.05025935545294535, -0.06436881558316328],
                    [0.09144641340095058, -0.04659519594764752, 0.1502536385368451]]),
          np.array([0, 1]),
          np.array([[1.4330630235583788, 5.071657896134553], [22.448740302487934, 2.355017698410154],
                    [-285.0501229586542, 12.877166151196034]]))


def _exact_softmax_gradient(X, y):
    """The softmax loss's gradient in W with p_y − 1 taken as −Σ_{j≠y} p_j, which does not cancel."""
    def grad(W):
        s = X @ W
        e = np.exp(s - s.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        d = p.copy()
        others = p.copy()
        others[rows, y] = 0.0
        d[rows, y] = -others.sum(axis=1)
        return X.T @ d / len(y)
    return grad


def test_a_staircase_whose_treads_the_rounding_points_do_not_cross_leaves_no_element_wrong():
    # Steps chosen at 3e-5 read −6.8686e-11 ± 3e-20 for −6.8785e-11: the treads they cross were not in the bound.
    X, y, W = TREADS
    f, _ = _softmax_loss(X, y)
    r = check_function(f, _exact_softmax_gradient(X, y), W.copy())
    assert r.passed, str(r)
    assert r.counts()["wrong"] == 0 and r.counts()["suspicious"] == 0


def test_a_gross_slip_beside_treads_is_still_caught():
    X, y, W = TREADS
    f, _ = _softmax_loss(X, y)
    exact = _exact_softmax_gradient(X, y)
    r = check_function(f, lambda W: exact(W) * np.array([[1.0, 2.0], [1.0, 1.0], [1.0, 1.0]]), W.copy())
    assert not r.passed, str(r)
    assert r.tensors[0].verdict("analytic")[0, 1] == "wrong"
