"""A check result as blocks: per-tensor errors, the worst elements, problems, diagnosis, notes, verdict.

The same blocks serve the CLI, ``str(result)``, a notebook and the derivation reports;
``noise`` (see :mod:`gradcheck.render.precision`) shows the numbers as a committed report does.
"""

from __future__ import annotations

import numpy as np

from ..judge.bands import BANDS
from ..judge.compare import BLAME_HEADERS
from .document import Heading, Para, Table, Value
from .heatmap import heatmap_blocks
from .precision import ERROR_FLOOR, rounded_error, shown_error, shown_value

__all__ = ["check_blocks", "result_blocks", "verdict_line", "worst_elements", "blame_json"]


def _cell(t, op, noise=None):
    if op not in t.values or (t.values[op] is None and op != "impl"):
        return "skipped"
    if op not in t.checked:
        return ""
    value = t.values.get(op)
    if value is None:
        return "not returned"
    if np.shape(value) != tuple(t.shape):
        return "bad shape"
    if op in t.unevaluated and np.all(t.unevaluated[op]):
        return "not evaluated"
    ab, rel = t.max_errors(op)
    if not np.isfinite(rel):
        return "NaN/Inf" if not np.all(np.isfinite(value)) else "no numeric value"
    return Value(f"{rel:.2g}" if noise is None else shown_error(rel, ab, noise))


def _comparable(t):
    """Whether every checked opinion of ``t`` gave an array of the right shape."""
    return all(t.values.get(op) is not None and np.shape(t.values[op]) == tuple(t.shape) for op in t.checked)


def _only_problem(t):
    """Whether ``t`` failed by its problem alone: no element of any checked opinion is wrong or suspicious (a function
    not finite at x leaves every element inconclusive, which is no disagreement)."""
    return t.problem is not None and all(t.opinion_passed(op) for op in t.checked)


def _rule(result, stable):
    return (f"Each cell is the largest relative error |a − n| / max(|a|, |n|) of that opinion against "
            f"finite differences ({result.method or 'central'}); an element passes if rel err <= "
            f"{result.rtol:g}" + (f" or abs err <= {result.atol:g}" if result.atol else "")
            + ", and is inconclusive (not a failure) where only the finite difference's own error bound "
              "could explain the difference." + (f" Errors below {ERROR_FLOOR:.0e} are round-off and show as "
                                                 f"< {ERROR_FLOOR:.0e}." if stable else ""))


def check_blocks(result, blame=5, noise=None, heading=True, verdict=True):
    """Blocks of a :class:`~gradcheck.judge.outcome.CheckResult`.

    ``noise`` (an absolute round-off level) shows the numbers as a committed report does:
    errors rounded to where they mean something, no absolute-error column, and no ranking
    of errors that are all within tolerance (which would rank round-off). ``heading``: the
    section heading and the rule of the check, before the table; ``verdict``: the verdict
    line at the end.
    """
    stable = noise is not None
    ops = [op for op in ("backprop", "symbolic", "impl", "analytic", "autograd") if op in result.opinions]
    blocks = []
    if heading:
        blocks += [Heading(f"Gradient check: {', '.join(ops)} vs finite differences", 2), Para(_rule(result, stable))]
    rows = []
    for t in result.tensors:
        status = "ok" if t.passed else ("PROBLEM" if t.problem or not _comparable(t) else "FAIL")
        ab = t.max_abs_error
        abs_cell = [] if stable else [Value(f"{ab:.2g}") if np.isfinite(ab) else "-"]
        rows.append([t.name, "x".join(map(str, t.shape)), *[_cell(t, op, noise) for op in ops],
                     *abs_cell, Value(str(t.n_kinks)), status])
    headers = ["param", "shape", *[f"{op} rel err" for op in ops], *([] if stable else ["max abs err"]), "kinks",
               "status"]
    blocks.append(Table(headers, rows, ["left", "left"] + ["right"] * (len(headers) - 3) + ["left"]))
    blocks += [Para(f"Problem: {p}") for p in result.problems]
    bad = worst_elements(result, blame, noise)
    if blame and bad:
        title = "Worst elements" if not result.passed else "Largest errors (all within tolerance)"
        table = [_blame_row(r, noise) for r in bad]
        blocks += [Para(title + ":"), Table(BLAME_HEADERS, table, ["left", "left"] + ["right"] * 4 + ["left"])]
    blocks += heatmap_blocks(result)
    blocks += [Para(f"Diagnosis: {d}") for d in result.diagnosis]
    blocks += line_trace_blocks(result.line_trace)
    blocks += [Para(f"Note: {n}") for n in result.notes]
    return blocks + ([Para(verdict_line(result, noise))] if verdict else [])


