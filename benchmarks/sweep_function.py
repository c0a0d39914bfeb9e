"""Sweep ``check_function`` over functions near their minima and count its false verdicts against exact gradients.

Run: ``python benchmarks/sweep_function.py [--count N] [--seed S] [--kind K ...]`` (a minute or two, not a unit
test). For each of ``--count`` functions of each kind, drawn deterministically for the seed, at a point x a hair
from the minimum c (1e-25 to 1e-3, relative or absolute, so the function's value is anywhere from 1e-50 to 1):

* ``quadratic``: ½‖A(x − c)‖², A a random (d + 2)×d matrix scaled by 10^U(−2, 2);
* ``quartic``: Σ(x − c)⁴ + ½Σ(x − c)²;
* ``cancelling``: Σ softplus(u) − log 2 − u/2, u = A(x − c): u²/8 in exact arithmetic near u = 0, and computed
  there the rounding of log 2's terms (1e-16), a function that is all rounding;
* ``smooth``: Σ log cosh(A x) + ½‖x‖², at a generic point (not a minimum);
* ``offset``: the same plus a constant of 1e3 to 1e8, as a sum over many terms carries the others: f rounds at
  ε times that, which hides the gradient at the default steps and not at wider ones;
* ``huge_inputs``: ½‖V·act(W·X) − Y‖² in the weights W (up to 4×3), X of scale s = 1e4 to 1e16 and W of 1/s, act
  one of tanh, softplus, relu and elu, at a generic point: f turns far within the default steps, which are
  relative to max(1, |W|) (a relu's z moves by 6e8 at them under s = 1e14);
* ``inflection``: Σ_n w_n·φ(s·A_n(x − c)), φ one of tanh, sin, the logistic sigmoid and arctan, s = 10^U(2, 5),
  at c or a hair from it: every term at (or by) its inflection point, where the one-sided slopes at ±h do not turn
  while the central difference is off the slope by f'''·h²/6 (0.2% at s = 1e4);
* ``steep``: the same at a point whose terms sit anywhere on φ (O(1/s) from c): the slopes at ±h turn, and g(h) is
  off the slope by 1e-5 to 1e-3;
* ``domain_edge``: Σ_k w_k·φ(c_k − x_k), φ one of sqrt, log and u^1.5 (defined for u > 0 only), with one x_k 1.05 to
  3 default steps from c_k: the stencil's wider points are past the edge of f's domain, where f is NaN;
* ``softmax``: CS231n's softmax loss in W as its course computes it, under scores up to 700 apart: f computed from
  probabilities within a few ulps of 1 moves in steps far above an ulp of f (or not at all: −log(1.0) = 0), while
  the exact gradient is 1e-10 to 1e-300;
* ``layernorm`` and ``batchnorm``: Σ dout·γ·x̂ in x, a normalisation (CS231n's forward: the mean, the biased
  variance, eps of 1e-5, 1e-8 or 0) over two or three values, of 1e-2 to 1e4, that differ by 1e-9 to 1 of their
  size: f turns within that spread, far within the default steps, and computed it rounds in the last bits of x
  (over two values under eps = 0, x̂ is ±1, f is constant and the computed f is all rounding);
* ``logistic``: the binary cross-entropy of logits X·w, Σ max(z, 0) − y·z + log1p(exp(−|z|)), with logits up to
  a few hundred: a sum of terms from e^-300 to 300, and exact gradients down to 1e-130;
* ``float32``: Σ v·tanh(A·x), ½‖A·x − b‖² or log Σ exp(A·x) computed in float32 and handed back as a Python float
  (as ``float(loss)`` or a framework's ``loss.item()`` does), with A of 0.1 to 10 and x up to 10: tanh saturates
  to exactly ±1 in float32, and nothing but f's values says that f is float32; the exact gradient is that of the
  same function of x with A, v and b as float32 holds them.
The function is evaluated in float64 as a user writes it (``float32``: as a float32 model computes it; one whose
value at x itself overflows is left out and counted: ``check_function`` reports that as a problem, there is no
gradient to judge); the gradient handed to
``check_function`` is the exact one, computed with mpmath at 50 digits and rounded to float64. A FAIL of it is a
*false FAIL*. Then one element of that gradient ×1.001 (a slip of 1e-3, a hundred times the default rtol): *caught*
when the check fails; for ``inflection`` and ``steep``, where the element's central difference at the default step
is off the slope by more than ten times the default rtol, the slip is that central difference instead (an analytic
value that agrees with g(h) by construction). Slips that no float64 difference can resolve (an element far below the
function's rounding) are counted too, so the caught fraction is a floor, not a rate of misses; a slipped element
judged *good* is a false pass (it must not happen: the wider steps that clear an element the default ones leave open
must not clear a slip).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mpmath
import numpy as np
from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's gradcheck, whatever copy the environment has installed

from gradcheck import check_function  # noqa: E402
from gradcheck.numeric import methods  # noqa: E402
from gradcheck.numeric.stencils import default_step  # noqa: E402

mpmath.mp.dps = 50


def _mp(v):
    return [mpmath.mpf(float(a)) for a in v]


def _quadratic(A, Am, c):
    def f(v):
        return 0.5 * np.sum((A @ (v - c)) ** 2)

    def grad(v):
        return Am.T * (Am * mpmath.matrix([a - b for a, b in zip(_mp(v), _mp(c))]))
    return f, grad


def _quartic(A, Am, c):
    def f(v):
        return np.sum((v - c) ** 4) + 0.5 * np.sum((v - c) ** 2)

    def grad(v):
        return mpmath.matrix([4 * t ** 3 + t for t in (a - b for a, b in zip(_mp(v), _mp(c)))])
    return f, grad


def _cancelling(A, Am, c):
    def f(v):
        u = A @ (v - c)
        return np.sum(np.log1p(np.exp(u)) - np.log(2) - 0.5 * u)

    def grad(v):
        u = Am * mpmath.matrix([a - b for a, b in zip(_mp(v), _mp(c))])
        return Am.T * mpmath.matrix([1 / (1 + mpmath.exp(-t)) - mpmath.mpf(1) / 2 for t in u])
    return f, grad


def _smooth(A, Am, c):
    def f(v):
        return np.sum(np.log(np.cosh(A @ v))) + 0.5 * np.sum(v ** 2)

    def grad(v):
        u = Am * mpmath.matrix(_mp(v))
        return Am.T * mpmath.matrix([mpmath.tanh(t) for t in u]) + mpmath.matrix(_mp(v))
    return f, grad


def _offset(A, Am, c):
    size = 10.0 ** (3 + 5 * (abs(float(c[0])) % 1))  # 1e3 to 1e8, drawn with c

    def f(v):
        return size + np.sum(np.log(np.cosh(A @ v))) + 0.5 * np.sum(v ** 2)

    _, grad = _smooth(A, Am, c)
    return f, grad


#: Each activation of ``huge_inputs``: (NumPy, mpmath, its derivative in mpmath).
ACTIVATIONS = {
    "tanh": (np.tanh, mpmath.tanh, lambda z: 1 - mpmath.tanh(z) ** 2),
    "softplus": (lambda z: np.logaddexp(0.0, z), lambda z: mpmath.log1p(mpmath.exp(z)),
                 lambda z: 1 / (1 + mpmath.exp(-z))),
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: max(z, 0), lambda z: mpmath.mpf(z > 0)),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))), lambda z: z if z > 0 else mpmath.expm1(z),
            lambda z: mpmath.mpf(1) if z > 0 else mpmath.exp(z)),
}


def _huge_inputs(rng):
    """(f, its gradient at 50 digits, x) of ½‖V·act(W·X) − Y‖² in W, X of 1e4 to 1e16 and W as much smaller."""
    units, fan_in, n = int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(2, 6))
    scale = 10.0 ** float(rng.choice([4, 8, 12, 14, 16]))
    name = str(rng.choice(sorted(ACTIVATIONS)))
    X, W = rng.standard_normal((fan_in, n)) * scale, rng.standard_normal((units, fan_in)) / scale
    V, Y = rng.standard_normal((2, units)), rng.standard_normal((2, n))
    act, act_mp, slope_mp = ACTIVATIONS[name]

    def f(v):
        return 0.5 * np.sum((V @ act(v.reshape(W.shape) @ X) - Y) ** 2)

    Xm, Vm, Ym = (mpmath.matrix(a.tolist()) for a in (X, V, Y))

    def grad(v):
        Z = mpmath.matrix(np.asarray(v, float).reshape(W.shape).tolist()) * Xm
        A = Z.apply(act_mp)
        delta = (Vm.T * (Vm * A - Ym))
        for j in range(units):
            for k in range(n):
                delta[j, k] *= slope_mp(Z[j, k])
        G = delta * Xm.T
        return [G[j, k] for j in range(units) for k in range(fan_in)]

    return f, grad, W.ravel()


#: Each odd φ of ``inflection``, whose inflection point is 0: (NumPy, its derivative in mpmath).
INFLECTING = {
    "tanh": (np.tanh, lambda z: 1 - mpmath.tanh(z) ** 2),
    "sin": (np.sin, mpmath.cos),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: mpmath.exp(-z) / (1 + mpmath.exp(-z)) ** 2),
    "arctan": (np.arctan, lambda z: 1 / (1 + z ** 2)),
}


def _inflection(rng, generic=False):
    """(f, its gradient at 50 digits, x) of Σ_n w_n·φ(s·A_n(x − c)) at c or a hair from it (see the module); with
    ``generic``, at a point whose terms are O(1/s) from c, each at its own place on φ."""
    d = int(rng.integers(1, 6))
    A, w = rng.standard_normal((d + 2, d)), rng.standard_normal(d + 2)
    scale = 10.0 ** float(rng.uniform(2, 5))
    c = rng.standard_normal(d) * 10 ** rng.uniform(-3, 1)
    off = rng.standard_normal(d) * 10 ** rng.uniform(-25, -8) * (rng.random() < 0.5)
    phi, slope_mp = INFLECTING[str(rng.choice(sorted(INFLECTING)))]
    Am, wm, cm = mpmath.matrix(A.tolist()), _mp(w), _mp(c)

    def f(v):
        return float(np.sum(w * phi(scale * (A @ (v - c)))))

    def grad(v):
        u = [scale * z for z in Am * mpmath.matrix([a - b for a, b in zip(_mp(v), cm)])]
        return [sum(wm[n] * slope_mp(u[n]) * scale * Am[n, k] for n in range(d + 2)) for k in range(d)]

    if generic:
        off = rng.standard_normal(d) * rng.uniform(0.1, 3.0) / scale
    return f, grad, c + off


def _steep(rng):
    return _inflection(rng, generic=True)


#: Each φ of ``domain_edge``, defined for u > 0 only: (NumPy, its derivative in mpmath).
EDGED = {
    "sqrt": (np.sqrt, lambda u: 1 / (2 * mpmath.sqrt(u))),
    "log": (np.log, lambda u: 1 / u),
    "u^1.5": (lambda u: u ** 1.5, lambda u: mpmath.mpf(1.5) * mpmath.sqrt(u)),
}


def _domain_edge(rng):
    """(f, its gradient at 50 digits, x) of Σ_k w_k·φ(c_k − x_k) with one x_k 1.05 to 3 default steps from c_k, the
    edge of φ's domain (see the module)."""
    d = int(rng.integers(1, 5))
    c, w = rng.standard_normal(d) * 10 ** rng.uniform(-1, 2), rng.standard_normal(d)
    x = c - np.abs(rng.standard_normal(d)) - 0.1
    k = int(rng.integers(d))
    x[k] = c[k] - rng.uniform(1.05, 3.0) * float(default_step(x[k:k + 1], methods.lookup("central"))[0])
    phi, slope_mp = EDGED[str(rng.choice(sorted(EDGED)))]

    def f(v):
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.sum(w * phi(c - v)))

    def grad(v):
        return [-mpmath.mpf(float(w[j])) * slope_mp(mpmath.mpf(float(c[j])) - mpmath.mpf(float(v[j])))
                for j in range(d)]

    return f, grad, x


