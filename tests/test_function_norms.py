"""check_function and check_layer on normalisations over few values: CS231n's layernorm and batchnorm (tests/impls).

A norm over values that differ by a hair of their size (features 1e-9 apart under eps = 0) is a function that turns
within that hair: the default steps (6e-6 here) move one value far past the others, where x̂ no longer changes, and
the first stencils see only its plateaus. And computed in float64 the mean and variance of such values round in
the last bits of x, so that f is a staircase far above an ulp of its own size, whose treads are a few ulps of x wide
(over two features or two samples under eps = 0, where x̂ is ±1 and f constant, f is nothing else), along each one
axis, which a line moving every x at once need not see. The judge must neither fail a correct backward there nor
pass a wrong one.
"""

import numpy as np
import pytest
from impls.cs231n_layers import batchnorm_backward, batchnorm_forward, layernorm_backward, layernorm_forward

from gradcheck import check_function, check_layer
from gradcheck.numeric.noise import odd_ulps

NO_EPS = {"eps": 0.0}

# Two samples whose three features are 1e-9 apart (σ 5e-10 about a mean of 0.013 and of −0.023).
LN_X = np.array([[0.013369282061770741, 0.01336928332495935, 0.013369282471446703],
                 [-0.022510790407207017, -0.02251079129859343, -0.022510790193911466]])
LN_GAMMA = np.array([-2.0603697197223485, 5.43645336880869, 4.893029493442248])
LN_DOUT = np.array([[-1.0351249277678982, -0.22342456086288198, 0.8659414465676081],
                    [-0.6875075119577723, 2.3704275443916223, -0.5989368088341426]])

# Two samples 1e-8 and 1.4e-7 apart in each feature: with eps = 0, x̂ is ±1 whatever x is, and the exact gradient is
# 0; computed, f steps by 1.9e-12 (7e6 ulps of f) as the last two bits of x[0, 1] go 0, 1, 2, 3.
BN_X = np.array([[-0.08003262959790874, 0.10094878668127062], [-0.08003264023050621, 0.10094864903620465]])
BN_GAMMA = np.array([-0.038947856709863025, 0.03484033917278631])
BN_DOUT = np.array([[-0.08474063255303353, -0.609062393854467], [0.5460087919722822, 0.05580593307933914]])


# Two samples of one feature 1.04e-6 apart about 3.9, within the first steps (2.4e-5): under eps = 0, x̂ is ±1 and
# the exact gradient 0; f jumps where the samples cross, and computed it steps by 1.2e-8 (2.6e7 ulps of f) as the
# last bits of x go 0, 1, 2.
BN1_X = np.array([[3.9261406681910396], [3.926141709054031]])
BN1_GAMMA = np.array([-7.199573405032652])
BN1_DOUT = np.array([[1.3191785566157954], [0.6668635593150053]])

# Two samples of two features, 3.0e-10 and 6.6e-11 apart, under eps = 0: the exact gradient is 0; computed, f rounds
# its means by 7e-10 within 1e-11 of x, and by 2e-11 at 2e-8, in treads about 1e-12 wide whose rounding is smooth
# within them (a slope of 2.4 along x[0, 0]).
BN2_X = np.array([[0.013816193079486396, 0.05267760959526666], [0.013816192777865798, 0.05267760966155571]])
BN2_GAMMA = np.array([0.14696771593912578, 0.17945260641627386])
BN2_DOUT = np.array([[-0.7542261393662643, 0.3406296495718783], [-0.10723813750177627, 0.44269615265353285]])

# Three samples of two features each, under eps = 0: x̂ is ±1 whatever x is, and the exact gradient is 0; computed, f
# steps by 1,318 ulps of f as the last two bits of x[2, 1] go 0, 1, 2, 3, a staircase along each one axis that the
# line moving every x at once does not see (it climbs by 8 ulps a point).
LN2_X = np.array([[448.38253520124226, 448.38004515952264], [-75.74904628403159, -75.72695588090026],
                  [1926.6799541709215, 1926.741562598436]])
