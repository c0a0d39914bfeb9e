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
x_0) and the cost is C itself rather than one sample's C_n.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np
import sympy as sp

from ..catalogue.sympy_forms import product, total
from .partials import fused_delta, local_derivative, loss_derivative, partial, parts, terms_holding
from .reach import batch_level
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


def _takes_define(ly):
    return "define" in inspect.signature(ly.symbolic_z).parameters


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

    def __init__(self, spec, samples):
        self.spec, self.samples = spec, samples
        # the whole batch written out: a layer that ties the samples, or a mask that differs between them
        self.batch = any(batch_level(ly) for ly in spec.layers) or getattr(spec, "mask", None) is not None
        self.tags = [(n,) for n in range(samples)] if self.batch else [()]
        self.N = sp.Symbol("N", integer=True, positive=True)
        self.K = sp.Symbol("K", integer=True, positive=True)
        self.x = [_entries("x", None, spec.input_shape, t) for t in self.tags]
        self.y = [_entries("y", None, spec.output_shape, t) for t in self.tags]  # (K,), or (T, K) per step
        self.params, self.buffers, self.z, self.a, self.z_exprs, self.forward = [], [], [], [], [], {}
        self.inter = []  # per layer {intermediate symbol: definition}, in definition order
        self.delta, self.deltas = [], {}
        self.carried = {}  # {l: [∂C/∂a^l_m per unit m]} below the output layer, as the backward pass carried it
        self.fused = {}  # {δ^L_j: ∂C/∂z^L_j of the loss written in z}, for a loss fused with its output activation
        self.penalised = {}  # {w: ∂R_n/∂w} with a regularisation term

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
        inter = {}

        def define(letter, index, expr, tag=(), li=li, inter=inter):
            s = sym(letter, li, *tag, *index)
            inter[s] = expr
            return s

        if batch_level(ly):
            zs = ly.symbolic_batch(p, a_prev, conv, bias, define=define)
        else:
            zs = [ly.symbolic_z({**p, **{k: v[n] for k, v in bufs.items()}}, a_prev[n], conv, bias,
                                **({"define": functools.partial(define, tag=t)} if _takes_define(ly) else {}))
                  for n, t in enumerate(net.tags)]
        net.inter.append(inter)
        net.forward.update(inter)
        z = [_entries("z", li, ly.out_shape, t) for t in net.tags]
        net.forward.update((s, e) for zn, en in zip(z, zs) for s, e in zip(zn, en))
        if ly.has_activation:
            a = [_entries("a", li, ly.out_shape, t) for t in net.tags]
            k = ly.out_shape[-1] if len(ly.out_shape) == 2 else None  # a per-step output: softmax over each step
            for an, zn in zip(a, z):
                groups = [zn] if k is None else [zn[i:i + k] for i in range(0, len(zn), k)]
                net.forward.update(zip(an, [e for group in groups for e in ly.act.symbolic(group)]))
        else:
            a = z
        net.params.append(p)
        net.buffers.append(bufs)
        net.z.append([s for zn in z for s in zn])
        net.a.append([s for an in a for s in an])
        net.z_exprs.append([e for en in zs for e in en])
        outputs[li] = a
    net.loss = sp.Add(*[loss_term(an, yn, net.N, net.K) for an, yn in _output_rows(spec, net.a[-1], net.y)])
    held = parts(net.loss, set(net.a[-1]))
    net.da = {ai: loss_derivative(held.get(ai, sp.S.Zero), ai) for ai in net.a[-1]}
    _backward(net)
    if term_from_z is not None:
        rows = _output_rows(spec, net.z[-1], net.y)
        held = parts(sp.Add(*[term_from_z(zn, yn, net.N, net.K) for zn, yn in rows]), set(net.z[-1]))
        near = {}  # z_j -> the outputs whose form holds it: σ(z_j), or softmax(m, z) of its row
        for ai in net.a[-1]:
            for s in net.forward[ai].free_symbols:
                near.setdefault(s, []).append(ai)
        net.fused = {d: fused_delta(held.get(zj, sp.S.Zero), zj, sp.Tuple(*[net.forward[ai] for ai in near[zj]]),
                                    sp.Tuple(*near[zj])) for d, zj in zip(net.delta[-1], net.z[-1])}
    return net


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
    pending = {len(spec.layers) - 1: [net.da[ai] for ai in net.a[-1]]}
    for li in reversed(range(len(spec.layers))):
        ly, zs, as_ = spec.layers[li], net.z[li], net.a[li]
        da = pending.pop(li)
        if not ly.has_activation:
            net.deltas.update(zip(net.delta[li], da))
        else:
            users = {}
            for m, am in enumerate(as_):
                for s in net.forward[am].free_symbols:
                    users.setdefault(s, []).append(m)
            for j, zj in enumerate(zs):
                net.deltas[net.delta[li][j]] = total([product(da[m], _local_at(net, ly, as_, users[zj], m, zj))
                                                      for m in users.get(zj, ())])
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


def _adjoints(net, li):
    """{symbol: [(expression, adjoint symbol)] that contain it}: layer li's z's with their δ's and its
    intermediates with their adjoints, each adjoint defined in ``net.deltas`` (reverse definition order)."""
    zs, delta, inter = net.z_exprs[li], net.delta[li], net.inter[li]
    users = {}  # symbol -> [(the terms of an expression that hold it, adjoint symbol)]
    for zi, di in zip(zs, delta):
        _add_user(users, zi, di)
    for s in reversed(list(inter)):
        adj = adjoint(s)
        net.deltas[adj] = total([product(partial(e, s), a) for e, a in users.get(s, ())])
        _add_user(users, inter[s], adj)
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
    intermediates (reverse order)."""
    users = _adjoints(net, li)
    return [[total([product(partial(e, am), a) for e, a in users.get(am, ())]) for am in net.a[j]] for j in sources]


def expand(net, elements):
    """Fill each element's ``expanded``: z, a, δ substituted by their definitions (no simplify)."""
    full = {}
    for s, e in net.forward.items():
        full[s] = sp.sympify(e).xreplace(full)
    for s, e in net.deltas.items():
        full[s] = e.xreplace(full)
    for el in elements:
        el.expanded = el.chain_rule.xreplace(full)
