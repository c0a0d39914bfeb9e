"""Bad input never crashes, never runs away, never loses a file: one line, exit 2 for a bad spec or flag, exit 1
for a misbehaving impl; the good input next to each case still works."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_network
from gradcheck.cli import main
from gradcheck.errors import SpecError
from gradcheck.reference import shapes as shapes_module
from gradcheck.reference.backprop import backprop
from gradcheck.spec.parse import MAX_LAYERS, load_spec
from gradcheck.usercode import isolation
from gradcheck.usercode.impl import call_impl

ROOT = Path(__file__).parent.parent
DERIVATIONS = ROOT / "derivations"
IMPLS = Path(__file__).parent / "impls"
BAD = IMPLS / "misbehaving.py"
NET = {"input": 3, "layers": [{"units": 3, "activation": "sigmoid"}, {"units": 2, "activation": "sigmoid"}],
       "loss": "quadratic", "batch": 5}


def run(args, capsys):
    code = main([str(a) for a in args] + ["--symbolic", "off"])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradcheck: ") and "Traceback" not in err, err
    assert len(re.sub(r"\S*/", "", lines[0])) < 400, lines[0]  # short, whatever the folders in a path
    return lines[0]


@pytest.fixture
def net_file(tmp_path):
    path = tmp_path / "mlp.json"
    path.write_text(json.dumps(NET))
    return path


def spec_text(tmp_path, text, name="net.json"):
    path = tmp_path / name
    path.write_text(text)
    return path


# -- numbers no size or seed can be ----------------------------------------------------------------

@pytest.mark.parametrize("seed", ["9" * 5000, str(2**64), "-1", "-" + "9" * 5000])
def test_a_seed_out_of_range_on_the_command_line_is_bad_input(seed, net_file, capsys):
    code, out, err = run([net_file, f"--seed={seed}"], capsys)
    line = one_line(err)
    assert code == 2 and out == "" and "--seed" in line and "expected a whole number >= 0" in line


def test_the_largest_seed_still_works(net_file, capsys):
    assert run([net_file, "--seed", str(2**64 - 1), "-q"], capsys)[0] == 0


@pytest.mark.parametrize(("where", "literal", "path"), [
    ('"seed": @', "9" * 5000, "seed"),
    ('"seed": @', str(2**64), "seed"),
    ('"seed": @', "-3", "seed"),
    ('"layers": [{"units": @}]', "9" * 5000, "layers[0].units"),
    ('"layers": [{"units": @}]', "9" * 100, "layers[0].units"),
    ('"layers": [{"units": 2}, {"type": "dropout", "p": 0.5, "seed": @}, {"units": 1}]', "9" * 30,
     "layers[1].seed"),
    ('"layers": [{"units": 2}, {"type": "dropout", "p": @}, {"units": 1}]', "9" * 400, "layers[1].p"),
    ('"layers": [{"units": 1}], "params": [{"W": [[@, 1]], "b": [0]}]', "9" * 400, "params[0].W[0][0]"),
    ('"layers": [{"units": 1}], "batch": @', "9" * 5000, "batch"),
])
def test_a_number_too_long_for_its_key_names_the_key(where, literal, path, tmp_path, capsys):
    text = '{"input": 2, ' + where.replace("@", literal) + ("" if '"layers"' in where else ', "layers": [{"units": 1}]')
    src = spec_text(tmp_path, text + "}")
    code, _, err = run([src, "--trace-only"], capsys)
    line = one_line(err)
    assert code == 2 and f"{src}: {path}:" in line


def test_huge_strides_and_images_give_their_fix_at_once(tmp_path, capsys):
    big = 2**62 + 1
    src = spec_text(tmp_path, json.dumps({"input": [1, 6, big], "layers": [
        {"type": "conv2d", "filters": 1, "kernel": 3, "stride": big - 2}, {"type": "flatten"}, {"units": 1}]}))
    code, _, err = run([src, "--trace-only"], capsys)
    line = one_line(err)
    assert code == 2 and "is not a whole number" in line and "try " in line  # no loop over the stride's range


# -- complex step ------------------------------------------------------------------------------------------

def test_complex_step_names_the_layers_that_are_not_analytic(capsys):
    code, out, err = run([DERIVATIONS / "tiny_cnn.json", "--method", "complex-step"], capsys)
    line = one_line(err)
    assert code == 2 and out == ""
    assert "layer 0 conv2d relu (a kink at 0)" in line and "layer 1 maxpool2d (a max over each window)" in line
    assert "layer 2" not in line and "layer 3" not in line  # flatten and the softmax output are analytic


@pytest.mark.parametrize("name", ["mlp_batchnorm", "layernorm_dropout"])
def test_complex_step_runs_through_the_norms(name, capsys):
    code, out, err = run([DERIVATIONS / f"{name}.json", "--method", "complex-step", "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and err == "" and doc["method"] == "complex-step" and doc["passed"]


def test_complex_step_catches_a_wrong_batchnorm_gradient():
    spec = load_spec(DERIVATIONS / "mlp_batchnorm.json")
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)

    def scaled_gamma(p, x, y, factor):
        return [{k: v * (factor if k == "gamma" else 1) for k, v in g.items()} for g in ref]

    def check(factor):
        return check_network(spec, lambda p, x, y: scaled_gamma(p, x, y, factor), method="complex-step",
                             symbolic="off", trace_code=False)
    assert check(1.0).passed
    wrong = check(1.001)
    assert not wrong.passed and [t.name for t in wrong.tensors if not t.passed] == ["gamma1"]


# -- reports after a sampled check, and report files -------------------------------------------------------

@pytest.mark.parametrize("impl", [None, "one_element_wrong_column"])
def test_a_report_after_a_sampled_check_lists_unchecked_elements(impl, net_file, tmp_path, capsys):
    out_dir = tmp_path / "reports"
    args = [net_file, "--mode", "sampled", "--sample", "3", "--report", out_dir, "-q"]
    code, _, err = run(args + (["--impl", f"{IMPLS / 'sigmoid_mlp.py'}:{impl}"] if impl else []), capsys)
    assert code == (1 if impl else 0) and "report written" in err
    doc = json.loads((out_dir / "mlp.json").read_text())
    unchecked = [e for e in doc["elements"] if e["agreement"] == "unchecked"]
    checked = [e for e in doc["elements"] if e["agreement"] != "unchecked"]
    assert unchecked and checked
    assert all(e["numeric"] is None and e["verdicts"] == {} for e in unchecked)
    assert all(e["numeric"] is not None and e["verdicts"] for e in checked)
    assert "unchecked (not in the sample)" in (out_dir / "mlp.md").read_text()


def test_every_report_target_is_checked_before_any_is_written(net_file, tmp_path, capsys):
    out_dir = tmp_path / "reports"
    (out_dir / "mlp.json").mkdir(parents=True)
    code, _, err = run([net_file, "--report", out_dir, "-q"], capsys)
    line = one_line(err)
    assert code == 2 and f"{out_dir / 'mlp.json'}" in line and "directory" in line
    assert [p.name for p in out_dir.iterdir()] == ["mlp.json"]


def test_a_symbolic_link_at_a_target_is_refused(net_file, tmp_path, capsys):
    outside, out_dir = tmp_path / "outside.html", tmp_path / "reports"
    outside.write_text("the user's page")
    out_dir.mkdir()
    (out_dir / "mlp.html").symlink_to(outside)
    code, _, err = run([net_file, "--report", out_dir, "-q"], capsys)
    line = one_line(err)
    assert code == 2 and "mlp.html" in line and "symbolic link" in line
    assert outside.read_text() == "the user's page" and sorted(p.name for p in out_dir.iterdir()) == ["mlp.html"]


def test_a_file_gradcheck_did_not_write_is_never_overwritten(net_file, tmp_path, capsys):
    out_dir = tmp_path / "reports"
    out_dir.mkdir()
    notes = out_dir / "mlp.md"
    notes.write_text("# my notes on the network\n")
    code, _, err = run([net_file, "--report", out_dir, "-q"], capsys)
    line = one_line(err)
    assert code == 2 and str(notes) in line and "not a gradcheck derivation report" in line
    assert "choose another --report directory" in line
    assert notes.read_text() == "# my notes on the network\n" and [p.name for p in out_dir.iterdir()] == ["mlp.md"]


def test_the_committed_reports_are_recognised_and_replaced(tmp_path, capsys):
    out_dir = tmp_path / "reports"
    shutil.copytree(ROOT / "reports", out_dir)
    code, _, err = run([DERIVATIONS / "xor.json", "--report", out_dir, "-q"], capsys)
    assert code == 0 and "report written" in err
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")]  # no temporary file left behind


def test_a_failed_write_leaves_the_old_report_whole(net_file, tmp_path, capsys, monkeypatch):
    out_dir = tmp_path / "reports"
    assert run([net_file, "--report", out_dir, "--format", "markdown", "-q"], capsys)[0] == 0
    before = (out_dir / "mlp.md").read_bytes()

    def refuse(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", refuse)
    code, _, err = run([net_file, "--report", out_dir, "--format", "markdown", "--seed", "4"], capsys)
    line = one_line(err)
    assert code == 2 and "cannot write the report" in line and "No space left" in line
    assert (out_dir / "mlp.md").read_bytes() == before and [p.name for p in out_dir.iterdir()] == ["mlp.md"]


# -- an impl's returned values -----------------------------------------------------------------------------

def impl_problem(net_file, capsys, name, *more):
    code, out, err = run([net_file, "--impl", f"{BAD}:{name}", "--format", "json", *more], capsys)
    doc = json.loads(out)
    assert code == 1 and not doc["passed"] and "Traceback" not in err
    return doc["problems"]


def test_a_tensor_that_requires_grad_is_one_problem(net_file, capsys):
    problems = impl_problem(net_file, capsys, "tensor_requiring_grad")
    assert len(problems) == 1 and problems[0].startswith("b1: your TensorRequiringGrad cannot be read")
    assert "requires grad" in problems[0] and ".detach().cpu().numpy()" in problems[0]


def test_a_real_torch_tensor_that_requires_grad_is_one_problem():
    torch = pytest.importorskip("torch")
    spec = load_spec(NET)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    as_tensors = [{k: torch.tensor(v, requires_grad=k == "b") for k, v in g.items()} for g in ref]
    grads, problems = call_impl(lambda p, x, y: as_tensors, spec, params, X, Y)
    assert set(problems) == {"b0", "b1"} and all("detach" in text for text in problems.values())
    np.testing.assert_array_equal(grads[0]["W"], ref[0]["W"])  # a tensor without grad reads as its values


def test_a_huge_broadcast_view_is_named_by_its_shape(net_file, capsys):
    problems = impl_problem(net_file, capsys, "huge_broadcast")
    assert problems == ["W0: your dW has shape (1000000, 1000000) (1,000,000,000,000 elements), expected (3, 3): "
                        "far too large to be this gradient (a broadcast?)"]


@pytest.mark.parametrize(("name", "layer", "key"), [("extra_key_dw", 0, "dw"), ("weights_for_w", 1, "weights")])
def test_a_key_no_parameter_has_is_a_problem(name, layer, key, net_file, capsys):
    problems = impl_problem(net_file, capsys, name)
    stray = [p for p in problems if f"unexpected key '{key}'" in p]
    assert len(stray) == 1 and stray[0].startswith(f"layer {layer} (dense):") and "(did you mean 'W'?)" in stray[0]


# -- an impl that does not return --------------------------------------------------------------------------

def test_an_endless_impl_is_stopped_at_the_timeout(net_file, capsys):
    problems = impl_problem(net_file, capsys, "loops_forever", "--timeout", "0.5")
    assert problems == [f"your backprop ({BAD}:loops_forever) did not return within 0.5 s and was stopped (an "
                        "endless loop? allow it more with --timeout)"]


def test_an_impl_that_ends_the_process_is_a_problem(net_file, capsys):
    problems = impl_problem(net_file, capsys, "exits_the_process")
    assert len(problems) == 1 and "ended the process with exit code 0" in problems[0]


def test_a_keyboard_interrupt_raised_by_the_impl_is_a_problem(net_file, capsys):
    problems = impl_problem(net_file, capsys, "raises_keyboard_interrupt")
    assert len(problems) == 1 and "raised KeyboardInterrupt (at misbehaving.py:" in problems[0]
    spec = load_spec(NET)  # in this process too (no timeout): no Ctrl-C arrived, so it is the impl's
    result = check_network(spec, f"{BAD}:raises_keyboard_interrupt", symbolic="off")
    assert not result.passed and "raised KeyboardInterrupt" in result.problems[0]


def test_what_the_impl_prints_stays_out_of_the_json(net_file, capsys):
    code, out, err = run([net_file, "--impl", f"{BAD}:prints", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["passed"]
    assert "your backprop printed to stdout (kept out of gradcheck's output):" in err
    assert "  | epoch 1: loss 0.25" in err and "  | written to fd 1" in err


def test_without_fork_the_impl_runs_here(net_file, capsys, monkeypatch):
    monkeypatch.setattr(isolation, "can_fork", lambda: False)
    code, out, err = run([net_file, "--impl", f"{BAD}:prints", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["passed"] and "epoch 1: loss 0.25" in err
    code, out, _ = run([net_file, "--impl", f"{IMPLS / 'sigmoid_mlp.py'}:sign_flipped_column", "--format", "json"],
                       capsys)
    assert code == 1 and json.loads(out)["line_trace"]  # the line tracer runs as well


def test_the_python_api_takes_a_timeout_for_a_callable():
    spec = load_spec(NET)
    params, (X, Y) = spec.parameters(), spec.batch_data()
    _, ref = backprop(spec, params, X, Y)
    assert check_network(spec, lambda p, x, y: ref, symbolic="off", timeout=30).passed  # a closure: nothing pickled
    wrong = check_network(spec, lambda p, x, y: [{k: 2 * v for k, v in g.items()} for g in ref], symbolic="off",
                          timeout=30)
    assert not wrong.passed and wrong.line_trace is not None

    def endless(p, x, y):
        while True:
            pass
    stopped = check_network(spec, endless, symbolic="off", timeout=0.3)
    assert stopped.problems == ["your backprop (endless) did not return within 0.3 s and was stopped (an endless "
                                "loop? allow it more with --timeout)"]


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_timeout_is_bad_input(value, net_file, capsys):
    code, _, err = run([net_file, f"--timeout={value}"], capsys)
    assert code == 2 and "--timeout" in one_line(err)


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or not isolation.can_fork(), reason="POSIX signals")
def test_a_real_ctrl_c_stops_gradcheck(net_file, tmp_path):
    started = tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADCHECK_TEST_STARTED": str(started)}
    proc = subprocess.Popen([sys.executable, "-m", "gradcheck", str(net_file), "--symbolic", "off",
                             "--impl", f"{BAD}:waits_for_ctrl_c"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        for _ in range(600):  # until the impl runs (at most a minute)
            if started.exists() or proc.poll() is not None:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130 and out == "" and err == "gradcheck: interrupted\n"


# -- depth -------------------------------------------------------------------------------------------------

def test_a_network_deeper_than_the_limit_is_bad_input(tmp_path, capsys):
    src = spec_text(tmp_path, json.dumps({"input": 1, "layers": [{"units": 1}] * (MAX_LAYERS + 1)}))
    for extra in ([], ["--trace-only"]):
        code, _, err = run([src, *extra], capsys)
        line = one_line(err)
        assert code == 2 and f"layers: {MAX_LAYERS + 1:,} layers, more than the {MAX_LAYERS:,}" in line
    assert len(load_spec({"input": 1, "layers": [{"units": 1}] * MAX_LAYERS}).layers) == MAX_LAYERS


def test_the_shape_trace_reads_the_tape_once(monkeypatch):
    reads = []

    class Steps(list):
        def __iter__(self):
            reads.append(1)
            return super().__iter__()

    class CountingTape(shapes_module.Tape):
        def __post_init__(self):
            self.steps = Steps(self.steps)

    monkeypatch.setattr(shapes_module, "Tape", CountingTape)
    trace = shapes_module.trace_shapes(load_spec({"input": 2, "layers": [{"units": 2, "activation": "tanh"}] * 40}))
    assert len(trace.layers) == 40 and len(trace.steps()) > 40
    assert len(reads) <= 2  # not once per layer: the trace grows linearly with the depth


# -- JSON keys given twice ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "path"), [
    ('{"input": 2, "layers": [{"units": 1}], "seed": 1, "seed": 2}', "seed"),
    ('{"input": 2, "layers": [{"units": 2}, {"units": 1, "activation": "tanh", "units": 3}]}', "layers[1].units"),
    ('{"input": 1, "layers": [{"units": 1}], "params": [{"W": [[1]], "b": [0], "W": [[2]]}]}', "params[0].W"),
    ('{"input": 1, "layers": [{"units": 1}], "data": {"X": [1, 2], "Y": [1, 2], "Y": [3, 4]}}', "data.Y"),
])
def test_a_key_given_twice_is_bad_input_at_its_path(text, path, tmp_path, capsys):
    src = spec_text(tmp_path, text)
    line = one_line(run([src], capsys)[2])
    assert line == f"gradcheck: {src}: {path}: duplicate key '{path.rsplit('.', 1)[-1].split('[')[0]}': JSON keeps " \
                   "only the last of its values; give each key once"
    with pytest.raises(SpecError, match="duplicate key"):
        load_spec(src)


def test_the_same_key_in_different_objects_is_fine(tmp_path, capsys):
    src = spec_text(tmp_path, '{"input": 2, "layers": [{"units": 2}, {"units": 1}], "seed": 1}')
    assert run([src, "-q"], capsys)[0] == 0


@pytest.mark.parametrize("trace_only", [False, True])
def test_an_attention_whose_scores_cannot_fit_is_refused_before_any_array(tmp_path, capsys, trace_only):
    net = {"input": {"steps": 10**6, "features": 2}, "layers": [{"type": "attention", "heads": 1}, {"type": "flatten"},
                                                              {"units": 2}], "loss": "mse", "batch": 2}
    path = spec_text(tmp_path, json.dumps(net))
    code, _, err = run([path, *(["--trace-only"] if trace_only else [])], capsys)
    line = one_line(err)
    assert code == 2 and "layers[0]" in line and "layer 0 (attention) alone works on" in line, line
    assert json.loads(path.read_text()) == net  # the input is left as it was


def test_memory_running_out_in_a_layer_is_bad_input_naming_the_layer(net_file, capsys, monkeypatch):
    from gradcheck.catalogue.layers.dense import Dense

    def refuse(self, *args, **kwargs):
        raise MemoryError("Unable to allocate 1.5 TiB for an array with shape (400000, 500000) and data type float64")

    monkeypatch.setattr(Dense, "forward", refuse)
    code, _, err = run([net_file], capsys)
    line = one_line(err)
    assert code == 2 and "does not fit in memory: layer 0 (dense): Unable to allocate 1.5 TiB" in line, line
    assert "internal error" not in line


@pytest.mark.parametrize("labels", [[[1, 0], [2, 0]], [1, 2], [[[1], [0], [2]], [[2], [0], [1]]]])
def test_sequence_labels_of_the_wrong_shape_are_bad_input(labels, tmp_path, capsys):
    """A per-step output takes a class label per step of each sample (N×T); labels of another shape are bad input
    naming the data's path (2×2 labels for 3 steps had ended in an internal IndexError from the loss)."""
    net = json.loads((DERIVATIONS / "lstm_language_model.json").read_text())
    net["data"]["Y"] = labels
    code, _, err = run([spec_text(tmp_path, json.dumps(net))], capsys)
    line = one_line(err)
    assert code == 2 and "data.Y" in line
    if np.ndim(labels) == 2:
        assert "expected a label per step of each sample (3 per sample, N×3), got labels shaped 2×2" in line
        spec = load_spec(DERIVATIONS / "lstm_language_model.json")
        X, _ = spec.batch_data()
        with pytest.raises(SpecError, match=r"Y: expected a label per step"):
            check_network(spec, symbolic="off", data=(X, np.asarray(labels)))


