"""The arrays of net.json: ``params`` and ``data``, parsed and checked against a network, and its memory need.

Every problem raises a one-line :class:`~gradcheck.errors.SpecError` naming the JSON
path, the expected shape (in words for the convention) and what was given.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..catalogue import CONVENTIONS, LOSSES
from ..catalogue.bias import SEPARATE
from ..errors import SpecError, suggest
from .keys import array, check_keys, kind

__all__ = ["check_memory", "given_targets", "is_labels", "one_hot", "parse_data", "parse_labels", "parse_mask",
           "parse_params"]

# Leave room for the arrays backprop and finite differences build next to the params.
_MEMORY_FRACTION = 0.25
#: The most memory a check may plan to use, whatever the machine has.
MEMORY_BUDGET = 8 * 2**30
#: Bytes a check keeps per param element: the params, three opinions' gradients, the numeric
#: gradient, its error bound, step and kink flag, the rounding estimate, and per judged opinion
#: the errors and verdicts.
BYTES_PER_PARAM = 160


def _gib(n_bytes):
    gib = n_bytes / 2**30
    return f"{gib:.1f}" if gib < 1e4 else f"{gib:.2g}"


def _sizes(spec):
    return "-".join(["x".join(map(str, spec.input_shape))] + ["x".join(map(str, ly.out_shape)) for ly in spec.layers])


def check_memory(spec, source):
    """Refuse sizes whose arrays (params, their gradients, a batch of activations) cannot fit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 * 2**30
    n = spec.batch
    weights = sum(BYTES_PER_PARAM * math.prod(s) for ly in spec.layers
                  for s in ly.param_shapes(spec.conv, SEPARATE).values())
    # X, Y and z, a, delta, da per layer for the batch (8 arrays of 8 bytes), and what a layer works on besides its
    # input and output (an attention's scores, heads × steps² per sample; a convolution's input windows), at least
    # once forward and once backward (2 arrays of 8 bytes)
    inside = {ly.index: max(0, ly.work - ly.units - ly.fan_in) for ly in spec.layers}
    batch = 64 * n * (math.prod(spec.input_shape) + sum(ly.units for ly in spec.layers)) + 16 * n * sum(inside.values())
    need = weights + batch
    budget = min(_MEMORY_FRACTION * total, MEMORY_BUDGET)
    if need > budget:
        widths = {"input": math.prod(spec.input_shape),
                  **{f"layers[{ly.index}]" + (".units" if "units" in ly.options else ""): ly.units
                     for ly in spec.layers}}
        key = "batch" if n > max(widths.values()) else max(widths, key=widths.get)
        cure = f"make {key} smaller"
        heavy = max(spec.layers, key=lambda ly: inside[ly.index])
        if 16 * inside[heavy.index] > 64 * max(widths.values()):  # a layer's own arrays outgrow every width
            key, cure = (f"layers[{heavy.index}]", f"layer {heavy.index} ({heavy.kind}) alone works on {heavy.work:,} "
                         "numbers per sample: give it a smaller input")
        raise SpecError(key, f"a {_sizes(spec)} network with a batch of {n} needs about {_gib(need)} GiB, "
                             f"more than the {budget / 2**30:.0f} GiB a check may use; {cure}", source)


def _shape_hint(given, expected, name, convention):
    g, e = tuple(given), tuple(expected)
    if name == "W" and len(e) == 2 and len(g) == 2 and g == e[::-1] and e[0] != e[1]:
        other = CONVENTIONS[convention].other
        return f": it is the transpose, did you mean \"convention\": \"{other}\"?"
    if name == "W" and len(e) == 2 and len(g) == 1:
        return (": a flat list where a matrix is expected; write one inner list per row "
                f"({e[0]} list{'s' if e[0] != 1 else ''} of {e[1]} numbers)")
    if len(e) == 1 and len(g) == 2 and 1 in g and math.prod(g) == e[0]:
        return f": {name} is a flat list of {e[0]} numbers (not a column or row matrix)" if name != "b" else \
            f": b is a flat list of {e[0]} numbers, one per unit (not a column or row matrix)"
    if len(e) > 1 and math.prod(g) == math.prod(e):
        return f": the right number of entries in the wrong shape; nest the lists as {e}"
    return ""


def _unexpected(key, spec, i, known):
    """The message for a key of ``params[i]`` that is none of the layer's ``known`` params and buffers."""
    why = ""
    if key == "b":
        why = f"bias \"{spec.bias}\" has no separate b" + (
            f" (the bias is the last {spec.conv.bias_line} of W)" if spec.bias.in_weights else "")
    if not known:
        why = why or f"layer {i} ({spec.layers[i].kind}) has no params: give {{}}"
    return f"unexpected key '{key}'" + (f": {why}" if why else suggest(key, known))


