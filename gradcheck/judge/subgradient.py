"""At kinks a gradient must be a sub- or supergradient as a vector, not only element by element.

Element by element, a value at a kink only has to lie between that element's one-sided
derivatives (:mod:`gradcheck.numeric.kinks`). That passes a max-pool backward that sends the
whole upstream gradient to every tied entry, ``(window == window.max()) * dout``: each entry's
value lies between its own slopes, 0 and dout, yet moving all tied entries together moves
the max, and the loss, at dout, where that gradient says 4·dout. So the elements at kinks,
K, are also tested together, along directions d over them, with the one-sided directional
derivatives

    D₊(d) = (f(θ + t·d) − f(θ))/t,   D₋(d) = (f(θ) − f(θ − t·d))/t   (t → 0),

each Richardson-extrapolated from t and 2t with its bound (:class:`~gradcheck.numeric.kinks.Stencil`):

* where f is smooth along d (D₋ = D₊ within their bounds: the entries of a tie moving
  together, a unit's fan-in scaled, which keeps its z = 0 where it is), g·d must equal it;
* elsewhere a sub- or supergradient puts g·d between D₋ and D₊. That narrows the blame
  within a part that failed a smooth test, but decides nothing alone: where kinks feed
  kinks (a relu at 0 after another, in a network with zero biases) a valid chain-rule
  choice need not lie between the one-sided derivatives of a direction that moves both.
  K is split by the sign of each element's D₊ − D₋ (convex kinks, such as a max, have
  D₊ > D₋; concave ones the opposite), and a direction is held to "between" only when its
  own D₊ − D₋ has its part's sign.

Directions: the structure's where it is known (a network unit's fan-in, see
:func:`network_kinks`); otherwise, in each part, all-ones and random ±1 over the part, its
halves, their halves, down to pairs, so that a tie group the function never names is
moved whole somewhere (all-ones over a part of whole groups is smooth) or in pairs. Each
test costs four evaluations of f, and a failing one four more, at t/10, to confirm it (a
kink near θ along d, not at it, can bend the estimate at one step). Where θ is on no kink but
its piece of f is thinner than any step (two kinks within 1e-23 of θ), steps both ways along d
can land on one same neighbouring piece: f then looks smooth along d at that piece's slope,
which says nothing of θ's. A network's kink states (and each kind's ``on_kink``) show it, and
that direction is not tested; nor is one whose points change a kink state θ is not on (a relu at
z = −3.4e-3 under a weight of 1.7e30 turns 2e-33 from θ): its one-sided derivatives are measured
past that kink, not at θ. The blame of a part that
failed a smooth test goes to the elements of the smallest failing parts within it, with a
note that says why.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..numeric.kinks import FACTOR, OFFSETS, Stencil, steady
from ..numeric.stencils import EPS, STEP_SCALE
from .bands import MARGIN, UNDERFLOW, verdict_codes
from .tolerances import tolerance

__all__ = ["Along", "Judged", "joint_test", "network_kinks"]

#: Tests per part of K that always descend to the halves; past this many only failing parts are split further.
BUDGET = 48
#: At most this many fan-in directions (units) per check, and this many notes per opinion.
UNITS = 16
NOTES = 3
WHO = {"analytic": "your gradient", "impl": "your gradient", "backprop": "the reference backprop",
       "symbolic": "the SymPy derivation"}


class Along:
    """One-sided directional derivatives of f at θ along sparse directions (cached, so that every opinion
    shares them). ``line(idx, coef, ts)`` returns f(θ + t·d) for each t of ``ts``, where d is ``coef`` on the
    flat elements ``idx`` and 0 elsewhere. ``unseen(idx, coef, ts)``, if given, asked right after ``line`` for
    the same points, is True where the points ±t (and ±2t) of ``ts`` both leave the piece of f that θ is on for
    one same other piece: θ's piece is then thinner than the steps, and the derivatives measured are a
    neighbour's (no test)."""

    def __init__(self, line, f0, eps=EPS, noise=0.0, unseen=None):
        self.line, self.f0, self.eps, self.noise, self.unseen = line, f0, eps, noise, unseen
        self.cache, self.calls = {}, 0

    def sides(self, idx, coef, t):
        """(D₋, its bound, D₊, its bound) along d at steps t and 2t; NaN where the steps do not see θ's piece."""
        key = (idx.tobytes(), coef.tobytes(), float(t))
        if key not in self.cache:
            ts = t * OFFSETS
            values = np.asarray(self.line(idx, coef, ts), float)
            self.calls += len(ts)
            if self.unseen is not None and self.unseen(idx, coef, ts):
                self.cache[key] = (np.nan,) * 4
                return self.cache[key]
            s = Stencil(values[:, None], ts[:, None], self.f0, np.array([t]), self.eps, self.noise)
            self.cache[key] = (float(s.minus[0]), float(s.minus_bound[0]), float(s.plus[0]), float(s.plus_bound[0]))
        return self.cache[key]


