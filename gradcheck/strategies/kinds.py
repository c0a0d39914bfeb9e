"""Hypothesis strategies of networks built around one layer kind: self-attention, embeddings of token ids,
recurrent layers. Reached through :mod:`gradcheck.strategies`; each gives complete spec dicts (params and data
filled in) that the check passes with the reference backprop.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..catalogue import ACTIVATIONS, BIAS_STYLES, CONVENTIONS, LAYER_KINDS, LOSSES
from ..spec.parse import load_spec
from .once import booleans, integers, sampled_from
from .specs import _choose, _floats, _positive, complete, data_for, params_for

__all__ = ["attention_networks", "embedding_networks", "lstm_networks", "rnn_networks"]


# -- attention -----------------------------------------------------------------------------------

def attention_networks(max_steps=3, max_heads=2, max_head_size=2, max_batch=3, conventions=None):
    """Strategy for complete spec dicts (params and data filled in) of a self-attention layer over a short sequence,
    then flatten and a dense output: T <= max_steps, heads h <= max_heads of d <= max_head_size features each
    (D = h·d), causal or not, either convention, a loss that suits the output."""
    _positive("attention_networks", max_steps=max_steps, max_heads=max_heads, max_head_size=max_head_size,
              max_batch=max_batch)
    convs = _choose(conventions, CONVENTIONS, "conventions", "attention_networks")

    @st.composite
    def build(draw):
        steps, heads = draw(integers(1, max_steps)), draw(integers(1, max_heads))
        width = heads * draw(integers(1, max_head_size))
        loss = draw(sampled_from(["cross_entropy", "mse"]))
        out = {"cross_entropy": "softmax", "mse": "linear"}[loss]
        raw = {"name": "random_attention", "input": {"steps": steps, "features": width}, "loss": loss,
               "layers": [{"type": "attention", "heads": heads, "causal": draw(booleans())}, {"type": "flatten"},
                          {"units": draw(integers(2, 3)), "activation": out}],
               "convention": draw(sampled_from(convs)), "batch": draw(integers(1, max_batch)),
               "seed": draw(integers(0, 2**16))}
        spec = load_spec(raw)
        params = draw(params_for(spec))
        X, Y = draw(data_for(spec))
        return complete(raw, params, X, Y)

    return build()


# -- embedding networks (token ids) -------------------------------------------------------------

def embedding_networks(max_vocab=6, max_steps=3, max_dim=3, max_batch=5, conventions=None, smooth=False):
    """Strategy for complete spec dicts (params and data filled in) of networks that read token ids.

    ``{"steps": T, "vocab": V}`` input (T <= max_steps, 2 <= V <= max_vocab), an embedding of E <=
    max_dim, maybe a dense layer per step, flatten, maybe a hidden dense layer, and an output
    with a loss that suits it. Token ids are drawn from a few of the V, so they often repeat
    (the case the table's gradient must add up). ``smooth=True`` leaves out relu and leaky_relu.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(embedding_networks())
    ... def test(d):
    ...     assert d["layers"][0]["type"] == "embedding" and "vocab" in d["input"]
    >>> test()
    """
    _positive("embedding_networks", max_vocab=max_vocab, max_steps=max_steps, max_dim=max_dim, max_batch=max_batch)
    convs = _choose(conventions, CONVENTIONS, "conventions", "embedding_networks")
    acts = [a.name for a in ACTIVATIONS.values() if not a.last_only and not (smooth and a.kinks)]

    @st.composite
    def build(draw):
        steps, vocab = draw(integers(1, max_steps)), draw(integers(2, max(2, max_vocab)))
        layers = [{"type": "embedding", "dim": draw(integers(1, max_dim))}]
        if draw(booleans()):
            layers.append({"units": draw(integers(1, 3)), "activation": draw(sampled_from(acts))})
        layers.append({"type": "flatten"})
        if draw(booleans()):
            layers.append({"units": draw(integers(1, 4)), "activation": draw(sampled_from(acts))})
        loss = draw(sampled_from(sorted(LOSSES)))
        out = LOSSES[loss].output or draw(sampled_from(acts))
        layers.append({"units": draw(integers(max(2, ACTIVATIONS[out].min_units) if out else 1, 3)),
                       "activation": out})
        raw = {"name": "random_embedding", "input": {"steps": steps, "vocab": vocab}, "layers": layers, "loss": loss,
               "convention": draw(sampled_from(convs)), "bias": draw(sampled_from(sorted(BIAS_STYLES))),
               "batch": draw(integers(1, max_batch)), "seed": draw(integers(0, 2**16))}
        spec = load_spec(raw)
        params = draw(params_for(spec))
        used = draw(st.lists(st.integers(0, vocab - 1), min_size=1, max_size=vocab, unique=True))
        X = draw(hnp.arrays(np.int64, (spec.n_samples, steps), elements=st.sampled_from(used)))
        Y = draw(data_for(spec))[1]
        return complete(raw, params, X, Y)

    return build()


# -- recurrent networks (rnn, gru) -------------------------------------------------------------

def rnn_networks(kinds=("rnn", "gru"), max_steps=3, max_features=2, max_units=3, max_batch=3, smooth=False):
    """Strategy for complete spec dicts of one recurrent layer on a sequence input ``{"steps": T, "features": D}``
    (an rnn with a drawn elementwise activation inside, or a gru), every state (then a dense layer per step) or
    the last (then a dense layer), with "params" and "data" filled in: X (N, T, D) in [-2, 2]; Y one-hot for
    cross_entropy, else in [-2, 2], per step where the output is. ``smooth=True`` leaves out relu inside."""
    _positive("rnn_networks", max_steps=max_steps, max_features=max_features, max_units=max_units, max_batch=max_batch)
    acts = [a.name for a in ACTIVATIONS.values() if a.elementwise and not a.last_only and not (smooth and a.kinks)]

    @st.composite
    def build(draw):
        kind = draw(sampled_from(list(kinds)))
        layer = {"type": kind, "units": draw(integers(1, max_units)), "sequences": draw(booleans())}
        if "activation" in LAYER_KINDS[kind].keys:  # an rnn's activation inside
            layer["activation"] = draw(sampled_from(acts))
        loss = draw(sampled_from(["mse", "cross_entropy"]))
        out = {"units": draw(integers(2, 3)), "activation": LOSSES[loss].output or "linear"}
        sequence = {"steps": draw(integers(1, max_steps)), "features": draw(integers(1, max_features))}
        raw = {"name": "random_rnn", "input": sequence, "layers": [layer, out], "loss": loss,
               "convention": draw(sampled_from(list(CONVENTIONS))), "batch": draw(integers(1, max_batch)),
               "seed": draw(integers(0, 2**16))}
        spec = load_spec(raw)
        params = draw(params_for(spec))
        n, k, steps = spec.batch, spec.output, spec.output_shape[:-1]
        X = draw(hnp.arrays(np.float64, (n, *spec.input_shape), elements=_floats(-2.0, 2.0)))
        if LOSSES[loss].one_hot:
            Y = np.eye(k)[draw(hnp.arrays(np.int64, (n, *steps), elements=st.integers(0, k - 1)))]
        else:
            Y = draw(hnp.arrays(np.float64, (n, *steps, k), elements=_floats(-2.0, 2.0)))
        return complete(raw, params, X, Y)

    return build()


# -- lstm networks ------------------------------------------------------------------------------

def lstm_networks(max_steps=3, max_features=3, max_units=3, max_batch=3, conventions=None, biases=None):
    """Strategy for complete spec dicts (params and data filled in) of an lstm on a sequence
    ``{"steps": T, "features": D}``, keeping every h or only the last, then a dense layer (per step, or on
    the last h) with mse or sse; X in [-2, 2], params in [-1, 1], Y (N, T, K) or (N, K) in [-2, 2].

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(lstm_networks())
    ... def test(d):
    ...     assert d["layers"][0]["type"] == "lstm" and len(np.shape(d["data"]["X"])) == 3
    >>> test()
    """
    _positive("lstm_networks", max_steps=max_steps, max_features=max_features, max_units=max_units, max_batch=max_batch)
    convs = _choose(conventions, CONVENTIONS, "conventions", "lstm_networks")
    styles = [b for b in _choose(biases, BIAS_STYLES, "biases", "lstm_networks")
              if not BIAS_STYLES[b].in_weights] or ["separate"]

    @st.composite
    def build(draw):
        t, d, n = draw(integers(1, max_steps)), draw(integers(1, max_features)), draw(integers(1, max_batch))
        lstm = {"type": "lstm", "units": draw(integers(1, max_units)), "sequences": draw(booleans())}
        dense = {"units": draw(integers(1, 3)), "activation": draw(sampled_from(["linear", "tanh"]))}
        raw = {"name": "random_lstm", "input": {"steps": t, "features": d}, "layers": [lstm, dense],
               "loss": draw(sampled_from(["mse", "sse"])), "convention": draw(sampled_from(convs)),
               "bias": draw(sampled_from(styles)), "batch": n, "seed": draw(integers(0, 2**16))}
        spec = load_spec(raw)
        params = draw(params_for(spec))
        X = draw(hnp.arrays(np.float64, (n, t, d), elements=_floats(-2.0, 2.0)))
        Y = draw(hnp.arrays(np.float64, (n, *spec.output_shape), elements=_floats(-2.0, 2.0)))
        return complete(raw, params, X, Y)

    return build()


__all__ += ["lstm_networks"]