def _softmax(rng):
    """(f, its gradient at 50 digits, x) of CS231n's softmax loss in W, computed as its course has it (scores shifted by
    their maximum, the probabilities normalised, −log of the right one), under scores up to 700 apart (see the
    module)."""
    n, d, c = int(rng.integers(2, 6)), int(rng.integers(2, 5)), int(rng.integers(2, 5))
    X = rng.standard_normal((n, d)) * 10 ** rng.uniform(-1, 1.5)
    W = rng.standard_normal((d, c)) * 10 ** rng.uniform(-1, 2.5)
    y = rng.integers(0, c, n)
    # Scores at most 700 apart: a probability below e^-708 is subnormal, and f computed from it is no longer the
    # loss to a few ulps but a staircase with jumps (a float64 forward pass far from the exact function).
    gap = float(np.ptp(X @ W, axis=1).max())
    W *= min(1.0, 700.0 / gap) if gap > 0 else 1.0

    def f(v):
        s = X @ v.reshape(d, c)
        s = s - s.max(axis=1, keepdims=True)
        with np.errstate(all="ignore"):
            p = np.exp(s)
            p /= p.sum(axis=1, keepdims=True)
            return float(-np.log(p[np.arange(n), y]).sum() / n)

    Xm = mpmath.matrix(X.tolist())

    def grad(v):
        S = Xm * mpmath.matrix(np.asarray(v, float).reshape(d, c).tolist())
        G = mpmath.matrix(d, c)
        for i in range(n):
            top = max(S[i, j] for j in range(c))
            e = [mpmath.exp(S[i, j] - top) for j in range(c)]
            for j in range(c):
                delta = e[j] / sum(e) - (1 if j == y[i] else 0)
                for k in range(d):
                    G[k, j] += Xm[i, k] * delta / n
        return [G[k, j] for k in range(d) for j in range(c)]

    return f, grad, W.ravel()


