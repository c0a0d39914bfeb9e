"""Local facts SymPy derives from a layer's indexed sum: which inputs a parameter touches, and with what weight.

Each fact is ``sympy.diff`` of the layer's defining sum with respect to one indexed
element, with SymPy's range guards (``Piecewise((…, k <= n - 1), (0, True))``) removed
by ``refine`` under the stated index ranges:

* dense (:func:`local_fact`): z_i = Σ_t w_it x_t, so ∂z_i/∂w_jk = [i = j]·x_k and
  ∂C/∂w_jk = Σ_i δ_i [i = j] x_k = δ_j x_k;
* conv2d (:func:`conv_fact`), cross-correlation with stride S and zero padding P:
  z_{f,i,j} = b_f + Σ_{c,p,q} W_{f,c,p,q} x_{c, i·S+p−P, j·S+q−P}, so
  ∂z_{f,i,j}/∂W_{f',c,p,q} = [f = f']·x_{c, i·S+p−P, j·S+q−P} and
  ∂C/∂W_{f,c,p,q} = Σ_{i,j} δ_{f,i,j} x_{c, i·S+p−P, j·S+q−P}; the input gradient reads
  the kernel at p = u − i·S + P, so dx is a correlation of δ with the kernel rotated by 180°;
* pooling (:func:`pool_fact`): a max over a window passes the gradient to its maximum
  (Heaviside(x_pq − max of the others)), an average gives 1/(kh·kw) to every element.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy as sp

__all__ = ["LocalFact", "ConvFact", "PoolFact", "local_fact", "conv_fact", "pool_fact"]


def _index(*names, positive=False):
    kw = {"positive": True} if positive else {"nonnegative": True}
    return sp.symbols(names, integer=True, **kw)


@dataclass(frozen=True)
class LocalFact:
    """∂z_i/∂w_jk = [i=j]·x_k and its consequence ∂C/∂w_jk = Σ_i δ_i [i=j] x_k = δ_j x_k, derived by SymPy.

    ``lhs``/``rhs`` are the first fact (``Derivative(z_i, w[j, k])``, ``KroneckerDelta(i, j)*x[k]``);
    ``z`` is the indexed sum differentiated; ``chain_lhs``/``chain_sum``/``chain_rhs`` the second;
    ``w``, ``x``, ``delta`` the IndexedBases and ``indices`` the symbols (i, j, k).
    """

    w: sp.IndexedBase
    x: sp.IndexedBase
    delta: sp.IndexedBase
    indices: tuple
    z: sp.Expr
    lhs: sp.Expr
    rhs: sp.Expr
    chain_lhs: sp.Expr
    chain_sum: sp.Expr
    chain_rhs: sp.Expr

    def __iter__(self):
        return iter((self.lhs, self.rhs))

    def __str__(self):
        return (f"z_i = {self.z};  dz_i/dw_jk = {self.rhs};  "
                f"dC/dw_jk = {self.chain_sum} = {self.chain_rhs}")

    def latex(self):
        return (rf"\frac{{\partial z_i}}{{\partial w_{{jk}}}} = \frac{{\partial}}{{\partial w_{{jk}}}} "
                rf"{sp.latex(self.z)} = {sp.latex(self.rhs)}, \qquad "
                rf"\frac{{\partial C}}{{\partial w_{{jk}}}} = {sp.latex(self.chain_sum)} = {sp.latex(self.chain_rhs)}")


def local_fact() -> LocalFact:
    """Differentiate z_i = Σ_{t<n} w[i,t]·x[t] with respect to w[j,k]; then apply the chain rule.

    SymPy answers with range guards (``Piecewise((…, k <= n - 1), (0, True))``);
    they are removed by ``refine`` under the stated ranges 0 ≤ k < n, 0 ≤ j < m.
    """
    i, j, k, t = _index("i", "j", "k", "t")
    n, m = _index("n", "m", positive=True)  # fan_in, units
    w, x, delta = sp.IndexedBase("w"), sp.IndexedBase("x"), sp.IndexedBase("delta")
    z_i = sp.Sum(w[i, t] * x[t], (t, 0, n - 1))
    in_range = sp.Q.le(k, n - 1) & sp.Q.le(j, m - 1)
    rhs = sp.refine(sp.diff(z_i, w[j, k]).doit(), in_range)
    chain_sum = sp.Sum(delta[i] * rhs, (i, 0, m - 1))
    chain_rhs = sp.refine(chain_sum.doit(), in_range)
    C = sp.Function("C")
    return LocalFact(w, x, delta, (i, j, k), z_i, sp.Derivative(sp.Function("z")(i), w[j, k]), rhs,
                     sp.Derivative(C(w[j, k]), w[j, k]), chain_sum, chain_rhs)


@dataclass(frozen=True)
class ConvFact:
    """The local facts of a 2-D cross-correlation, derived by SymPy from its indexed sum.

    ``z`` is z_{f,i,j} = b_f + Σ_{c,p,q} W_{f,c,p,q}·x_{c, i·S+p−P, j·S+q−P} (x unpadded,
    zero outside the image). ``dz_dw`` = ∂z_{f,i,j}/∂W_{g,d,r,s} = [f = g]·x_{d, i·S+r−P, j·S+s−P};
    ``dz_db`` = ∂z_{f,i,j}/∂b_g = [f = g]; ``chain_rhs`` = Σ_{f,i,j} δ_{f,i,j}·dz_dw (``chain_sum``)
    = Σ_{i,j} δ_{g,i,j} x_{d, i·S+r−P, j·S+s−P}; ``dz_dx`` = ∂z_{f,i,j}/∂x_{d,u,v}
    = W_{f,d,u−i·S+P, v−j·S+P} inside the kernel (``dz_dx_guard``: 0 ≤ u−i·S+P < kh and
    0 ≤ v−j·S+P < kw), 0 outside. ``indices`` maps the names to their symbols
    (f i j c p q g d r s u v S P C kh kw F H' W').
    """

    W: sp.IndexedBase
    x: sp.IndexedBase
    b: sp.IndexedBase
    delta: sp.IndexedBase
    indices: dict
    z: sp.Expr
    dz_dw: sp.Expr
    dz_db: sp.Expr
    chain_sum: sp.Expr
    chain_rhs: sp.Expr
    dz_dx: sp.Expr
    dz_dx_guard: sp.Expr

    def __str__(self):
        return (f"z[f,i,j] = {self.z};  dz[f,i,j]/dW[g,d,r,s] = {self.dz_dw};  dz[f,i,j]/db[g] = {self.dz_db};  "
                f"dC/dW[g,d,r,s] = {self.chain_rhs};  dz[f,i,j]/dx[d,u,v] = {self.dz_dx} if {self.dz_dx_guard}, else 0")

    def __repr__(self):
        return f"ConvFact(dz/dW = {self.dz_dw})"


@functools.lru_cache(maxsize=1)
def conv_fact() -> ConvFact:
    """Differentiate the cross-correlation's indexed sum with respect to W, b and x, then apply the chain rule."""
    f, i, j, c, p, q, g, d, r, s, u, v = _index(*"f i j c p q g d r s u v".split())
    S, P = _index("S", "P")
    C, kh, kw, F, Ho, Wo = _index("C", "k_h", "k_w", "F", "H'", "W'", positive=True)
    W, x, b, delta = (sp.IndexedBase(n) for n in ("W", "x", "b", "delta"))
    z = b[f] + sp.Sum(W[f, c, p, q] * x[c, i * S + p - P, j * S + q - P], (c, 0, C - 1), (p, 0, kh - 1),
                      (q, 0, kw - 1))
    in_range = sp.Q.le(d, C - 1) & sp.Q.le(r, kh - 1) & sp.Q.le(s, kw - 1) & sp.Q.le(g, F - 1)
    dz_dw = sp.refine(sp.diff(z, W[g, d, r, s]).doit(), in_range)
    dz_db = sp.refine(sp.diff(z, b[g]).doit(), in_range)
    chain_sum = sp.Sum(delta[f, i, j] * dz_dw, (f, 0, F - 1), (i, 0, Ho - 1), (j, 0, Wo - 1))
    chain_rhs = sp.refine(chain_sum.doit(), in_range)
    dz_dx, guard = _kernel_branch(sp.diff(z, x[d, u, v]).doit(), {sp.Le(d, C - 1)})
    names = dict(zip("f i j c p q g d r s u v S P C kh kw F H' W'".split(),
                     (f, i, j, c, p, q, g, d, r, s, u, v, S, P, C, kh, kw, F, Ho, Wo)))
    return ConvFact(W, x, b, delta, names, z, dz_dw, dz_db, chain_sum, chain_rhs, dz_dx, guard)


