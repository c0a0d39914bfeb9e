"""Kinks: a step that crosses one next to θ shrinks past it, and at a kink at θ the values are judged together.

The wrong gradients here all passed once: a sign-flipped weight beside a relu's kink (any
value passed at an element flagged as a kink), a leaky-relu conv weight whose one-sided
slopes agree to ten digits, and a max-pool backward that sends the whole upstream
gradient to every tied entry (each entry alone lies between its own one-sided slopes).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracles import case, slipped

from gradcheck import check_network, load_spec
from gradcheck.checks.function import check_function, check_layer
from gradcheck.defaults import MARGIN
from gradcheck.reference.backprop import backprop

FEW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- networks ---------------------------------------------------------------------------------------------

def relu_net(z, x=1.0, w1=1.0, y=-1.0):
    """1 → relu → 1 with pre-activation z (W0 = 1, b0 = z − x), output weight w1, target y."""
    return load_spec({"input": 1, "layers": [{"units": 1, "activation": "relu"}, {"units": 1}], "loss": "mse",
                      "params": [{"W": [[1.0]], "b": [z - x]}, {"W": [[w1]], "b": [0.0]}],
                      "data": {"X": [[x]], "Y": [[y]]}})


def impl_with(spec, **changed):
    """The reference backprop with layer 0's gradients changed: W=f(dW), b=f(db)."""
    def impl(params, X, Y):
        _, grads = backprop(spec, params, X, Y)
        grads = [dict(g) for g in grads]
        for key, change in changed.items():
            grads[0][key] = change(grads[0][key])
        return grads
    return impl


@pytest.mark.parametrize("z", [1e-9, 1e-7, 1e-5])
def test_a_sign_flipped_weight_beside_a_relu_kink_fails(z):
    spec = relu_net(z)
    right = check_network(spec, impl_with(spec), symbolic="off")
    assert right.passed and right.tensor("W0").n_kinks == 0, str(right)
    flipped = check_network(spec, impl_with(spec, W=lambda g: -g), symbolic="off")
    assert not flipped.passed
    assert flipped.tensor("W0").verdict("impl")[0, 0] == "wrong" and flipped.tensor("b0").passed


def test_at_an_exact_kink_either_choice_of_relu_prime_passes_and_others_fail():
    spec = relu_net(0.0)  # z = 0 exactly: the loss's slopes along W0 and b0 are 0 (relu off) and 2 (on)
    assert check_network(spec, impl_with(spec), symbolic="off").passed  # relu'(0) = 0
    on = check_network(spec, impl_with(spec, W=lambda g: g + 2.0, b=lambda g: g + 2.0), symbolic="off")
    assert on.passed, str(on)  # relu'(0) = 1
    assert on.tensor("W0").verdict("impl")[0, 0] == "kink" and on.tensor("W0").n_kinks == 1
    outside = check_network(spec, impl_with(spec, W=lambda g: g - 2.0), symbolic="off")
    assert not outside.passed and outside.tensor("W0").verdict("impl")[0, 0] == "wrong"
    # Each value alone lies between its slopes, but relu'(0) = 1 for W and 0 for b is no choice at all: scaling
    # the unit's fan-in keeps z at 0 and the loss where it is, while this gradient says it moves at 2.
    mixed = check_network(spec, impl_with(spec, W=lambda g: g + 2.0), symbolic="off")
    assert not mixed.passed
    assert mixed.tensor("W0").verdict("impl")[0, 0] == "wrong" and mixed.tensor("b0").verdict("impl")[0] == "wrong"
    assert any("changes smoothly at 0" in d and "your gradient gives 2" in d for d in mixed.diagnosis), mixed.diagnosis


