"""Hypothesis strategies: random valid net.json specs, params and data for them, and broken specs.

For property tests of your own backprop (or of gradcheck)::

    from hypothesis import given, settings
    from gradcheck import check_network
    from gradcheck.strategies import networks

    @settings(max_examples=30, deadline=None)
    @given(networks(smooth=True))
    def test_my_backprop(net):
        assert check_network(net, my_backprop, symbolic="off").passed

Every spec dict these strategies produce is JSON-able (lists, not arrays), so it can be
written to a net.json as is. Valid specs respect the rules of :mod:`gradcheck.spec.parse`:
softmax only on the last layer and only with ``cross_entropy``; ``cross_entropy`` needs
a softmax output and ``bce`` a sigmoid output. Needs the ``test`` extra (hypothesis).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .catalogue import ACTIVATIONS, BIAS_STYLES, CONVENTIONS, LAYER_KINDS, LOSSES
from .spec.parse import KEYS, LAYER_KEYS, load_spec
from .validate import whole_number

__all__ = ["specs", "cnn_specs", "params_for", "data_for", "networks", "bad_shape_specs", "malformed_specs"]
#: The strategies for the corners where finite differences are hard to judge live in
#: :mod:`gradcheck.corner_strategies` (they build on these); importing them from here loads them on first use.
_CORNER_NAMES = frozenset({"CORNERS", "corner_networks", "narrow_norm_networks", "large_weight_networks",
                           "saturated_networks", "near_kink_networks", "pool_tie_networks"})

# -- valid specs ------------------------------------------------------------------------------

def _choose(given, catalogue, argument):
    if given is None:
        return list(catalogue)
    given = list(given)
    unknown = [g for g in given if g not in catalogue]
    if unknown or not given:
        raise ValueError(f"specs: {argument}={given!r}: expected a non-empty list from {', '.join(catalogue)}")
    return given


def _positive(value, argument):
    if not isinstance(value, int):
        raise ValueError(f"specs: {argument}={value!r}: expected a whole number >= 1")
    try:
        return whole_number(value, 1)
    except ValueError as e:
        raise ValueError(f"specs: {argument}={value!r}: {e}") from None


def specs(max_layers=3, max_units=5, max_input=4, activations=None, losses=None, conventions=None, biases=None,  # noqa: PLR0913
          smooth=False, max_batch=5):
    """Strategy for valid net.json dicts (no params or data: those come seeded from ``seed``).

    ``activations``/``losses``/``conventions``/``biases`` restrict the choices (default:
    all); ``smooth=True`` leaves out relu and leaky_relu (no kinks). Sizes: 1..max_layers
    layers of 1..max_units units, 1..max_input inputs, batch 1..max_batch.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(specs(losses=["cross_entropy"]))
    ... def test(d):
    ...     assert d["layers"][-1]["activation"] == "softmax"
    >>> test()
    """
    for value, argument in ((max_layers, "max_layers"), (max_units, "max_units"), (max_input, "max_input"),
                            (max_batch, "max_batch")):
        _positive(value, argument)
    acts = [a for a in _choose(activations, ACTIVATIONS, "activations") if not (smooth and ACTIVATIONS[a].kinks)]
    hidden = [a for a in acts if not ACTIVATIONS[a].last_only]
    outputs = {}
    for loss in _choose(losses, LOSSES, "losses"):
        needed = LOSSES[loss].output
        outputs[loss] = [needed] if needed in acts else ([] if needed else hidden)
    outputs = {k: v for k, v in outputs.items() if v}
    if not outputs:
        raise ValueError(f"specs: no loss in {losses or list(LOSSES)} can be used with activations {acts} "
                         "(cross_entropy needs softmax, bce needs sigmoid, the others a non-softmax activation)")
    convs = _choose(conventions, CONVENTIONS, "conventions")
    bias_styles = _choose(biases, BIAS_STYLES, "biases")
    max_hidden = max_layers - 1 if hidden else 0

    @st.composite
    def build(draw):
        loss = draw(st.sampled_from(sorted(outputs)))
        n_hidden = draw(st.integers(0, max_hidden))
        layers = [{"units": draw(st.integers(1, max_units)), "activation": draw(st.sampled_from(hidden))}
                  for _ in range(n_hidden)]
        out_act = draw(st.sampled_from(outputs[loss]))
        min_out = min(ACTIVATIONS[out_act].min_units, max_units)  # e.g. a 1-way softmax is constant
        layers.append({"units": draw(st.integers(min_out, max_units)), "activation": out_act})
        return {
            "name": "random", "input": draw(st.integers(1, max_input)), "layers": layers, "loss": loss,
            "convention": draw(st.sampled_from(convs)), "bias": draw(st.sampled_from(bias_styles)),
            "batch": draw(st.integers(1, max_batch)), "seed": draw(st.integers(0, 2**16)),
        }

    return build()


# -- params and data ---------------------------------------------------------------------------

def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


def params_for(spec):
    """Strategy for params of ``spec`` (a dict, path or Spec): a list of {"W", "b"} float64 arrays
    in the convention's shapes (``spec.param_shapes()``), elements in [-1, 1]."""
    spec = load_spec(spec)
    return st.tuples(*[
        st.fixed_dictionaries({k: hnp.arrays(np.float64, s, elements=_floats(-1.0, 1.0)) for k, s in shapes.items()})
        for shapes in spec.param_shapes()
    ]).map(list)