def _layer_params(entry, shapes, spec, i, problems, source):
    """Layer i's params from its ``entry``; a wrong shape is added to ``problems`` (all are said at once)."""
    path, ly, p = f"params[{i}]", spec.layers[i], {}
    for name, expected in shapes.items():
        if name not in entry:
            raise SpecError(path, f"missing '{name}' (expected shape {expected})", source)
        arr = array(entry[name], f"{path}.{name}", source)
        if arr.shape != tuple(expected):
            what = ly.param_layout(name, spec.conv, spec.bias)
            problems.append(f"{path}.{name}: layer {i} {name} must have shape {tuple(expected)}"
                            + (f" = {what}" if what else "") + f", got {arr.shape}"
                            + _shape_hint(arr.shape, expected, name, spec.convention))
        p[name] = arr
    return p


def _layer_buffers(entry, buffers, spec, i, source):
    """The fixed buffers (a dropout mask) ``entry`` gives for layer i, checked."""
    path, out = f"params[{i}]", {}
    for name, expected in buffers.items():
        if name in entry:
            arr = array(entry[name], f"{path}.{name}", source)
            if arr.shape != tuple(expected):
                raise SpecError(f"{path}.{name}", f"expected shape {tuple(expected)}, the layer's input batch "
                                                  f"of N={spec.n_samples} in the {spec.convention} convention, got "
                                                  f"{arr.shape}", source)
            spec.layers[i].check_buffer(name, arr, f"{path}.{name}", source)
            out[name] = arr
    return out


def parse_params(raw, spec, source):
    """``params``: one object per layer with its params (``{}`` for layers without) and optional buffers."""
    if not isinstance(raw, list):
        raise SpecError("params", f"expected a list with one {{\"W\": ..., \"b\": ...}} per layer, "
                                  f"got {kind(raw)}", source)
    if len(raw) != len(spec.layers):
        raise SpecError("params", f"expected {len(spec.layers)} entries (one per layer), got {len(raw)}", source)
    params, problems = [], []
    n = spec.n_samples
    for i, (entry, shapes, ly) in enumerate(zip(raw, spec.param_shapes(), spec.layers)):
        path = f"params[{i}]"
        buffers = ly.buffer_shapes(spec.conv, n)
        if entry is None and not shapes:
            entry = {}
        if not isinstance(entry, dict):
            want = " and ".join(shapes) or "nothing ({})"
            raise SpecError(path, f"expected an object with {want}, got {kind(entry)}", source)
        for key in entry:
            if key not in shapes and key not in buffers:
                raise SpecError(f"{path}.{key}", _unexpected(key, spec, i, [*shapes, *buffers]), source)
        p = _layer_params(entry, shapes, spec, i, problems, source)
        params.append({**p, **_layer_buffers(entry, buffers, spec, i, source)})
    if problems:
        first = problems[0].split(":", 1)[0]
        raise SpecError(first, "; ".join(p[len(first) + 2:] if i == 0 else p for i, p in enumerate(problems)),
                        source)
    return params


def _steps(arr, shape, key, source):
    """A batch of sequences (N, T, D), or of token ids (N, T) (``shape`` has a ``vocab``) checked whole and in
    range."""
    if arr.ndim != len(shape) + 1 or arr.shape[1:] != tuple(shape):
        what = "T token ids" if hasattr(shape, "vocab") else "T×D = " + "×".join(map(str, shape))
        got = f"entries of shape {arr.shape[1:]}" if arr.ndim > 1 else f"shape {arr.shape}"
        per = " (nested lists [step][feature])" if len(shape) == 2 else ""
        raise SpecError(f"data.{key}", f"expected one {what} sequence per sample{per}, T={shape[0]}, got {got}",
                        source)
    if not hasattr(shape, "vocab"):
        return arr
    bad = (arr != np.round(arr)) | (arr < 0) | (arr >= shape.vocab)
    if bad.any():
        n, t = (int(i) for i in np.argwhere(bad)[0])
        value = arr[n, t]
        why = (f"expected a token id (a whole number), got {value:g}" if value != round(value)
               else f"token id {value:g} is outside the vocab [0, {shape.vocab})")
        raise SpecError(f"data.{key}[{n}][{t}]", f"sample {n}, step {t}: {why}", source)
    return arr.astype(np.int64)


def _target_shape(spec):
    """One sample's targets: one value per output, the class axis last ((T, K) for a per-step output)."""
    return tuple(spec.output_shape)


