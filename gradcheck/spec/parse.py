"""net.json → :class:`Spec`: parse and validate a network description.

Every problem raises :class:`~gradcheck.errors.SpecError` with the JSON path of the
value, what was expected and what was given. See the README for the format.
"""

from __future__ import annotations

import math
import os
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..catalogue import BIAS_STYLES, CONVENTIONS, LAYER_KINDS, LOSSES, BiasStyle, Convention
from ..catalogue.bias import SEPARATE, bias_style
from ..catalogue.layers import Dense, Layer
from ..catalogue.layers.base import Tokens
from ..errors import SpecError
from ..validate import MAX_SEED
from .arrays import check_memory, is_labels, one_hot, parse_data, parse_mask, parse_params
from .graph import GRAPH_KEYS, check_used, layer_name, resolve_inputs
from .inputs import input_json, layers_json, parse_input
from .jsonfile import read_json
from .keys import KeyReader, check_keys, kind, name, whole
from .lossopts import LOSS_KEYS, parse_loss_options

__all__ = ["KEYS", "LAYER_KEYS", "MAX_LAYERS", "LayerSpec", "Spec", "load_spec"]

#: Top-level keys of net.json with their defaults (``...`` marks a required key).
KEYS = {
    "name": None, "description": "", "input": ..., "layers": ..., "loss": "mse",
    "convention": "column", "bias": "separate", "params": None, "data": None,
    "batch": 4, "seed": 0, "impl": None, **LOSS_KEYS,
}
#: The deepest network gradcheck takes: its finite differences rerun the layers above each parameter, so a
#: check's time grows with the square of the depth (1,000 one-unit layers take about 10 s).
MAX_LAYERS = 2000
#: A network of at most this many params keeps its seeded params and data once drawn (:meth:`Spec.parameters`).
KEEP_DRAWN = 2**16
_DRAWN = {}  # id of a living spec -> {(what, seed): its draws}
#: Keys of a dense layer (each layer kind lists its own in ``LAYER_KINDS[type].keys``).
LAYER_KEYS = {"type": "dense", **Dense.json_keys()}
#: One layer of a validated spec is its kind's configured layer (see :mod:`gradcheck.catalogue.layers`).
LayerSpec = Layer


