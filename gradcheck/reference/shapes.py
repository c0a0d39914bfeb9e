"""Shape trace: the shape of every intermediate, forward and backward, per sample and batched.

The trace is not typed in: it is recorded while the reference backprop runs on a
dummy batch whose size N differs from every size in the network, then N is written
as "N". So the trace always agrees with the arrays the backprop produces. Layers that
change spatial sizes (convolution, pooling, flatten) add the formula of each size,
e.g. ``conv2d 0: H' = (6 + 2·0 − 3)/1 + 1 = 4``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from .backprop import backprop
from .shapetext import fmt_shape

__all__ = ["LayerShapes", "ShapeTrace", "Step", "Tape", "trace_shapes"]


@dataclass
class Step:
    """One recorded operation: ``name = expr`` with its operands' shapes and the result's."""

    layer: int
    phase: str
    name: str
    expr: str
    operands: dict
    result: tuple

    def equation(self):
        """``dW = delta @ a_prev.T : (3,N) @ (N,2) -> (3,2)``."""
        names = sorted(self.operands, key=len, reverse=True)
        pattern = r"(?<![\w.'])(" + "|".join(re.escape(n) for n in names) + r")(?![\w(])"
        shapes = re.sub(pattern, lambda m: fmt_shape(self.operands[m.group(1)]), self.expr)
        return f"{self.name} = {self.expr} : {shapes} -> {fmt_shape(self.result)}"

    def __repr__(self):
        return f"Step(layer {self.layer} {self.phase}: {self.equation()})"


@dataclass
class Tape:
    """Collects :class:`Step` objects; ``at(layer)`` sets the layer the next steps belong to."""

    steps: list = field(default_factory=list)
    layer: int = 0

    def at(self, layer):
        self.layer = layer

    def record(self, phase, name, expr, operands, result):
        self.steps.append(Step(self.layer, phase, name, expr, dict(operands), tuple(result)))


@dataclass
class LayerShapes:
    """Per layer: {quantity: (per-sample shape, batched shape)} for a_prev, the params (W, b, gamma, beta, a
    dropout mask), z, a, delta and the gradients (dW, db, dgamma, dbeta); the size ``formulas`` and what
    each quantity means for this kind (``meanings``)."""

    index: int
    description: str
    shapes: dict
    steps: list
    formulas: list = field(default_factory=list)
    meanings: dict = field(default_factory=dict)

    def __repr__(self):
        return f"LayerShapes({self.index}: {self.description}, {len(self.steps)} steps)"


@dataclass
class ShapeTrace:
    """The whole trace: one :class:`LayerShapes` per layer plus the loss gradient step."""

    convention: str
    bias: str
    layers: list

    def steps(self, phase=None):
        """All steps in execution order (forward first, then backward from the output)."""
        out = [s for ly in self.layers for s in ly.steps if s.phase == "forward"]
        out += [s for ly in reversed(self.layers) for s in ly.steps if s.phase == "backward"]
        return [s for s in out if phase is None or s.phase == phase]

    def formulas(self):
        """Every size formula, first layer first."""
        return [f for ly in self.layers for f in ly.formulas]

    def to_json(self):
        return {
            "convention": self.convention, "bias": self.bias,
            "layers": [{"layer": ly.index, "description": ly.description,
                        "shapes": {k: {"sample": fmt_shape(s), "batch": fmt_shape(b)}
                                   for k, (s, b) in ly.shapes.items()},
                        **({"formulas": ly.formulas} if ly.formulas else {}),
                        "steps": [s.equation() for s in ly.steps]} for ly in self.layers],
        }

    def __repr__(self):
        return f"ShapeTrace({len(self.layers)} layers, {self.convention} convention, bias {self.bias})"

    def _repr_html_(self):  # a notebook shows the trace as its tables
        from ..render import notebook_html
        from ..render.trace import trace_blocks

        return notebook_html(trace_blocks(self))

    def _repr_markdown_(self):
        from ..render import notebook_markdown
        from ..render.trace import trace_blocks

        return notebook_markdown(trace_blocks(self))


def _symbolic(shape, n):
    return tuple("N" if d == n else d for d in shape)


def trace_shapes(spec) -> ShapeTrace:
    """Trace every intermediate's shape for ``spec`` (no params or data needed).

    >>> from gradcheck import load_spec
    >>> spec = load_spec({"input": 2, "layers": [{"units": 3, "activation": "sigmoid"}]})
    >>> print(trace_shapes(spec).steps("backward")[2].equation())
    dW = delta @ a_prev.T : (3,N) @ (N,2) -> (3,2)
    """
    conv = spec.conv
    # The smallest batch size that differs from every size in the network, so "N" can be recognised.
    widths = set(spec.input_shape) | {d for ly in spec.layers for d in (*ly.in_shape, *ly.out_shape, ly.units,
                                                                        ly.fan_in, ly.fan_in + 1)}
    widths |= {d for shapes in spec.param_shapes() for s in shapes.values() for d in s}
    widths |= {d for ly in spec.layers for d in getattr(ly, "trace_sizes", ())}  # sizes of its own (heads)
    n = next(k for k in range(2, len(widths) + 3) if k not in widths)
    params = [{k: np.zeros(s) for k, s in shapes.items()} for shapes in spec.param_shapes()]
    for ly, p in zip(spec.layers, params):
        p.update({k: np.ones(s) for k, s in ly.buffer_shapes(conv, n).items()})
    X = np.zeros(conv.batch_of(spec.input_shape, n), dtype=int if spec.tokens else float)
    Y = np.full(conv.batch_of(spec.output_shape, n), 0.5)
    tape = Tape()
    unmasked = replace(spec, mask=None) if getattr(spec, "mask", None) is not None else spec  # a dummy batch
    _, grads = backprop(unmasked, params, X, Y, tape=tape)
    by_layer = {ly.index: [] for ly in spec.layers}
    for s in tape.steps:  # one pass: a search per layer would make a deep network's trace quadratic
        by_layer[s.layer].append(s)
    layers = []
    for ly, p, g in zip(spec.layers, params, grads):
        steps = by_layer[ly.index]
        for s in steps:
            s.operands = {k: _symbolic(v, n) for k, v in s.operands.items()}
            s.result = _symbolic(s.result, n)
        by_name = {(s.phase, s.name): s.result for s in steps}
        batched, meanings = _inputs(spec, ly, n)
        batched.update({k: _symbolic(v.shape, n) for k, v in p.items()})
        batched["z"] = by_name["forward", "z"]
        if ly.has_activation:
            batched["a"] = by_name["forward", "a"]
        batched["delta"] = by_name.get(("backward", "delta"), batched["z"])
        batched.update({f"d{k}": v.shape for k, v in g.items()})
        shapes = {k: (tuple(1 if d == "N" else d for d in v), v) for k, v in batched.items()}
        layers.append(LayerShapes(ly.index, _described(spec, ly), shapes, steps, ly.size_formulas(),
                                  {**meanings, **ly.meanings}))
    return ShapeTrace(spec.convention, spec.bias.name, layers)


def _source(spec, j):
    if j < 0:
        return "x, the network input"
    name = spec.layers[j].name
    return f"a of layer {j}" + (f" ('{name}')" if name else "")


def _inputs(spec, ly, n):
    """The batched shape and the meaning of a layer's input (``a_prev``), or of each input of a layer that joins
    several (``a_prev0``, ``a_prev1``, ...)."""
    shapes = [spec.input_shape if j < 0 else spec.layers[j].out_shape for j in ly.inputs]
    keys = [f"a_prev{m}" for m in range(len(shapes))] if ly.multi_input else ["a_prev"]
    batched = {k: _symbolic(spec.conv.batch_of(s, n), n) for k, s in zip(keys, shapes)}
    return batched, {k: _source(spec, j) for k, j in zip(keys, ly.inputs)}


def _described(spec, ly):
    """The layer's description, with its name and where its inputs come from when it is not a plain link of a
    chain."""
    if ly.inputs == (ly.index - 1,) and not ly.name:
        return ly.describe()
    head = (f"'{ly.name}': " if ly.name else "") + ly.describe()
    if ly.inputs == (ly.index - 1,):
        return head
    names = ", ".join("input" if j < 0 else (spec.layers[j].name or str(j)) for j in ly.inputs)
    return f"{head} (from {names})"