def leaky_conv(z_near):
    """conv2d (1 filter 2x2, leaky relu) → flatten → dense 1; conv output (0, 0) at ``z_near``, and that pixel's
    weight in the dense layer 1e-10: a step across the kink changes the loss's slope by 1e-10 of its size."""
    X = np.array([[[[1.0, 0.5, -0.3], [0.2, -1.0, 0.7], [0.4, 0.9, -0.6]]]])
    W = np.array([[[[0.5, -0.4], [0.3, 0.8]]]])
    b = z_near - float((W[0, 0] * X[0, 0, :2, :2]).sum())
    return load_spec({"input": [1, 3, 3], "loss": "sse", "convention": "row", "layers": [
        {"type": "conv2d", "filters": 1, "kernel": 2, "activation": "leaky_relu"}, {"type": "flatten"},
        {"units": 1}],
        "params": [{"W": W.tolist(), "b": [b]}, {}, {"W": [[1e-10], [0.7], [-0.5], [1.1]], "b": [0.1]}],
        "data": {"X": X.tolist(), "Y": [[0.3]]}})


@pytest.mark.parametrize("z", [0.0, 1e-7])
def test_a_leaky_relu_conv_weight_whose_slopes_agree_is_judged_like_any_other(z):
    spec = leaky_conv(z)

    def flip_first(g):
        g = g.copy()
        g[0, 0, 0, 0] *= -1
        return g

    assert check_network(spec, impl_with(spec), symbolic="off").passed
    r = check_network(spec, impl_with(spec, W=flip_first), symbolic="off")
    # judged like any other element: the flipped one wrong, the others good (at z = 0 they are still flagged as
    # sitting on a kink, where the reference backprop's own choice would also be accepted)
    assert not r.passed
    assert list(r.tensor("W0").verdict("impl").ravel()) == ["wrong", "good", "good", "good"]


@FEW
@given(st.floats(-9, -5), st.sampled_from([1.0, -1.0]), st.floats(0.3, 2.0), st.sampled_from([0.5, -1.5]))
def test_pre_activations_next_to_a_kink_correct_passes_flipped_fails(exponent, side, x, w1):
    z = side * 10.0 ** exponent
    spec = relu_net(z, x=x, w1=w1)
    right = check_network(spec, impl_with(spec), symbolic="off")
    assert right.passed, str(right)
    if z > 0:  # the unit is on: its gradients are not 0, so flipping them changes them
        flipped = check_network(spec, impl_with(spec, W=lambda g: -g, b=lambda g: -g), symbolic="off")
        assert not flipped.passed, str(flipped)


@pytest.mark.parametrize("z", [1e-11, 1e-12, 1e-13, 1e-14, 5e-15, -1e-12, -1e-14])
def test_a_kink_closer_than_every_first_step_is_stepped_past_where_float64_still_resolves_the_slope(z):
    """Every step of the first levels (down to 6e-12) crosses the kink, but finer ones do not, and the loss's rounding
    there is still a small part of the slope: the slope on θ's own side is measured, so the correct gradient passes and
    the middle of the two slopes, or the other side's slope, fails."""
    spec = relu_net(z)
    _, grads = backprop(spec, spec.parameters(), *spec.batch_data())
    active = 2.0 * (1.0 * max(z, 0.0) - (-1.0))  # dC/db0 with the unit on: 2·(w1·relu(z) − y)·w1
    right = check_network(spec, impl_with(spec), symbolic="off")
    assert right.passed and set(right.tensor("b0").verdict("impl").ravel()) <= {"good", "kink"}, str(right)
    for wrong in (active / 2, 0.0 if z > 0 else active):
        slipped = check_network(spec, impl_with(spec, b=lambda g, v=wrong: g * 0 + v), symbolic="off")
        assert not slipped.passed and slipped.tensor("b0").verdict("impl")[0] == "wrong", (z, wrong, str(slipped))
    assert grads[0]["b"][0] == pytest.approx(active if z > 0 else 0.0)


