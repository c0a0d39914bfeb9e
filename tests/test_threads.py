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


def test_the_controller_is_built_again_when_a_module_may_have_brought_a_blas(monkeypatch):
    """A library imported after the first check (torch, SciPy) may load a BLAS of its own; a controller built
    before would not know it and leave it at its default threads."""
    import sys
    import types

    from gradcheck import threads

    built = []

    class Controller:
        def __init__(self):
            built.append(len(sys.modules))

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", Controller)
    monkeypatch.setattr(threads, "_CONTROLLER", {})
    first = threads._controller()
    assert threads._controller() is first and len(built) == 1  # nothing imported since: the same one
    monkeypatch.setitem(sys.modules, "a_library_with_its_own_blas", types.ModuleType("a_library_with_its_own_blas"))
    assert threads._controller() is not first and len(built) == 2
