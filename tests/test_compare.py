"""Element comparison: error formulas, verdict bands and error bounds, float32, blame ordering, result objects."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.judge.bands import ATOL, MARGIN, RTOL, SUSPICIOUS, errors, verdicts
from gradcheck.judge.compare import TensorCheck
from gradcheck.judge.outcome import CheckResult
from gradcheck.judge.tolerances import tolerance

FLOAT32_RTOL = tolerance("float32").rtol


def verdict_of(analytic, numeric, **kw):
    if "bound" in kw:
        kw["bound"] = np.array([kw["bound"]])
    return str(verdicts(np.array([analytic]), np.array([numeric]), **kw)[0])


def test_errors_formula():
    a = np.array([1.0, -2.0, 0.0, 3e-8, 5.0])
    n = np.array([1.5, -2.0, 0.0, -1e-8, -5.0])
    ab, rel = errors(a, n)
    np.testing.assert_allclose(ab, [0.5, 0.0, 0.0, 4e-8, 10.0])
    np.testing.assert_allclose(rel, [0.5 / 1.5, 0.0, 0.0, 4e-8 / 3e-8, 2.0])
    assert ab.shape == rel.shape == a.shape


@pytest.mark.parametrize(("analytic", "numeric", "band"), [
    (1.0, 1.0, "good"),
    (1.0, 1.0 + 1e-7, "good"),
    (-3.0, -3.0 * (1 + 0.5 * RTOL), "good"),
    (1.0, 1.0 + 10 * RTOL, "suspicious"),
    (2.0, 2.002, "suspicious"),
    (1.0, 1.0 / (1 - 0.5 * SUSPICIOUS), "suspicious"),
    (1.0, 1.0 / (1 - 2 * SUSPICIOUS), "wrong"),
    (1.0, 1.5, "wrong"),
    (1.0, -1.0, "wrong"),
    (0.3, 0.0, "wrong"),
])
def test_bands(analytic, numeric, band):
    assert verdict_of(analytic, numeric) == band


def test_no_absolute_floor_by_default():
    # A gradient of 1e-9 that is wrong by a factor 2 is wrong, however small: nothing hides it.
    assert ATOL == 0
    assert verdict_of(2e-9, 1e-9) == "wrong"
    assert verdict_of(-1e-12, 1e-12, bound=1e-16) == "wrong"
    assert verdict_of(0.0, 1e-9) == "wrong"
    # An absolute floor is still there as the user's explicit choice.
    assert verdict_of(0.0, 1e-9, atol=1e-8) == "good"


def test_inconclusive_only_where_the_bound_explains_the_disagreement():
    # Disagreement 1e-10 on an element of 1e-9: beyond rtol, but within MARGIN × the finite difference's bound.
    assert verdict_of(1e-9, 1.1e-9, bound=1e-10) == "inconclusive"
    # The same disagreement with a bound too small to explain it: the analytic value is outside it.
    assert verdict_of(1e-9, 1.1e-9, bound=1e-10 / (2 * MARGIN)) == "suspicious" or \
        verdict_of(1e-9, 1.1e-9, bound=1e-10 / (2 * MARGIN)) == "wrong"
    assert verdict_of(1e-9, 2e-9, bound=1e-10) == "wrong"
    # Within tolerance stays good whatever the bound; no bound means an exact numeric value.
    assert verdict_of(1.0, 1.0 + 1e-7, bound=1.0) == "good"
    assert verdict_of(1e-9, 1.1e-9) == "wrong"
    # A large bound never turns a disagreement beyond it into "inconclusive".
    assert verdict_of(1.0, 3.0, bound=0.1) == "wrong"


def test_tolerances_move_the_bands():
    assert verdict_of(1.0, 1.001) == "suspicious"
    assert verdict_of(1.0, 1.001, rtol=1e-2) == "good"
    assert verdict_of(1.0, 1.0 + 1e-6, rtol=1e-8, atol=1e-12) == "suspicious"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_analytic_is_wrong(bad):
    ab, _ = errors(np.array([bad, 1.0]), np.array([0.5, 1.0]))
    assert list(verdicts(np.array([bad, 1.0]), np.array([0.5, 1.0]), bound=np.array([1.0, 0.0]))) == ["wrong", "good"]
    assert ab[0] == np.inf


def test_nan_errors_are_infinite():
    ab, rel = errors(np.array([np.nan]), np.array([0.5]))
    assert ab[0] == np.inf and rel[0] == np.inf


def test_a_kink_excuses_only_values_between_its_one_sided_slopes():
    # At relu's kink the numeric value is the slopes' midpoint 0.5 and MARGIN × bound reaches both, 0 and 1.
    half = np.array([0.0, 0.5, 0.5, 0.5, 0.0]) / MARGIN
    out = verdicts(np.array([1.0, 1.0, 0.0, -1.0, 1.0]), np.array([1.0, 0.5, 0.5, 0.5, 1.001]),
                   kinks=np.array([True, True, True, True, False]), bound=half)
    assert list(out) == ["good", "kink", "kink", "wrong", "suspicious"]


def test_unresolved_elements_are_inconclusive_and_joint_failures_wrong():
    t = tensor("W0", [1.0, 0.5, 0.0, 3.0], [1.0, 0.5, 0.5, 0.5], kinks=[False, True, True, False],
               bound=np.array([0.0, 0.5, 0.5, 0.5]) / MARGIN, unresolved=np.array([True, False, False, False]),
               joint={"backprop": np.array([False, False, True, False])})
    assert list(t.verdict("backprop")) == ["inconclusive", "good", "wrong", "wrong"]
    assert not t.passed


def test_a_value_at_a_kink_an_ulp_of_zero_from_the_references_is_the_references_choice():
    # Where kinks meet, the reference's 0 may lie outside the element's own slopes (here [4e-5, 8e-5]); a user's
    # gradient that differs from it by the smallest subnormals is the same choice, not a wrong value.
    tiny = 5e-324
    t = TensorCheck("W0", 0, "W", (3,), {"backprop": np.zeros(3), "numeric": np.full(3, 6e-5),
                                         "impl": np.array([-2 * tiny, tiny, 1e-6])}, ("backprop", "impl"),
                    atol=0.0, kinks=np.array([True, True, True]), bound=np.full(3, 2e-5 / MARGIN))
    assert list(t.verdict("backprop")) == ["kink"] * 3
    assert list(t.verdict("impl")) == ["kink", "kink", "wrong"]


def tensor(name, analytic, numeric, kinks=None, layer=0, kind="W", **kw):
    analytic, numeric = np.asarray(analytic, float), np.asarray(numeric, float)
    return TensorCheck(name, layer, kind, numeric.shape, {"backprop": analytic, "numeric": numeric}, ("backprop",),
                       kinks=None if kinks is None else np.asarray(kinks), **kw)


def test_tensor_check_pass_fail_and_max_errors():
    good = tensor("W0", [[1.0, 2.0]], [[1.0, 2.0 * (1 + 1e-8)]])
    assert good.passed and good.max_rel_error == pytest.approx(1e-8, rel=1e-3)
    bad = tensor("W1", [[1.0, 2.0]], [[1.0, 3.0]])
    assert not bad.passed
    assert bad.max_abs_error == pytest.approx(1.0) and bad.max_rel_error == pytest.approx(1 / 3)
    assert list(bad.verdict("backprop").ravel()) == ["good", "wrong"]


def test_kinks_are_ignored_by_max_errors_and_passed():
    t = tensor("b0", [1.0, 2.0], [1.0, 0.5], kinks=[False, True], kind="b", bound=[0.0, 0.5])
    assert t.passed and t.n_kinks == 1
    assert t.max_rel_error == 0.0 and t.max_abs_error == 0.0


def test_infinite_analytic_gives_an_infinite_max_error():
    # |inf − 1| / max(inf, 1) is inf/inf = NaN in IEEE arithmetic; errors() maps NaN abs errors to inf
    # but not this NaN rel error, and max() over a NaN then reports 0 for a tensor that FAILs.
    _, rel = errors(np.array([np.inf]), np.array([1.0]))
    assert rel[0] == np.inf, rel
    # The user's inf where the reference backprop is finite (an inf of the reference's own is float64's overflow,
    # inconclusive: see test_a_value_that_overflows_with_the_reference_is_inconclusive_and_a_finite_one_is_judged).
    t = TensorCheck("W0", 0, "W", (2,), {"numeric": np.array([1.0, 1.0]), "backprop": np.array([1.0, 1.0]),
                                         "impl": np.array([np.inf, 1.0])}, ("impl",))
    assert not t.passed
    assert t.max_abs_error == np.inf
    assert t.max_rel_error == np.inf, t.max_rel_error


def test_an_opinion_of_the_wrong_shape_cannot_pass():
    t = TensorCheck("W0", 0, "W", (2, 3), {"impl": np.zeros((2, 1)), "numeric": np.ones((2, 3))}, ("impl",))
    assert not t.passed and t.verdict("impl") is None
    assert t.max_errors("impl") == (np.inf, np.inf)
    assert t.blame() == []


def test_problem_fails_the_tensor():
    t = tensor("W0", [1.0], [1.0], problem="W0: your dW has shape (3,)")
    assert not t.passed and "PROBLEM" in repr(t)


def result_with_every_band():
    w0 = tensor("W0", [[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.5], [3.003, 4.0]])  # wrong at [0,1], suspicious at [1,0]
    b0 = tensor("b0", [1.0, 5.0], [1.0, 1.0], kinks=[False, True], kind="b", bound=[0.0, 2.0])  # kink at [1]
    w1 = tensor("W1", [[1.0, 2.0]], [[1.0, 1.0]], layer=1)  # wrong at [0,1], rel 0.5
    return CheckResult("net", [w0, b0, w1], ("backprop", "numeric"), ("backprop",))


def test_blame_orders_wrong_then_suspicious_then_kink_then_good():
    rows = result_with_every_band().blame(n=0)
    assert [r.verdict for r in rows[:4]] == ["wrong", "wrong", "suspicious", "kink"]
    assert {r.verdict for r in rows[4:]} == {"good"}
    # Among the wrong ones the larger relative error comes first.
    assert [r.element for r in rows[:2]] == ["W1[0, 1]", "W0[0, 1]"]
    assert rows[0].rel_err == pytest.approx(0.5) and rows[1].rel_err == pytest.approx(0.2)
    assert rows[2].element == "W0[1, 0]" and rows[3].element == "b0[1]"
    assert rows[0].opinion == "backprop" and rows[0].analytic == 2.0 and rows[0].numeric == 1.0


def test_blame_limits_and_filters():
    result = result_with_every_band()
    assert len(result.blame(n=2)) == 2
    assert len(result.blame(n=0)) == 4 + 2 + 2
    assert {r.verdict for r in result.blame(n=0, include_good=False)} == {"wrong", "suspicious", "kink"}
    assert result.counts() == {"good": 4, "kink": 1, "inconclusive": 0, "suspicious": 1, "wrong": 2}


def test_result_pass_fail_and_lookup():
    result = result_with_every_band()
    assert not result.passed and not bool(result)
    assert result.max_rel_error == pytest.approx(0.5)
    assert result.tensor("b0").kind == "b"
    with pytest.raises(KeyError, match="W0"):
        result.tensor("W9")
    ok = CheckResult("ok", [tensor("W0", [1.0], [1.0])], ("backprop", "numeric"), ("backprop",))
    assert ok.passed and bool(ok)
    assert not CheckResult("p", ok.tensors, ok.opinions, ok.checked, problems=["x"]).passed


def test_repr_and_str_name_the_worst_element():
    result = result_with_every_band()
    r = repr(result)
    assert "W1[0, 1]" in r and "FAILED" in r
    s = str(result)
    assert s.splitlines()[0].startswith("net: FAIL")
    assert "W1[0, 1]" in s and "W0[0, 1]" in s and "Worst elements" in s
    # The worst element is the first row of the table.
    table = s[s.index("Worst elements"):].splitlines()[1:]
    first_row = next(line for line in table if line.strip().startswith(("W", "b")))
    assert first_row.split()[0] == "W1[0,"
    ok = CheckResult("fine", [tensor("W0", [1.0, 2.0], [1.0, 2.0 * (1 + 1e-9)])], ("backprop", "numeric"),
                     ("backprop",))
    assert "passed" in repr(ok) and "W0[1]" in repr(ok)
    assert str(ok).startswith("fine: PASS") and "Worst elements" not in str(ok)


def test_element_blame_row_and_repr():
    row = result_with_every_band().blame(n=1)[0]
    assert row.row()[0] == "W1[0, 1]" and row.row()[-1] == "wrong"
    assert "W1[0, 1]" in repr(row) and "wrong" in repr(row)


def test_a_float32_gradient_is_named_and_judged_with_float32_tolerances():
    rng = np.random.default_rng(0)
    exact = rng.normal(size=(3, 4))
    user = exact.astype(np.float32).astype(float) * (1 + 3e-6)  # float32 rounding and a little more
    t = TensorCheck("W0", 0, "W", (3, 4), {"impl": user, "numeric": exact}, ("impl",), float32=True)
    assert t.passed
    result = CheckResult("net", [t], ("impl", "numeric"), ("impl",))
    assert any("your gradients are float32 (W0)" in n for n in result.notes), result.notes
    # float32 tolerances still catch a wrong float32 gradient, ×1.001 included: float32 rounds far below 1e-3.
    for factor in (1 + 100 * FLOAT32_RTOL, 1.001):
        wrong = user.copy()
        wrong[1, 2] *= factor
        bad = TensorCheck("W0", 0, "W", (3, 4), {"impl": wrong, "numeric": exact}, ("impl",), float32=True)
        assert not bad.passed and bad.blame(n=1)[0].element == "W0[1, 2]"


def test_float32_tolerances_come_from_the_arrays_dtype_never_from_the_size_of_a_disagreement():
    """A float64 gradient off by the size of float32 rounding (a float64 bug: a mask skipped at one entry) fails;
    only a gradient returned as float32 is allowed float32's rounding."""
    exact = np.array([1.0, 1e-3, -2e-3, 0.5, -0.7])
    user = exact + np.array([0.0, 3e-7, -3e-7, 0.0, 0.0])
    t = TensorCheck("b1", 1, "b", (5,), {"impl": user, "numeric": exact}, ("impl",))
    assert not t.passed and t.first("suspicious") == "b1[1]"
    notes = CheckResult("net", [t], ("impl", "numeric"), ("impl",)).notes
    assert not any("float32" in n for n in notes), notes
    # A float64 bug 1.7e-4 relative at one entry of a tensor of ones: caught, not excused as float32 rounding.
    ones = np.ones(8)
    bug = ones.copy()
    bug[3] *= 1 + 1.7e-4
    assert not TensorCheck("W0", 0, "W", (8,), {"impl": bug, "numeric": ones}, ("impl",)).passed


