"""Render shape traces and check results as text, Markdown, HTML, LaTeX or JSON.

A small format registry (like tabulate's): each :class:`Format` knows how to write a
heading, a paragraph, a code block, a table (through tabulate) and a standalone page.
Table cells are plain text and are escaped by the format; cells that already hold
markup (maths) go through the ``raw_table`` variant.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np
from tabulate import tabulate

from .compare import BANDS, BLAME_HEADERS
from .precision import ERROR_FLOOR, json_number, rounded, rounded_error, shown_error, shown_value
from .shapes import fmt_shape

__all__ = ["Format", "FORMATS", "booktabs", "render", "render_trace", "render_check", "result_json", "render_json"]

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


def _latex_escape(text):
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(table.get(c, c) for c in str(text))


_CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:72rem;margin:2rem auto;
padding:0 1rem;color:#1d1f21;line-height:1.45}table{border-collapse:collapse;margin:.6rem 0 1.2rem}
th,td{border-bottom:1px solid #d0d4d9;padding:.25rem .7rem;text-align:left;vertical-align:top}
th{border-bottom:2px solid #555;background:#f4f6f8}pre{background:#f4f6f8;padding:.7rem;overflow-x:auto}
td.num{text-align:right;font-variant-numeric:tabular-nums}.pass{color:#176b2c;font-weight:600}
.fail{color:#b00020;font-weight:600}math{font-size:1.05em}"""

