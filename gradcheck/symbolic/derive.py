"""SymPy derivation of a network's gradient, element by element, for one generic sample (or the whole batch).

The network of a :class:`~gradcheck.spec.parse.Spec` is written out with one symbol per
number: inputs ``x_k``, targets ``y_k``, weights ``w^{(l)}_{r,c}`` named by their array
position in ``params[l]["W"]`` (column convention: W is (units, fan_in) and ``W[j, k]``
is unit j's weight on input k; row convention: W is (fan_in, units) and ``W[k, j]`` is
that weight), biases ``b^{(l)}_j``, and intermediate symbols ``z^{(l)}_j``,
``a^{(l)}_j`` and ``\\delta^{(l)}_j = ∂C/∂z^{(l)}_j``. Layers and elements are 0-based.
With ``bias="augmented"`` the bias is the weight on the constant input 1 (the last
column of W in the column convention, the last row in the row convention).

Every local derivative is ``sympy.diff`` of a local expression of the catalogue
(:meth:`Dense.symbolic_z`, :attr:`Activation.symbolic`, :attr:`Loss.sample_term`)::

    δ^L_j = Σ_i ∂C/∂a^L_i · ∂a^L_i/∂z^L_j        (element-wise σ: ∂C/∂a^L_j · σ'(z^L_j))
    δ^l_j = Σ_m (Σ_i ∂z^{l+1}_i/∂a^l_m · δ^{l+1}_i) · ∂a^l_m/∂z^l_j = (Σ_i w^{l+1}_ij δ^{l+1}_i) · σ'(z^l_j)
    ∂C/∂θ = Σ_i δ^l_i · ∂z^l_i/∂θ                 (= δ^l_j · a^{l-1}_k for θ = w^l_jk, δ^l_j for b^l_j)

The last line rests on ∂z_i/∂w_jk = [i = j]·x_k, which :func:`local_fact` derives
(for a convolution, ∂z_{f,i,j}/∂W_{f',c,p,q} = [f = f']·x_{c, i·S+p−P, j·S+q−P}: see
:mod:`gradcheck.symbolic.local_facts`). Every layer kind of the catalogue brings its local
expression (``symbolic_z``), so convolution, pooling, flatten, normalisation and dropout
(its fixed mask enters as data, like x) are derived the same way
(:mod:`gradcheck.symbolic.network` writes the network out).
The cost is C = Σ_n C_n with C_n = ``Loss.sample_term(a_n, y_n, N, K)``; every formula
here is the per-sample one, and :meth:`Derivation.gradients` sums it over the samples.
A batchnorm layer ties the samples together: then the whole batch is written out and
the formulas are those of C itself.

Numbers come from the chain-rule forms evaluated node by node (:mod:`gradcheck.symbolic.evaluate`:
sums and products as ``sympy.lambdify``'s printed code computes them, every other kind of node
lambdified once), with z, a and δ as steps each evaluated once, vectorised over the samples: the
cost grows linearly with the network, not exponentially with depth.
Where the loss is defined with its output activation (bce on σ, cross-entropy on softmax),
the output δ's are evaluated from the loss written in z (``Network.fused``, derived by
``sympy.diff`` as well), as the reference backprop and the finite differences compute it:
∂C/∂a = (1 − y)/(1 − a) of a saturated σ(z) = 1.0 is never evaluated. The displayed δ^L
is the chain rule ∂C/∂a · σ'(z), the same function. An element that still evaluates to
NaN or ±inf where the reference backprop's is finite is "not evaluated": not judged,
and named in a note (:meth:`Derivation.opinion`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..catalogue.losses import loss_of
from ..catalogue.sympy_forms import product, total
from ..reference.backprop import fused_loss
from ..spec.parse import load_spec
from .evaluate import Evaluator, ExactEvaluator
from .local_facts import local_fact
from .network import adjoint, batch_level, has_form, partial, terms_holding, write_network
from .network import expand as _expand_network
from .penalty import add_penalty, numbers
from .reach import SYMBOLIC_LIMIT, UNITS_LIMIT, expand_wanted, should_run

__all__ = ["Derivation", "DerivedElement", "Opinion", "derive", "symbolic_gradient", "local_fact", "should_run",
           "EXACT_DIGITS", "SYMBOLIC_LIMIT", "UNITS_LIMIT"]

#: The significant digits :meth:`Derivation.exact` evaluates with by default.
EXACT_DIGITS = 60


def _latex_eq(lhs, rhs):
    return f"{lhs} = {sp.latex(rhs)}"


@dataclass(repr=False)
class DerivedElement:
    """∂C_n/∂θ for one parameter element θ = ``params[layer][kind][index]``.

    ``symbol`` is θ; ``unit``/``input`` are j and k (``input`` is None for b, and
    ``fan_in`` for the augmented bias weight; for a kind that reaches many units, such
    as a conv weight, ``unit`` is the first of them and ``input`` None); ``local`` is ∂z^l_j/∂θ as SymPy
    differentiated it (a^{l-1}_k, x_k, or 1); ``chain_rule`` is δ^l_j·local in the
    intermediate symbols; ``delta_chain`` is the definition of that δ^l_j;
    ``expanded`` is the same derivative in x, y, w, b only (small networks) or None.
    """

    name: str
    layer: int
    kind: str
    index: tuple
    symbol: sp.Symbol
    unit: int | None
    input: int | None
    local: sp.Expr
    chain_rule: sp.Expr
    delta: sp.Symbol | None
    delta_chain: sp.Expr
    expanded: sp.Expr | None = None

    def text(self, expanded=False):
        """``dC/dw0_1,0 = delta0_1*x_0`` (per sample), optionally with the expanded form."""
        line = f"dC/d{self.symbol} = {self.chain_rule}"
        if expanded and self.expanded is not None:
            line += f" = {self.expanded}"
        return line

    def latex(self, expanded=False):
        r"""``\frac{\partial C}{\partial w^{(0)}_{1,0}} = \delta^{(0)}_{1} x_{0}`` (per sample)."""
        out = _latex_eq(rf"\frac{{\partial C}}{{\partial {sp.latex(self.symbol)}}}", self.chain_rule)
        if expanded and self.expanded is not None:
            out += f" = {sp.latex(self.expanded)}"
        return out

    def __repr__(self):
        return f"DerivedElement({self.name}{list(self.index)}: {self.text()})"


@dataclass
class Opinion:
    """SymPy's gradients at the data (``grads``: a list of dicts like the params) and, per layer, {kind: bool
    array} of the elements it could not evaluate there (``skipped``), with a ``note`` saying why (or None);
    ``met``: the floating-point errors NumPy met evaluating its forms ("overflow", "invalid value")."""

    grads: list
    skipped: list
    note: str | None = None
    met: frozenset = frozenset()


@dataclass(repr=False)
class Derivation:
    """The symbolic network and the derivative of C_n with respect to every parameter element.

    Symbols: ``x`` (input entries, C order of the input shape), ``y`` (K,), ``P[l]``
    {kind: object array shaped like ``params[l][kind]``} (``W[l]``, ``b[l]`` the dense
    view: W in the convention's shape, fan_in + 1 with bias "augmented", b a list or
    None), ``z[l]``, ``a[l]``, ``delta[l]`` flat lists of per-unit symbols (``a[l]`` is
    ``z[l]`` for a layer without an activation), ``N`` and ``K``. ``forward`` maps each
    z and a symbol to its definition, ``da`` each output a^L_i to ∂C_n/∂a^L_i,
    ``deltas`` each δ symbol to its chain-rule definition (output layer first); ``loss``
    is C_n in the a^L and y symbols. ``elements`` follow ``spec.param_names()`` with each
    array in C order. ``batch`` is True when the whole batch is written out (a batchnorm
    layer): then x, y, z, a, δ hold every sample's symbols and ``loss`` is C itself.
    """

    spec: object
    net: object
    elements: list
    #: Whether the elements' expanded forms are wanted; they are written out when first asked for (:attr:`expanded`).
    wanted: bool = False
    _written: bool = False

    @property
    def expanded(self):
        """True when the elements carry their expanded forms: written out here, once, on the first ask where they
        are wanted (a check that never shows them does not pay for them)."""
        if self.wanted and not self._written:
            _expand_network(self.net, self.elements)
            self._written = True
        return self._written

    def __getattr__(self, name):
        if name in ("N", "K", "z", "a", "delta", "forward", "loss", "da", "carried", "deltas", "batch", "buffers"):
            return getattr(self.net, name)
        raise AttributeError(name)

    @property
    def x(self):
        return [s for xs in self.net.x for s in xs]

    @property
    def y(self):
        return [s for ys in self.net.y for s in ys]

    @property
    def P(self):  # noqa: N802 - the params' symbols
        return self.net.params

    @property
    def W(self):  # noqa: N802
        return [p.get("W") for p in self.net.params]

    @property
    def b(self):
        return [list(p["b"]) if "b" in p else None for p in self.net.params]

    @property
    def params(self):
        """The parameter symbols as a list of {kind: object array}, like the params."""
        return self.net.params

    @property
    def cost_name(self):
        """"C" when the whole batch is written out, else "C_n" (one sample's term)."""
        return "C" if self.net.batch else "C_n"

    def element(self, name, index):
        """The :class:`DerivedElement` of ``params[l][kind][index]`` for ``name`` like "W0"."""
        index = tuple(index)
        for e in self.elements:
            if e.name == name and e.index == index:
                return e
        raise KeyError(f"{name}{list(index)}")

    def evaluator(self, known):
        """An :class:`~gradcheck.symbolic.evaluate.Evaluator` holding ``known`` {symbol: value} and the value of
        every step (z and a, the δ's), in evaluation order."""
        ev = Evaluator(known)
        for s, e in self._steps():
            ev.define(s, e)
        return ev

    def _chains(self):
        """Each element's chain-rule form as evaluated: λ's value put in where a penalty holds it."""
        lam = numbers(self.spec)  # λ's value
        return [e.chain_rule.xreplace(lam) if e.symbol in self.net.penalised else e.chain_rule
                for e in self.elements]

    def _steps(self):
        """(symbol, definition) in evaluation order: z and a, then the δ's, the output δ's of a fused loss
        from the loss written in z."""
        return list(self.forward.items()) + list({**self.deltas, **self.net.fused}.items())

    def gradients(self, params, X, Y):
        """Σ_n ∂C_n/∂θ for the given numbers, as a list of gradient dicts shaped like ``params``.

        X, Y are in the convention's layout, as for :func:`gradcheck.reference.backprop.backprop`:
        column X (input, N), Y (K, N); row X (N, input), Y (N, K); images X (N, C, H, W).
        params[l] holds each layer's params (and fixed buffers such as a dropout mask,
        shaped like the layer's input batch). NumPy's floating-point warnings are silenced:
        an element that overflows is NaN or ±inf (see :meth:`opinion`).
        """
        return self._evaluate(params, X, Y)[0]

    def opinion(self, params, X, Y, reference):
        """The :class:`Opinion` of SymPy at these numbers: :meth:`gradients`, with the elements that are not
        finite where ``reference`` (the reference backprop's gradients) is marked as not evaluated."""
        grads, known, met = self._evaluate(params, X, Y)
        skipped = [{kind: ~np.isfinite(g[kind]) & np.isfinite(np.asarray(r[kind], float)) for kind in g}
                   for g, r in zip(grads, reference)]
        names = [f"{name}[{', '.join(map(str, idx))}]" for name, layer, kind, _ in self.spec.param_names()
                 for idx in zip(*np.nonzero(skipped[layer][kind]))]
        if not names:
            return Opinion(grads, skipped, met=frozenset(met))
        layers = sorted({layer for layer, s in enumerate(skipped) if any(m.any() for m in s.values())})
        where = _first_not_finite(known(), dict(self._steps()))
        note = (f"SymPy's form could not be evaluated here, {len(names)} element(s) of layer{'s' * (len(layers) > 1)} "
                f"{', '.join(map(str, layers))} not evaluated ({', '.join(names[:4])}{', …' if len(names) > 4 else ''})"
                f"{where}{' (NumPy: ' + ', '.join(sorted(met)) + ')' if met else ''}; not judged, the reference "
                "backprop's values there are finite and judged")
        return Opinion(grads, skipped, note, frozenset(met))

    def exact(self, params, X, Y, which, digits=EXACT_DIGITS):
        """Σ_n ∂C_n/∂θ of the elements ``which`` (indices into :attr:`elements`) with every form evaluated to
        ``digits`` significant digits (:class:`~gradcheck.symbolic.evaluate.ExactEvaluator`) from the same float64
        numbers, as floats: what SymPy's forms give where NumPy's float64 rounding does not enter. Only the steps
        those elements need are evaluated, sample by sample: slow, for a few elements."""
        import mpmath

        known, n = self._known(params, X, Y)
        chains = self._chains()
        wanted = [chains[e] for e in which]
        steps, need = self._steps(), set().union(*(c.free_symbols for c in wanted))
        for symbol, form in reversed(steps):  # a step is needed where a later needed one, or a chain, reads it
            if symbol in need:
                need |= form.free_symbols
        with mpmath.workdps(digits), np.errstate(all="ignore"):
            ev = ExactEvaluator(known)
            for symbol, form in steps:
                if symbol in need:
                    ev.define(symbol, form)
            out = []
            for chain in wanted:
                v = ev.value(chain)
                total = mpmath.fsum(v) if isinstance(v, np.ndarray) else v * (1 if self.net.batch else n)
                out.append(float(total))
        return out

    def _evaluate(self, params, X, Y):
        """(gradients, a function giving {symbol: value}, the floating-point errors NumPy met)."""
        known, n = self._known(params, X, Y)
        shapes = self.spec.param_shapes()
        met = set()
        with np.errstate(all="call", under="ignore", call=lambda kind, flag: met.add(kind)):
            ev = self.evaluator(known)
            totals = iter([float(np.sum(np.broadcast_to(ev.value(c), (1 if self.net.batch else n,))))
                           for c in self._chains()])
        grads = [{kind: np.array([next(totals) for _ in np.ndindex(*shape)], dtype=np.float64).reshape(shape)
                  for kind, shape in s.items()} for s in shapes]
        return grads, (lambda: ev.values), met

    def _known(self, params, X, Y):
        """({symbol: value} of every input, target, buffer and param, and N and K; the number of samples N)."""
        spec, conv = self.spec, self.spec.conv
        Xs = np.asarray(X, dtype=np.float64)  # token ids are (N, T) in both conventions
        Xs = Xs if spec.tokens else np.asarray(conv.to_samples(Xs))
        Ys = np.asarray(conv.to_samples(np.asarray(spec.targets(np.asarray(Y)), dtype=np.float64)))
        n = Xs.shape[0]
        if Xs.shape[1:] != tuple(spec.input_shape) or Ys.shape != (n, *spec.output_shape):
            raise ValueError(f"X, Y hold {Xs.shape} and {Ys.shape} as (N, ...); expected "
                             f"(N, {', '.join(map(str, spec.input_shape))}) and "
                             f"(N, {', '.join(map(str, spec.output_shape))})")
        if self.net.batch and n != len(self.net.tags):
            raise ValueError(f"this derivation writes out a batch of {len(self.net.tags)} samples, got {n}")
        shapes = spec.param_shapes()
        for layer, (p, s) in enumerate(zip(params, shapes)):
            for kind, shape in s.items():
                if np.shape(p[kind]) != tuple(shape):
                    raise ValueError(f"params[{layer}][{kind!r}] has shape {np.shape(p[kind])}, expected {shape}")
        data = [Xs.reshape(n, -1), Ys.reshape(n, -1)]
        for p, bufs in zip(params, self.net.buffers):
            data += [np.asarray(conv.to_samples(np.asarray(p[k], dtype=np.float64))).reshape(n, -1) for k in bufs]
        # one generic sample: a column per sample (vectorised); the whole batch: every number once
        cols = [v for d in data for v in (d.ravel() if self.net.batch else d.T)]
        theta = [float(p[kind][idx]) for p, s in zip(params, shapes) for kind, shape in s.items()
                 for idx in np.ndindex(*shape)]
        known = dict(zip(self.net.inputs, cols))
        known.update(zip([e.symbol for e in self.elements], theta))
        known.update({self.N: n, self.K: spec.output})
        return known, n

    def values(self, params, X, Y):
        """{"W0": dW0, "b0": db0, ...}: :meth:`gradients` by parameter name."""
        grads = self.gradients(params, X, Y)
        return {name: grads[layer][kind] for name, layer, kind, _ in self.spec.param_names()}

    def text(self, expanded=False):
        """The derivation as plain lines: forward pass, loss, δ's, then every gradient element."""
        lines = [f"{s} = {e}" for s, e in self.forward.items()]
        lines.append(f"{self.cost_name} = {self.loss}")
        lines += [f"dC/d{s} = {e}" for s, e in self.da.items()]
        lines += [f"{s} = {e}" for s, e in self.deltas.items()]
        lines += [e.text(expanded and self.expanded) for e in self.elements]
        return "\n".join(lines)

    def latex(self, expanded=False):
        """The same as :meth:`text`, one LaTeX equation per line."""
        lines = [_latex_eq(sp.latex(s), e) for s, e in self.forward.items()]
        lines.append(_latex_eq(self.cost_name, self.loss))
        lines += [_latex_eq(rf"\frac{{\partial C}}{{\partial {sp.latex(s)}}}", e) for s, e in self.da.items()]
        lines += [_latex_eq(sp.latex(s), e) for s, e in self.deltas.items()]
        lines += [e.latex(expanded and self.expanded) for e in self.elements]
        return "\n".join(lines)

    def _repr_html_(self):  # a notebook shows the equations and the element table
        from ..render import notebook_html
        from ..render.derivation import derivation_blocks

        return notebook_html(derivation_blocks(self))

    def _repr_markdown_(self):
        from ..render import notebook_markdown
        from ..render.derivation import derivation_blocks

        return notebook_markdown(derivation_blocks(self))

    def __repr__(self):  # says whether the expanded forms are written, without writing them
        written = "yes" if self._written else "when asked" if self.wanted else "no"
        return (f"Derivation({self.spec.describe()}; {len(self.elements)} elements, "
                f"{len(self.deltas)} deltas, expanded={written})")


def _value_at(values, sample, s):
    """The value of symbol ``s`` for one sample (a symbol that does not vary by sample has one value)."""
    u = np.asarray(values[s], dtype=float).ravel()
    return float(u[sample if u.size > 1 else 0])


def _first_not_finite(values, steps):
    """": z0_0 is inf at w0_0,0 = 1e+300, x_0 = 10": the first of the ``steps`` {symbol: definition} (in
    evaluation order) that is not finite for some sample, with the values of its largest operands there."""
    for s, e in steps.items():
        v = np.asarray(values.get(s, 0.0), dtype=float)
        bad = np.flatnonzero(~np.isfinite(v.ravel()))
        if not bad.size:
            continue
        value = functools.partial(_value_at, values, int(bad[0]))
        given = sorted((t for t in sp.sympify(e).free_symbols if t in values), key=lambda t: -abs(value(t)))
        operands = ", ".join(f"{t} = {value(t):.6g}" for t in given[:3])
        return f": {s} is {value(s):g}{' at ' + operands if operands else ''}"
    return ""


def derive(spec, expand="auto", deferred=False) -> Derivation:
    """Derive ∂C_n/∂θ for every parameter element of ``spec`` (a Spec, dict or path).

    ``expand``: "auto" writes out the expanded forms (in x, y and the params only) when
    the network has at most :data:`~gradcheck.symbolic.reach.EXPAND_MAX_PARAMS` parameters and
    :data:`~gradcheck.symbolic.reach.EXPAND_MAX_DEPTH` layers; "on"/True always, "off"/False never. With
    ``deferred``, they are written out only when first asked for (:attr:`Derivation.expanded`): a check's
    derivation is shown by some of its reports and by none of its verdicts. A layer kind without a symbolic form
    raises ``NotImplementedError`` naming it.
    """
    spec = load_spec(spec)
    missing = sorted({ly.kind for ly in spec.layers if not has_form(ly)})
    if missing:
        raise NotImplementedError(f"derive: no SymPy form for {', '.join(missing)} layers")
    tied = any(batch_level(ly) for ly in spec.layers) or getattr(spec, "mask", None) is not None
    samples = spec.n_samples if tied else 1
    loss = loss_of(spec)  # with the spec's reduction and margin
    net = write_network(spec, loss.sample_term, samples, loss.sample_term_from_z if fused_loss(spec) else None)
    penalised = net.penalised = add_penalty(spec, net)  # {w: ∂R_n/∂w}
    elements = []
    for name, li, kind, shape in spec.param_names():
        first = net.first_sample(li)  # how many z's are sample 0's, where the others are the same renamed
        holding = terms_holding(net.z_exprs[li][:first], set(net.params[li][kind].ravel()))  # θ -> {i: z_i's terms
        delta = net.delta[li]  # that hold θ}
        inner = [(s, sp.sympify(e), sp.sympify(e).free_symbols) for s, e in net.inter[li].items()]
        for index in np.ndindex(*shape):
            theta = net.params[li][kind][index]
            local = {i: partial(part, theta) for i, part in holding.get(theta, {}).items()}  # ∂z_i/∂θ
            through = [product(delta[i], d) for i, d in local.items()]  # through each z_i
            others = [*[product(adjoint(s), partial(e, theta)) for s, e, fs in inner if theta in fs],
                      penalised.get(theta, sp.S.Zero)]  # through the intermediates that hold θ, and a penalty
            chain = total(through + others) if first is None else net.retag.total_everywhere(through, others)
            try:
                j, k = spec.layers[li].unit_input(kind, index, spec.conv)
            except NotImplementedError:
                j, k = next(iter(local), None), None
            dj = delta[j] if j is not None else None
            elements.append(DerivedElement(name, li, kind, tuple(index), theta, j, k, local.get(j, sp.S.Zero),
                                           chain, dj, net.deltas.get(dj, sp.S.Zero)))
    d = Derivation(spec, net, elements, wanted=expand_wanted(spec, expand))
    if not deferred:
        d.expanded  # noqa: B018 - written out now
    return d


def symbolic_gradient(spec, params, X, Y):
    """``derive(spec, expand="off").gradients(params, X, Y)``: list of {"W", "b"} like backprop."""
    return derive(spec, expand="off").gradients(params, X, Y)
