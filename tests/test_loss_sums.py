"""Each sample's share of the loss, summed over its outputs a column at a time: NumPy's own sums, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.catalogue import losses
from gradcheck.catalogue.losses import ROW_SUM_OUTPUTS, _sum2


@pytest.mark.parametrize("k", range(1, ROW_SUM_OUTPUTS + 1))
def test_a_stack_of_samples_outputs_sums_to_numpys_bits(k):
    """Terms across 24 orders of magnitude (where the order of the additions shows in the last bits), signed zeros,
    infinities and NaNs: every per-sample sum is the one ``x.sum`` gives, to the bit and the sign of zero."""
    rng = np.random.default_rng(k)
    for trial in range(12):
        shape = (int(rng.integers(1, 40)), int(rng.integers(1, 33)), 1, k)
        x = rng.normal(size=shape) * 10.0 ** rng.integers(-12, 12, size=shape)
        pick = rng.random(shape)
        x[pick < 0.05], x[pick > 0.97] = -0.0, 0.0
        if trial == 1:
            x[..., 0] = -0.0
        if trial == 2:
            x[..., -1] = np.inf
        if trial == 3:
            x[..., k // 2] = np.nan
        if trial == 4:
            x[0] = -0.0  # whole rows of −0: NumPy's sums start from +0
        expected, got = x.sum(axis=(-2, -1)), _sum2(x)
        np.testing.assert_array_equal(got, expected)
        assert np.array_equal(np.signbit(got), np.signbit(expected)), (k, trial)


def test_the_column_sums_are_the_ones_taken_and_other_shapes_keep_numpys(monkeypatch):
    """A float64 stack (P, N, 1, K) takes the column sums; a whole batch (N, K), more outputs than
    ROW_SUM_OUTPUTS, a view that is not contiguous or complex numbers (the complex step) take NumPy's reduction."""
    taken = []
    original = losses._row_sums
    monkeypatch.setattr(losses, "_row_sums", lambda x: taken.append(x.shape) or original(x))
    rng = np.random.default_rng(0)
    stack = rng.normal(size=(5, 7, 1, 10))
    _sum2(stack)
    assert taken == [(5, 7, 10)]
    for other in (rng.normal(size=(7, 10)), rng.normal(size=(5, 7, 1, ROW_SUM_OUTPUTS + 1)),
                  rng.normal(size=(5, 7, 1, 20))[..., ::2], stack + 1e-20j):
        np.testing.assert_array_equal(_sum2(other), other.sum(axis=(-2, -1)))
    assert taken == [(5, 7, 10)]
