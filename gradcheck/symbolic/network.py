"""A network written out in SymPy symbols: one symbol per number, the forward pass, the δ's, every element.

Used by :mod:`gradcheck.symbolic.derive`. Symbols are :class:`NetSymbol` named
``<letter><layer>_<index>``: inputs ``x``, targets ``y``, params ``w``, ``b``, ``gamma``,
``beta`` (named by their array position in ``params[l]``), fixed buffers ``m`` (a dropout
mask, one per sample like x), and the intermediate ``z``, ``a`` and ``delta``.
Per-sample arrays (C, H, W) carry all their indices: ``x_0,1,2`` is x[c=0, h=1, w=2].

Each layer's local expression comes from its catalogue entry: ``symbolic_z(params,
a_prev, conv, bias, define)`` for one sample (flat lists in C order), or
``symbolic_batch`` for a layer whose output depends on the other samples (batchnorm).
``define(letter, index, expr)`` names an intermediate value (a norm's mean ``mu`` and
variance ``var``) and returns its symbol: the backward pass then carries the adjoints
``dmu`` = ∂C/∂μ, ``dvar`` = ∂C/∂σ² as steps of their own, so the expressions stay
linear in the layer's size. With such a layer the whole
batch is written out, every symbol gets the sample index first (``x_1,0`` is sample 1's
x_0) and the cost is C itself rather than one sample's C_n. Each sample's expressions are
then sample 0's renamed (:mod:`gradcheck.symbolic.retag`), unless a mask leaves some of
its steps out of the loss.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import sympy as sp

from ..catalogue.sympy_forms import product, total
from .partials import fused_delta, local_derivative, loss_derivative, partial, parts, terms_holding
from .reach import batch_level
from .retag import Retag
from .symbols import NetSymbol, sym

__all__ = ["NetSymbol", "Network", "write_network", "batch_level", "has_form", "partial", "sym", "terms_holding"]

_LETTER = {"W": "w", "b": "b", "gamma": "gamma", "beta": "beta", "mask": "m"}


def _array(letter, layer, shape, tag=()):
    """An object array of ``shape`` holding one symbol per entry."""
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = sym(letter, layer, *tag, *idx)
    return out


def _entries(letter, layer, shape, tag=()):
    return [sym(letter, layer, *tag, *idx) for idx in np.ndindex(*shape)]


def _alike(ly):
    """True when a layer that ties the samples writes each sample's z in the same form (``symbolic_batch`` takes
    ``alike``): its backward pass then renames too."""
    return "alike" in _arguments(type(ly), "symbolic_batch")


def _takes_define(ly):
    return "define" in _arguments(type(ly), "symbolic_z")


@functools.cache
def _arguments(kind, method):
    """The argument names of the layer class ``kind``'s ``method``: a fact of the class, read once."""
    return frozenset(inspect.signature(getattr(kind, method)).parameters)


def has_form(ly):
    """True when the layer kind has a symbolic form (per sample or per batch)."""
    return ly.has_symbolic


