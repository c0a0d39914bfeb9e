"""check_function / check_layer: right gradients pass, each kind of wrong gradient is caught and named."""

import numpy as np
import pytest

from gradcheck.checks.function import assert_function, assert_layer, check_function, check_layer


def quadratic(x):
    """f(x) = Σ x_ij² · c_ij with c = 1..n: a different weight per element."""
    return float(np.sum(np.arange(1, x.size + 1).reshape(x.shape) * x ** 2))


def quadratic_grad(x):
    return 2 * np.arange(1, x.size + 1).reshape(x.shape) * x


@pytest.fixture
def x():
    return np.random.default_rng(3).normal(size=(2, 3))


# -- check_function ---------------------------------------------------------------------

def test_right_gradient_passes(x):
    r = check_function(quadratic, quadratic_grad, x)
    assert r.passed and not r.problems
    assert [t.name for t in r.tensors] == ["x"]
    assert r.max_rel_error < 1e-7
    assert r.counts()["good"] == x.size


def test_one_element_off_is_first_in_blame(x):
    def grad(x):
        g = quadratic_grad(x)
        g[1, 2] += 0.5
        return g

    r = check_function(quadratic, grad, x)
    assert not r.passed
    worst = r.blame(1)[0]
    assert (worst.element, worst.verdict) == ("x[1, 2]", "wrong")
    assert r.counts() == {"good": x.size - 1, "kink": 0, "inconclusive": 0, "suspicious": 0, "wrong": 1}
    assert "x[1, 2]" in str(r) and "x[1, 2]" in repr(r)


def test_tuple_inputs_are_named_by_position():
    a, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -1.5])

    def f(xs):
        return float(xs[1] @ xs[0] @ xs[1])

    def grad(xs):  # d/dA of bᵀAb is b bᵀ; d/db is (A + Aᵀ) b — here written as 2·A·b (wrong: A is not symmetric)
        return np.outer(xs[1], xs[1]), 2 * xs[0] @ xs[1]

    r = check_function(f, grad, (a, b))
    assert [t.name for t in r.tensors] == ["x[0]", "x[1]"]
    assert r.tensor("x[0]").passed and not r.tensor("x[1]").passed
    assert r.blame(1)[0].param == "x[1]"
    good = check_function(f, lambda xs: (np.outer(xs[1], xs[1]), (xs[0] + xs[0].T) @ xs[1]), (a, b))
    assert good.passed


def test_dict_inputs_are_named_by_key():
    x = {"w": np.array([1.0, -2.0]), "b": np.array(0.5)}

    def f(p):
        return float(np.sum(p["w"] ** 2) * p["b"])

    r = check_function(f, lambda p: {"w": 2 * p["w"] * p["b"], "b": np.sum(p["w"] ** 2)}, x)
    assert r.passed, str(r)
    bad = check_function(f, lambda p: {"w": 2 * p["w"] * p["b"], "b": -np.sum(p["w"] ** 2)}, x)
    assert not bad.passed
    assert [t.name for t in bad.tensors if not t.passed] == ["b"]
    assert bad.blame(1)[0].element == "b"
    missing = check_function(f, lambda p: {"w": 2 * p["w"] * p["b"]}, x)
    assert not missing.passed
    assert any(p.startswith("b:") and "None" in p for p in missing.problems), missing.problems


def test_plain_list_of_numbers_is_one_array():
    r = check_function(lambda v: float(np.sum(v ** 3)), lambda v: 3 * v ** 2, [1.0, 2.0])
    assert r.passed and [t.name for t in r.tensors] == ["x"] and r.tensors[0].shape == (2,)


def test_wrong_shape_is_a_problem_not_an_exception(x):
    r = check_function(quadratic, lambda x: quadratic_grad(x).T, x)
    assert not r.passed
    assert len(r.problems) == 1
    assert "x: grad returned shape (3, 2), expected (2, 3)" in r.problems[0]
    assert "transpose" in r.problems[0]
    assert f"Problem: {r.problems[0]}" in str(r)
    flat = check_function(quadratic, lambda x: quadratic_grad(x).ravel(), x)
    assert "reshape to (2, 3)" in flat.problems[0]


