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

        def select(self, user_api):
            return types.SimpleNamespace(lib_controllers=[self] if user_api == "blas" else [])

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", Controller)
    monkeypatch.setattr(threads, "_CONTROLLER", {})
    first = threads._controller()
    assert threads._controller() is first and len(built) == 1  # nothing imported since: the same one
    monkeypatch.setitem(sys.modules, "a_library_with_its_own_blas", types.ModuleType("a_library_with_its_own_blas"))
    assert threads._controller() is not first and len(built) == 2


@pytest.mark.parametrize("env, expected", [
    ({}, str(CHECK_THREADS)),  # nothing said: the check's threads from the start
    ({"GRADCHECK_BLAS_THREADS": "2"}, "2"),
    ({"GRADCHECK_BLAS_THREADS": "default"}, None),  # inherited: nothing set
    ({"OPENBLAS_NUM_THREADS": "4"}, None),  # the user's own choice stands
    ({"OMP_NUM_THREADS": "3"}, None),
])
def test_the_command_line_starts_its_blas_with_the_check_s_threads(monkeypatch, env, expected):
    from gradcheck import threads

    monkeypatch.delitem(__import__("sys").modules, "numpy")  # as before NumPy loads (restored after the test)
    environ = dict(env)
    threads.start_threads(environ)
    for name in threads.BLAS_VARIABLES:
        assert environ.get(name) == (expected if expected is not None else env.get(name))
    assert environ.get("OMP_NUM_THREADS") == env.get("OMP_NUM_THREADS")  # read by other libraries too: never set


def test_once_numpy_is_loaded_nothing_is_set():
    from gradcheck import threads

    environ = {}
    threads.start_threads(environ)
    assert environ == {}


def test_python_m_gradcheck_runs_with_one_blas_thread_from_the_start(tmp_path):
    """The command line's BLAS is loaded with the check's threads (what threadpoolctl sees while the user's backprop
    runs, the pool OpenBLAS started with), unless the user chose."""
    import json
    import os
    import subprocess
    import sys

    impl = tmp_path / "impl.py"
    impl.write_text("import json, os, threadpoolctl\n"
                    "from gradcheck.reference.backprop import backprop\n"
                    "from gradcheck import load_spec\n"
                    "def gradients(params, X, Y):\n"
                    "    info = [i for i in threadpoolctl.threadpool_info() if i['user_api'] == 'blas']\n"
                    "    with open(os.environ['SEEN'], 'w') as f:\n"
                    "        json.dump([os.environ.get('OPENBLAS_NUM_THREADS'), [i['num_threads'] for i in info]], f)\n"
                    f"    return backprop(load_spec({SPEC!r}), params, X, Y)[1]\n")
    net = tmp_path / "net.json"
    net.write_text(json.dumps(SPEC))
    seen = tmp_path / "seen.json"
    from gradcheck.threads import BLAS_VARIABLES

    env = {k: v for k, v in os.environ.items()
           if k not in (*BLAS_VARIABLES, "OMP_NUM_THREADS", "GRADCHECK_BLAS_THREADS")}
    for extra, variable in (({}, str(CHECK_THREADS)), ({"OPENBLAS_NUM_THREADS": "2"}, "2")):
        done = subprocess.run([sys.executable, "-m", "gradcheck", str(net), "--impl", f"{impl}:gradients",
                               "--symbolic", "off", "--quiet"], env={**env, **extra, "SEEN": str(seen)},
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        variable_seen, pools = json.loads(seen.read_text())
        assert variable_seen == variable
        assert pools and set(pools) == {CHECK_THREADS}  # the check's threads while it runs, either way
