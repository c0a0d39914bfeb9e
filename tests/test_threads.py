"""A network check runs with the BLAS threads it chooses, not the ones it inherits."""

from __future__ import annotations

import pytest

from gradcheck import check_network
from gradcheck.reference.backprop import backprop
from gradcheck.threads import CHECK_THREADS, check_threads

threadpoolctl = pytest.importorskip("threadpoolctl")
SPEC = {"input": 3, "layers": [{"units": 4, "activation": "tanh"}, {"units": 2}], "batch": 5}


def _blas_threads():
    return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


@pytest.mark.parametrize("env, expected", [(None, CHECK_THREADS), ("2", 2), ("1", 1), ("default", None),
                                           ("nonsense", CHECK_THREADS), ("0", CHECK_THREADS)])
def test_the_environment_chooses_the_threads(monkeypatch, env, expected):
    if env is None:
        monkeypatch.delenv("GRADCHECK_BLAS_THREADS", raising=False)
    else:
        monkeypatch.setenv("GRADCHECK_BLAS_THREADS", env)
    assert check_threads() == expected


def test_the_check_runs_with_its_threads_and_gives_them_back(monkeypatch):
    monkeypatch.delenv("GRADCHECK_BLAS_THREADS", raising=False)
    before = _blas_threads()
    if not before:
        pytest.skip("no BLAS threadpool visible to threadpoolctl")
    seen = []

    def impl(params, X, Y):
        seen.append(_blas_threads())
        from gradcheck import load_spec

        spec = load_spec(SPEC)
        return backprop(spec, params, X, Y)[1]

    assert check_network(SPEC, impl, symbolic="off").passed
    assert seen and seen[0] == {CHECK_THREADS}
    assert _blas_threads() == before