def _normalisation(rng, over_features):
    """(f, its gradient at 50 digits, x) of Σ dout·γ·x̂ in x (n, d), x̂ normalised over each sample's d features
    (``over_features``, a layernorm) or over each feature's n samples (a batchnorm), as CS231n computes it."""
    n, d = (int(rng.integers(1, 5)), int(rng.integers(2, 4))) if over_features else \
        (int(rng.integers(2, 4)), int(rng.integers(1, 4)))
    eps = float(rng.choice([1e-5, 1e-5, 1e-8, 0.0]))
    scale, spread = 10 ** rng.uniform(-2, 4), 10 ** rng.uniform(-9, 0)
    base = rng.standard_normal((n, 1) if over_features else (1, d)) * scale
    x = base + rng.standard_normal((n, d)) * spread * scale
    gamma, dout = rng.standard_normal(d) * 10 ** rng.uniform(-1, 1), rng.standard_normal((n, d))
    axis = 1 if over_features else 0
    if eps == 0.0 and np.min(np.var(x, axis=axis)) == 0:
        eps = 1e-5  # values equal to the bit: x̂ is 0/0 without an eps

    def f(v):
        v = v.reshape(n, d)
        with np.errstate(all="ignore"):
            x_hat = (v - v.mean(axis=axis, keepdims=True)) / np.sqrt(v.var(axis=axis, keepdims=True) + eps)
        return float(np.sum(dout * (gamma * x_hat)))

    def grad(v):
        v = np.asarray(v, float).reshape(n, d)
        out = [[mpmath.mpf(0)] * d for _ in range(n)]
        groups = ([[(i, j) for j in range(d)] for i in range(n)] if over_features
                  else [[(i, j) for i in range(n)] for j in range(d)])
        for group in groups:  # dx = (g − mean g − x̂·mean(g·x̂))/σ over each group, g = dout·γ
            m = len(group)
            xs = [mpmath.mpf(float(v[i, j])) for i, j in group]
            mu = sum(xs) / m
            sigma = mpmath.sqrt(sum((a - mu) ** 2 for a in xs) / m + mpmath.mpf(eps))
            x_hat = [(a - mu) / sigma for a in xs]
            g = [mpmath.mpf(float(dout[i, j])) * mpmath.mpf(float(gamma[j])) for i, j in group]
            mean_g, mean_gx = sum(g) / m, sum(a * b for a, b in zip(g, x_hat)) / m
            for (i, j), gi, xi in zip(group, g, x_hat):
                out[i][j] = (gi - mean_g - xi * mean_gx) / sigma
        return [out[i][j] for i in range(n) for j in range(d)]

    return f, grad, x.ravel()


