"""Every perturbed loss of a dense layer from a few forward passes per unit: the loss along each unit's line.

Moving W[j, k] by δ moves z_j only, to z_j + δ·a_k, and moving b_j by δ moves it to
z_j + δ (the layer's forward pass, see
:meth:`~gradcheck.catalogue.layers.dense.Dense.line_index`). Every element that feeds
unit j therefore moves the network along the same line, z_j + ε, just with a
different ε_n = δ·a_k[n] for each sample n. Where no layer mixes samples, the loss is
a sum of per-sample shares, so

    C(θ + δ·e_jk) − C(θ) = Σ_n ψ_jn(δ·a_k[n]),   ψ_jn(ε) = ℓ_n(z_j[n] + ε) − ℓ_n(z_j[n]),

where ℓ_n is sample n's share of C given its z_j. ψ_jn is a function of one number,
and finite differences only ever ask for it at |ε| ≤ 2h·max_k |a_k[n]|, a few
thousandths. Where every layer from this one up is analytic (no relu, no max),
ψ_jn is a polynomial there to far below rounding: its degree-6 interpolant at the six
points ±ε_q misses by O(ε⁷·ψ⁽⁷⁾/7!), about 1e-20 of C for weights of order one. So
each unit costs six forward passes of the layers above it (run on the changed unit
only, as in :class:`~gradcheck.numeric.perturbed.Perturbed`), for all its elements and
every step at once, instead of four per element. Four, where the line is gentle: the
degree-4 interpolant at the outer and inner pair of points is kept where its own
coefficients put the terms it leaves out below rounding, and only the other units are
evaluated at the middle pair too. Where the weights are large enough for the degree-6
fit to fail, its coefficients say so (they stop falling fast), and that unit's
elements are evaluated one by one.

With u = ε/(r·s_n) ∈ [−1, 1] (r: the reach of the steps, s_n = max_k |a_k[n]|) and
ψ_jn = Σ_p c_jnp·u^p, the loss changes of all elements are six small matrix products:

    C(θ + δ·e_jk) − C(θ) = Σ_p (δ/r)^p · M_p[j, k],   M_p = c_p @ (a/s)^pᵀ   (units, K),

and a stencil's steps δ = o_m·h_e, all its rows at once, one more: (o_m^p) @ ((h_e/r)^p·M_p[e]).

These are the same numbers the loop over elements computes, forward passes only; each
call also evaluates exactly the step that goes farthest along its line, and one other,
and drops the lines for the layer if they differ by more than rounding.
"""

from __future__ import annotations

import math

import numpy as np

from ..catalogue import LOSSES
from .kept import read_only_cache

__all__ = ["UnitLines", "fit_passes", "fits_lines"]

