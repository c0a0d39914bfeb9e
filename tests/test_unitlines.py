"""Perturbed losses from each unit's line: the same numbers as per-element passes, at a few passes per unit."""

from __future__ import annotations

import numpy as np
import pytest
from oracles import case, make_spec, random_spec, slipped

from gradcheck import check_network, load_spec, numeric_gradient
from gradcheck.numeric import unitlines
from gradcheck.numeric.perturbed import Perturbed
from gradcheck.numeric.stencils import ROUND_ULPS, default_step
from gradcheck.numeric.unitlines import UnitLines, fits_lines
from gradcheck.reference.backprop import backprop

SHIPPED_FIT_PASSES = unitlines.FIT_PASSES  # before any test sets it

SMOOTH_NETS = [
    ([3, 4, 2], ["tanh", "linear"], "mse", "column", "separate"),
    ([3, 4, 2], ["sigmoid", "sigmoid"], "bce", "row", "augmented"),
    ([2, 5, 3, 3], ["softplus", "tanh", "softmax"], "cross_entropy", "column", "none"),
    ([4, 3, 3, 2], ["tanh", "sigmoid", "linear"], "sse", "row", "separate"),
    ([3, 2], ["softmax"], "cross_entropy", "row", "augmented"),
]


@pytest.fixture(autouse=True)
def _lines_for_every_layer(monkeypatch):
    """These networks are small: their layers take their lines however few their elements, as larger ones do (a
    layer's choice of lines or passes is tested on its own, below)."""
    monkeypatch.setattr(unitlines, "FIT_PASSES", 0)


def _gradients(spec, params, X, Y, **kw):
    return numeric_gradient(spec, params, X, Y, **kw)


def _assert_same(a, b, rtol):
    """Equal to ``rtol``, or within b's own error bound (below it the two differ by rounding only)."""
    for ga, gb, eb in zip(a.grads, b.grads, b.bounds):
        for key in gb:
            assert np.all(np.abs(ga[key] - gb[key]) <= rtol * np.abs(gb[key]) + eb[key]), (key, ga[key], gb[key])


@pytest.mark.parametrize(("sizes", "acts", "loss", "convention", "bias"), SMOOTH_NETS)
@pytest.mark.parametrize("method", ["central", "richardson"])
def test_lines_give_the_per_element_numbers(sizes, acts, loss, convention, bias, method, monkeypatch):
    spec = make_spec(sizes, acts, loss, convention, bias, batch=5, seed=3)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    fitted = []
    original = UnitLines._fit
    monkeypatch.setattr(UnitLines, "_fit", lambda self, units, *a: fitted.append(len(units)) or original(
        self, units, *a))
    exact_calls = []
    monkeypatch.setattr(Perturbed, "_structured", lambda *a: exact_calls.append(a))
    lines = _gradients(spec, params, X, Y, method=method)
    assert sum(fitted) == sum(ly.units for ly in spec.layers)  # every unit of every layer, once
    assert exact_calls == []  # every loss came from the lines: none fell back to per-element passes
    monkeypatch.undo()
    _assert_same(lines, _gradients(spec, params, X, Y, method=method, lines=False), 1e-9)
    _assert_same(lines, _gradients(spec, params, X, Y, method=method, structured=False), 1e-9)
    for bl, be in zip(lines.bounds, _gradients(spec, params, X, Y, method=method, lines=False).bounds):
        for key in be:  # the error bound comes out alike too (made from the same losses, up to their rounding,
            # which may settle an element one level of steps apart), or wider by what a line may miss
            assert np.all((bl[key] <= 4 * be[key]) & (be[key] <= 2 * bl[key])), (key, bl[key], be[key])


def test_lines_agree_on_random_smooth_networks():
    rng = np.random.default_rng(11)
    checked = 0
    for seed in range(200):
        spec = random_spec(rng, seed)
        if not all(fits_lines(spec, i) for i in range(len(spec.layers))):
            continue
        params, (X, Y) = spec.parameters(seed), spec.batch_data()
        _assert_same(_gradients(spec, params, X, Y), _gradients(spec, params, X, Y, lines=False), 1e-8)
        checked += 1
    assert checked > 50