def test_a_float32_excuse_is_the_elements_own_not_the_tensors():
    """Float32 rounding is allowed at each element's own size: a small element 1e-3 off relative fails even though
    the error is below ε₃₂ times the tensor's largest gradient."""
    exact = np.array([1e4, 1.0, -2.0])
    user = exact * np.array([1.0, 1.001, 1.0])
    t = TensorCheck("W0", 0, "W", (3,), {"impl": user, "numeric": exact}, ("impl",), float32=True)
    assert not t.passed and t.blame(n=1)[0].element == "W0[1]"


def test_inconclusive_elements_pass_with_a_note_saying_why():
    t = tensor("W0", [1.0, 1e-9], [1.0, 1.2e-9], bound=np.array([0.0, 1e-10]))
    result = CheckResult("net", [t], ("backprop", "numeric"), ("backprop",))
    assert result.passed and result.counts()["inconclusive"] == 1
    assert any("inconclusive (first W0[1])" in n and "Way out" in n for n in result.notes), result.notes


def test_sampled_tensors_judge_only_their_checked_elements():
    mask = np.array([[True, False], [False, True]])
    t = tensor("W0", [[1.0, 5.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]], mask=mask)
    assert t.passed and t.n_checked == 2 and t.count("unchecked") == 2
    assert all(r.verdict != "unchecked" for r in t.blame())