class Network:
    """The written-out network (see the module docstring); built by :func:`write_network`.

    Per layer: ``params[l]`` {kind: object array of symbols, shaped like the params};
    ``buffers[l]`` {key: [per-sample object arrays]}; ``z[l]``, ``a[l]``, ``delta[l]``
    flat symbol lists (samples, then the C-order entries of one output); ``z_exprs[l]`` the
    local expressions of z. ``a[l]`` is ``z[l]`` for a layer without an activation.
    ``x``, ``y``: per-sample lists of symbols. ``forward`` {z or a symbol: definition},
    ``loss`` C_n (or C), ``da`` {a^L symbol: ∂C/∂a}, ``deltas`` {δ symbol: definition};
    ``fused`` {δ^L symbol: the same δ derived from the loss written in z} where the loss is
    fused with its output activation (bce on σ, cross-entropy on softmax), else empty.
    """

    renames = True  # False: every sample written out on its own (the tests compare the two)

    def __init__(self, spec, samples):
        self.spec, self.samples = spec, samples
        # the whole batch written out: a layer that ties the samples, or a mask that differs between them
        self.batch = any(batch_level(ly) for ly in spec.layers) or getattr(spec, "mask", None) is not None
        self.tags = [(n,) for n in range(samples)] if self.batch else [()]
        # With the batch written out and no sample left out of the loss, a layer that works on one sample at a time
        # writes sample 0 and renames it for the others (see :mod:`gradcheck.symbolic.retag`).
        renames = self.renames and self.batch and samples > 1 and getattr(spec, "mask", None) is None
        self.retag = Retag(samples) if renames else None
        self.N = sp.Symbol("N", integer=True, positive=True)
        self.K = sp.Symbol("K", integer=True, positive=True)
        self.x = [_entries("x", None, spec.input_shape, t) for t in self.tags]
        self.y = [_entries("y", None, spec.output_shape, t) for t in self.tags]  # (K,), or (T, K) per step
        for per_sample in (self.x, self.y):
            self.pair(per_sample)
        self.params, self.buffers, self.z, self.a, self.z_exprs, self.forward = [], [], [], [], [], {}
        self.inter = []  # per layer {intermediate symbol: definition}, in definition order
        self.delta, self.deltas = [], {}
        self.carried = {}  # {l: [∂C/∂a^l_m per unit m]} below the output layer, as the backward pass carried it
        self.fused = {}  # {δ^L_j: ∂C/∂z^L_j of the loss written in z}, for a loss fused with its output activation
        self.penalised = {}  # {w: ∂R_n/∂w} with a regularisation term

    def pair(self, per_sample):
        """Pair sample 0's symbols with each sample's (``per_sample[n]``: sample n's, in the same order)."""
        if self.retag is not None:
            self.retag.register(list(per_sample[0]), [list(x) for x in per_sample])

    def each(self, count, make):
        """``[make(0), make(1), …]`` for ``count`` samples; where the network renames, sample n's is sample 0's
        renamed instead."""
        first = make(0)
        if self.retag is None:
            return [first] + [make(n) for n in range(1, count)]
        return self.retag.alike(first)

    def first_sample(self, li):
        """How many of layer li's z's are sample 0's where every other sample's are sample 0's renamed (None
        where each is written on its own)."""
        ly = self.spec.layers[li]
        if self.retag is None or (batch_level(ly) and not _alike(ly)):
            return None
        return len(self.z_exprs[li]) // len(self.tags)

    def split(self, flat):
        """``flat`` (samples, then the entries of one) split by sample where the network renames; else [flat]."""
        if self.retag is None:
            return [flat]
        per = len(flat) // len(self.tags)
        return [flat[n * per:(n + 1) * per] for n in range(len(self.tags))]

    @property
    def inputs(self):
        """Data symbols in argument order: x, y, then each layer's buffers (sample-major)."""
        flat = [s for xs in self.x for s in xs] + [s for ys in self.y for s in ys]
        for bufs in self.buffers:
            for key in bufs:
                flat += [s for arr in bufs[key] for s in arr.ravel()]
        return flat


