"""The registry of finite-difference methods: names and aliases, "auto", each method's combination, and no method
name compared as a string anywhere else in the package."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from gradcheck import check_function
from gradcheck.numeric.methods import (
    CENTRAL,
    COMPLEX_STEP,
    METHODS,
    RICHARDSON,
    Method,
    check,
    lookup,
    names,
    pick,
    register,
)
from gradcheck.numeric.stencils import combine

PACKAGE = Path(__file__).resolve().parents[1] / "gradcheck"
REGISTRY = PACKAGE / "numeric" / "methods.py"


def test_the_names_a_caller_may_give_and_their_order():
    assert names() == ("auto", "central", "richardson", "five-point", "complex-step")


def test_an_alias_is_the_same_method():
    assert lookup("five-point") is lookup("richardson") is RICHARDSON
    assert RICHARDSON.name == "richardson" and "five-point" in RICHARDSON.aliases


def test_auto_picks_richardson_without_kinks_and_central_with_them():
    assert pick(kinked=False) is RICHARDSON and lookup("auto", kinked=False) is RICHARDSON
    assert pick(kinked=True) is CENTRAL and lookup("auto") is CENTRAL
    assert lookup(COMPLEX_STEP) is COMPLEX_STEP  # a Method passes through


def test_an_unknown_name_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="method='forward': expected one of auto, central, richardson, five-point"):
        lookup("forward")
    with pytest.raises(ValueError, match="where='x'"):
        check("x", ("a", "b"), where="where")


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="'five-point' is taken"):
        register(Method("other", 1e-5, order=2, aliases=("five-point",)), dict(METHODS))
    with pytest.raises(ValueError, match="'auto' is taken"):
        register(Method("auto", 1e-5, order=2), dict(METHODS))


@pytest.mark.parametrize("method", [CENTRAL, RICHARDSON])
def test_real_methods_combine_to_the_derivative_within_their_bound(method):
    theta, h = np.array([0.3, -1.2]), np.array([1e-3, 1e-3])
    taken = np.outer(method.offsets, h)
    g, bound = combine(method, np.exp(theta + taken), taken, h)
    assert np.all(np.abs(g - np.exp(theta)) <= bound)
    assert np.all(bound < 1e-5)


def test_richardson_extrapolates_and_central_does_not():
    g1, g2 = np.array([1.0]), np.array([4.0])
    assert CENTRAL.estimate(g1, g2)[0] == 1.0
    assert RICHARDSON.estimate(g1, g2)[0] == 0.0  # (4·1 − 4)/3


def test_complex_step_is_exact_to_rounding():
    theta, h = np.array([0.7]), np.array([1e-20])
    taken = np.outer(COMPLEX_STEP.offsets, h)
    g, bound = combine(COMPLEX_STEP, np.sin(theta + taken), taken, h)
    assert abs(g[0] - np.cos(0.7)) <= bound[0] < 1e-15
    assert COMPLEX_STEP.complex and not COMPLEX_STEP.per_element_steps and COMPLEX_STEP.points == 1


@pytest.mark.parametrize("name", names())
def test_every_name_catches_a_wrong_gradient_and_passes_a_right_one(name):
    x = np.array([0.4, -1.3, 2.0])

    def f(x):
        return np.sum(np.sin(x) * x)

    def grad(x):
        return np.cos(x) * x + np.sin(x)

    assert check_function(f, grad, x, method=name).passed
    wrong = check_function(f, lambda x: grad(x) * np.array([1.0, 1.0, 1.001]), x, method=name)
    assert not wrong.passed and wrong.blame(1)[0].element == "x[2]"


# -- no method name compared as a string outside the registry ------------------------------------------------------

def _strings(node):
    """The string constants of an operand, looking into tuples, lists and sets."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for elt in node.elts for s in _strings(elt)]
    return []


def _about_method(node):
    """True for an operand named like a method (``method``, ``self.method``, ``settings.method``)."""
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "method" in name.lower()


def name_comparisons(source, filename="<source>"):
    """(line, text) of every comparison with a method's name (or of a method with "auto") in ``source``."""
    spelled = {n for n in names() if n != "auto"}
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            strings = {s for op in operands for s in _strings(op)}
            if strings & spelled or ("auto" in strings and any(_about_method(op) for op in operands)):
                found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.match_case) and {s for s in _strings(getattr(node.pattern, "value", None))
                                                   } & spelled:
            found.append((node.pattern.lineno, ast.unparse(node.pattern)))
    return found


def test_the_detector_finds_name_comparisons():
    code = ('if method == "complex-step": pass\n'
            'x = m in ("richardson", "five-point")\n'
            'y = "central" if self.method != "auto" else 0\n'
            'z = mode == "auto"\n')
    assert [line for line, _ in name_comparisons(code)] == [1, 2, 3]


def test_no_method_name_is_compared_as_a_string_outside_the_registry():
    offending = [f"{path.relative_to(PACKAGE.parent)}:{line}: {text}"
                 for path in sorted(PACKAGE.rglob("*.py")) if path != REGISTRY
                 for line, text in name_comparisons(path.read_text(encoding="utf-8"), str(path))]
    assert not offending, "ask the Method object (gradcheck.numeric.methods) instead:\n" + "\n".join(offending)
