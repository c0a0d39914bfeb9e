"""The one search for known mistakes: which replays of the registry give the user's gradients.

Every mistake of :data:`~gradcheck.diagnose.mistake.REGISTRY` is replayed by a
:class:`~gradcheck.diagnose.mistake.Hypothesis` and matched by
:func:`~gradcheck.diagnose.mistake.close`. How it is tried follows from the mistake:

1. mistakes that are not local (layer replays) are replayed over the whole network, each
   alone at each layer where it applies and at all of them at once; one whose replay is the
   user's gradients and not the reference's is named, at the fewest layers that give them;
2. local mistakes (site tweaks) are searched layer by layer from the output down: at each
   layer the combinations of mistakes (none, one, then two) are tested *given what was found
   above it*, and the user's gradients of that layer must equal the replay's up to one
   constant factor c shared by every layer. Mistakes can so sit in any subset of layers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from . import layers as _layers  # noqa: F401 - registers the layer kinds' mistakes
from .factors import same, scale
from .mistake import REGISTRY, Hypothesis, close
from .mistakes import candidates

__all__ = ["BEAM", "Found", "cost", "flat", "named_replays", "samples", "search", "story_lines"]

#: Hypotheses carried from one layer to the next (several when mistakes give the same gradient).
BEAM = 6


@dataclass
class Found:
    """What :func:`search` found: ``named`` sentences of a whole-network replay, or the best ``hyps`` of the
    layer-by-layer search with the layer it stopped at (``stop``, None when every layer is explained)."""

    named: list
    hyps: list
    stop: int | None


def search(spec, params, X, Y, user, reference):
    """The known mistakes that give ``user``'s gradients (lists of dicts like the params), tried as the module
    docstring says."""
    named = named_replays(spec, params, X, Y, user, reference)
    if named:
        return Found(named, [], None)
    hyps, stop = _layer_by_layer(spec, params, X, Y, user)
    return Found([], hyps, stop)


def named_replays(spec, params, X, Y, user, reference):
    """Sentences naming the whole-network replay that gives the user's gradients, or [].

    A mistake whose replay equals the user's gradients and differs from the reference is
    named, at the fewest layers that give those gradients (a dx mistake in the first layer
    cannot be seen, so it is not claimed); when several distinct mistakes fit, each is named.
    """
    tries = []
    for m in REGISTRY:
        if m.local:
            continue
        at = tuple(ly.index for ly in spec.layers if m.applies(spec, ly))
        tries += ([(m, at)] if len(at) > 1 else []) + [(m, (i,)) for i in at]
    if not tries:
        return []
    u, r = flat(user, reference), flat(reference, reference)
    found = {}  # mistake -> (layers, sentence): the fewest layers that explain it (the surest claim)
    for m, at in tries:
        _, g = Hypothesis(spec, {i: [m] for i in at}, sites=False).replay(params, X, Y)
        g = flat(g, reference)
        if not close(g, r) and close(u, g) and (m not in found or len(at) < len(found[m][0])):
            found[m] = (at, m.text(spec, at))
    texts = [text for _, text in found.values()]
    if len(texts) == 1:
        return [f"matches a known mistake: {texts[0]}"]
    if texts:
        return [f"matches {len(texts)} known mistakes that give exactly these gradients here: "
                + " — or — ".join(texts)]
    return []


def flat(grads, params, layers=None):
    layers = range(len(params)) if layers is None else layers
    parts = [np.ravel(grads[i][k]) for i in layers for k in params[i] if k in grads[i]]  # no dropout masks
    return np.concatenate(parts) if parts else np.zeros(0)


def _options(spec, layer, level):
    """Lists of (site, Mistake) with ``level`` mistakes at distinct sites of ``layer``'s backward step."""
    last = len(spec.layers) - 1
    sites = [("loss", layer)] if layer == last else []
    if layer < last:
        sites.append(("carry", layer + 1))  # the step from layer + 1 down into this one
    sites += [(site, layer) for site in ("delta", "input", "grads")]
    per_site = [[(at, m) for m in candidates(spec, at, site)] for site, at in sites]
    for chosen in itertools.combinations(range(len(per_site)), level):
        yield from itertools.product(*(per_site[j] for j in chosen))


def _extend(spec, params, X, Y, user, h, layer):
    """Hypotheses extending ``h`` (which explains the layers above) that also explain ``layer``.

    The fewest mistakes win; where every match needs a constant factor, matches with one
    more mistake and no factor cost as much and are kept too (a dW divided by N in a
    one-layer net is also "a factor 1/N").
    """
    u = flat(user, params, [layer])
    kept, exact_only = [], False
    for level in range(3):
        found = []
        for option in _options(spec, layer, level):
            h2 = h
            for at, m in option:
                h2 = h2.with_(at, [*h2.at.get(at, ()), m])
            _, g = h2.replay(params, X, Y)
            p = flat(g, params, [layer])
            if h.c is None:
                c = scale(u, p)
                if c is None or (exact_only and not same(c, 1.0)):
                    continue
                found.append(h2.with_(layer, h2.at.get(layer, ()), c=c if np.any(p) else None))
            elif close(u, h.c * p):
                found.append(h2)
        kept += found
        if exact_only or (found and any(x.c is None or same(x.c, 1.0) for x in found)):
            break
        exact_only = bool(found)
    # A factor of exactly 1 first, then factors nearer 1.
    return sorted(kept, key=lambda x: 0.0 if x.c is None else abs(np.log(abs(x.c))))


def samples(spec, X):
    """N: images are (N, C, H, W) in both conventions, vectors follow the convention."""
    return X.shape[0] if X.ndim > 2 or spec.tokens else X.shape[spec.conv.sample_axis]


def cost(h):
    """Mistakes a hypothesis needs; a constant factor other than 1 counts as one more."""
    return len(h.mistakes()) + (h.c is not None and not same(h.c, 1.0))


def _layer_by_layer(spec, params, X, Y, user):
    """(hypotheses that explain every layer from the output down to ``stop`` + 1, stop or None)."""
    hyps = [Hypothesis(spec, n=samples(spec, X))]
    for layer in reversed(range(len(spec.layers))):
        nxt = [h2 for h in hyps for h2 in _extend(spec, params, X, Y, user, h, layer)]
        if not nxt:
            return hyps, layer
        # The cheapest first, but dearer ones are kept: a cheap story above may fail further down.
        hyps = sorted(nxt, key=cost)[:BEAM]
    return hyps, None


def story_lines(spec, hyps, explain_factor):
    """Sentences naming the mistakes (and the factor) of the best hypotheses; readings that fit as well
    are named together, as alternatives."""
    stories = []
    for h in hyps:
        grouped = {}
        for layer, m in h.mistakes():
            grouped.setdefault(m.key, (m, []))[1].append(layer)
        named = tuple(m.text(spec, layers) for m, layers in grouped.values())
        factor = tuple(explain_factor(h.c)) if h.c is not None and not same(h.c, 1.0) else ()
        if "; ".join(named + factor) not in ["; ".join(a + b) for a, b in stories]:
            stories.append((named, factor))
    if not stories or stories == [((), ())]:
        return []
    if len(stories) == 1:
        named, factor = stories[0]
        return [f"matches a known mistake: {line}" for line in named] + list(factor)
    alts = " — or — ".join("; ".join(named + factor) for named, factor in stories[:3])
    return [f"matches one of {min(len(stories), 3)} readings that give exactly these gradients here: {alts}"]