def is_labels(Y, spec):
    """True when targets are integer class labels (the outputs' shape without its class axis), not rows of K."""
    return np.asarray(Y).dtype.kind in "iu" and np.ndim(Y) == len(_target_shape(spec))


def _labelled(raw, spec):
    """True when ``raw`` (net.json's data.Y or an array) holds class labels for a loss that takes them."""
    if not LOSSES[spec.loss].labels:
        return False
    depth = np.ndim(raw) if isinstance(raw, np.ndarray) else _depth(raw)
    return depth == len(_target_shape(spec))  # one axis (the samples) in front of the per-sample shape, no class axis


def _depth(v):
    depth = 0
    while isinstance(v, list) and v:
        v, depth = v[0], depth + 1
    return depth


def parse_labels(raw, spec, source, path="data.Y"):
    """Integer class labels, one per sample (per step for per-step outputs): each a whole number 0 … K−1."""
    k = spec.output
    if isinstance(raw, np.ndarray):
        values = raw.ravel().tolist()  # Python ints for an integer array, floats (refused) for any other
    else:
        array(raw, path, source)  # numbers in a rectangular list: its messages name the bad leaf
        values = np.asarray(raw, dtype=object).ravel().tolist()
    steps, shape = tuple(spec.output_shape[:-1]), np.shape(raw)
    if shape[1:] != steps:
        want = "a label per sample (a flat list)" if not steps else \
            f"a label per step of each sample ({_shape_text(steps)} per sample, {_shape_text(('N', *steps))})"
        raise SpecError(path, f"expected {want}, got labels shaped {_shape_text(shape)}", source)
    flat = np.asarray(values, dtype=float)
    bad = np.flatnonzero([not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < k for v in values])
    if bad.size:
        shape = np.shape(raw)
        idx = np.unravel_index(int(bad[0]), shape)
        raise SpecError(path + "".join(f"[{i}]" for i in idx),
                        f"label {values[int(bad[0])]!r} is not a class of the {k} outputs "
                        f"(a class is a whole number 0 … {k - 1})", source)
    return np.asarray(flat, dtype=np.int64).reshape(np.shape(raw))


def given_targets(spec, Y):
    """Targets given in Python: integer class labels (checked like net.json's) where the loss takes them, else a
    float64 array."""
    arr = np.asarray(Y)
    if _labelled(arr, spec):  # class labels: whole numbers 0 … K−1 (a float array is refused like a float label)
        return parse_labels(arr, spec, spec.source, path="Y")
    return np.asarray(Y, float)


def given_batch(spec, X, Y):
    """Check data given in Python, (X, Y) in the convention's layout (Y as :func:`given_targets` made it): each
    sample's shape, and as many targets as inputs (class labels had their shape checked by :func:`parse_labels`).
    Raises :class:`~gradcheck.errors.SpecError` naming ``X`` or ``Y``, the shape expected and the shape given."""
    conv, source = spec.conv, spec.source
    xs = conv.to_samples(X)
    layout = " (features × N in the column convention)" if conv.samples_are_columns and len(spec.input_shape) == 1 \
        else ""
    if xs.ndim != len(spec.input_shape) + 1 or xs.shape[1:] != tuple(spec.input_shape):
        raise SpecError("X", f"expected a batch shaped {_shape_text(conv.batch_of(spec.input_shape, 'N'))}"
                             f"{layout}, got {_shape_text(np.shape(X))}", source)
    labels = is_labels(Y, spec)
    ys = Y if labels else conv.to_samples(Y)
    want = _target_shape(spec)
    if not labels and (ys.ndim != len(want) + 1 or ys.shape[1:] != want):
        rows = _shape_text(conv.batch_of(want, "N"))
        steps = _shape_text(("N", *spec.output_shape[:-1]))
        also = f", or {steps} integer class labels" if LOSSES[spec.loss].labels else ""
        raise SpecError("Y", f"expected targets shaped {rows}{layout}{also}, got {_shape_text(np.shape(Y))}", source)
    if len(ys) != len(xs):
        raise SpecError("Y", f"expected {len(xs)} samples (as many as X), got {len(ys)}", source)


def _shape_text(shape):
    return "×".join(map(str, shape)) or "one number"


def one_hot(spec, labels):
    """Class labels -> one-hot float targets in the convention's layout (what the losses compute with)."""
    rows = np.eye(spec.output)[np.asarray(labels, dtype=np.int64)]
    return spec.conv.from_samples(rows)


