"""Hypothesis strategies for the corners where a finite difference is hard to judge.

Complete spec dicts (params and data filled in, JSON-able) placed where the judge of
:mod:`gradcheck.judge.bands` meets its hardest cases: norms over one or two values or samples,
large weights, saturated outputs, pre-activations a hair from a relu kink, tied max-pool windows, and numbers
near float64's smallest.
Each dict's "description" starts with its corner and says where it is. They build on the strategies
of :mod:`gradcheck.strategies`, which also exports them. Needs the ``test`` extra (hypothesis).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..catalogue import ACTIVATIONS, CONVENTIONS, LOSSES
from ..catalogue.activations import ACTIVATION_KEYS
from ..reference.backprop import forward
from ..spec.parse import load_spec
from .activations import activation_keys
from .once import booleans, floats, integers, sampled_from
from .specs import _choose, _floats, cnn_specs, specs

__all__ = ["CORNERS", "corner_networks", "narrow_norm_networks", "large_weight_networks", "saturated_networks",
           "near_kink_networks", "pool_tie_networks", "tiny_scale_networks"]


#: The corner kinds of :func:`corner_networks`; each has a strategy function of its own.
CORNERS = ("narrow_norm", "large_weights", "saturated", "near_kink", "pool_ties", "tiny_scale")
_SMOOTH = ["linear", "sigmoid", "tanh", "softplus"]
_KINKED = [a.name for a in ACTIVATIONS.values() if a.kinks and not a.last_only]  # relu, leaky_relu, selu


def _variant(draw, cnn):
    return draw(booleans()) if cnn is None else cnn


def _scaled(draw, shape, bound):
    return draw(hnp.arrays(np.float64, shape, elements=_floats(-1.0, 1.0))) * bound


def _drawn_params(draw, spec, bounds):
    """Params for ``spec``, each element in ±bounds(layer, key)."""
    return [{k: _scaled(draw, s, bounds(ly, k)) for k, s in shapes.items()}
            for ly, shapes in zip(spec.layers, spec.param_shapes())]


def _prepared(raw, params, X, Y):
    """(spec, params with their buffers, X, Y in the convention's layout) for ``raw`` with the arrays given
    (X, Y sample-major)."""
    spec = load_spec({**raw, "params": [{k: v.tolist() for k, v in p.items()} for p in params]})
    return spec, spec.parameters(), spec.conv.from_samples(X), spec.conv.from_samples(Y)


def _finished(raw, spec, params, X, Y, description):
    """The complete spec dict: params without buffers (a dropout mask stays seeded), data sample-major."""
    return {**raw, "description": description,
            "params": [{k: np.asarray(p[k]).tolist() for k in shapes}
                       for p, shapes in zip(params, spec.param_shapes())],
            "data": {"X": spec.conv.to_samples(X).tolist(), "Y": spec.conv.to_samples(Y).tolist()}}


def _z(spec, params, X, i):
    """Layer ``i``'s z, sample-major: (N, units) or (N, F, H, W)."""
    return spec.conv.to_samples(forward(spec, params, X).z[i])


#: Losses of squares: any target, and outputs on their targets make the loss 0.
_SQUARED = ("mse", "quadratic", "sse")
#: Activations whose outputs saturate at the ends of a bounded range.
_SATURATING = frozenset({"tanh", "sigmoid"})


def _aim(spec, params, X, i, unit, n, target):
    """Move layer ``i``'s z of sample ``n`` at ``unit`` (a unit, or (f, h, w) of a conv2d) to ``target`` by the
    unit's bias (the augmented one too), or without a bias by the weight on its largest input. In place; False
    where it cannot (the sample's inputs are all below 1e-3)."""
    fw, p, conv = forward(spec, params, X), params[i], spec.conv
    if isinstance(unit, tuple):  # (f, h, w) of a conv2d
        p["b"][unit[0]] += target - fw.z[i][(n, *unit)]
        return True
    gap = target - conv.to_samples(fw.z[i])[n, unit]
    if "b" in p:
        p["b"][unit] += gap
        return True
    a = conv.to_samples(fw.a_in[i])[n]  # the constant 1 comes last for the augmented bias
    k = a.size - 1 if spec.bias.in_weights else int(np.argmax(np.abs(a)))
    if abs(a[k]) < 1e-3:  # the weight would have to be huge
        return False
    (p["W"][unit] if conv.samples_are_columns else p["W"][:, unit])[k] += gap / a[k]
    return True


def _targets(draw, spec, n, ends=False):
    """Targets (N, K) that suit the loss; ``ends``: at the ends of the output's range (0 or 1 for bce), and for
    one-hot targets maybe a share of 1e-300…1e-17 beside one sample's 1, which its sum in float64 rounds away."""
    loss, k = LOSSES[spec.loss], spec.output
    if loss.one_hot:
        hot = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
        Y = np.eye(k)[hot]
        if ends and k > 1 and draw(booleans()):
            m = draw(integers(0, n - 1))
            other = (hot[m] + draw(integers(1, k - 1))) % k
            Y[m, other] = 10.0 ** draw(floats(-300.0, -17.0))
        return Y
    lo, hi = loss.target_range or spec.layers[-1].act.output_range or (-2.0, 2.0)
    if ends:
        return np.array(draw(st.lists(st.lists(st.sampled_from([lo, hi]), min_size=k, max_size=k),
                                      min_size=n, max_size=n)), dtype=float)
    return draw(hnp.arrays(np.float64, (n, k), elements=_floats(lo, hi)))


def _inputs(draw, spec, n):
    return draw(hnp.arrays(np.float64, (n, *spec.input_shape), elements=_floats(-2.0, 2.0)))


def _output_layer(draw):
    """(loss, the output layer's dict) with an activation the loss allows."""
    loss = draw(sampled_from(sorted(LOSSES)))
    out = LOSSES[loss].output or draw(sampled_from(_SMOOTH))
    return loss, {"units": draw(integers(ACTIVATIONS[out].min_units, 3)), "activation": out}


def _offset(draw, lo, hi):
    """±10^U(lo, hi)."""
    return draw(sampled_from([-1.0, 1.0])) * 10.0 ** draw(floats(lo, hi))


def narrow_norm_networks(cnn=None, conventions=None):
    """Strategy for complete spec dicts with a batchnorm or layernorm over 1–2 features or N ≤ 2 samples.

    A dense layer (or a conv2d with a 1×1 or 2×2 output) with weights and biases up to 60 feeds the
    norm; the two values a layernorm (or a batchnorm over 2 samples) normalises are brought within
    1e-6…1e-1 of each other, near √eps of the norm, so that it turns sharply inside a finite difference's
    step; sometimes a saturated tanh or sigmoid feeds the norm (values differing in their last digits).
    Then maybe dropout or an activation, and an output layer. ``cnn``: dense (False), convolutional (True)
    or either (None).
    """
    convs = _choose(conventions, CONVENTIONS, "conventions", "narrow_norm_networks")

    @st.composite
    def build(draw):
        image = _variant(draw, cnn)
        norm, over_batch = draw(sampled_from([("batchnorm", True), ("layernorm", False)]))
        n = draw(integers(1, 2 if over_batch else 4))
        act = draw(sampled_from(["linear", "tanh", "sigmoid", "relu", "softplus"]))
        if image:
            size, side = draw(integers(2, 4)), 1 if not over_batch else draw(integers(1, 2))
            features = draw(integers(1, 2))
            first = {"type": "conv2d", "filters": features, "kernel": size - side + 1, "activation": act}
            head = {"input": [draw(integers(1, 2)), size, size]}
        else:
            features = draw(integers(1, 2 if not over_batch else 3))
            first, head = {"units": features, "activation": act}, {"input": draw(integers(1, 3))}
        tail = draw(sampled_from([[], [{"type": "dropout", "p": 0.5}],
                                     [{"type": "activation", "activation": draw(sampled_from(["tanh", "relu"]))}]]))
        loss, last = _output_layer(draw)
        raw = {"name": "narrow_norm", **head, "layers": [first, {"type": norm}, *tail,
                                                          *([{"type": "flatten"}] if image else []), last],
               "loss": loss, "convention": draw(sampled_from(convs)), "batch": n,
               "seed": draw(integers(0, 2**16))}
        spec = load_spec(raw)
        saturated = act in _SATURATING and draw(booleans())
        big = {"W": draw(sampled_from([1.0, 10.0, 60.0])),
               "b": draw(floats(8.0, 20.0)) if saturated else draw(sampled_from([1.0, 12.0, 60.0]))}
        params = _drawn_params(draw, spec, lambda ly, k: big[k] if ly.index == 0 else 3.0 if ly.kind == norm else 1.0)
        spec, params, X, Y = _prepared(raw, params, _inputs(draw, spec, n), _targets(draw, spec, n))
        gap, where = _offset(draw, -6.0, -1.0), f"{features} feature(s), {n} sample(s)"
        if not over_batch and features == 2:
            m = draw(integers(0, n - 1))
            z = _z(spec, params, X, 0)[m]
            _aim(spec, params, X, 0, (1, 0, 0) if image else 1, m, z.ravel()[0] + gap)
            where = f"the 2 features of sample {m} {abs(gap):.1e} apart before the layernorm"
        elif over_batch and n == 2:
            j, W = draw(integers(0, features - 1)), params[0]["W"]
            rows = spec.conv.to_samples(X).copy()
            w = W[j] if image or spec.conv.samples_are_columns else W[:, j]
            w = w if image else w[:rows.shape[1]]  # without the augmented bias's entry
            if w.shape == rows[0].shape and np.linalg.norm(w) > abs(gap):  # moves the inputs by less than 1
                rows[1] = rows[0] + gap * w / float(np.sum(w * w))
                X = spec.conv.from_samples(rows)
                where = f"feature {j} of the 2 samples {abs(gap):.1e} apart before the batchnorm"
        return _finished(raw, spec, params, X, Y, f"narrow_norm: {norm}, {where}"
                         + (f", saturated {act} (biases up to {big['b']:.3g})" if saturated else ""))

    return build()


def large_weight_networks(cnn=None, **spec_options):
    """Strategy for complete spec dicts of :func:`specs` (or :func:`cnn_specs`; same options) with each tensor's
    elements in ±1, ±10, ±30 or ±60 and biases in ±20 at most, so that tanh, sigmoid and softmax saturate and the
    loss bends within a finite difference's step."""
    @st.composite
    def build(draw):
        image = _variant(draw, cnn)
        raw = draw(cnn_specs(**spec_options) if image else specs(**spec_options))
        spec = load_spec(raw)
        scale = {(ly.index, k): draw(sampled_from([1.0, 10.0, 30.0, 60.0] if k != "b" else [1.0, 5.0, 20.0]))
                 for ly in spec.layers for k in ly.param_shapes(spec.conv, spec.bias)}
        params = _drawn_params(draw, spec, lambda ly, k: scale[ly.index, k])
        spec, params, X, Y = _prepared(raw, params, _inputs(draw, spec, spec.n_samples),
                                       _targets(draw, spec, spec.n_samples))
        largest = max(scale.values(), default=1.0)
        return _finished(raw, spec, params, X, Y, f"large_weights: elements up to {largest:g}")

    return build()


def saturated_networks(cnn=None, conventions=None):
    """Strategy for complete spec dicts whose output saturates: sigmoid with bce, softmax with cross_entropy,
    or tanh/sigmoid with a squared loss, the output layer's z of one sample placed at ±12…60 (and its weights
    maybe 10-60 times larger), the targets at the ends of the output's range, on either side (one-hot ones maybe
    with a share of 1e-300…1e-17 on another class, rounded away in their sum)."""
    convs = _choose(conventions, CONVENTIONS, "conventions", "saturated_networks")

    @st.composite
    def build(draw):
        image = _variant(draw, cnn)
        loss = draw(sampled_from(["bce", "cross_entropy", *_SQUARED]))
        out = LOSSES[loss].output or draw(sampled_from(["sigmoid", "tanh"]))
        if image:
            raw = draw(cnn_specs(conventions=convs, smooth=True))
            raw["layers"][-1] = {"units": draw(integers(2, 3)), "activation": out}
            raw["loss"] = loss
        else:
            raw = draw(specs(max_layers=2, losses=[loss], activations=[*_SMOOTH, "softmax"], conventions=convs,
                             smooth=True))
            raw["layers"][-1]["activation"] = out
        raw["name"] = "saturated"
        spec = load_spec(raw)
        factor = draw(sampled_from([1.0, 10.0, 60.0]))
        params = _drawn_params(draw, spec, lambda ly, k: factor if ly.index == len(spec.layers) - 1 else 1.0)
        n = spec.n_samples
        spec, params, X, Y = _prepared(raw, params, _inputs(draw, spec, n), _targets(draw, spec, n, ends=True))
        m, unit = draw(integers(0, n - 1)), draw(integers(0, spec.output - 1))
        z = draw(sampled_from([-1.0, 1.0])) * draw(floats(12.0, 60.0))
        placed = _aim(spec, params, X, len(spec.layers) - 1, unit, m, z)
        return _finished(raw, spec, params, X, Y, f"saturated: {out} output with {loss}, last weights up to "
                         f"{factor:g}" + (f", z[{unit}] of sample {m} at {z:.3g}" if placed else ""))

    return build()


def near_kink_networks(cnn=None, conventions=None):
    """Strategy for complete spec dicts with a relu, leaky_relu or selu pre-activation within 1e-9…1e-5 of the kink:
    one sample's z (of a dense unit, or a conv2d position) is placed there by solving for the unit's bias
    (without one, for a weight); a finite difference's step crosses the kink while the derivative exists."""
    convs = _choose(conventions, CONVENTIONS, "conventions", "near_kink_networks")

    @st.composite
    def build(draw):
        image = _variant(draw, cnn)
        keys = activation_keys(draw, _KINKED)  # maybe with a slope
        kink = keys["activation"]
        raw = draw(cnn_specs(conventions=convs) if image else specs(max_layers=3, conventions=convs))
        layers = [dict(ly) for ly in raw["layers"]]
        if image:
            choices = [i for i, ly in enumerate(layers) if "filters" in ly]  # the convolutions
        else:
            if len(layers) == 1 and LOSSES[raw["loss"]].output:
                layers.insert(0, {"units": draw(integers(1, 4)), **keys})
            choices = list(range(len(layers) - (1 if LOSSES[raw["loss"]].output else 0)))
        i = draw(sampled_from(choices))
        layers[i] = {**{k: v for k, v in layers[i].items() if k not in ACTIVATION_KEYS}, **keys}
        raw = {**raw, "name": "near_kink", "layers": layers}
        spec = load_spec(raw)
        params = _drawn_params(draw, spec, lambda ly, k: 1.0)
        n = spec.n_samples
        spec, params, X, Y = _prepared(raw, params, _inputs(draw, spec, n), _targets(draw, spec, n))
        m, offset = draw(integers(0, n - 1)), _offset(draw, -9.0, -5.0)
        shape = spec.layers[i].out_shape
        unit = tuple(draw(integers(0, s - 1)) for s in shape) if image else draw(integers(0, shape[0] - 1))
        placed = _aim(spec, params, X, i, unit, m, offset)
        at = list(unit) if image else [unit]
        where = f"layers[{i}] z{at} of sample {m} at {offset:.2e}" if placed else "no z placed (inputs all near 0)"
        return _finished(raw, spec, params, X, Y, f"near_kink: {kink}, {where}")

    return build()


def pool_tie_networks(conventions=None):
    """Strategy for complete CNN spec dicts whose max-pool windows hold exact ties: a 1×1 conv2d (relu, leaky_relu
    or linear) on inputs and weights from a few round values, and one window of one sample all alike, so that its
    values are equal whatever the conv's params; a relu with a negative bias gives all-zero windows."""
    convs = _choose(conventions, CONVENTIONS, "conventions", "pool_tie_networks")
    rounds = st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0])

    @st.composite
    def build(draw):
        c, size = draw(integers(1, 2)), draw(integers(2, 6))
        k, s = draw(sampled_from([(k, s) for k in (2, 3) for s in (1, 2) if k <= size and (size - k) % s == 0]))
        loss, last = _output_layer(draw)
        raw = {"name": "pool_ties", "input": [c, size, size], "loss": loss, "convention": draw(sampled_from(convs)),
               "layers": [{"type": "conv2d", "filters": draw(integers(1, 2)), "kernel": 1,
                           "activation": draw(sampled_from(["relu", "leaky_relu", "linear"]))},
                          {"type": "maxpool2d", "size": k, "stride": s}, {"type": "flatten"}, last],
               "batch": draw(integers(1, 3)), "seed": draw(integers(0, 2**16))}
        spec = load_spec(raw)
        n = spec.n_samples
        params = [{key: np.array(draw(st.lists(rounds, min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))))
                   .reshape(shape) for key, shape in spec.param_shapes()[0].items()},
                  {}, {}, {key: _scaled(draw, shape, 1.0) for key, shape in spec.param_shapes()[3].items()}]
        X = np.array(draw(st.lists(rounds, min_size=n * c * size * size, max_size=n * c * size * size)))
        X = X.reshape(n, c, size, size)
        m, (r, q) = draw(integers(0, n - 1)), draw(sampled_from(
            [(r, q) for r in range(0, size - k + 1, s) for q in range(0, size - k + 1, s)]))
        X[m, :, r:r + k, q:q + k] = X[m, :, r:r + 1, q:q + 1]  # one window all alike: its maximum is tied
        spec, params, X, Y = _prepared(raw, params, X, _targets(draw, spec, n))
        pooled = spec.conv.to_samples(forward(spec, params, X).a[0])
        win = np.lib.stride_tricks.sliding_window_view(pooled, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        win = win.reshape(*win.shape[:4], -1)
        ties = int(np.sum(np.sum(win == win.max(axis=-1, keepdims=True), axis=-1) > 1))
        return _finished(raw, spec, params, X, Y, f"pool_ties: {k}x{k} windows, stride {s}, {ties} window(s) "
                                                  "with a tied maximum")

    return build()


def tiny_scale_networks(cnn=None, conventions=None):
    """Strategy for complete spec dicts whose numbers come near float64's smallest: one tensor of params (or the
    inputs) scaled by 1e-20…1e-150, and with a loss of squares maybe the targets a relative 1e-1…1e-15 from the
    outputs. The gradients, the loss and its rounding then lie hundreds of decades below the weights they come
    through, and their squares (of a rounding's spread, of the loss's scatter) near or below the smallest normal
    number, 2.2e-308. ``cnn``: dense (False), convolutional (True) or either (None)."""
    convs = _choose(conventions, CONVENTIONS, "conventions", "tiny_scale_networks")

    @st.composite
    def build(draw):
        image = _variant(draw, cnn)
        raw = draw(cnn_specs(conventions=convs) if image else specs(max_layers=3, conventions=convs))
        raw = {**raw, "name": "tiny_scale"}
        spec = load_spec(raw)
        params = _drawn_params(draw, spec, lambda ly, k: 1.0)
        n = spec.n_samples
        X = _inputs(draw, spec, n)
        names = [name for name, _, _, _ in spec.param_names()]
        which = draw(sampled_from([*range(len(names)), None]))
        factor = 10.0 ** -draw(floats(20.0, 150.0))
        if which is None:
            X = X * factor
        else:
            _, i, key, _ = spec.param_names()[which]
            params[i][key] = params[i][key] * factor
        spec, params, X, Y = _prepared(raw, params, X, _targets(draw, spec, n))
        where = f"{'the inputs' if which is None else names[which]} ×{factor:.1e}"
        if spec.loss in _SQUARED and draw(booleans()):
            a = spec.conv.to_samples(forward(spec, params, X).output)
            off = 10.0 ** -draw(floats(1.0, 15.0))
            Y = spec.conv.from_samples(a * (1.0 - off))
            where += f", the targets {off:.1e} of the outputs from them"
        return _finished(raw, spec, params, X, Y, f"tiny_scale: {where}")

    return build()


def corner_networks(corners=None, cnn=None, conventions=None):
    """Strategy for complete spec dicts at the corners where finite differences are hard to judge: one of
    :func:`narrow_norm_networks`, :func:`large_weight_networks`, :func:`saturated_networks`,
    :func:`near_kink_networks`, :func:`pool_tie_networks` (CNN only) and :func:`tiny_scale_networks`.
    ``corners`` picks kinds from :data:`CORNERS` (default all); ``cnn``: dense (False), convolutional (True) or
    both (None). The "description" of each dict starts with its corner and says where it is.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(corner_networks(["near_kink"], cnn=False))
    ... def test(d):
    ...     assert d["description"].startswith("near_kink") and "params" in d and "data" in d
    >>> test()
    """
    kinds = _choose(corners, CORNERS, "corners", "corner_networks")
    if cnn is False and kinds == ["pool_ties"]:
        raise ValueError("corner_networks: pool_ties needs cnn=True or None (max pooling is a CNN layer)")
    makers = {"narrow_norm": lambda: narrow_norm_networks(cnn, conventions),
              "large_weights": lambda: large_weight_networks(cnn, conventions=conventions),
              "saturated": lambda: saturated_networks(cnn, conventions),
              "near_kink": lambda: near_kink_networks(cnn, conventions),
              "pool_ties": lambda: pool_tie_networks(conventions),
              "tiny_scale": lambda: tiny_scale_networks(cnn, conventions)}
    return st.one_of([makers[k]() for k in kinds if not (k == "pool_ties" and cnn is False)])