def test_a_function_whose_kink_is_closer_than_every_first_step_is_not_failed_where_it_is_right():
    """A leaky relu term of a function at z = −2.6e-12: the differences, with no kink states to say where a step
    lies, passed a chord across the kink for smooth once its jump was within their rounding tolerance, and the
    correct gradient failed (−1.773 against −1.795). Where the differences' bend does not shrink from level to level
    as a smooth function's does, the bound carries it."""
    A = np.array([[-0.34500935795527016], [0.6342753357070584], [-1.1983274436304276]])
    c = np.array([0.9615781348547943, 0.959838556264909, -0.8517849518382422])
    w = np.array([-1.1756115102897569, -2.360449054921319, -0.06256481205227905])
    x = np.array([-0.7108115201426871])

    def f(x):
        z = A @ x + c
        return float(w @ np.where(z > 0, z, 0.1 * z) + 0.5 * x @ x)

    def grad(x):
        z = A @ x + c
        return A.T @ (w * np.where(z > 0, 1.0, 0.1)) + x

    assert (A @ x + c)[2] == pytest.approx(-2.6e-12, rel=0.01)
    assert check_function(f, grad, x).passed
    assert not check_function(f, lambda x: -grad(x), x).passed  # a wrong gradient still fails


# -- a layer's backward and any function: max pooling -----------------------------------------------------

