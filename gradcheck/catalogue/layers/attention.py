"""Multi-head self-attention over the steps of a sequence: (N, T, D) -> (N, T, D).

    q = x·Wq + bq,  k = x·Wk + bk,  v = x·Wv + bv          (x one step's D features)
    head j (j < h) takes features j·d … (j + 1)·d − 1 of q, k and v, d = D/h:
    S_j = q_j k_jᵀ / √d (T × T),  A_j = softmax of each row of S_j (over the keys),  O_j = A_j v_j
    z = [O_1 … O_h]·Wo + bo

With ``causal`` the scores of later steps are −∞ (S[t, s] for s > t): their weights are 0.
The four weights are (D, D) and laid out like a dense layer's W: (in, out) in the row
convention (q = x @ Wq), (out, in) in the column convention (q = x @ Wq.T); a batch is
(N, T, D) in both. The backward pass, per head:

    dO = δ·Woᵀ,  dv = Aᵀ·dO,  dA = dO·vᵀ,
    dS = A ⊙ (dA − Σ_s dA ⊙ A)           (the softmax's Jacobian, row by row; 0 where masked)
    dq = dS·k/√d,  dk = dSᵀ·q/√d,  dx = dq·Wqᵀ + dk·Wkᵀ + dv·Wvᵀ

and each weight's gradient sums its input's outer product with its output's gradient over
samples and steps (dWq = Σ_{n,t} x[n, t] dq[n, t]ᵀ in the row convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from .base import Layer, Recorder
from .mistakes import KnownMistake, where

__all__ = ["Attention"]

_QKV = ("q", "k", "v")


def _t(x):
    return np.swapaxes(x, -1, -2)


def _in_out(W, conv):
    """A weight as (in, out) in either convention."""
    return _t(W) if conv.samples_are_columns else W


def _affine(x, W, b, conv):
    """x (..., N, T, D) times a (possibly stacked) weight, plus b: (..., N, T, D)."""
    out = x @ _in_out(W, conv)[..., None, :, :]
    return out if b is None else out + b[..., None, None, :]


def _heads(x, h):
    """(..., N, T, D) -> (..., N, h, T, d)."""
    return np.swapaxes(x.reshape(*x.shape[:-1], h, x.shape[-1] // h), -2, -3)


def _merge(x):
    """(..., N, h, T, d) -> (..., N, T, D)."""
    x = np.swapaxes(x, -2, -3)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def _softmax(S, mask):
    """Each row of S over its last axis; ``mask`` (T, T) True where a key is visible, or None."""
    if mask is not None:
        S = np.where(mask, S, -np.inf)
    e = np.exp(S - S.real.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _weight_grad(x, g, conv):
    """Σ_{n,t} of x's outer product with g, laid out like the weight ((in, out) row, (out, in) column)."""
    if conv.samples_are_columns:
        return np.einsum("...ntd,...nte->...ed", x, g)
    return np.einsum("...ntd,...nte->...de", x, g)


@dataclass(frozen=True)
class _How:
    """The switches of the backward pass the known mistakes flip: ``scaled`` False leaves the 1/√d out of dq and dk,
    ``jacobian`` False takes the softmax's derivative element by element, ``weights`` replaces the A the backward
    uses; ``magnitude`` adds the softmax's terms instead of subtracting them."""

    scaled: bool = True
    jacobian: bool = True
    weights: object = None
    magnitude: bool = False


