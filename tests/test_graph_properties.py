"""Property tests: random graphs and sequence networks pass the check with the reference backprop, and a gradient
made wrong in one element fails it."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from gradcheck import check_network, load_spec
from gradcheck.reference.backprop import backprop
from gradcheck.strategies import graph_networks, sequence_networks

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _wrong_by_one_element(spec):
    def impl(params, X, Y, mask=None):
        _, grads = backprop(spec, params, X, Y)
        for g in grads:
            for key in g:
                g[key] = g[key].copy()
                g[key].flat[0] += 0.5 * (abs(g[key].flat[0]) + 1e-3)
                return grads
        return grads
    return impl


@SETTINGS
@given(graph_networks(smooth=True))
def test_random_graphs_pass_and_a_wrong_element_fails(raw):
    spec = load_spec(raw)
    assert check_network(spec, symbolic="off").passed
    result = check_network(spec, _wrong_by_one_element(spec), symbolic="off")
    assert not result.passed


@SETTINGS
@given(sequence_networks(smooth=True))
def test_random_sequence_networks_pass_and_a_wrong_element_fails(raw):
    spec = load_spec(raw)
    assert check_network(spec, symbolic="off").passed
    result = check_network(spec, _wrong_by_one_element(spec), symbolic="off")
    assert not result.passed


@settings(max_examples=6, deadline=None)
@given(graph_networks(smooth=True, max_units=2, max_input=2, max_batch=2))
def test_small_graphs_get_the_symbolic_opinion(raw):
    result = check_network(load_spec(raw))
    assert result.passed and "symbolic" in result.checked, str(result)
