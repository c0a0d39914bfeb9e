"""The line tracer: shapes of the user's arrays after each line, silent broadcasts, the departing line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from gradcheck import check_layer, check_network
from gradcheck.cli import main
from gradcheck.diagnose.linetrace import trace_call

IMPLS = Path(__file__).parent / "impls"
REGRESSION = {"input": 3, "layers": [{"units": 1, "activation": "linear"}], "loss": "mse", "convention": "row",
              "batch": 6}


def _line_of(path, marker):
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line)


def test_a_silent_broadcast_is_named_at_its_line():
    result = check_network(REGRESSION, f"{IMPLS / 'regression.py'}:targets_flattened", symbolic="off")
    line = _line_of(IMPLS / "regression.py", "err = pred - y")
    text = " | ".join(result.diagnosis)
    assert f"your line regression.py:{line} `err = pred - y` broadcast silently: `pred - y`: (6,1) − (6,) " \
           "broadcast to (6,6)" in text, text
    assert "reshape y to (6,1)" in text


def test_a_correct_impl_is_not_traced():
    result = check_network(REGRESSION, f"{IMPLS / 'regression.py'}:correct", symbolic="off")
    assert result.passed and result.line_trace is None


def test_the_cli_shows_the_users_lines_next_to_the_reference_steps(tmp_path, capsys):
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(REGRESSION))
    code = main([str(spec), "--impl", f"{IMPLS / 'regression.py'}:targets_flattened", "--symbolic", "off"])
    out = capsys.readouterr().out
    assert code == 1
    section = out[out.index("Your code, line by line"):]
    row = next(r for r in section.splitlines() if "pred = X @ W + b" in r)
    assert "pred (6,1)" in row and "layer 0: z = a_prev @ W + b (6,1)" in row
    assert "err (6,6)" in section


def test_a_wrong_shape_is_traced_to_the_line_that_made_it():
    spec = Path(__file__).parent.parent / "derivations" / "augmented_single_layer.json"
    result = check_network(spec, f"{IMPLS / 'seed002.py'}:kron_outputs_t_delta", symbolic="off")
    line = _line_of(IMPLS / "seed002.py", "dW = sum(np.kron(outputs")
    text = " | ".join(result.diagnosis)
    assert f"W0 (2,2) is made at your line seed002.py:{line}" in text
    assert f"your line seed002.py:{line}" in text and "is the first whose shape departs from the reference" in text


def test_only_the_users_own_files_are_traced():
    result = check_network({"input": 3, "layers": [{"units": 3, "activation": "sigmoid"}] * 3, "loss": "quadratic",
                            "batch": 5}, f"{IMPLS / 'nielsen' / 'adapter.py'}:prime_of_a_all", symbolic="off")
    files = {Path(ln.filename).name for ln in result.line_trace.lines}
    assert files == {"adapter.py", "network.py"}  # behind the adapter too; no NumPy, no gradcheck


def test_check_layer_traces_backward_and_names_the_line():
    def forward(x, w, b):
        return x @ w + b, (x, w, b)

    def backward(dout, cache):
        x, w, _ = cache
        dx = dout @ w.T
        dw = x.T @ dout
        db = dout.sum(axis=1)  # WRONG AXIS
        return dx, dw, db

    rng = np.random.default_rng(1)
    result = check_layer(forward, backward, rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=5))
    line = _line_of(Path(__file__), "# WRONG AXIS")
    assert f"db (4,) is made at your line test_linetrace.py:{line} `db = dout.sum(axis=1)`" in result.diagnosis
    assert "Your code, line by line" in str(result) and "dw (3,5)" in str(result)


def test_trace_call_keeps_the_result_and_the_error_and_restores_the_tracer():
    def fine(a):
        b = a.reshape(2, 3)
        return b.T

    def fails(a):
        b = a.reshape(2, 3)
        return b @ b

    before = sys.gettrace()
    t = trace_call(fine, np.arange(6.0))
    assert t.error is None and t.result.shape == (3, 2)
    assert [ln.shape_text() for ln in t.lines] == ["b (2,3)"]
    t = trace_call(fails, np.arange(6.0))
    assert isinstance(t.error, ValueError)
    assert sys.gettrace() is before


def test_loops_show_every_shape_a_line_gave():
    def per_layer(sizes):
        out = []
        for n in sizes:
            z = np.zeros((n, 1))
            out.append(z)
        return out

    t = trace_call(per_layer, [3, 2])
    row = next(ln for ln in t.lines if ln.source.startswith("z = "))
    assert row.shapes["z"] == [(3, 1), (2, 1)] and row.runs == 2


def test_the_json_output_carries_the_line_trace(tmp_path, capsys):
    spec = tmp_path / "net.json"
    spec.write_text(json.dumps(REGRESSION))
    code = main([str(spec), "--impl", f"{IMPLS / 'regression.py'}:targets_flattened", "--symbolic", "off",
                 "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    row = next(r for r in doc["line_trace"] if r["code"] == "err = pred - y")
    assert row["arrays"] == {"err": [[6, 6]]} and row["line"].startswith("regression.py:")
