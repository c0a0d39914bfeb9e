"""SymPy's opinion on saturated outputs: evaluated in the fused, stable forms, or "not evaluated" (never wrong)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from gradcheck.catalogue import LOSSES
from gradcheck.catalogue.activations import SYMPY_NUMPY
from gradcheck.catalogue.sympy_forms import FORMS, softmax


@pytest.mark.parametrize("loss", [name for name, loss in LOSSES.items() if loss.sample_term_from_z is not None])
def test_the_loss_written_in_z_is_the_loss(loss):
    """sample_term_from_z(z) = sample_term(σ(z)) at moderate z: the δ SymPy evaluates is the δ it displays."""
    k = 3
    z, y = sp.symbols("z0:3", real=True), sp.symbols("y0:3", real=True)
    n_, k_ = sp.Symbol("N"), sp.Symbol("K")
    a = softmax_all(z) if LOSSES[loss].output == "softmax" else [FORMS[LOSSES[loss].output](zi) for zi in z]
    ours = LOSSES[loss].sample_term(a, y, n_, k_)
    fused = LOSSES[loss].sample_term_from_z(z, y, n_, k_)
    f = sp.lambdify([*z, *y, n_, k_], [ours, fused, *[sp.diff(ours, zi) - sp.diff(fused, zi) for zi in z]],
                    modules=[SYMPY_NUMPY, "numpy"])
    rng = np.random.default_rng(5)
    for _ in range(20):
        values = f(*rng.normal(0, 3, k), *rng.uniform(0, 1, k), 2, k)
        assert values[0] == pytest.approx(values[1], rel=1e-12)
        assert np.allclose(values[2:], 0, atol=1e-12)


def softmax_all(z):
    return [softmax(i, *z) for i in range(len(z))]