@dataclass(frozen=True)
class Spec:
    """A validated network description. Build with :func:`load_spec` or :meth:`from_dict`.

    ``input`` is the number of input features, or (C, H, W) for images. ``params`` (if
    given) is a list of dicts of float64 arrays in the convention's shapes (a dropout
    entry may hold its ``mask``); ``data`` (if given) is ``(X, Y)`` sample-major:
    X (N, input) or (N, C, H, W), Y (N, K), or Y (N,) integer class labels where the loss takes them (kept as
    given; :meth:`targets` makes them one-hot). ``reduction``, ``margin`` and ``regularization`` (a
    :class:`~gradcheck.catalogue.regularization.Regularization` or None) configure the loss. ``bias`` is a
    :class:`~gradcheck.catalogue.BiasStyle` (a name given in Python becomes one).
    """

    input: int | tuple
    layers: tuple[Layer, ...]
    loss: str = "mse"
    convention: str = "column"
    bias: BiasStyle = SEPARATE
    name: str = "network"
    description: str = ""
    params: list | None = field(default=None, repr=False)
    data: tuple | None = field(default=None, repr=False)
    #: ``data.mask``: (N, T) of 0/1 for a per-step output, dropping the steps marked 0 from the loss (or None).
    mask: object = field(default=None, repr=False)
    batch: int = 4
    seed: int = 0
    impl: str | None = None
    source: str | None = None
    reduction: str = "mean"
    margin: float = 1.0
    regularization: object = None

    def __post_init__(self):
        object.__setattr__(self, "bias", bias_style(self.bias))  # a name given in Python becomes its style

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
    def input_shape(self) -> tuple:
        """One sample's input: (features,), a sequence (T, D), an image (C, H, W) or token ids
        :class:`~gradcheck.catalogue.layers.base.Tokens` (T,) with their ``vocab``."""
        return self.input if isinstance(self.input, tuple) else (self.input,)

    @property
    def tokens(self) -> bool:
        """True when the input is token ids: X is (N, T) integers."""
        return isinstance(self.input, Tokens)

    @property
    def output(self) -> int:
        """K, the number of outputs (of each step, for a per-step output)."""
        return self.layers[-1].out_shape[-1]

    @property
    def output_shape(self) -> tuple:
        """One sample's output: (K,), or (T, K) for an output per step."""
        return self.layers[-1].out_shape

    def samples_in(self, Y):
        """N, the samples of a batch of targets ``Y`` in the convention's layout ((N, T, K) for a per-step output;
        class labels (N,) or (N, T))."""
        if np.ndim(Y) == len(self.output_shape):  # class labels: the output's shape without the class axis
            return Y.shape[0]
        return Y.shape[-3] if len(self.output_shape) == 2 else Y.shape[self.conv.sample_axis]

    @property
    def is_chain(self) -> bool:
        """True when every layer takes the previous layer's output (no names, joins or skips)."""
        return all(ly.inputs == (ly.index - 1,) for ly in self.layers)

    def consumers(self, i):
        """The indices of the layers that take layer i's output (i = -1: the network input)."""
        return [ly.index for ly in self.layers if i in ly.inputs]

    @property
    def n_samples(self) -> int:
        return len(self.data[0]) if self.data is not None else self.batch

    def param_shapes(self):
        """List with one {"W": shape, "b": shape} per layer ({"gamma", "beta"} for norms, {} for layers
        without params), in this convention: the params that get a gradient."""
        return [ly.param_shapes(self.conv, self.bias) for ly in self.layers]

    def param_names(self):
        """[(name, layer index, kind, shape)], e.g. ("W0", 0, "W", (3, 2)), ("gamma2", 2, "gamma", (4,)),
        in params order."""
        return [(f"{k}{i}", i, k, s) for i, shapes in enumerate(self.param_shapes()) for k, s in shapes.items()]

    def symbolic_gap(self):
        """Why the SymPy derivation cannot cover this network (a layer kind without a symbolic form),
        or "" if it can; known without importing SymPy."""
        missing = sorted({ly.kind for ly in self.layers if not ly.has_symbolic})
        return f"symbolic check skipped: no SymPy form for {', '.join(missing)} layers" if missing else ""

    @property
    def n_params(self) -> int:
        return sum(math.prod(s) for *_, s in self.param_names())

    def parameters(self, seed=None, n=None):
        """Params as a list of dicts of float64 arrays (fresh copies): the given ones, or seeded.

        Fixed buffers (a dropout ``mask`` for a batch of ``n`` samples, default the
        spec's) are added where the params do not give them, drawn from the seed.
        """
        seed = self.seed if seed is None else seed
        given = self.params if self.params is not None else self._drawn(("params", seed), lambda: self._init(seed))
        out = [{k: v.copy() for k, v in p.items()} for p in given]
        n = self.n_samples if n is None else n
        for ly, p in zip(self.layers, out):
            for key, value in ly.buffers(seed, self.conv, n).items():
                if key not in p or p[key].shape != value.shape:
                    p[key] = value
        return out

    def batch_data(self, seed=None):
        """(X, Y) in the convention's layout: column X (input, N), Y (K, N); row X (N, input), Y (N, K);
        images X (N, C, H, W) in both."""
        if self.data is not None:
            X, Y = self.data
        else:
            seed = self.seed if seed is None else seed
            X, Y = self._drawn(("data", seed), lambda: self._random_data(np.random.default_rng([seed, 1])))
        X = X.copy() if self.tokens else self.conv.from_samples(X.copy())
        Y = Y.copy() if is_labels(Y, self) else self.conv.from_samples(Y.copy())  # class labels stay as given
        return X, Y

    def targets(self, Y):
        """The targets the losses compute with: class labels as one-hot rows in the convention's layout, any
        other Y as it is."""
        return one_hot(self, Y) if is_labels(Y, self) else Y

    def _init(self, seed):
        rng = np.random.default_rng([seed, 0])
        return [ly.init(rng, self.conv, self.bias) for ly in self.layers]

    def _drawn(self, key, draw):
        """``draw()``, the seeded params or data, made once per key and kept while this spec lives where the
        network is small (a property test checks hundreds of them, and drawing costs more than copying); callers
        copy what they hand out. Kept beside the spec, not in it: its ``__dict__`` stays its fields."""
        kept = _DRAWN.get(id(self))
        if kept is not None and key in kept:
            return kept[key]
        value = draw()
        if self.n_params <= KEEP_DRAWN:
            if kept is None:
                kept = _DRAWN[id(self)] = {}
                weakref.finalize(self, _DRAWN.pop, id(self), None)
            kept[key] = value
        return value

    def _random_data(self, rng):
        n, k = self.batch, self.output
        if self.tokens:
            X = rng.integers(0, self.input.vocab, (n, *self.input_shape))
        else:
            X = rng.normal(size=(n, *self.input_shape))
        steps = self.output_shape[:-1]
        n = n * math.prod(steps)  # targets of every step, drawn as rows and shaped (N, T, K) at the end
        loss, bounds = LOSSES[self.loss], self.layers[-1].act.output_range
        if loss.random_targets is not None:
            Y = loss.random_targets(rng, n, k)
        elif bounds is not None:  # inside the output's range, away from its ends
            lo, hi = bounds
            Y = rng.uniform(lo + 0.05 * (hi - lo), hi - 0.05 * (hi - lo), (n, k))
        else:
            Y = rng.normal(size=(n, k))
        return X, Y.reshape(self.batch, *steps, *Y.shape[1:])  # class labels have no class axis

    def with_(self, **changes):
        """A copy with some fields replaced (validated again)."""
        raw = self.to_dict()
        raw.update(changes)
        return Spec.from_dict(raw, self.source)

    def to_dict(self):
        """The JSON-able description (params/data as nested lists when present)."""
        raw = {
            "name": self.name, "input": input_json(self.input), "layers": layers_json(self.layers),
            "loss": self.loss, "convention": self.convention, "bias": self.bias.name, "seed": self.seed,
        }
        if self.data is None:
            raw["batch"] = self.batch
        if self.description:
            raw["description"] = self.description
        if self.impl:
            raw["impl"] = self.impl
        if self.reduction != "mean":
            raw["reduction"] = self.reduction
        if self.margin != 1.0:
            raw["margin"] = self.margin
        if self.regularization is not None:
            raw["regularization"] = self.regularization.to_json()
        if self.params is not None:
            raw["params"] = [{k: v.tolist() for k, v in p.items()} for p in self.params]
        if self.data is not None:
            raw["data"] = {"X": self.data[0].tolist(), "Y": self.data[1].tolist()}
            if self.mask is not None:
                raw["data"]["mask"] = self.mask.tolist()
        return raw

    def describe(self):
        """One line, e.g. ``or_gate: 2-2-1 sigmoid/sigmoid, loss quadratic, column convention, bias separate``.

        With other layer kinds than dense: ``1x6x6 -> conv2d 2x4x4 relu -> maxpool2d 2x2x2 -> ...``.
        """
        loss = self.loss + (f" ({self.reduction})" if self.reduction != "mean" else "")
        loss += f" + {self.regularization.kind}" if self.regularization is not None else ""
        tail = f"loss {loss}, {self.convention} convention, bias {self.bias}, N={self.n_samples}"
        if isinstance(self.input, int) and all(isinstance(ly, Dense) for ly in self.layers):
            sizes = "-".join(str(s) for s in [self.input] + [ly.units for ly in self.layers])
            acts = "/".join(ly.act.label for ly in self.layers)
            return f"{self.name}: {sizes} {acts}, {tail}"
        steps = ["x".join(map(str, self.input_shape))]
        steps += [f"{ly.kind} {'x'.join(map(str, ly.out_shape))}" + (f" {ly.act.label}" if ly.has_activation else "")
                  for ly in self.layers]
        return f"{self.name}: {' -> '.join(steps)}, {tail}"


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
    return Spec.from_dict(read_json(text, name), name)