def _check_one_hot(Y, spec, source):
    """A loss over classes (the hinge) needs one-hot rows where it is given rows of K targets."""
    loss = LOSSES[spec.loss]
    if not loss.takes_margin:
        return
    ok = (np.isin(Y, (0.0, 1.0)) & (Y.sum(axis=-1, keepdims=True) == 1)).all(axis=-1)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise SpecError(f"data.Y[{bad}]", f"loss {spec.loss} needs a class per sample: a label 0 … "
                                          f"{spec.output - 1} or a one-hot row, got {Y[bad].tolist()}", source)


def parse_data(raw, spec, batch_given, source):
    """``data``: ``{"X": [...], "Y": [...]}``, one entry per sample; X entries are C×H×W lists for images; Y
    entries are rows of K targets, or class labels where the loss takes them (kept as given)."""
    if not isinstance(raw, dict):
        raise SpecError("data", f"expected an object {{\"X\": [...], \"Y\": [...]}}, got {kind(raw)}", source)
    check_keys(raw, {"X": ..., "Y": ..., "mask": None}, "data", source)
    out = []
    for key, shape in (("X", spec.input_shape), ("Y", _target_shape(spec))):
        if key == "Y" and _labelled(raw[key], spec):
            out.append(parse_labels(raw[key], spec, source))
            continue
        arr = array(raw[key], f"data.{key}", source)
        if arr.ndim == 1 and shape == (1,):
            arr = arr[:, None]
        if len(shape) == 2 or hasattr(shape, "vocab"):
            arr = _steps(arr, shape, key, source)
        elif len(shape) == 3:
            if arr.ndim != 4 or arr.shape[1:] != shape:
                c, h, w = shape
                got = f"entries of shape {arr.shape[1:]}" if arr.ndim > 1 else f"shape {arr.shape}"
                raise SpecError(f"data.{key}", f"expected one C×H×W = {c}×{h}×{w} image per sample (nested lists "
                                               f"[channel][row][column]), got {got}", source)
        elif arr.ndim != 2 or arr.shape[1] != shape[0]:
            what = "inputs" if key == "X" else "outputs"
            got = arr.shape if arr.ndim != 2 else f"rows of {arr.shape[1]}"
            hint = " (one entry per sample, whatever the convention)" if arr.ndim == 2 else ""
            raise SpecError(f"data.{key}", f"expected one row of {shape[0]} {what} per sample{hint}, got {got}",
                            source)
        out.append(arr)
    X, Y = out
    if is_labels(Y, spec):
        return _checked_batch(X, Y, spec, batch_given, source)
    bounds = LOSSES[spec.loss].target_range
    if bounds is not None and ((Y < bounds[0]) | (Y > bounds[1])).any():
        outside = (Y < bounds[0]) | (Y > bounds[1])
        bad = tuple(int(i) for i in np.argwhere(outside)[0])
        raise SpecError(f"data.Y[{bad[0]}]", f"loss {spec.loss} needs targets in [{bounds[0]:g}, {bounds[1]:g}] "
                                             f"(probabilities), got {Y[bad]:g}", source)
    _check_one_hot(Y, spec, source)
    return _checked_batch(X, Y, spec, batch_given, source)


def _checked_batch(X, Y, spec, batch_given, source):
    if len(X) != len(Y):
        raise SpecError("data.Y", f"expected {len(X)} samples (as many as data.X), got {len(Y)}", source)
    if batch_given and spec.batch != len(X):
        raise SpecError("batch", f"batch is {spec.batch} but data has {len(X)} samples; drop batch "
                                 "(it only sizes random data)", source)
    return X, Y


def parse_mask(raw, spec, data, source):
    """``data.mask``: (N, T) of 0 and 1 for a per-step output (N, T, K): the steps marked 0 are left out of the loss
    (CS231n's temporal softmax loss); None when not given."""
    if raw.get("mask") is None:
        return None
    if len(spec.output_shape) != 2:
        raise SpecError("data.mask", f"a mask drops steps of a per-step output (N, T, K), but the network's output is "
                                     f"one vector of {spec.output} per sample; remove data.mask", source)
    mask = array(raw["mask"], "data.mask", source)
    want = (len(data[0]), spec.output_shape[0])
    if mask.shape != want:
        raise SpecError("data.mask", f"expected one row of T={want[1]} entries (0 or 1) per sample, shape {want}, got "
                                     f"{mask.shape}", source)
    bad = (mask != 0) & (mask != 1)
    if bad.any():
        n, t = (int(i) for i in np.argwhere(bad)[0])
        raise SpecError(f"data.mask[{n}][{t}]", f"expected 0 (step left out) or 1 (step counted), got {mask[n, t]:g}",
                        source)
    return mask.astype(bool)
