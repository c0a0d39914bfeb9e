"""Why is a hand-written gradient wrong? Shape hints, known mistakes, constant factors, localisation.

Given the user's gradients and the reference ones (already confirmed by finite
differences), this module tells one consistent story:

1. a wrong *shape* is explained on its own (δ where δ·a_prevᵀ belongs, a transposed
   dW, a bias not summed over the batch, layers in the wrong order, the augmented
   bias column missing): :func:`shape_hint`;
2. all-zero gradients, a list in reverse layer order and one sample's gradients alone are
   said as such;
3. otherwise the registered known mistakes are searched (:mod:`gradcheck.diagnose.search`):
   the layer kinds' own replayed over the whole network, then the site tweaks layer by
   layer from the output down, with one constant factor c shared by every layer;
4. c is explained once: another loss whose gradient is c times the spec's (naming
   both where two losses coincide, the one that does not depend on a coincidence of
   N or K first), a sign, N, K, 2, or a plain constant (a learning rate?);
5. where no known mistake explains a layer, the diagnosis says only where the error
   starts, never a guessed cause.
"""

from __future__ import annotations

import numpy as np

from ..catalogue.losses import loss_of
from ..reference.backprop import backprop, forward
from ..reference.shapes import trace_shapes
from .factors import explain, ratio, same, scale
from .lossopts import loss_options
from .mistake import Hypothesis, close
from .search import cost, flat, samples, search, story_lines
from .tensor import diagnose_tensor

__all__ = ["shape_hint", "diagnose", "explain", "diagnose_tensor"]

#: Nonzero gradient elements needed before a cause is named: with fewer, any error is "a constant factor".
MIN_EVIDENCE = 3


def _equation(trace, layer, name):
    """The trace's backward step ``name`` of ``layer`` as an equation with shapes."""
    for step in trace.layers[layer].steps:
        if step.phase == "backward" and step.name == name:
            return step.equation()
    return ""


def shape_hint(spec, layer, kind, got, expected, n=None):
    """One sentence on why a gradient of shape ``got`` (expected ``expected``) is wrong, or "".

    ``n`` is the number of samples actually checked (default: the spec's).
    """
    got, expected = tuple(got), tuple(expected)
    ly = spec.layers[layer]
    n = spec.n_samples if n is None else n
    own = ly.shape_hint(kind, got, expected, n)  # a kind whose params have shapes of their own (the norms)
    if own is not None:
        return own
    eq = _equation(trace_shapes(spec), layer, "d" + kind)
    if kind == "W":
        return _w_hint(spec, ly, got, expected, n, eq)
    if kind == "b":
        return _b_hint(spec, ly, got, n, eq)
    return ""


def _w_hint(spec, ly, got, expected, n, eq):
    conv, units, fan_in = spec.conv, ly.units, ly.fan_in
    if got == expected[::-1]:
        return f"it is transposed; in the {conv.name} convention {eq}"
    if got in {(units,), (units, 1), (1, units)}:
        return (f"that is the shape of δ (one value per unit of layer {ly.index}), not of W; the weight gradient "
                f"is the outer product of δ with the layer's input: {eq}")
    if got in {(fan_in,), (fan_in, 1), (1, fan_in)}:
        return (f"that is the shape of the layer's input a_prev alone; the weight gradient is the outer product "
                f"of δ with that input, one entry per weight: {eq}")
    if got == (units, units) and units != fan_in + spec.bias.extra_inputs:
        return (f"({units}, {units}) pairs δ with the layer's *output* a (an outer product such as "
                f"kron(a.T, delta)); ∂z_i/∂w_jk = [i=j]·a_prev_k, so dW pairs δ with the layer's *input*: {eq}")
    if got in {conv.batch(units, spec.n_samples), conv.batch(fan_in, n)}:
        return f"that is a whole batch of per-sample vectors, not a weight gradient: {eq}"
    if spec.bias.in_weights and got in {conv.weight(units, fan_in), conv.weight(units, fan_in)[::-1]}:
        return (f"with bias augmented W has one more {conv.bias_line} (the bias, weight of the constant input 1); "
                f"use the input with the 1 appended: {eq}")
    for other in spec.layers:
        if other.index != ly.index and got == spec.param_shapes()[other.index].get("W"):
            return (f"that is the shape of layer {other.index}'s W: list the gradients in layer order "
                    f"(the first entry is layer 0, the one next to the input)")
    return ""


def _b_hint(spec, ly, got, n, eq):
    units = ly.units
    if got in {spec.conv.batch(units, n)}:
        return f"not summed over the {n} samples: {eq}"
    if got in {(units, 1), (1, units)}:
        return f"db must be a flat vector of shape ({units},), one entry per unit: {eq} (or .ravel())"
    if got in {(ly.fan_in,), (n,)}:
        return f"summed over the wrong axis: {eq}"
    return ""


