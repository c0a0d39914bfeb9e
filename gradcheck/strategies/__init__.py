"""Hypothesis strategies: random valid net.json specs, params and data for them, and broken specs.

For property tests of your own backprop (or of gradcheck)::

    from hypothesis import given, settings
    from gradcheck import check_network
    from gradcheck.strategies import networks

    @settings(max_examples=30, deadline=None)
    @given(networks(smooth=True))
    def test_my_backprop(net):
        assert check_network(net, my_backprop, symbolic="off").passed

Every spec dict these strategies produce is JSON-able (lists, not arrays): it can be written to a net.json as is.
Valid specs respect the rules of :mod:`gradcheck.spec.parse` (softmax only last, with ``cross_entropy``, which needs
it; ``bce`` a sigmoid output); an activation's ``slope``/``alpha`` is drawn half the time. Needs hypothesis.
"""

from __future__ import annotations

from .specs import cnn_specs, complete, data_for, networks, params_for, specs

__all__ = ["specs", "cnn_specs", "params_for", "data_for", "networks", "complete", "bad_shape_specs",
           "malformed_specs"]

#: The valid specs, params and data live in :mod:`gradcheck.strategies.specs`, the ground the others build on.
#: The strategies for the corners where finite differences are hard to judge live in
#: :mod:`gradcheck.strategies.corners` (they build on these); importing them from here loads them on first use.
_CORNER_NAMES = frozenset({"CORNERS", "corner_networks", "narrow_norm_networks", "large_weight_networks",
                           "saturated_networks", "near_kink_networks", "pool_tie_networks", "tiny_scale_networks"})
_GRAPH_NAMES = frozenset({"graph_specs", "graph_networks", "sequence_specs", "sequence_networks"})
#: Strategies of networks built around one layer kind (attention, embeddings, recurrent layers) live in
#: :mod:`gradcheck.strategies.kinds`.
_KIND_NAMES = frozenset({"attention_networks", "embedding_networks", "rnn_networks", "lstm_networks"})


# -- broken specs: in :mod:`gradcheck.strategies.bad` ---------------------------------------------

def bad_shape_specs(**spec_options):
    """Strategy for complete specs whose params or data have a wrong shape (see
    :func:`gradcheck.strategies.bad.bad_shape_specs`)."""
    from .bad import bad_shape_specs as build
    return build(**spec_options)


def malformed_specs():
    """Strategy for JSON-able values that are not valid specs (see :func:`gradcheck.strategies.bad.malformed_specs`)."""
    from .bad import malformed_specs as build
    return build()


def __getattr__(name):
    if name in _CORNER_NAMES:
        from . import corners
        return getattr(corners, name)
    if name in _KIND_NAMES:
        from . import kinds
        return getattr(kinds, name)
    if name in _GRAPH_NAMES:
        from . import graphs
        return getattr(graphs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