def _blind_case(reference, **more):
    values = {"numeric": np.array([1e-12, 0.5]), "backprop": np.asarray(reference, float)}
    values.update({k: np.asarray(v, float) for k, v in more.items()})
    return TensorCheck("W0", 0, "W", (2,), values, tuple(op for op in ("backprop", "symbolic", "impl") if op in values),
                       bound=np.array([1e-11, 1e-9]))


def test_a_difference_blind_to_the_reference_s_slope_leaves_every_opinion_inconclusive():
    t = _blind_case([5.0, 0.5], impl=[5.0, 0.5])
    assert list(t.verdict("backprop")) == list(t.verdict("impl")) == ["inconclusive", "good"]
    assert t.passed and t.unjudged("blind") == 2 and t.unjudged_elements("blind", "impl").tolist() == [True, False]
    result = CheckResult("net", [t], ("backprop", "impl"), ("backprop", "impl"), RTOL, ATOL)
    assert any("narrower than any step" in n and "W0[0]" in n for n in result.notes)
    assert not any("own error bound is larger" in n for n in result.notes)  # counted once, under its own reason


def test_a_wrong_value_where_reference_and_difference_agree_on_a_flat_loss_fails():
    t = _blind_case([0.0, 0.5], impl=[5.0, 0.5])
    assert t.verdict("impl")[0] == "wrong" and not t.passed and t.unjudged("blind") == 0


