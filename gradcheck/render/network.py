"""A derivation report's first part as blocks: the network's keys, its parameter values and its data."""

from __future__ import annotations

import numpy as np
import sympy as sp

from .document import Heading, Para, Table, Value
from .mathprint import Math
from .precision import shown_value

__all__ = ["network_blocks", "GRID_COLUMNS"]

#: Number tables (parameters, data) show at most this many value columns; wider ones are split.
GRID_COLUMNS = 8

#: The widest value the network table sets on one line in LaTeX (the landscape page at 10pt holds about 125
#: characters beside the key column); a wider one wraps in a 20 cm column.
VALUE_CHARS = 110


def _layer_sizes(spec):
    if len(spec.input_shape) == 1 and all(len(ly.out_shape) == 1 for ly in spec.layers):
        return "-".join(str(s) for s in [spec.input] + [ly.units for ly in spec.layers])
    return "-".join("x".join(map(str, s)) for s in [spec.input_shape] + [ly.out_shape for ly in spec.layers])


def _layer_text(ly):
    short = "units" in ly.options and ly.has_activation and len(ly.out_shape) == 1  # a dense layer of vectors
    return f"{ly.kind} {ly.units} {ly.act.label}" if short else ly.describe()


def network_blocks(spec, result):
    from ..catalogue.regularization import cost_text

    rows = [["name", spec.name], ["input", "x".join(map(str, spec.input_shape))],
            ["layers", ("; " if any("units" not in ly.options for ly in spec.layers) else ", ").join(
                _layer_text(ly) for ly in spec.layers)],
            ["sizes", _layer_sizes(spec)], ["loss", cost_text(spec)],
            ["convention", spec.conv.described], ["bias", f"{spec.bias.name}: {spec.bias.text}"],
            ["samples", f"N = {spec.n_samples}" + ("" if spec.data is not None else f" (seeded, seed {spec.seed})")],
            ["parameters", f"{spec.n_params}" + ("" if spec.params is not None else f" (seeded, seed {spec.seed})")]]
    widest = max(len(value) for _, value in rows)  # a value wider than the landscape page wraps within its column
    blocks = [Heading("The network", 2), Table(["key", "value"], rows, ["left", "left"],
                                               None if widest <= VALUE_CHARS else [None, 20])]
    blocks += [Heading("Parameters", 3)]
    params = result.params
    for name, li, kind, shape in spec.param_names():
        arr = np.asarray(params[li][kind], float)
        ly = spec.layers[li]
        inputs = [f"input {k}" for k in range(ly.fan_in)] + ["1 (bias)"] * spec.bias.extra_inputs
        units = [f"unit {j}" for j in range(ly.options.get("units", ly.units))]  # of one step, on a sequence
        if kind == "b" and arr.size == len(units):
            blocks.append(Para([f"{name}, shape {tuple(shape)}: one bias per unit of layer {li}."]))
            blocks += _grid("", [f"unit {j}" for j in range(arr.shape[-1])], [name], arr[None, :])  # per step too
            continue
        if kind != "W" or arr.ndim != 2 or "units" not in ly.options:  # any other tensor (an embedding's table
            # too): one row per index of its leading axes
            rows2 = arr.reshape(-1, arr.shape[-1])
            labels = [f"{name}[{', '.join(map(str, idx))}]" if idx else name for idx in np.ndindex(*arr.shape[:-1])]
            blocks.append(Para([f"{name}, shape {tuple(shape)} (layer {li}, {ly.describe()})."]))
            blocks += _grid("", [f"[…, {j}]" if arr.ndim > 1 else str(j) for j in range(arr.shape[-1])], labels,
                            rows2)
            continue
        where = f"{spec.conv.weight_entry} is unit j's weight on input k"
        row_labels, col_labels = (units, inputs) if spec.conv.samples_are_columns else (inputs, units)
        extra = f"; the last {spec.conv.bias_line} is the bias" if spec.bias.in_weights else ""
        blocks.append(Para([f"{name}, shape {tuple(shape)} (layer {li}, {ly.act.label}): {where}{extra}."]))
        blocks += _grid(name, col_labels, row_labels, arr)
    X, Y = (np.asarray(spec.conv.to_samples(np.asarray(a, float))) for a in (result.X, result.Y))
    x_names = [",".join(map(str, idx)) for idx in np.ndindex(*X.shape[1:])]
    y_names = [",".join(map(str, idx)) for idx in np.ndindex(*Y.shape[1:])]  # (K,), or (T, K) per step
    X, Y = X.reshape(len(X), -1), Y.reshape(len(Y), -1)
    x_heads = [Math(sp.Symbol(f"x_{k}")) for k in x_names]
    y_heads = [Math(sp.Symbol(f"y_{k}")) for k in y_names]
    blocks.append(Heading("Data", 3))
    blocks.append(Para(["One sample per row (whatever the convention): inputs x and targets y."]))
    blocks += _grid("sample n", x_heads + y_heads, [str(n) for n in range(len(X))], np.hstack([X, Y]))
    return blocks


def _grid(corner, col_labels, row_labels, values, max_cols=GRID_COLUMNS):
    """Tables of a matrix of numbers, at most ``max_cols`` value columns each (wide matrices are split)."""
    tables = []
    for start in range(0, max(len(col_labels), 1), max_cols):
        cols = col_labels[start:start + max_cols]
        rows = [[lab, *[Value(shown_value(v)) for v in row[start:start + max_cols]]]
                for lab, row in zip(row_labels, values)]
        tables.append(Table([corner, *cols], rows, ["left"] + ["right"] * len(cols)))
    return tables
