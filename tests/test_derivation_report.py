"""Derivation reports: every format, offline maths, booktabs LaTeX, values, no overwrite, determinism, staleness."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

from gradcheck.checks.network import check_network
from gradcheck.cli import main as cli_main
from gradcheck.errors import GradcheckError
from gradcheck.render.mathprint import MATHML_NS, Math
from gradcheck.reports.derivation import EXTENSIONS, build_report
from gradcheck.reports.files import compare_dirs, generate, main, write_reports
from gradcheck.spec.parse import load_spec
from gradcheck.symbolic.reach import should_run

ROOT = Path(__file__).resolve().parents[1]
DERIVATIONS = ROOT / "derivations"
EXAMPLES = sorted(DERIVATIONS.glob("*.json"))
EXAMPLE_IDS = [p.stem for p in EXAMPLES]


def _checked(path):
    spec = load_spec(str(path))
    return spec, check_network(spec)


@pytest.fixture(scope="module")
def or_gate(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    spec, result = _checked(DERIVATIONS / "or_gate.json")
    paths = write_reports(result, out)
    return spec, out, paths


def _labels(spec):
    return {f"{name}[{', '.join(map(str, idx))}]" for name, _, _, shape in spec.param_names()
            for idx in np.ndindex(*shape)}


def test_every_format_is_written(or_gate):
    spec, out, paths = or_gate
    assert sorted(p.name for p in paths) == sorted(f"{spec.name}{ext}" for ext in EXTENSIONS.values())
    for p in paths:
        assert p.parent == out and p.stat().st_size > 1000, p


def test_one_format_only(tmp_path):
    _spec, result = _checked(DERIVATIONS / "xor.json")
    assert write_reports(result, tmp_path / "new" / "dir", "markdown") == [tmp_path / "new/dir/xor.md"]
    assert [p.name for p in (tmp_path / "new/dir").iterdir()] == ["xor.md"]
    with pytest.raises(GradcheckError, match="report format"):
        write_reports(result, tmp_path, "pdf")


_NAMED_ENTITY = re.compile(r"&(?!lt;|gt;|amp;|quot;|#)([A-Za-z]+);")


def test_html_renders_maths_offline(or_gate):
    spec, out, _ = or_gate
    text = (out / f"{spec.name}.html").read_text(encoding="utf-8")
    maths = re.findall(r"<math\b.*?</math>", text, flags=re.S)
    assert len(maths) > 3 * spec.n_params  # symbol, chain rule and expanded form of every element
    for m in maths:  # each one is well-formed MathML in the MathML namespace
        el = ET.fromstring(_NAMED_ENTITY.sub(lambda g: html.unescape(g.group(0)), m))
        assert el.tag == f"{{{MATHML_NS}}}math"
    assert "<msubsup><mi>w</mi>" in text  # w^{(l)}_{j,k} as a sub- and superscript, not a name like w0_1_2
    assert "kroneckerdelta" not in text.lower() and "sigmoid(" not in "".join(maths)
    without_ns = text.replace(f'xmlns="{MATHML_NS}"', "")
    assert not re.search(r"https?:", without_ns), "the page must not point at the network"
    assert not re.search(r"<script|<link|@import|url\(|<img|<iframe", text, flags=re.I)
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")


def _environments_balanced(tex):
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{([^}]*)\}", tex):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} does not close {stack[-1:]}"
    return not stack


def test_latex_is_a_booktabs_document(or_gate):
    spec, out, _ = or_gate
    tex = (out / f"{spec.name}.tex").read_text(encoding="utf-8")
    assert tex.startswith("\\documentclass") and tex.rstrip().endswith("\\end{document}")
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{longtable}"):
        assert rule in tex
    assert "\\hline" not in tex
    assert _environments_balanced(tex)
    assert tex.count("$") % 2 == 0


@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_json_values_agree_with_check_network(path, tmp_path):
    spec, result = _checked(path)
    write_reports(result, tmp_path, "json")
    doc = json.loads((tmp_path / f"{spec.name}.json").read_text(encoding="utf-8"))
    fresh = check_network(load_spec(str(path)))  # a second, independent run
    elements = {e["element"]: e for e in doc["elements"]}
    assert set(elements) == _labels(spec)
    derived = doc["deltas"] is not None  # layer kinds without a SymPy form, or over its limits: no derivation
    assert derived == should_run(spec, "auto")[0]
    for t in fresh.tensors:
        for idx in np.ndindex(*t.shape):
            e = elements[f"{t.name}[{', '.join(map(str, idx))}]"]
            # values as shown: 6 significant digits, within one unit of the last digit of the backprop's
            assert e["backprop"] == float(f"{t.values['backprop'][idx]:.6g}")
            for op in ("symbolic", "numeric") if derived else ("numeric",):
                np.testing.assert_allclose(e[op], t.values[op][idx], rtol=2e-5, atol=1e-12, err_msg=f"{e} {op}")
            assert e["verdicts"] == {op: str(t.verdict(op)[idx]) for op in t.checked}
            whole_batch = any(ly.kind == "batchnorm" for ly in spec.layers) or spec.mask is not None  # every δ written
            if not derived:
                assert e["symbolic"] is None
            elif spec.layers[e["layer"]].kind != "dense" or whole_batch or len(spec.layers[e["layer"]].out_shape) > 1:
                # a conv weight, a norm's γ, a dense layer applied per step: many δ's
                text = e["chain_rule"]["text"]  # a recurrent weight: the adjoints (dh, dgi, ...) of the states it feeds
                assert f"delta{e['layer']}_" in text or re.search(rf"(?<![a-z])d[a-z]+{e['layer']}_", text), text
            elif e["kind"] == "W":  # ∂C/∂w_jk = δ_j · (input k): the chain rule names the δ of unit j
                assert f"delta{e['layer']}_{e['unit']}" in e["chain_rule"]["text"]
            else:
                assert e["chain_rule"]["text"] == f"delta{e['layer']}_{e['unit']}"
    assert doc["check"]["passed"] is True and doc["check"]["source"] == path.name
    if derived:
        tied = any(ly.kind == "batchnorm" for ly in spec.layers) or spec.mask is not None  # the whole batch written
        samples = spec.n_samples if tied else 1
        assert len(doc["deltas"]) == samples * sum(ly.units for ly in spec.layers)
    assert "[i = j]" in doc["local_fact"]["dz_dw"]["text"]


def test_markdown_table_has_one_row_per_element(or_gate):
    spec, out, _ = or_gate
    lines = (out / f"{spec.name}.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| element ") and "SymPy" in line)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    assert len(rows) == spec.n_params
    assert {r.split("|")[1].strip() for r in rows} == _labels(spec)
    width = len(re.split(r"(?<!\\)\|", lines[start]))
    for r in rows:  # maths inside the cells never adds a column
        assert len(re.split(r"(?<!\\)\|", r)) == width, r
    text = "\n".join(lines)
    assert "$`" in rows[0] and "```math" in text
    assert "\\allowbreak" not in text and "\\*" not in text  # TeX-only break hints stay out of Markdown


def test_long_expressions_get_break_points():
    x = sp.symbols("x0:12")
    expr = sp.Function("f")(sum(x)) * (1 - sp.tanh(sum(v ** 2 for v in x)))
    wrapped = Math(expr, wrap=True)
    assert wrapped.mathml().count("<math ") > 2
    hints = ("\\*", "\\allowbreak")  # TeX's discretionary times and plain break points
    assert any(h in wrapped.latex() for h in hints), wrapped.latex()
    assert not any(h in Math(expr).latex() for h in hints)
    assert Math(expr).mathml().count("<math ") == 1
    assert all(len(line) < 400 for line in Math(expr).latex_lines(width=40))
    assert len(Math(expr).latex_lines(width=40)) > 2


def test_never_overwrites_an_input(tmp_path):
    src = tmp_path / "or_gate.json"
    shutil.copy(DERIVATIONS / "or_gate.json", src)
    before = src.read_bytes()
    _spec, result = _checked(src)
    for fmt in ("json", None):
        with pytest.raises(GradcheckError, match="overwrite the input"):
            write_reports(result, tmp_path, fmt, inputs=[str(src)])
    with pytest.raises(GradcheckError, match="overwrite the input"):  # the same file by another path
        write_reports(result, tmp_path / "." / "sub" / "..", "json", inputs=[str(src)])
    assert src.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["or_gate.json"]  # nothing written
    with pytest.raises(GradcheckError, match="not a gradcheck derivation report"):  # a net.json not checked now
        write_reports(result, tmp_path, "json")
    assert src.read_bytes() == before


def test_cli_report_into_the_derivations_folder_exits_2(tmp_path, capsys):
    folder = tmp_path / "derivations"
    shutil.copytree(DERIVATIONS, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code = cli_main([*map(str, sorted(folder.glob("*.json"))), "--report", str(folder), "--quiet"])
    assert code == 2
    assert "overwrite the input" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_cli_writes_every_format(tmp_path, capsys):
    code = cli_main([str(DERIVATIONS / "augmented_single_layer.json"), "--report", str(tmp_path / "r"), "--quiet"])
    assert code == 0
    assert sorted(p.suffix for p in (tmp_path / "r").iterdir()) == sorted(EXTENSIONS.values())


def test_reports_are_deterministic(tmp_path):
    files = [DERIVATIONS / "xor.json", DERIVATIONS / "softmax_classifier.json"]
    generate(files, tmp_path / "a")
    generate(files, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(names) == 8
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    text = "".join((tmp_path / "a" / n).read_text(encoding="utf-8") for n in names)
    assert str(ROOT) not in text and str(tmp_path) not in text


def test_reports_do_not_depend_on_hash_seed_or_working_directory(tmp_path):
    spec = str(DERIVATIONS / "xor.json")
    for n, seed in enumerate(("1", "2")):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        cwd = tmp_path if n else ROOT
        subprocess.run([sys.executable, "-m", "gradcheck", spec, "--report", str(tmp_path / seed), "--quiet"],
                       check=True, env=env, cwd=cwd, capture_output=True)
    assert compare_dirs(tmp_path / "1", tmp_path / "2") == []


def test_staleness_check(tmp_path, capsys):
    out = tmp_path / "reports"
    specs = ["--specs", str(DERIVATIONS / "or_gate.json"), str(DERIVATIONS / "augmented_single_layer.json")]
    assert main([*specs, "--out", str(out)]) == 0
    assert main(["--check", *specs, "--out", str(out)]) == 0
    capsys.readouterr()

    md = out / "or_gate.md"
    md.write_text(md.read_text(encoding="utf-8").replace("0.0144467", "0.0144468"), encoding="utf-8")
    assert main(["--check", *specs, "--out", str(out)]) == 1
    assert capsys.readouterr().out.splitlines() == [f"stale: {md}"]

    (out / "augmented_single_layer.tex").unlink()
    (out / "old_network.html").write_text("<p>gone</p>", encoding="utf-8")
    assert main(["--check", *specs, "--out", str(out)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"missing: {out / 'augmented_single_layer.tex'}",
        f"extra: {out / 'old_network.html'} (no net.json generates it)",
        f"stale: {md}",
    ]

    assert main([*specs, "--out", str(out)]) == 0  # regenerate in place
    (out / "old_network.html").unlink()
    assert main(["--check", *specs, "--out", str(out)]) == 0


def test_staleness_check_bad_input(tmp_path, capsys):
    assert main(["--check", "--specs", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("path", EXAMPLES, ids=EXAMPLE_IDS)
def test_latex_compiles(path, tmp_path):
    _spec, result = _checked(path)
    (tmp_path / "report.tex").write_text(build_report(result, "latex"), encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    log = (tmp_path / "report.log").read_text(encoding="latin-1")
    assert run.returncode == 0, log[-3000:]
    assert (tmp_path / "report.pdf").stat().st_size > 0
    assert not re.search(r"^! ", log, flags=re.M), log[-3000:]
    # nothing runs into the margin: a long network description wraps, a long chain rule holds named adjoints
    wide = [float(w) for w in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert max(wide, default=0.0) <= 5.0, sorted(wide)[-5:]