def max_pool_forward(x, pool_param):
    """CS231n's naive max pooling."""
    n, c, h, w = x.shape
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    out = np.zeros((n, c, (h - ph) // s + 1, (w - pw) // s + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward(dout, cache):
    """CS231n's naive backward: the upstream gradient goes to the window's argmax."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dout.shape):
        window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
        p, q = np.unravel_index(np.argmax(window), window.shape)
        dx[n, c, i * s + p, j * s + q] += dout[n, c, i, j]
    return dx


def max_pool_backward_to_every_tie(dout, cache):
    """The bug: ``(window == window.max()) * dout`` sends the whole gradient to every tied entry."""
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            mask = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += mask * dout[:, :, i, j][:, :, None, None]
    return dx


POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def pooled_input():
    """(1, 2, 4, 4) after a relu: channel 0's first window all zeros (a tie of 4), its second a tie of 2 at 0.7;
    channel 1 has no ties."""
    x = np.maximum(np.random.default_rng(3).normal(size=(1, 2, 4, 4)), 0.0)
    x[0, 0, :2, :2] = 0.0
    x[0, 0, :2, 2:] = [[0.7, 0.1], [0.7, 0.3]]
    x[0, 1] += np.arange(16).reshape(4, 4) * 0.01 + 0.05  # every entry distinct and positive
    return x


def test_max_pool_backward_that_routes_to_one_tied_entry_passes():
    r = check_layer(max_pool_forward, max_pool_backward, pooled_input(), POOL)
    assert r.passed, str(r)
    assert r.tensor("x").n_kinks == 4 + 2  # the tied entries, reported as kinks
    assert r.counts()["wrong"] == 0


def test_max_pool_backward_that_sends_the_gradient_to_every_tie_fails():
    r = check_layer(max_pool_forward, max_pool_backward_to_every_tie, pooled_input(), POOL)
    assert not r.passed
    wrong = {row.element for row in r.blame(n=0) if row.verdict == "wrong"}
    ties = {f"x[0, 0, {i}, {j}]" for i in range(2) for j in range(2)} | {"x[0, 0, 0, 2]", "x[0, 0, 1, 2]"}
    assert wrong and wrong <= ties, wrong  # the blame stays on tied entries
    assert any("your gradient gives" in d and "tied entries" in d for d in r.diagnosis), r.diagnosis


def test_the_same_max_pool_through_check_function():
    x = pooled_input()
    dout = np.random.default_rng(5).normal(size=(1, 2, 2, 2))
    def f(v):
        return float((max_pool_forward(v, POOL)[0] * dout).sum())
    assert check_function(f, lambda v: max_pool_backward(dout, (v, POOL)), x).passed
    bad = check_function(f, lambda v: max_pool_backward_to_every_tie(dout, (v, POOL)), x)
    assert not bad.passed and bad.counts()["wrong"] >= 2


def group_max(x, groups, dout):
    return float(sum(d * x[g].max() for g, d in zip(groups, dout)))


def group_max_grad(x, groups, dout, share="first"):
    g = np.zeros_like(x)
    for idx, d in zip(groups, dout):
        tied = idx[x[idx] == x[idx].max()]
        if share == "first":
            g[tied[0]] += d
        elif share == "all":
            g[tied] += d
        else:  # shared out evenly: a valid subgradient too
            g[tied] += d / len(tied)
    return g


@pytest.mark.parametrize("tie", [2, 4])
def test_check_function_at_ties_of_a_max(tie):
    x = np.array([0.5, 0.5, 0.5, 0.5, -1.0, 2.0, 2.0, 0.3])
    x[tie:4] = 0.1  # entries 0..tie-1 tie for the max of the first group
    groups, dout = [np.arange(4), np.arange(4, 8)], [1.5, -0.8]  # the second: a tie of 2 with a negative weight
    def f(v):
        return group_max(v, groups, dout)
    for share in ("first", "even"):
        r = check_function(f, lambda v, s=share: group_max_grad(v, groups, dout, s), x)
        assert r.passed, str(r)
        if share == "first":  # (a value equal to the central difference, dout/2 at a tie of 2, raises no question)
            assert r.tensor("x").n_kinks == tie + 2
    bad = check_function(f, lambda v: group_max_grad(v, groups, dout, "all"), x)
    assert not bad.passed, str(bad)
    assert bad.counts()["wrong"] >= 2


def test_relu_at_exactly_zero_passes_with_any_choice_between_its_slopes():
    x = np.array([0.0, 0.0, 1.5, -2.0])
    def f(v):
        return float(np.sum(np.maximum(v, 0.0)))
    for choice in (0.0, 1.0, 0.5):
        assert check_function(f, lambda v, c=choice: np.where(v > 0, 1.0, np.where(v == 0, c, 0.0)), x).passed
    bad = check_function(f, lambda v: np.where(v > 0, 1.0, np.where(v == 0, 2.0, 0.0)), x)
    assert not bad.passed and bad.blame(1)[0].verdict == "wrong"


@FEW
@given(st.sampled_from([2, 4]), st.sampled_from([0.0, 1e-9, 1e-7, 1e-5]), st.floats(0.2, 3.0),
       st.sampled_from([1.0, -1.0]), st.integers(0, 3))
def test_ties_and_near_ties_correct_passes_wrong_fails(tie, gap, size, sign, where):
    """A max over 4 entries, ``tie`` of them at (or within ``gap`` below) the maximum, weighted by dout."""
    x = np.array([-0.4, 0.2, -0.9, 0.1])
    at = (np.arange(tie) + where) % 4
    x[at] = 0.6
    x[at[1:]] -= gap  # a near tie: only at[0] is the maximum
    dout = sign * size
    def f(v):
        return dout * float(v.max())
    def first(v):
        return dout * (np.arange(4) == np.argmax(v))
    right = check_function(f, first, x)
    assert right.passed, str(right)
    if gap == 0:
        wrong = lambda v: dout * (v == v.max())  # noqa: E731 - the CS231n bug: the whole dout to every tie
    else:
        wrong = lambda v: dout * (np.arange(4) == at[1])  # noqa: E731 - to the runner-up, gap below the max
    r = check_function(f, wrong, x)
    unresolved = r.tensor("x").unresolved is not None and r.tensor("x").unresolved.any()
    assert not r.passed or unresolved, str(r)


# -- the kink note names what the network's kinks are, from the catalogue ------------------------------------

#: A 1x1 conv whose two pixels tie for a 1x2 max-pool window at θ (3 = 1 + 2 = 2 + 1), and no relu: moving
#: either weight breaks the tie one way or the other.
TIED_POOL = {"input": [2, 1, 2], "loss": "mse", "layers": [
    {"type": "conv2d", "filters": 1, "kernel": 1}, {"type": "maxpool2d", "size": [1, 2]}, {"type": "flatten"},
    {"type": "dense", "units": 1}],
    "params": [{"W": [[[[1.0]], [[1.0]]]], "b": [0.0]}, {}, {}, {"W": [[0.5]], "b": [0.1]}],
    "data": {"X": [[[[1.0, 2.0]], [[2.0, 1.0]]]], "Y": [[1.0]]}}


def test_the_kink_note_names_a_max_pool_window_without_relu():
    spec = load_spec(TIED_POOL)
    good = check_network(spec, symbolic="off")
    assert good.passed and good.tensor("W0").n_kinks == 2
    note = next(n for n in good.notes if "sit on a kink" in n)
    assert "sit on a kink (a max-pool window's maximum)," in note, note

    def both_ties(params, X, Y):  # the gradient sent to both tied pixels: outside the one-sided slopes
        _, g = backprop(spec, params, X, Y)
        g[0]["W"] = g[0]["W"] * 0 + 2.7
        return g

    bad = check_network(spec, both_ties, symbolic="off", trace_code=False)
    assert not bad.passed and any("sit on a kink (a max-pool window's maximum)" in n for n in bad.notes)


def test_the_kink_note_names_relu_and_the_max_pool_together():
    spec = load_spec({**TIED_POOL, "layers": [{**TIED_POOL["layers"][0], "activation": "relu"},
                                              *TIED_POOL["layers"][1:]]})
    note = next(n for n in check_network(spec, symbolic="off").notes if "sit on a kink" in n)
    assert "(a max-pool window's maximum; relu at 0)" in note, note


def test_a_direction_whose_steps_leave_theta_s_thin_piece_both_ways_decides_nothing():
    """Two kinks within 1e-23 of θ, neither at it (a relu z of 1e-25 after a leaky relu z of −2e-208): every step
    along (+1, −1) over b0[0] and W1[0, 2] turns the relu off on both sides, so the loss looks flat there; θ's own
    derivative, on the thin piece where the relu is on, is the backprop's. The joint test once called that wrong
    (the kink states show both sides on one same piece that is not θ's, and θ on no kink: no test). Each element
    alone still sees θ's piece on one side: a flipped or doubled value fails."""
    import json
    from pathlib import Path

    net = json.loads((Path(__file__).parent / "cases" / "near_kink_thin_piece.json").read_text())
    spec = load_spec(net)
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    for name, layer, key, flat in (("W1", 1, "W", 2), ("b0", 0, "b", 0)):
        for factor in (-1.0, 2.0):
            def planted(p, X, Y, layer=layer, key=key, flat=flat, factor=factor):
                _, g = backprop(spec, p, X, spec.targets(Y))
                g[layer][key].flat[flat] *= factor
                return g

            result = check_network(net, planted, symbolic="off")
            assert not result.passed and result.tensor(name).verdict("impl").flat[flat] == "wrong"


def test_on_kink_marks_entries_exactly_at_a_kink_for_every_kinked_kind():
    from gradcheck.catalogue.losses import loss_of

    layers = [{"type": "conv2d", "filters": 1, "kernel": 1, "activation": "relu"}, {"type": "maxpool2d", "size": 2},
              {"type": "flatten"}, {"units": 3}]
    spec = load_spec({"input": [1, 4, 4], "layers": layers, "loss": "svm", "batch": 2})
    relu, pool = spec.layers[0], spec.layers[1]
    z = np.array([[-1.0, 0.0, 1e-300]])
    assert relu.on_kink(None, z, spec.conv).ravel().tolist() == [False, True, False]
    a = np.zeros((2, 1, 4, 4))
    a[0, 0, 0, :2] = [3.0, 3.0]  # a tie for the first window's max
    a[1, 0, 0, 0] = 1.0  # sample 1's first window has one max; its other windows are all zeros: ties
    ties = pool.on_kink(a, None, spec.conv)
    assert ties.shape == pool.kink_state(a, None, spec.conv).shape
    assert ties[0, 0, 0, 0] and not ties[1, 0, 0, 0] and ties[1, 0, 1, 1]
    loss = loss_of(spec)
    y = np.eye(3)[:, [0, 1]]  # (K, N) one-hot: classes 0 and 1
    scores = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.0]])  # sample 0 (class 0): class 1's margin 0 − 1 + Δ is 0
    on = loss.on_kink(scores, y)
    margins = scores - (scores * y).sum(axis=0) + spec.margin
    assert np.array_equal(on, (margins == 0) & (y == 0)) and on.any()