def _layernorm(rng):
    return _normalisation(rng, True)


def _batchnorm(rng):
    return _normalisation(rng, False)


def _logistic(rng):
    """(f, its gradient at 50 digits, w) of the binary cross-entropy of the logits z = X·w, computed without overflow
    or lost digits: Σ max(z, 0) − y·z + log1p(exp(−|z|))."""
    n, d = int(rng.integers(2, 6)), int(rng.integers(1, 4))
    X = rng.standard_normal((n, d)) * 10 ** rng.uniform(-1, 1)
    w = rng.standard_normal(d) * 10 ** rng.uniform(-1, 2.5)
    y = rng.integers(0, 2, n)

    def f(v):
        z = X @ v
        return float(np.sum(np.maximum(z, 0) - y * z + np.log1p(np.exp(-np.abs(z)))))

    Xm = mpmath.matrix(X.tolist())

    def grad(v):
        out = [mpmath.mpf(0)] * d
        for i in range(n):
            z = sum(Xm[i, k] * mpmath.mpf(float(v[k])) for k in range(d))
            # σ(z) − y, each case in the form that does not cancel (σ(300) − 1 is −e^-300, not 0 at 50 digits)
            slope = -1 / (1 + mpmath.exp(z)) if y[i] else 1 / (1 + mpmath.exp(-z))
            for k in range(d):
                out[k] += slope * Xm[i, k]
        return out

    return f, grad, w