def test_wrong_structure_is_a_problem():
    r = check_function(lambda xs: float(np.sum(xs[0] * xs[1])), lambda xs: xs[1], (np.ones(2), np.ones(2)))
    assert not r.passed
    assert r.problems and "expected a tuple of 2 arrays" in r.problems[0]


def test_nan_in_gradient_is_a_problem(x):
    def grad(x):
        g = quadratic_grad(x)
        g[0, 1] = np.nan
        return g

    r = check_function(quadratic, grad, x)
    assert not r.passed
    assert any("NaN" in p and "x[0, 1]" in p for p in r.problems), r.problems
    assert r.blame(1)[0].element == "x[0, 1]"


def test_exceptions_become_problem_lines(x):
    def grad(x):
        raise ValueError("shapes (2,3) and (2,3) not aligned")

    r = check_function(quadratic, grad, x)
    assert not r.passed
    assert any("grad raised ValueError: shapes (2,3) and (2,3) not aligned" in p for p in r.problems)

    def f(x):
        raise KeyError("W")

    r = check_function(f, quadratic_grad, x)
    assert not r.passed
    assert any(p.startswith("f raised KeyError") and "at x itself" in p for p in r.problems), r.problems


def test_non_scalar_f_is_explained(x):
    r = check_function(lambda x: x ** 2, lambda x: 2 * x, x)
    assert not r.passed
    assert any("must return one number" in p and "(2, 3)" in p for p in r.problems), r.problems


def test_f_undefined_near_x_is_a_problem():
    r = check_function(lambda v: float(np.sum(np.sqrt(v))), lambda v: 0.5 / np.sqrt(v), np.array([4.0, 1e-12]))
    assert not r.passed
    assert any("x[1]" in p and "NaN" in p for p in r.problems), r.problems


def test_nondeterministic_f_is_a_problem(x):
    rng = np.random.default_rng()
    r = check_function(lambda x: quadratic(x) * rng.uniform(0.5, 1.5), quadratic_grad, x)
    assert not r.passed
    assert any("not deterministic" in p for p in r.problems)


@pytest.mark.parametrize("method", ["central", "five-point"])
def test_methods_agree_and_catch(method, x):
    assert check_function(quadratic, quadratic_grad, x, method=method).passed
    r = check_function(np.sin, np.sin, np.array(0.7), method=method)  # d sin = cos, not sin
    assert not r.passed and r.blame(1)[0].verdict == "wrong"


# -- kinks ------------------------------------------------------------------------------

def test_relu_at_zero_is_a_kink_not_a_failure():
    x = np.array([0.0, 1.5, -2.0])
    r = check_function(lambda v: float(np.sum(np.maximum(v, 0))), lambda v: (v > 0).astype(float), x)
    assert r.passed, str(r)
    rows = {row.element: row.verdict for row in r.blame(n=0)}
    assert rows == {"x[0]": "kink", "x[1]": "good", "x[2]": "good"}
    assert any("not differentiable" in n for n in r.notes)


def test_abs_just_beside_zero_is_no_kink_the_step_shrinks_past_it():
    x = np.array([1e-7, -0.5, 2.0])  # 1e-7 is within the step h ≈ 6e-6 of the kink, but |x| is smooth at x
    r = check_function(lambda v: float(np.sum(np.abs(v))), np.sign, x)
    assert r.passed, str(r)
    assert r.tensor("x").n_kinks == 0 and r.counts()["good"] == 3
    for wrong in (0.0, 0.5, -1.0):  # between the slopes across the kink, or flipped: d|x|/dx is 1 at 1e-7
        bad = check_function(lambda v, w=wrong: float(np.sum(np.abs(v))), lambda v, w=wrong: np.r_[w, np.sign(v[1:])],
                             x)
        assert not bad.passed and bad.blame(1)[0].element == "x[0]" and bad.blame(1)[0].verdict == "wrong", str(bad)