def _verdict(sides, gd, tol, sign):
    """(passed, smooth) of g·d = ``gd`` against ``sides``; None where no sound test applies."""
    minus, mb, plus, pb = sides
    if not np.isfinite([minus, mb, plus, pb, gd]).all():
        return None
    if abs(plus - minus) <= mb + pb:
        slack = max(mb, pb) + abs(plus - minus) / 2
        return abs(gd - (plus + minus) / 2) <= tol + MARGIN * slack, True
    if sign is None or sign * (plus - minus) < 0:
        return None
    (lo, blo), (hi, bhi) = sorted([(minus, mb), (plus, pb)])
    return lo - MARGIN * blo - tol <= gd <= hi + MARGIN * bhi + tol, False


class _Judge:
    """The tests of one opinion's flat gradient ``g`` (rounding ``r`` per element) along directions over θ."""

    def __init__(self, along, theta, g, r, rtol, atol):
        self.along, self.theta, self.g, self.r, self.rtol, self.atol = along, theta, g, r, rtol, atol

    def test(self, idx, coef, sign):
        """None if d = ``coef`` on ``idx`` passes (or has no sound test), else (smooth, D₋, D₊, g·d)."""
        t = STEP_SCALE * max(1.0, float(np.abs(self.theta[idx]).max()))
        terms = self.g[idx] * coef
        gd = float(terms.sum())
        found = seen = None
        for step in (t, t / FACTOR):  # a failure counts only when the smaller step confirms it
            sides = self.along.sides(idx, coef, step)
            tol = (self.rtol * (np.abs(terms).sum() + max(abs(sides[0]), abs(sides[2])))
                   + self.atol * np.abs(coef).sum() + _allowed(self.r[idx], coef))
            res = _verdict(sides, gd, tol, sign)
            if res is None or res[0] or (found is not None and found[0] != res[1]):
                return None
            if seen is not None and not steady(seen, sides):
                return None  # the slopes moved with the step: a kink near θ along d bends them, none is measured
            found, seen = found or (res[1], sides[0], sides[2], gd), sides
        return found


def _allowed(r, coef):
    """Σ r·|coef|, the rounding allowed g·d, where an element's allowance may be inf (no bound: weights of 1e200)
    and its coefficient 0: it does not enter d, nor its allowance (not inf·0 = NaN, which fails every test)."""
    used = coef != 0
    return float(r[used] @ np.abs(coef[used]))


def _directions(part, signs):
    """[(name, coef)] for a part of K: all-ones, and random ±1 (alternating where the draw is all one sign)."""
    ones = np.ones(len(part))
    s = signs[part]
    if np.all(s == s[0]):
        s = np.where(np.arange(len(part)) % 2 == 0, 1.0, -1.0)
    return [("the all-ones direction", ones), ("a ±1 direction", s)]