def test_a_unit_costs_four_passes_or_six_whatever_its_fan_in(monkeypatch):
    """Per-element evaluation grows with fan-in; the lines do not: four passes per unit where the degree-4 fit
    resolves its line, two more where it does not (the degree-6 fit), plus the two exact probes."""
    counts = {}
    original = Perturbed.from_rows

    def spy(self, i, unit, z_row, samples=False):
        counts[i] = counts.get(i, 0) + len(unit)
        return original(self, i, unit, z_row, samples)

    monkeypatch.setattr(Perturbed, "from_rows", spy)
    for fan_in in (3, 40):
        counts.clear()
        spec = make_spec([fan_in, 5, 2], ["tanh", "linear"], batch=4)
        _gradients(spec, spec.parameters(), *spec.batch_data())
        for i, units in ((0, 5), (1, 2)):
            assert 4 * units + 2 <= counts[i] <= 6 * units + 2 and counts[i] % 2 == 0


def _passes(monkeypatch):
    """A list that gets (layer, units, points) of every pass of a unit-line fit, from now on."""
    passes = []
    original = UnitLines._psi

    def spy(self, units, nodes, probe_unit, probe_z):
        passes.append((self.i, len(units), len(nodes)))
        return original(self, units, nodes, probe_unit, probe_z)

    monkeypatch.setattr(UnitLines, "_psi", spy)
    return passes


def test_the_degree_4_fit_is_kept_only_where_it_resolves_the_line_and_gives_the_per_element_numbers(monkeypatch):
    """Small weights: most of layer 0's lines are resolved by their degree-4 fit (four passes per unit). Weights 24x
    larger: the lines curve faster and every unit needs the middle pair of points. Either way the losses are the
    per-element ones."""
    passes = _passes(monkeypatch)
    monkeypatch.setattr(unitlines, "AHEAD_ENTRIES", 0)  # the middle pair only where it is wanted
    spec = make_spec([6, 8, 3], ["tanh", "linear"], batch=7, seed=3)
    X, Y = spec.batch_data()
    middle = {}
    for scale in (0.25, 6.0):
        passes.clear()
        params = [{k: v * scale for k, v in p.items()} for p in spec.parameters(3)]
        lines = _gradients(spec, params, X, Y)
        assert (0, 8, 2) in passes  # every unit of layer 0 first at the outer and inner pair
        middle[scale] = sum(units for i, units, nodes in passes if i == 0 and nodes == 1)
        _assert_same(lines, _gradients(spec, params, X, Y, lines=False), 1e-9)
    assert middle[0.25] <= 2 and middle[6.0] == 8


def test_what_each_fit_misses_of_the_terms_it_leaves_out():
    """u⁵ and u⁶, the first powers the degree-4 fit leaves out, differ from their interpolants at 0, ±u₀ and ±u₂ (the
    fit's own matrices) by at most 0.138 and 0.107 over |u| ≤ 1; u⁷ and u⁸ from theirs at all six points by 1/32."""
    u = np.linspace(-1.0, 1.0, 40001)
    fits = {2: (unitlines.NODES[list(unitlines.FIRST_NODES)], unitlines._ODD4, unitlines._EVEN4),
            3: (unitlines.NODES, unitlines._ODD, unitlines._EVEN)}
    for d, (nodes, odd, even) in fits.items():
        for part, inverse in enumerate((odd, even)):
            power = 2 * d + 1 + part
            coef = inverse @ (nodes**power - (-1) ** part * (-nodes) ** power)  # ψ(u) ∓ ψ(−u)
            exponents = range(1 + part, 2 * d + 1, 2)
            missed = np.abs(u**power - sum(c * u**e for c, e in zip(coef, exponents))).max()
            assert missed == pytest.approx(unitlines.LEFT_OUT[d][part], rel=1e-6), (d, part)
    assert unitlines.LEFT_OUT[2] == pytest.approx((0.1379, 0.1075), abs=1e-4)
    assert unitlines.LEFT_OUT[3] == pytest.approx((1 / 32, 1 / 32))


