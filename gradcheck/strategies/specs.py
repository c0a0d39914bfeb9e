"""Random valid net.json specs, and params and data for them, as hypothesis strategies: the ground the other
strategy modules build on (corners, kinds, graphs, broken specs). Reached through :mod:`gradcheck.strategies`,
which exports them all. Needs the ``test`` extra (hypothesis).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..catalogue import ACTIVATIONS, BIAS_STYLES, CONVENTIONS, LOSSES
from ..spec.parse import load_spec
from ..validate import whole_number
from .activations import activation_keys
from .losses import classes_for, loss_options, min_outputs
from .once import booleans, floats, integers, made_once, sampled_from

__all__ = ["cnn_specs", "complete", "data_for", "networks", "params_for", "specs"]


# -- valid specs ------------------------------------------------------------------------------

def _choose(given, catalogue, argument, strategy):
    """The names ``given`` for the argument ``argument`` of the strategy ``strategy`` (every name of ``catalogue``
    where None), refusing an empty list or a name the catalogue lacks, naming the strategy, the argument and the
    names it takes."""
    if given is None:
        return list(catalogue)
    given = list(given)
    unknown = [g for g in given if g not in catalogue]
    if unknown or not given:
        raise ValueError(f"{strategy}: {argument}={given!r}: expected a non-empty list from {', '.join(catalogue)}")
    return given


def _positive(strategy, **limits):
    """Refuse a size limit of the strategy ``strategy`` that is not a whole number >= 1, naming the strategy and the
    argument (``specs: max_units=0: …``)."""
    for argument, value in limits.items():
        if not isinstance(value, int):
            raise ValueError(f"{strategy}: {argument}={value!r}: expected a whole number >= 1")
        try:
            whole_number(value, 1)
        except ValueError as e:
            raise ValueError(f"{strategy}: {argument}={value!r}: {e}") from None


@made_once
def specs(max_layers=3, max_units=5, max_input=4, activations=None, losses=None, conventions=None, biases=None,  # noqa: PLR0913
          smooth=False, max_batch=5, options=True):
    """Strategy for valid net.json dicts (no params or data: those come seeded from ``seed``).

    ``activations``/``losses``/``conventions``/``biases`` restrict the choices (default:
    all); ``smooth=True`` leaves out activations with kinks (relu, leaky_relu, selu), svm and l1. Sizes:
    1..max_layers layers of 1..max_units units, 1..max_input inputs, batch 1..max_batch; ``options``:
    :func:`.losses.loss_options`.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(specs(losses=["cross_entropy"]))
    ... def test(d):
    ...     assert d["layers"][-1]["activation"] == "softmax"
    >>> test()
    """
    _positive("specs", max_layers=max_layers, max_units=max_units, max_input=max_input, max_batch=max_batch)
    acts = [a for a in _choose(activations, ACTIVATIONS, "activations", "specs")
            if not (smooth and ACTIVATIONS[a].kinks)]
    hidden = [a for a in acts if not ACTIVATIONS[a].last_only]
    outputs = {}
    for loss in _choose(losses, LOSSES, "losses", "specs"):
        if smooth and LOSSES[loss].kinked:
            continue
        needed = LOSSES[loss].output
        outputs[loss] = [needed] if needed in acts else ([] if needed else hidden)
    outputs = {k: v for k, v in outputs.items() if v}
    if not outputs:
        raise ValueError(f"specs: no loss in {losses or list(LOSSES)} can be used with activations {acts} "
                         "(cross_entropy needs softmax, bce needs sigmoid, the others a non-softmax activation)")
    convs = _choose(conventions, CONVENTIONS, "conventions", "specs")
    bias_styles = _choose(biases, BIAS_STYLES, "biases", "specs")
    max_hidden = max_layers - 1 if hidden else 0

    # Every strategy made once, outside the draws: making one anew per draw costs as much as drawing from it.
    loss_st, hidden_st = st.sampled_from(sorted(outputs)), st.integers(0, max_hidden)
    units_st = st.integers(1, max_units)
    out_act_st = {loss: st.sampled_from(names) for loss, names in outputs.items()}
    input_st, conv_st, bias_st = st.integers(1, max_input), st.sampled_from(convs), st.sampled_from(bias_styles)
    batch_st, seed_st = st.integers(1, max_batch), st.integers(0, 2**16)
    options_st = {loss: loss_options(loss, smooth) for loss in outputs} if options else {}

    @st.composite
    def build(draw):
        loss = draw(loss_st)
        n_hidden = draw(hidden_st)
        layers = [{"units": draw(units_st), **activation_keys(draw, hidden, smooth)} for _ in range(n_hidden)]
        out_act = draw(out_act_st[loss])
        min_out = min(min_outputs(loss, out_act), max_units)  # e.g. a 1-way softmax is constant
        layers.append({"units": draw(integers(min_out, max_units)), **activation_keys(draw, [out_act], smooth)})
        return {
            "name": "random", "input": draw(input_st), "layers": layers, "loss": loss,
            "convention": draw(conv_st), "bias": draw(bias_st), "batch": draw(batch_st), "seed": draw(seed_st),
            **(draw(options_st[loss]) if options else {}),
        }

    return build()


# -- params and data ---------------------------------------------------------------------------

def _floats(lo, hi):
    return floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


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

    X is in [-2, 2]; Y suits the loss and output: integer class labels or one-hot rows for cross_entropy and
    svm, [0, 1]
    for bce/sigmoid/softmax, [-1, 1] for tanh, [-2, 2] otherwise. For
    :func:`~gradcheck.checks.network.check_network` ``data=`` convert with ``spec.conv.from_samples``.
    """
    spec = load_spec(spec)
    n, k, loss = spec.n_samples, spec.output, LOSSES[spec.loss]
    rows = (n, *spec.output_shape[:-1])  # a per-step output has a target row per step
    if spec.tokens:
        X = hnp.arrays(np.int64, (n, *spec.input_shape), elements=st.integers(0, spec.input.vocab - 1))
    else:
        X = hnp.arrays(np.float64, (n, *spec.input_shape), elements=_floats(-2.0, 2.0))
    bounds = loss.target_range or spec.layers[-1].act.output_range or (-2.0, 2.0)
    if loss.one_hot and len(rows) == 1:
        Y = classes_for(loss, n, k)
    elif loss.one_hot:
        size = int(np.prod(rows))
        Y = st.lists(st.integers(0, k - 1), min_size=size, max_size=size).map(
            lambda idx: np.eye(k)[idx].reshape(*rows, k))
    else:
        Y = hnp.arrays(np.float64, (*rows, k), elements=_floats(*bounds))
    return st.tuples(X, Y)


