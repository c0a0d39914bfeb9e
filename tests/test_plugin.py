"""The pytest plugin, run in throw-away projects with pytester.

The plugin is loaded through the ``pytest11`` entry point of the installed package
(``pip install -e .``); if that entry point is missing (the package is only on
``sys.path``), ``-p gradcheck.plugin`` loads it instead, never both.
"""

import json
from importlib.metadata import entry_points

# NumPy is loaded here, once: the in-process pytester runs below unload what they import, and NumPy
# cannot be loaded twice in one process (the plugin itself no longer imports it).
import numpy  # noqa: F401
import pytest


def _entry_point_installed():
    return any(ep.value == "gradcheck.plugin" for ep in entry_points(group="pytest11"))


PLUGIN = [] if _entry_point_installed() else ["-p", "gradcheck.plugin"]

CHECKS = '''
import numpy as np
import pytest


def f(x):                      # x (3,) -> x0·x1 + x2²
    return float(x[0] * x[1] + x[2] ** 2)


def grad(x):
    return np.array([x[1], x[0], 2 * x[2]])


def grad_missing_2(x):         # the 2 of d(x2²)/dx2 is missing
    return np.array([x[1], x[0], x[2]])


def grad_1pct_off(x):
    return 1.01 * grad(x)


X = np.array([1.0, 2.0, 3.0])


def test_right(gradcheck):
    assert gradcheck.function(f, grad, X).passed


def test_wrong(gradcheck):
    gradcheck.function(f, grad_missing_2, X)


def test_slightly_off(gradcheck):
    gradcheck.function(f, grad_1pct_off, X)
'''

SPEC = {"input": 2, "layers": [{"units": 3, "activation": "sigmoid"}], "loss": "sse", "batch": 4}

IMPL = '''
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def backprop(params, X, Y):        # column convention: X (2, N), W (3, 2), b (3,)
    W, b = params[0]["W"], params[0]["b"]
    a = sigmoid(W @ X + b[:, None])
    delta = (a - Y) * a * (1 - a)
    return [{"W": delta @ X.T, "b": delta.sum(axis=1)}]


def backprop_no_prime(params, X, Y):   # forgets sigma'(z)
    W, b = params[0]["W"], params[0]["b"]
    a = sigmoid(W @ X + b[:, None])
    delta = a - Y
    return [{"W": delta @ X.T, "b": delta.sum(axis=1)}]
'''


def lit(pattern):
    """An fnmatch pattern in which ``[`` is a literal bracket (``x[2]``), not a character class."""
    return pattern.replace("[", "[[]")


def run(pytester, *args):
    # hypothesis and benchmark plugins are not needed in these runs; hypothesis alone re-imports for ~1 s each
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark",
                              *PLUGIN, *args)


def test_options_and_ini_keys_appear_in_help(pytester):
    result = run(pytester, "--help")
    out = result.stdout.str()
    assert "gradcheck: check hand-written gradients" in out
    for option in ("--gradcheck-rtol", "--gradcheck-atol", "--gradcheck-method", "--gradcheck-seed",
                   "--gradcheck-report", "--gradcheck-specs", "--gradcheck-symbolic"):
        assert option in out, option
    for key in ("gradcheck_rtol", "gradcheck_atol", "gradcheck_method", "gradcheck_seed", "gradcheck_specs",
                "gradcheck_impl"):
        assert key in out, key


def test_right_passes_wrong_fails_with_the_element_named(pytester):
    pytester.makepyfile(test_checks=CHECKS)
    result = run(pytester, "-v")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "*test_right PASSED*", "*test_wrong FAILED*",
        "*AssertionError: f: FAIL: x disagrees with finite differences*",
        lit("*x[2]*analytic*3*6*wrong*"),
    ])
    out = result.stdout.str()
    assert "array([" not in out  # a blame table, not array dumps


def test_header_and_terminal_summary(pytester):
    pytester.makepyfile(test_checks=CHECKS)
    result = run(pytester)
    result.stdout.fnmatch_lines([
        "gradcheck *: rtol=1e-05, atol=0, method=auto",
        "*= gradcheck =*",
        "3 gradient check(s) run, 2 failed",
        lit("worst relative error 5.00e-01 at x[2] (wrong) in test_checks.py::test_wrong"),
    ])