def _float32(rng):
    """(f, its gradient at 50 digits, x) of one of Σ v·tanh(A·x), ½‖A·x − b‖² and log Σ exp(A·x), computed in float32
    and returned as a Python float; the gradient is the exact one of the same function of x with A, v and b as
    float32 holds them."""
    d = int(rng.integers(1, 5))
    A = (rng.standard_normal((d + 2, d)) * 10 ** rng.uniform(-1, 1)).astype(np.float32)
    v, b = rng.standard_normal(d + 2).astype(np.float32), rng.standard_normal(d + 2).astype(np.float32)
    x = rng.standard_normal(d) * 10 ** rng.uniform(-1, 1)
    form = int(rng.integers(3))
    Am, vm, bm = (mpmath.matrix(np.asarray(a, float).tolist()) for a in (A, v, b))

    def f(u):
        z = A @ np.asarray(u, np.float32)
        with np.errstate(all="ignore"):
            if form == 0:
                return float(np.sum(v * np.tanh(z)))
            if form == 1:
                return float(np.float32(0.5) * np.sum((z - b) ** 2))
            return float(np.log(np.sum(np.exp(z - z.max()))) + z.max())

    def grad(u):
        z = Am * mpmath.matrix([mpmath.mpf(float(t)) for t in u])
        if form == 0:
            w = [vm[i] * (1 - mpmath.tanh(z[i]) ** 2) for i in range(d + 2)]
        elif form == 1:
            w = [z[i] - bm[i] for i in range(d + 2)]
        else:
            top = max(z)
            e = [mpmath.exp(z[i] - top) for i in range(d + 2)]
            w = [t / sum(e) for t in e]
        return [sum(Am[i, k] * w[i] for i in range(d + 2)) for k in range(d)]

    return f, grad, x


def _central(f, x, at):
    """f's central difference in element ``at`` at the default step."""
    h = float(default_step(x, methods.lookup("central"))[at])
    up, down = x.copy(), x.copy()
    up[at] += h
    down[at] -= h
    return (f(up) - f(down)) / (up[at] - down[at])