def test_a_degree_4_fit_is_kept_by_what_it_misses_with_the_per_element_numbers_and_a_slip_caught(monkeypatch):
    """Counted as the whole terms it leaves out, all 16 of layer 0's lines need the middle pair; counted as what the
    interpolant misses of them, 4. The lines fitted at four points alone give the per-element numbers, each bound
    carries what its line may miss, and a slip of 1e-3 in their weights' gradients is caught."""
    monkeypatch.setattr(unitlines, "AHEAD_ENTRIES", 0)  # the middle pair only where it is wanted
    spec = make_spec([8, 16, 4], ["tanh", "linear"], batch=32, seed=3)
    params, (X, Y) = spec.parameters(3), spec.batch_data()
    middle, missed = {}, {}
    original, line_miss = UnitLines._keep, Perturbed.line_miss

    def keep(self, units, parts, *rest, seen=None):
        if self.i == 0 and parts[0].shape[1] == 3:
            seen.update(int(j) for j in units)
        return original(self, units, parts, *rest)

    for whole in (True, False):
        with monkeypatch.context() as m:
            if whole:
                m.setitem(unitlines.LEFT_OUT, 2, (1.0, 1.0))
            middle[whole] = set()
            missed.clear()
            m.setattr(UnitLines, "_keep", lambda self, *a, seen=middle[whole]: keep(self, *a, seen=seen))
            m.setattr(Perturbed, "line_miss", lambda self, i, flat: missed.setdefault(i, line_miss(self, i, flat)))
            lines = _gradients(spec, params, X, Y)
    assert len(middle[True]) == 16 and len(middle[False]) <= 6
    _assert_same(lines, _gradients(spec, params, X, Y, lines=False), 1e-9)
    four = sorted(middle[True] - middle[False])
    allowed = ROUND_ULPS * missed[0][:lines.steps[0]["W"].size].reshape(16, 8)[four] / lines.steps[0]["W"][four]
    assert np.all(allowed > 0) and np.all(lines.bounds[0]["W"][four] >= allowed)
    impl = slipped(spec, 0, "W", lambda g: g.__setitem__(four, g[four] * (1 + 1e-3)))
    result = check_network(spec, impl=impl, params=params, symbolic="off")
    flagged = sum(result.tensor("W0").count(verdict, "impl") for verdict in ("wrong", "suspicious"))
    assert not result.passed and flagged == 8 * len(four), str(result)
    assert check_network(spec, params=params, symbolic="off").passed


def test_the_bound_of_an_element_its_line_gives_carries_what_the_line_may_miss(monkeypatch):
    """A layernorm over one feature under a sigmoid output unit, its loss 0.63 and that loss's rounding 6e-17: the
    output weight's line, fitted at four points, may miss by 3e-16, several times more. Its estimate is 1e-12 from
    the exact gradient; the bound that carries the line's miss holds it (4.2e-12), the loss's rounding alone would
    not (1.2e-12)."""
    spec = load_spec(case("layernorm_one_feature_lines_miss"))
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, exact = backprop(spec, params, X, Y)
    error = lambda g: np.abs(g.grads[3]["W"] - exact[3]["W"])  # noqa: E731
    counted = _gradients(spec, params, X, Y)
    assert np.all(error(counted) <= 0.5 * counted.bounds[3]["W"]), (error(counted), counted.bounds[3]["W"])
    monkeypatch.setattr(Perturbed, "line_miss", lambda self, i, flat: np.zeros(len(flat)))
    uncounted = _gradients(spec, params, X, Y)
    np.testing.assert_array_equal(uncounted.grads[3]["W"], counted.grads[3]["W"])  # the same losses
    assert np.any(error(uncounted) > 0.5 * uncounted.bounds[3]["W"])


def test_a_small_layer_takes_the_middle_pair_in_its_first_pass_with_the_same_numbers(monkeypatch):
    """Where the layers above are small, each layer's fit is one pass of all six points; the degree-4 fits are
    still kept where they resolve the line, so every number is the one the two passes give, bit for bit."""
    passes = _passes(monkeypatch)
    spec = make_spec([6, 8, 3], ["tanh", "linear"], batch=7, seed=3)
    X, Y = spec.batch_data()
    for scale in (0.25, 6.0):
        params = [{k: v * scale for k, v in p.items()} for p in spec.parameters(3)]
        passes.clear()
        ahead = _gradients(spec, params, X, Y)
        assert (0, 8, 3) in passes and all(nodes == 3 for _, _, nodes in passes)
        with monkeypatch.context() as m:
            m.setattr(unitlines, "AHEAD_ENTRIES", 0)
            passes.clear()
            apart = _gradients(spec, params, X, Y)
            assert (0, 8, 2) in passes
        for a, b in zip(ahead.grads + ahead.bounds, apart.grads + apart.bounds):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key])