def _kernel_branch(expr, known):
    """The one non-zero branch of nested ``Piecewise((e, cond), (0, True))`` and the conjunction of its guards.

    Guards in ``known`` (the stated index ranges) are dropped; ``refine`` would find the
    same, but takes seconds on these nested guards.
    """
    guards = []
    while isinstance(expr, sp.Piecewise):
        (e, cond), *rest = expr.args
        if not all(r[0] == 0 for r in rest):
            raise ValueError(f"unexpected piecewise form {expr}")
        if cond not in known:
            guards.append(cond)
        expr = e
    return expr, sp.And(*guards)


@dataclass(frozen=True)
class PoolFact:
    """Where a pooling window sends its gradient, derived by SymPy for one kh×kw window.

    ``window`` holds the window's symbols x_{p,q} (row-major), ``z`` the pooled value
    (``Max(...)`` or their mean), ``grads`` ∂z/∂x_{p,q} per element: for max,
    ``Heaviside(x_pq − Max(others))`` (1 at the window's maximum, 0 elsewhere), for avg
    1/(kh·kw). :meth:`routed_at` evaluates them at numbers.
    """

    kind: str
    size: tuple
    window: list
    z: sp.Expr
    grads: list

    def routed_at(self, values):
        """∂z/∂x_{p,q} at the window values ``values`` (row-major): for max, 1 at the largest value, 0 elsewhere."""
        subs = dict(zip(self.window, values))
        return [sp.nsimplify(g.subs(subs)) for g in self.grads]

    def __str__(self):
        return f"z = {self.z};  " + ", ".join(f"dz/d{x} = {g}" for x, g in zip(self.window, self.grads))

    def __repr__(self):
        return f"PoolFact({self.kind} {self.size[0]}x{self.size[1]}: {self})"


def pool_fact(kind, size=(2, 2)) -> PoolFact:
    """Differentiate one ``size`` = (kh, kw) window of the pooling kind ``kind`` (its class in the catalogue, or an
    instance) with respect to each of its elements: the kind gives the window's SymPy form
    (``window_form``, a max or a mean) and the fact's name (``pool_fact``)."""
    kh, kw = (size, size) if isinstance(size, int) else tuple(size)
    window = [sp.Symbol(f"x_{p}{q}", real=True) for p in range(kh) for q in range(kw)]
    form = getattr(kind, "window_form", None)
    if form is None:
        raise TypeError(f"pool_fact: {kind!r} is not a pooling kind of the catalogue (it has no window_form); "
                        "pass MaxPool2d or AvgPool2d, or a kind that defines window_form(window)")
    z = form(window)
    return PoolFact(kind.pool_fact, (kh, kw), window, z, [sp.diff(z, x) for x in window])