LN2_GAMMA = np.array([-0.050074460736008616, 0.07406781505795107])


# Values about 1e-8 of their size apart (features 1e-8 apart about 2.6; samples 6e-5 apart about 1.4e4): f turns
# within that spread, far within the first steps and within every line that measures f's rounding but the finest.
HAIR = {
    "layernorm": (np.array([[2.581270143633677, 2.5812701608942814, 2.5812701463554455],
                            [9.900486702125658, 9.900486703993641, 9.900486704337773]]),
                  np.array([4.008095017419139, 15.105850012697163, -4.987164575376186]),
                  np.array([[-0.7910859613753503, -0.2635608966597062, 0.8282629010626527],
                            [-1.037658603666972, -0.6790848351852463, -0.7322034464683861]])),
    "batchnorm": (np.array([[-13787.355713338085, -12149.966980119365], [-13787.355670370585, -12149.966967284005],
                            [-13787.355737314732, -12149.966982785516]]),
                  np.array([-0.006638779217021737, 0.09665129206941139]),
                  np.array([[0.4908450428939448, -1.6010637924542874], [0.6435499447680171, -0.4397130683561791],
                            [-0.31050966972479815, 0.20780586090473438]])),
}


def _loss(forward, backward, gamma, dout):
    """(f, its CS231n gradient in x) of Σ dout·norm(x) for the layer ``forward``/``backward``, β = 0, eps = 0."""
    def f(x):
        return float(np.sum(forward(x, gamma, np.zeros(len(gamma)), NO_EPS)[0] * dout))

    def grad(x):
        return backward(dout, forward(x, gamma, np.zeros(len(gamma)), NO_EPS)[1])[0]

    return f, grad


def _layernorm_loss(gamma, dout):
    return _loss(layernorm_forward, layernorm_backward, gamma, dout)


def _batchnorm_loss(gamma, dout):
    return _loss(batchnorm_forward, batchnorm_backward, gamma, dout)


def _assert_a_batchnorm_gradient_of_zero_passes(x, gamma, dout, gradient):
    """Σ dout·batchnorm(x) over two samples under eps = 0, whose exact gradient is 0, checked with that 0
    (``gradient`` "zeros") or with CS231n's backward ("cs231n"): no element wrong."""
    f, grad = _batchnorm_loss(gamma, dout)
    r = check_function(f, (lambda v: np.zeros_like(v)) if gradient == "zeros" else grad, x.copy())
    assert r.passed, str(r)
    assert r.counts()["wrong"] == 0


def test_a_layernorm_over_features_a_hair_apart_passes():
    # Its first steps saw plateaus, slopes of 1e6 that grew tenfold at each refinement; the refinement stopped where
    # f's rounding reached a thousandth of those first slopes, at steps of 6e-10, still wider than σ, and a last
    # level whose bounds swamped its sides (3.4e8 ± 4.1e8) let the first level's sides stand as a kink at x:
    # −1.29e9 judged wrong against 1.4e6 and −8.5e6.
    f, grad = _layernorm_loss(LN_GAMMA, LN_DOUT)
    r = check_function(f, grad, LN_X.copy())
    assert r.passed, str(r)
    assert r.counts()["wrong"] == r.counts()["kink"] == 0


@pytest.mark.parametrize("seed", range(3))
def test_a_layernorm_over_features_a_hair_apart_passes_check_layer(seed):
    r = check_layer(layernorm_forward, layernorm_backward, LN_X.copy(), LN_GAMMA, np.zeros(3), NO_EPS, seed=seed)
    assert r.passed, str(r)
    assert r.counts()["wrong"] == r.counts()["kink"] == 0