def test_no_summary_without_checks(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert "gradient check(s) run" not in result.stdout.str()


def test_command_line_tolerance_beats_ini(pytester):
    pytester.makepyfile(test_checks=CHECKS)
    pytester.makeini("[pytest]\ngradcheck_rtol = 0.1\n")
    run(pytester, "-k", "slightly").assert_outcomes(passed=1, deselected=2)
    result = run(pytester, "-k", "slightly", "--gradcheck-rtol", "1e-5")
    result.assert_outcomes(failed=1, deselected=2)
    result = run(pytester, "-k", "slightly", "--gradcheck-rtol", "0.1", "--gradcheck-method", "five-point")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["gradcheck *: rtol=0.1, atol=0, method=five-point"])


def test_bad_option_values_are_usage_errors(pytester):
    pytester.makepyfile(test_checks=CHECKS)
    pytester.makeini("[pytest]\ngradcheck_atol = lots\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gradcheck: gradcheck_atol (ini): atol='lots': expected a number*"])
    result = run(pytester, "--gradcheck-rtol", "-1", "--gradcheck-atol", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gradcheck-rtol: rtol='-1': expected a number > 0*"])


def test_marker_overrides_session_and_is_validated(pytester):
    pytester.makepyfile(test_checks=CHECKS + '''

@pytest.mark.gradcheck(rtol=0.1, method="five-point")
def test_marked(gradcheck):
    assert gradcheck.settings.method == "five-point"
    gradcheck.function(f, grad_1pct_off, X)


@pytest.mark.gradcheck(rtl=0.1)
def test_typo(gradcheck):
    pass


@pytest.mark.gradcheck(method="backward")
def test_bad_value():
    pass


@pytest.mark.gradcheck(0.1)
def test_positional(gradcheck):
    pass


def test_call_override(gradcheck):
    gradcheck.function(f, grad_1pct_off, X, rtol=0.1)
''')
    result = run(pytester, "--strict-markers", "-k", "marked or typo or bad_value or positional or override")
    result.assert_outcomes(passed=2, errors=3, deselected=3)
    result.stdout.fnmatch_lines([
        "*@pytest.mark.gradcheck: unknown keyword 'rtl' (did you mean 'rtol'?); valid keywords: rtol, atol, "
        "method, seed*",
        "*@pytest.mark.gradcheck: method='backward': expected one of auto, central, richardson, five-point, "
        "complex-step*",
        "*@pytest.mark.gradcheck takes keywords only*",
    ])


def test_marker_is_registered(pytester):
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.gradcheck(rtol=None, atol=None, method=None, seed=None, mode=None, "
                                 "sample=None, directions=None)*"])


def test_layer_and_network_methods(pytester):
    pytester.makepyfile(test_more='''
import numpy as np


def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward_transposed(dout, cache):
    x, w, b = cache
    return dout @ w.T, dout.T @ x, dout.sum(axis=0)


def test_layer(gradcheck):
    rng = np.random.default_rng(1)
    gradcheck.layer(affine_forward, affine_backward_transposed, rng.normal(size=(4, 3)),
                    rng.normal(size=(3, 2)), rng.normal(size=2))


def test_network(gradcheck):
    r = gradcheck.network({"input": 2, "layers": [{"units": 3, "activation": "tanh"}, {"units": 1}]})
    assert [t.name for t in r.tensors] == ["W0", "b0", "W1", "b1"]
''')
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*Problem: dw: backward returned shape (2, 3), expected (3, 2)*transpose*"])


@pytest.fixture
def spec_project(pytester):
    nets = pytester.mkdir("nets")
    (nets / "good.json").write_text(json.dumps({**SPEC, "impl": "impl.py:backprop"}))
    (nets / "sub").mkdir()
    (nets / "sub" / "wrong.json").write_text(json.dumps({**SPEC, "impl": "../impl.py:backprop_no_prime"}))
    (nets / "broken.json").write_text(json.dumps({"input": 2, "layers": [{"units": 3, "activation": "sigmod"}]}))
    (nets / "impl.py").write_text(IMPL)
    pytester.mkdir("data")
    (pytester.path / "data" / "other.json").write_text('{"not": "a spec"}')
    return pytester


