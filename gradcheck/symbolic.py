"""SymPy derivation of a network's gradient, element by element, for one generic sample.

The network of a :class:`~gradcheck.spec.Spec` is written out with one symbol per
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

The last line rests on ∂z_i/∂w_jk = [i = j]·x_k, which :func:`local_fact` derives.
The cost is C = Σ_n C_n with C_n = ``Loss.sample_term(a_n, y_n, N, K)``; every formula
here is the per-sample one, and :meth:`Derivation.gradients` sums it over the samples.

Numbers come from ``sympy.lambdify`` of the chain-rule forms, with z, a and δ as
intermediate assignments (a hand-made common-subexpression list), vectorised over the
samples: the cost grows linearly with the network, not exponentially with depth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .catalogue import LOSSES
from .catalogue.activations import SYMPY_NUMPY
from .local_facts import local_fact
from .spec import load_spec

__all__ = ["Derivation", "DerivedElement", "derive", "symbolic_gradient", "local_fact", "should_run",
           "SYMBOLIC_LIMIT"]

#: ``should_run(spec, "auto")`` skips networks with more parameters than this. The cost is
#: linear in the parameters (about 0.2 s to derive, compile and evaluate 200, 1.5 s for
#: 756; see benchmarks/bench_symbolic.py): the limit keeps the check quick and its report short.
SYMBOLIC_LIMIT = 200
#: ``derive(spec, expand="auto")`` writes out the expanded forms only up to this many
#: parameters and layers: a 2-3-2 net gives about 1,000 characters per hidden weight,
#: while three layers already give 5,000-15,000 (2-3-3-1, 3-3-3-2).
EXPAND_MAX_PARAMS = 30
EXPAND_MAX_DEPTH = 2

_NAME = re.compile(r"([a-z]+)(\d*)_(\d+(?:_\d+)*)")
_LATEX_LETTER = {"delta": r"\delta"}


class NetSymbol(sp.Symbol):
    """A symbol of the network, named ``<letter><layer>_<i>[_<j>]`` (a valid identifier).

    Prints as ``w0_1,2`` (str) and ``w^{(0)}_{1,2}`` (LaTeX); ``x_0``, ``y_1`` have no layer.
    """

    def _parts(self):
        letter, layer, idx = _NAME.fullmatch(self.name).groups()
        return letter, layer, idx.split("_")

    def _sympystr(self, printer):
        letter, layer, idx = self._parts()
        return f"{letter}{layer}_{','.join(idx)}"

    def _latex(self, printer):
        letter, layer, idx = self._parts()
        sup = f"^{{({layer})}}" if layer else ""
        return f"{_LATEX_LETTER.get(letter, letter)}{sup}_{{{','.join(idx)}}}"


def _sym(letter, layer, *index):
    return NetSymbol(f"{letter}{'' if layer is None else layer}_{'_'.join(map(str, index))}", real=True)


def _latex_eq(lhs, rhs):
    return f"{lhs} = {sp.latex(rhs)}"


@dataclass(repr=False)
class DerivedElement:
    """∂C_n/∂θ for one parameter element θ = ``params[layer][kind][index]``.

    ``symbol`` is θ; ``unit``/``input`` are j and k (``input`` is None for b, and
    ``fan_in`` for the augmented bias weight); ``local`` is ∂z^l_j/∂θ as SymPy
    differentiated it (a^{l-1}_k, x_k, or 1); ``chain_rule`` is δ^l_j·local in the
    intermediate symbols; ``delta_chain`` is the definition of that δ^l_j;
    ``expanded`` is the same derivative in x, y, w, b only (small networks) or None.
    """

    name: str
    layer: int
    kind: str
    index: tuple
    symbol: sp.Symbol
    unit: int
    input: int | None
    local: sp.Expr
    chain_rule: sp.Expr
    delta: sp.Symbol
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


@dataclass(repr=False)
class Derivation:
    """The symbolic network and the derivative of C_n with respect to every parameter element.

    Symbols: ``x`` (input,), ``y`` (K,), ``W[l]`` a SymPy Matrix shaped like
    ``params[l]["W"]`` ((units, fan_in) in the column convention, (fan_in, units) in the
    row convention, fan_in + 1 with bias "augmented"), ``b[l]`` a list of units symbols
    (None unless bias is "separate"),
    ``z[l]``, ``a[l]``, ``delta[l]`` lists of per-unit symbols, ``N`` and ``K``.
    ``forward`` maps each z and a symbol to its definition, ``da`` each output
    a^L_i to ∂C_n/∂a^L_i, ``deltas`` each δ symbol to its chain-rule definition (output
    layer first); ``loss`` is C_n in the a^L and y symbols. ``elements`` follow
    ``spec.param_names()`` with each array in C order.
    """

    spec: object
    x: list
    y: list
    N: sp.Symbol
    K: sp.Symbol
    W: list
    b: list
    z: list
    a: list
    delta: list
    forward: dict
    loss: sp.Expr
    da: dict
    deltas: dict
    elements: list
    expanded: bool = False
    _fn: object = field(default=None, init=False)

    @property
    def params(self):
        """The parameter symbols as a list of {"W": Matrix, "b": list}, like the params."""
        return [{"W": W} | ({"b": b} if b is not None else {}) for W, b in zip(self.W, self.b)]

    def element(self, name, index):
        """The :class:`DerivedElement` of ``params[l][kind][index]`` for ``name`` like "W0"."""
        index = tuple(index)
        for e in self.elements:
            if e.name == name and e.index == index:
                return e
        raise KeyError(f"{name}{list(index)}")

    def _compile(self):
        if self._fn is None:
            # lambdify checks str(arg) is an identifier and otherwise substitutes a Dummy through every
            # expression (quadratic in the size); "w0_1,2" is not, so the arguments are plain symbols with the
            # identifier names ("w0_1_2") that the code printer writes for the NetSymbols in the body.
            args = [sp.Symbol(s.name) for s in self.x + self.y + [e.symbol for e in self.elements]]
            args += [self.N, self.K]
            steps = list(self.forward.items()) + list(self.deltas.items())
            self._fn = sp.lambdify(args, [e.chain_rule for e in self.elements],
                                   modules=[SYMPY_NUMPY, "numpy"], cse=lambda exprs: (steps, exprs))
        return self._fn

    def gradients(self, params, X, Y):
        """Σ_n ∂C_n/∂θ for the given numbers, as a list of {"W": dW, "b": db} shaped like ``params``.

        X, Y are in the convention's layout, as for :func:`gradcheck.backprop.backprop`:
        column X (input, N), Y (K, N); row X (N, input), Y (N, K). params[l]["W"] is
        (units, fan_in) in the column convention, (fan_in, units) in the row
        convention (one more column/row with bias "augmented"); params[l]["b"] (units,).
        """
        spec = self.spec
        Xs = np.asarray(spec.conv.to_samples(np.asarray(X, dtype=np.float64)))
        Ys = np.asarray(spec.conv.to_samples(np.asarray(Y, dtype=np.float64)))
        n = Xs.shape[0]
        if Xs.shape != (n, spec.input) or Ys.shape != (n, spec.output):
            raise ValueError(f"X, Y hold {Xs.shape} and {Ys.shape} as (N, features); expected "
                             f"(N, {spec.input}) and (N, {spec.output})")
        shapes = spec.param_shapes()
        for layer, (p, s) in enumerate(zip(params, shapes)):
            for kind, shape in s.items():
                if np.shape(p[kind]) != tuple(shape):
                    raise ValueError(f"params[{layer}][{kind!r}] has shape {np.shape(p[kind])}, expected {shape}")
        theta = [float(p[kind][idx]) for p, s in zip(params, shapes) for kind, shape in s.items()
                 for idx in np.ndindex(*shape)]
        per_sample = self._compile()(*Xs.T, *Ys.T, *theta, n, spec.output)
        totals = iter([float(np.sum(np.broadcast_to(v, (n,)))) for v in per_sample])
        return [{kind: np.array([next(totals) for _ in np.ndindex(*shape)], dtype=np.float64).reshape(shape)
                 for kind, shape in s.items()} for s in shapes]

    def values(self, params, X, Y):
        """{"W0": dW0, "b0": db0, ...}: :meth:`gradients` by parameter name."""
        grads = self.gradients(params, X, Y)
        return {name: grads[layer][kind] for name, layer, kind, _ in self.spec.param_names()}

    def text(self, expanded=False):
        """The derivation as plain lines: forward pass, loss, δ's, then every gradient element."""
        lines = [f"{s} = {e}" for s, e in self.forward.items()]
        lines.append(f"C_n = {self.loss}")
        lines += [f"dC/d{s} = {e}" for s, e in self.da.items()]
        lines += [f"{s} = {e}" for s, e in self.deltas.items()]
        lines += [e.text(expanded) for e in self.elements]
        return "\n".join(lines)

    def latex(self, expanded=False):
        """The same as :meth:`text`, one LaTeX equation per line."""
        lines = [_latex_eq(sp.latex(s), e) for s, e in self.forward.items()]
        lines.append(_latex_eq("C_n", self.loss))
        lines += [_latex_eq(rf"\frac{{\partial C}}{{\partial {sp.latex(s)}}}", e) for s, e in self.da.items()]
        lines += [_latex_eq(sp.latex(s), e) for s, e in self.deltas.items()]
        lines += [e.latex(expanded) for e in self.elements]
        return "\n".join(lines)

    def __repr__(self):
        return (f"Derivation({self.spec.describe()}; {len(self.elements)} elements, "
                f"{len(self.deltas)} deltas, expanded={'yes' if self.expanded else 'no'})")

    def _repr_html_(self):  # a notebook shows the equations and the element table
        from .render import notebook_html
        from .render.derivation import derivation_blocks

        return notebook_html(derivation_blocks(self))

    def _repr_markdown_(self):
        from .render import notebook_markdown
        from .render.derivation import derivation_blocks

        return notebook_markdown(derivation_blocks(self))