def test_a_difference_that_finds_a_slope_is_not_blind():
    t = TensorCheck("W0", 0, "W", (1,), {"numeric": np.array([1.0]), "backprop": np.array([5.0])}, ("backprop",),
                    bound=np.array([1e-9]))
    assert t.verdict("backprop")[0] == "wrong" and t.unjudged("blind") == 0


def test_sympy_siding_with_the_difference_makes_the_reference_wrong_not_the_difference_blind():
    for exact in (1e-12, 0.0):  # SymPy good, and SymPy within the difference's bound
        t = _blind_case([5.0, 0.5], symbolic=[exact, 0.5])
        assert t.verdict("backprop")[0] == "wrong" and t.verdict("symbolic")[0] != "wrong" and not t.passed
    t = _blind_case([5.0, 0.5], symbolic=[5.0, 0.5])  # SymPy with the reference: the difference is blind
    assert t.verdict("backprop")[0] == t.verdict("symbolic")[0] == "inconclusive" and t.passed


def test_a_value_that_overflows_with_the_reference_is_inconclusive_and_a_finite_one_is_judged():
    """The reference backprop's inf or NaN, where the finite difference is finite (2e293), is float64's limit: the
    reference, and an opinion that overflows with it, are inconclusive there; a finite value is judged as anywhere,
    right or wrong, and so is every element where the reference is finite."""
    def judged(impl):
        return TensorCheck("W0", 0, "W", (3,), {"numeric": np.array([-2.1e293, 3.0, 0.5]),
                                                "backprop": np.array([-np.inf, np.nan, 0.5]),
                                                "impl": np.array(impl)}, ("backprop", "impl"),
                           bound=np.array([1e280, 1e-9, 1e-9]))

    with_it = judged([-np.inf, np.nan, 0.5])
    assert list(with_it.verdict("backprop")) == list(with_it.verdict("impl")) == ["inconclusive"] * 2 + ["good"]
    assert with_it.passed and with_it.unjudged("overflowed", "impl") == 2
    result = CheckResult("net", [with_it], ("backprop", "impl"), ("backprop", "impl"), RTOL, ATOL)
    assert any("overflows there" in n and "W0[0]" in n for n in result.notes)
    finite = judged([-2.1e293, 3.0, 0.5])
    assert list(finite.verdict("impl")) == ["good"] * 3 and finite.unjudged("overflowed", "impl") == 0
    wrong = judged([-1.0e293, np.inf, 0.6])
    assert list(wrong.verdict("impl")) == ["wrong", "inconclusive", "wrong"] and not wrong.passed

