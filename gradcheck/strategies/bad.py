"""Hypothesis strategies for broken specs: params or data of the wrong shape, malformed values and structures.

Reached through :mod:`gradcheck.strategies`. Every example is refused by
:func:`~gradcheck.spec.parse.load_spec` (or by the check) with a one-line error.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..catalogue import ACTIVATIONS, BIAS_STYLES, CONVENTIONS, LAYER_KINDS, LOSSES
from ..spec.parse import KEYS, LAYER_KEYS, load_spec
from .activations import bad_activation_layers
from .once import booleans, integers, sampled_from
from .specs import params_for, specs

__all__ = ["bad_shape_specs", "malformed_specs"]


def _misfit_windows():
    """A conv2d or pooling layer whose windows do not fit: not a whole number of outputs, or too large."""
    @st.composite
    def build(draw):
        n, s = draw(integers(3, 8)), draw(integers(2, 3))
        pool = draw(booleans())
        k = draw(integers(1, n).filter(lambda k: (n - k) % s != 0) if any((n - k) % s for k in range(1, n + 1))
                 else st.just(n + 1))
        if draw(booleans()):
            k, s = n + 1, 1  # larger than the input
        layer = ({"type": draw(sampled_from(["maxpool2d", "avgpool2d"])), "size": k, "stride": s} if pool
                 else {"type": "conv2d", "filters": 1, "kernel": k, "stride": s})
        what = "pooling windows" if pool else "convolution windows"
        return {"input": [1, n, n], "layers": [layer, {"type": "flatten"}, {"units": 1}],
                "description": f"layers[0] {what}: size {k}, stride {s} on {n}x{n}"}
    return build()


# -- broken specs -------------------------------------------------------------------------------

def _reshape_wrongly(draw, arr, kind):
    """(nested list with a shape != arr.shape, what was done) for a W (2-D) or b (1-D) array."""
    if kind == "W":
        options = ["one more row", "one more column", "flattened"] + (["transposed"] if arr.shape[0] != arr.shape[1]
                                                                      else [])
    else:
        options = ["one more entry", "as a column"]
    how = draw(sampled_from(options))
    out = {"transposed": lambda: arr.T, "flattened": lambda: arr.ravel(), "as a column": lambda: arr[:, None],
           "one more row": lambda: np.concatenate([arr, arr[:1]], axis=0),
           "one more column": lambda: np.concatenate([arr, arr[:, :1]], axis=1),
           "one more entry": lambda: np.concatenate([arr, arr[:1]])}[how]()
    return out.tolist(), how


def bad_shape_specs(**spec_options):
    """Strategy for spec dicts with a shape error: one params tensor of a wrong shape (transposed, flat,
    wrong size), or a convolution or pooling layer whose windows do not fit its input.

    The "description" starts with the JSON path of the culprit and says what was done.
    """
    return st.one_of(_bad_params(**spec_options), _misfit_windows())


def _bad_params(**spec_options):
    @st.composite
    def build(draw):
        raw = draw(specs(**spec_options))
        spec = load_spec(raw)
        params = draw(params_for(spec))
        i = draw(integers(0, len(params) - 1))
        kind = draw(sampled_from(sorted(params[i])))
        entries = [{k: v.tolist() for k, v in p.items()} for p in params]
        entries[i][kind], how = _reshape_wrongly(draw, params[i][kind], kind)
        return {**raw, "params": entries, "description": f"params[{i}].{kind} {how}"}
    return build()


_NOT_JSON_OBJECT = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12),
                             st.lists(st.integers(), max_size=3))
_NOT_WHOLE = st.one_of(st.integers(max_value=0), st.floats(allow_nan=True).filter(lambda v: not float(v).is_integer()),
                       st.text(max_size=5), st.booleans(), st.none(), st.lists(st.integers(1, 3), max_size=2))


def _not_one_of(valid):
    return st.one_of(st.text(max_size=12).filter(lambda s: s not in valid), st.integers(), st.booleans(),
                     st.lists(st.sampled_from(list(valid)), min_size=1, max_size=2))


def _bad_values():
    """{key: strategy of values that make that key invalid}."""
    return {
        "input": _NOT_WHOLE,
        "batch": _NOT_WHOLE,
        "seed": st.one_of(st.integers(max_value=-1), st.floats(0.5, 9.5).filter(lambda v: not v.is_integer()),
                          st.text(max_size=5), st.booleans(), st.none()),
        "loss": _not_one_of(LOSSES),
        "convention": _not_one_of(CONVENTIONS),
        "bias": _not_one_of(BIAS_STYLES),
        "name": st.one_of(st.integers(), st.booleans(), st.lists(st.text(max_size=3), max_size=2)),
        "description": st.one_of(st.none(), st.integers(), st.booleans()),
        "impl": st.one_of(st.text(max_size=12).filter(lambda s: ":" not in s), st.integers(), st.booleans()),
        "layers": st.one_of(st.just([]), st.integers(), st.text(max_size=5), st.none(),
                            st.lists(st.one_of(st.integers(), st.text(max_size=3), st.none()), min_size=1,
                                     max_size=3)),
        "params": st.one_of(st.integers(), st.text(max_size=5), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                                 max_size=2)),
        "data": st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2)),
    }


def _bad_layer_values():
    return {
        "units": _NOT_WHOLE,
        "activation": _not_one_of(ACTIVATIONS),
        "type": _not_one_of(LAYER_KINDS),
    }


def _structural(raw):
    """Specs that break a rule across keys; each entry is a (what, spec) pair."""
    n_in, layers, out = raw["input"], raw["layers"], raw["layers"][-1]["units"]
    free = [a.name for a in ACTIVATIONS.values() if not a.last_only]
    free_losses = [loss.name for loss in LOSSES.values() if loss.output is None]
    cases = []
    for act in ACTIVATIONS.values():
        units = max(2, act.min_units)
        if act.last_only:
            cases.append((f"{act.name} on a hidden layer",
                          {**raw, "layers": [{"units": units, "activation": act.name}, {"units": 1}], "loss": "mse"}))
        if act.losses is not None:
            cases += [(f"{act.name} with {loss}", {**raw, "layers": [*layers[:-1], {"units": units, "activation":
                                                                                     act.name}], "loss": loss})
                      for loss in free_losses if loss not in act.losses]
    for loss in LOSSES.values():
        if loss.output is not None:
            other = next(a for a in free if a != loss.output)
            cases.append((f"{loss.name} without {loss.output}",
                          {**raw, "layers": [*layers[:-1], {"units": out, "activation": other}], "loss": loss.name}))
    return [
        *cases,
        ("params of the wrong length", {**raw, "params": [{"W": [[1.0]]}] * (len(layers) + 1)}),
        ("data.X of the wrong width", {**raw, "batch": 1, "data": {"X": [[0.5] * (n_in + 1)], "Y": [[0.5] * out]}}),
        ("data.Y of the wrong length", {**raw, "batch": 2, "data": {"X": [[0.5] * n_in] * 2, "Y": [[0.5] * out]}}),
        ("batch disagreeing with data", {**raw, "batch": 3, "data": {"X": [[0.5] * n_in] * 2,
                                                                      "Y": [[0.5] * out] * 2}}),
        ("data with NaN", {**raw, "batch": 1, "data": {"X": [[float("nan")] * n_in], "Y": [[0.5] * out]}}),
        ("missing input", {k: v for k, v in raw.items() if k != "input"}),
        ("missing layers", {k: v for k, v in raw.items() if k != "layers"}),
    ]


def malformed_specs():
    """Strategy for JSON-able values that are not valid specs: junk, wrong types, unknown keys, bad values.

    Every example is refused by :func:`~gradcheck.spec.parse.load_spec` with a SpecError.
    """
    base = specs(max_layers=2, max_units=3, max_input=3, max_batch=3)
    bad, bad_layer = _bad_values(), _bad_layer_values()

    @st.composite
    def wrong_value(draw):
        raw = draw(base)
        key = draw(sampled_from(sorted(bad)))
        return {**raw, key: draw(bad[key])}

    @st.composite
    def wrong_layer_value(draw):
        raw = draw(base)
        i = draw(integers(0, len(raw["layers"]) - 1))
        key = draw(sampled_from(sorted(bad_layer)))
        layers = [dict(ly) for ly in raw["layers"]]
        layers[i][key] = draw(bad_layer[key])
        return {**raw, "layers": layers}

    @st.composite
    def unknown_key(draw):
        raw = draw(base)
        in_layer = draw(booleans())
        key = draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in (LAYER_KEYS if in_layer else KEYS)))
        if not in_layer:
            return {**raw, key: draw(integers())}
        layers = [dict(ly) for ly in raw["layers"]]
        layers[-1][key] = 1
        return {**raw, "layers": layers}

    @st.composite
    def structural(draw):
        return draw(sampled_from(_structural(draw(base))))[1]

    return st.one_of(_NOT_JSON_OBJECT, wrong_value(), wrong_layer_value(), unknown_key(), structural(),
                     bad_activation_layers(base))