def _saved_element(name, tensor, layer, key, index):
    """The saved case ``name`` checked with its reference backprop: (the case, its reference gradients, the
    element's verdict, numeric value and bound, its reference value); the check must pass."""
    net = case(name)
    spec = load_spec(net)
    _, grads = backprop(spec, spec.parameters(), *spec.batch_data())
    correct = check_network(net, symbolic="off")
    assert correct.passed, str(correct)
    t = correct.tensor(tensor)
    verdict, value, bound = t.verdict("backprop")[index], t.values["numeric"][index], t.bound[index]
    return net, grads, verdict, value, bound, grads[layer][key][index]


def _caught(net, grads, element, changes, verdicts=("wrong", "suspicious")):
    """Assert that the case ``net``, checked with its reference gradients and ``element`` (tensor, layer, key, index)
    changed by each of ``changes`` in turn, fails, the element judged one of ``verdicts``."""
    tensor, layer, key, index = element
    for change in changes:
        def impl(p, X, Y, change=change):
            out = [{k: v.copy() for k, v in g.items()} for g in grads]
            out[layer][key][index] = change(out[layer][key][index])
            return out

        bad = check_network(net, impl, symbolic="off", trace_code=False)
        verdict = bad.tensor(tensor).verdict("impl")[index]
        assert not bad.passed and verdict in verdicts, (change(grads[layer][key][index]), verdict)


