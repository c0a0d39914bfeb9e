"""Derivation reports: one document per network, from the local fact to every gradient element.

A report walks a reader (a teacher preparing worked derivations, a learner checking one
by hand) through one network:

1. the network: its description, the net.json keys, the parameter and data values;
2. the shape trace (:func:`gradcheck.render.trace.trace_blocks`);
3. the local fact SymPy derives, ∂z_i/∂w_jk = [i=j]·x_k, and its chain-rule consequence
   ∂C/∂w_jk = Σ_i δ_i [i=j] x_k = δ_j x_k (:func:`gradcheck.symbolic.derive.local_fact`); for a
   convolution ∂z_{f,i,j}/∂W_{f',c,p,q} = [f = f']·x_{c, i·S+p−P, j·S+q−P}, and where a
   pooling window sends its gradient (:mod:`gradcheck.render.facts`);
4. the forward equations, the cost, and the δ's: chain rule, SymPy's factors, the result;
5. one row per parameter element: chain-rule form, expanded form, and the three values
   (SymPy, reference backprop, finite differences) with their agreement;
6. the check summary (:func:`gradcheck.render.results.check_blocks`).

Formats: Markdown (maths as GitHub's inline ``$`…`$`` and ```` ```math ```` blocks),
standalone HTML (SymPy's presentation MathML: renders offline, no script, no font, no
URL fetched), LaTeX (a full booktabs document for pdflatex) and JSON. Reports hold no
timestamp, timing or machine path, so regenerating them gives the same bytes::

    python -m gradcheck derivations/*.json --report reports --quiet   # the CLI
    python -m gradcheck.reports.files --check                          # CI: exit 1 if reports/ is stale
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import sympy as sp

from ..errors import GradcheckError
from ..render import FORMATS, REPORT_FORMATS, Code, Document, Equations, Heading, Para, Table, get_format
from ..render.elements import element_blocks, element_label, element_rows
from ..render.facts import layer_fact_blocks, layer_facts_json
from ..render.jsondoc import result_json
from ..render.mathprint import COMMA, DOT, EQ, LP, PLUS, RP, Math, Partial, Prime, to_latex, to_text
from ..render.mathprint import maths as _m
from ..render.network import network_blocks
from ..render.precision import json_number, noise_level, rounded, shown_error
from ..render.results import check_blocks
from ..render.trace import trace_blocks

__all__ = ["REPORT_FORMATS", "EXTENSIONS", "build_report", "report_document", "report_json", "report_content"]


#: The formats a report is written in, and their file extensions.
EXTENSIONS = {f: FORMATS[f].extension for f in REPORT_FORMATS}


# -- the content ------------------------------------------------------------------------

def _fact_blocks(spec, trace, fact):
    i, j, k = fact.indices
    S = sp.Symbol
    z_i, w_jk, C = S("z_i"), S("w_jk"), S("C")
    zb = sp.IndexedBase("z")
    m = S("m", integer=True, positive=True)
    chain = sp.Sum(fact.delta[i] * Partial(zb[i], w_jk), (i, 0, m - 1))
    rows = [(Math(Partial(z_i, w_jk)), Math(sp.Derivative(fact.z, fact.w[j, k]), EQ, fact.rhs)),
            (Math(Partial(C, w_jk)), Math(chain, EQ, fact.chain_sum, EQ, fact.chain_rhs))]
    i_is_j = _m(i, EQ, j)
    where = [f"In this network ({spec.convention} convention) {spec.conv.weight_entry} holds ", _m(w_jk)]
    if spec.bias.in_weights:
        where += [", and the last input is the constant ", _m(1), ", so the bias weight's gradient is ", _m("delta_j")]
    blocks = [
        Heading("The local fact", 2),
        Para(["SymPy differentiates the weighted input of unit ", _m(i), ", ", _m(z_i, EQ, fact.z),
              " (", _m("n"), " inputs, ", _m(m), " units), with respect to one weight ", _m(w_jk),
              " (symbolic.local_fact). Only unit ", _m(j), "'s weighted input contains that weight, so the "
              "derivative is the input ", _m("x_k"), " when ", i_is_j, " and 0 otherwise: the bracket ",
              _m(sp.KroneckerDelta(i, j)), " is 1 or 0. The chain rule sums over the units with ",
              _m(S("delta_i"), EQ, Partial(C, z_i)), ", and only the term ", i_is_j, " survives:"]),
        Equations(rows),
        Para(["So ", _m(Partial(C, w_jk)), " pairs the δ of the layer's output unit ", _m(j),
              " with the layer's input ", _m("x_k"), " (", _m("a^(l-1)_k"), " above the first layer), and ",
              _m(Partial(C, S("b_j")), EQ, S("delta_j")), " because ",
              _m(Partial(z_i, S("b_j")), EQ, sp.KroneckerDelta(i, j)), ". ", *where,
              "; summed over a batch, the shape trace's weight-gradient steps read:"]),
    ]
    dws = [f"layer {s.layer}: {s.equation()}" for s in trace.steps("backward") if s.name == "dW"]
    blocks.append(Code("\n".join(dws)))
    return blocks


def _prime_symbol(ly):
    return sp.Symbol(ly.activation)


def _delta_rows(spec, d):
    """(δ, chain rule, ∂C/∂a, ∂a/∂z, δ as derived) per unit, output layer first."""
    rows = []
    C = sp.Symbol("C")
    for li in reversed(range(len(spec.layers))):
        ly = spec.layers[li]
        elementwise = ly.act.derivative is not None
        back = {} if elementwise else {d.forward[am]: am for am in d.a[li]}
        # ∂C/∂a as the derivation's backward pass carried it down: not derived again here
        da = [d.da[am] for am in d.a[li]] if li == len(spec.layers) - 1 else d.carried[li]
        for jj, (zj, aj, dj) in enumerate(zip(d.z[li], d.a[li], d.delta[li])):
            if not ly.has_activation:  # a = z: δ is ∂C/∂a itself
                chain = Math(Partial(C, aj)) if li == len(spec.layers) - 1 else Math(da[jj])
                dadz, dca = Math(sp.S.One), Math(da[jj])
            elif elementwise:
                if li == len(spec.layers) - 1:
                    chain = Math(Partial(C, aj), DOT, Prime(_prime_symbol(ly), zj))
                else:
                    chain = Math(LP, da[jj], RP, DOT, Prime(_prime_symbol(ly), zj))
                dadz = Math(sp.diff(d.forward[aj], zj))
                dca = Math(da[jj])
            else:
                terms = []
                for m, am in enumerate(d.a[li]):
                    terms += [PLUS] if m else []
                    terms += [Partial(C, am), DOT, Partial(am, zj)]
                chain = Math(*terms)
                dca = Math(sp.Tuple(*da))
                dadz = Math(sp.Tuple(*[sp.diff(d.forward[am], zj).xreplace(back) for am in d.a[li]]))
            rows.append((li, jj, dj, chain, dca, dadz, Math(d.deltas[dj])))
    return rows


def _derivation_blocks(spec, d, delta_rows):
    from ..catalogue.activations import sigmoid

    _sig = sigmoid(sp.Symbol("z"))
    N = spec.n_samples
    fw = [(Math(s), Math(e)) for s, e in d.forward.items()]
    cost = [(Math(sp.Symbol("C_n")), Math(d.loss))]
    cost += [(Math(Partial(sp.Symbol("C_n"), a)), Math(g)) for a, g in d.da.items()]
    L = len(spec.layers) - 1
    dL, aL, zL = sp.Symbol("delta^(L)_j"), sp.Symbol("a^(L)_j"), sp.Symbol("z^(L)_j")
    dl, zl = sp.Symbol("delta^(l)_j"), sp.Symbol("z^(l)_j")
    i = sp.Symbol("i")
    w_next = sp.Symbol(f"w^(l+1)_{spec.conv.next_weight}")
    sigma = sp.Symbol("σ")
    generic = [(Math(dL), Math(Partial(sp.Symbol("C"), aL), DOT, Prime(sigma, zL)))]
    if L > 0:
        generic.append((Math(dl), Math(LP, sp.Sum(w_next * sp.Symbol("delta^(l+1)_i"), (i, 0, sp.Symbol("m") - 1)),
                                       RP, DOT, Prime(sigma, zl))))
    blocks = [
        Heading("Forward pass and cost", 2),
        Para(["Symbols: inputs ", _m("x_k"), ", targets ", _m("y_k"), "; layer ", _m("l"), " has weights ",
              _m("w^(l)_jk"), ", biases ", _m("b^(l)_j"), ", weighted inputs ", _m("z^(l)_j"), " and activations ",
              _m("a^(l)_j"), f" (layers and indices count from 0; the output layer is L = {L}). The cost is ",
              _m(sp.Symbol("C"), EQ, sp.Sum(sp.Symbol("C_n"), (sp.Symbol("n"), 0, N - 1))),
              f" over the N = {N} samples: every formula below is for one sample, and the values in the element "
              "table are summed over the samples."]),
        Equations(fw + cost),
        Heading("Error terms δ = ∂C/∂z (backpropagation)", 2),
        Para(["The chain rule, from the output layer down (", _m("sigma"), " stands for the layer's activation, ",
              _m("m"), " for the number of units of layer ", _m(sp.Symbol("l") + 1), "):"]),
        Equations(generic),
        Para(["SymPy differentiates each factor of the local expressions (", _m(Prime(sp.Symbol("σ"), sp.Symbol("z"))),
              " comes out in the textbook forms ", _m(_sig * (1 - _sig)), " and ", _m(1 - sp.tanh(sp.Symbol("z")) ** 2),
              ") and multiplies them:"
              ] + ([" for softmax the Jacobian is not diagonal, so ", _m("delta_j"), " sums over every output ",
                    _m("m"), "."] if any(ly.act.derivative is None for ly in spec.layers) else [])),
    ]
    rows = []
    for _li, _jj, dj, chain, dca, dadz, derived in delta_rows:
        rows.append([Math(dj), *[Math(*m.parts, wrap=True) for m in (chain, dca, dadz, derived)]])
    kinds = {ly.act.derivative is not None for ly in spec.layers}
    local = ([Prime(sp.Symbol("σ"), sp.Symbol("z"))] if True in kinds else []) + ([COMMA] if len(kinds) == 2 else [])
    local += [Partial(sp.Symbol("a_m"), sp.Symbol("z_j"))] if False in kinds else []
    heads = [Math(sp.Symbol("delta")), "chain rule", Math(Partial(sp.Symbol("C_n"), sp.Symbol("a"))), Math(*local),
             "δ as derived"]
    blocks.append(Table(heads, rows,
                        ["left"] * 5, [None, 4.2, 5.2, 4.5, 6.2],  # cm
                        long=True, small=True))
    return blocks


def _derive(result):
    """The check's own derivation if it ran SymPy, else a new one (None when SymPy would not run)."""
    from ..symbolic.derive import derive, should_run

    if result.derivation is not None:
        return result.derivation
    spec = result.spec
    run, _ = should_run(spec, "auto")  # too many parameters, or a layer kind without a SymPy form yet
    return derive(spec, expand="auto") if run else None