def data_for(spec):
    """Strategy for ``(X, Y)`` of ``spec``, sample-major as in net.json: X (N, input) or (N, C, H, W), Y (N, K).

    X is in [-2, 2]; Y suits the loss and output: one-hot rows for cross_entropy, [0, 1]
    for bce/sigmoid/softmax, [-1, 1] for tanh, [-2, 2] otherwise. For
    :func:`~gradcheck.checks.network.check_network` ``data=`` convert with ``spec.conv.from_samples``.
    """
    spec = load_spec(spec)
    n, k, loss = spec.n_samples, spec.output, LOSSES[spec.loss]
    X = hnp.arrays(np.float64, (n, *spec.input_shape), elements=_floats(-2.0, 2.0))
    bounds = loss.target_range or spec.layers[-1].act.output_range or (-2.0, 2.0)
    if loss.one_hot:
        Y = st.lists(st.integers(0, k - 1), min_size=n, max_size=n).map(lambda idx: np.eye(k)[idx])
    else:
        Y = hnp.arrays(np.float64, (n, k), elements=_floats(*bounds))
    return st.tuples(X, Y)


def networks(cnn=False, **spec_options):
    """Strategy for complete spec dicts: :func:`specs` (or, with ``cnn=True``, :func:`cnn_specs`; same
    options) with "params" and "data" filled in (dropout masks stay seeded)."""
    @st.composite
    def build(draw):
        raw = draw(cnn_specs(**spec_options) if cnn else specs(**spec_options))
        spec = load_spec(raw)
        params = draw(params_for(spec))
        X, Y = draw(data_for(spec))
        return {**raw, "params": [{k: v.tolist() for k, v in p.items()} for p in params],
                "data": {"X": X.tolist(), "Y": Y.tolist()}}
    return build()


# -- convolutional networks --------------------------------------------------------------------

def _window(draw, n, padding):
    """(kernel, stride, padding) whose windows tile ``n`` pixels (a whole number of outputs >= 1)."""
    s = draw(st.integers(1, 2))
    p = draw(st.integers(0, 1)) if padding else 0
    fits = [k for k in range(1, min(n + 2 * p, 4) + 1) if (n + 2 * p - k) % s == 0 and k > p]
    if not fits:
        return 1, 1, 0
    return draw(st.sampled_from(fits)), s, p


def cnn_specs(max_channels=2, max_size=6, max_filters=3, max_batch=3, conventions=None, smooth=False, extras=True):
    """Strategy for valid net.json dicts of small CNNs whose sizes tile.

    ``[C, H, W]`` input (C <= max_channels, H = W <= max_size); one or two blocks of conv2d
    (kernel, stride, padding drawn so that (H + 2P − k)/S + 1 is whole) and, maybe,
    max or average pooling that tiles; with ``extras`` also batchnorm, layernorm,
    dropout and standalone activation layers; then flatten and one or two dense layers
    with a loss that suits the output. ``smooth=True`` leaves out relu and max pooling.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(cnn_specs())
    ... def test(d):
    ...     assert d["layers"][0]["type"] == "conv2d" and len(d["input"]) == 3
    >>> test()
    """
    for value, argument in ((max_channels, "max_channels"), (max_size, "max_size"), (max_filters, "max_filters"),
                            (max_batch, "max_batch")):
        _positive(value, argument)
    convs = _choose(conventions, CONVENTIONS, "conventions")
    acts = [a.name for a in ACTIVATIONS.values() if not a.last_only and not (smooth and a.kinks)]
    pools = ["avgpool2d"] + ([] if smooth else ["maxpool2d"])

    @st.composite
    def build(draw):
        c, n = draw(st.integers(1, max_channels)), draw(st.integers(2, max_size))
        raw_layers = []
        size = n
        for _ in range(draw(st.integers(1, 2))):
            k, s, p = _window(draw, size, padding=True)
            raw_layers.append({"type": "conv2d", "filters": draw(st.integers(1, max_filters)), "kernel": k,
                               "stride": s, "padding": p, "activation": draw(st.sampled_from(acts))})
            size = (size + 2 * p - k) // s + 1
            if extras and draw(st.booleans()):
                raw_layers.append(draw(st.sampled_from([
                    {"type": "batchnorm"}, {"type": "layernorm"}, {"type": "dropout", "p": 0.5},
                    {"type": "activation", "activation": draw(st.sampled_from(acts))}])))
            if size > 1 and draw(st.booleans()):
                k, s, _ = _window(draw, size, padding=False)
                raw_layers.append({"type": draw(st.sampled_from(pools)), "size": k, "stride": s})
                size = (size - k) // s + 1
        raw_layers.append({"type": "flatten"})
        if draw(st.booleans()):
            raw_layers.append({"units": draw(st.integers(1, 4)), "activation": draw(st.sampled_from(acts))})
        loss = draw(st.sampled_from(sorted(LOSSES)))
        out = LOSSES[loss].output or draw(st.sampled_from(acts))
        raw_layers.append({"units": draw(st.integers(max(2, ACTIVATIONS[out].min_units) if out else 1, 3)),
                           "activation": out})
        return {"name": "random_cnn", "input": [c, n, n], "layers": raw_layers, "loss": loss,
                "convention": draw(st.sampled_from(convs)), "batch": draw(st.integers(2, max_batch)),
                "seed": draw(st.integers(0, 2**16))}

    return build()