def test_a_kink_whose_sides_agree_takes_the_finest_sides_where_the_loss_curves_within_the_first_steps():
    """An elu layer at z = 0 exactly under inputs of 2.2e5: every step of its weights crosses the kink of elu's
    second derivative, and the loss curves on either side within the first steps. The one-sided slopes agree; the
    first level's sides gave -120609 +- 39978 for a gradient of -107273.27, and a doubled gradient was
    inconclusive. The finest level's sides, bounded by their last change, come within 2% of it: the correct gradient
    passes, a doubled one and one 10% off are wrong."""
    element = ("W3", 3, "W", (0, 0))
    net, grads, verdict, value, bound, ref = _saved_element(
        "elu_at_zero_under_weights_of_1e3_curves_within_the_first_steps", *element)
    assert verdict in ("good", "inconclusive")
    assert abs(value - ref) <= bound < 0.03 * abs(value)
    _caught(net, grads, element, (lambda g: 2.0 * g, lambda g: 1.1 * g), ("wrong",))


def test_growing_steps_go_on_along_the_side_whose_steps_cross_no_kink():
    """Weights of 1e-8: an elu unit at z = -1.9e-8, the point where its second derivative jumps, within every upward
    step of W1[0, 0] and no downward one, under a gradient of -1.3276e-9 that moves C (0.69) by less than its
    rounding at the default steps. Growing steps stop where a step crosses a kink, and kept nothing: a doubled
    gradient was inconclusive. They now go on along the downward side alone (one-sided quotients extrapolated to
    O(s²)): the element is estimated to 3e-4 of itself, and a doubled gradient, or one 1% off, fails."""
    element = ("W1", 1, "W", (0, 0))
    net, grads, _, value, bound, ref = _saved_element(
        "elu_point_within_the_upward_steps_of_a_gradient_rounding_hides", *element)
    assert abs(value - ref) <= bound < 3e-4 * abs(value)
    _caught(net, grads, element, (lambda g: 2.0 * g, lambda g: 1.01 * g))


def test_a_kink_s_one_sided_slopes_come_from_the_finest_level_where_a_side_curves_within_the_first_steps():
    """A leaky_relu at z = 0 exactly, under inputs of 1e3: W2[3, 2]'s right slope is 966.56 at every step, its left
    one curves within the first steps (6931 at 1e-4, 96656 below 1e-8). The first level's sides, the left one bounded
    by its first-order term, made the kink's interval 45510 +- 35051, and a negated gradient passed as a value at
    the kink. The finest level's sides make it [966.56, 96656] to within 10: the correct gradient (the right slope)
    is a kink value still, a negated one and one at twice the left slope fail."""
    element = ("W2", 2, "W", (3, 2))
    net, grads, verdict, value, bound, ref = _saved_element(
        "leaky_relu_at_zero_whose_left_slope_curves_within_the_first_steps", *element)
    assert verdict == "kink"
    assert 3 * bound - abs(value - ref) < 100  # the interval ends within 100 of the right slope
    _caught(net, grads, element, (lambda g: -g, lambda g: 200 * g), ("wrong",))


