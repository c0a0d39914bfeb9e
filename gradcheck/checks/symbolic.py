"""SymPy's opinion in a network's check: derived and evaluated, and weighed where it alone disagrees.

SymPy's forms are evaluated in float64, node by node in an order of their own. Where the reference backprop and
the finite differences, independent of each other, agree and SymPy alone does not, its value is judged unless its
float64 evaluation is shown not to be the value of its forms: NumPy met an overflow on the way, an ulp's move of
the inputs moves it beyond the tolerance, or the same forms evaluated to :data:`EXACT_PRECISIONS` digits from the
same numbers give another value. A wrong derivation is wrong in its forms, at any precision: it is still judged.
"""

from __future__ import annotations

import numpy as np

from ..judge.bands import beyond, outvoted
from ..judge.tolerances import tolerance
from ..reference.rounding import EPS, random_signs, ulp_moved

__all__ = ["EXACT_PRECISIONS", "EXACT_ELEMENTS", "SYMPY_PROBES", "symbolic_stage", "sympy_alone"]

#: How many times SymPy's forms are evaluated again at inputs one ulp away, to measure their own rounding where
#: their values alone disagree.
SYMPY_PROBES = 2
#: At most this many elements where SymPy alone disagrees are evaluated exactly (sample by sample through SymPy's
#: own arithmetic: milliseconds each); the others are judged as they are.
EXACT_ELEMENTS = 64
#: The digits of the exact evaluation, and the fewer it must agree with (a form whose value still moves between
#: the two is not known exactly either).
EXACT_PRECISIONS = (60, 30)


def symbolic_stage(s, opts):
    """SymPy's opinion, when ``symbolic`` asks for it and the network is within its reach."""
    if opts.symbolic == "off":
        return
    if s.spec.symbolic_gap():
        s.notes.append(s.spec.symbolic_gap())  # decided without loading SymPy
        return
    from ..symbolic.reach import should_run  # decided before SymPy is imported (a skipped net never loads it)

    run, reason = should_run(s.spec, opts.symbolic)
    if not run:
        s.notes += [reason] if reason else []
        return
    from ..symbolic.derive import derive

    # Derived once: a derivation report of this result reuses it (its expanded forms written out if it asks).
    s.derivation = derive(s.spec, expand="auto", deferred=True)
    sympy_says = s.derivation.opinion(s.params, s.X, s.Y, s.reference)
    s.opinions["symbolic"], s.unevaluated = sympy_says.grads, sympy_says.skipped
    s.notes += [sympy_says.note] if sympy_says.note else []
    s.sympy_met = sympy_says.met


def sympy_alone(s, opts):
    """Leave SymPy's values unjudged where they alone disagree (the reference backprop and the finite differences
    agree within the tolerance, the difference's bound and the rounding a correct backprop is allowed, and SymPy's
    value does not) and its float64 evaluation is not the value of its forms there: they overflowed on the way
    (NumPy met it), or its value moves by more than the tolerance when the params and inputs move by an ulp (sums
    of terms of 1e39 that cancel left it 1.5 where the gradient is 0), or the forms evaluated exactly give another
    value (a batchnorm over values alike to their last digits under a weight of 7.5e14: −3e-4 in float64, 18,875
    exactly, where a float64 forward pass and its backprop give 29.5). Elsewhere a disagreeing value is judged.
    True if any element was left unjudged, with a note naming them."""
    atol = opts.atol or 0.0
    sympy, numeric = s.opinions["symbolic"], s.numeric
    if not any(beyond(g, numeric.grads[layer][kind], opts.rtol, atol, bound=numeric.bounds[layer][kind]).any()
               for layer, grads in enumerate(sympy) for kind, g in grads.items()):
        return False  # SymPy agrees with the differences everywhere: the common case, decided at once
    allowed = s.backprop_rounding()  # where the reference agrees only with the rounding it is allowed
    lone = [{kind: outvoted(np.asarray(g, float), s.reference[layer][kind], numeric.grads[layer][kind], opts.rtol,
                            atol + tolerance().rounding(allowed[layer][kind]), bound=numeric.bounds[layer][kind])
             for kind, g in grads.items()} for layer, grads in enumerate(sympy)]
    if not any(m.any() for layer in lone for m in layer.values()):
        return False
    whys = []
    if s.sympy_met:
        whys.append(f"{', '.join(sorted(s.sympy_met))} on the way")
    else:
        spread = _spread(s)
        still = [{kind: spread[layer][kind] <= opts.rtol * np.abs(np.asarray(g, float)) + atol
                  for kind, g in grads.items()} for layer, grads in enumerate(sympy)]
        moved = [{kind: mask & ~still[layer][kind] for kind, mask in masks.items()} for layer, masks in enumerate(lone)]
        if any(m.any() for layer in moved for m in layer.values()):
            whys.append("its values moving beyond the tolerance when the inputs move by an ulp")
        rest = [{kind: mask & ~moved[layer][kind] for kind, mask in masks.items()} for layer, masks in enumerate(lone)]
        exact = _not_exact(s, opts, rest)
        if any(m.any() for layer in exact for m in layer.values()):
            whys.append(f"its value not that of its forms evaluated to {EXACT_PRECISIONS[0]} digits")
        lone = [{kind: moved[layer][kind] | exact[layer][kind] for kind in masks} for layer, masks in enumerate(lone)]
    names = []
    for name, layer, kind, _ in s.spec.param_names():
        if lone[layer][kind].any():
            s.unevaluated[layer][kind] = np.asarray(s.unevaluated[layer][kind], bool) | lone[layer][kind]
            names += [f"{name}[{', '.join(map(str, idx))}]" for idx in zip(*np.nonzero(lone[layer][kind]))]
    if names:
        s.notes.append(f"SymPy's form, evaluated in float64 ({'; '.join(whys)}), disagrees at {len(names)} "
                       f"element(s) ({', '.join(names[:4])}{', …' if len(names) > 4 else ''}) where the reference "
                       "backprop and the finite differences agree: its own rounding there, not judged")
    return bool(names)