@dataclass
class _Content:
    """What a report of ``result`` shows, derived once for every format; a format writes it from its
    ``document()`` (blocks, built once) or its ``json()``."""

    result: object
    fact: object
    derivation: object
    delta_rows: list
    noise: float  # round-off level of the gradient values (see gradcheck.render.precision)
    blocks: object = None  # the report as a Document, built once for every format

    @property
    def spec(self):
        return self.result.spec

    def document(self):
        if self.blocks is None:
            self.blocks = report_document(self.result, self)
        return self.blocks

    def json(self):
        return report_json(self.result, self)


def report_content(result):
    from ..symbolic.derive import local_fact

    d = _derive(result)
    noise = noise_level(t.values["backprop"] for t in result.tensors if t.values.get("backprop") is not None)
    return _Content(result, local_fact(), d, _delta_rows(result.spec, d) if d is not None else [], noise)


def _why_not(spec):
    from ..symbolic.derive import should_run

    return should_run(spec, "auto")[1].replace("symbolic check skipped: ", "")


def _title(spec):
    return f"Derivation report: {spec.name}"


def build_report(result, fmt, content=None):
    """The report of one checked network (``result`` from :func:`~gradcheck.checks.network.check_network`) as a string.

    ``fmt`` is "markdown", "html", "latex" or "json". The blocks are built once per
    ``content`` (see :func:`report_content`) and written by each format.
    """
    if fmt not in EXTENSIONS:
        raise GradcheckError(f"report format must be one of {', '.join(REPORT_FORMATS)}, got {fmt!r}")
    return get_format(fmt).report(content or report_content(result))