#: Each kind: (f, its gradient at 50 digits) from A (float64 and mpmath) and c; "smooth" and "offset" are taken at a
#: generic point; the kinds of ``DRAWS_OWN`` draw their own.
KINDS = {"quadratic": _quadratic, "quartic": _quartic, "cancelling": _cancelling, "smooth": _smooth,
         "offset": _offset, "huge_inputs": _huge_inputs, "inflection": _inflection, "steep": _steep,
         "domain_edge": _domain_edge, "softmax": _softmax, "layernorm": _layernorm, "batchnorm": _batchnorm,
         "logistic": _logistic, "float32": _float32}
DRAWS_OWN = ("huge_inputs", "inflection", "steep", "domain_edge", "softmax", "layernorm", "batchnorm", "logistic",
             "float32")
#: The kinds whose slip is g(h) itself where that is off the slope by more than ten times rtol.
AGREEING_SLIPS = ("inflection", "steep")


def draw(kind, rng):
    """(f, its exact gradient rounded to float64 as a function of x, x) of one function of ``kind``."""
    if kind in DRAWS_OWN:
        f, grad, x = KINDS[kind](rng)
        return f, (lambda v: np.array([float(g) for g in grad(v)])), x
    d = int(rng.integers(1, 6))
    c = rng.standard_normal(d) * 10 ** rng.uniform(-3, 3)
    off = rng.standard_normal(d) * 10 ** rng.uniform(-25, -3) * np.maximum(1, np.abs(c)) ** rng.integers(0, 2)
    A = rng.standard_normal((d + 2, d)) * 10 ** rng.uniform(-2, 2)
    x = rng.standard_normal(d) if kind in ("smooth", "offset") else c + off
    f, grad = KINDS[kind](A, mpmath.matrix(A.tolist()), c)
    return f, (lambda v: np.array([float(g) for g in grad(v)])), x


def sweep(count, seed, kinds=None):
    rows, t0 = [], time.process_time()
    for k, kind in enumerate(KINDS):
        if kinds and kind not in kinds:
            continue
        rng = np.random.default_rng([seed, k])
        n = false_fail = slips = caught = cleared = inconclusive = unfit = 0
        for _ in range(count):
            f, exact, x = draw(kind, rng)
            g = exact(x)
            with np.errstate(all="ignore"):
                finite = np.isfinite(f(x.copy()))
            if not finite:  # f overflows at x itself (cosh of 710 or more): no gradient to check, a problem reported
                unfit += 1
                rng.integers(len(x))  # the draw a checked function takes, so that the next ones stay as they were
                continue
            r = check_function(f, lambda v, g=g: g.copy(), x.copy())
            n += 1
            if not r.passed:
                false_fail += 1
                print(f"false FAIL ({kind}): x = {x.tolist()!r}: {str(r).splitlines()[0]}", flush=True)
            inconclusive += any((t.verdict("analytic") == "inconclusive").any() for t in r.tensors)
            at = int(rng.integers(len(x)))
            if g[at] != 0:
                slipped = g.copy()
                slipped[at] *= 1.001
                if kind in AGREEING_SLIPS and abs(_central(f, x, at) - g[at]) > 1e-4 * abs(g[at]):
                    slipped[at] = _central(f, x, at)
                slips += 1
                slip = check_function(f, lambda v, s=slipped: s.copy(), x.copy())
                caught += not slip.passed
                cleared += slip.tensors[0].verdict("analytic").ravel()[at] == "good"
        rows.append([kind, n, unfit, false_fail, inconclusive, slips, caught, cleared])
    total = [sum(r[i] for r in rows) for i in range(1, 8)]
    print(tabulate([*rows, ["total", *total]],
                   ["kind", "functions", "not finite at x (left out)", "false FAIL",
                    "correct with an inconclusive element", "slips",
                    "caught", "slipped element judged good"], tablefmt="github"))
    print(f"{time.process_time() - t0:.1f} s CPU")
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="functions of each kind (default 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kind", action="append", choices=sorted(KINDS), help="only this kind (repeatable)")
    args = parser.parse_args(argv)
    sweep(args.count, args.seed, args.kind)


if __name__ == "__main__":
    main()
