"""net.json → :class:`Spec`: parse and validate a network description.

Every problem raises :class:`~gradcheck.errors.SpecError` with the JSON path of the
value, what was expected and what was given. See the README for the format.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .catalogue import ACTIVATIONS, BIAS_STYLES, CONVENTIONS, LAYER_KINDS, LOSSES, Convention
from .errors import SpecError, suggest
from .validate import whole_number

__all__ = ["KEYS", "LAYER_KEYS", "LayerSpec", "Spec", "load_spec"]

#: Top-level keys of net.json with their defaults (``...`` marks a required key).
KEYS = {
    "name": None, "description": "", "input": ..., "layers": ..., "loss": "mse",
    "convention": "column", "bias": "separate", "params": None, "data": None,
    "batch": 4, "seed": 0, "impl": None,
}
LAYER_KEYS = {"type": "dense", "units": ..., "activation": "linear"}
# Leave room for the arrays backprop and finite differences build next to the params.
_MEMORY_FRACTION = 0.25


@dataclass(frozen=True)
class LayerSpec:
    """One layer: ``fan_in -> units`` with an activation, 0-based ``index``."""

    index: int
    kind: str
    fan_in: int
    units: int
    activation: str

    @property
    def layer(self):
        """The catalogue entry (e.g. :class:`~gradcheck.catalogue.layers.Dense`)."""
        return LAYER_KINDS[self.kind]

    @property
    def act(self):
        """The :class:`~gradcheck.catalogue.Activation`."""
        return ACTIVATIONS[self.activation]


@dataclass(frozen=True)
class Spec:
    """A validated network description. Build with :func:`load_spec` or :meth:`from_dict`.

    ``params`` (if given) is a list of dicts of float64 arrays in the convention's
    shapes; ``data`` (if given) is ``(X, Y)`` sample-major: X (N, input), Y (N, K).
    """

    input: int
    layers: tuple[LayerSpec, ...]
    loss: str = "mse"
    convention: str = "column"
    bias: str = "separate"
    name: str = "network"
    description: str = ""
    params: list | None = field(default=None, repr=False)
    data: tuple | None = field(default=None, repr=False)
    batch: int = 4
    seed: int = 0
    impl: str | None = None
    source: str | None = None

    # -- construction -------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw, source=None):
        """Validate a parsed net.json object; raise :class:`SpecError` on the first problem."""
        return _parse(raw, source)

    # -- derived facts ------------------------------------------------------------
    @property
    def conv(self) -> Convention:
        return CONVENTIONS[self.convention]

    @property
    def output(self) -> int:
        """K, the number of outputs."""
        return self.layers[-1].units

    @property
    def n_samples(self) -> int:
        return len(self.data[0]) if self.data is not None else self.batch

    def param_shapes(self):
        """List with one {"W": shape, "b": shape} per layer, in this convention."""
        return [ly.layer.param_shapes(ly.fan_in, ly.units, self.conv, self.bias) for ly in self.layers]

    def param_names(self):
        """[(name, layer index, kind, shape)], e.g. ("W0", 0, "W", (3, 2)), in params order."""
        return [(f"{k}{i}", i, k, s) for i, shapes in enumerate(self.param_shapes()) for k, s in shapes.items()]

    @property
    def n_params(self) -> int:
        return sum(math.prod(s) for *_, s in self.param_names())

    def parameters(self, seed=None):
        """Params as a list of dicts of float64 arrays (fresh copies): the given ones, or seeded."""
        if self.params is not None:
            return [{k: v.copy() for k, v in p.items()} for p in self.params]
        rng = np.random.default_rng([self.seed if seed is None else seed, 0])
        return [ly.layer.init(rng, ly.fan_in, ly.units, self.conv, self.bias) for ly in self.layers]

    def batch_data(self, seed=None):
        """(X, Y) in the convention's layout: column X (input, N), Y (K, N); row X (N, input), Y (N, K)."""
        if self.data is not None:
            X, Y = self.data
        else:
            X, Y = self._random_data(np.random.default_rng([self.seed if seed is None else seed, 1]))
        return self.conv.from_samples(X.copy()), self.conv.from_samples(Y.copy())

    def _random_data(self, rng):
        n, k = self.batch, self.output
        X = rng.normal(size=(n, self.input))
        loss, bounds = LOSSES[self.loss], self.layers[-1].act.output_range
        if loss.random_targets is not None:
            Y = loss.random_targets(rng, n, k)
        elif bounds is not None:  # inside the output's range, away from its ends
            lo, hi = bounds
            Y = rng.uniform(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), (n, k))
        else:
            Y = rng.normal(size=(n, k))
        return X, Y

    def with_(self, **changes):
        """A copy with some fields replaced (validated again)."""
        raw = self.to_dict()
        raw.update(changes)
        return Spec.from_dict(raw, self.source)

    def to_dict(self):
        """The JSON-able description (params/data as nested lists when present)."""
        raw = {
            "name": self.name, "input": self.input,
            "layers": [{"type": ly.kind, "units": ly.units, "activation": ly.activation} for ly in self.layers],
            "loss": self.loss, "convention": self.convention, "bias": self.bias, "seed": self.seed,
        }
        if self.data is None:
            raw["batch"] = self.batch
        if self.description:
            raw["description"] = self.description
        if self.impl:
            raw["impl"] = self.impl
        if self.params is not None:
            raw["params"] = [{k: v.tolist() for k, v in p.items()} for p in self.params]
        if self.data is not None:
            raw["data"] = {"X": self.data[0].tolist(), "Y": self.data[1].tolist()}
        return raw

    def describe(self):
        """One line, e.g. ``or_gate: 2-2-1 sigmoid/sigmoid, loss quadratic, column convention, bias separate``."""
        sizes = "-".join(str(s) for s in [self.input] + [ly.units for ly in self.layers])
        acts = "/".join(ly.activation for ly in self.layers)
        return (f"{self.name}: {sizes} {acts}, loss {self.loss}, {self.convention} convention, "
                f"bias {self.bias}, N={self.n_samples}")