def networks(cnn=False, **spec_options):
    """Strategy for complete spec dicts: :func:`specs` (or, with ``cnn=True``, :func:`cnn_specs`; same
    options) with "params" and "data" filled in (dropout masks stay seeded)."""
    drawn = cnn_specs(**spec_options) if cnn else specs(**spec_options)

    @st.composite
    def build(draw):
        raw = draw(drawn)
        spec = load_spec(raw)
        params = draw(params_for(spec))
        X, Y = draw(data_for(spec))
        return complete(raw, params, X, Y)
    return build()


def complete(raw, params, X, Y, **data):
    """The spec dict ``raw`` with its params (a list of dicts of arrays) and data X, Y (plus any other ``data``
    entries, such as a mask) written in, as JSON-able lists."""
    return {**raw, "params": [{k: v.tolist() for k, v in p.items()} for p in params],
            "data": {"X": X.tolist(), "Y": Y.tolist(), **data}}


# -- convolutional networks --------------------------------------------------------------------

def _window(draw, n, padding):
    """(kernel, stride, padding) whose windows tile ``n`` pixels (a whole number of outputs >= 1)."""
    s = draw(integers(1, 2))
    p = draw(integers(0, 1)) if padding else 0
    fits = [k for k in range(1, min(n + 2 * p, 4) + 1) if (n + 2 * p - k) % s == 0 and k > p]
    if not fits:
        return 1, 1, 0
    return draw(sampled_from(fits)), s, p


