"""The table of tolerances by dtype: its rows, its lookup, and a float32 gradient judged by its row."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.defaults import RTOL
from gradcheck.judge.compare import TensorCheck
from gradcheck.judge.tolerances import TOLERANCES, tolerance


def test_one_row_per_float_dtype_with_its_epsilon():
    assert list(TOLERANCES) == ["float64", "float32", "float16"]
    for name, eps in (("float64", 2.0**-52), ("float32", 2.0**-23), ("float16", 2.0**-10)):
        assert tolerance(name).eps == eps
        assert tolerance(np.dtype(name)) is tolerance(getattr(np, name)) is TOLERANCES[name]
    assert tolerance() is TOLERANCES["float64"]


def test_default_rtols_float64_as_asked_and_coarser_dtypes_no_tighter_than_their_own():
    assert tolerance().rtol == RTOL and tolerance().judged_rtol(1e-9) == 1e-9
    row = tolerance("float32")
    assert row.rtol == 2.0**7 * 2.0**-23
    assert row.judged_rtol(1e-9) == row.rtol and row.judged_rtol(0.1) == 0.1


def test_the_rounding_allowed_is_a_multiple_of_the_estimate_at_the_dtypes_epsilon():
    estimate = np.array([1.0, 3.0])
    assert np.array_equal(tolerance().rounding(estimate), 4 * 2.0**-52 * estimate)
    assert np.array_equal(tolerance("float32").rescale(tolerance().rounding(estimate)), 4 * 2.0**-23 * estimate)


def test_a_dtype_without_a_row_is_refused():
    with pytest.raises(ValueError, match="dtype int64: no tolerances; expected one of float64, float32, float16"):
        tolerance("int64")


def test_a_float32_gradient_off_by_more_than_its_row_allows_fails_and_one_within_passes():
    exact = np.array([1.0, -0.5, 2.0])
    rtol = tolerance("float32").rtol
    for factor, passed in ((1 + rtol / 4, True), (1 + 8 * rtol, False)):
        user = exact * np.array([1.0, factor, 1.0])
        t = TensorCheck("W0", 0, "W", (3,), {"impl": user, "numeric": exact}, ("impl",), rtol=1e-9, float32=True)
        assert t.passed is passed
        # the same values as float64 are held to the rtol asked
        assert not TensorCheck("W0", 0, "W", (3,), {"impl": user, "numeric": exact}, ("impl",), rtol=1e-9).passed