def test_wrong_gradient_at_a_kink_is_still_wrong():
    """A kink only excuses values between the one-sided slopes (0 and 1 for relu at 0)."""
    x = np.array([0.0, 1.5])
    r = check_function(lambda v: float(np.sum(np.maximum(v, 0))), lambda v: np.where(v > 0, 1.0, -1.0), x)
    assert not r.passed
    assert r.blame(1)[0].element == "x[0]" and r.blame(1)[0].verdict == "wrong"


def test_smooth_functions_have_no_kinks():
    x = np.random.default_rng(0).normal(size=5)
    for f, g in [(lambda v: float(np.sum(np.exp(3 * v))), lambda v: 3 * np.exp(3 * v)),
                 (lambda v: float(np.log(np.sum(v ** 2))), lambda v: 2 * v / np.sum(v ** 2)),
                 (lambda v: float(np.sum(np.tanh(v)) ** 2), lambda v: 2 * np.sum(np.tanh(v)) * (1 - np.tanh(v) ** 2))]:
        r = check_function(f, g, x)
        assert r.passed and sum(t.n_kinks for t in r.tensors) == 0, str(r)
        wrong = check_function(f, lambda v, g=g: 1.01 * g(v), x)  # 1% off everywhere: never a kink
        assert not wrong.passed and wrong.counts()["kink"] == 0


def test_assert_function_message_is_the_report(x):
    assert assert_function(quadratic, quadratic_grad, x).passed
    with pytest.raises(AssertionError) as info:
        assert_function(quadratic, lambda x: quadratic_grad(x) * 2, x)
    expected = str(check_function(quadratic, lambda x: quadratic_grad(x) * 2, x))
    assert str(info.value) == expected
    assert "every element is 2 × the true value" in str(info.value)


def test_bad_x_names_the_function_and_argument():
    with pytest.raises(TypeError, match=r"check_function: x\['a'\] must be a numeric array"):
        check_function(len, len, {"a": "text"})
    with pytest.raises(ValueError, match="method='forward'"):
        check_function(quadratic, quadratic_grad, np.ones(2), method="forward")


# -- check_layer --------------------------------------------------------------------------

def affine_forward(x, w, b):
    """x (N, D), w (D, M), b (M,) -> out (N, M), cache."""
    return x @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, _ = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def layer_data(d=3, m=2, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m)


def test_affine_layer_passes_and_is_named_after_forward():
    r = check_layer(affine_forward, affine_backward, *layer_data())
    assert r.passed, str(r)
    assert r.name == "affine_forward"
    assert [t.name for t in r.tensors] == ["x", "w", "b"]
    assert r.dout.shape == (4, 2)


def test_transposed_dw_of_the_wrong_shape_is_caught():
    def backward(dout, cache):
        x, w, _ = cache
        return dout @ w.T, dout.T @ x, dout.sum(axis=0)

    r = check_layer(affine_forward, backward, *layer_data())
    assert not r.passed
    assert [p for p in r.problems if p.startswith("dw:") and "transpose" in p]
    assert r.tensor("x").passed and r.tensor("b").passed and not r.tensor("w").passed


def test_transposed_dw_of_the_right_shape_is_caught():
    """Square w: the transpose has the right shape; its values give it away (x drawn from default_rng(0) too)."""
    def backward(dout, cache):
        x, w, _ = cache
        return dout @ w.T, dout.T @ x, dout.sum(axis=0)

    r = check_layer(affine_forward, backward, *layer_data(d=3, m=3))
    assert not r.passed
    assert r.blame(1)[0].param == "w" and r.blame(1)[0].verdict == "wrong"
    assert any("transpose" in d for d in r.diagnosis), r.diagnosis


def test_bias_not_summed_and_none_entries_are_reported():
    r = check_layer(affine_forward, lambda dout, c: (dout @ c[1].T, c[0].T @ dout, dout), *layer_data())
    assert any(p.startswith("db:") and "sum over axis 0" in p for p in r.problems), r.problems
    r = check_layer(affine_forward, lambda dout, c: (dout @ c[1].T, None, dout.sum(0)), *layer_data())
    assert any(p.startswith("dw:") and "None" in p for p in r.problems), r.problems
    r = check_layer(affine_forward, lambda dout, c: (dout @ c[1].T, c[0].T @ dout), *layer_data())
    assert any("returned 2 values; expected a tuple (dx, dw, db)" in p for p in r.problems), r.problems


