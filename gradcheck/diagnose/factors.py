"""A constant factor between the user's gradients and the true ones, explained once.

Gradients that are c × the true ones (for every tensor) have one cause that a number
alone cannot always tell: another loss whose ∂C/∂a is c times the spec's (both are
named where two coincide, the one that does not need a coincidence of N or K first), a
flipped sign (``y − a``), N or K (a sum where the loss averages, or the other way
round), 2, or a learning rate. :func:`explain` says every reading that fits.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..catalogue.losses import loss_of, other_losses
from ..reference.backprop import loss_frame, unrows
from .mistake import close

__all__ = ["explain", "ratio", "same", "scale"]


def scale(u, p):
    """c with u = c·p, or None if u is not a multiple of p (c = None also when p is 0 and u is not)."""
    pp = float(p @ p)
    if pp == 0.0:
        return 1.0 if not np.any(u) else None
    c = float(u @ p) / pp
    return c if c != 0.0 and close(u, c * p) else None


def ratio(x, y):
    """r with x = r·y, or None."""
    x, y = np.ravel(x), np.ravel(y)
    yy = float(y @ y)
    if yy == 0:
        return None
    r = float(x @ y) / yy
    return r if close(x, r * y) else None


def same(x, y):
    """Whether two numbers agree to 1e-6 relative."""
    return x is not None and y is not None and abs(x - y) <= 1e-6 * max(abs(x), abs(y))


def explain(spec, c, a, Y):
    """Sentences explaining gradients that are c × the true ones, for output ``a`` and targets ``Y``.

    Another loss whose ∂C/∂a is c times the spec's is named first (both where two
    coincide). Otherwise the factor is stated with every reading that fits it (N, K,
    2, a learning rate), since a number alone cannot tell them apart.
    """
    here = loss_of(spec)  # with the spec's reduction
    n, k, _, rows = loss_frame(spec, a)
    g = unrows(spec, here.grad(rows(a), rows(Y), n, k), a.shape)
    m = abs(c)
    sign = ("the sign is flipped: you return −∂C/∂θ (e.g. from the error y − a, target minus output); "
            "return +∂C/∂θ and let the update subtract it")
    if same(m, 1.0):
        return [sign] if c < 0 else []
    alts = []
    a, Y = rows(a), rows(Y)
    for other in other_losses(spec):
        if same(ratio(unrows(spec, other.grad(a, Y, n, k), g.shape), g), m):
            # Does the match hold whatever K (and N) is? A match that needs this K is the less likely one.
            keeps_k = same(ratio(other.grad(a, Y, n, k + 1), here.grad(a, Y, n, k + 1)), m)
            keeps_n = same(ratio(other.grad(a, Y, n + 1, k), here.grad(a, Y, n + 1, k)), m)
            alts.append((not keeps_k, not keeps_n, other, keeps_k, keeps_n))
    if alts:
        alts.sort(key=lambda t: t[:2])
        main = alts[0][2]
        text = f"you differentiated the {main.name} loss (C = {main.formula}, ∂C/∂a = {main.grad_formula})"
        for _, _, other, keeps_k, keeps_n in alts[1:]:
            when = f"K={k} outputs" if not keeps_k else (f"N={n} samples" if not keeps_n else "this network")
            text += f" — with {when} the {other.name} loss (C = {other.formula}) has the same gradient —"
        loss_line = f"{text} but the spec's loss is {here.name} (C = {here.formula}, ∂C/∂a = {here.grad_formula})"
        return [sign, loss_line] if c < 0 else [loss_line]
    g = rows(g)
    has_n = same(ratio(here.grad(a, Y, n + 1, k), g), n / (n + 1))
    has_k = same(ratio(here.grad(a, Y, n, k + 1), g), k / (k + 1))
    steps = spec.output_shape[0] if len(spec.output_shape) == 2 else 1
    readings = _readings(m, (n, k, steps), has_n, has_k, here.name)
    text = f"every element is {c:.6g} × the true gradient, a constant factor: "
    if c < 0:
        text += sign + f"; and {m:.6g} × in size: "
    return [text + " — or — ".join(readings)]


def _readings(m, sizes, has_n, has_k, loss):
    """Every simplest reading of a factor m (> 0): N, K, the T steps of a per-step output and 2 taken apart, and a
    learning rate unless it is N alone; ``sizes`` is (N, K, T)."""
    n, k, t = sizes
    parts = {
        ("T", t): f"T={t} times too large: a factor of the T steps the {loss} loss does not have",
        ("T", 1 / t): (f"T={t} times too small: you averaged over the T steps too, but a per-step loss sums over the "
                       "steps and averages over the N samples only"),
        ("N", n): (f"N={n} times too large: the {loss} loss averages over the N samples, so divide the summed "
                   "per-sample gradients by N" if has_n else
                   f"N={n} times too large: a factor N the {loss} loss does not have"),
        ("N", 1 / n): (f"N={n} times too small: divided by N twice (∂C/∂a of {loss} already holds the 1/N)"
                       if has_n else f"N={n} times too small: you averaged over the N samples but the {loss} loss "
                       "sums over them"),
        ("K", k): (f"K={k} times too large: {loss} averages over all N·K outputs, so ∂C/∂a has 1/(N·K)" if has_k
                   else f"K={k} times too large: a factor K the {loss} loss does not have"),
        ("K", 1 / k): (f"K={k} times too small: divided by K twice" if has_k else
                       f"K={k} times too small: you averaged over the K outputs but the {loss} loss sums over them"),
        ("2", 2.0): "2× too large: a factor 2 the loss does not have (the ½ in ½(a − y)² cancels the 2 of the square)",
        ("2", 0.5): "half the true value: the 2 of d(a − y)²/da = 2(a − y) is missing",
    }
    usable = [(key, text) for key, text in parts.items()
              if not (key[0] == "N" and n == 1) and not (key[0] == "K" and k == 1) and not (key[0] == "T" and t == 1)]
    found = []
    for size in (1, 2, 3):
        for combo in itertools.combinations(usable, size):
            if len({key[0] for key, _ in combo}) == size and same(float(np.prod([key[1] for key, _ in combo])), m):
                found.append(combo)
        if found:
            break
    readings = ["; and ".join(text for _, text in combo) for combo in found]
    if not (len(found) == 1 and len(found[0]) == 1 and found[0][0][0][0] == "N"):
        readings.append(f"a learning-rate-scaled update η·∇C with η = {m:.6g} returned instead of the gradient ∇C")
    return readings