def _backprop(ly, delta, cache, params, conv, bias, how=_How(), tape=None):
    """The backward pass (see the module), done ``how`` says."""
    rec = Recorder(tape, "backward")
    x, q, k, v, A, o = cache
    A = A if how.weights is None else how.weights
    h, d = ly.heads, ly.head_size
    grads = {"Wo": rec("dWo", f"np.einsum({_outer(conv)}, o, delta)", _weight_grad(o, delta, conv), o=o,
                       delta=delta)}
    if bias.has_b:
        grads["bo"] = rec("dbo", "delta.sum(axis=(0, 1))", delta.sum(axis=(-3, -2)), delta=delta)
    Wo, wo_text = _back(params["Wo"], "Wo", conv)
    dO = _heads(rec("dO", f"delta @ {wo_text}", delta @ Wo, delta=delta, **{wo_text: Wo}), h)
    qh, kh, vh = _heads(q, h), _heads(k, h), _heads(v, h)
    dv = rec("dv_h", "A.T @ dO_h", _t(A) @ dO, **{"A.T": _t(A)}, dO_h=dO)
    dA = rec("dA", "dO_h @ v_h.T", dO @ _t(vh), dO_h=dO, **{"v_h.T": _t(vh)})
    if not how.jacobian:
        dS = dA * A * (1.0 - A)
    elif how.magnitude:
        dS = A * (dA + (dA * A).sum(axis=-1, keepdims=True))
    else:
        dS = A * (dA - (dA * A).sum(axis=-1, keepdims=True))
    dS = rec("dS", "A * (dA - (dA * A).sum(axis=-1, keepdims=True))", dS, A=A, dA=dA)
    scale = 1.0 / math.sqrt(d) if how.scaled else 1.0
    dq = rec("dq_h", f"dS @ k_h / √{d}", dS @ kh * scale, dS=dS, k_h=kh)
    dk = rec("dk_h", f"dS.T @ q_h / √{d}", _t(dS) @ qh * scale, **{"dS.T": _t(dS)}, q_h=qh)
    da_prev, terms, operands = 0.0, [], {}
    for name, g in zip(_QKV, (dq, dk, dv)):
        g = rec(f"d{name}", f"join_heads(d{name}_h)", _merge(g), **{f"d{name}_h": g})
        grads["W" + name] = rec(f"dW{name}", f"np.einsum({_outer(conv)}, a_prev, d{name})",
                                _weight_grad(x, g, conv), a_prev=x, **{"d" + name: g})
        if bias.has_b:
            grads["b" + name] = rec(f"db{name}", f"d{name}.sum(axis=(0, 1))", g.sum(axis=(-3, -2)),
                                    **{"d" + name: g})
        W, w_text = _back(params["W" + name], "W" + name, conv)
        da_prev = da_prev + g @ W
        terms.append(f"d{name} @ {w_text}")
        operands.update({"d" + name: g, w_text: W})
    grads = {key: grads[key] for key in ly.param_names(bias)}
    return grads, rec("da_prev", " + ".join(terms), da_prev, **operands)


def _outer(conv):
    """The einsum that sums a weight's gradient over samples and steps, laid out like the weight."""
    return "'ntd,nte->ed'" if conv.samples_are_columns else "'ntd,nte->de'"


def _back(W, name, conv):
    """(the matrix that takes a gradient back through ``W``, its name in the shape trace): Wᵀ as (out, in)."""
    return (W, name) if conv.samples_are_columns else (_t(W), f"{name}.T")


def _unscaled(ly, own, delta, cache, a_prev, params, conv, bias):
    return _backprop(ly, delta, cache, params, conv, bias, _How(scaled=False))


def _elementwise(ly, own, delta, cache, a_prev, params, conv, bias):
    return _backprop(ly, delta, cache, params, conv, bias, _How(jacobian=False))


def _unmasked(ly, own, delta, cache, a_prev, params, conv, bias):
    _, q, k, *_ = cache
    S = _heads(q, ly.heads) @ _t(_heads(k, ly.heads)) / math.sqrt(ly.head_size)
    return _backprop(ly, delta, cache, params, conv, bias, _How(weights=_softmax(S, None)))


MISTAKES = (
    KnownMistake("unscaled_backward", lambda ls: (
        f"{where(ls)}: the backward pass leaves out the 1/√d of the scores (d = D/heads = {ls[0].head_size}): "
        f"dWq, dWk, dbq, dbk and the input's share through q and k are √d = {math.sqrt(ls[0].head_size):.3g} times "
        "too large; the forward pass scales S = q·kᵀ/√d, so dq = dS·k/√d and dk = dSᵀ·q/√d"), _unscaled),
    KnownMistake("softmax_elementwise", lambda ls: (
        f"{where(ls)} takes the softmax's derivative element by element (dS = dA·A·(1 − A)); each weight depends "
        "on every score of its row, so dS = A·(dA − Σ_s dA·A) over the keys of each row"), _elementwise),
    KnownMistake("mask_not_in_backward", lambda ls: (
        f"{where(ls)}: the causal mask is applied in the forward pass but not in the backward pass (the weights "
        "are recomputed without it, so later steps get gradient); masked scores have weight 0 and get no "
        "gradient: use the forward pass's A"), _unmasked, applies=lambda ly: ly.causal),
)