def write_network(spec, loss_term, samples=1, term_from_z=None):
    """The :class:`Network` of ``spec`` with its forward pass, cost and δ's.

    ``samples``: 1 writes one generic sample (unless a layer needs the batch); N writes
    a batch of N. ``loss_term(a, y, N, K)`` is the loss's per-sample SymPy term;
    ``term_from_z(z, y, N, K)``, for a loss defined with its output activation, is the same
    term in the output layer's z: the output δ's are then also derived from it (``fused``).
    """
    net = Network(spec, samples)
    conv, bias = spec.conv, spec.bias
    outputs = {-1: net.x}
    for ly in spec.layers:
        li = ly.index
        got = [outputs[j] for j in ly.inputs]
        a_prev = [list(per) for per in zip(*got)] if ly.multi_input else got[0]
        p = {k: _array(_LETTER.get(k, k.lower()), li, s) for k, s in ly.param_shapes(conv, bias).items()}
        bufs = {k: [_array(_LETTER.get(k, k.lower()), li, ly.in_shape, t) for t in net.tags]
                for k in ly.buffer_shapes(conv, 1)}
        for arrays in bufs.values():
            net.pair([arr.ravel() for arr in arrays])
        inter = {}

        def define(letter, index, expr, tag=(), li=li, inter=inter):
            s = sym(letter, li, *tag, *index)
            inter[s] = expr
            return s

        if batch_level(ly):
            zs = ly.symbolic_batch(p, a_prev, conv, bias, define=define,
                                   **({"alike": net.retag.alike} if net.retag is not None and _alike(ly) else {}))
        else:
            zs = _per_sample_z(net, ly, (p, bufs), a_prev, define, inter)
        net.inter.append(inter)
        net.forward.update(inter)
        z = [_entries("z", li, ly.out_shape, t) for t in net.tags]
        net.pair(z)
        net.forward.update((s, e) for zn, en in zip(z, zs) for s, e in zip(zn, en))
        if ly.has_activation:
            a = [_entries("a", li, ly.out_shape, t) for t in net.tags]
            net.pair(a)
            k = ly.out_shape[-1] if len(ly.out_shape) == 2 else None  # a per-step output: softmax over each step

            def activated(n, ly=ly, z=z, k=k):
                groups = [z[n]] if k is None else [z[n][i:i + k] for i in range(0, len(z[n]), k)]
                return [e for group in groups for e in ly.act.symbolic(group)]

            for an, en in zip(a, net.each(len(net.tags), activated)):
                net.forward.update(zip(an, en))
        else:
            a = z
        net.params.append(p)
        net.buffers.append(bufs)
        net.z.append([s for zn in z for s in zn])
        net.a.append([s for an in a for s in an])
        net.z_exprs.append([e for en in zs for e in en])
        outputs[li] = a
    terms = _sample_terms(net, net.a[-1], loss_term)
    net.loss = sp.Add(*[t for part in terms for t in part])

    def held_da(n):
        held = parts(sp.Add(*terms[n]), set(net.split(net.a[-1])[n]))
        return [loss_derivative(held.get(ai, sp.S.Zero), ai) for ai in net.split(net.a[-1])[n]]

    net.da = dict(zip(net.a[-1], [d for part in net.each(len(terms), held_da) for d in part]))
    _backward(net)
    if term_from_z is not None:
        net.fused = _fused(net, term_from_z)
    return net


def _sample_terms(net, flat, term):
    """Per sample (one part unless the network renames), the loss's terms ``term(row, y_row, N, K)`` of its output
    rows in ``flat`` (net.a[-1] or net.z[-1])."""
    rows = _output_rows(net.spec, flat, net.y)
    per = len(rows) // len(net.split(flat))

    def made(n):
        return [term(row, y, net.N, net.K) for row, y in rows[n * per:(n + 1) * per]]

    return net.each(len(net.split(flat)), made)


def _fused(net, term_from_z):
    """{δ^L_j: ∂C/∂z^L_j of the loss written in z}, each output's form written as its a."""
    terms = _sample_terms(net, net.z[-1], term_from_z)

    def fused(n):
        zs = net.split(net.z[-1])[n]
        held = parts(sp.Add(*terms[n]), set(zs))
        near = {}  # z_j -> the outputs whose form holds it: σ(z_j), or softmax(m, z) of its row
        for ai in net.split(net.a[-1])[n]:
            for s in net.forward[ai].free_symbols:
                near.setdefault(s, []).append(ai)
        return [fused_delta(held.get(zj, sp.S.Zero), zj, sp.Tuple(*[net.forward[ai] for ai in near[zj]]),
                            sp.Tuple(*near[zj])) for zj in zs]

    return dict(zip(net.delta[-1], [d for part in net.each(len(terms), fused) for d in part]))
    return net


def _per_sample_z(net, ly, symbols, a_prev, define, inter):
    """Each sample's z expressions of a layer that works on one sample at a time (``symbols``: its params' and
    its buffers' symbol arrays); its intermediates go into ``inter`` through ``define``, sample by sample."""
    p, bufs = symbols

    def one(n):
        return ly.symbolic_z({**p, **{k: v[n] for k, v in bufs.items()}}, a_prev[n], net.spec.conv, net.spec.bias,
                             **({"define": functools.partial(define, tag=net.tags[n])} if _takes_define(ly) else {}))

    if net.retag is None:
        return [one(n) for n in range(len(net.tags))]
    first, defined = one(0), list(inter.items())  # sample 0's z and intermediates
    for n in range(1, len(net.tags)):
        for s0, _ in defined:  # an intermediate, and the adjoint the backward pass gives it
            sn = retagged(s0, n)
            net.retag.pair(n, s0, sn)
            net.retag.pair(n, adjoint(s0), adjoint(sn))
        inter.update((retagged(s0, n), net.retag.rename(e0, n)) for s0, e0 in defined)
    return net.retag.alike(first)