def test_a_layer_in_many_chunks_is_fitted_once_for_exactly_its_widest_step(monkeypatch):
    """Elements of |θ| > 1 take wider steps (h scales with |θ|). With the layer split into chunks of two elements,
    the widest last, every chunk's stencil still fits in the one reach said before the first: each unit is fitted
    once, for exactly that step (no room above it), and the numbers are the per-element ones."""
    from gradcheck.numeric import perturbed
    from gradcheck.numeric.steps import FIRST

    fits = []
    original = UnitLines._fit

    def spy(self, units, probe_unit, probe_z):
        fits.append((self.i, self.reach, len(units)))
        return original(self, units, probe_unit, probe_z)

    monkeypatch.setattr(UnitLines, "_fit", spy)
    monkeypatch.setattr(perturbed, "LINE_CHUNK", 2 * len(FIRST))
    spec = make_spec([3, 4, 2], ["tanh", "linear"], batch=5, seed=8)
    params = spec.parameters(8)
    params[0]["W"] = params[0]["W"] * np.linspace(0.2, 3.0, params[0]["W"].size).reshape(params[0]["W"].shape)
    params[0]["b"] = np.full_like(params[0]["b"], 0.1)
    X, Y = spec.batch_data()
    lines = _gradients(spec, params, X, Y, method="central")
    widest = max(FIRST) * float(default_step(params[0]["W"], "central").max())
    assert {reach for i, reach, _ in fits if i == 0} == {widest}
    assert sum(units for i, _, units in fits if i == 0) == 4  # each unit fitted once: no chunk made them refit
    _assert_same(lines, _gradients(spec, params, X, Y, method="central", lines=False), 1e-9)


def test_products_gain_the_higher_powers_when_a_later_unit_needs_the_degree_6_fit(monkeypatch):
    """Chunks of two elements fit layer 0's units one call at a time: the first four units' lines (their weights
    quartered) are resolved at four points and their products kept with four powers; a later unit's needs all six.
    The first units' biases, asked last, read their products with six powers, the two above their fit's zeros: the
    lines agree with the exact probes throughout and the numbers are the per-element ones."""
    from gradcheck.numeric import perturbed
    from gradcheck.numeric.steps import FIRST

    tops = []
    original = UnitLines._products
    monkeypatch.setattr(UnitLines, "_products", lambda self, j, k: tops.append((self.i, self.top)) or original(
        self, j, k))
    monkeypatch.setattr(perturbed, "LINE_CHUNK", 2 * len(FIRST))
    monkeypatch.setattr(unitlines, "AHEAD_ENTRIES", 0)
    spec = make_spec([6, 8, 3], ["tanh", "linear"], batch=7, seed=3)
    params = spec.parameters(3)
    scale = np.repeat([0.25, 1.0], 4)  # per unit of layer 0 (column convention: W0's rows, W1's columns)
    params[0]["W"], params[0]["b"] = params[0]["W"] * scale[:, None], params[0]["b"] * scale
    params[1]["W"] = params[1]["W"] * scale
    X, Y = spec.batch_data()
    exact_calls = []
    monkeypatch.setattr(Perturbed, "_structured", lambda *a: exact_calls.append(a))
    lines = _gradients(spec, params, X, Y, method="richardson")
    layer0 = [top for i, top in tops if i == 0]
    assert layer0[0] == 4 and layer0[-1] == 6, layer0
    assert exact_calls == []  # every loss came from the lines, the first units' biases too (asked after the rise)
    monkeypatch.undo()
    _assert_same(lines, _gradients(spec, params, X, Y, method="richardson", lines=False), 1e-9)


def test_units_the_interpolant_cannot_resolve_are_evaluated_one_by_one(monkeypatch):
    """Weights 40x larger: some lines curve too fast for the interpolant; those units fall back and the numbers
    stay the per-element ones."""
    spec = make_spec([1, 1, 3, 2], ["sigmoid", "linear", "sigmoid"], "bce", "row", "separate", batch=6, seed=75)
    params = [{k: v * 40 for k, v in p.items()} for p in spec.parameters(75)]
    X, Y = spec.batch_data()
    exact_calls = []
    original = Perturbed._structured
    monkeypatch.setattr(Perturbed, "_structured", lambda self, i, flat, delta: exact_calls.append(len(flat)) or
                        original(self, i, flat, delta))
    lines = _gradients(spec, params, X, Y)
    assert sum(exact_calls) > 2 * len(exact_calls)  # more than the probes ran one by one
    _assert_same(lines, _gradients(spec, params, X, Y, lines=False), 1e-9)