@dataclass(frozen=True, repr=False)
class Attention(Layer):
    """Multi-head self-attention with ``heads`` h over the T steps of a (T, D) sequence; ``causal`` masks later
    steps."""

    kind = "attention"
    keys: ClassVar[dict] = {"heads": ..., "causal": False}
    params = ("Wq", "Wk", "Wv", "Wo", "bq", "bk", "bv", "bo")
    weights = ("Wq", "Wk", "Wv", "Wo")
    complex_step = True
    mistakes = MISTAKES
    meanings: ClassVar[dict] = {
        "Wq": "query weights (D, D)", "Wk": "key weights (D, D)", "Wv": "value weights (D, D)",
        "Wo": "output weights (D, D)", "bq": "query bias", "bk": "key bias", "bv": "value bias", "bo": "output bias",
        "q": "queries x·Wq + bq", "k": "keys x·Wk + bk", "v": "values x·Wv + bv",
        "S": "scores q_j·k_jᵀ/√d per head (T, T)", "A": "attention weights: softmax of each row of S",
        "o": "A_j·v_j of every head, joined (N, T, D)", "z": "z = o·Wo + bo", "dO": "∂C/∂o = δ·Woᵀ",
        "dA": "∂C/∂A = dO·vᵀ", "dS": "∂C/∂S = A·(dA − Σ dA·A)", "dq": "∂C/∂q", "dk": "∂C/∂k", "dv": "∂C/∂v"}

    @classmethod
    def build(cls, read, index, in_shape, bias):
        heads = read.int("heads")
        causal = read.get("causal")
        if not isinstance(causal, bool):
            raise SpecError(f"{read.path}.causal", f"expected true or false, got {causal!r}", read.source)
        if len(in_shape) != 2:
            got = f"a vector of {in_shape[0]}" if len(in_shape) == 1 else f"a {'x'.join(map(str, in_shape))} image"
            raise SpecError(read.path, f"attention layer {index} needs a sequence input (T, D), got {got}; give "
                                       "\"input\": {\"steps\": T, \"features\": D}", read.source)
        if bias.in_weights:
            raise SpecError("bias", f"bias \"augmented\" is not defined for attention layers (layers[{index}] is "
                                    "attention): use \"separate\" (bq, bk, bv, bo) or \"none\"", read.source)
        steps, width = in_shape
        if width % heads:
            raise SpecError(f"{read.path}.heads", f"attention layer {index} splits its {width} features into "
                                                  f"{heads} heads, but {width} is not divisible by {heads}",
                            read.source)
        d = width // heads
        x = "x" if index == 0 else "a_prev"
        seq, scores = f"({steps},{width})", f"({heads},{steps},{steps})"
        formulas = (f"attention {index}: d = D/h = {width}/{heads} = {d}; q, k, v = {x} {seq} · W ({width},{width}) "
                    f"-> {heads} heads of ({steps},{d})",
                    f"attention {index}: S = q·kᵀ/√{d} {scores}, o = softmax(S)·v -> {seq}, z = o·Wo -> {seq}",
                    f"attention {index}: per batch: {x} (N,{steps},{width}) -> S, A (N,{heads},{steps},{steps}) -> "
                    f"z (N,{steps},{width})",
                    f"attention {index}: backward: delta (N,{steps},{width}) -> dA, dS (N,{heads},{steps},{steps}) -> "
                    f"dq, dk, dv (N,{steps},{width}) -> dW ({width},{width}), da_prev (N,{steps},{width})")
        return cls(index, tuple(in_shape), tuple(in_shape), options={"heads": heads, "causal": causal},
                   formulas=formulas)

    # -- facts -------------------------------------------------------------------------------
    @property
    def heads(self):
        return self.options["heads"]

    @property
    def causal(self):
        return self.options["causal"]

    @property
    def width(self):
        """D, the features of one step."""
        return self.in_shape[1]

    @property
    def head_size(self):
        """d = D/h, the features of one head."""
        return self.width // self.heads

    @property
    def work(self):
        steps, width = self.in_shape
        return 6 * steps * width + self.heads * steps * steps

    @property
    def forward_macs(self):
        """The four projections (T·D² each) and the scores and their weighted sum (T²·D each)."""
        steps, width = self.in_shape
        return 4 * steps * width * width + 2 * steps * steps * width

    @property
    def change_macs(self):
        """The whole forward pass again: an element of Wq or Wk changes its head's scores and weighted sum (T²·d
        each) and then every output through Wo (T·d·D), which at D in the thousands is most of a forward pass
        (measured; :meth:`output_change`)."""
        return self.forward_macs

    @property
    def row_reductions(self):
        """Each head's softmax over the keys: the max and the sum of each of its T rows."""
        return 2 * self.heads * self.in_shape[0]

    @property
    def change_entries(self):
        """The output copied (T·D), and for a q or k element its head's scores and softmax (T² each)."""
        steps, width = self.in_shape
        return steps * width + steps * steps

    @property
    def trace_sizes(self):
        """Sizes of its own arrays besides the in and out shapes (h, d), which the shape trace's N must differ from."""
        return self.heads, self.head_size

    def describe(self):
        mask = ", causal" if self.causal else ""
        return f"attention {self.in_shape[0]}x{self.width}, {self.heads} heads of {self.head_size}{mask}"

    def mask(self):
        """(T, T), True where step t may look at step s (s ≤ t when causal); None without a mask."""
        steps = self.in_shape[0]
        return np.tril(np.ones((steps, steps), dtype=bool)) if self.causal else None

    def param_names(self, bias):
        return [k for k in self.params if k.startswith("W") or bias.has_b]

    def param_shapes(self, conv, bias):
        """Four (D, D) weights and, with a separate bias, four (D,) biases."""
        width = self.width
        return {k: (width, width) if k.startswith("W") else (width,) for k in self.param_names(bias)}

    def param_layout(self, name, conv, bias):
        if name.startswith("W"):
            order = "(out, in): q = x @ Wq.T" if conv.samples_are_columns else "(in, out): q = x @ Wq"
            return f"(D, D) = {order} in the {conv.name} convention"
        return "(D,), one per feature"

    def init(self, rng, conv, bias):
        """W ~ N(0, 1/D), b ~ N(0, 0.1²)."""
        width = self.width
        return {k: rng.normal(0.0, 1.0 / np.sqrt(width), s) if k.startswith("W") else rng.normal(0.0, 0.1, s)
                for k, s in self.param_shapes(conv, bias).items()}

    # -- arrays ----------------------------------------------------------------------------
    def forward(self, params, a_prev, conv, bias, tape=None):
        """z (..., N, T, D) and the cache (x, q, k, v, A, O) the backward pass reads."""
        rec = Recorder(tape, "forward")
        h, d = self.heads, self.head_size

        def affine(x, x_text, n):
            W, b = params["W" + n], params.get("b" + n)
            w_text = f"W{n}.T" if conv.samples_are_columns else f"W{n}"
            plus = f" + b{n}" if b is not None else ""
            bias_op = {f"b{n}": b} if b is not None else {}
            return rec(n if n != "o" else "z", f"{x_text} @ {w_text}{plus}", _affine(x, W, b, conv),
                       **{x_text: x, w_text: _in_out(W, conv)}, **bias_op)

        q, k, v = (affine(a_prev, "a_prev", n) for n in _QKV)
        qh, kh, vh = _heads(q, h), _heads(k, h), _heads(v, h)
        S = rec("S", f"q_h @ k_h.T / √{d}", qh @ _t(kh) / math.sqrt(d), q_h=qh, **{"k_h.T": _t(kh)})
        A = rec("A", "softmax(S, axis=-1)" + (", S[t, s > t] = −∞" if self.causal else ""),
                _softmax(S, self.mask()), S=S)
        o = rec("o", "join_heads(A @ v_h)", _merge(A @ vh), A=A, v_h=vh)
        z = affine(o, "o", "o")
        return z, (a_prev, q, k, v, A, o)

    def backward(self, delta, cache, params, conv, bias, tape=None):
        return _backprop(self, delta, cache, params, conv, bias, tape=tape)

    def backward_magnitude(self, size, cache, params, conv, bias, a_prev=None):
        return _backprop(self, size, cache, params, conv, bias, _How(magnitude=True))

    def output_change(self, params, key, index, delta, cache, z, conv, bias):
        """z (P, N, T, D) when element ``index[p]`` (flat) of ``key`` moves by ``delta[p]``. Each element moves
        one feature j of q, k, v or z: a q or k element moves its head's scores by a rank-one term (only that
        head's softmax is recomputed), a v element moves o_j by A·Δv_j, a Wo or bo element moves z_j alone."""
        x, q, k, v, A, o = cache
        index, d = np.asarray(index), self.head_size
        if key.startswith("W"):
            rows, cols = np.unravel_index(index, params[key].shape)
            i_in, j = (cols, rows) if conv.samples_are_columns else (rows, cols)
            moved = delta[:, None, None] * np.moveaxis((o if key == "Wo" else x)[..., i_in], -1, 0)  # (P, N, T)
        else:
            j = index
            moved = np.broadcast_to(delta[:, None, None], (len(index), *x.shape[:-1]))
        out = np.empty((len(index), *z.shape), dtype=np.result_type(z, delta))
        out[...] = z
        Wo = _in_out(params["Wo"], conv)
        if key in ("Wo", "bo"):
            out[np.arange(len(index)), :, :, j] += moved
            return out
        if key[1] == "v":
            weights = np.moveaxis(A[..., j // d, :, :], -3, 0)  # (P, N, T, T): each element's head
            out += (weights @ moved[..., None]) * Wo[j][:, None, None, :]
            return out
        for head in np.unique(j // d):
            at = np.flatnonzero(j // d == head)
            cut = slice(head * d, (head + 1) * d)
            S = q[..., cut] @ _t(k[..., cut]) / math.sqrt(d)  # (N, T, T)
            m = moved[at] / math.sqrt(d)
            if key[1] == "q":
                S = S + m[..., :, None] * np.moveaxis(k[..., j[at]], -1, 0)[..., None, :]
            else:
                S = S + np.moveaxis(q[..., j[at]], -1, 0)[..., :, None] * m[..., None, :]
            out[at] += (_softmax(S, self.mask()) @ v[..., cut] - o[..., cut]) @ Wo[cut]
        return out

    # -- symbolic form ---------------------------------------------------------------------
    def symbolic_z(self, params, a_prev, conv, bias, define=None):
        """One sample's z, flat in C order of (T, D), from SymPy symbol arrays ``params`` and the flat a_prev;
        ``define`` (from the derivation) names every step's q, k, v and the heads' output o, so that a weight's
        chain rule is its product's adjoint times its input, as a dense layer's is, and the softmax's forms hold
        q and k by name."""
        import sympy as sp

        steps, width, d = self.in_shape[0], self.width, self.head_size
        x = [list(a_prev[t * width:(t + 1) * width]) for t in range(steps)]

        def affine(rows, name):
            W, b = params["W" + name], params.get("b" + name)
            out = []
            for row in rows:
                out.append([sum(row[i] * (W[j, i] if conv.samples_are_columns else W[i, j]) for i in range(width))
                            + (b[j] if b is not None else 0) for j in range(width)])
            return out

        def named(letter, rows):
            return [self._named(define, letter, t, row) for t, row in enumerate(rows)]

        q, k, v = (named(n, affine(x, n)) for n in _QKV)
        o = [[0] * width for _ in range(steps)]
        for j in range(self.heads):
            cut = range(j * d, (j + 1) * d)
            for t in range(steps):
                seen = range(t + 1) if self.causal else range(steps)
                e = [sp.exp(sum(q[t][c] * k[s][c] for c in cut) / sp.sqrt(d)) for s in seen]
                total = sum(e)
                for c in cut:
                    o[t][c] = sum(w * v[s][c] for w, s in zip(e, seen)) / total
        return [zj for row in affine(named("o", o), "o") for zj in row]
