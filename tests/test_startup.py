"""Start-up: the pytest plugin loads without NumPy, a check without the symbolic opinion without SymPy, a run that
draws no table without tabulate, and the symbolic opinion without NumPy's submodules that no evaluation calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_after(code, among=("numpy", "sympy")):
    """The modules among ``among`` that a fresh interpreter has loaded after running ``code``."""
    probe = code + f"\nimport sys\nprint(sorted(m for m in {tuple(among)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.strip().splitlines()[-1]


def test_the_plugin_loads_without_numpy():
    assert imported_after("import gradcheck.plugin") == "[]"


def test_a_check_without_the_symbolic_opinion_never_imports_sympy():
    code = ("from gradcheck.cli import main\n"
            "assert main(['derivations/xor.json', '--symbolic', 'off', '-q']) == 0")
    assert imported_after(code) == "['numpy']"


def test_the_symbolic_opinion_does_import_sympy():
    code = ("from gradcheck.cli import main\n"
            "assert main(['derivations/xor.json', '--symbolic', 'on', '-q']) == 0")
    assert imported_after(code) == "['numpy', 'sympy']"


def test_a_quiet_or_json_run_never_imports_tabulate_and_a_text_one_does():
    for flags, wanted in ((["-q"], "[]"), (["--format", "json"], "[]"), ([], "['tabulate']")):
        code = ("import contextlib, io\nfrom gradcheck.cli import main\n"
                "with contextlib.redirect_stdout(io.StringIO()):\n"
                f"    assert main(['derivations/xor.json', '--symbolic', 'off', *{flags!r}]) == 0")
        assert imported_after(code, ["tabulate"]) == wanted, flags


def test_the_symbolic_opinion_loads_none_of_numpys_unused_submodules():
    """SymPy's NumPy code runs with NumPy's functions, not with everything a star import of NumPy would load (f2py,
    testing, ma, polynomial: a tenth of a second of the first symbolic check)."""
    code = ("from gradcheck.cli import main\n"
            "assert main(['derivations/xor.json', '--symbolic', 'on', '-q']) == 0")
    unused = ["numpy.f2py", "numpy.testing", "numpy.ma", "numpy.polynomial"]
    assert imported_after(code, unused) == "[]"
