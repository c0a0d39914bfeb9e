"""``python -m gradcheck``: exit codes, output formats, JSON document, bad input, files left untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck.cli import main
from gradcheck.reference.backprop import backprop
from gradcheck.spec.parse import load_spec

ROOT = Path(__file__).parent.parent
DERIVATIONS = sorted((ROOT / "derivations").glob("*.json"))
MLP = Path(__file__).parent / "impls" / "sigmoid_mlp.py"
NET = {"input": 3, "layers": [{"units": 3, "activation": "sigmoid"}, {"units": 2, "activation": "sigmoid"}],
       "loss": "quadratic", "batch": 5}


def run(args, capsys, symbolic="off"):
    argv = [str(a) for a in args] + (["--symbolic", symbolic] if symbolic else [])
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "mlp.json"
    path.write_text(json.dumps(NET, indent=1))
    return path


def assert_bad_input(code, out, err):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gradcheck: ") and "Traceback" not in out + err
    return lines[0]


# -- exit codes -------------------------------------------------------------------------------

@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.stem)
def test_every_worked_example_is_green(path, capsys):
    code, out, err = run([path], capsys)
    assert code == 0, out + err
    assert "PASS" in out and err == ""


def test_a_worked_example_with_the_default_symbolic_setting(capsys):
    code, out, err = run([ROOT / "derivations" / "or_gate.json", "--format", "json"], capsys, symbolic=None)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["passed"] and "symbolic" in doc["checked"]
    assert all(p["symbolic"] is not None for p in doc["parameters"])


def test_exit_1_when_an_impl_disagrees(net_file, capsys):
    code, out, err = run([net_file, "--impl", f"{MLP}:sign_flipped_column"], capsys)
    assert code == 1 and err == ""
    assert "FAIL" in out and "sign is flipped" in out


def test_exit_2_for_a_missing_file_while_the_others_still_run(net_file, tmp_path, capsys):
    code, out, err = run([net_file, tmp_path / "missing.json"], capsys)
    line = assert_bad_input(code, out, err)
    assert "missing.json" in line and "no such file" in line
    assert "PASS" in out  # the good file was still checked and printed


def test_bad_input_wins_over_a_mismatch(net_file, tmp_path, capsys):
    code, _, err = run([net_file, tmp_path / "missing.json", "--impl", f"{MLP}:sign_flipped_column"], capsys)
    assert code == 2 and "missing.json" in err


def test_subprocess_exit_codes_and_no_traceback(net_file, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GRADCHECK_DEBUG", None)

    def call(*args):
        return subprocess.run([sys.executable, "-m", "gradcheck", *map(str, args), "--symbolic", "off", "-q"],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    ok = call(net_file)
    assert ok.returncode == 0 and ok.stderr == "" and "PASS" in ok.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"input": 2, "layers": [{"units": 0}]}')
    refused = call(bad)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == f"gradcheck: {bad}: layers[0].units: expected a whole number >= 1, got 0"
    wrong = call(net_file, "--impl", f"{MLP}:raises_column")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stdout + wrong.stderr


# -- bad input: exit 2, one line -----------------------------------------------------------------

BAD_SPECS = {
    "empty": "",
    "not_json": "{'input': 2}",
    "top_level_list": "[1, 2]",
    "unknown_key": '{"input": 2, "layers": [{"units": 1}], "lost": "mse"}',
    "no_layers": '{"input": 2}',
    "softmax_hidden": '{"input": 2, "layers": [{"units": 2, "activation": "softmax"}, {"units": 1}]}',
    "nan_param": '{"input": 1, "layers": [{"units": 1}], "params": [{"W": [[NaN]], "b": [0]}]}',
    "ragged": '{"input": 2, "layers": [{"units": 1}], "data": {"X": [[1, 2], [3]], "Y": [1, 2]}}',
    "or_gate_shapes": ('{"input": 2, "layers": [{"units": 2, "activation": "sigmoid"}, {"units": 1, "activation": '
                       '"sigmoid"}], "params": [{"W": [0.3, 0.4], "b": [1, 1]}, {"W": [0.1], "b": [1]}]}'),
    "huge": '{"input": 2, "layers": [{"units": 1000000000}]}',
    "bool_units": '{"input": 2, "layers": [{"units": true}]}',
}


@pytest.mark.parametrize("name", list(BAD_SPECS))
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_every_bad_spec_gives_one_line_and_exit_2(name, fmt, tmp_path, capsys):
    path = tmp_path / f"{name}.json"
    path.write_text(BAD_SPECS[name])
    code, out, err = run([path, "--format", fmt], capsys)
    line = assert_bad_input(code, out, err)
    assert str(path) in line
    if fmt == "json":  # the JSON document still comes out, with the error in it
        doc = json.loads(out)
        assert doc["passed"] is False if "passed" in doc else True
        assert {"source": str(path), "error": line[len("gradcheck: "):]} in doc["results"]


def test_directory_as_input(tmp_path, capsys):
    line = assert_bad_input(*run([tmp_path], capsys))
    assert "is a directory" in line


@pytest.mark.parametrize("args", [
    [], ["--rtol", "abc"], ["--rtol", "0"], ["--atol", "-1"], ["--rtol", "nan"], ["--format", "pdf"],
    ["--method", "forward"], ["--symbolic", "maybe"], ["--blame", "-1"], ["--seed", "x"], ["--no-such-option"],
    ["--impl"],
])
def test_bad_options(args, net_file, capsys):
    argv = ([net_file] if args else []) + args
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert_bad_input(code, out, err)
    assert "see gradcheck --help" in err


@pytest.mark.parametrize("inputs", [3, 200])
def test_symbolic_on_beyond_autos_reach_says_so_before_it_starts(inputs, tmp_path, capsys, monkeypatch):
    """A dense layer of 200 inputs and 100 units has more params than auto derives: forced on, the command line
    says so first; one of 3 inputs is within reach and nothing is said."""
    path = tmp_path / "wide.json"
    path.write_text(json.dumps({"input": inputs, "layers": [{"units": 100}], "batch": 2}))

    def interrupted(*args, **kwargs):  # stop where the check would start
        raise KeyboardInterrupt

    monkeypatch.setattr("gradcheck.cli.check_network", interrupted)
    code, _, err = run([path], capsys, symbolic="on")
    lines = err.strip().splitlines()
    assert code == 130 and lines[-1] == "gradcheck: interrupted"
    if inputs == 3:
        assert lines == ["gradcheck: interrupted"]
    else:
        assert lines[0] == ("gradcheck: wide: --symbolic on goes beyond auto's reach (20100 parameters > limit "
                            "12000): SymPy may take long (Ctrl-C stops it)")
        assert len(lines) == 2


def test_help_and_version(capsys):
    assert main(["--version"]) == 0
    assert "gradcheck" in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "exit codes" in capsys.readouterr().out


# -- output ----------------------------------------------------------------------------------------

def test_text_output_has_trace_check_and_verdict(net_file, capsys):
    code, out, _ = run([net_file], capsys)
    assert code == 0
    assert "Shape trace" in out and "dW = delta @ a_prev.T : (3,N) @ (N,3) -> (3,3)" in out
    assert "Gradient check" in out and out.rstrip().splitlines()[-1].startswith("PASS")


def test_quiet_is_one_line_per_network(net_file, capsys):
    code, out, _ = run([net_file, ROOT / "derivations" / "xor.json", "-q"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].startswith("mlp: PASS") and lines[1].startswith("xor: PASS")
    code, out, _ = run([net_file, "-q", "--impl", f"{MLP}:learning_rate_row"], capsys)
    assert code == 1 and len(out.strip().splitlines()) == 1 and "FAIL" in out


def test_trace_only_from_a_spec_without_params_or_data(tmp_path, capsys):
    path = tmp_path / "bare.json"
    path.write_text('{"input": 2, "layers": [{"units": 3, "activation": "relu"}, {"units": 1}], "convention": "row"}')
    code, out, err = run([path, "--trace-only"], capsys)
    assert code == 0 and err == ""
    assert "dW = a_prev.T @ delta : (2,N) @ (N,3) -> (2,3)" in out
    assert "Gradient check" not in out and "PASS" not in out
    code, out, _ = run([path, "--trace-only", "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["name"] == "bare" and doc["shapes"]["convention"] == "row"
    assert doc["shapes"]["layers"][0]["shapes"]["dW"]["batch"] == "(2,3)"


@pytest.mark.parametrize(("fmt", "markers"), [
    ("text", ["-------"]),
    ("markdown", ["| param", "|---", "```"]),
    ("html", ["<table", "</table>", "<th>"]),
    ("latex", ["\\toprule", "\\midrule", "\\bottomrule"]),
])
@pytest.mark.parametrize("trace_only", [False, True])
def test_every_format_renders(fmt, markers, trace_only, net_file, capsys):
    args = [net_file, "--format", fmt, "--impl", f"{MLP}:one_element_wrong_column"] + (["--trace-only"] * trace_only)
    code, out, err = run(args, capsys)
    assert code == (0 if trace_only else 1) and err == ""
    for m in markers:
        if trace_only and m in ("| param", "```") and fmt == "markdown":
            continue
        assert m in out, (fmt, m)
    if not trace_only:
        assert "W1[0, 1]" in out  # the blame table names the wrong element in every format


def test_html_escapes_user_text(tmp_path, capsys):
    path = tmp_path / "esc.json"
    path.write_text(json.dumps({**NET, "description": "<script>alert(1)</script> & co"}))
    code, out, _ = run([path, "--format", "html"], capsys)
    assert code == 0 and "<script>" not in out and "&lt;script&gt;" in out


def test_json_document_fields(net_file, capsys):
    code, out, _ = run([net_file, "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["passed"] is True and doc["name"] == "mlp"
    assert {"passed", "parameters", "shapes", "rtol", "atol", "checked", "blame", "problems", "diagnosis"} <= doc.keys()
    spec = load_spec(net_file)
    assert [p["name"] for p in doc["parameters"]] == ["W0", "b0", "W1", "b1"]
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    for p in doc["parameters"]:
        assert {"name", "layer", "kind", "shape", "backprop", "numeric", "max_abs_error", "max_rel_error",
                "passed"} <= p.keys()
        assert "impl" not in p
        assert p["name"] == f"{p['kind']}{p['layer']}" and p["passed"] is True
        want = ref[p["layer"]][p["kind"]]
        assert p["shape"] == list(want.shape)
        np.testing.assert_allclose(p["backprop"], want, rtol=1e-15)
        np.testing.assert_allclose(p["numeric"], want, rtol=1e-6)
        assert 0 <= p["max_rel_error"] <= doc["rtol"] or p["max_abs_error"] <= doc["atol"]
    assert doc["shapes"]["layers"][1]["shapes"]["dW"]["batch"] == "(2,3)"


def test_json_with_impl(net_file, capsys):
    code, out, _ = run([net_file, "--format", "json", "--impl", f"{MLP}:one_element_wrong_column"], capsys)
    doc = json.loads(out)
    assert code == 1 and doc["passed"] is False and doc["checked"] == ["backprop", "impl"]
    by_name = {p["name"]: p for p in doc["parameters"]}
    assert all("impl" in p for p in doc["parameters"])
    w1 = by_name["W1"]
    assert w1["passed"] is False and by_name["W0"]["passed"] is True
    assert w1["impl"][0][1] == pytest.approx(1.1 * w1["backprop"][0][1], rel=1e-12)
    assert w1["max_rel_error"] == pytest.approx(abs(w1["impl"][0][1] - w1["numeric"][0][1]) / abs(w1["impl"][0][1]),
                                                rel=1e-6)
    assert doc["blame"][0]["element"] == "W1[0, 1]" and doc["blame"][0]["verdict"] == "wrong"


def test_json_is_strict_json_when_the_impl_returns_nan(net_file, capsys):
    code, out, _ = run([net_file, "--format", "json", "--impl", f"{MLP}:nan_result_column"], capsys)
    assert code == 1

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token} in --format json output")
    doc = json.loads(out, parse_constant=refuse)
    assert doc["passed"] is False


def test_json_several_files_give_one_document(net_file, capsys):
    xor = ROOT / "derivations" / "xor.json"
    code, out, _ = run([net_file, xor, "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["passed"] is True
    assert [r["name"] for r in doc["results"]] == ["mlp", "xor"]
    assert all("parameters" in r and "shapes" in r for r in doc["results"])
    code, out, _ = run([net_file, xor, "--format", "json", "--impl", f"{MLP}:good_column"], capsys)
    doc = json.loads(out)
    # xor's network does not fit the impl (3 inputs vs 2): it fails, mlp passes, the document says so.
    assert code == 1 and doc["passed"] is False
    assert [r["passed"] for r in doc["results"]] == [True, False]


def test_rtol_changes_the_verdict(net_file, capsys):
    target = f"{MLP}:slightly_off_column"
    assert run([net_file, "--impl", target, "-q"], capsys)[0] == 1
    assert run([net_file, "--impl", target, "-q", "--rtol", "1e-3"], capsys)[0] == 0
    _, out, _ = run([net_file, "--impl", target, "--format", "json", "--rtol", "1e-3"], capsys)
    assert json.loads(out)["rtol"] == 1e-3


def test_atol_changes_the_verdict(net_file, capsys):
    target = f"{MLP}:offset_column"
    assert run([net_file, "--impl", target, "-q"], capsys)[0] == 1
    assert run([net_file, "--impl", target, "-q", "--rtol", "1e-3"], capsys)[0] == 1
    assert run([net_file, "--impl", target, "-q", "--atol", "1e-5"], capsys)[0] == 0


def test_seed_option_changes_the_random_network(net_file, capsys):
    outs = [json.loads(run([net_file, "--format", "json", "--seed", str(s)], capsys)[1]) for s in (1, 1, 2)]
    assert outs[0]["parameters"][0]["backprop"] == outs[1]["parameters"][0]["backprop"]
    assert outs[0]["parameters"][0]["backprop"] != outs[2]["parameters"][0]["backprop"]


def test_five_point_method(net_file, capsys):
    assert run([net_file, "--method", "five-point", "-q"], capsys)[0] == 0


def test_blame_rows(net_file, capsys):
    _, out, _ = run([net_file, "--impl", f"{MLP}:sign_flipped_column", "--blame", "2"], capsys)
    table = out[out.index("Worst elements"):].split("\n\n")[1]
    assert len([line for line in table.splitlines() if line.startswith(("W", "b"))]) == 2
    _, out, _ = run([net_file, "--impl", f"{MLP}:sign_flipped_column", "--blame", "0"], capsys)
    assert "Worst elements" not in out


def test_input_files_are_never_modified(net_file, capsys):
    xor = ROOT / "derivations" / "xor.json"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (net_file, xor)}
    for args in (["--format", "json"], ["--format", "html"], ["--trace-only"], ["-q", "--seed", "3"],
                 ["--impl", f"{MLP}:nan_result_column"], ["--impl", f"{MLP}:good_column", "--format", "latex"]):
        run([net_file, xor, *args], capsys)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (net_file, xor)} == before


def test_numpy_s_overflow_warnings_in_gradcheck_s_own_passes_stay_quiet_and_the_user_s_do_not(
        tmp_path, net_file, recwarn, capsys):
    """A scale of 1e200 overflows in the reference's passes: the verdicts and notes say what that means, so NumPy's
    warnings from them (which name gradcheck's files) are not printed. A warning of the user's own backprop is."""
    case = Path(__file__).parent / "cases" / "groupnorm_gamma_of_1e200.json"
    code, _, err = run([case], capsys)
    assert code == 0 and "RuntimeWarning" not in err
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    impl = tmp_path / "noisy.py"
    impl.write_text(f"import sys\nimport numpy as np\nsys.path.insert(0, {str(MLP.parent)!r})\n"
                    "from sigmoid_mlp import good_column\n\n\n"
                    "def backprop(params, X, Y):\n"
                    "    np.exp(np.array([1000.0]))  # overflows: the user's own warning\n"
                    "    return good_column(params, X, Y)\n")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "gradcheck", str(net_file), "--impl", f"{impl}:backprop",
                           "--symbolic", "off", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "overflow encountered in exp" in done.stderr, done.stderr
