"""Sweep the judge over corner networks and count its false verdicts against an exact oracle.

Run: ``python benchmarks/sweep_judge.py [--count N] [--seed S] [--category C ...] [--out DIR]`` (minutes, not a unit
test), or ``--replay CASE.json`` to run one saved case again. For every category (the ordinary ``networks()``
strategy, dense and CNN, each corner strategy of :mod:`gradcheck.strategies`, and dense networks whose inputs are
×10^4 to ×10^16 and whose first weights are as much smaller; and the networks the exact oracles
cannot build, :data:`REFERENCE_ORACLE`: sequences, recurrent layers, lstms, attention, embeddings, residual and
concatenating graphs, every loss and its options with regularization, and recurrent and attention networks with large
weights or long sequences) it draws ``--count`` correct networks, deterministically for a seed, and for each one:

1. **the correct run**: ``check_network(net, symbolic="off")``. A FAIL is a *false FAIL* unless the reference
   backprop itself disagrees at a failing element with torch and with mpmath (by more than 1e-4 of the element
   plus the tensor's largest exact gradient: then it is counted as *ref ≠ oracle*). A reference that agrees
   with torch but not with mpmath is an honest float64 backprop whose rounding the judge must allow for;
2. **one planted error** in a user impl (the reference backprop's gradients, changed): ×−1, ×2, ×1.001 or ×0
   on one element, two rows (or two elements) swapped, or the same as float32 with one element ×1.001; or a
   change that must pass: every element moved by up to 2 ulps, or every gradient returned as float32. A
   must-pass change that fails (where the correct run passed) is a false FAIL too, unless every failing
   element is one float32 cannot hold (below its smallest normal or above its largest: *unrepresentable*).

The oracle: torch float64 autograd where torch is installed (``pip install torch==2.13.0``), else the reference
backprop; for the elements of every case it reports, also a 60-digit mpmath central difference (step 1e-25,
:mod:`exact_gradients`), which then stands for the exact value e. For the categories of :data:`REFERENCE_ORACLE`
the reference backprop is e (the torch tests compare it with torch autograd, kind by kind), there is no 60-digit
value, and a kink's one-sided derivatives are float64 one-sided differences.

**Resolvable.** A planted value p at an element whose exact gradient is e, where the reference backprop gives r
and torch t, is resolvable when all three hold:

* |p − e| > 1e-4·max(|p|, |e|): ten times the judge's default rtol, a real error by its own contract;
* |p − e| > 10·(|r − e| + 2·|t − e|): far beyond what an honest float64 backprop is off by there, and beyond
  the other one-sided slope where the element sits on a kink (torch gives one slope, mpmath their mean);
* a float64 central difference resolves it: on the ladder of steps h_k = max(1, |θ|)·10^(−k/2), k = 2..20, two
  neighbouring steps both land within |p − e|/10 of e, with a rounding floor ε·max|C(θ ± h_k)|/h_k below that
  too (so a search for a stable step would find e, and not by a loss that does not change at all);
* p does not lie between the element's 60-digit one-sided derivatives (to the second rule's allowance, a few
  ulps and the first rule's 1e-4 of the larger): at a kink any value between the two slopes is a valid one (a
  doubled gradient of a weight under tied max-pool windows can be, and a doubled midpoint of slopes 0 and s is
  s, or within 1e-10 of it where the lower slope is 3e-11), whatever their mean e.

A planted error counts as *caught* when any changed element is judged wrong or suspicious; otherwise, if some
changed element is resolvable, as *inconclusive* (the judge gave up on a resolvable element, and the run
passed) or *false PASS* (every resolvable element judged good or kink); if none is resolvable, as
*unresolvable* (not held against the judge). A false PASS whose every resolvable element is judged good within the
judge's documented allowance (no farther from e than the rounding a correct float64 backprop may make there, the
tensor's ``rounding``, and less than 1% of the element, the most "good" promises) is counted *within the
allowance* instead, a column of its own: at a bias under outputs equal to their targets to 13 digits, where δ =
a − y cancels, a correct backprop computing a in another order is off by a few ulps of a, 1e-3 of a gradient of
5e-13, and the reference happens to be exact only because W·x is far below an ulp of b. Float32 gradients with one
element ×1.001 have a column of their own: the judge's float32 rtol is 1e-3 by design, so passing them is its
documented choice, not a slip.

The cases behind every false verdict are written to ``--out`` (default: a new temporary folder), one JSON
file each (the tables go to ``summary.txt`` there): the network with its params and data, the planted
gradients (replayed exactly by ``--replay``), and for the elements concerned the verdict, exact, backprop,
numeric and bound values.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.strategies import composite, floats, one_of
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gradcheck, whatever copy the environment has installed

from exact_gradients import mp_cost, mp_derivative, torch_gradients  # noqa: E402

from gradcheck import check_network, load_spec  # noqa: E402
from gradcheck.judge.bands import SUSPICIOUS  # noqa: E402
from gradcheck.reference.backprop import backprop, cost  # noqa: E402
from gradcheck.strategies import (  # noqa: E402
    attention_networks,
    embedding_networks,
    graph_networks,
    large_weight_networks,
    lstm_networks,
    narrow_norm_networks,
    near_kink_networks,
    networks,
    pool_tie_networks,
    rnn_networks,
    saturated_networks,
    sequence_networks,
    tiny_scale_networks,
)


def _huge_inputs():
    """Dense networks whose inputs are ×10^4 to ×10^16 and whose first weights are as much smaller: every z of order
    one as before, and the loss moving, in those weights, at steps that many times finer than the default ones."""
    @composite
    def build(draw):
        net = draw(networks())
        factor = 10.0 ** draw(floats(4.0, 16.0))
        params = [dict(p) for p in net["params"]]
        if "W" in params[0]:
            params[0]["W"] = (np.asarray(params[0]["W"]) / factor).tolist()
        return {**net, "description": f"inputs ×{factor:.3g}, first weights ×{1 / factor:.3g}", "params": params,
                "data": {**net["data"], "X": (np.asarray(net["data"]["X"]) * factor).tolist()}}
    return build()


CATEGORIES = {
    "dense": lambda: networks(),
    "cnn": lambda: networks(cnn=True),
    "narrow_norm": narrow_norm_networks,
    "large_weights": large_weight_networks,
    "saturated": saturated_networks,
    "near_kink": near_kink_networks,
    "pool_ties": pool_tie_networks,
    "tiny_scale": tiny_scale_networks,
    "huge_inputs": _huge_inputs,
}


def _scaled(strategy, low, high):
    """``strategy``'s networks with every param scaled by one factor 10^U(``low``, ``high``), said in the
    description."""
    @composite
    def build(draw):
        net = draw(strategy)
        factor = 10.0 ** draw(floats(low, high))
        return {**net, "description": f"params ×{factor:.3g}",
                "params": [{k: (np.asarray(v) * factor).tolist() for k, v in p.items()} for p in net["params"]]}
    return build()


def _large_sequences():
    """rnn, gru, lstm and attention networks with weights ×10^0.5 to ×10^2.5: saturated gates and softmaxes,
    recurrent products that magnify the rounding of the steps below."""
    return _scaled(one_of(rnn_networks(), lstm_networks(), attention_networks()), 0.5, 2.5)


def _long_sequences():
    """rnn, gru and lstm networks of 4 to 8 steps, weights up to ×3: a recurrent weight reaches every step, and its
    gradient sums as many products of Jacobians, which may grow or vanish with T."""
    longer = one_of(rnn_networks(max_steps=8), lstm_networks(max_steps=6)).filter(lambda n: n["input"]["steps"] >= 4)
    return _scaled(longer, 0.0, 0.5)


#: Categories the exact oracles cannot build (other kinds, losses and options): the exact gradient is the reference
#: backprop's, which the torch tests (tests/test_torch_*.py) compare with torch autograd for each of these kinds, a
#: planted value is resolvable by the float64 ladder alone (no 60-digit derivatives), and a kink's slopes are float64
#: one-sided differences (:meth:`Network.one_sided`). "losses": the ordinary dense networks the exact oracles leave out
#: (hinge, svm and the other losses, reductions, margins, regularization).
REFERENCE_ORACLE = {
    "losses": lambda: networks(),
    "graph": graph_networks,
    "sequence": sequence_networks,
    "rnn": rnn_networks,
    "lstm": lstm_networks,
    "attention": attention_networks,
    "embedding": embedding_networks,
    "sequence_large": _large_sequences,
    "sequence_long": _long_sequences,
}
CATEGORIES.update(REFERENCE_ORACLE)

#: Planted changes and how often each is drawn; the last two must pass.
PLANTS = {"neg": 1.0, "double": 1.0, "milli": 1.0, "zero": 1.0, "swap_rows": 1.0, "swap_elements": 1.0,
          "float32_milli": 0.5, "ulp": 1.0, "float32": 0.5}
MUST_PASS = ("ulp", "float32")
FAILING = ("wrong", "suspicious")
#: Above this many mpmath operations per loss, the 60-digit derivative is skipped (too slow to be worth it).
MP_BUDGET = 200_000
EPS = float(np.finfo(np.float64).eps)
LADDER = [10.0 ** (-k / 2) for k in range(2, 21)]


#: What the exact oracles (:mod:`exact_gradients`) write out: other losses, loss options and activations are left out
#: of the sweep (their own tests compare them with torch).
ORACLE_LOSSES = {"mse", "quadratic", "sse", "cross_entropy", "bce"}
ORACLE_ACTIVATIONS = {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "softplus", "softmax"}


def oracle_knows(net):
    """True when the exact oracles can compute every part of ``net``."""
    if net.get("loss", "mse") not in ORACLE_LOSSES or {"reduction", "regularization", "margin"} & set(net):
        return False
    return all(ly.get("activation", "linear") in ORACLE_ACTIVATIONS and not {"slope", "alpha"} & set(ly)
               for ly in net["layers"])


def wanted(category, net):
    """True for a network the sweep takes in ``category``: in its own categories, one the exact oracles can build; in
    "losses", one they cannot (the other losses and options); in the other categories of other kinds, any."""
    if category == "losses":
        return not oracle_knows(net)
    return category in REFERENCE_ORACLE or oracle_knows(net)


def draw(category, count, base_seed):
    """Up to ``count`` networks of ``category``, the same ones for the same seed (hypothesis draws some twice:
    those are kept once)."""
    nets = {}

    @seed(base_seed ^ zlib.crc32(category.encode()))
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(CATEGORIES[category]())
    def collect(net):
        if wanted(category, net):
            nets.setdefault(json.dumps(net, sort_keys=True), net)

    collect()
    return list(nets.values())[:count]


# -- one network ---------------------------------------------------------------------------------

class Network:
    """A drawn network with its reference gradients, the oracle's and the correct run's result."""

    def __init__(self, net, exact_oracle=True):
        self.net, self.spec = net, load_spec(net)
        self.params = self.spec.parameters()
        self.X, self.Y = self.spec.batch_data()
        _, self.ref = backprop(self.spec, self.params, self.X, self.Y)
        self.exact_oracle = exact_oracle  # False: a kind the oracles cannot build (see REFERENCE_ORACLE)
        torch = torch_gradients(self.spec, self.params, self.X, self.Y) if exact_oracle else None
        self.oracle = "torch" if torch is not None else "reference"
        self.exact = torch if torch is not None else self.ref
        self.names = [(name, layer, kind) for name, layer, kind, _ in self.spec.param_names()]
        self._mp = {}

    def where(self, name):
        """(layer, key) of the tensor ``name`` (``W0``, ``gamma1``)."""
        return next((layer, key) for n, layer, key in self.names if n == name)

    def value(self, which, name, flat):
        layer, kind = self.where(name)
        return float({"ref": self.ref, "exact": self.exact}[which][layer][kind].ravel()[flat])

    def mp(self, name, flat):
        """The 60-digit derivative of one element (None where it would be slow, or the oracle cannot build it)."""
        if not self.exact_oracle or mp_cost(self.spec, self.params, self.X, self.Y) > MP_BUDGET:
            return None
        if (name, flat) not in self._mp:
            layer, kind = self.where(name)
            self._mp[name, flat] = mp_derivative(self.spec, self.params, self.X, self.Y, layer, kind, flat)
        return self._mp[name, flat]

    def best_exact(self, name, flat):
        m = self.mp(name, flat)
        return (m, "mpmath") if m is not None else (self.value("exact", name, flat), self.oracle)

    def loss(self, params):
        """C at ``params``: the loss and the regularization term."""
        return cost(self.spec, params, self.X, self.Y)

    def ladder(self, name, flat):
        """(central differences of one element at every step of :data:`LADDER` in float64, each one's rounding
        floor ε·max|C(θ ± h)|/h)."""
        layer, kind = self.where(name)
        params = [{k: v.copy() for k, v in p.items()} for p in self.params]
        theta = params[layer][kind].ravel()[flat]
        values, floors = [], []
        for scale in LADDER:
            h = scale * max(1.0, abs(theta))
            up, down = theta + h, theta - h
            params[layer][kind].flat[flat] = up
            c_up = self.loss(params)
            params[layer][kind].flat[flat] = down
            c_down = self.loss(params)
            values.append((c_up - c_down) / (up - down))
            floors.append(EPS * max(abs(c_up), abs(c_down)) / (up - down))
        return np.array(values), np.array(floors)

    def sides(self, name, flat):
        """The 60-digit one-sided derivatives (D₋, D₊) of one element (None where it would be slow); where the
        oracle cannot build the network, float64 one-sided differences (:meth:`one_sided`)."""
        if not self.exact_oracle:
            return self.one_sided(name, flat)
        if mp_cost(self.spec, self.params, self.X, self.Y) > MP_BUDGET:
            return None
        if (name, flat, "sides") not in self._mp:
            layer, kind = self.where(name)
            self._mp[name, flat, "sides"] = mp_derivative(self.spec, self.params, self.X, self.Y, layer, kind, flat,
                                                          sides=True)
        return self._mp[name, flat, "sides"]

    def one_sided(self, name, flat, scale=1e-7):
        """(D₋, D₊) of one element from float64 one-sided differences at a step of ``scale``·max(1, |θ|): at a kink
        (an l1 term at a weight of 0, a relu's z at 0) they hold the two slopes, to about the step times the
        curvature; elsewhere both are the derivative."""
        layer, kind = self.where(name)
        params = [{k: v.copy() for k, v in p.items()} for p in self.params]
        theta = params[layer][kind].ravel()[flat]
        c0, h = self.loss(params), scale * max(1.0, abs(theta))
        params[layer][kind].flat[flat] = theta + h
        up = (self.loss(params) - c0) / ((theta + h) - theta)
        params[layer][kind].flat[flat] = theta - h
        down = (c0 - self.loss(params)) / (theta - (theta - h))
        return down, up

    def resolvable(self, name, flat, planted):
        """(resolvable?, e, where e came from): the rule of the module's docstring."""
        e, source = self.best_exact(name, flat)
        r, t = self.value("ref", name, flat), self.value("exact", name, flat)
        gap = abs(planted - e)
        if not (gap > 1e-4 * max(abs(planted), abs(e)) and gap > 10 * (abs(r - e) + 2 * abs(t - e))):
            return False, e, source
        sides = self.sides(name, flat)
        # between the slopes of a kink, to an honest float64 backprop's error there and the first rule's relative
        # gap: a valid value (a doubled midpoint is the other slope, give or take an ulp, or the 3e-11 the other
        # slope stands from 0), or within the judge's contract of one
        top = max(map(abs, sides or (0.0,)))
        slack = 10 * (abs(r - e) + 2 * abs(t - e)) + 4 * np.finfo(float).eps * top + 1e-4 * max(top, abs(planted))
        if sides is not None and min(sides) - slack <= planted <= max(sides) + slack:
            return False, e, source
        values, floors = self.ladder(name, flat)
        near = (np.abs(values - e) <= gap / 10) & (floors <= gap / 10)
        return bool(np.any(near[1:] & near[:-1])), e, source


def element_rows(result, nw, opinion, where, planted=None):
    """The details of some elements of a result: verdict, exact (and mpmath), backprop, numeric, bound."""
    rows = []
    for name, flat in where:
        t = result.tensor(name)
        verdict = t.verdict(opinion)
        m = nw.mp(name, flat)
        row = {"element": f"{name}[{', '.join(map(str, np.unravel_index(flat, t.shape)))}]" if t.shape else name,
               "flat": int(flat), "verdict": None if verdict is None else str(verdict.ravel()[flat]),
               "exact": nw.value("exact", name, flat), "oracle": nw.oracle, "mpmath": m,
               "backprop": nw.value("ref", name, flat),
               "numeric": float(np.ravel(t.values["numeric"])[flat]),
               "bound": None if t.bound is None else float(np.ravel(t.bound)[flat])}
        if planted is not None:
            row["planted"] = float(planted[name].ravel()[flat])
        rows.append(row)
    return rows


def failing_elements(result, opinion, limit=3):
    """(name, flat) of the worst elements judged wrong or suspicious."""
    rows = [r for r in result.blame(n=limit, opinion=opinion, include_good=False) if r.verdict in FAILING]
    return [(r.param, int(np.ravel_multi_index(r.index, result.tensor(r.param).shape)) if r.index else 0)
            for r in rows]


def correct_run(nw):
    """("passed" | "false_fail" | "ref_wrong", result, elements)."""
    result = check_network(nw.net, symbolic="off", trace_code=False)
    if result.passed:
        return "passed", result, []
    where = failing_elements(result, "backprop")
    rows = element_rows(result, nw, "backprop", where)
    for row, (name, _) in zip(rows, where):
        layer, kind = nw.where(name)
        scale = float(np.abs(nw.exact[layer][kind]).max())
        agrees = [abs(row["backprop"] - e) <= 1e-4 * (abs(e) + scale) for e in (row["exact"], row["mpmath"])
                  if e is not None]
        if not any(agrees):
            return "ref_wrong", result, rows
    return "false_fail", result, rows


# -- planted errors ------------------------------------------------------------------------------

def plant(nw, correct, rng):
    """(kind, {name: planted array}, float32?, [(name, flat) changed]) for one drawn change of the gradients."""
    kinds = list(PLANTS)
    kind = kinds[rng.choice(len(kinds), p=np.array(list(PLANTS.values())) / sum(PLANTS.values()))]
    grads = {name: nw.ref[layer][key].copy() for name, layer, key in nw.names}
    if kind == "ulp":
        for g in grads.values():
            g += rng.integers(-2, 3, g.shape) * np.spacing(g)
        return kind, grads, False, []
    if kind == "float32":
        return kind, grads, True, []
    exact = {name: nw.exact[layer][key] for name, layer, key in nw.names}
    live = [name for name in grads if np.any(exact[name] != 0) and grads[name].size]
    if not live:
        return "ulp", grads, False, []
    name = live[rng.integers(len(live))]
    e, g = exact[name].ravel(), grads[name]
    flat = _target(correct.tensor(name), e, rng)
    if kind in ("neg", "double", "milli", "zero", "float32_milli"):
        factor = {"neg": -1.0, "double": 2.0, "milli": 1.001, "zero": 0.0, "float32_milli": 1.001}[kind]
        if kind == "float32_milli":
            g[...] = g.astype(np.float32)
        g.flat[flat] = float(np.float32(g.flat[flat] * factor)) if kind == "float32_milli" else g.flat[flat] * factor
    elif kind == "swap_rows" and g.ndim >= 2 and g.shape[0] >= 2:
        i = np.unravel_index(flat, g.shape)[0]
        j = (i + 1 + rng.integers(g.shape[0] - 1)) % g.shape[0]
        g[[i, j]] = g[[j, i]]
    else:
        kind = "swap_elements"
        other = [k for k in range(g.size) if g.flat[k] != g.flat[flat]]
        if other:
            k = other[rng.integers(len(other))]
            g.flat[flat], g.flat[k] = g.flat[k], g.flat[flat]
    layer, key = nw.where(name)
    changed = [flat] if kind == "float32_milli" else np.flatnonzero(g.ravel() != nw.ref[layer][key].ravel())
    changed = np.asarray(changed, dtype=int)
    order = changed[np.argsort(-np.abs(e[changed]), kind="stable")][:8]  # the largest first, at most 8
    return kind, grads, kind == "float32_milli", [(name, int(k)) for k in order]


def _target(tensor, e, rng):
    """Half the time a random element with a nonzero exact gradient; else the weakest one: judged other than good
    by the correct run, or the worst finite difference."""
    nonzero = np.flatnonzero(e != 0)
    if rng.random() < 0.5:
        return int(nonzero[rng.integers(len(nonzero))])
    verdict = tensor.verdict("backprop").ravel()[nonzero]
    numeric = np.ravel(tensor.values["numeric"])[nonzero]
    score = np.abs(numeric - e[nonzero]) / np.abs(e[nonzero]) + 10.0 * (verdict != "good")
    return int(nonzero[np.argmax(score)])


def _beyond_float32(v):
    """True for a nonzero value that float32 cannot hold as a normal number (it underflows or overflows)."""
    info = np.finfo(np.float32)
    return v != 0 and not float(info.tiny) <= abs(v) <= float(info.max)


def impl_for(nw, grads, float32):
    def impl(params, X, Y):
        out = [{} for _ in nw.spec.layers]
        for name, layer, key in nw.names:
            out[layer][key] = grads[name].astype(np.float32) if float32 else grads[name].copy()
        return out
    return impl


def planted_run(nw, correct, rng):
    """(kind, outcome, result, rows, grads, float32)."""
    kind, grads, float32, changed = plant(nw, correct, rng)
    result = check_network(nw.net, impl_for(nw, grads, float32), symbolic="off", trace_code=False)
    if kind in MUST_PASS:
        if result.passed or not correct.passed:
            return kind, "passed", result, [], grads, float32
        where = failing_elements(result, "impl")
        if float32 and all(_beyond_float32(nw.value("exact", name, flat)) for name, flat in where):
            return kind, "unrepresentable", result, [], grads, float32
        return kind, "false_fail", result, element_rows(result, nw, "impl", where, grads), grads, float32
    verdicts = {(name, flat): str(result.tensor(name).verdict("impl").ravel()[flat]) for name, flat in changed}
    if not changed:
        return kind, "unresolvable", result, [], grads, float32
    if any(v in FAILING for v in verdicts.values()):
        return kind, "caught", result, [], grads, float32
    resolved = [(name, flat) for name, flat in changed if nw.resolvable(name, flat, grads[name].ravel()[flat])[0]]
    if not resolved:
        return kind, "unresolvable", result, [], grads, float32
    outcome = "inconclusive" if any(verdicts[w] == "inconclusive" for w in resolved) else "false_pass"
    if outcome == "false_pass" and not float32 and all(
            _allowed(result, name, flat, grads[name].ravel()[flat], nw) for name, flat in resolved):
        outcome = "allowed"
    return kind, outcome, result, element_rows(result, nw, "impl", resolved, grads), grads, float32


def _allowed(result, name, flat, planted, nw):
    """True where the planted value is within the judge's documented allowance at the element: no farther from the
    exact value than the rounding a correct float64 backprop may make there (the tensor's allowance) and less than
    :data:`SUSPICIOUS` of the element (the most a "good" verdict promises)."""
    rounding = result.tensor(name).rounding
    if rounding is None:
        return False
    e = nw.best_exact(name, flat)[0]
    gap = abs(planted - e)
    return gap <= float(np.ravel(rounding)[flat]) and gap < SUSPICIOUS * max(abs(planted), abs(e))


# -- the sweep ------------------------------------------------------------------------------------

def save(out, category, index, what, nw, rows, result, plant_kind=None, grads=None, float32=False):
    case = {"category": category, "index": index, "outcome": what, "description": nw.net.get("description", ""),
            "plant": plant_kind, "elements": rows, "passed": result.passed, "notes": result.notes,
            "problems": result.problems, "network": nw.net}
    if grads is not None:
        case["planted"] = {"float32": float32, "gradients": {k: v.tolist() for k, v in grads.items()}}
    path = out / f"{category}-{index:05d}-{what}{'-' + plant_kind if plant_kind else ''}.json"
    path.write_text(json.dumps(case, indent=1, default=float), encoding="utf-8")
    return case


def sweep(categories, count, base_seed, out):
    counts = defaultdict(Counter)
    by_plant = defaultdict(Counter)
    cases = []
    for category in categories:
        t0 = time.process_time()
        nets = draw(category, count, base_seed)
        for i, net in enumerate(nets):
            rng = np.random.default_rng([base_seed, zlib.crc32(category.encode()), i])
            c = counts[category]
            c["networks"] += 1
            try:
                nw = Network(net, exact_oracle=category not in REFERENCE_ORACLE)
                what, correct, rows = correct_run(nw)
                c[f"correct {what}"] += 1
                if what != "passed":
                    cases.append(save(out, category, i, what, nw, rows, correct))
                kind, outcome, result, rows, grads, float32 = planted_run(nw, correct, rng)
            except Exception as e:  # a crash of the checker is a finding too
                c["crashed"] += 1
                path = out / f"{category}-{i:05d}-crash.json"
                path.write_text(json.dumps({"category": category, "error": repr(e), "network": net}, default=float))
                continue
            group = "must pass" if kind in MUST_PASS else "float32" if kind == "float32_milli" else "error"
            c[f"{group} {outcome}"] += 1
            by_plant[kind][outcome] += 1
            if outcome not in ("passed", "caught", "unresolvable", "unrepresentable"):
                cases.append(save(out, category, i, outcome, nw, rows, result, kind, grads, float32))
        counts[category]["cpu s"] = round(time.process_time() - t0, 1)
        print(f"{category}: {len(nets)} networks in {counts[category]['cpu s']} s CPU", file=sys.stderr)
    return counts, by_plant, cases


def report(counts, by_plant, oracle):
    """The tables, as text: per category, then per planted change."""
    rows = []
    for category, c in counts.items():
        resolvable = c["error caught"] + c["error false_pass"] + c["error inconclusive"] + c["error allowed"]
        f32 = c["float32 caught"] + c["float32 false_pass"] + c["float32 inconclusive"]
        rows.append([category, c["networks"], c["correct false_fail"], c["must pass false_fail"],
                     c["correct ref_wrong"], resolvable, c["error caught"], c["error false_pass"],
                     c["error inconclusive"], c["error allowed"], c["error unresolvable"],
                     f"{f32 - c['float32 caught']}/{f32}",
                     c["crashed"], c["cpu s"]])
    total = ["total", *[sum(r[k] for r in rows) if k != 11 else
                        "/".join(str(sum(int(r[k].split("/")[j]) for r in rows)) for j in (0, 1))
                        for k in range(1, len(rows[0]))]]
    outcomes = ["caught", "false_pass", "inconclusive", "allowed", "unresolvable", "passed", "false_fail",
                "unrepresentable"]
    return "\n\n".join([
        f"oracle: {oracle}; mpmath at 60 digits for the elements of every case; for "
        f"{', '.join(REFERENCE_ORACLE)}: the reference backprop, and no mpmath",
        tabulate([*rows, total], headers=["category", "nets", "false FAIL", "false FAIL (must pass)", "ref≠oracle",
                                          "resolvable plants", "caught", "false PASS", "inconclusive",
                                          "within the allowance", "unresolvable", "float32 ×1.001 not caught",
                                          "crashed", "CPU s"]),
        tabulate([[k, *[by_plant[k][o] for o in outcomes]] for k in PLANTS if by_plant[k]],
                 headers=["plant", *outcomes])])


def replay(path):
    """Run one saved case again and print the result."""
    case = json.loads(Path(path).read_text(encoding="utf-8"))
    net = case["network"]
    impl = None
    if case.get("planted"):
        spec = load_spec(net)
        grads = {k: np.asarray(v, float) for k, v in case["planted"]["gradients"].items()}
        names = [(name, layer, kind) for name, layer, kind, _ in spec.param_names()]

        def impl(params, X, Y):
            out = [{} for _ in spec.layers]
            for name, layer, key in names:
                out[layer][key] = grads[name].astype(np.float32) if case["planted"]["float32"] else grads[name].copy()
            return out
    print(check_network(net, impl, symbolic="off"))
    print(json.dumps(case["elements"], indent=1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200, help="networks per category (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--category", action="append", choices=list(CATEGORIES),
                        help="a category to sweep (repeatable; default all)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the failing cases (default: a new temp dir)")
    parser.add_argument("--replay", type=Path, default=None, help="run one saved case again")
    args = parser.parse_args(argv)
    if args.replay:
        replay(args.replay)
        return 0
    out = args.out or Path(tempfile.mkdtemp(prefix="sweep-judge-"))
    out.mkdir(parents=True, exist_ok=True)
    warnings.simplefilter("ignore", RuntimeWarning)  # overflow in the diagnosis's replays of saturated networks
    counts, by_plant, cases = sweep(args.category or list(CATEGORIES), args.count, args.seed, out)
    text = report(counts, by_plant, "torch float64 autograd" if _has_torch() else "the reference backprop")
    (out / "summary.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"\n{len(cases)} case(s) written to {out}")
    return 0


def _has_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