def load_spec(source) -> Spec:
    """Load a :class:`Spec` from a path, a JSON string path, a dict, or return a Spec as is."""
    if isinstance(source, Spec):
        return source
    if not isinstance(source, (str, os.PathLike)):
        return Spec.from_dict(source)  # a dict, or anything else: refused with a SpecError
    path = Path(source)
    name = str(source)
    if not path.exists():
        raise SpecError("", "no such file", name)
    if path.is_dir():
        raise SpecError("", "is a directory, expected a net.json file", name)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError("", "is not UTF-8 text, expected a net.json file", name) from None
    except OSError as e:
        raise SpecError("", f"cannot be read ({e.strerror})", name) from None
    if not text.strip():
        raise SpecError("", "file is empty, expected a JSON object describing a network", name)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError("", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}", name) from None
    except RecursionError:
        raise SpecError("", "JSON nested too deeply to be a network description", name) from None
    return Spec.from_dict(raw, name)


# -- validation helpers ---------------------------------------------------------------

def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, str):
        return f"'{value}' (a string)" if len(value) < 40 else "a string"
    if isinstance(value, (int, float)):
        return f"{value!r}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_keys(obj, allowed, path, source):
    for key in obj:
        if key not in allowed:
            where = f"{path}.{key}" if path else key
            raise SpecError(where, f"unknown key '{key}'{suggest(key, list(allowed))}; "
                                   f"allowed: {', '.join(allowed)}", source)
    for key, default in allowed.items():
        if default is ... and key not in obj:
            raise SpecError(path or key, f"missing required key '{key}'", source)


def _int(value, path, source, minimum=1):
    if not isinstance(value, (int, float)):
        raise SpecError(path, f"expected a whole number >= {minimum}, got {_kind(value)}", source)
    try:
        return whole_number(value, minimum)
    except ValueError as e:
        raise SpecError(path, f"{e}, got {_kind(value)}", source) from None


def _name(value, valid, path, source):
    if not isinstance(value, str):
        raise SpecError(path, f"expected one of {', '.join(valid)}, got {_kind(value)}", source)
    if value not in valid:
        raise SpecError(path, f"unknown '{value}'{suggest(value, list(valid))}; "
                              f"expected one of {', '.join(valid)}", source)
    return value


def _array(value, path, source):
    """Nested lists of numbers -> float64 array; names the first bad leaf."""
    def walk(v, p, depth):
        if isinstance(v, list):
            if not v:
                raise SpecError(p, "expected numbers, got an empty list", source)
            shapes = {walk(item, f"{p}[{i}]", depth + 1) for i, item in enumerate(v)}
            if len(shapes) > 1:
                raise SpecError(p, "rows of different lengths: expected a rectangular array "
                                   f"(one inner list per row, all the same length), got lengths "
                                   f"{sorted(s[0] if s else 1 for s in shapes)}", source)
            return (len(v), *shapes.pop())
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise SpecError(p, f"expected a number, got {_kind(v)}", source)
        if not math.isfinite(v):
            raise SpecError(p, f"expected a finite number, got {v!r}", source)
        return ()
    walk(value, path, 0)
    return np.asarray(value, dtype=np.float64)