def test_an_element_without_a_finite_difference_leaves_every_opinion_inconclusive_and_its_neighbour_is_judged():
    t = TensorCheck("b0", 0, "b", (2,), {"numeric": np.array([np.nan, 0.5]), "backprop": np.array([5.0, 0.5]),
                                         "impl": np.array([5.0, 0.1])}, ("backprop", "impl"),
                    bound=np.array([np.inf, 1e-9]))
    assert list(t.verdict("backprop")) == ["inconclusive", "good"]
    assert list(t.verdict("impl")) == ["inconclusive", "wrong"] and not t.passed  # the slip beside it fails
    assert t.unjudged("unmeasured") == 2 and t.unjudged("blind") == 0 and np.isfinite(t.max_rel_error)
    result = CheckResult("net", [t], ("backprop", "impl"), ("backprop", "impl"), RTOL, ATOL)
    assert any("not finite at any step" in n and "b0[0]" in n for n in result.notes)


def test_misses_say_by_what_factor_a_bound_falls_short_of_a_failing_difference():
    """The judge's close calls: for an element found wrong, |a − n| over MARGIN·bound; inf where it is good or
    only inconclusive."""
    numeric = np.array([1.0, 1.0, 1.0, 1.0])
    bound = np.array([1e-8, 1e-3, 1e-8, 1e-8])
    ref = np.array([1.0, 1.0 + 1e-3, 1.0, 1.0])
    user = np.array([1.0, 1.0, 1.0 + 5e-4, 1.1])
    t = TensorCheck("W0", 0, "W", (4,), {"numeric": numeric, "backprop": ref, "impl": user}, ("backprop", "impl"),
                    bound=bound)
    misses = t.misses()
    assert list(t.verdict("backprop")) == ["good", "inconclusive", "good", "good"]
    assert misses[0] == misses[1] == np.inf  # good, and explained by its bound
    assert misses[2] == pytest.approx(5e-4 / (MARGIN * 1e-8), rel=1e-6)  # the user's slip, a thin bound
    assert misses[3] == pytest.approx(0.1 / (MARGIN * 1e-8), rel=1e-6)