def _layers(layers_raw, in_shape, bias, source):
    if not isinstance(layers_raw, list) or not layers_raw:
        raise SpecError("layers", f"expected a non-empty list of layers, got {kind(layers_raw)}", source)
    if len(layers_raw) > MAX_LAYERS:
        raise SpecError("layers", f"{len(layers_raw):,} layers, more than the {MAX_LAYERS:,} a network may have "
                                  "(the check's time grows with the square of the depth); make it shallower", source)
    later = {lr["name"]: i for i, lr in enumerate(layers_raw)
             if isinstance(lr, dict) and isinstance(lr.get("name"), str)}
    layers, names = [], {}
    for i, lr in enumerate(layers_raw):
        ly = _layer(lr, i, layers, names, {k: v for k, v in later.items() if v > i}, in_shape, bias, source)
        if ly.act.last_only and i != len(layers_raw) - 1:
            partner = " or ".join(ly.act.losses or ())
            raise SpecError(f"layers[{i}].activation", f"{ly.activation} is only allowed on the last layer"
                                                       + (f" (with loss {partner})" if partner else ""), source)
        layers.append(ly)
        if ly.name:
            names[ly.name] = i
    check_used(layers, source)
    last = layers[-1]
    if len(last.out_shape) == 3:
        raise SpecError(f"layers[{last.index}]", f"the network must end in a vector of outputs (or one per step), "
                                                 f"but layer {last.index} ({last.kind}) gives "
                                                 f"{'x'.join(map(str, last.out_shape))} images; add "
                                                 "{\"type\": \"flatten\"} and a dense layer", source)
    return tuple(layers)