def line_trace_blocks(trace):
    """The user's own lines with the shapes of the arrays each made, next to the reference steps (if any)."""
    if trace is None or not trace.lines:
        return []
    refs = any(ln.reference for ln in trace.lines)
    rows = [[ln.where, ln.source, ln.shape_text(), *([ln.reference] if refs else [])] for ln in trace.lines]
    title = ("Your code, line by line: the shape of every array a line made or wrote into, after it ran"
             + ("; and the step of the reference shape trace with that shape:" if refs else ":"))
    return [Para(title), Table(["line", "code", "arrays after it", *(["reference step"] if refs else [])], rows,
                               small=True, long=True)]


def result_blocks(result, blame=8):
    """A result on its own (``str(result)``, a notebook): its name and verdict, then its check blocks."""
    return [Para(f"{result.name}: {verdict_line(result)}"), *check_blocks(result, blame, heading=False,
                                                                            verdict=False)]


def worst_elements(result, n, noise=None):
    """The ``n`` worst elements, each once (its worst opinion), worst first.

    A passing result lists its largest errors (all within tolerance); with ``noise`` only
    elements that are not good are listed, ranked by band, then by their error as shown,
    then in tensor order, so that round-off never decides the order.
    """
    if noise is None:  # each element has a row per checked opinion: enough rows for n elements
        rows = result.blame(n=n * max(1, len(result.checked)), include_good=result.passed)
    else:
        rows = [r for t in result.tensors for r in t.blame() if r.verdict != "good"]

        def badness(r):
            err = rounded_error(r.rel_err, r.abs_err, noise)
            return (-(BANDS.index(r.verdict) if r.verdict in BANDS else -1), -(err if err is not None else 0.0))

        rows = sorted(rows, key=badness)  # a stable sort keeps the tensor order of ties
    seen, out = set(), []
    for r in rows:
        if r.element not in seen:
            seen.add(r.element)
            out.append(r)
    return out[:n] if n else out


def _blame_row(r, noise):
    if noise is None:
        return [r.element, r.opinion, *[Value(f"{v:.6g}") for v in (r.analytic, r.numeric, r.abs_err, r.rel_err)],
                r.verdict]
    return [r.element, r.opinion, Value(shown_value(r.analytic)), Value(shown_value(r.numeric, r.analytic, noise)),
            Value(_shown_abs(r.abs_err, noise)), Value(shown_error(r.rel_err, r.abs_err, noise)), r.verdict]


def _shown_abs(abs_err, noise):
    """An absolute difference as a report shows it: "≈ 0" at the round-off level of the values (``noise``), where its
    digits are rounding and differ between machines; else two significant digits."""
    return "≈ 0" if abs_err <= noise else f"{abs_err:.2g}"


def blame_json(r, noise):
    """One worst element as a dict (numbers as shown with ``noise``)."""
    keys = ["element", "checked", "analytic", "numeric", "abs_error", "rel_error", "verdict"]
    if noise is None:
        return dict(zip(keys, [r.element, r.opinion, r.analytic, r.numeric, r.abs_err, r.rel_err, r.verdict]))
    return dict(zip(keys, [str(c) for c in _blame_row(r, noise)]))


def verdict_line(result, noise=None):
    """``PASS: …`` or ``FAIL: …`` in one line (``noise``: errors as a report shows them)."""
    if result.passed:
        undecided = sum(t.count("inconclusive") for t in result.tensors)
        swamped = sum(t.swamped() for t in result.tensors)
        floor = ""
        if undecided and result.max_rel_error > result.rtol:
            why = ("the finite difference cannot resolve" if not swamped else
                   "below a float64 backprop's rounding" if swamped == undecided else "(see the notes)")
            floor = f", on {undecided} inconclusive element(s) {why}"
        elif result.max_rel_error > result.rtol:  # passed beyond rtol: by the rounding allowed, or by atol
            within = "the rounding a correct float64 backprop may make there"
            floor = (f", on elements within atol={result.atol:g} or {within}" if result.atol > 0
                     else f", on elements within {within}")
        worst = max(result.tensors, key=lambda t: t.max_rel_error, default=None)
        err = (f"{result.max_rel_error:.2g}" if noise is None or worst is None
               else shown_error(worst.max_rel_error, worst.max_abs_error, noise))
        return (f"PASS: every gradient agrees ({', '.join(result.checked)} vs numeric; "
                f"max rel err {err}{floor})")
    failed = [t.name for t in result.tensors if not t.passed]
    unusable = [t.name for t in result.tensors if not t.passed and (not _comparable(t) or _only_problem(t))]
    wrong = [name for name in failed if name not in unusable]
    parts = []
    if wrong:
        parts.append(f"{', '.join(wrong)} disagree{'s' if len(wrong) == 1 else ''} with finite differences")
    if unusable:
        more = len(result.problems) - 1
        why = (result.problems[0] + (f"; and {more} more problem(s)" if more > 0 else "") if result.problems
               else "see the problems")
        parts.append(f"{', '.join(unusable)} could not be compared ({why})")
    if not parts and result.problems:  # problems that belong to no tensor (an unexpected key, ...)
        more = len(result.problems) - 1
        parts.append(result.problems[0] + (f" (and {more} more problem(s))" if more else ""))
    return f"FAIL: {'; '.join(parts) or 'the check'}"
