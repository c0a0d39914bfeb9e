"""Regularisation: a penalty on the weights added to the loss, C = C_data + R(θ).

    l2, form "sum":    R = λ·Σ W²          ∂R/∂W = 2λ·W
    l2, form "half":   R = ½λ·Σ W²         ∂R/∂W = λ·W
    l2, form "half_n": R = λ/(2N)·Σ W²     ∂R/∂W = (λ/N)·W      (N samples; Nielsen's network2)
    l1:                R = λ·Σ |W|         ∂R/∂W = λ·sign(W)     (kinks at W = 0)

The sums run over every *weight* param of every layer (a layer kind's
:attr:`~gradcheck.catalogue.layers.base.Layer.weights`), never over biases, γ or β; with an
augmented bias the bias line of W is left out too. Every opinion adds the same term: the
reference backprop (:func:`penalty`, :func:`penalty_grads`), finite differences (the change
:func:`change` of one element's term, and :func:`crossed` for l1's kinks), SymPy (:func:`sympy_term`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .losses import loss_of

__all__ = ["FORMS", "Regularization", "change", "coefficient", "cost_kink_texts", "cost_text", "crossed", "penalty",
           "penalty_grads", "sympy_term", "weight_entries"]

#: The forms of an l2 penalty: how λ scales λ·Σ W².
FORMS = ("sum", "half", "half_n")


@dataclass(frozen=True)
class Regularization:
    """``kind`` "l2" or "l1", strength ``lam`` (λ > 0), and for l2 its ``form`` (see the module docstring)."""

    kind: str
    lam: float
    form: str = "sum"

    @property
    def kinked(self):
        return self.kind == "l1"

    def coefficient(self, n):
        """κ with ∂R/∂W = κ·W (l2) or κ·sign(W) (l1), for N = ``n`` samples."""
        return coefficient(self, n)

    def text(self):
        """``λ·Σ W² (λ = 0.01)`` and the like: the term as it is added to C."""
        lam = f"{self.lam:g}"
        if self.kind == "l1":
            return f"λ·Σ |W| (λ = {lam})"
        return {"sum": "λ·Σ W²", "half": "½λ·Σ W²", "half_n": "λ/(2N)·Σ W²"}[self.form] + f" (λ = {lam})"

    def grad_text(self):
        """How ∂R/∂W is written in the shape trace."""
        if self.kind == "l1":
            return "lam * np.sign(W)"
        return {"sum": "2 * lam * W", "half": "lam * W", "half_n": "lam / N * W"}[self.form]

    def to_json(self):
        return {"l1": self.lam} if self.kind == "l1" else {"l2": self.lam, "form": self.form}


def cost_text(spec):
    """``svm: C = 1/N Σ_n … + ½λ·Σ W² (λ = 0.05)``: the spec's loss with its reduction, margin and regularisation."""
    text = f"{spec.loss}: C = {loss_of(spec).formula}"
    if spec.reduction != "mean":
        text += f" (reduction {spec.reduction})"
    reg = spec.regularization
    return text if reg is None else f"{text} + {reg.text()}, over the weights"


def cost_kink_texts(spec):
    """What of the loss and its regularisation term is not differentiable everywhere, in words (() where smooth)."""
    out = (loss_of(spec).kink_text,) if loss_of(spec).kinked else ()
    reg = spec.regularization
    return out + (("l1 at a weight of 0",) if reg is not None and reg.kinked else ())


def coefficient(reg, n):
    if reg.kind == "l1":
        return reg.lam
    return {"sum": 2.0 * reg.lam, "half": reg.lam, "half_n": reg.lam / n}[reg.form]


def weight_entries(spec):
    """[(layer, key, mask or None)] of every penalised param: each layer kind's ``weights``; ``mask`` leaves out the
    bias line of an augmented W."""
    return [(ly.index, key, ly.weight_mask(key, spec.conv, spec.bias)) for ly in spec.layers for key in ly.weights]


def _masked(W, mask):
    return W if mask is None else np.where(mask, W, 0.0)


def penalty(spec, params, n):
    """R(θ) for N = ``n`` samples (0.0 without regularisation)."""
    reg = spec.regularization
    if reg is None:
        return 0.0
    total = 0.0
    for layer, key, mask in weight_entries(spec):
        W = _masked(params[layer][key], mask)
        total += float(np.sum(np.abs(W))) if reg.kind == "l1" else float(np.sum(W * W))
    return reg.lam * total if reg.kind == "l1" else coefficient(reg, n) / 2 * total


def penalty_grads(spec, params, n):
    """[{key: ∂R/∂W}] per layer for the penalised params (empty dicts without regularisation)."""
    reg = spec.regularization
    out = [{} for _ in spec.layers]
    if reg is None:
        return out
    kappa = coefficient(reg, n)
    for layer, key, mask in weight_entries(spec):
        W = _masked(params[layer][key], mask)
        out[layer][key] = kappa * (np.sign(W) if reg.kind == "l1" else W)
    return out


def change(reg, w, delta, n):
    """R's change when an element w moves by ``delta`` (elementwise; a forward evaluation of its one term)."""
    if reg.kind == "l1":
        return reg.lam * (np.abs(w + delta) - np.abs(w))
    return coefficient(reg, n) / 2 * (delta * (2 * w + delta))


def crossed(reg, w, delta):
    """Whether moving w by ``delta`` crosses a kink of R (l1 at W = 0), elementwise."""
    if reg.kind != "l1":
        return np.zeros(np.shape(delta), dtype=bool)
    return np.sign(np.real(w + delta)) != np.sign(np.real(w))


def sympy_term(reg, weights, N, lam):
    """R in SymPy for the weight symbols ``weights`` (a flat list), the symbol N and λ's symbol ``lam``."""
    import sympy as sp

    if reg.kind == "l1":
        return lam * sp.Add(*[sp.Abs(w) for w in weights])
    squares = sp.Add(*[w ** 2 for w in weights])
    return {"sum": lam * squares, "half": lam * squares / 2, "half_n": lam * squares / (2 * N)}[reg.form]
