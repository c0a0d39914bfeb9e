"""The shape trace as blocks: a table of every quantity per layer, the size formulas, the steps."""

from __future__ import annotations

from ..catalogue import CONVENTIONS
from ..reference.shapetext import fmt_shape
from .document import Code, Heading, Para, Table

__all__ = ["trace_blocks", "MEANING"]

MEANING = {
    "a_prev": "input to the layer",
    "W": "weights",
    "b": "bias, one per unit",
    "z": "weighted input z",
    "a": "activation a = σ(z)",
    "delta": "δ = ∂C/∂z, one per unit and sample",
    "dW": "∂C/∂W: same shape as W",
    "db": "∂C/∂b: same shape as b",
    "dgamma": "∂C/∂γ: same shape as γ",
    "dbeta": "∂C/∂β: same shape as β",
}


def trace_blocks(trace, n_samples=None):
    """Blocks of a :class:`~gradcheck.reference.shapes.ShapeTrace`; ``n_samples`` (N) heads the batch column."""
    conv = CONVENTIONS[trace.convention]
    layout = f"{conv.samples}: {conv.dense_z}"
    blocks = [Heading(f"Shape trace ({trace.convention} convention, {layout}; bias {trace.bias})", 2)]
    rows = []
    for ly in trace.layers:
        for q, (sample, batch) in ly.shapes.items():
            meaning = ly.meanings.get(q) or MEANING.get(q, "")
            if q == "a_prev" and q not in ly.meanings:
                meaning = "x, the network input" if ly.index == 0 else f"a of layer {ly.index - 1}"
            rows.append([str(ly.index), q, fmt_shape(sample), fmt_shape(batch), meaning])
    batch = "batch of N" + ("" if n_samples is None else f"={n_samples}")
    blocks.append(Table(["layer", "quantity", "one sample", batch, "meaning"], rows,
                        ["right", "left", "left", "left", "left"]))
    if trace.formulas():
        blocks += [Para("Sizes:"), Code("\n".join(trace.formulas()))]
    fw = [f"layer {s.layer}: {s.equation()}" for s in trace.steps("forward")]
    bw = [f"layer {s.layer}: {s.equation()}" for s in trace.steps("backward")]
    return [*blocks, Para("Forward pass:"), Code("\n".join(fw)),
            Para("Backward pass (from the output layer down):"), Code("\n".join(bw))]