def test_both_sides_one_sided_slopes_where_every_step_crosses_a_point_both_ways_and_they_agree():
    """An elu rnn under weights of 1e-6: its states sit within the steps of 0, where elu's second derivative jumps,
    and every step of Wx0[0, 0] crosses it both ways. The step levels halved until a stencil crossed nothing, at
    3.7e-10, where C (0.69) does not move by a bit: 0 +- 3.3e-6 for a gradient of -9.5293e-8, and a doubled
    gradient was inconclusive. The two sides' one-sided slopes at the default steps agree: their mean, bounded by
    half their gap and the larger bound, is within 2% of the gradient, and a doubled or negated one fails."""
    element = ("Wx0", 0, "Wx", (0, 0))
    net, grads, _, value, bound, ref = _saved_element("rnn_elu_states_near_zero_whose_steps_cross_it_both_ways",
                                                      *element)
    assert abs(value - ref) <= bound < 0.02 * abs(value)
    _caught(net, grads, element, (lambda g: 2 * g, lambda g: -g))


def test_a_kink_whose_sides_agree_is_bounded_at_the_refined_level_whose_change_and_rounding_are_least():
    """An elu rnn whose state sits at z = 0 exactly, where elu's second derivative jumps, at every step: b0[1]'s
    steps cross it both ways, and its one-sided slopes agree. Refined tenfold twice, the finest level's rounding
    (6.4e-8) is above the gradient (-3.6393e-8); its sides were bounded by it (7.1e-8), and a doubled gradient was
    inconclusive. The first refinement's sides, bounded by their change from the first level and their rounding
    there (6.4e-9), hold the gradient: the correct backprop passes, a doubled or negated gradient fails."""
    element = ("b0", 0, "b", (1,))
    net, grads, _, value, bound, ref = _saved_element("rnn_elu_at_zero_whose_finest_level_rounds_above_its_gradient",
                                                      *element)
    assert abs(value - ref) <= bound < 0.3 * abs(ref)
    _caught(net, grads, element, (lambda g: 2 * g, lambda g: -g))


def test_a_kink_s_sides_come_from_the_finest_level_where_the_first_steps_cross_other_kinks_near_theta():
    """A relu unit over two steps whose z is -2.2e-124 in one sample's first step (a kink at 0 exactly for W0[0, 0])
    and within 1e-8 to 6e-7 of 0 in the others: every first step of W0[0, 0] crosses all of them, and its first
    one-sided slopes, -0.21 and 0.33, each bounded by 0.0016, are no slopes at 0. Refined four times, the steps
    cross the kink at 0 alone, and the sides held still over the last two refinements: a kink at θ. Its interval was
    the first level's, and a negated gradient (-0.1914) passed as a value at the kink. The finest level's sides,
    0.1646 and 0.1914, bounded by their last change, make it: the reference's value (its left slope) is a kink value,
    a negated one or a doubled one fails."""
    element = ("W0", 0, "W", (0, 0))
    net, grads, verdict, value, bound, ref = _saved_element("relu_at_zero_beside_relu_units_within_its_first_steps",
                                                            *element)
    assert verdict == "kink"
    low, high = value - MARGIN * bound, value + MARGIN * bound
    assert low <= ref <= high and 0 < low and high < 0.3
    _caught(net, grads, element, (lambda g: -g, lambda g: 2 * g), ("wrong",))


def test_an_element_smooth_at_a_refined_step_takes_step_levels_from_there_until_they_are_in_the_regime():
    """Weights of 1e-12 under inputs of 1e12: every step of W0 down to 1e-12 turns some elu z across 0, and the
    first refined step that crosses nothing, 6e-13, still moves z by 0.6. W0[3, 0]'s central difference there,
    bounded by its g(h) and g(2h) as if h were in the asymptotic regime, was 5.24e10 ± 2.7e9 for a slope of
    6.889e10, and the correct backprop failed. From that step the levels now halve until three are in the regime:
    the estimate holds the reference (its float64 extrapolations at steps of 8e-16 to 1e-14 agree with it to
    1e-9) to within 1e-6 of it, and a sign flipped or a slip of 1e-3 fails."""
    element = ("W0", 0, "W", (3, 0))
    net, grads, verdict, value, bound, ref = _saved_element("elu_under_inputs_of_1e12_smooth_at_a_step_still_curving",
                                                            *element)
    assert verdict == "good"
    assert abs(value - ref) <= bound < 1e-6 * abs(ref)
    _caught(net, grads, element, (lambda g: -g, lambda g: 1.001 * g))