@pytest.mark.parametrize("convention", ["row", "column"])
def test_data_of_the_wrong_shape_given_in_python_is_named(convention):
    """check_network(data=(X, Y)) with X or Y of the wrong shape: a SpecError naming X or Y, the shape expected in
    the convention's layout and the shape given, not a NumPy broadcast or matmul error from deep inside."""
    spec = load_spec({"input": 2, "layers": [{"units": 3, "activation": "softmax"}], "loss": "cross_entropy",
                      "batch": 4, "convention": convention})
    X, Y = spec.batch_data()
    rows = "N×2" if convention == "row" else "2×N (features × N in the column convention)"
    with pytest.raises(SpecError, match=re.escape(f"X: expected a batch shaped {rows}, got 4")):
        check_network(spec, symbolic="off", data=(X.ravel()[:4], Y))
    targets = "N×3" if convention == "row" else "3×N (features × N in the column convention)"
    with pytest.raises(SpecError, match=re.escape(f"Y: expected targets shaped {targets}, or N integer class "
                                                  "labels, got 4×1")):
        check_network(spec, symbolic="off", data=(X, np.array([[0], [1], [2], [1]])))
    with pytest.raises(SpecError, match=r"Y: expected 4 samples \(as many as X\), got 3"):
        check_network(spec, symbolic="off", data=(X, np.array([0, 1, 2])))
    assert check_network(spec, symbolic="off", data=(X, np.array([0, 1, 2, 1]))).passed