def test_specs_are_collected_and_checked(spec_project):
    result = run(spec_project, "--gradcheck-specs", "nets", "-v", "-rA")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines([
        "nets/broken.json::gradcheck FAILED*",
        "nets/good.json::gradcheck PASSED*",
        "nets/sub/wrong.json::gradcheck FAILED*",
        # the malformed spec: one line, with its JSON path
        lit("gradcheck: nets/broken.json: layers[0].activation: unknown 'sigmod' (did you mean 'sigmoid'?)*"),
        # the wrong impl: blame table with the parameter and the diagnosis
        "*W0*impl*wrong*",
        "Diagnosis: matches a known mistake: layer 0 leaves out the activation derivative*",
    ])
    out = result.stdout.str()
    assert "other.json" not in out  # only the specs folder is collected
    assert "Traceback" not in out and "INTERNALERROR" not in out


def test_specs_from_ini_with_default_impl(spec_project):
    (spec_project.path / "nets" / "noimpl.json").write_text(json.dumps(SPEC))
    spec_project.makeini("[pytest]\ngradcheck_specs = nets\ngradcheck_impl = nets/impl.py:backprop_no_prime\n")
    result = run(spec_project, "-v")
    # noimpl.json uses the ini impl (wrong); good.json keeps its own impl key
    result.stdout.fnmatch_lines(["nets/good.json::gradcheck PASSED*", "nets/noimpl.json::gradcheck FAILED*"])
    # explicit paths narrow the run: the ini specs folder is left out
    spec_project.makepyfile(test_plain="def test_plain():\n    pass\n")
    narrowed = run(spec_project, "test_plain.py")
    narrowed.assert_outcomes(passed=1)


def test_specs_folder_on_the_command_line_joins_explicit_paths(spec_project):
    spec_project.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = run(spec_project, "test_plain.py", "--gradcheck-specs", "nets")
    result.assert_outcomes(passed=2, failed=2)
    only_one = run(spec_project, "nets/good.json", "--gradcheck-specs", "nets")
    only_one.assert_outcomes(passed=1)


def test_missing_specs_folder_is_a_usage_error(pytester):
    result = run(pytester, "--gradcheck-specs", "nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gradcheck: --gradcheck-specs nowhere: no such directory*"])


def test_json_report(spec_project):
    spec_project.makepyfile(test_checks=CHECKS)
    result = run(spec_project, "--gradcheck-specs", "nets", "--gradcheck-report", "out")
    result.assert_outcomes(passed=2, failed=4)
    doc = json.loads((spec_project.path / "out" / "gradcheck-results.json").read_text())
    assert doc["settings"]["rtol"] == pytest.approx(1e-5)
    assert doc["summary"]["checks"] == 5 and doc["summary"]["failed"] == 3 and doc["summary"]["errors"] == 1
    by_test = {r["test"]: r for r in doc["checks"]}
    wrong = by_test["test_checks.py::test_wrong"]
    assert (wrong["passed"], wrong["worst"]["element"], wrong["worst"]["verdict"]) == (False, "x[2]", "wrong")
    assert by_test["nets/good.json::gradcheck"]["passed"] is True
    assert "sigmod" in by_test["nets/broken.json::gradcheck"]["error"]
    result.stdout.fnmatch_lines(["report written to *gradcheck-results.json"])


def test_summary_and_report_gather_the_xdist_workers_checks(pytester):
    """With the run spread over workers, the summary and the JSON report still count every check."""
    pytest.importorskip("xdist")
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark",
                                           "-p", "xdist", "-n", "2", *PLUGIN, "--gradcheck-report", "out")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["3 gradient check(s) run, 2 failed",
                                 lit("worst relative error 5.00e-01 at x[2] (wrong) in test_checks.py::test_wrong")])
    doc = json.loads((pytester.path / "out" / "gradcheck-results.json").read_text())
    assert doc["summary"]["checks"] == 3 and doc["summary"]["failed"] == 2
    assert not list((pytester.path / "out").glob(".*.tmp"))  # written whole, nothing left behind