@pytest.mark.parametrize("seed", range(1, 4))
def test_a_layernorm_over_two_features_that_rounds_in_the_last_bits_of_x_passes_check_layer(seed):
    # The steps chosen for an element that disagreed were bounded by the line's rounding, 1.4e-17, and read
    # −6e-13 ± 5e-14 from that staircase for a gradient of 0 (a slope of dx[2, 1] failed, seeds 1 to 3).
    r = check_layer(layernorm_forward, layernorm_backward, LN2_X.copy(), LN2_GAMMA, np.zeros(2), NO_EPS, seed=seed)
    assert r.passed, str(r)
    assert r.counts()["wrong"] == 0


@pytest.mark.parametrize("norm", sorted(HAIR))
def test_a_norm_that_turns_within_every_line_but_the_finest_passes(norm):
    # f's rounding as the lines measure it was f turning (0.13 and 5e-3), which let the kink tests refine no step,
    # and the step levels from the first steps read its plateaus as slopes: −6e4 ± 1e5 for 1e7, −0.07 ± 0.55 for
    # −71.5.
    x, gamma, dout = HAIR[norm]
    f, grad = (_layernorm_loss if norm == "layernorm" else _batchnorm_loss)(gamma, dout)
    r = check_function(f, grad, x.copy())
    assert r.passed, str(r)
    assert r.counts()["wrong"] == 0


def test_a_refinement_that_reaches_where_f_is_nan_keeps_the_slopes_it_saw():
    # Two features 7e-8 apart under eps = 0: x̂ is ±1 and the exact gradient 0. The kink tests' steps, refined past
    # f's plateaus, came to where a step makes the two features equal, 0/0; the NaN slopes there made the element's
    # interval NaN, a numeric gradient "undefined", and the check failed.
    x = np.array([[21.697480180485723, 21.697480174372014], [-16.20698691364703, -16.206987188251844],
                  [14.540503860681056, 14.540503930756403]])
    f, _ = _layernorm_loss(np.array([0.009659508025452804, 0.44021118123114555]),
                           np.array([[0.9346949205660157, 0.7157083434910642],
                                     [0.6455844996654224, -1.0070345062056723],
                                     [-1.664141841063912, -1.3442243995470002]]))
    r = check_function(f, lambda v: np.zeros_like(v), x)
    assert r.passed, str(r)
    assert not r.problems, r.problems


def test_the_refinement_past_plateaus_stops_short_of_the_sawtooth_of_fs_rounding():
    # Two samples 7e-11 apart under eps = 0: f is constant but for a jump where a step makes them trade places, and
    # for a rounding of 4e-8 that its lines do not see (they measure 6e-17). The refinement past the jump's plateau
    # went down to steps of 4 ulps, where f as computed is a sawtooth whose slope, 629, failed a gradient of 0.
    x = np.array([[-0.024213332580443114, 0.016171374447163014, -0.10688860668832215],
                  [-0.024213332503178912, 0.016171374497834876, -0.10688860661835937]])
    f, _ = _batchnorm_loss(np.array([-0.15175153651676668, -0.38906740984317123, 0.29073966742041524]),
                           np.array([[0.9675102677863948, 1.1555586903105943, -0.34196911890823994],
                                     [0.23801411600065545, -0.2599474702076633, 1.1055262958673]]))
    r = check_function(f, lambda v: np.zeros_like(v), x)
    assert r.passed, str(r)
    assert r.counts()["wrong"] == 0


@pytest.mark.parametrize("slip", [-1.0, 1.001, 0.0])
def test_a_slipped_layernorm_gradient_is_not_judged_good(slip):
    f, grad = _layernorm_loss(LN_GAMMA, LN_DOUT)
    g = grad(LN_X)
    at = np.unravel_index(np.argmax(np.abs(g)), g.shape)
    g[at] *= slip
    r = check_function(f, lambda x: g.copy(), LN_X.copy())
    assert not r.passed, str(r)
    assert r.tensors[0].verdict("analytic")[at] != "good"