def test_tensors_judged_together_get_each_tensor_s_own_verdicts():
    """A network's tensors judged in one pass: every code and error as each tensor's own judgement makes it, kinks
    and bounds where given, and a wrong element in the middle tensor caught there and nowhere else."""
    from gradcheck.judge.bands import _judged, judged_together

    rng = np.random.default_rng(5)
    numeric = [rng.normal(size=(3, 4)), rng.normal(size=(4,)), np.array(0.7)]
    analytic = [n * (1 + 1e-9) for n in numeric]
    analytic[1] = analytic[1].copy()
    analytic[1][2] *= 1.5  # a slip
    kinks = [None, np.array([False, False, True, False]), None]
    bounds = [np.full((3, 4), 1e-12), None, np.array(1e-3)]
    parts = list(zip(analytic, numeric, kinks, bounds))
    together = judged_together(parts, 1e-6, 1e-12)
    for part, got in zip(parts, together):
        own = _judged(*part[:2], 1e-6, 1e-12, part[2], part[3], MARGIN, None)
        for x, y in zip(got, own):
            assert np.shape(x) == np.shape(y)
            np.testing.assert_array_equal(x, y)
    assert [int((codes == 4).sum()) for codes, *_ in together] == [0, 1, 0]  # 4: wrong
    assert together[1][0][2] == 4