def test_one_sided_slopes_moving_tenfold_a_refinement_do_not_make_a_kink_at_theta():
    """Weights of 1e-12 under inputs of 1e12: W0[1, 3]'s steps of 6e-6 to 6e-8 turn an elu z across 0 on one side,
    the loss saturating within them, and its one-sided slopes (−1.0155e11 and 1.5606e10) held still over two
    refinements within bounds of 5e14 to 5e16: taken for a kink at θ, where no elu z is at 0. The reference's
    −7.50886e10 passed as a kink value and a wrong 1.5606e10 as inconclusive. The sides moved by 2e5 and then 2.1e6,
    as they do coming near a kink (tenfold a refinement), not at one: the refinement goes on, and the estimate holds
    the reference to within 1e-6 of it (its float64 extrapolations at steps of 8e-17 to 1e-14 agree with it to
    1e-11); the wrong value and a sign flipped fail."""
    element = ("W0", 0, "W", (1, 3))
    net, grads, verdict, value, bound, ref = _saved_element(
        "elu_under_inputs_of_1e12_whose_sides_saturate_within_the_steps", *element)
    assert verdict == "good"
    assert abs(value - ref) <= bound < 1e-6 * abs(ref)
    _caught(net, grads, element, (lambda g: 0 * g + 1.5606e10, lambda g: -g), ("wrong",))


def test_a_kink_at_the_point_is_confirmed_by_a_finer_step_that_still_crosses_it():
    """Inputs of 1e14 under first weights of 1e-14: every step down to 6e-8 crosses every unit's kink, and the loss
    far out is a polynomial whose one-sided extrapolations hold still, so that kink states put a kink at the point
    for 12 of 20 W0 elements, their sides agreeing to 1.3e13 ± 2e13: all inconclusive, a negated value too. A
    kink at the point is crossed however small the step; 1e9 times finer, none is."""
    net = case("leaky_relu_under_inputs_of_1e14_far_out_at_every_wide_step")
    correct = check_network(net, symbolic="off")
    W0 = correct.tensor("W0")
    assert correct.passed and (W0.verdict("backprop") == "good").all(), str(correct)
    assert W0.n_kinks == 0
    spec = load_spec(net)
    for k in (0, 2, 8, 19):
        wrong = check_network(net, slipped(spec, 0, "W", lambda g, k=k: g.reshape(-1).__setitem__(k, -g.flat[k])),
                              symbolic="off")
        assert wrong.tensor("W0").verdict("impl").flat[k] == "wrong", str(wrong)


def test_refinements_go_on_where_the_first_steps_were_far_wider_than_the_loss_turns():
    """Inputs of 1e16 under first weights of 1e-16: twelve tenfold refinements down from the default step, W0[1, 2]
    and W0[2, 2] still moved their unit's z across an elu's 0, and the refinement stopped, their slopes unresolved
    (−3.99e14 ± 1.4e14 for −8.05e14): inconclusive, a negated value too. The first level's chords (2e4) and loss were
    those of the loss far out, not of the finer steps; with the slopes seen so far (4e14) and more levels where they
    have grown a hundredfold, each is resolved."""
    net = case("elu_under_inputs_of_1e16_still_crossing_twelve_refinements_down")
    correct = check_network(net, symbolic="off")
    assert correct.passed and (correct.tensor("W0").verdict("backprop") == "good").all(), str(correct)
    spec = load_spec(net)
    for k in (6, 10):
        wrong = check_network(net, slipped(spec, 0, "W", lambda g, k=k: g.reshape(-1).__setitem__(k, -g.flat[k])),
                              symbolic="off")
        assert wrong.tensor("W0").verdict("impl").flat[k] == "wrong", str(wrong)