def _shape_hint(given, expected, kind, convention):
    g, e = tuple(given), tuple(expected)
    if kind == "W" and len(g) == 2 and g == e[::-1] and e[0] != e[1]:
        other = "row" if convention == "column" else "column"
        return f": it is the transpose, did you mean \"convention\": \"{other}\"?"
    if kind == "W" and len(g) == 1:
        return (": a flat list where a matrix is expected; write one inner list per row "
                f"({e[0]} list{'s' if e[0] != 1 else ''} of {e[1]} numbers)")
    if kind == "b" and len(g) == 2 and 1 in g and math.prod(g) == e[0]:
        return f": b is a flat list of {e[0]} numbers, one per unit (not a column or row matrix)"
    return ""


def _parse(raw, source):
    if not isinstance(raw, dict):
        raise SpecError("", f"expected a JSON object (a network description) at the top level, "
                            f"got {_kind(raw)}", source)
    _check_keys(raw, KEYS, "", source)
    opts = {k: raw.get(k, d) for k, d in KEYS.items() if d is not ...}

    name = opts["name"] if opts["name"] is not None else (Path(source).stem if source else "network")
    if not isinstance(name, str):
        raise SpecError("name", f"expected a string, got {_kind(name)}", source)
    if not isinstance(opts["description"], str):
        raise SpecError("description", f"expected a string, got {_kind(opts['description'])}", source)
    n_in = _int(raw["input"], "input", source)
    loss = _name(opts["loss"], list(LOSSES), "loss", source)
    convention = _name(opts["convention"], list(CONVENTIONS), "convention", source)
    bias = _name(opts["bias"], list(BIAS_STYLES), "bias", source)
    seed = _int(opts["seed"], "seed", source, minimum=0)
    batch = _int(opts["batch"], "batch", source)
    impl = opts["impl"]
    if impl is not None and not (isinstance(impl, str) and ":" in impl):
        raise SpecError("impl", f"expected 'module:function' or 'path/file.py:function', got {_kind(impl)}",
                        source)

    layers_raw = raw["layers"]
    if not isinstance(layers_raw, list) or not layers_raw:
        raise SpecError("layers", f"expected a non-empty list of layers, got {_kind(layers_raw)}", source)
    layers, fan_in = [], n_in
    for i, lr in enumerate(layers_raw):
        path = f"layers[{i}]"
        if not isinstance(lr, dict):
            raise SpecError(path, f"expected an object like {{\"units\": 3, \"activation\": \"sigmoid\"}}, "
                                  f"got {_kind(lr)}", source)
        _check_keys(lr, LAYER_KEYS, path, source)
        kind = _name(lr.get("type", "dense"), list(LAYER_KINDS), f"{path}.type", source)
        units = _int(lr["units"], f"{path}.units", source)
        act = _name(lr.get("activation", "linear"), list(ACTIVATIONS), f"{path}.activation", source)
        if ACTIVATIONS[act].last_only and i != len(layers_raw) - 1:
            partner = " or ".join(ACTIVATIONS[act].losses or ())
            raise SpecError(f"{path}.activation", f"{act} is only allowed on the last layer"
                                                  + (f" (with loss {partner})" if partner else ""), source)
        layers.append(LayerSpec(i, kind, fan_in, units, act))
        fan_in = units
    last = f"layers[{len(layers) - 1}].activation"
    needed = LOSSES[loss].output
    if needed and layers[-1].activation != needed:
        raise SpecError(last, f"loss {loss} needs a {needed} output layer, got {layers[-1].activation}", source)
    out_act = layers[-1].act
    if layers[-1].units < out_act.min_units:
        raise SpecError(f"layers[{len(layers) - 1}].units", out_act.min_units_why
                        or f"{out_act.name} needs at least {out_act.min_units} units", source)
    if out_act.losses is not None and loss not in out_act.losses:
        raise SpecError("loss", f"a {out_act.name} output goes with loss {' or '.join(out_act.losses)}, got {loss}",
                        source)

    spec = Spec(input=n_in, layers=tuple(layers), loss=loss, convention=convention, bias=bias,
                name=name, description=opts["description"], batch=batch, seed=seed, impl=impl,
                source=source)
    _check_memory(spec, source)
    params = _parse_params(opts["params"], spec, source) if opts["params"] is not None else None
    data = _parse_data(opts["data"], spec, "batch" in raw, source) if opts["data"] is not None else None
    return Spec(**{**spec.__dict__, "params": params, "data": data})