def report_document(result, c):
    """The report as a :class:`~gradcheck.render.document.Document` of blocks."""
    spec, d, trace = c.spec, c.derivation, result.trace
    blocks = []
    intro = [spec.description] if spec.description else []
    intro.append(spec.describe() + ". " + (
        "A checked derivation: every gradient element is derived by SymPy, computed by the reference backprop "
        "and estimated by finite differences." if d is not None else
        "The per-element SymPy derivation does not cover this network (" + _why_not(spec) + "); the check "
        "below covers it."))
    blocks += [Para([p]) for p in intro]
    blocks += network_blocks(spec, result)
    blocks += trace_blocks(trace, spec.n_samples)
    blocks += _fact_blocks(spec, trace, c.fact)
    blocks += layer_fact_blocks(spec)  # convolution and pooling, where the network has them
    if d is not None:
        blocks += _derivation_blocks(spec, d, c.delta_rows)
    blocks += element_blocks(spec, d, result, c.noise)[0]
    blocks += check_blocks(result, noise=c.noise)
    return Document(_title(spec), blocks)


def report_json(result, content=None):
    """The JSON document of a report (a dict)."""
    c = content or report_content(result)
    spec, d, fact = c.spec, c.derivation, c.fact
    check = result_json(result, noise=c.noise)
    check["source"] = os.path.basename(spec.source) if spec.source else None
    doc = {
        "name": spec.name, "title": _title(spec), "description": spec.description, "summary": spec.describe(),
        "spec": spec.to_dict(), "shapes": result.trace.to_json(),
        "local_fact": {
            "text": (f"z_i = {to_text(fact.z)}; dz_i/dw_jk = {to_text(fact.rhs)}; "
                     f"dC/dw_jk = {to_text(fact.chain_sum)} = {to_text(fact.chain_rhs)}"),
            "dz_dw": {"text": to_text(fact.rhs), "latex": to_latex(fact.rhs)},
            "dC_dw": {"text": f"{to_text(fact.chain_sum)} = {to_text(fact.chain_rhs)}",
                      "latex": f"{to_latex(fact.chain_sum)} = {to_latex(fact.chain_rhs)}"},
            "z": {"text": to_text(fact.z), "latex": to_latex(fact.z)},
            "latex": (rf"\frac{{\partial z_i}}{{\partial w_{{jk}}}} = {to_latex(fact.rhs)}, \qquad "
                      rf"\frac{{\partial C}}{{\partial w_{{jk}}}} = {to_latex(fact.chain_sum)} "
                      rf"= {to_latex(fact.chain_rhs)}"),
        },
    }
    doc.update(layer_facts_json(spec))
    if d is not None:
        doc["forward"] = [{"symbol": to_text(s), "text": to_text(e), "latex": to_latex(e)}
                          for s, e in d.forward.items()]
        doc["loss"] = {"text": to_text(d.loss), "latex": to_latex(d.loss)}
        doc["loss_gradient"] = [{"symbol": to_text(a), "text": to_text(g), "latex": to_latex(g)}
                                for a, g in d.da.items()]
        doc["deltas"] = [{"symbol": to_text(dj), "layer": li, "unit": jj, "chain_rule": chain.as_json(),
                          "dC_da": dca.as_json(), "da_dz": dadz.as_json(), "derived": derived.as_json()}
                         for li, jj, dj, chain, dca, dadz, derived in c.delta_rows]
        doc["expanded"] = bool(d.expanded)
    else:
        doc.update(forward=None, loss=None, loss_gradient=None, deltas=None, expanded=False)
    elements = []
    for row in element_rows(spec, d, result):
        e, name, idx = row.element, row.name, row.index
        entry = {"element": element_label(name, idx), "name": name, "index": list(idx)}
        if e is not None:
            entry.update(layer=e.layer, kind=e.kind, unit=e.unit, input=e.input,
                         symbol={"text": to_text(e.symbol), "latex": to_latex(e.symbol)},
                         local={"text": to_text(e.local), "latex": to_latex(e.local)},
                         chain_rule={"text": to_text(e.chain_rule), "latex": to_latex(e.chain_rule)},
                         expanded=None if e.expanded is None else {"text": to_text(e.expanded),
                                                                   "latex": to_latex(e.expanded)})
        like = row.values.get("backprop")
        for op in ("symbolic", "backprop", "numeric", "impl"):
            if op in row.values or op != "impl":
                entry[op] = rounded(row.values.get(op), None if op == "backprop" else like, c.noise)
        entry.update(verdicts=row.verdicts, agreement=row.agreement,
                     max_rel_diff=shown_error(row.max_rel_diff, row.max_abs_diff, c.noise))
        elements.append(entry)
    doc["elements"] = elements
    doc["check"] = check
    return json_number(doc)