def retagged(s, n):
    """Sample n's symbol for sample 0's ``s`` (the sample index is the first of its indices)."""
    letter, layer, index = s._parts()
    return NetSymbol(f"{letter}{layer}_{'_'.join([str(n), *index[1:]])}", real=True)


def _output_rows(spec, flat, ys):
    """[(output row, target row)]: K entries of one sample, or of one step of it for a per-step output (the loss
    sums its terms over the steps; with ``data.mask`` the whole batch is written out and its masked steps left
    out)."""
    k = spec.output
    y = [e for yn in ys for e in yn]
    rows = [(flat[r:r + k], y[r:r + k]) for r in range(0, len(flat), k)]
    mask = getattr(spec, "mask", None)
    if mask is None:
        return rows
    return [row for row, kept in zip(rows, mask.ravel()) if kept]  # data.mask's steps left out of the loss



def _backward(net):
    """δ symbols per layer and {δ^l_j: Σ_m ∂C/∂a^l_m · ∂a^l_m/∂z^l_j}, from the output layer down.

    Below the output, ∂C/∂a^{l-1}_m = Σ_i ∂z^l_i/∂a^{l-1}_m · δ^l_i over the z_i that
    contain a^{l-1}_m (all of them for a dense layer, one window's worth for a conv).
    """
    spec = net.spec
    net.delta = [[sym("delta", li, *s.name.split("_", 1)[1].split("_")) for s in net.z[li]]
                 for li in range(len(spec.layers))]
    for deltas in net.delta:
        net.pair(net.split(deltas))
    pending = {len(spec.layers) - 1: [net.da[ai] for ai in net.a[-1]]}
    for li in reversed(range(len(spec.layers))):
        ly, zs, as_ = spec.layers[li], net.z[li], net.a[li]
        da = pending.pop(li)
        if not ly.has_activation:
            net.deltas.update(zip(net.delta[li], da))
        else:
            users = {}
            per = len(net.split(as_)[0])  # sample 0's where the network renames, else all
            for m, am in enumerate(as_[:per]):
                for s in net.forward[am].free_symbols:
                    users.setdefault(s, []).append(m)

            def deltas_of(n, users=users, ly=ly, zs=zs, as_=as_, da=da, per=per):
                return [total([product(da[m], _local_at(net, ly, as_, users[zj], m, zj)) for m in users.get(zj, ())])
                        for zj in zs[n * per:(n + 1) * per]]

            for ds, es in zip(net.split(net.delta[li]), net.each(len(net.split(as_)), deltas_of)):
                net.deltas.update(zip(ds, es))
        sources = list(dict.fromkeys(j for j in ly.inputs if j >= 0))
        if sources:
            for j, carried in zip(sources, _carry(net, li, sources)):
                pending[j] = [p + c for p, c in zip(pending[j], carried)] if j in pending else carried
                net.carried[j] = pending[j]
        elif holds_params(net, li):
            _adjoints(net, li)


def _local_at(net, ly, as_, group, m, zj):
    """∂a_m/∂z_j; a non-diagonal Jacobian (softmax) written in the a symbols of the outputs that share z_j,
    a_m([m=j] − a_j)."""
    if ly.act.derivative is not None:
        return partial(net.forward[as_[m]], zj)
    a = sp.Tuple(*[as_[i] for i in group])
    return local_derivative(net.forward[as_[m]], zj, sp.Tuple(*[net.forward[ai] for ai in a]), a)


def holds_params(net, li):
    """True when an intermediate of layer li holds one of its params (a recurrent layer's states do)."""
    params = {t for arr in net.params[li].values() for t in np.ravel(arr)}
    return any(sp.sympify(e).free_symbols & params for e in net.inter[li].values())