def _expand_wanted(spec, expand):
    if expand in (True, "on"):
        return True
    if expand in (False, "off", None):
        return False
    if expand == "auto":
        return spec.n_params <= EXPAND_MAX_PARAMS and len(spec.layers) <= EXPAND_MAX_DEPTH
    raise ValueError(f"expand must be 'auto', 'on', 'off', True or False, got {expand!r}")


def derive(spec, expand="auto") -> Derivation:
    """Derive ∂C_n/∂θ for every parameter element of ``spec`` (a Spec, dict or path).

    ``expand``: "auto" writes out the expanded forms (in x, y, w, b only) when the
    network has at most :data:`EXPAND_MAX_PARAMS` parameters and
    :data:`EXPAND_MAX_DEPTH` layers; "on"/True always, "off"/False never.
    """
    spec = load_spec(spec)
    x = [_sym("x", None, k) for k in range(spec.input)]
    y = [_sym("y", None, k) for k in range(spec.output)]
    N, K = sp.Symbol("N", integer=True, positive=True), sp.Symbol("K", integer=True, positive=True)
    W, b, z, a, z_exprs, forward = _forward(spec, x)
    loss = LOSSES[spec.loss].sample_term(a[-1], y, N, K)
    da = {ai: sp.factor_terms(sp.diff(loss, ai)) for ai in a[-1]}
    delta, deltas = _backward(spec, list(da.values()), z, a, z_exprs, forward)
    elements = []
    for name, li, kind, shape in spec.param_names():
        zs = [(zi, zi.free_symbols) for zi in z_exprs[li]]
        for index in np.ndindex(*shape):
            theta = W[li][index] if kind == "W" else b[li][index[0]]
            local = {i: sp.diff(zi, theta) for i, (zi, fs) in enumerate(zs) if theta in fs}  # ∂z_i/∂θ
            chain = sp.Add(*[delta[li][i] * d for i, d in local.items()])
            j, k = spec.layers[li].layer.unit_input(kind, index, spec.conv)
            elements.append(DerivedElement(name, li, kind, tuple(index), theta, j, k, local.get(j, sp.S.Zero),
                                           chain, delta[li][j], deltas[delta[li][j]]))
    d = Derivation(spec, x, y, N, K, W, b, z, a, delta, forward, loss, da, deltas, elements)
    if _expand_wanted(spec, expand):
        _expand(d)
    return d


