"""The document model and its formats: every block in every format, the CLI's pages, usage fixes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gradcheck.checks.network import check_network
from gradcheck.cli import main
from gradcheck.judge.compare import TensorCheck
from gradcheck.judge.outcome import CheckResult
from gradcheck.render import FORMATS, Code, Document, Equations, Heading, Items, Para, Table, Value, render
from gradcheck.render.results import check_blocks, worst_elements

ROOT = Path(__file__).resolve().parents[1]
XOR = ROOT / "derivations" / "xor.json"
MLP = Path(__file__).parent / "impls" / "sigmoid_mlp.py"
NET = {"input": 3, "layers": [{"units": 3, "activation": "sigmoid"}, {"units": 2, "activation": "sigmoid"}],
       "loss": "quadratic", "batch": 5}


def _every_block():
    import sympy as sp

    from gradcheck.render.mathprint import Math

    x = sp.Symbol("x")
    return Document("demo & 50% of W_0", [
        Heading("Section σ", 2), Para(["prose with ", Math(sp.sin(x) ** 2), " and a | pipe"]),
        Items(["first", ["second with ", Math(x + 1)]]), Equations([(Math(sp.Symbol("y")), Math(2 * x))]),
        Table(["name", "value"], [["W_0", Value("-0.5")], ["b", Value("< 1e-07")]], ["left", "right"]),
        Code("z = W @ a_prev + b : (3,3) @ (3,N) -> (3,N)")])


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_block_in_every_format(fmt):
    out = render(_every_block(), fmt)
    assert "first" in out and "second with" in out and "(3,N)" in out and out.endswith("\n")
    assert out.count("Section") == 1


def test_a_column_given_a_width_wraps_within_it_in_latex_and_only_there():
    table = Table(["key", "value", "n"], [["a", "a long value " * 20, Value("1")]], ["left", "left", "right"],
                  [None, 2.5, None])
    doc = Document("widths", [table])
    assert r"{l>{\raggedright\arraybackslash}p{2.5cm}r}" in render(doc, "latex")
    assert "2.5cm" not in render(Document("widths", [Table(table.headers, table.rows, table.align)]), "latex")
    for fmt in sorted(set(FORMATS) - {"latex"}):
        assert "raggedright" not in render(doc, fmt) and "a long value" in render(doc, fmt)
    assert json.loads(render(doc, "json"))["blocks"][0]["widths"] == [None, 2.5, None]  # layout as data


def test_json_writes_a_document_of_blocks_as_their_kinds_and_fields():
    doc = json.loads(render(_every_block(), "json"))
    assert doc["title"] == "demo & 50% of W_0"
    assert [b["kind"] for b in doc["blocks"]] == ["heading", "para", "items", "equations", "table", "code"]
    assert doc["blocks"][0] == {"kind": "heading", "text": "Section σ", "level": 2}
    assert doc["blocks"][1]["parts"][1]["latex"] == r"\sin^{2}{\left(x \right)}"
    assert doc["blocks"][4]["rows"] == [["W_0", "-0.5"], ["b", "< 1e-07"]]


def test_no_format_name_is_tested_outside_its_own_entry():
    names = "|".join([*FORMATS, "json"])
    pattern = re.compile(rf"""(fmt|format|\.name)\s*(==|!=|in)\s*\(?["']({names})["']""")
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "gradcheck").rglob("*.py")
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert offenders == []


def test_markdown_tables_align_numbers_and_escape_pipes():
    out = render(_every_block(), "markdown")
    assert "|:-----" in out and "-----:|" in out
    assert "a | pipe" in out  # prose keeps its pipe; only table cells escape them


def test_html_escapes_text_and_writes_a_page():
    out = render(_every_block(), "html")
    assert out.startswith("<!DOCTYPE html>") and "demo &amp; 50% of W_0" in out and "<ul>" in out
    assert '<span class="num">−0.5</span>' in out


def _pdflatex(tex, tmp_path):
    (tmp_path / "doc.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    log = (tmp_path / "doc.log").read_text(encoding="latin-1")
    assert run.returncode == 0 and not re.search(r"^! ", log, flags=re.M), log[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 0


def test_latex_sets_dashes_and_degrees_as_text_symbols_not_question_marks():
    tex = render(Document("dashes", [Para("no expanded form — a kernel rotated by 180°, pages 3–4")]), "latex")
    assert r"\DeclareUnicodeCharacter{2014}{\text{\textemdash}}" in tex
    assert r"\DeclareUnicodeCharacter{00B0}{\text{\textdegree}}" in tex
    assert r"\DeclareUnicodeCharacter{2013}{\text{\textendash}}" in tex
    assert r"\texttt{?}" not in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_every_block_compiles_with_pdflatex(tmp_path):
    _pdflatex(render(_every_block(), "latex"), tmp_path)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_cli_latex_is_a_complete_document(tmp_path, capsys):
    net = tmp_path / "mlp.json"
    net.write_text(json.dumps(NET))
    assert main([str(net), str(XOR), "--format", "latex", "--impl", f"{MLP}:sign_flipped_column",
                 "--symbolic", "off"]) == 1
    tex = capsys.readouterr().out
    assert main([str(ROOT / "derivations" / "tiny_cnn.json"), "--format", "latex", "--symbolic", "off"]) == 0
    cnn = capsys.readouterr().out  # ⋆, H', sliding windows: other characters, longer code lines
    _pdflatex(cnn, tmp_path)
    assert "\\DeclareUnicodeCharacter{22C6}" in cnn
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    assert "σ" in tex and "\\DeclareUnicodeCharacter{03C3}" in tex
    _pdflatex(tex, tmp_path)


@pytest.mark.parametrize("fmt", ["html", "markdown", "text"])
def test_cli_writes_one_page_for_several_networks(fmt, tmp_path, capsys):
    net = tmp_path / "mlp.json"
    net.write_text(json.dumps(NET))
    assert main([str(net), str(XOR), "--format", fmt, "--symbolic", "off"]) == 0
    out = capsys.readouterr().out
    assert out.count("Shape trace") == 2 and out.count("<!DOCTYPE") == (fmt == "html")


def test_report_says_where_the_files_went(tmp_path, capsys):
    assert main([str(XOR), "--report", str(tmp_path / "r"), "--format", "markdown", "-q"]) == 0
    err = capsys.readouterr().err
    assert f"report written to {tmp_path / 'r' / 'xor.md'}" in err


def test_trace_only_quiet_is_one_line_per_network(tmp_path, capsys):
    net = tmp_path / "mlp.json"
    net.write_text(json.dumps(NET))
    assert main([str(net), str(XOR), "--trace-only", "-q"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("mlp: shapes traced") and "(2,N)" in lines[0]
    assert lines[1].startswith("xor: shapes traced")


def _two_opinions():
    t = TensorCheck("W0", 0, "W", (3,), {"backprop": [1.0, 2.0, 3.0], "symbolic": [1.0, 2.0, 3.0],
                                        "numeric": [1.0, 2.0 * (1 + 1e-9), 3.0 * (1 + 2e-9)]},
                    ("backprop", "symbolic"))
    return CheckResult("net", [t], ("backprop", "symbolic", "numeric"), ("backprop", "symbolic"))


def test_largest_errors_list_each_element_once():
    result = _two_opinions()
    assert result.passed
    rows = worst_elements(result, 5)
    assert [r.element for r in rows] == ["W0[2]", "W0[1]", "W0[0]"]
    table = [b for b in check_blocks(result, blame=5) if isinstance(b, Table)][-1]
    assert len(table.rows) == 3 and len({r[0] for r in table.rows}) == 3


def test_str_of_a_result_is_the_text_format_of_its_blocks():
    result = check_network(NET, f"{MLP}:sign_flipped_column", symbolic="off")
    text = str(result)
    assert text.splitlines()[0].startswith("mlp: FAIL") or text.splitlines()[0].startswith(f"{result.name}: FAIL")
    assert "Worst elements:" in text and "Diagnosis:" in text


def test_notebook_display_of_results_traces_and_derivations():
    from gradcheck import derive, load_spec, trace_shapes

    spec = load_spec(XOR)
    result = check_network(spec, symbolic="off")
    for obj, words in [(result, ["xor: PASS", "Largest errors"]), (trace_shapes(spec), ["Shape trace", "a_prev"]),
                       (derive(spec, expand="off"), ["SymPy derivation", "W0[1, 0]"])]:
        html, md = obj._repr_html_(), obj._repr_markdown_()
        assert html.startswith('<div class="gradcheck">') and "<table>" in html and "<html" not in html
        assert "|:" in md or "| " in md
        for word in words:
            assert word in html and word in md, (type(obj).__name__, word)


def test_a_report_reuses_the_checks_derivation():
    from gradcheck.reports.derivation import report_content

    result = check_network(XOR)  # symbolic "auto": a small network is derived, with its expanded forms
    d = result.derivation
    assert d.expanded and report_content(result).derivation is d
    assert check_network(XOR, symbolic="off").derivation is None


def test_expanded_forms_fit_their_cell_or_are_displayed_or_left_out():
    from gradcheck.render.elements import CELL_CHARS, DISPLAY_CHARS, element_blocks
    from gradcheck.reports.derivation import report_content

    result = check_network(ROOT / "derivations" / "softmax_classifier.json")
    c = report_content(result)
    blocks, _ = element_blocks(c.spec, c.derivation, result, c.noise)
    table = next(b for b in blocks if isinstance(b, Table))
    column = [row[3] for row in table.rows]
    shown = [cell for cell in column if not isinstance(cell, str)]
    assert all(len(cell) <= CELL_CHARS for cell in shown)
    below = [cell for cell in column if isinstance(cell, str) and cell.endswith("below")]
    displayed = [b for b in blocks if isinstance(b, Equations)]
    assert below and len(displayed) == len(below)
    assert all(len(eq.rows[0][1]) <= DISPLAY_CHARS for eq in displayed)
    assert all(cell in ("—", "too long: see ∂C/∂θ") or cell.endswith("below") or not isinstance(cell, str)
               for cell in column)


def test_expanded_forms_too_long_to_display_point_to_the_chain_rule(monkeypatch):
    import gradcheck.render.elements as elements
    from gradcheck.reports.derivation import report_content

    monkeypatch.setattr(elements, "DISPLAY_CHARS", 100)
    result = check_network(XOR)
    c = report_content(result)
    blocks, _ = elements.element_blocks(c.spec, c.derivation, result, c.noise)
    table = next(b for b in blocks if isinstance(b, Table))
    assert all(row[3] == "too long: see ∂C/∂θ" for row in table.rows)
    assert not any(isinstance(b, Equations) for b in blocks)
    note = next(b for b in blocks if isinstance(b, Para) and "left out" in "".join(map(str, b.parts)))
    assert "W0[0, 0]" in "".join(map(str, note.parts))