EPS = np.finfo(np.float64).eps
#: Positive interpolation points u_q (the positive half of the 6 Chebyshev points); the line is
#: evaluated at ±u_q.
NODES = np.cos(np.pi * np.array([1, 3, 5]) / 12)
#: Odd (u, u³, u⁵) and even (u², u⁴, u⁶) coefficients of the interpolant from ψ(u_q) ∓ ψ(−u_q) (the halving of
#: the odd and even parts folded in).
_ODD = np.linalg.inv(NODES[:, None] ** np.array([1, 3, 5])) / 2
_EVEN = np.linalg.inv(NODES[:, None] ** np.array([2, 4, 6])) / 2
#: The nodes a unit is first fitted at (the outer and inner pair): a degree-4 interpolant, kept where its own
#: coefficients say the terms it leaves out are below rounding; the middle pair completes the degree-6 fit.
FIRST_NODES = (0, 2)
_ODD4 = np.linalg.inv(NODES[list(FIRST_NODES), None] ** np.array([1, 3])) / 2
_EVEN4 = np.linalg.inv(NODES[list(FIRST_NODES), None] ** np.array([2, 4])) / 2
POWERS = np.arange(1, 7)
#: An exactly evaluated loss may differ from the interpolated one by this many ε·Σ_n|ℓ_n| (rounding).
AGREE_ULPS = 64
#: The degree-6 fit resolves a unit's line where the terms it leaves out, counted whole (it misses 1/32 of them), are
#: below this many ε·Σ_n|ℓ_n|: about the rounding the finite difference's error bound allows for each loss.
TAIL_ULPS = 8
#: The products M_p of a layer are kept whole up to this size (6·units·K numbers).
PRODUCT_BYTES = 64 * 2**20
#: A fit evaluates this many of :class:`~gradcheck.numeric.perturbed.Perturbed`'s chunks of networks at once. One:
#: larger calls save little Python time and leave the caches (a 64-128-64-10 net's fit took 1.4× as long at three).
FIT_CHUNKS = 1
#: A fit takes the middle pair of every unit in its first pass, wanted or not, where that is at most this many
#: entries of the layers above (units · 2 · N · the widest layer above): below it a second pass costs more in
#: fixed costs than the arithmetic the degree-4 fits save (a 16-32-16-4 net's layer 0, at N=32, is 32,768).
AHEAD_ENTRIES = 2**15
#: A fit's own bookkeeping (its products, misses and checks: a few dozen NumPy calls) costs about as much as
#: evaluating this many perturbed networks one by one, in a stack: a layer whose stencil is no more networks than
#: its fit's and this many together is evaluated one by one (a 2-2-2-2 network's check: 0.84 of the time).
FIT_PASSES = 64
#: Coefficients below this many ε·|ℓ_n| are rounding: the losses at the nodes are good to a few ε·|ℓ_n|, and
#: the fit multiplies that by up to 70 (the largest row sum of the inverse Vandermonde matrices).
NOISE_ULPS = 256


def _left_out(nodes):
    """The largest |u^p − I[u^p]| over [−1, 1] of the first odd and the first even power p that an interpolant at 0
    and ±``nodes`` leaves out: |ω(u)| and |u·ω(u)|, ω(u) = u·Π(u² − u_q²), zero at every node."""
    u = np.linspace(0.0, 1.0, 4097)
    omega = u * np.prod(u[:, None] ** 2 - np.asarray(nodes) ** 2, axis=1)
    return float(np.abs(omega).max()), float(np.abs(u * omega).max())


#: Per fit (its coefficients per part: 2, the degree-4 fit; 3, the degree-6 one), how much of its first left-out odd
#: and even term its interpolant misses at worst over |u| ≤ 1, being exact at its nodes: 0.138 and 0.107 of u⁵ and
#: u⁶ at the outer and inner pair, 1/32 of u⁷ and u⁸ at all six points.
LEFT_OUT = {2: _left_out(NODES[list(FIRST_NODES)]), 3: _left_out(NODES)}
#: The degree-4 fit is kept where what it misses is at most this many ε·Σ_n|ℓ_n|: half of :data:`TAIL_ULPS`, its
#: miss being allowed for in the bounds of the elements it serves (:meth:`UnitLines.miss`) at the loss's scale.
FOUR_ULPS = 4


def fit_passes(units):
    """What fitting ``units`` lines costs, in forward passes of perturbed networks: six each, and
    :data:`FIT_PASSES` for the fit's own bookkeeping."""
    return 2 * len(NODES) * units + FIT_PASSES


def fits_lines(spec, i):
    """True when layer i's perturbed losses may come from :class:`UnitLines`: it moves one unit per element
    (dense), from layer i up every layer is analytic and none mixes samples, and so is the loss."""
    upper = spec.layers[i:]
    return (hasattr(spec.layers[i], "line_index") and spec.layers[i].structured
            and not any(ly.kinked or ly.mixes_samples for ly in upper) and not LOSSES[spec.loss].kinked)