def _forward(spec, x):
    """Symbols W, b, z, a per layer, z = Dense.symbolic_z(W, b, a_prev) and {z: Σ w a + b, a: σ(z)}."""
    conv, bias = spec.conv, spec.bias
    W, b, z, a, z_exprs, forward = [], [], [], [], [], {}
    a_prev = x
    for ly in spec.layers:
        li = ly.index
        shapes = ly.param_shapes(conv, bias)
        W.append(sp.Matrix(*shapes["W"], lambda r, c, li=li: _sym("w", li, r, c)))
        b.append([_sym("b", li, j) for j in range(ly.units)] if "b" in shapes else None)
        z_exprs.append(ly.layer.symbolic_z({"W": W[-1], "b": b[-1]}, a_prev, conv, bias))
        z.append([_sym("z", li, j) for j in range(ly.units)])
        a.append([_sym("a", li, j) for j in range(ly.units)])
        forward.update(zip(z[-1], z_exprs[-1]))
        forward.update(zip(a[-1], ly.act.symbolic(z[-1])))
        a_prev = a[-1]
    return W, b, z, a, z_exprs, forward


def _backward(spec, da, z, a, z_exprs, forward):
    """δ symbols per layer and {δ^l_j: Σ_m ∂C/∂a^l_m · ∂a^l_m/∂z^l_j}, from the output layer down.

    ``da`` is ∂C/∂a^L; below, ∂C/∂a^{l-1}_m = Σ_i ∂z^l_i/∂a^{l-1}_m · δ^l_i = Σ_i w^l_im δ^l_i.
    """
    delta = [[_sym("delta", ly.index, j) for j in range(ly.units)] for ly in spec.layers]
    deltas = {}
    for li in reversed(range(len(spec.layers))):
        # A non-diagonal Jacobian (softmax) is written in the a symbols: a_m([m=j] − a_j).
        back = {} if spec.layers[li].act.derivative is not None else {forward[am]: am for am in a[li]}
        for j, zj in enumerate(z[li]):
            terms = [da[m] * sp.diff(forward[am], zj).xreplace(back)
                     for m, am in enumerate(a[li]) if zj in forward[am].free_symbols]
            deltas[delta[li][j]] = sp.Add(*terms)
        if li > 0:
            da = [sp.Add(*[sp.diff(zi, am) * di for zi, di in zip(z_exprs[li], delta[li])]) for am in a[li - 1]]
    return delta, deltas