def adjoint(s):
    """The symbol of ∂C/∂s for an intermediate s (its definition in ``net.deltas``)."""
    return NetSymbol("d" + s.name, real=True)


def _adjoints(net, li, first=False, alike=False):
    """{symbol: [(expression, adjoint symbol)] that contain it}: layer li's z's with their δ's and its
    intermediates with their adjoints, each adjoint defined in ``net.deltas`` (reverse definition order).
    Where the network renames: ``first``, sample 0's only, the other samples' adjoints renamed from them (a layer
    that works on one sample at a time); ``alike``, the z's of sample 0 only, each sample's share of an
    intermediate's adjoint renamed from sample 0's (a layer that ties the samples, each in the same form)."""
    zs, delta, inter = net.z_exprs[li], net.delta[li], list(net.inter[li])
    if first or alike:
        zs, delta = net.split(zs)[0], net.split(delta)[0]
    if first:
        inter = net.split(inter)[0]
    users, shared = {}, {}  # symbol -> [(the terms of an expression that hold it, adjoint symbol)]: z's, others
    for zi, di in zip(zs, delta):
        _add_user(users, zi, di)
    made = {}
    for s in reversed(inter):
        adj = adjoint(s)
        terms = [product(partial(e, s), a) for e, a in users.get(s, ())]
        others = [product(partial(e, s), a) for e, a in shared.get(s, ())]
        made[adj] = net.retag.total_everywhere(terms, others) if alike else total(terms + others)
        _add_user(shared, net.inter[li][s], adj)
    if first:  # sample N − 1's first, as when every sample's are made
        for n in reversed(range(1, len(net.tags))):
            net.deltas.update((net.retag.rename(adj, n), net.retag.rename(e, n)) for adj, e in made.items())
    net.deltas.update(made)
    for s, held in shared.items():
        users.setdefault(s, []).extend(held)
    return users


def _add_user(users, expr, adj):
    """Record ``expr`` with its adjoint under each of its symbols; of a sum, only the terms that hold the symbol
    (the others differentiate to 0: a dense z_i's term w_im·a_m for a_m, not all fan_in terms once per a_m)."""
    expr = sp.sympify(expr)
    c, rest = expr.as_coeff_Mul(rational=True)
    if not isinstance(rest, sp.Add):
        for s in expr.free_symbols:
            users.setdefault(s, []).append((expr, adj))
        return
    terms = {}
    for t in rest.args:
        for s in t.free_symbols:
            terms.setdefault(s, []).append(t)
    for s, held in terms.items():
        if c is not sp.S.One:  # a mean's 1/n·Σ: the one term that holds s, times 1/n
            part = sp.Mul(c, held[0]) if len(held) == 1 and not held[0].is_Mul else expr
        else:
            part = held[0] if len(held) == 1 else sp.Add(*held)
        users.setdefault(s, []).append((part, adj))


def _carry(net, li, sources):
    """∂C/∂a^j for every output symbol of each layer j in ``sources`` that layer l reads, through layer l's
    intermediates (reverse order); where the network renames and layer l works on one sample at a time, sample
    0's, renamed for the others."""
    ly = net.spec.layers[li]
    renames = net.retag is not None
    users = _adjoints(net, li, renames and not batch_level(ly), renames and batch_level(ly) and _alike(ly))
    first = renames and (not batch_level(ly) or _alike(ly))
    out = []
    for j in sources:
        made = [total([product(partial(e, am), a) for e, a in users.get(am, ())])
                for am in (net.split(net.a[j])[0] if first else net.a[j])]
        out.append(made + [net.retag.rename(e, n) for n in range(1, len(net.tags)) for e in made] if first else made)
    return out


def expand(net, elements):
    """Fill each element's ``expanded``: z, a, δ substituted by their definitions (no simplify)."""
    full = {}
    for s, e in net.forward.items():
        full[s] = sp.sympify(e).xreplace(full)
    for s, e in net.deltas.items():
        full[s] = e.xreplace(full)
    for el in elements:
        el.expanded = el.chain_rule.xreplace(full)