def _search(judge, part, sign, signs):
    """Bisect ``part`` (sorted flat indices of K of one sign class). Returns ([(elements, failure)] to blame, the
    widest part that failed a smooth test as (elements, failure) or None), with failure = (direction name, smooth,
    D₋, D₊, g·d).

    Only a smooth test decides: f has a derivative along d, and g·d is not it. "Between" fails only
    narrow the blame within a part that failed one, since where kinks feed kinks (a relu at 0
    after another, in a network with zero biases) a valid chain-rule choice need not lie between
    the one-sided directional derivatives of a direction that moves both."""
    fails, kids, queue, spent, widest = {}, {}, deque([part]), 0, None
    while queue:
        s = queue.popleft()
        key = s.tobytes()
        for name, coef in _directions(s, signs):
            spent += 1
            hit = judge.test(s, coef, sign)
            if hit is not None and (key not in fails or hit[0]):
                fails[key] = (name, *hit)
                if hit[0]:
                    widest = widest or (s, fails[key])
                    break
        if len(s) > 2 and (key in fails or spent < BUDGET):  # halves; a part of three, each of its pairs
            kids[key] = np.array_split(s, 2) if len(s) > 3 else [s[[0, 1]], s[[1, 2]], s[[0, 2]]]
            queue.extend(k for k in kids[key] if len(k) >= 2)

    def below(s):
        return [k for k in kids.get(s.tobytes(), ()) if len(k) >= 2]

    def smallest(s):  # the smallest failing parts within s
        found = [b for k in below(s) for b in smallest(k)]
        return found or ([(s, fails[s.tobytes()])] if s.tobytes() in fails else [])

    def blame(s):  # each part that failed a smooth test, narrowed down
        hit = fails.get(s.tobytes())
        return smallest(s) if hit is not None and hit[1] else [b for k in below(s) for b in blame(k)]

    return blame(part), widest


def _where(direction, elements, label):
    listed = ", ".join(label(i) for i in elements[:4]) + (", …" if len(elements) > 4 else "")
    return f"along {direction} of these {len(elements)} elements at kinks ({listed})"


def _note(who, what, where, failure, tied=False):
    """One sentence on a failed test: where (the direction), what f did there, what the opinion gave."""
    _, smooth, minus, plus, gd = failure
    if smooth:
        slope = (minus + plus) / 2
        ratio = f" ({gd / slope:.3g} × that)" if slope and abs(gd / slope) < 1e6 else ""
        why = (": moving them together moves f smoothly, so their gradients must add up to that slope (where they "
               "are the tied entries of a max, route the gradient to one of them, or share it out)") if tied else ""
        return f"{where} {what} changes smoothly at {slope:.6g}; {who} gives {gd:.6g}{ratio}{why}"
    return (f"{where} the one-sided derivatives are {minus:.6g} and {plus:.6g}; {who} gives {gd:.6g}, outside them: "
            "not a sub- or supergradient there (a max's gradient must go to one of its tied entries, or be shared "
            "out among them)")


@dataclass(frozen=True)
class Judged:
    """The opinions a joint test judges: ``grads`` {op: flat gradient}; ``rounding`` {op: flat rounding bound of
    that gradient}; ``rtol`` {op: rtol}; ``atol``; ``wrong`` {op: flat mask of elements already wrong by
    themselves (left out)}."""

    grads: dict
    rounding: dict
    rtol: dict
    atol: float
    wrong: dict