def _expand(d):
    """Fill ``expanded`` by substituting z, a, δ by their definitions (no simplify, σ kept as σ).

    Plain substitution: ``factor_terms`` would only pull out 2/(N·K) and costs 100× more.
    """
    full = {}
    for s, e in d.forward.items():
        full[s] = e.xreplace(full)
    for s, e in d.deltas.items():
        full[s] = e.xreplace(full)
    for el in d.elements:
        el.expanded = el.chain_rule.xreplace(full)
    d.expanded = True


def symbolic_gradient(spec, params, X, Y):
    """``derive(spec, expand="off").gradients(params, X, Y)``: list of {"W", "b"} like backprop."""
    return derive(spec, expand="off").gradients(params, X, Y)


def should_run(spec, mode="auto"):
    """(run?, one-line reason) for the symbolic check; ``mode`` is "auto", "on" or "off".

    "auto" runs up to :data:`SYMBOLIC_LIMIT` parameters, "on" always, "off" never.
    """
    spec = load_spec(spec)
    n = spec.n_params
    if mode == "off":
        return False, "symbolic check off (use --symbolic on or auto to run it)"
    if spec.symbolic_gap():
        return False, spec.symbolic_gap()
    if mode == "on":
        over = f" ({n} parameters > limit {SYMBOLIC_LIMIT})" if n > SYMBOLIC_LIMIT else ""
        return True, f"symbolic check forced on{over}"
    if mode != "auto":
        raise ValueError(f"symbolic mode must be 'auto', 'on' or 'off', got {mode!r}")
    if n > SYMBOLIC_LIMIT:
        return False, f"symbolic check skipped: {n} parameters > limit {SYMBOLIC_LIMIT} (use --symbolic on to force)"
    return True, f"symbolic check: {n} parameters <= limit {SYMBOLIC_LIMIT}"