def test_a_wrong_line_is_caught_by_the_exact_probe_and_the_layer_falls_back(monkeypatch):
    """Deliberately corrupt every fitted slope by 1e-6: the exact evaluation of the farthest step disagrees, the
    layer is evaluated element by element, and the gradient is still the per-element one."""
    spec = make_spec([4, 6, 3], ["tanh", "linear"], batch=5, seed=1)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    original = UnitLines._fit

    def corrupt(self, units, *args):
        out = original(self, units, *args)
        self.coef[0] *= 1 + 1e-6
        return out

    monkeypatch.setattr(UnitLines, "_fit", corrupt)
    net = Perturbed(spec, params, X, Y)
    theta = net.theta(0)
    h = default_step(theta, "richardson")
    idx = np.arange(theta.size)
    values, _, _ = net.losses(0, np.tile(idx, 2), np.concatenate([h, -h]))
    assert net.lines[0] is None  # the lines were refused for this layer
    exact = Perturbed(spec, params, X, Y, lines=False).losses(0, np.tile(idx, 2), np.concatenate([h, -h]))[0]
    np.testing.assert_allclose(values, exact, rtol=0, atol=1e-14)
    monkeypatch.setattr(UnitLines, "_fit", original)
    _assert_same(_gradients(spec, params, X, Y), _gradients(spec, params, X, Y, lines=False), 1e-9)


@pytest.mark.parametrize(("sizes", "acts", "fits"), [
    ([3, 4, 2], ["tanh", "linear"], [True, True]),
    ([3, 4, 2], ["relu", "linear"], [False, True]),  # a kink in layer 0: only layer 1 may use lines
    ([3, 4, 4, 2], ["tanh", "leaky_relu", "linear"], [False, False, True]),
])
def test_lines_only_where_every_layer_from_there_up_is_analytic(sizes, acts, fits):
    spec = make_spec(sizes, acts)
    assert [fits_lines(spec, i) for i in range(len(spec.layers))] == fits


def test_lines_not_across_a_layer_that_mixes_samples():
    from gradcheck import load_spec

    spec = load_spec({"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"type": "batchnorm"},
                                             {"units": 2}], "loss": "mse", "batch": 4})
    assert [fits_lines(spec, i) for i in range(3)] == [False, False, True]


def test_a_few_sampled_elements_are_evaluated_one_by_one(monkeypatch):
    """Fitting a unit costs six passes: for one element of a wide layer that is more than evaluating it."""
    spec = make_spec([20, 30, 2], ["tanh", "linear"], batch=4)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    fitted = []
    original = UnitLines._fit
    monkeypatch.setattr(UnitLines, "_fit", lambda self, units, *a: fitted.append(len(units)) or original(
        self, units, *a))
    elements = [{"W": [7]}, {"W": [1]}]
    sampled = numeric_gradient(spec, params, X, Y, elements=elements)
    assert fitted == []
    full = numeric_gradient(spec, params, X, Y)
    np.testing.assert_allclose(sampled.grads[0]["W"].ravel()[7], full.grads[0]["W"].ravel()[7], rtol=1e-9)


def test_products_kept_whole_or_taken_per_element_give_the_same_losses(monkeypatch):
    spec = make_spec([6, 7, 3], ["tanh", "linear"], batch=4, seed=2)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    whole = _gradients(spec, params, X, Y)
    monkeypatch.setattr(unitlines, "PRODUCT_BYTES", 1024)  # too small for M: per element, in pieces
    _assert_same(_gradients(spec, params, X, Y), whole, 1e-12)


