"""A derivation report's element table as blocks: per parameter element its chain-rule and expanded forms
and every opinion's value, with their agreement."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..judge.bands import BANDS, errors
from .document import Equations, Heading, Para, Table, Value
from .mathprint import Math, Partial, maths
from .precision import ERROR_FLOOR, VALUE_DIGITS, shown_error, shown_value

__all__ = ["element_rows", "element_blocks", "element_label", "ElementRow", "CELL_CHARS", "DISPLAY_CHARS"]

#: An expanded form of at most this many characters (plain text) fits its table cell; a longer one is
#: displayed below the table, broken into lines, up to DISPLAY_CHARS; longer still, it is left out (its
#: chain-rule form is in the table).
CELL_CHARS = 60
DISPLAY_CHARS = 1500


def element_rows(spec, d, result):
    """One :class:`ElementRow` per parameter element, in tensor order."""
    out = []
    elements = {(e.name, e.index): e for e in d.elements} if d is not None else {}
    for t in result.tensors:
        ops = [op for op in ("symbolic", "backprop", "numeric", "impl") if t.values.get(op) is not None]
        arrays = {op: np.asarray(t.values[op], float) for op in ops}
        ops = [op for op in ops if arrays[op].shape == tuple(t.shape)]
        judged = {op: t.verdict(op) for op in t.checked if t.verdict(op) is not None}
        for idx in np.ndindex(*t.shape):
            checked = t.mask is None or bool(t.mask[idx])
            # A sampled check leaves elements unchecked: no finite difference, no verdict, said so.
            vals = {op: float(arrays[op][idx]) for op in ops if checked or op != "numeric"}
            verdicts = {op: str(ver[idx]) for op, ver in judged.items() if checked}
            keys = [op for op in vals if not _not_evaluated(verdicts.get(op), vals[op])]
            diff = absdiff = 0.0
            for a in range(len(keys)):
                for b in range(a + 1, len(keys)):
                    ab, rel = errors(vals[keys[a]], vals[keys[b]])
                    diff, absdiff = max(diff, float(rel)), max(absdiff, float(ab))
            bands = [v for v in verdicts.values() if v in BANDS]
            worst = max(bands, key=BANDS.index) if bands else "unchecked"
            if checked and len(verdicts) < len(t.checked):
                worst = "wrong"
            out.append(ElementRow(elements.get((t.name, tuple(idx))), t.name, tuple(idx), vals, verdicts, diff, absdiff,
                            worst))
    return out


def _not_evaluated(verdict, value):
    """An opinion that could not evaluate the element (SymPy's form overflowing there): not judged, no value."""
    return verdict == "unchecked" and value is not None and not np.isfinite(value)


@dataclass
class ElementRow:
    """One parameter element of a report: its derivation, the opinions' values and their agreement."""

    element: object  # DerivedElement or None
    name: str
    index: tuple
    values: dict  # {opinion: value}
    verdicts: dict  # {opinion: band}
    max_rel_diff: float  # largest relative difference between any two values
    max_abs_diff: float
    agreement: str  # the worst band

    def shown(self, op, noise):
        """The value of opinion ``op`` as the report prints it (against the backprop's value)."""
        like = None if op == "backprop" else self.values.get("backprop")
        value = self.values.get(op)
        if _not_evaluated(self.verdicts.get(op), value):
            return "not evaluated"
        return shown_value(value, like, noise)

    def agreement_text(self, noise):
        if self.agreement == "unchecked":
            return "unchecked (not in the sample)"
        return f"{self.agreement}, {shown_error(self.max_rel_diff, self.max_abs_diff, noise)}"


def element_label(name, index):
    return f"{name}[{', '.join(map(str, index))}]"


def element_blocks(spec, d, result, noise):
    from ..symbolic.reach import EXPAND_MAX_DEPTH, EXPAND_MAX_PARAMS

    rows_data = element_rows(spec, d, result)
    has_impl = "impl" in result.opinions
    blocks = [
        Heading("Every gradient element", 2),
        Para(["For each parameter element ", maths("theta"), ", SymPy multiplies the local derivative ",
              maths(Partial(sp.Symbol("z_j"), sp.Symbol("theta"))), " (the fact above: the input ", maths("x_k"),
              " or ", maths("a^(l-1)_k"), ", or 1 for a bias) by ", maths("delta_j"), ": the chain-rule form. "
              + ("The expanded form substitutes every z, a and δ by its definition, so it holds x, y, w and b "
                 "only. " if d is not None and d.expanded else
                 f"Expanded forms are written out only for small networks (at most {EXPAND_MAX_PARAMS} parameters "
                 f"and {EXPAND_MAX_DEPTH} layers). ")
              + "The values are summed over the samples: SymPy's (its chain-rule forms evaluated at the data), "
              "the reference backprop's, central finite differences'" + (", and your backprop's" if has_impl else "")
              + ". Agreement is the worst verdict of " + ", ".join(result.checked)
              + " against finite differences (good, kink, suspicious, wrong), with the largest relative "
              "difference |u − v| / max(|u|, |v|) between any two of the values. Values show "
              f"{VALUE_DIGITS} significant digits; where two opinions agree to within the last digit shown, "
              "they show the same digits. Differences below "
              f"{ERROR_FLOOR:.0e} (relative, or relative to the largest gradient element) are finite-difference "
              f"round-off and show as < {ERROR_FLOOR:.0e}."]),
    ]
    theta = sp.Symbol("theta")
    headers = ["element", Math(theta), Math(Partial(sp.Symbol("C_n"), theta)), "expanded",
               "SymPy", "backprop", "finite diff."] + (["your backprop"] if has_impl else []) + ["agreement"]
    rows, expanded, left_out = [], [], []
    expanded_any = d is not None and d.expanded
    for row in rows_data:
        e, label = row.element, element_label(row.name, row.index)
        if e is None:
            sym, chain, exp = "—", "—", "—"
        else:
            sym, chain = Math(e.symbol), Math(e.chain_rule, wrap=True)
            exp = "—" if e.expanded is None else Math(e.expanded)
            if e.expanded is not None and len(exp) > CELL_CHARS:
                if len(exp) <= DISPLAY_CHARS:
                    expanded.append((label, e, exp))
                    exp = f"E{len(expanded)}, below"
                else:
                    left_out.append(label)
                    exp = "too long: see ∂C/∂θ"
        ops = ("symbolic", "backprop", "numeric") + (("impl",) if has_impl else ())
        values = [Value(row.shown(op, noise)) for op in ops]
        rows.append([label, sym, chain, exp, *values, Value(row.agreement_text(noise))])
    n_val = 4 if has_impl else 3
    widths = [None, 1.4, 2.2, 4.4 if expanded_any else None] + [None] * (n_val + 1)  # cm
    blocks.append(Table(headers, rows, ["left"] * 4 + ["right"] * n_val + ["left"], widths, long=True, small=True))
    if expanded or left_out:
        blocks.append(Heading("Expanded forms", 3))
        blocks.append(Para([f"Expanded forms longer than {CELL_CHARS} characters are displayed here"
                            + (f"; those longer than {DISPLAY_CHARS} characters ({', '.join(left_out)}) are left "
                               "out: their chain-rule form ∂C/∂θ in the table above is the same derivative, "
                               "written with z, a and δ" if left_out else "") + "."]))
        for n, (label, e, exp) in enumerate(expanded, 1):
            blocks.append(Para([f"E{n}: {label}, ", Math(e.symbol)]))
            blocks.append(Equations([(Math(Partial(sp.Symbol("C_n"), e.symbol)), exp)]))
    return blocks, rows_data
