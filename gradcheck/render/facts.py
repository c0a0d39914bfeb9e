"""The local facts of convolution and pooling as report blocks and JSON (see :mod:`gradcheck.symbolic.local_facts`).

A derivation report of a network with a conv2d layer shows what SymPy derives from the
cross-correlation's indexed sum, with the layer's own stride and padding; one with a
pooling layer shows where its window sends the gradient, for the layer's window size.
Networks without these kinds get no such section (and their reports do not change).
"""

from __future__ import annotations

import sympy as sp

from ..symbolic.local_facts import conv_fact, pool_fact
from .document import Equations, Heading, Para
from .mathprint import EQ, Math, Partial, to_latex, to_text
from .mathprint import maths as _m

__all__ = ["layer_fact_blocks", "layer_facts_json"]

#: The window used to show where a max-pooling window sends its gradient (its maximum is 2.5).
EXAMPLE_WINDOW = (0.3, -1.0, 2.5, 0.0, 1.2, -0.4, 0.8, 2.1, -2.0)


def _convs(spec):
    return [ly for ly in spec.layers if ly.conv_fact]


def _pools(spec):
    return [ly for ly in spec.layers if ly.pool_fact]


def _conv_rows(f):
    n = f.indices
    z, W, b, x = sp.IndexedBase("z"), f.W, f.b, f.x
    zf = z[n["f"], n["i"], n["j"]]
    Wg, bg, xd = W[n["g"], n["d"], n["r"], n["s"]], b[n["g"]], x[n["d"], n["u"], n["v"]]
    return [
        (Math(zf), Math(f.z)),
        (Math(Partial(zf, Wg)), Math(f.dz_dw)),
        (Math(Partial(zf, bg)), Math(f.dz_db)),
        (Math(Partial(sp.Symbol("C"), Wg)), Math(f.chain_sum, EQ, f.chain_rhs)),
        (Math(Partial(zf, xd)), Math(f.dz_dx)),
    ]


def _conv_blocks(spec):
    f = conv_fact()
    n = f.indices
    where = "; ".join(f"layer {ly.index}: S = {ly.stride[0] if len(set(ly.stride)) == 1 else ly.stride}, "
                      f"P = {ly.padding}, {ly.kernel[0]}×{ly.kernel[1]} kernels" for ly in _convs(spec))
    return [
        Heading("The local fact of a convolution", 2),
        Para(["A conv2d layer computes a cross-correlation (as CS231n and PyTorch do). SymPy differentiates its "
              "indexed sum (local_facts.conv_fact) with respect to one weight ",
              _m(f.W[n["g"], n["d"], n["r"], n["s"]]), ", one bias and one input entry, and removes the range "
              "guards under the stated index ranges (x is the unpadded input, zero outside the image):"]),
        Equations(_conv_rows(f)),
        Para(["Only filter ", _m(n["g"]), "'s outputs contain that weight, so the bracket ",
              _m(sp.KroneckerDelta(n["f"], n["g"])), " keeps them, and the chain rule sums δ over that filter's "
              "output positions: dW correlates the input with δ, with no flip. The input gradient reads the kernel "
              "at ", _m(n["u"] - n["i"] * n["S"] + n["P"]), " (where that index lies inside the kernel, and 0 "
              "elsewhere), so dx correlates δ with the kernel rotated by 180°, and the padded border is cut off "
              "again. In this network: " + where + "."]),
    ]


def _pool_blocks(spec):
    blocks = [Heading("Where pooling sends the gradient", 2)]
    seen = set()
    for ly in _pools(spec):
        if (ly.pool_fact, ly.size) in seen:
            continue
        seen.add((ly.pool_fact, ly.size))
        f = pool_fact(ly, ly.size)
        rows = [(Math(sp.Symbol("z")), Math(f.z))] + [(Math(Partial(sp.Symbol("z"), x)), Math(g))
                                                     for x, g in zip(f.window, f.grads)]
        what = f"{ly.kind} with {ly.size[0]}×{ly.size[1]} windows (local_facts.pool_fact): {ly.fact_text}"
        blocks += [Para([what + ":"]), Equations(rows)]
        if ly.kinked:  # the window's maximum takes the whole gradient: show where it goes
            k = len(f.window)
            values = EXAMPLE_WINDOW[:k]
            routed = f.routed_at(values)
            blocks.append(Para([f"For the window ({', '.join(f'{v:g}' for v in values)}) they are "
                                f"({', '.join(str(r) for r in routed)}). Where windows overlap, an element "
                                "collects the gradients of every window it is the maximum of."]))
    return blocks


def layer_fact_blocks(spec):
    """Report blocks for the convolution and pooling facts of ``spec`` ([] when it has neither kind)."""
    blocks = _conv_blocks(spec) if _convs(spec) else []
    return blocks + (_pool_blocks(spec) if _pools(spec) else [])


def _pair(e):
    return {"text": to_text(e), "latex": to_latex(e)}


def layer_facts_json(spec):
    """{"conv_fact": ..., "pool_facts": [...]} for the kinds ``spec`` has ({} when none)."""
    out = {}
    if _convs(spec):
        f = conv_fact()
        out["conv_fact"] = {"z": _pair(f.z), "dz_dW": _pair(f.dz_dw), "dz_db": _pair(f.dz_db),
                            "dC_dW": {"text": f"{to_text(f.chain_sum)} = {to_text(f.chain_rhs)}",
                                      "latex": f"{to_latex(f.chain_sum)} = {to_latex(f.chain_rhs)}"},
                            "dz_dx": _pair(f.dz_dx), "dz_dx_inside": _pair(f.dz_dx_guard),
                            "layers": [{"layer": ly.index, "stride": list(ly.stride), "padding": ly.padding,
                                        "kernel": list(ly.kernel)} for ly in _convs(spec)]}
    if _pools(spec):
        out["pool_facts"] = []
        for ly in _pools(spec):
            f = pool_fact(ly, ly.size)
            out["pool_facts"].append({"layer": ly.index, "kind": ly.kind, "size": list(ly.size), "z": _pair(f.z),
                                      "grads": [_pair(g) for g in f.grads]})
    return out