@pytest.mark.parametrize(("sizes", "acts", "loss", "convention", "bias"), SMOOTH_NETS)
def test_a_stencil_said_to_be_one_gives_the_same_numbers(sizes, acts, loss, convention, bias):
    """A stencil's steps said as (offsets, h) find its widest step and the farthest probe without a pass over
    them: the same losses (to rounding), probes and agreement as the steps given plainly, and a planted disagreement
    between the lines and an exact evaluation still caught."""
    spec = make_spec(sizes, acts, loss, convention, bias, batch=5, seed=3)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    offsets = np.array([2.0, -2.0, 1.0, -1.0, 0.5, -0.5])
    for i in range(len(spec.layers)):
        net = Perturbed(spec, params, X, Y)
        flat = np.arange(net.theta(i).size)
        h = default_step(net.theta(i), "richardson")
        delta = offsets[:, None] * h[None, :]
        plain, said = UnitLines(net, i), UnitLines(net, i)
        probes = []
        for lines in (plain, said):  # the networks each evaluates exactly beside its fit
            fit = lines._fit
            lines._fit = lambda units, unit, z, fit=fit, seen=probes: seen.append((unit, z)) or fit(units, unit, z)
        j, k = plain.locate(flat)
        a, b = plain.changes(j, k, delta), said.changes(j, k, delta, rows=(offsets, h))
        # Said as rows, each loss's polynomial is summed in another order: the same to rounding.
        np.testing.assert_allclose(b[0], a[0], rtol=0, atol=8 * np.finfo(float).eps * np.abs(a[0]).max())
        for x, y in zip(a[1:], b[1:]):
            np.testing.assert_array_equal(x, y)
        for x, y in zip(*probes):
            np.testing.assert_array_equal(x, y)
        assert b[2]  # the lines agree with the exact evaluations
        wrong = UnitLines(net, i)
        wrong.changes(j, k, delta, rows=(offsets, h))
        wrong.coef[0] *= 1.5  # the lines' slopes off: the exact evaluations disagree with them
        wrong.M_fresh[:] = False
        assert not wrong.changes(j, k, delta, rows=(offsets, h))[2]


@pytest.mark.parametrize(("sizes", "lines"), [([2, 2, 2, 2], [False, False, False]),
                                              ([4, 8, 8, 1], [True, True, False]),
                                              ([16, 32, 16, 4], [True, True, True])])
def test_a_layer_takes_its_lines_where_its_stencil_costs_more_than_their_fit(sizes, lines, monkeypatch):
    """A layer whose first stencil is no more perturbed networks than its fit's passes and :data:`FIT_PASSES` is
    evaluated one by one (a 2-2-2-2 network's every layer, a 4-8-8-1 network's output layer: its bookkeeping would
    cost more than the passes), a larger one from its lines; the check passes either way and a slip fails."""
    monkeypatch.setattr(unitlines, "FIT_PASSES", SHIPPED_FIT_PASSES)
    passes = _passes(monkeypatch)
    spec = make_spec(sizes, ["tanh"] * (len(sizes) - 2) + ["linear"], batch=8)
    result = check_network(spec, symbolic="off")
    assert result.passed, str(result)
    assert [any(i == layer for i, _, _ in passes) for layer in range(len(sizes) - 1)] == lines
    def slip(g):
        g.flat[0] *= 1.001

    assert not check_network(spec, slipped(spec, len(sizes) - 2, "W", slip), symbolic="off").passed


@pytest.mark.parametrize("convention", ["column", "row"])
def test_element_locations_are_kept_per_layer_shape_and_agree_with_the_layers_own(convention, monkeypatch):
    """Where each element moves z (its unit and line row) depends on the params' shapes alone: networks of one shape
    share one read-only copy, a layer above the size kept gets its own, and both are the layer's own answer."""
    spec = make_spec([3, 4, 2], ["tanh", "linear"], batch=5, seed=1, convention=convention)
    other = make_spec([3, 4, 2], ["tanh", "linear"], batch=5, seed=2, convention=convention)
    located = []
    for s in (spec, other):
        params, (X, Y) = s.parameters(1), s.batch_data()
        located.append(UnitLines(Perturbed(s, params, X, Y), 0).locate(np.arange(16)))
    (j, k), (j2, k2) = located
    assert np.array_equal(j, j2) and np.array_equal(k, k2)
    layer, params = spec.layers[0], spec.parameters(1)[0]
    conv = spec.conv
    own = [layer.line_index(params, key, np.arange(params[key].size), conv) for key in ("W", "b")]
    assert np.array_equal(j, np.concatenate([u for u, _ in own]))
    assert np.array_equal(k, np.concatenate([r for _, r in own]))
    shapes = tuple((key, params[key].shape) for key in ("W", "b"))
    kept = unitlines._located(type(layer), shapes, conv)
    assert not kept[0].flags.writeable and kept[0] is unitlines._located(type(layer), shapes, conv)[0]
    monkeypatch.setattr(unitlines, "LOCATED_KEPT", 0)
    fresh = unitlines._located(type(layer), shapes, conv)
    assert fresh[0].flags.writeable and np.array_equal(fresh[0], kept[0]) and np.array_equal(fresh[1], kept[1])