_LATEX_PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[margin=2cm,landscape]{geometry}
\usepackage{booktabs,longtable,array,amsmath,amssymb}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\DeclareUnicodeCharacter{03C3}{\ensuremath{\sigma}}
\DeclareUnicodeCharacter{03B4}{\ensuremath{\delta}}
\DeclareUnicodeCharacter{2202}{\ensuremath{\partial}}
\DeclareUnicodeCharacter{2212}{-}
\DeclareUnicodeCharacter{2192}{\ensuremath{\to}}
\DeclareUnicodeCharacter{2299}{\ensuremath{\odot}}
\DeclareUnicodeCharacter{00B7}{\ensuremath{\cdot}}
\DeclareUnicodeCharacter{03A3}{\ensuremath{\Sigma}}
\DeclareUnicodeCharacter{2016}{\ensuremath{\|}}
\DeclareUnicodeCharacter{00BD}{\ensuremath{\tfrac12}}
\DeclareUnicodeCharacter{00B2}{\ensuremath{^2}}
\DeclareUnicodeCharacter{03B7}{\ensuremath{\eta}}
\DeclareUnicodeCharacter{03B8}{\ensuremath{\theta}}
\DeclareUnicodeCharacter{2032}{\ensuremath{'}}
\DeclareUnicodeCharacter{2207}{\ensuremath{\nabla}}
\DeclareUnicodeCharacter{00D7}{\ensuremath{\times}}
\DeclareUnicodeCharacter{2264}{\ensuremath{\le}}
\DeclareUnicodeCharacter{2265}{\ensuremath{\ge}}
\DeclareUnicodeCharacter{1D40}{\ensuremath{^{\mathsf T}}}
\begin{document}
"""


@dataclass(frozen=True)
class Format:
    """How one output format writes each building block."""

    name: str
    table_fmt: str
    raw_table_fmt: str
    heading: Callable
    para: Callable
    code: Callable
    page: Callable
    escape: Callable = str

    def table(self, rows, headers, raw=False, floatfmt=".3g", **options):
        """A tabulate table; ``options`` go to tabulate (e.g. ``disable_numparse=True``, ``colalign``)."""
        fmt = self.raw_table_fmt if raw else self.table_fmt
        options.setdefault("disable_numparse", False)
        text = tabulate(rows, headers, tablefmt=fmt, floatfmt=floatfmt, **options)
        if self.name == "html":
            text = text.replace("<table>", '<table class="grid">')
        return text

    def __repr__(self):
        return f"Format({self.name!r}, tables via tabulate {self.table_fmt!r})"


def _text_heading(text, level):
    return f"{text}\n{('=' if level == 1 else '-') * min(len(text), 100)}"


FORMATS = {
    f.name: f
    for f in [
        Format("text", "simple", "simple", _text_heading, lambda t: t,
               lambda t: "\n".join("    " + line for line in t.splitlines()), lambda title, body: body),
        Format("markdown", "github", "github", lambda t, level: "#" * (level + 1) + " " + t, lambda t: t,
               lambda t: "```text\n" + t + "\n```",
               lambda title, body: f"# {title}\n\n{body}\n"),
        Format("html", "html", "unsafehtml",
               lambda t, level: f"<h{level + 1}>{html.escape(t)}</h{level + 1}>",
               lambda t: f"<p>{html.escape(t)}</p>", lambda t: f"<pre>{html.escape(t)}</pre>",
               lambda title, body: ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
                                    f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
                                    f"<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"),
               html.escape),
        Format("latex", "latex_booktabs", "latex_raw",
               lambda t, level: ("\\section*{" if level <= 1 else "\\subsection*{") + _latex_escape(t) + "}",
               lambda t: _latex_escape(t) + "\n",
               lambda t: "\\begin{verbatim}\n" + t + "\n\\end{verbatim}",
               lambda title, body: (_LATEX_PREAMBLE + "\\section*{" + _latex_escape(title) + "}\n"
                                    + body + "\n\\end{document}\n"),
               _latex_escape),
    ]
}


def booktabs(table, colspec=None, long=False):
    r"""Turn a tabulate ``latex``/``latex_raw`` tabular into booktabs rules (\toprule, \midrule, \bottomrule).

    ``colspec`` replaces the column specification (e.g. ``r>{\raggedright\arraybackslash}p{6cm}``);
    ``long=True`` makes it a ``longtable`` whose header row repeats on every page.

    >>> print(booktabs(tabulate([[1, 2]], ["a", "b"], tablefmt="latex_raw")))
    \begin{tabular}{rr}
    \toprule
       a &   b \\
    \midrule
       1 &   2 \\
    \bottomrule
    \end{tabular}
    """
    lines = table.strip().splitlines()
    rules = [i for i, line in enumerate(lines) if line.strip() == "\\hline"]
    if len(rules) < 2 or not lines[0].startswith("\\begin{tabular}{"):
        raise ValueError("not a tabulate latex table with a header row")
    head = lines[rules[0] + 1:rules[1]]
    for n, i in enumerate(rules):
        lines[i] = "\\toprule" if n == 0 else ("\\bottomrule" if n == len(rules) - 1 else "\\midrule")
    if colspec is not None:
        lines[0] = "\\begin{tabular}{" + colspec + "}"
    if long:
        lines[0] = lines[0].replace("\\begin{tabular}", "\\begin{longtable}", 1)
        lines[-1] = lines[-1].replace("\\end{tabular}", "\\end{longtable}", 1)
        mid = rules[1]
        repeat = ["\\endfirsthead", "\\toprule", *head, "\\midrule", "\\endhead", "\\bottomrule", "\\endfoot",
                  "\\endlastfoot"]
        lines = lines[:mid + 1] + repeat + lines[mid + 1:]
    return "\n".join(lines)


def render_trace(trace, spec, fmt="text"):
    """The shape trace: a table of every quantity per layer, then the steps as equations."""
    f = FORMATS[fmt]
    layout = ("samples are columns: z = W @ a_prev + b" if spec.convention == "column"
              else "samples are rows: z = a_prev @ W + b")
    parts = [f.heading(f"Shape trace ({spec.convention} convention, {layout}; bias {spec.bias})", 2)]
    rows = []
    for ly in trace.layers:
        for q, (sample, batch) in ly.shapes.items():
            meaning = ly.meanings.get(q) or MEANING.get(q, "")
            if q == "a_prev":
                meaning = "x, the network input" if ly.index == 0 else f"a of layer {ly.index - 1}"
            rows.append([ly.index, q, fmt_shape(sample), fmt_shape(batch), meaning])
    parts.append(f.table(rows, ["layer", "quantity", "one sample", f"batch of N={spec.n_samples}", "meaning"]))
    if trace.formulas():
        parts += [f.para("Sizes:"), f.code("\n".join(trace.formulas()))]
    fw = [f"layer {s.layer}: {s.equation()}" for s in trace.steps("forward")]
    bw = [f"layer {s.layer}: {s.equation()}" for s in trace.steps("backward")]
    parts += [f.para("Forward pass:"), f.code("\n".join(fw)),
              f.para("Backward pass (from the output layer down):"), f.code("\n".join(bw))]
    return "\n\n".join(parts)


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
    ab, rel = t.max_errors(op)
    if not np.isfinite(rel):
        return "NaN/Inf" if not np.all(np.isfinite(value)) else "no numeric value"
    return f"{rel:.2g}" if noise is None else shown_error(rel, ab, noise)


def render_check(result, fmt="text", blame=5, noise=None):
    """Per-tensor summary (max relative error per opinion), blame rows, diagnosis and notes.

    ``noise`` (an absolute round-off level, see :mod:`gradcheck.precision`) renders the numbers
    as a committed report shows them: errors rounded to where they mean something, no
    absolute-error column, and no ranking of errors that are all within tolerance (which
    would rank round-off).
    """
    f = FORMATS[fmt]
    stable = noise is not None
    ops = [op for op in ("backprop", "symbolic", "impl") if op in result.opinions]
    judged = ", ".join(ops)
    parts = [f.heading(f"Gradient check: {judged} vs finite differences", 2),
             f.para(f"Each cell is the largest relative error |a − n| / max(|a|, |n|) of that opinion against "
                    f"finite differences ({result.extra.get('method', 'central')}); an element passes if rel err <= "
                    f"{result.rtol:g}" + (f" or abs err <= {result.atol:g}" if result.atol else "")
                    + ", and is inconclusive (not a failure) where only the finite difference's own error bound "
                      "could explain the difference." + (f" Errors below {ERROR_FLOOR:.0e} are round-off and show as "
                                           f"< {ERROR_FLOOR:.0e}." if stable else ""))]
    rows = []
    for t in result.tensors:
        status = "ok" if t.passed else ("PROBLEM" if t.problem or not _comparable(t) else "FAIL")
        ab = t.max_abs_error
        abs_cell = [] if stable else [f"{ab:.2g}" if np.isfinite(ab) else "-"]
        rows.append([t.name, "x".join(map(str, t.shape)), *[_cell(t, op, noise) for op in ops],
                     *abs_cell, t.n_kinks, status])
    parts.append(f.table(rows, ["param", "shape", *[f"{op} rel err" for op in ops],
                                *([] if stable else ["max abs err"]), "kinks", "status"], floatfmt="g"))
    for p in result.problems:
        parts.append(f.para(f"Problem: {p}"))
    bad = result.blame(n=blame, include_good=result.passed) if not stable else _shown_blame(result, blame, noise)
    if blame and bad:
        title = "Worst elements" if not result.passed else "Largest errors (all within tolerance)"
        parts.append(f.para(title + ":"))
        table = [r.row() for r in bad] if not stable else [_shown_blame_row(r, noise) for r in bad]
        parts.append(f.table(table, BLAME_HEADERS, floatfmt=".6g"))
    parts += [f.para(f"Diagnosis: {d}") for d in result.diagnosis]
    parts += [f.para(f"Note: {n}") for n in result.notes]
    parts.append(f.para(verdict_line(result, noise)))
    return "\n\n".join(parts)


def _shown_blame(result, n, noise):
    """The ``n`` worst elements that are not good, ranked by band, then by their error as shown, then in
    tensor order: round-off never decides the order (a constant factor gives every element one error)."""
    rows = [r for t in result.tensors for r in t.blame() if r.verdict != "good"]

    def badness(r):
        err = rounded_error(r.rel_err, r.abs_err, noise)
        return (-BANDS.index(r.verdict), -(err if err is not None else 0.0))

    return sorted(rows, key=badness)[:n]  # a stable sort keeps the tensor order of ties


def _shown_blame_row(r, noise):
    """A blame row with its numbers as a report shows them."""
    return [r.element, r.opinion, shown_value(r.analytic), shown_value(r.numeric, r.analytic, noise),
            f"{r.abs_err:.2g}", shown_error(r.rel_err, r.abs_err, noise), r.verdict]


def verdict_line(result, noise=None):
    """``PASS: …`` or ``FAIL: …`` in one line (``noise``: errors as a report shows them, see :func:`render_check`)."""
    if result.passed:
        floor = (f", on elements within atol={result.atol:g}, which pass by the absolute floor"
                 if result.max_rel_error > result.rtol else "")
        worst = max(result.tensors, key=lambda t: t.max_rel_error, default=None)
        err = (f"{result.max_rel_error:.2g}" if noise is None or worst is None
               else shown_error(worst.max_rel_error, worst.max_abs_error, noise))
        return (f"PASS: every gradient agrees ({', '.join(result.checked)} vs numeric; "
                f"max rel err {err}{floor})")
    failed = [t.name for t in result.tensors if not t.passed]
    unusable = [t.name for t in result.tensors if not t.passed and not _comparable(t)]
    wrong = [name for name in failed if name not in unusable]
    parts = []
    if wrong:
        parts.append(f"{', '.join(wrong)} disagree{'s' if len(wrong) == 1 else ''} with finite differences")
    if unusable:
        parts.append(f"{', '.join(unusable)} could not be compared (see the problems above)")
    return f"FAIL: {'; '.join(parts) or 'the check'}"


def _comparable(t):
    """Whether every checked opinion of ``t`` gave an array of the right shape."""
    return all(t.values.get(op) is not None and np.shape(t.values[op]) == tuple(t.shape) for op in t.checked)


def render(result, trace, fmt="text", blame=5, quiet=False):
    """Everything for one network, in ``fmt`` (not JSON: see :func:`render_json`)."""
    f = FORMATS[fmt]
    spec = result.extra["spec"]
    if quiet:
        return f.para(f"{spec.name}: {verdict_line(result)}")
    body = [f.heading(spec.name, 1), f.para(spec.describe() + (f". {spec.description}" if spec.description else "")),
            render_trace(trace, spec, fmt), render_check(result, fmt, blame)]
    return "\n\n".join(body)


def _nested(value):
    """Nested lists for JSON; NaN/Inf (from a broken impl) become null."""
    return None if value is None else json_number(np.asarray(value, dtype=float))


def result_json(result, trace, noise=None):
    """The JSON document of one run (a dict).

    ``noise``: numbers as a committed report shows them (see :func:`render_check`): values
    rounded against the backprop's, errors as their shown text ("< 1e-07", "0.5").
    """
    spec = result.extra["spec"]
    stable = noise is not None
    params = []
    for t in result.tensors:
        entry = {"name": t.name, "layer": t.layer, "kind": t.kind, "shape": list(t.shape)}
        like = t.values.get("backprop")
        for op in ("backprop", "numeric", "symbolic", "impl"):
            if op in t.values or op == "symbolic":
                value = t.values.get(op)
                entry[op] = (_nested(value) if not stable else
                             _nested_shown(value, None if op == "backprop" else like, noise))
        errs = {op: t.max_errors(op) for op in t.checked}
        if stable:
            entry.update(max_rel_error=shown_error(t.max_rel_error, t.max_abs_error, noise))
            entry["errors"] = {op: {"max_rel_error": shown_error(rel, ab, noise)} for op, (ab, rel) in errs.items()}
        else:
            entry.update(max_abs_error=json_number(t.max_abs_error), max_rel_error=json_number(t.max_rel_error))
            entry["errors"] = {op: {"max_abs_error": json_number(ab), "max_rel_error": json_number(rel)}
                               for op, (ab, rel) in errs.items()}
        entry.update(kinks=t.n_kinks, passed=t.passed, problem=t.problem)
        params.append(entry)
    keys = ["element", "checked", "analytic", "numeric", "abs_error", "rel_error", "verdict"]
    if stable:
        blame = [dict(zip(keys, _shown_blame_row(r, noise))) for r in _shown_blame(result, 10, noise)]
    else:
        blame = [dict(zip(keys, json_number([r.element, r.opinion, r.analytic, r.numeric, r.abs_err, r.rel_err,
                                             r.verdict]))) for r in result.blame(n=10)]
    loss = result.extra.get("loss")
    return {
        "name": spec.name, "source": spec.source, "passed": result.passed,
        "loss": rounded(loss) if stable and loss is not None else loss,
        "rtol": result.rtol, "atol": result.atol, "checked": list(result.checked),
        "parameters": params, "shapes": trace.to_json(), "blame": blame,
        "problems": result.problems, "diagnosis": result.diagnosis, "notes": result.notes,
        "spec": spec.to_dict(),
    }


def _nested_shown(value, like, noise):
    """Nested lists of the values as a report shows them (see :mod:`gradcheck.precision`)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=float)
    ref = np.broadcast_to(np.asarray(like, dtype=float), arr.shape) if like is not None and \
        np.shape(like) == arr.shape else None
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(*arr.shape):
        out[idx] = rounded(arr[idx], None if ref is None else ref[idx], noise)
    return json_number(out.tolist())


def render_json(runs, errors=()):
    """One JSON document: a single run's dict, or ``{"passed", "results": [...]}`` for several.

    ``errors`` are ``{"source", "error"}`` entries for inputs that could not be checked.
    """
    docs = [result_json(r, t) for r, t in runs]
    if len(docs) == 1 and not errors:
        doc = docs[0]
    else:
        doc = {"passed": all(d["passed"] for d in docs) and not errors, "results": docs + list(errors)}
    return json.dumps(doc, indent=2, ensure_ascii=False)