def joint_test(along, theta, K, gap, judged, label, structure=(), what="f"):
    """The joint test of the elements ``K`` (flat indices) at kinks, for every opinion of ``judged`` (a
    :class:`Judged`).

    ``gap`` (per element of K) is D₊ − D₋; ``label(i)`` names flat element i; ``structure`` lists (description,
    idx, coef, members) of directions known to keep the kinks where they are (only their smooth test applies;
    ``members`` are the elements of K they blame); ``what`` names f in notes. Returns {op: (flat mask of elements
    found wrong, notes)}.
    """
    K, gap = np.asarray(K, int), np.asarray(gap, float)
    signs = np.zeros(len(theta))
    signs[K] = np.random.default_rng(0x51D).choice([-1.0, 1.0], len(K))
    out, wrong = {}, judged.wrong
    for op, g in judged.grads.items():
        who = WHO.get(op, op)
        judge = _Judge(along, theta, g, judged.rounding[op], judged.rtol[op], judged.atol)
        keep = ~wrong[op][K] & np.isfinite(g[K])
        mask, notes = np.zeros(len(theta), dtype=bool), []
        for sign in (1.0, -1.0):
            inside = keep & (sign * gap > 0)
            # Entries tied for one max share its jump D₊ − D₋: in that order the halves tend to keep them together.
            part = K[inside][np.lexsort((K[inside], gap[inside]))]
            if len(part) < 2:
                continue
            smallest, widest = _search(judge, part, sign, signs)
            for elements, _ in smallest:  # the blame: the smallest failing parts
                mask[elements] = True
            told = [widest] if widest is not None else []  # the clearest reason first: f smooth, g·d not
            for elements, failure in told + [b for b in smallest if not told or b[0] is not widest[0]]:
                tied = failure[0] == "the all-ones direction"
                notes.append(_note(who, what, _where(failure[0], elements, label), failure, tied))
        for unit, idx, coef, members in structure[:UNITS]:
            members = members[~wrong[op][members]]
            if not members.size or wrong[op][idx].any() or not np.isfinite(g[idx]).all():
                continue
            hit = judge.test(idx, coef, None)
            if hit is not None:
                mask[members] = True
                where = f"along the scaling of {unit}'s fan-in, which keeps its z where it is,"
                notes.append(_note(who, what, where, ("fan-in", *hit)) + "; the choice at its kink (relu'(0), "
                             "a max's entry) must be the same for the unit's weights and its bias")
        out[op] = (mask, notes[:NOTES])
    return out


def element_wrong(a, n, bound, kinks, rtol, atol):
    """Flat mask of the elements an opinion gets wrong by themselves (outside their interval at a kink)."""
    return verdict_codes(a, n, rtol, atol, kinks, bound) >= 3  # suspicious or wrong


# -- networks ---------------------------------------------------------------------------------------


def network_kinks(spec, params, data, numeric, opinions, rounding, rtol, atol):
    """:func:`joint_test` for a network on ``data`` (X, Y): ``numeric`` is its
    :class:`~gradcheck.numeric.network.NumericGradient`, ``opinions`` {op: gradients (list of dicts)} to judge,
    ``rounding`` the backprop's rounding (units of ε), ``rtol`` {op: rtol}. Returns ({op: per layer {param: mask}},
    notes, directional evaluations)."""
    from ..numeric.sampled import _Flat
    from ..reference.backprop import cost, forward

    X, Y = data
    flat = _Flat(spec, params)
    kinks = flat.vector(numeric.kinks) == 1
    K = np.flatnonzero(kinks)
    if K.size < 1:
        return {}, [], 0
    sides = numeric.sides or [None] * len(params)
    minus, plus = (flat.vector([{k: getattr(s, side) for k, s in (layer or {}).items()} for layer in sides])
                   for side in ("minus", "plus"))
    theta = np.concatenate([np.ravel(params[layer][kind]) for _, layer, kind, _ in flat.entries])

    states = {}  # the kink states of the points of the last line, for unseen (which Along asks right after)

    def line(idx, coef, ts):
        v = np.zeros(flat.size)
        v[idx] = coef
        out = []
        states.clear()
        for t in ts:
            moved = flat.moved(t, v)
            fw = forward(spec, moved, X)
            out.append(cost(spec, moved, X, Y, fw=fw))
            states[float(t)] = _kink_states(spec, fw, moved, Y)
        return out

    base = _kink_states(spec, forward(spec, params, X), params, Y, on=True)

    def unseen(idx, coef, ts):  # (t, −t, 2t, −2t): each pair both on one same piece that is not θ's; or any
        # point past a kink that θ is not on (a relu of 1e-3 under a weight of 1e30 turns 2e-33 from θ): its
        # side's derivative is then measured beyond that kink, not at θ
        for pair in (ts[:2], ts[2:]):
            up, down = (states[float(t)] for t in pair)
            if any(np.any((u == d) & (u != s) & (True if on is None else ~on))
                   for (s, on), u, d in zip(base, up, down) if s is not None):
                return True
        return any(np.any((states[float(t)][k] != s) & ~on) for t in ts for k, (s, on) in enumerate(base)
                   if s is not None and on is not None)

    along = Along(line, cost(spec, params, X, Y), EPS, numeric.noise, unseen)
    r = tolerance().rounding(flat.vector(rounding)) + UNDERFLOW
    n, b = flat.vector(numeric.grads), flat.vector(numeric.bounds) + r
    grads = {op: flat.vector(g) for op, g in opinions.items()}
    wrong = {op: element_wrong(g, n, b, kinks, rtol[op], atol) | ~np.isfinite(g) for op, g in grads.items()}
    found = joint_test(along, theta, K, (plus - minus)[K], Judged(grads, dict.fromkeys(grads, r), rtol, atol, wrong),
                       lambda i: _named(flat, i), _fan_ins(spec, params, flat, theta, K), what="the loss")
    masks = {op: [{} for _ in params] for op in found}
    for op, (mask, _) in found.items():
        for (_, layer, kind, shape), a, e in zip(flat.entries, flat.starts[:-1], flat.starts[1:]):
            masks[op][layer][kind] = mask[a:e].reshape(shape)
    return masks, [note for _, notes in found.values() for note in notes], along.calls