@pytest.mark.parametrize("gradient", ["zeros", "cs231n"])
def test_a_batchnorm_over_two_samples_that_rounds_in_the_last_bits_of_x_passes(gradient):
    # Its rounding was measured along each element's axis at points 5,896 ulps apart, a multiple of four, all on one
    # tread: 1e-18, and a slope of 1.4e-5 read between treads was kept with a bound of 4e-9 for a gradient of 0.
    _assert_a_batchnorm_gradient_of_zero_passes(BN_X, BN_GAMMA, BN_DOUT, gradient)


@pytest.mark.parametrize("gradient", ["zeros", "cs231n"])
def test_levels_below_a_crossing_of_two_samples_measure_the_rounding_on_whole_ulps(gradient):
    # The kink tests refine past the crossing to 3.3e-13; step levels from there measured f's rounding at points
    # 1.35e-4 of that step apart, all of them x itself, and kept 1.37e7 ± 0 from steps of one ulp for a gradient of 0.
    _assert_a_batchnorm_gradient_of_zero_passes(BN1_X, BN1_GAMMA, BN1_DOUT, gradient)


@pytest.mark.parametrize("gradient", ["zeros", "cs231n"])
def test_finer_estimates_keep_the_rounding_the_kink_tests_measured_near_x(gradient):
    # The kink tests' own-axis measure near x bounded x[0, 0] at 2.4 ± 136; levels from the default steps over
    # 1,000, whose measure of f's rounding is taken 2e-8 away, read the tread's slope near x as 2.41 ± 0.39.
    _assert_a_batchnorm_gradient_of_zero_passes(BN2_X, BN2_GAMMA, BN2_DOUT, gradient)


@pytest.mark.parametrize("seed", range(3))
def test_a_batchnorm_over_two_samples_passes_check_layer(seed):
    r = check_layer(batchnorm_forward, batchnorm_backward, BN_X.copy(), BN_GAMMA, np.zeros(2), NO_EPS, seed=seed)
    assert r.passed, str(r)


def test_a_wrong_batchnorm_backward_over_two_samples_is_caught():
    # μ and σ treated as constants: dx = dout·γ/σ, of the order of 1e5 here, where the true dx is 0.
    from impls.cs231n_layers import batchnorm_backward_constant_stats

    r = check_layer(batchnorm_forward, batchnorm_backward_constant_stats, BN_X.copy(), BN_GAMMA, np.zeros(2), NO_EPS)
    assert not r.passed, str(r)


def test_odd_ulps_takes_the_last_bits_through_every_pattern():
    ulp = np.spacing(0.1)
    spacing = odd_ulps(np.array(5896.0 * ulp), ulp)
    points = 0.1 + np.arange(8) * spacing
    assert len({round((p - 0.1) / ulp) % 4 for p in points}) == 4
    assert np.all(odd_ulps(np.array([-1e-20, 3.0, -4.0]), 1.0) == [-1.0, 3.0, -5.0])


# Four samples of two features 2e-9 to 7e-9 apart, under eps = 0: x̂ is ±1 and rounds by 1e-7 within that spread.
LN4_X = np.array([[-0.3741332401915874, -0.3741332467434558], [0.051659198776952436, 0.05165919458529683],
                  [-0.0204181252588268, -0.02041812774858756], [-0.5399787094962013, -0.5399787055957745]])
LN4_GAMMA = np.array([-0.8087856558465684, 0.2486730785415107])
LN4_BETA = np.array([-0.5595563285572672, -1.134438482313037])


def test_a_wrong_layernorm_backward_where_f_rounds_most_near_x_is_caught():
    # μ and σ as constants: dx of 1e8 where the true dx is 0. f's rounding measured along an axis where its first
    # steps go (2h, where the features are far apart) is far below what the refinements meet near x, and bounded by
    # it they read the rounding as slopes of 1e8 and left the backward inconclusive.
    from impls.cs231n_layers import layernorm_backward_constant_stats

    r = check_layer(layernorm_forward, layernorm_backward_constant_stats, LN4_X.copy(), LN4_GAMMA, LN4_BETA, NO_EPS,
                    seed=200)
    assert not r.passed, str(r)