#: The (unit, row) of every element (:meth:`UnitLines.locate`) are kept for layers of at most this many params (a
#: property test checks hundreds of small networks of a few shapes; a large layer's take little beside its fits).
LOCATED_KEPT = 2**16


def _located(kind, shapes, conv):
    """(unit j, row k of the line rows) of every element of a layer of the class ``kind`` whose trainable params
    have the (key, shape) pairs ``shapes``, flattened in that order: a function of the shapes and the convention
    alone (the kind's static ``line_index``: which of z's units an element moves, along which row), so kept
    (read-only) for small layers."""
    if sum(math.prod(shape) for _, shape in shapes) <= LOCATED_KEPT:
        return _kept_located(kind, shapes, conv)
    return _locate_all(kind, shapes, conv)


def _locate_all(kind, shapes, conv):
    params = {key: np.empty(shape) for key, shape in shapes}
    where = [kind.line_index(params, key, np.arange(math.prod(shape)), conv) for key, shape in shapes]
    return tuple(np.concatenate(part) for part in zip(*where))


_kept_located = read_only_cache(maxsize=32)(_locate_all)


class UnitLines:
    """The loss along each unit's line for layer ``i`` of a :class:`~gradcheck.numeric.perturbed.Perturbed`.

    Fitted lazily, per unit, for steps up to a reach that only grows (by quarter octaves).
    """

    def __init__(self, net, i):
        self.net, self.i = net, i
        self.layer = net.spec.layers[i]
        self.rows = None  # the lines' data, made by _prepare when a first fit is worth its passes
        self.M = self.M_fresh = None  # the products M_p, kept where they fit (see _products)
        self.top = 2 * len(FIRST_NODES)  # the powers any fitted unit's coefficients reach (the rest are zeros)
        self._located = None  # (unit, row) of every element of θ, made on first use
        self.fitted = np.zeros(self.layer.units, dtype=bool)
        self.missed = np.full(self.layer.units, np.inf)  # per unit: what its interpolant may miss over |u| ≤ 1
        self.resolved = np.zeros(self.layer.units, dtype=bool)  # per unit: its losses may come from its line
        self.reach = 0.0

    def _prepare(self):
        """The line rows, their scales and powers, and the tolerances: made once, on the first fit (a layer whose
        stencils cost fewer passes than a fit never needs them)."""
        net, i = self.net, self.i
        spec, base = net.spec, net.base
        self.rows = self.layer.line_rows(base.a_in[i], spec.conv, spec.bias)  # (K, N)
        scale = np.abs(self.rows).max(axis=0)
        self.scale = np.where(scale > 0, scale, 1.0)  # s_n
        self.z = base.z[i] if spec.conv.samples_are_columns else base.z[i].T  # (units, N)
        self.shares = net.shares  # ℓ_n (N,)
        self.coef = np.zeros((len(POWERS), self.layer.units, net.n))  # c_jnp, by p
        V = self.rows / self.scale  # a_k[n]/s_n ∈ [−1, 1]
        self.reaches = np.abs(V).max(axis=1)  # per row: how far along its line a step of r goes, at most
        self.powers = np.empty((len(POWERS), *V.shape))  # (a_k[n]/s_n)^p, (6, K, N)
        self.powers[0] = V
        for p in range(1, len(POWERS)):
            np.multiply(self.powers[p - 1], V, out=self.powers[p])
        size = np.abs(self.shares).sum() + abs(net.loss)
        self.tol, self.tail_tol, self.four_tol = AGREE_ULPS * EPS * size, TAIL_ULPS * EPS * size, FOUR_ULPS * EPS * size
        self.noise = NOISE_ULPS * EPS * (np.abs(self.shares) + size / net.n)  # per sample
        self.above = 2 * net.n * max((ly.units for ly in spec.layers[i + 1:]), default=1)  # per unit's middle pair

    def locate(self, flat, rows=True):
        """(unit j (P,), row k of the line rows (P,)) of the elements ``flat`` (P,) of the layer's θ (its params
        flattened in order, as :class:`~gradcheck.numeric.perturbed.Perturbed` numbers them); without ``rows``, j
        alone."""
        if self._located is None:
            params = self.net.params[self.i]
            shapes = tuple((key, params[key].shape) for key in self.net.keys(self.i))
            self._located = _located(type(self.layer), shapes, self.net.spec.conv)
        j = np.take(self._located[0], flat)
        return (j, np.take(self._located[1], flat)) if rows else j

    def changes(self, j, k, delta, budget=None, rows=None):
        """(C(θ + δ·e) − C(θ), unresolved, agrees) for the elements e moving unit ``j[e]`` along line row ``k[e]``
        (arrays (P,)) by the steps ``delta``: (P,), or (m, P) for m steps of each element (a stencil); ``rows``:
        (offsets (m,), h (P,)) where ``delta`` is offsets[r]·h[e], which finds its widest step without a pass over
        it (the same one: rounding is monotonic).

        Unresolved elements (P,) belong to units whose line the interpolant does not resolve
        to rounding (their values are meaningless: evaluate them one by one). ``agrees`` is
        False if the step that goes farthest along its line and one other, evaluated
        exactly, disagree with the lines. None, before any work, if fitting the units would
        take as many as ``budget`` forward passes or more (6 per unit not fitted yet, and
        :data:`FIT_PASSES` for the fit's own bookkeeping, where there is one).
        """
        if rows is None:
            reach = float(np.abs(delta).max(initial=0.0))
        else:
            reach = float(np.abs(rows[0]).max(initial=0.0)) * float(np.abs(rows[1]).max(initial=0.0))
        need = np.zeros_like(self.fitted)
        need[j] = True
        fresh = self.fitted if reach <= self.reach else np.zeros_like(self.fitted)
        unfitted = int((need & ~fresh).sum())
        if budget is not None and unfitted and fit_passes(unfitted) >= budget:
            return None
        if self.rows is None:
            self._prepare()
        if reach > self.reach:
            # The widest step the layer's elements will take, where the caller said (the narrower the reach, the
            # fewer units need the middle pair); else a little room, so that later calls with slightly larger steps
            # need no refit.
            widest = self.net.widest.get(self.i, 0.0)
            self.reach = widest if reach <= widest else 2.0 ** (np.ceil(4 * np.log2(reach)) / 4)
            self.fitted[:] = False
            if self.M_fresh is not None:
                self.M_fresh[:] = False
        steps = np.atleast_2d(delta)  # (m, P)
        if rows is not None and steps.size and np.abs(rows[0]).argmax() == 0:  # row 0 goes farthest for every element
            first = int((np.abs(steps[0]) * self.reaches[k]).argmax())
        else:
            first = int((np.abs(steps) * self.reaches[k]).argmax())
        probe = np.unravel_index([first, steps.size // 2], steps.shape)  # (step row, element)
        e = probe[1]
        exact = self._fit(np.flatnonzero(need & ~self.fitted), j[e],
                          self.z[j[e]] + steps[probe][:, None] * self.rows[k[e]])
        M = self._products(j, k)  # (top, P): M_p[j, k] per element, the powers up to the highest any unit has
        if rows is None:
            d = steps / self.reach
            out = M[-1] * d
            for p in range(len(M) - 2, -1, -1):  # Horner: Σ_p d^p·M_p
                out += M[p]
                out *= d
        else:  # d = offset_m·x_e: Σ_p offset_m^p·(x_e^p·M_p), every row of the stencil in one product
            x = np.empty(M.shape)
            x[0] = rows[1] / self.reach
            for p in range(1, len(M)):
                np.multiply(x[p - 1], x[0], out=x[p])
            out = np.power.outer(rows[0], POWERS[:len(M)]) @ np.multiply(x, M, out=x)
        unresolved = ~self.resolved[j]
        agrees = np.abs(exact - out[probe])[~unresolved[e]].max(initial=0.0) <= self.tol
        return out.reshape(np.shape(delta)), unresolved, agrees

    def miss(self, j):
        """How far each loss the lines give for elements of the units ``j`` (P,) may be from the loss of a pass of
        its own: what each unit's interpolant may miss over every step within the reach (:meth:`_miss`); 0 where
        the losses come from passes of their own (a unit not fitted, or whose line is not resolved)."""
        return np.where(self.fitted[j] & self.resolved[j], self.missed[j], 0.0)

    def _products(self, j, k):
        """M_p[j_e, k_e] = Σ_n c_{j_e,n,p}·(a_{k_e}[n]/s_n)^p for the elements e, (top, P): the powers p up to
        :attr:`top`, the highest any fitted unit's coefficients reach (a degree-4 fit's c_5 and c_6 are zeros).

        All of M (6, units, K) is kept and its rows refreshed as units are fitted, where
        it fits in :data:`PRODUCT_BYTES`; otherwise each element's sum is taken on its own.
        """
        units, rows, top = len(self.fitted), len(self.rows), self.top
        if len(POWERS) * units * rows * 8 <= PRODUCT_BYTES:
            if self.M is None:  # zeros: the products of powers above a unit's fit, right for it when top rises
                self.M, self.M_fresh = np.zeros((len(POWERS), units, rows)), np.zeros(units, dtype=bool)
            stale = np.flatnonzero(self.fitted & ~self.M_fresh)
            if len(stale) == units:  # every unit (a layer's first fit, as a rule): no gather, no scatter
                np.matmul(self.coef[:top], np.swapaxes(self.powers[:top], 1, 2), out=self.M[:top])
                self.M_fresh[:] = True
            elif len(stale):
                self.M[:top, stale] = self.coef[:top, stale] @ np.swapaxes(self.powers[:top], 1, 2)
                self.M_fresh[stale] = True
            return np.take(self.M[:top].reshape(top, -1), j * rows + k, axis=1)  # take: twice as fast as [:, idx]
        out = np.empty((top, len(j)))
        step = max(1, PRODUCT_BYTES // (8 * len(POWERS) * self.net.n * 2))
        for at in range(0, len(j), step):
            part = slice(at, at + step)
            out[:, part] = np.einsum("pen,pen->pe", self.coef[:top, j[part]], self.powers[:top, k[part]])
        return out

    def _fit(self, units, probe_unit, probe_z):
        """Fit c_jnp for ``units`` from ψ_jn at ±u_q (four forward passes of the layers above per unit, six where
        the degree-4 fit does not resolve the line); also evaluate the networks whose unit ``probe_unit[p]`` has z
        ``probe_z[p]`` (N,), and return their C − C(θ)."""
        first = list(FIRST_NODES)
        middle = [q for q in range(len(NODES)) if q not in first]
        ahead = len(units) * self.above <= AHEAD_ENTRIES  # the middle pair too, in the same pass
        psi, probe = self._psi(units, NODES[first + middle] if ahead else NODES[first], probe_unit, probe_z)
        outer_inner = psi[:, :, :len(first)]  # (units, ±, 2, N)
        odd, even = _ODD4 @ (outer_inner[:, 0] - outer_inner[:, 1]), _EVEN4 @ (outer_inner[:, 0] + outer_inner[:, 1])
        missed = self._miss(odd, even, cross=True)
        done = missed <= self.four_tol
        self._keep(units[done], (odd[done], even[done]), missed[done], True)
        rest = units[~done]
        if len(rest):
            whole = np.empty((len(rest), 2, len(NODES), self.net.n))
            whole[:, :, first + middle] = psi[~done] if ahead else np.concatenate(
                [psi[~done], self._psi(rest, NODES[middle], probe_unit[:0], probe_z[:0])[0]], axis=2)
            odd, even = _ODD @ (whole[:, 0] - whole[:, 1]), _EVEN @ (whole[:, 0] + whole[:, 1])  # (units, 3, N)
            missed = self._miss(odd, even)
            # Resolved where the terms it leaves out, counted whole (it misses 1/32 of each), are within TAIL_ULPS:
            # the last fit before one-by-one passes, where the coefficients fall slowest and their geometric fall is
            # least sure.
            self._keep(rest, (odd, even), missed, missed <= self.tail_tol * LEFT_OUT[3][0])
        return probe

    def _psi(self, units, nodes, probe_unit, probe_z):
        """(ψ_jn at ±``nodes`` (units, ±, q, N), the C − C(θ) of the probe networks (see :meth:`_fit`)): one forward
        pass of the layers above per unit and point, in chunks of networks."""
        net, i, n = self.net, self.i, self.net.n
        shifts = np.concatenate([nodes, -nodes])[:, None] * (self.reach * self.scale)  # (2q, N): ε at ±u_q
        chunk = max(1, net.chunk(i, lines=False) * FIT_CHUNKS // len(shifts))
        out, probe = np.empty((len(units), len(shifts), n)), None
        for start in range(0, max(1, len(units)), chunk):
            part = units[start:start + chunk]
            unit = np.repeat(part, len(shifts))
            z = (self.z[part][:, None, :] + shifts).reshape(-1, n)  # (units·2q, N)
            if probe is None:
                unit, z = np.concatenate([probe_unit, unit]), np.concatenate([probe_z, z])
            shares, _ = net.from_rows(i, unit, z, samples=True)
            psi = shares - self.shares
            if probe is None:
                probe, psi = psi[:len(probe_unit)].sum(axis=1), psi[len(probe_unit):]
            out[start:start + chunk] = psi.reshape(len(part), len(shifts), n)
        return out.reshape(len(units), 2, len(nodes), n), probe

    def _miss(self, odd, even, cross=False):
        """Per unit, what the interpolant may miss over |u| ≤ 1, from its odd and even coefficients (units, d, N).

        Coefficients of an analytic line fall geometrically (c_{p+2}/c_p ≈ (ε/radius)²), so the first left out is
        about c_top²/c_next, for each part; a coefficient at rounding counts as zero. With ``cross`` (the degree-4
        fit, whose first term left out is nearer rounding) each part's top is multiplied by the larger of the two
        parts' ratios, so that a ratio made small by one coefficient vanishing by accident does not decide. Of each
        left-out term the interpolant misses :data:`LEFT_OUT` at most (its nodes take the rest)."""
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):  # a loss not finite: not resolved
            top = np.abs(np.concatenate((odd[:, -1:], even[:, -1:]), axis=1))  # (units, part, N)
            top[top <= self.noise] = 0.0  # NaN stays NaN
            ratio = np.abs(np.concatenate((odd[:, -2:-1], even[:, -2:-1]), axis=1))
            np.maximum(ratio, self.noise, out=ratio)
            np.divide(top, ratio, out=ratio)
            top *= ratio.max(axis=1, keepdims=True) if cross else ratio  # NaN where either is
            odd_miss, even_miss = LEFT_OUT[odd.shape[1]]
            missed = (top[:, 0] * odd_miss + top[:, 1] * even_miss).sum(axis=1)
        return np.where(np.isfinite(missed), missed, np.inf)

    def _keep(self, units, parts, missed, resolved):
        """Store the fit of ``units``: its odd and even coefficients (units, d, N) by power (the powers above 2d
        zero), what it may miss, and whether it resolves the line."""
        odd, even = parts
        d = odd.shape[1]
        self.coef[0:2 * d:2, units], self.coef[1:2 * d:2, units] = odd.transpose(1, 0, 2), even.transpose(1, 0, 2)
        self.coef[2 * d:, units] = 0.0
        if len(units):
            self.top = max(self.top, 2 * d)
        self.missed[units], self.resolved[units] = missed, resolved
        self.fitted[units] = True
