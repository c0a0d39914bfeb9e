"""The loss's options in net.json: ``reduction``, ``margin`` (the hinge's Δ) and ``regularization``.

Each problem raises a one-line :class:`~gradcheck.errors.SpecError` with the key's JSON path.
"""

from __future__ import annotations

from ..catalogue.losses import LOSSES, MARGIN, REDUCTIONS
from ..catalogue.regularization import FORMS, Regularization
from ..errors import SpecError
from .keys import check_keys, kind, name, number

__all__ = ["LOSS_KEYS", "parse_loss_options"]

#: Top-level keys of net.json that configure the loss, with their defaults.
LOSS_KEYS = {"reduction": "mean", "margin": None, "regularization": None}


def parse_loss_options(raw, loss, source):
    """{"reduction", "margin", "regularization"} for the Spec, from the top-level object ``raw`` and the loss name."""
    reduction = name(raw.get("reduction", "mean"), list(REDUCTIONS), "reduction", source)
    why = LOSSES[loss].refused.get(reduction)
    if why:
        raise SpecError("reduction", f"\"{reduction}\" is not defined for {why}", source)
    margin = raw.get("margin")
    if margin is not None:
        if not LOSSES[loss].takes_margin:
            takers = " or ".join(x.name for x in LOSSES.values() if x.takes_margin)
            raise SpecError("margin", f"loss {loss} has no margin (only loss {takers} has one); drop margin", source)
        margin = number(margin, "margin", source, minimum=0, strict=True, example="1")
    reg = raw.get("regularization")
    if isinstance(reg, Regularization):  # given in Python (Spec.with_), already valid
        reg = reg.to_json()
    return {"reduction": reduction, "margin": MARGIN if margin is None else margin,
            "regularization": None if reg is None else _regularization(reg, source)}


def _regularization(raw, source):
    """``{"l2": λ, "form": "sum" | "half" | "half_n"}`` or ``{"l1": λ}``."""
    path = "regularization"
    example = '{"l2": 0.01, "form": "half"} or {"l1": 0.01}'
    if not isinstance(raw, dict):
        raise SpecError(path, f"expected an object such as {example}, got {kind(raw)}", source)
    check_keys(raw, {"l2": None, "l1": None, "form": None}, path, source)
    given = [k for k in ("l2", "l1") if k in raw]
    if len(given) != 1:
        raise SpecError(path, f"expected exactly one of l2 and l1, such as {example}, got "
                              + (" and ".join(given) if given else "neither"), source)
    which = given[0]
    lam = number(raw[which], f"{path}.{which}", source, minimum=0, strict=True, example="0.01")
    if which == "l1":
        if "form" in raw:
            raise SpecError(f"{path}.form", "only an l2 term has a form; l1 is λ·Σ |W|", source)
        return Regularization("l1", lam)
    form = name(raw.get("form", "sum"), list(FORMS), f"{path}.form", source)
    return Regularization("l2", lam, form)
