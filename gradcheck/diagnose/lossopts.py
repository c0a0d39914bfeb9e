"""Gradients that are right for other loss options: another reduction, a regularisation term of another form, none.

* **reduction**: the user's gradients are the reference's under another ``"reduction"``
  (a summed loss where the spec averages, Nielsen's per-sample sum where it averages over
  every output): "your gradients are N=6 times the spec's: did you mean "reduction": "sum"?";
* **regularisation**: the user's gradients are the data's share of the reference's plus
  μ·W (l2) or μ·sign(W) (l1) in every weight, with one μ, and μ is not the spec's:
  a term of another form ("your dW has 2λW: the gradient of λΣW², but the spec's form is
  half"), a term left out ("dW lacks the regularisation term λW"), or one the spec does not
  have.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..catalogue import LOSSES
from ..catalogue.losses import REDUCTIONS
from ..catalogue.regularization import FORMS, Regularization, coefficient, weight_entries
from ..reference.backprop import backprop
from .factors import ratio, same
from .mistake import close
from .search import flat, samples

__all__ = ["loss_options"]

#: How each l2 form's gradient and term are written in sentences.
GRADIENT = {"sum": "2λW", "half": "λW", "half_n": "(λ/N)W"}
TERM = {"sum": "λΣW²", "half": "½λΣW²", "half_n": "λ/(2N)ΣW²"}


def loss_options(spec, params, X, Y, user, reference):
    """(sentences naming the loss option the user's gradients (right shapes, lists of dicts) were computed with,
    whether they say all): a regularisation term, or any option of a spec with one, says all; another reduction
    of a spec without one is said beside the rest of the diagnosis (a constant factor, another loss)."""
    said = _reduction(spec, params, X, Y, user, reference)
    if said:
        return said, spec.regularization is not None
    said = _regularization(spec, params, X, Y, user)
    return said, bool(said)


def _reduction(spec, params, X, Y, user, reference):
    u, r = flat(user, params), flat(reference, params)
    data = backprop(replace(spec, regularization=None), params, X, Y)[1]
    n = samples(spec, X)
    for other in REDUCTIONS:
        if other == spec.reduction or other in LOSSES[spec.loss].refused:
            continue
        alt = replace(spec, reduction=other)
        g = flat(backprop(alt, params, X, Y)[1], params)
        if close(g, r) or not close(u, g):
            continue
        factor = ratio(flat(backprop(replace(alt, regularization=None), params, X, Y)[1], params), flat(data, params))
        return [f"your gradients are {_times(factor, n, spec.output)} the spec's: did you mean "
                f"\"reduction\": \"{other}\"?"]
    return []


def _times(f, n, k):
    """"N=6 times", "1/N = 1/6 of", "N·K=12 times", or the number."""
    if f is None:
        return "not"
    for label, value in (("N", n), ("K", k), ("N·K", n * k)):
        if value > 1 and same(f, value):
            return f"{label}={value} times"
        if value > 1 and same(f, 1 / value):
            return f"1/{label} = 1/{value} of"
    return f"{f:.6g} times"


def _regularization(spec, params, X, Y, user):
    """The sentence for gradients that are the data's plus μ·W (or μ·sign(W)) with a μ other than the spec's."""
    data = backprop(replace(spec, regularization=None), params, X, Y)[1]
    entries = {(layer, key): mask for layer, key, mask in weight_entries(spec)}
    if not entries:
        return []
    reg, n = spec.regularization, samples(spec, X)
    kind = reg.kind if reg is not None else "l2"
    mus = []
    for layer, p in enumerate(params):
        for key in user[layer]:
            if key not in p or (layer, key) in entries:
                continue
            if not close(np.ravel(user[layer][key]), np.ravel(data[layer][key])):
                return []  # a param the term does not touch is wrong: not this mistake
    for (layer, key), mask in entries.items():
        W = params[layer][key] if mask is None else np.where(mask, params[layer][key], 0.0)
        basis = np.sign(W) if kind == "l1" else W
        u, d = np.ravel(user[layer][key]), np.ravel(data[layer][key])
        mu = 0.0 if close(u, d) else ratio(u - d, np.ravel(basis))  # the data's gradient alone: no term
        if mu is None:
            return []
        mus.append(mu)
    mu = mus[0]
    if not all(same(m, mu) or abs(m - mu) <= 1e-12 * max(abs(mu), 1.0) for m in mus):
        return []
    kappa = 0.0 if reg is None else coefficient(reg, n)
    if same(mu, kappa) or (abs(mu) <= 1e-12 and kappa == 0.0):
        return []
    return [_sentence(reg, mu, kappa, n)]


def _sentence(reg, mu, kappa, n):
    if reg is None:
        return (f"every dW has an extra λ·W with λ = {mu:.6g}: the gradient of a regularisation term ½λ·Σ W² the spec "
                f"does not have; if your loss has one, say so in the spec: \"regularization\": {{\"l2\": {mu:.6g}, "
                f"\"form\": \"half\"}} (or {{\"l2\": {mu / 2:.6g}, \"form\": \"sum\"}}, CS231n's reg·Σ W²)")
    if abs(mu) <= 1e-12 * max(abs(kappa), 1.0):
        grad = "λ·sign(W)" if reg.kind == "l1" else GRADIENT[reg.form]
        return (f"dW lacks the regularisation term {grad}: the gradient of {reg.text()}, which the "
                "spec adds to C; add it to every weight's gradient (never to a bias)")
    if reg.kind == "l2":
        for form in FORMS:
            if form != reg.form and same(mu, coefficient(Regularization("l2", reg.lam, form), n)):
                return (f"your dW has {GRADIENT[form]}: the gradient of {TERM[form]}, but the spec's form is "
                        f"{reg.form} ({TERM[reg.form]}, whose gradient is {GRADIENT[reg.form]}; λ = {reg.lam:g}, "
                        f"N = {n})")
    return (f"your dW has {mu:.6g}·{'sign(W)' if reg.kind == 'l1' else 'W'} from the regularisation term, where the "
            f"spec's {reg.text()} gives {kappa:.6g}·{'sign(W)' if reg.kind == 'l1' else 'W'}")
