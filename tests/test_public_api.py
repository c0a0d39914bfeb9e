"""The public surface: every name in ``gradcheck.__all__`` imports, and the docs import nothing else.

The README and docs/*.md import only from ``gradcheck``, ``gradcheck.strategies`` and the catalogue
(``gradcheck.catalogue`` and its modules, the documented extension points). The example test file
of docs/pytest.md (shown in the README too) runs as shown, with pytest, in a throw-away project: it passes with
a right backprop and fails, naming the mistake, with a wrong one.
"""

import json
import re
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import numpy  # noqa: F401  (loaded once: the in-process pytester run below unloads what it imports)
import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ALLOWED = re.compile(r"gradcheck(\.strategies|\.catalogue(\.\w+)*)?")
IMPORT = re.compile(r"^\s*(?:>>>|\.\.\.)?\s*(?:from\s+(gradcheck[\w.]*)\s+import|import\s+(gradcheck[\w.]*))", re.M)


def test_every_public_name_imports():
    import gradcheck

    assert len(gradcheck.__all__) == len(set(gradcheck.__all__)) > 10
    for name in gradcheck.__all__:
        exec(f"from gradcheck import {name}", {})
        assert getattr(gradcheck, name) is not None, name


def test_the_strategies_and_the_catalogue_import():
    from gradcheck import catalogue, strategies
    from gradcheck.catalogue.layers import LAYER_KINDS, Layer

    assert {"specs", "networks", "cnn_specs", "params_for", "data_for", "bad_shape_specs", "malformed_specs"} <= set(
        dir(strategies))
    assert set(catalogue.__all__) >= {"ACTIVATIONS", "LOSSES", "LAYER_KINDS"}
    assert all(issubclass(cls, Layer) for cls in LAYER_KINDS.values())


def imports_of(text):
    return [m.group(1) or m.group(2) for m in IMPORT.finditer(text)]


def test_the_import_finder_sees_both_forms():
    found = imports_of(">>> from gradcheck.checks.function import check_function\nimport gradcheck.judge\n"
                       "from gradcheck import check_network\n")
    assert found == ["gradcheck.checks.function", "gradcheck.judge", "gradcheck"]
    assert [m for m in found if not ALLOWED.fullmatch(m)] == ["gradcheck.checks.function", "gradcheck.judge"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_import_only_the_public_surface(page):
    found = imports_of(page.read_text(encoding="utf-8"))
    outside = [m for m in found if not ALLOWED.fullmatch(m)]
    assert not outside, f"{page.name} imports {outside}: use gradcheck, gradcheck.strategies or the catalogue"


MY_LAYERS = '''
import numpy as np

Y = np.array([0, 2, 1, 1, 0])


def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def _probs(scores):
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_loss(scores):
    return float(-np.log(_probs(scores)[np.arange(len(Y)), Y]).mean())


def softmax_loss_grad(scores):
    d = _probs(scores)
    d[np.arange(len(Y)), Y] -= 1
    return d / len(Y)
'''


def _code_block(page, first_line):
    text = page.read_text(encoding="utf-8")
    start = text.index("```python\n" + first_line) + len("```python\n")
    return text[start:text.index("```", start)]


def test_the_readme_shows_the_pytest_page_example():
    first = "# tests/test_my_layers.py"
    assert _code_block(ROOT / "README.md", first) == _code_block(ROOT / "docs" / "pytest.md", first)


def test_the_pytest_page_example_runs_as_shown(pytester):
    plugin = [] if any(ep.value == "gradcheck.plugin" for ep in entry_points(group="pytest11")) else [
        "-p", "gradcheck.plugin"]
    pytester.makepyfile(test_my_layers=_code_block(ROOT / "docs" / "pytest.md", "# tests/test_my_layers.py"),
                        my_layers=MY_LAYERS)
    shutil.copy(ROOT / "docs" / "examples" / "or_gate_backprop.py", pytester.path / "my_backprop.py")
    (pytester.path / "nets").mkdir()
    (pytester.path / "nets" / "or_gate.json").write_text(json.dumps(json.loads(
        (ROOT / "derivations" / "or_gate.json").read_text())))
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest", *plugin)
    result.assert_outcomes(passed=3)
    (pytester.path / "my_backprop.py").write_text((pytester.path / "my_backprop.py").read_text().replace(
        "def backprop(", "def right(").replace("def backprop_sigma_of_a(", "def backprop("))
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest", *plugin)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_my_network*", "*matches a known mistake: layer 0 applies sigmoid'*"])


def _shown_lines_match(block, out):
    """Every line of a README excerpt is a line of the output: a line "..." skips lines, a word "..." stands
    for the rest of a line, "…" for one number (round-off that differs between machines)."""
    lines = out.splitlines()
    for shown in block.splitlines():
        if shown.strip() in ("", "...") or shown.startswith("$ "):
            continue
        tokens = [".*" if tok == "..." else re.escape(tok).replace("…", r"[^\s)]+") for tok in shown.split()]
        pattern = r"\s*" + r"\s+".join(tokens)  # columns aligned however wide the numbers are
        assert any(re.fullmatch(pattern, line) for line in lines), f"not in the output: {shown!r}"


def test_the_readme_shows_the_main_jobs_real_output(capsys):
    from gradcheck.cli import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert main([str(ROOT / "derivations" / "or_gate.json")]) == 0
    _shown_lines_match(_code_block_text(readme, "  layer  quantity"), capsys.readouterr().out)
    assert main([str(ROOT / "derivations" / "or_gate.json"), "--symbolic", "off", "--impl",
                 f"{ROOT / 'docs' / 'examples' / 'or_gate_backprop.py'}:backprop_sigma_of_a"]) == 1
    _shown_lines_match(_code_block_text(readme, "$ python -m gradcheck"), capsys.readouterr().out)


def _code_block_text(text, first_line):
    start = text.index("```text\n" + first_line) + len("```text\n")
    return text[start:text.index("```", start)]