def test_layer_without_cache_gets_its_inputs():
    def relu_forward(x):
        return np.maximum(0, x)

    def relu_backward(dout, cache):
        (x,) = cache
        return dout * (x > 0)

    x = np.array([[0.0, 1.0], [-1.0, 3.0]])
    r = check_layer(relu_forward, relu_backward, x)
    assert r.passed, str(r)
    assert r.tensor("x").n_kinks >= 1  # the 0.0
    wrong = check_layer(relu_forward, lambda dout, cache: dout * (cache[0] < 0), x)  # the mask inverted
    assert not wrong.passed
    verdicts = {row.element: row.verdict for row in wrong.blame(n=0)}
    assert verdicts == {"x[0, 0]": "kink", "x[0, 1]": "wrong", "x[1, 0]": "wrong", "x[1, 1]": "wrong"}


def test_non_array_params_pass_through():
    def scale_forward(x, w, conv_param):
        return x * w * conv_param["scale"], (x, w, conv_param)

    def scale_backward(dout, cache):
        x, w, p = cache
        return dout * w * p["scale"], dout * x  # dw misses the scale
    r = check_layer(scale_forward, scale_backward, np.ones(3), np.arange(3.0), {"scale": 2.0}, names=["inp", "weight"])
    assert [t.name for t in r.tensors] == ["inp", "weight"]
    assert r.tensor("inp").passed and not r.tensor("weight").passed
    with pytest.raises(ValueError, match="names has 1 entries, expected 2"):
        check_layer(scale_forward, scale_backward, np.ones(3), np.arange(3.0), {"scale": 2.0}, names=["x"])


def test_backward_exception_is_a_problem():
    def backward(dout, cache):
        raise IndexError("tuple index out of range")

    r = check_layer(affine_forward, backward, *layer_data())
    assert not r.passed
    assert any(p.startswith("backward raised IndexError: tuple index out of range") for p in r.problems)


def test_assert_layer():
    assert assert_layer(affine_forward, affine_backward, *layer_data()).passed
    with pytest.raises(AssertionError, match="dw: backward returned shape"):
        assert_layer(affine_forward, lambda d, c: (d @ c[1].T, d.T @ c[0], d.sum(0)), *layer_data())


def test_seed_changes_dout():
    a = check_layer(affine_forward, affine_backward, *layer_data(), seed=1).dout
    b = check_layer(affine_forward, affine_backward, *layer_data(), seed=2).dout
    assert a.shape == b.shape and not np.allclose(a, b)


# -- the judge: small gradients, float32, call counts ----------------------------------------

def test_a_small_wrong_gradient_fails():
    # Gradients of 1e-8 are resolved by the finite difference (its error bound is ~1e-16 here):
    # twice the gradient is wrong, however small.
    x = np.linspace(-2.0, 2.0, 7)

    def f(x):
        return float(np.sum(np.sin(x)) * 1e-8)

    assert check_function(f, lambda x: np.cos(x) * 1e-8, x).passed
    wrong = check_function(f, lambda x: 2 * np.cos(x) * 1e-8, x)
    assert not wrong.passed and wrong.counts()["wrong"] == x.size, str(wrong)


