"""check_network(params=...): the user's arrays are validated as net.json's params are, without copies to lists."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck.checks.network import check_network
from gradcheck.errors import SpecError

NET = {"input": 2, "layers": [{"units": 3, "activation": "tanh"}, {"units": 1}], "batch": 4}


def _params():
    rng = np.random.default_rng(0)
    return [{"W": rng.normal(size=(3, 2)), "b": rng.normal(size=3)}, {"W": rng.normal(size=(1, 3)), "b": np.zeros(1)}]


def test_arrays_are_used_and_left_as_they_are():
    params = _params()
    before = [{k: v.copy() for k, v in p.items()} for p in params]
    result = check_network(NET, params=params, symbolic="off")
    assert result.passed
    assert all(np.array_equal(result.params[i][k], before[i][k]) for i in range(2) for k in ("W", "b"))
    assert all(result.params[i]["W"] is not params[i]["W"] for i in range(2))
    assert all(np.array_equal(params[i][k], before[i][k]) for i in range(2) for k in ("W", "b"))


def test_a_nan_is_named_by_its_path():
    params = _params()
    params[1]["W"][0, 2] = np.nan
    with pytest.raises(SpecError, match=r"params\[1\]\.W\[0\]\[2\]: expected a finite number"):
        check_network(NET, params=params, symbolic="off")


def test_a_wrong_shape_is_named_with_a_hint():
    params = _params()
    params[0]["W"] = params[0]["W"].T
    with pytest.raises(SpecError, match=r"params\[0\]\.W.*\(3, 2\).*got \(2, 3\)"):
        check_network(NET, params=params, symbolic="off")


@pytest.mark.parametrize("bad, words", [(np.zeros((3, 2), dtype=complex), "real numbers"), (np.zeros((0,)), "empty")])
def test_complex_and_empty_arrays_are_refused(bad, words):
    params = _params()
    params[0]["W"] = bad
    with pytest.raises(SpecError, match=words):
        check_network(NET, params=params, symbolic="off")


def test_params_that_are_not_a_list():
    with pytest.raises(SpecError, match="params: expected a list"):
        check_network(NET, params=3, symbolic="off")
    assert check_network(NET, params=tuple(_params()), symbolic="off").passed