@made_once
def cnn_specs(max_channels=2, max_size=6, max_filters=3, max_batch=3, conventions=None, smooth=False, extras=True):
    """Strategy for valid net.json dicts of small CNNs whose sizes tile.

    ``[C, H, W]`` input (C <= max_channels, H = W <= max_size); one or two blocks of conv2d
    (kernel, stride, padding drawn so that (H + 2P − k)/S + 1 is whole) and, maybe,
    max or average pooling that tiles; with ``extras`` also batchnorm (biased or unbiased
    variance), layernorm, groupnorm (G dividing the filters), dropout and standalone
    activation layers; then flatten and one or two dense layers with a loss that suits the
    output. ``smooth=True`` leaves out relu and max pooling.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(cnn_specs())
    ... def test(d):
    ...     assert d["layers"][0]["type"] == "conv2d" and len(d["input"]) == 3
    >>> test()
    """
    _positive("cnn_specs", max_channels=max_channels, max_size=max_size, max_filters=max_filters, max_batch=max_batch)
    convs = _choose(conventions, CONVENTIONS, "conventions", "cnn_specs")
    acts = [a.name for a in ACTIVATIONS.values() if not a.last_only and not (smooth and a.kinks)]
    pools = ["avgpool2d"] + ([] if smooth else ["maxpool2d"])
    # The strategies whose bounds are fixed, made once (see :func:`specs`).
    channels_st, size_st = st.integers(1, max_channels), st.integers(2, max_size)
    filters_st, batch_st = st.integers(1, max_filters), st.integers(2, max_batch)
    pool_st, act_st, conv_st = st.sampled_from(pools), st.sampled_from(acts), st.sampled_from(convs)
    loss_st = st.sampled_from(sorted(name for name, x in LOSSES.items() if not (smooth and x.kinked)))

    @st.composite
    def build(draw):
        c, n = draw(channels_st), draw(size_st)
        raw_layers = []
        size = n
        for _ in range(draw(integers(1, 2))):
            k, s, p = _window(draw, size, padding=True)
            filters = draw(filters_st)
            raw_layers.append({"type": "conv2d", "filters": filters, "kernel": k,
                               "stride": s, "padding": p, **activation_keys(draw, acts, smooth)})
            size = (size + 2 * p - k) // s + 1
            if extras and draw(booleans()):
                groups = draw(sampled_from([g for g in range(1, filters + 1) if filters % g == 0]))
                raw_layers.append(draw(st.sampled_from([
                    {"type": "batchnorm"}, {"type": "batchnorm", "variance": "unbiased"}, {"type": "layernorm"},
                    {"type": "groupnorm", "groups": groups}, {"type": "dropout", "p": 0.5},
                    {"type": "activation", **activation_keys(draw, acts, smooth)}])))
            if size > 1 and draw(booleans()):
                k, s, _ = _window(draw, size, padding=False)
                raw_layers.append({"type": draw(pool_st), "size": k, "stride": s})
                size = (size - k) // s + 1
        raw_layers.append({"type": "flatten"})
        if draw(booleans()):
            raw_layers.append({"units": draw(integers(1, 4)), **activation_keys(draw, acts, smooth)})
        loss = draw(loss_st)
        out = LOSSES[loss].output or draw(act_st)
        raw_layers.append({"units": draw(integers(max(2, ACTIVATIONS[out].min_units) if out else 1, 3)),
                           **activation_keys(draw, [out], smooth)})
        return {"name": "random_cnn", "input": [c, n, n], "layers": raw_layers, "loss": loss,
                "convention": draw(conv_st), "batch": draw(batch_st), "seed": draw(integers(0, 2**16))}

    return build()