class Counted:
    """f, counting its calls."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, *args):
        self.calls += 1
        return self.f(*args)


def test_at_most_three_calls_per_element_when_the_gradient_is_right(x):
    f = Counted(quadratic)
    assert check_function(f, quadratic_grad, x).passed
    assert f.calls <= 3 * x.size + 2 + 2 * 10, f.calls  # ±h and x + 2h; twenty to measure f's rounding, once


def test_kink_detection_runs_only_on_elements_that_disagree():
    x = np.array([0.0, 1.0, -2.0, 3.0])
    f = Counted(lambda x: float(np.sum(np.abs(x))))
    r = check_function(f, lambda x: np.where(x >= 0, 1.0, -1.0), x)  # a one-sided slope at 0
    assert r.passed and r.tensor("x").n_kinks == 1
    # One call at x + 2h for each element that agrees, two at ±2h for the one element at the kink, ten to measure
    # f's rounding and ten at the kink tests' scale (once each, whatever the number of such elements; that rounding
    # is f's own, and no finer line is measured), four along the element's own axis near x (f is not flat there:
    # the lines' rounding bounds its kink tests), two smaller steps of four calls to find that its one-sided slopes
    # hold still, and four at the finest step f's rounding allows, where they still do (a kink at x itself, not next
    # to it, nor f turning within the steps); one kink alone needs no joint test.
    assert f.calls <= 2 * x.size + 2 + (x.size - 1) + 2 + 2 * 10 + 4 + 3 * 4, f.calls


def test_check_layer_calls_forward_at_most_three_times_per_element():
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    forward = Counted(lambda x, w, b: (x @ w + b, (x, w, b)))

    def backward(dout, cache):
        x, w, _ = cache
        return dout @ w.T, x.T @ dout, dout.sum(axis=0)

    assert check_layer(forward, backward, x, w, b, names=["x", "w", "b"]).passed
    assert forward.calls <= 3 * (x.size + w.size + b.size) + 3 + 2 * 10, forward.calls  # twenty for the rounding


def test_a_float32_layer_is_named_float32_not_kink_or_suspicious():
    rng = np.random.default_rng(0)
    x, w, b = (rng.normal(size=s).astype(np.float32) for s in [(4, 5), (5, 3), (3,)])

    def forward(x, w, b):  # computes in float32 whatever it is given
        x, w, b = (np.asarray(v, np.float32) for v in (x, w, b))
        return x @ w + b, (x, w, b)

    def backward(dout, cache):
        x, w, _ = cache
        dout = dout.astype(np.float32)
        return dout @ w.T, x.T @ dout, dout.sum(axis=0)

    r = check_layer(forward, backward, x, w, b)
    assert r.passed, str(r)
    assert r.counts()["kink"] == 0 and r.counts()["suspicious"] == 0
    assert any("float32" in n for n in r.notes), r.notes

    def wrong_backward(dout, cache):
        dx, dw, db = backward(dout, cache)
        return dx, dw, 2 * db

    bad = check_layer(forward, wrong_backward, x, w, b)
    assert not bad.passed and bad.blame(1)[0].param == "b"


@pytest.mark.parametrize("method", ["central", "richardson", "complex-step"])
def test_every_method_catches_a_wrong_gradient(method):
    x = np.array([0.3, -1.2, 2.0])
    assert check_function(lambda x: np.sum(np.exp(x) * x), lambda x: np.exp(x) * (1 + x), x, method=method).passed
    r = check_function(lambda x: np.sum(np.exp(x) * x), lambda x: np.exp(x) * (1 + 1.001 * x), x, method=method)
    assert not r.passed


def test_a_float32_function_says_why_its_elements_are_inconclusive_and_what_helps():
    # f computes in float32: its differences resolve a slope to about 1e-4, above rtol 1e-5 for a float64 gradient.
    A = np.array([[0.8, -1.3], [2.1, 0.4], [-0.6, 1.7]], np.float32)
    w = np.array([0.5, -1.2, 0.9], np.float32)
    x = np.array([0.3, -0.7])

    def f(v):
        return np.float32(w @ np.tanh(A @ np.asarray(v, np.float32)))

    def grad(v):
        z = A.astype(float) @ v
        return A.astype(float).T @ (w.astype(float) * (1 - np.tanh(z) ** 2))

    r = check_function(f, grad, x)
    assert r.passed and r.counts()["wrong"] == 0 and r.counts()["inconclusive"] == 2, str(r)
    assert any("f computes in float32, whose rounding bounds" in n and "rtol=1e-3" in n for n in r.notes), r.notes
    loose = check_function(f, grad, x, rtol=1e-3)
    assert loose.passed and loose.counts()["good"] == 2, str(loose)
    slip = check_function(f, lambda v: grad(v) * np.array([1.01, 1.0]), x, rtol=1e-3)
    assert slip.tensors[0].verdict("analytic")[0] in ("wrong", "suspicious"), str(slip)