def _spread(s):
    """Per layer and param, the largest move of SymPy's values when every param and input (not token ids, not the
    targets) moves by an ulp with random signs, over :data:`SYMPY_PROBES` draws."""
    rng = np.random.default_rng([s.spec.seed or 0, 0x5E])
    spread = [{kind: np.zeros(np.shape(g)) for kind, g in grads.items()} for grads in s.opinions["symbolic"]]
    for params in ulp_moved(s.spec, s.params, rng, SYMPY_PROBES):
        X = s.X if s.spec.tokens else s.X * (1 + EPS * random_signs(rng, np.shape(s.X)))
        with np.errstate(all="ignore"):
            moved = s.derivation.gradients(params, X, s.Y)
            for layer, grads in enumerate(moved):
                for kind, g in grads.items():
                    step = np.abs(np.asarray(g, float) - np.asarray(s.opinions["symbolic"][layer][kind], float))
                    spread[layer][kind] = np.fmax(spread[layer][kind], np.where(np.isfinite(step), step, np.inf))
    return spread


def _not_exact(s, opts, wanted):
    """Per layer and param, a mask of the elements of ``wanted`` (the first :data:`EXACT_ELEMENTS`) whose float64
    value differs by more than the tolerance from their forms evaluated to each of :data:`EXACT_PRECISIONS`
    digits, or whose exact values differ as much between those digits (where the exact value is not a finite
    number, it says nothing: judged). Where the exact value is known and the finite differences are far from it,
    a note says so (:func:`_beyond_float64`)."""
    out = [{kind: np.zeros(np.shape(m), bool) for kind, m in masks.items()} for masks in wanted]
    at = {(e.layer, e.kind, e.index): k for k, e in enumerate(s.derivation.elements)}
    picked = [(layer, kind, idx) for _, layer, kind, _ in s.spec.param_names()
              for idx in zip(*np.nonzero(wanted[layer][kind]))][:EXACT_ELEMENTS]
    if not picked:
        return out
    which = [at[layer, kind, tuple(int(i) for i in idx)] for layer, kind, idx in picked]
    try:
        fine, coarse = (np.array(s.derivation.exact(s.params, s.X, s.Y, which, digits)) for digits in EXACT_PRECISIONS)
    except (ArithmeticError, ValueError, TypeError, RecursionError):  # no exact value: SymPy's is judged as it is
        return out
    sympy, numeric = s.opinions["symbolic"], s.numeric
    value, difference, bound = (np.array([float(np.asarray(v[layer][kind], float)[idx]) for layer, kind, idx in picked])
                                for v in (sympy, numeric.grads, numeric.bounds))
    atol = opts.atol or 0.0
    with np.errstate(invalid="ignore"):
        known = ~beyond(coarse, fine, opts.rtol, atol)
        off = beyond(value, fine, opts.rtol, atol) | ~known
        apart = known & beyond(fine, difference, opts.rtol, atol, bound=bound)
    for (layer, kind, idx), flag in zip(picked, off):
        out[layer][kind][idx] = flag
    _beyond_float64(s, [(where, fine[k], difference[k]) for k, where in enumerate(picked) if apart[k]])
    return out


def _beyond_float64(s, apart):
    """A note where the exact gradient at these numbers is another than the float64 network's, which its finite
    differences and the reference backprop agree on (``apart``: ((layer, kind, index), exact, difference)): the
    loss computed in float64 is not the exact one there, and a backprop is judged against the float64 loss."""
    if not apart:
        return
    names = {(layer, kind): name for name, layer, kind, _ in s.spec.param_names()}
    shown = "; ".join(f"{names[layer, kind]}[{', '.join(map(str, idx))}]: {exact:.6g} exactly, {difference:.6g} in "
                      "float64" for (layer, kind, idx), exact, difference in apart[:2])
    s.notes.append(f"At {len(apart)} element(s) ({shown}{'; …' if len(apart) > 2 else ''}) the exact gradient of "
                   f"these numbers (SymPy's forms to {EXACT_PRECISIONS[0]} digits) is not the gradient of the loss as "
                   "float64 computes it, which the finite differences and the reference backprop agree on: the "
                   "network is beyond float64 there (values alike to their last digits, or sums that cancel, "
                   "magnified), and a backprop is judged against the float64 loss. Way out: inputs and weights of "
                   "moderate size")
