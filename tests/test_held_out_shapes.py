"""Layer code in shapes met in public code: a backward that takes no cache (bound methods that keep their own
state), integer ids and lists of arrays as a layer object's input, and a cell that its own flush breaks."""

import sys
from pathlib import Path

import numpy as np

from gradcheck import check_layer
from gradcheck.errors import describe_exception

sys.path.insert(0, str(Path(__file__).parent / "impls"))
import held_out_shapes as H  # noqa: N812

RNG = np.random.default_rng(11)
X = RNG.normal(size=(5, 4))
IDS = np.array([[0, 2, 2], [5, 0, 1]])


def test_bound_methods_whose_backward_takes_no_cache_are_checked():
    layer = H.Dense(RNG.normal(size=(4, 3)), RNG.normal(size=3))
    assert check_layer(layer.forward_pass, layer.backward_pass, X).passed
    wrong = H.Dense(RNG.normal(size=(4, 4)), RNG.normal(size=4), bug=True)
    assert not check_layer(wrong.forward_pass, wrong.backward_pass, X).passed


def test_an_object_with_forward_pass_and_backward_pass_is_a_layer_object():
    good = check_layer(H.Dense(RNG.normal(size=(4, 3)), RNG.normal(size=3)), X)
    assert good.passed and [t.name for t in good.tensors] == ["X"]
    assert any("only the input's gradient is checked: Dense keeps its parameters (W, b)" in n for n in good.notes)
    bad = check_layer(H.Dense(RNG.normal(size=(4, 4)), RNG.normal(size=4), bug=True), X)
    assert not bad.passed


def test_a_call_that_fails_in_gradcheck_is_not_located_there():
    def backward(dout, cache, extra):  # takes more arguments than backward(dout, cache)
        return dout

    r = check_layer(lambda x: 2 * x, backward, X)
    assert not r.passed
    assert "missing 1 required positional argument" in r.problems[0] and "layer.py" not in r.problems[0], r.problems
    try:
        (lambda a: a)()
    except TypeError as e:
        assert "(at" in describe_exception(e)  # a frame of the user's own still locates it


def test_a_layer_object_takes_integer_ids_untouched():
    W = RNG.normal(size=(6, 3))
    good = check_layer(H.Lookup(W.copy()), IDS)
    assert good.passed and [t.name for t in good.tensors] == ["W"]
    bad = check_layer(H.Lookup(W.copy(), bug=True), IDS)
    assert not bad.passed
    assert any("buffered" in d for d in bad.diagnosis), bad.diagnosis


def test_a_layer_object_takes_a_list_of_arrays():
    xs = [X, RNG.normal(size=X.shape)]
    good = check_layer(H.Sum(), xs)
    assert good.passed and [t.name for t in good.tensors] == ["X[0]", "X[1]"]
    bad = check_layer(H.Sum(bug=True), xs)
    assert not bad.passed and bad.blame(1)[0].element.startswith("X[1]")


def test_a_cell_that_its_own_flush_breaks_is_checked_unflushed():
    r = check_layer(H.Cell(3), X)
    assert r.passed, r.problems
    assert not any("backward raised" in p for p in r.problems)


def test_a_keepdims_gradient_is_compared_as_its_input_and_its_own_lines_are_named():
    gamma, beta = RNG.normal(size=4), RNG.normal(size=4)
    r = check_layer(H.layernorm_forward, H.layernorm_backward_keepdims, X, gamma, beta, {})
    assert not r.passed
    assert all("keepdims=True?" in p and "its values are compared as (4,)" in p for p in r.problems), r.problems
    assert r.max_rel_error < 1e-6  # the values are right; the shape is the problem
    lines = [d for d in r.diagnosis if "your line" in d or "your lines" in d or "are made at" in d]
    assert lines and all("keepdims=True)" in d for d in lines), r.diagnosis  # the sums, not the (N, 1) statistic


def test_a_mask_drawn_from_numpys_global_random_state_is_the_same_at_every_point():
    r = check_layer(H.Dropout(), X)
    assert r.passed, r.problems
    assert any("draws from NumPy's global random state" in n for n in r.notes), r.notes
    assert not any("state leaks" in n for n in r.notes), r.notes
    bad = check_layer(H.Dropout(bug=True), X)
    assert not bad.passed and not bad.problems  # a wrong gradient, not a forward that changes between calls