# -- the whole diagnosis ------------------------------------------------------------------------

def _usable(spec, params, user):
    """True when every trainable tensor of ``user`` is there with its param's shape."""
    trainable = [{k: p[k] for k in s} for p, s in zip(params, spec.param_shapes())]  # no dropout masks
    return all(user[i].get(k) is not None and np.shape(user[i][k]) == np.shape(v)
               for i, p in enumerate(trainable) for k, v in p.items())


def diagnose(spec, params, X, Y, user, reference, wrong):
    """Sentences explaining ``user`` gradients (list of dicts) vs ``reference``.

    ``wrong`` is the set of parameter names ("W0", "b1", ...) the check failed.
    Only tensors of the right shape take part in the value diagnosis. Gradients right for other loss options
    (another reduction, another regularisation term) are said first (:mod:`.lossopts`).
    """
    if not wrong:
        return []
    options, alone = loss_options(spec, params, X, Y, user, reference) if _usable(spec, params, user) else ([], False)
    return options if alone else options + _story(spec, params, X, Y, user, reference, wrong)


def _story(spec, params, X, Y, user, reference, wrong):
    """The diagnosis of :func:`diagnose` beyond the loss's options."""
    trainable = [{k: p[k] for k in s} for p, s in zip(params, spec.param_shapes())]  # no dropout masks
    if not _usable(spec, params, user):
        return _localise(spec, params, user, reference, wrong)
    u = flat(user, params)
    if not np.any(u):
        return [f"every gradient your backprop returned is 0 (all {u.size} elements): nothing was accumulated "
                "into them (a list of zeros returned before the backward pass filled it, or the wrong "
                "variable returned)"]
    n = len(params)
    rev = list(reversed(user))
    if n > 1 and all(np.shape(rev[i].get(k)) == np.shape(v) for i, p in enumerate(trainable) for k, v in p.items()) \
            and close(flat(rev, params), flat(reference, params)):
        return ["the gradients are right but listed in reverse layer order (the output layer first): list them "
                "from layer 0, the one next to the input"]
    r = flat(reference, params)
    if np.count_nonzero(np.abs(r) > 1e-12 * np.abs(r).max()) < MIN_EVIDENCE:
        return _localise(spec, params, user, reference, wrong)  # too few numbers to tell one cause from another
    one = _one_sample(spec, params, X, Y, user)
    if one:
        return [one]
    found = search(spec, params, X, Y, user, reference)
    if found.named:
        return found.named
    hyps, stop = found.hyps, found.stop
    last = len(spec.layers) - 1
    if stop is not None and stop >= last - 1:
        # A factor fitted on the output layer alone, with the layer below not following it, explains nothing.
        hyps = [h for h in hyps if h.c is None or same(h.c, 1.0)] or [Hypothesis(spec, n=hyps[0].n)]
    hyps = [h for h in hyps if cost(h) == cost(hyps[0])]  # the fewest mistakes that explain as much
    out_a = forward(spec, params, X).output
    lines = story_lines(spec, hyps, lambda c: explain(spec, c, out_a, Y))
    c = hyps[0].c
    if stop is None:
        return lines
    decay = _weight_decay(spec, params, X, Y, user, hyps[0], 1.0 if c is None else c)
    if decay:
        return [*lines, decay]
    if lines:  # the layers above are explained; predict this one from that story
        _, predicted = hyps[0].replay(params, X, Y)
        factor = 1.0 if c is None else c
        predicted = [{k: factor * v for k, v in g.items()} for g in predicted]
        wrong = {f"{k}{i}" for i, p in enumerate(trainable) for k in p
                 if not close(np.ravel(user[i][k]), np.ravel(predicted[i][k]))}
        return lines + _localise(spec, params, user, predicted, wrong, after_known=True)
    return _localise(spec, params, user, reference, wrong)


def _one_sample(spec, params, X, Y, user):
    """The sentence for gradients that are one sample's alone (a loop that overwrites instead of adding), or ""."""
    conv = spec.conv
    n = samples(spec, X)
    if n < 2:
        return ""
    u = flat(user, params)
    hits = []
    for j in (0, n - 1):  # a return inside the loop keeps the first; an overwrite keeps the last
        Xj = np.take(X, [j], axis=0 if X.ndim > 2 or spec.tokens else conv.sample_axis)  # images, token ids
        Yj = np.take(Y, [j], axis=0 if len(spec.output_shape) == 2 else conv.sample_axis)  # per-step (N, T, K)
        try:
            _, g = backprop(spec, params, Xj, Yj)
        except ValueError:  # a layer that holds per-batch data (a dropout mask) has no one-sample replay
            return ""
        c = scale(u, flat(g, params))
        if c is not None:
            hits.append((j, c))
    if len(hits) != 1:
        return ""
    j, c = hits[0]
    which = "the last sample" if j == n - 1 else "the first sample"
    times = "" if same(c, 1.0) else f" (times {c:.6g})"
    return (f"your gradients are those of {which} alone{times}, not of the batch of N={n}: a loop over the samples "
            "that overwrites the gradient (nabla = delta_nabla) instead of adding to it (nabla += delta_nabla), or "
            "returns inside the loop")