def _kink_states(spec, fw, params, Y, on=False):
    """Every layer's kink state in the forward pass ``fw`` at ``params``, and the loss's (None where there is none);
    with ``on``, each as (state, where it sits exactly on its kink)."""
    from ..catalogue.losses import loss_of
    from ..numeric.perturbed import layer_states

    Y = spec.targets(Y)
    states = [*layer_states(spec, fw, params), loss_of(spec).kink_state(fw.output, Y)]
    if not on:
        return states
    exact = [ly.on_kink(fw.a_prev(ly), z, spec.conv, params=p) for ly, z, p in zip(spec.layers, fw.z, params)]
    return list(zip(states, [*exact, loss_of(spec).on_kink(fw.output, Y)]))


def _named(flat, i):
    name, index = flat.element(i)
    return f"{name}[{', '.join(str(j) for j in index)}]"


def _fan_ins(spec, params, flat, theta, K):
    """(the unit's name, flat idx, coef = the params themselves, the elements of K among them) for every unit of a
    dense or conv layer that holds elements of K: scaling a unit's W and b scales its z, so a z at 0 stays at 0 and
    tied entries of its output stay tied."""
    out = []
    for layer, ly in enumerate(spec.layers):
        entries = [m for m, (_, at, _, _) in enumerate(flat.entries) if at == layer]
        units = [_unit_of(ly, params[layer], flat.entries[m][2], spec.conv) for m in entries]
        if not entries or any(u is None for u in units):
            continue
        idx_all = np.concatenate([flat.starts[m] + np.arange(flat.sizes[m]) for m in entries])
        inside = np.isin(idx_all, K)
        if not inside.any():
            continue
        unit_all = np.concatenate(units)
        for j in np.unique(unit_all[inside]):
            idx = idx_all[unit_all == j]
            if np.any(theta[idx]):
                what = ly.unit_word
                coef = theta[idx] / np.abs(theta[idx]).max()
                out.append((f"{what} {j} of layer {layer}", idx, coef, idx[np.isin(idx, K)]))
    return out


def _unit_of(ly, layer_params, kind, conv):
    """The unit (dense) or filter (conv) of every flat element of param ``kind``, or None for other layers."""
    return ly.units_of(layer_params, kind, np.arange(layer_params[kind].size), conv)
