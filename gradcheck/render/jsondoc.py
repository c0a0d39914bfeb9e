"""The JSON document of a check: what the CLI prints with ``--format json`` (see :mod:`.jsonformat`) and a
report's "check" part."""

from __future__ import annotations

import numpy as np

from .precision import json_number, rounded, shown_error
from .results import blame_json, worst_elements

__all__ = ["result_json", "trace_json"]


def result_json(result, noise=None):
    """The JSON document of one run (a dict).

    ``noise``: numbers as a committed report shows them (see :mod:`gradcheck.render.precision`):
    values rounded against the backprop's, errors as their shown text ("< 1e-07", "0.5").
    """
    spec = result.spec
    stable = noise is not None
    params = []
    for t in result.tensors:
        entry = {"name": t.name, "layer": t.layer, "kind": t.kind, "shape": list(t.shape)}
        like = t.values.get("backprop")
        picked = None if t.mask is None else np.flatnonzero(np.ravel(t.mask))
        if picked is not None:  # a sampled check: the values of the checked elements only, and which they are
            entry["elements"] = np.column_stack(np.unravel_index(picked, t.shape)).tolist() if t.shape else []
        for op in ("backprop", "numeric", "symbolic", "impl"):
            if op in t.values or op == "symbolic":
                value = t.values.get(op)
                if picked is not None and value is not None and np.shape(value) == t.shape:
                    value = np.ravel(value)[picked]
                entry[op] = _values(value, None if op == "backprop" or not stable else like, noise)
        errs = {op: t.max_errors(op) for op in t.checked}
        if stable:
            entry.update(max_rel_error=shown_error(t.max_rel_error, t.max_abs_error, noise))
            entry["errors"] = {op: {"max_rel_error": shown_error(rel, ab, noise)} for op, (ab, rel) in errs.items()}
        else:
            entry.update(max_abs_error=t.max_abs_error, max_rel_error=t.max_rel_error)
            entry["errors"] = {op: {"max_abs_error": ab, "max_rel_error": rel} for op, (ab, rel) in errs.items()}
        entry.update(kinks=t.n_kinks, passed=t.passed, problem=t.problem, checked_elements=t.n_checked)
        params.append(entry)
    loss = result.loss
    return json_number(arrays=True, x={
        "name": spec.name, "source": spec.source, "passed": result.passed,
        "loss": rounded(loss) if stable and loss is not None else loss,
        "rtol": result.rtol, "atol": result.atol, "checked": list(result.checked),
        "mode": result.mode or "full", "method": result.method,
        "parameters": params, "shapes": result.trace.to_json(),
        "blame": [blame_json(r, noise) for r in worst_elements(result, 10, noise)],
        "problems": result.problems, "diagnosis": result.diagnosis, "notes": result.notes,
        **_line_trace(result.line_trace),
        **({"intermediates": [{"name": i.name, "passed": i.passed, "max_rel_error": i.max_rel,
                               "detail": i.detail or None} for i in result.intermediates]}
           if result.intermediates else {}),
        "spec": spec.to_dict(),
    })


def _line_trace(lines):
    """{"line_trace": [...]} for a result whose user code was traced (see gradcheck.diagnose.linetrace), else {}."""
    if lines is None:
        return {}
    return {"line_trace": [{"line": ln.where, "code": ln.source,
                            "arrays": {k: [list(s) for s in v] for k, v in ln.shapes.items()},
                            "reference": ln.reference or None} for ln in lines.lines]}


def _values(value, like, noise):
    """Nested lists of an opinion's values; with ``noise``, as a report shows them."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=float)
    if noise is None:
        return arr
    ref = np.asarray(like, dtype=float) if like is not None and np.shape(like) == arr.shape else None
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(*arr.shape):
        out[idx] = rounded(arr[idx], None if ref is None else ref[idx], noise)
    return out.tolist()


def trace_json(trace, spec):
    """The JSON document of a shape trace alone (``--trace-only``)."""
    return {"name": spec.name, "source": spec.source, "shapes": trace.to_json()}