def _weight_decay(spec, params, X, Y, user, h, c):
    """The sentence for gradients that are the replay's plus one λ·W in every layer (L2 weight decay), or "" (and
    always "" where the spec has a regularisation term: :func:`~.lossopts.loss_options` speaks of that)."""
    if spec.regularization is not None:
        return ""
    _, predicted = h.replay(params, X, Y)
    lams = []
    for p, u, g in zip(params, user, predicted):
        if "W" not in p:
            continue
        if any(not close(np.ravel(u[k]), c * np.ravel(g[k])) for k in p if k != "W"):
            return ""
        lam = ratio(np.ravel(u["W"]) - c * np.ravel(g["W"]), np.ravel(p["W"]))
        if lam is None or lam == 0:
            return ""
        lams.append(lam)
    if not lams or not all(same(lam, lams[0]) for lam in lams):
        return ""
    lam = lams[0]
    return (f"every dW has an extra λ·W with λ = {lam:.6g}: the gradient of an L2 weight-decay term ½λ‖W‖² "
            f"(CS231n's reg·‖W‖² gives λ = 2·reg = {lam:.6g}) that the spec's loss does not have; return the "
            "gradient without it to check it against this spec")


def _localise(spec, params, user, reference, wrong, after_known=False):
    """Where the error starts: the first wrong layer from the output, and which of its tensors.

    It says where, never why: a right db with a wrong dW, say, fits a wrong product with
    the layer's input as well as a δ that is wrong in a way its sum over the batch hides.
    """
    where = {name: (li, kind) for name, li, kind, _ in spec.param_names()}
    bad_layers = sorted({where[name][0] for name in wrong}, reverse=True)
    if not bad_layers:
        return []
    last = len(spec.layers) - 1
    first_bad = bad_layers[0]
    layer_wrong = {where[name][1] for name in wrong if where[name][0] == first_bad}
    trace = trace_shapes(spec)
    eq_w, eq_b = _equation(trace, first_bad, "dW"), _equation(trace, first_bad, "db")
    out = []
    zeros = [f"d{kind}{first_bad}" for kind in sorted(layer_wrong)
             if np.shape(user[first_bad].get(kind)) == np.shape(reference[first_bad][kind])
             and not np.any(user[first_bad][kind]) and np.any(reference[first_bad][kind])]
    above = "the layers above match the mistakes named, and " if after_known else ""
    ly = spec.layers[first_bad]
    own = f"delta = da * {ly.act.call('z', prime=True)}" if ly.has_activation else "own backward step"
    if layer_wrong == {"b"} and "W" in params[first_bad]:
        out.append(f"{above}layer {first_bad}: dW is right but db is wrong: the error is in the bias sum ({eq_b})")
    elif layer_wrong == {"W"} and "b" in params[first_bad]:
        out.append(f"{above}layer {first_bad}: db is right but dW is wrong: look at the product of δ with the layer's "
                   f"input ({eq_w}), or at a δ that is wrong in a way its sum over the batch hides")
    elif first_bad == last:
        loss = loss_of(spec)
        out.append(f"the error starts at the output layer {last}: its δ^L = ∂C/∂a ⊙ σ'(z) (∂C/∂a = "
                   f"{loss.grad_formula} for loss {loss.name}, σ' of {ly.act.label}) or the activations your "
                   "forward pass fed it differ from the reference")
    else:
        span = f"layer {last}" if first_bad + 1 == last else f"layers {first_bad + 1}..{last}"
        verb = "is" if first_bad + 1 == last else "are"
        out.append(f"{above}{span} {verb} right and layer {first_bad} is wrong: the error starts between them, in "
                   f"carrying δ back from layer {first_bad + 1} to {first_bad} "
                   f"({_equation(trace, first_bad + 1, 'da_prev')}) or in layer {first_bad}'s {own}")
    if zeros:
        out.append(f"{' and '.join(zeros)} {'is' if len(zeros) == 1 else 'are'} all zeros")
    if min(bad_layers) < first_bad and first_bad != last:
        out.append("the layers below it inherit the wrong δ; fix the first one and check again")
    return out