def _check_memory(spec, source):
    """Refuse sizes whose arrays (params, their gradients, a batch of activations) cannot fit."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 * 2**30
    n = spec.batch
    # params, backprop grads, numeric grads, steps: 4 arrays of W's size per layer
    weights = sum(32 * ly.units * (ly.fan_in + 1) for ly in spec.layers)
    # X, Y and z, a, delta, da per layer for the batch (8 arrays of 8 bytes)
    batch = 64 * n * (spec.input + sum(ly.units for ly in spec.layers))
    need = weights + batch
    if need > _MEMORY_FRACTION * total:
        widths = {"input": spec.input, **{f"layers[{ly.index}].units": ly.units for ly in spec.layers}}
        key = "batch" if n > max(widths.values()) else max(widths, key=widths.get)
        sizes = "-".join(str(s) for s in [spec.input] + [ly.units for ly in spec.layers])
        raise SpecError(key, f"a {sizes} network with a batch of {n} needs about {need / 2**30:.1f} GiB, "
                             f"more than this machine can spare ({total / 2**30:.0f} GiB in all); "
                             "gradcheck is for small networks", source)


def _parse_params(raw, spec, source):
    if not isinstance(raw, list):
        raise SpecError("params", f"expected a list with one {{\"W\": ..., \"b\": ...}} per layer, "
                                  f"got {_kind(raw)}", source)
    if len(raw) != len(spec.layers):
        raise SpecError("params", f"expected {len(spec.layers)} entries (one per layer), got {len(raw)}", source)
    params, problems = [], []
    for i, (entry, shapes) in enumerate(zip(raw, spec.param_shapes())):
        path = f"params[{i}]"
        if not isinstance(entry, dict):
            raise SpecError(path, f"expected an object with {' and '.join(shapes)}, got {_kind(entry)}", source)
        for key in entry:
            if key not in shapes:
                why = {"b": f"bias \"{spec.bias}\" has no separate b"
                            + (" (the bias is the last " + ("column" if spec.convention == "column" else "row")
                               + " of W)" if spec.bias == "augmented" else "")}.get(key, "")
                raise SpecError(f"{path}.{key}", f"unexpected key '{key}'"
                                + (f": {why}" if why else suggest(key, list(shapes))), source)
        p = {}
        for kind, expected in shapes.items():
            if kind not in entry:
                raise SpecError(path, f"missing '{kind}' (expected shape {expected})", source)
            arr = _array(entry[kind], f"{path}.{kind}", source)
            if arr.shape != tuple(expected):
                what = "(units, fan_in)" if spec.convention == "column" else "(fan_in, units)"
                if spec.bias == "augmented":
                    what = what.replace("fan_in", "fan_in + 1")
                what = what if kind == "W" else "(units,)"
                problems.append(f"{path}.{kind}: layer {i} {kind} must have shape {tuple(expected)} "
                                f"= {what} in the {spec.convention} convention, got {arr.shape}"
                                + _shape_hint(arr.shape, expected, kind, spec.convention))
            p[kind] = arr
        params.append(p)
    if problems:
        first = problems[0].split(":", 1)[0]
        raise SpecError(first, "; ".join(p[len(first) + 2:] if i == 0 else p for i, p in enumerate(problems)),
                        source)
    return params


def _parse_data(raw, spec, batch_given, source):
    if not isinstance(raw, dict):
        raise SpecError("data", f"expected an object {{\"X\": [...], \"Y\": [...]}}, got {_kind(raw)}", source)
    _check_keys(raw, {"X": ..., "Y": ...}, "data", source)
    out = []
    for key, width in (("X", spec.input), ("Y", spec.output)):
        arr = _array(raw[key], f"data.{key}", source)
        if arr.ndim == 1 and width == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or arr.shape[1] != width:
            what = "inputs" if key == "X" else "outputs"
            got = arr.shape if arr.ndim != 2 else f"rows of {arr.shape[1]}"
            hint = " (one entry per sample, whatever the convention)" if arr.ndim == 2 else ""
            raise SpecError(f"data.{key}", f"expected one row of {width} {what} per sample{hint}, got {got}",
                            source)
        out.append(arr)
    X, Y = out
    bounds = LOSSES[spec.loss].target_range
    if bounds is not None and ((Y < bounds[0]) | (Y > bounds[1])).any():
        outside = (Y < bounds[0]) | (Y > bounds[1])
        bad = tuple(int(i) for i in np.argwhere(outside)[0])
        raise SpecError(f"data.Y[{bad[0]}]", f"loss {spec.loss} needs targets in [{bounds[0]:g}, {bounds[1]:g}] "
                                             f"(probabilities), got {Y[bad]:g}", source)
    if len(X) != len(Y):
        raise SpecError("data.Y", f"expected {len(X)} samples (as many as data.X), got {len(Y)}", source)
    if batch_given and spec.batch != len(X):
        raise SpecError("batch", f"batch is {spec.batch} but data has {len(X)} samples; drop batch "
                                 "(it only sizes random data)", source)
    return X, Y