def _misfit_windows():
    """A conv2d or pooling layer whose windows do not fit: not a whole number of outputs, or too large."""
    @st.composite
    def build(draw):
        n, s = draw(st.integers(3, 8)), draw(st.integers(2, 3))
        pool = draw(st.booleans())
        k = draw(st.integers(1, n).filter(lambda k: (n - k) % s != 0) if any((n - k) % s for k in range(1, n + 1))
                 else st.just(n + 1))
        if draw(st.booleans()):
            k, s = n + 1, 1  # larger than the input
        layer = ({"type": draw(st.sampled_from(["maxpool2d", "avgpool2d"])), "size": k, "stride": s} if pool
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
    how = draw(st.sampled_from(options))
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
        i = draw(st.integers(0, len(params) - 1))
        kind = draw(st.sampled_from(sorted(params[i])))
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
        key = draw(st.sampled_from(sorted(bad)))
        return {**raw, key: draw(bad[key])}

    @st.composite
    def wrong_layer_value(draw):
        raw = draw(base)
        i = draw(st.integers(0, len(raw["layers"]) - 1))
        key = draw(st.sampled_from(sorted(bad_layer)))
        layers = [dict(ly) for ly in raw["layers"]]
        layers[i][key] = draw(bad_layer[key])
        return {**raw, "layers": layers}

    @st.composite
    def unknown_key(draw):
        raw = draw(base)
        in_layer = draw(st.booleans())
        key = draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in (LAYER_KEYS if in_layer else KEYS)))
        if not in_layer:
            return {**raw, key: draw(st.integers())}
        layers = [dict(ly) for ly in raw["layers"]]
        layers[-1][key] = 1
        return {**raw, "layers": layers}

    @st.composite
    def structural(draw):
        return draw(st.sampled_from(_structural(draw(base))))[1]

    return st.one_of(_NOT_JSON_OBJECT, wrong_value(), wrong_layer_value(), unknown_key(), structural())


def __getattr__(name):
    if name in _CORNER_NAMES:
        from . import corner_strategies
        return getattr(corner_strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    for value, argument in ((max_steps, "max_steps"), (max_features, "max_features"), (max_units, "max_units"),
                            (max_batch, "max_batch")):
        _positive(value, argument)
    convs = _choose(conventions, CONVENTIONS, "conventions")
    styles = [b for b in _choose(biases, BIAS_STYLES, "biases") if not BIAS_STYLES[b].in_weights] or ["separate"]

    @st.composite
    def build(draw):
        t, d, n = draw(st.integers(1, max_steps)), draw(st.integers(1, max_features)), draw(st.integers(1, max_batch))
        lstm = {"type": "lstm", "units": draw(st.integers(1, max_units)), "sequences": draw(st.booleans())}
        dense = {"units": draw(st.integers(1, 3)), "activation": draw(st.sampled_from(["linear", "tanh"]))}
        raw = {"name": "random_lstm", "input": {"steps": t, "features": d}, "layers": [lstm, dense],
               "loss": draw(st.sampled_from(["mse", "sse"])), "convention": draw(st.sampled_from(convs)),
               "bias": draw(st.sampled_from(styles)), "batch": n, "seed": draw(st.integers(0, 2**16))}
        spec = load_spec(raw)
        params = draw(params_for(spec))
        X = draw(hnp.arrays(np.float64, (n, t, d), elements=_floats(-2.0, 2.0)))
        Y = draw(hnp.arrays(np.float64, (n, *spec.output_shape), elements=_floats(-2.0, 2.0)))
        return {**raw, "params": [{k: v.tolist() for k, v in p.items()} for p in params],
                "data": {"X": X.tolist(), "Y": Y.tolist()}}

    return build()


__all__ += ["lstm_networks"]