def _layer(lr, i, layers, names, later, x_shape, bias, source):
    """Layer i, built by its kind from its inputs' shapes, with its name and inputs set."""
    path = f"layers[{i}]"
    if not isinstance(lr, dict):
        raise SpecError(path, f"expected an object like {{\"units\": 3, \"activation\": \"sigmoid\"}}, "
                              f"got {kind(lr)}", source)
    cls = LAYER_KINDS[name(lr.get("type", "dense"), list(LAYER_KINDS), f"{path}.type", source)]
    keys = {"type": "dense", **GRAPH_KEYS, **cls.json_keys()}
    check_keys(lr, keys, path, source)
    label = layer_name(lr, path, names, source)
    inputs = resolve_inputs(lr, i, names, later, cls.multi_input, source)
    shapes = [x_shape if j < 0 else layers[j].out_shape for j in inputs]
    for shape in shapes:
        if isinstance(shape, Tokens) and not cls.takes_tokens:
            raise SpecError(path, f"layer {i} ({cls.kind}) gets token ids (the network input); token ids go "
                                  "through an {\"type\": \"embedding\"} layer first", source)
    reader = KeyReader(lr, keys, path, source)
    ly = cls.build(reader, i, shapes if cls.multi_input else shapes[0], bias).with_activation_keys(reader)
    return replace(ly, inputs=inputs, name=label)


def _parse(raw, source):
    if not isinstance(raw, dict):
        raise SpecError("", f"expected a JSON object (a network description) at the top level, "
                            f"got {kind(raw)}", source)
    check_keys(raw, KEYS, "", source)
    opts = {k: raw.get(k, d) for k, d in KEYS.items() if d is not ...}

    label = opts["name"] if opts["name"] is not None else (Path(source).stem if source else "network")
    if not isinstance(label, str):
        raise SpecError("name", f"expected a string, got {kind(label)}", source)
    if not isinstance(opts["description"], str):
        raise SpecError("description", f"expected a string, got {kind(opts['description'])}", source)
    n_in = parse_input(raw["input"], source)
    loss = name(opts["loss"], list(LOSSES), "loss", source)
    convention = name(opts["convention"], list(CONVENTIONS), "convention", source)
    bias = BIAS_STYLES[name(opts["bias"], list(BIAS_STYLES), "bias", source)]
    seed = whole(opts["seed"], "seed", source, minimum=0, maximum=MAX_SEED)
    batch = whole(opts["batch"], "batch", source)
    impl = opts["impl"]
    if impl is not None and not (isinstance(impl, str) and ":" in impl):
        raise SpecError("impl", f"expected 'module:function' or 'path/file.py:function', got {kind(impl)}",
                        source)

    layers = _layers(raw["layers"], n_in if isinstance(n_in, tuple) else (n_in,), bias, source)
    last = f"layers[{len(layers) - 1}].activation"
    needed = LOSSES[loss].output
    if needed and layers[-1].activation != needed:
        raise SpecError(last, f"loss {loss} needs a {needed} output layer, got {layers[-1].activation}", source)
    out_act = layers[-1].act
    if layers[-1].units < out_act.min_units:
        where = f"layers[{len(layers) - 1}]" + (".units" if "units" in layers[-1].options else "")
        raise SpecError(where, out_act.min_units_why or f"{out_act.name} needs at least {out_act.min_units} units",
                        source)
    if out_act.losses is not None and loss not in out_act.losses:
        raise SpecError("loss", f"a {out_act.name} output goes with loss {' or '.join(out_act.losses)}, got {loss}",
                        source)

    spec = Spec(input=n_in, layers=layers, loss=loss, convention=convention, bias=bias,
                name=label, description=opts["description"], batch=batch, seed=seed, impl=impl,
                source=source, **parse_loss_options(raw, loss, source))
    check_memory(spec, source)
    data = parse_data(opts["data"], spec, "batch" in raw, source) if opts["data"] is not None else None
    mask = parse_mask(opts["data"], spec, data, source) if data is not None else None
    spec = Spec(**{**spec.__dict__, "data": data, "mask": mask})
    for ly in layers:
        ly.check_batch(spec.n_samples, source)
    params = parse_params(opts["params"], spec, source) if opts["params"] is not None else None
    return Spec(**{**spec.__dict__, "params": params})
