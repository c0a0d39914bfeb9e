"""Start-up: the pytest plugin loads without NumPy, and a check without the symbolic opinion without SymPy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_after(code):
    """The modules among numpy/sympy that a fresh interpreter has loaded after running ``code``."""
    probe = code + "\nimport sys\nprint(sorted(m for m in ('numpy', 'sympy') if m in sys.modules))"
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