@pytest.mark.parametrize("where, value, named", [
    (("params", 0, "W", 0, 2), 1e308, ["dense layer 0 (layers[0])", "params[0].W (up to 1e+308)"]),
    (("data", "Y", 1, 0), 1e300, ["the loss of the outputs and targets", "data.Y (up to 1e+300)"]),
])
def test_a_loss_that_is_not_finite_at_the_given_values_is_bad_input_naming_where(where, value, named, tmp_path,
                                                                                   capsys):
    """A weight of 1e308 overflows z, a target of 1e300 the loss of squares: every finite difference of such a
    loss is meaningless, so it is bad input, named, not a table of NaN failures."""
    params = [{"W": [[0.1, 0.2, 0.3]] * 3, "b": [0.0] * 3}, {"W": [[0.1, -0.2, 0.3]] * 2, "b": [0.1, 0.2]}]
    net = dict(NET, layers=[{"units": 3, "activation": "linear"}, NET["layers"][1]], params=params,
               data={"X": [[0.5, -1.0, 2.0]] * 5, "Y": [[0.2, 0.4]] * 5})
    target = net
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    path = tmp_path / "net.json"
    path.write_text(json.dumps(net))
    code, _, err = run([path], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "is not finite" in err or "is inf" in err or "is nan" in err
    for text in named:
        assert text in err, err
    with pytest.raises(SpecError):
        check_network(net, symbolic="off")
