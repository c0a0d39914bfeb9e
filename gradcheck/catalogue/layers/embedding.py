"""The embedding layer: a lookup table from token ids to vectors.

    z[n, t] = W[ids[n, t]]          ids (N, T) integers in [0, V), W (V, E), z (N, T, E)
    dW = zeros((V, E)); np.add.at(dW, ids, delta)

W is (vocab, dim) in BOTH conventions: it is a table, row v is token v's vector, not a
map from fan_in to units (so no transpose in the column convention, and no bias in any
bias style). The output is a sequence (N, T, E) in both conventions. A token that
occurs at several positions gets the δ of every one of them added into its row:
``np.add.at`` adds repeated indices one by one, where ``dW[ids] += delta`` (buffered)
and ``dW[ids] = delta`` keep only one of them. Token ids get no gradient.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...errors import SpecError
from ..activations import SYMPY_NUMPY
from .base import Layer, Recorder, Tokens
from .mistakes import KnownMistake, where

__all__ = ["Embedding"]


def _last_write(ly, own, delta, cache, a_prev, params, conv, bias):
    """``dW[ids] = delta``: a repeated id is written, not added (``dW[ids] += delta`` buffers to the same)."""
    ids = cache
    dW = np.zeros(np.shape(params["W"]))
    dW[ids] = delta
    return {"W": dW}, None


def _is_token_numeric(x, v):
    return (np.asarray(x) == v).astype(float)


# lambdify evaluates the symbolic form's [x_t = v] with this
SYMPY_NUMPY.update(is_token=_is_token_numeric)


@functools.cache
def is_token():
    """The SymPy function is_token(x, v) = [x = v]: 1 where the token id x is v, else 0; constant in the params
    (made on first use: SymPy stays out of a check that does not derive)."""
    import sympy as sp

    from ..sympy_forms import NetFunctionBase

    class is_token(NetFunctionBase):  # noqa: N801 - printed name
        text_head, latex_head = "is_token", r"\operatorname{is\_token}"

        def fdiff(self, argindex=1):
            return sp.S.Zero

        def elementary(self):
            x, v = self.args
            return sp.Piecewise((1, sp.Eq(x, v)), (0, True))

        def _sympystr(self, printer):
            return "[%s = %s]" % tuple(printer._print(a) for a in self.args)

        def _latex(self, printer):
            return r"\left[%s = %s\right]" % tuple(printer._print(a) for a in self.args)

    return is_token


MISTAKES = (
    KnownMistake("repeated_ids_lost", lambda ls: (
        f"{where(ls)} writes dW[ids] = delta (or dW[ids] += delta, which NumPy buffers the same way): a token "
        "that occurs at several positions keeps the δ of only one of them; add them all up with "
        "np.add.at(dW, ids, delta)"), _last_write),
)


def lookup(W, ids):
    """W[ids] for a table W (..., V, E) and ids (..., N, T), leading stack axes broadcast: (..., N, T, E)."""
    if ids.ndim == 2:
        return np.take(W, ids, axis=-2)
    lead = np.broadcast_shapes(W.shape[:-2], ids.shape[:-2])
    Wb = np.broadcast_to(W, (*lead, *W.shape[-2:])).reshape(-1, *W.shape[-2:])
    ib = np.broadcast_to(ids, (*lead, *ids.shape[-2:])).reshape(-1, *ids.shape[-2:])
    return Wb[np.arange(len(Wb))[:, None, None], ib].reshape(*lead, *ids.shape[-2:], W.shape[-1])


def scatter_add(delta, ids, vocab):
    """dW (..., V, E): Σ of δ (..., N, T, E) over the positions of each id (ids (N, T) or (..., N, T))."""
    if delta.ndim == 3 and ids.ndim == 2:
        dW = np.zeros((vocab, delta.shape[-1]), dtype=delta.dtype)
        np.add.at(dW, ids, delta)
        return dW
    lead = np.broadcast_shapes(delta.shape[:-3], ids.shape[:-2])
    d = np.broadcast_to(delta, (*lead, *delta.shape[-3:])).reshape(-1, *delta.shape[-3:])
    ib = np.broadcast_to(ids, (*lead, *ids.shape[-2:])).reshape(-1, *ids.shape[-2:])
    dW = np.zeros((len(d), vocab, delta.shape[-1]), dtype=delta.dtype)
    np.add.at(dW, (np.arange(len(d))[:, None, None], ib), d)
    return dW.reshape(*lead, vocab, delta.shape[-1])


@dataclass(frozen=True, repr=False)
class Embedding(Layer):
    """A table W (V, E) looked up at each token id: token ids (N, T) -> a sequence (N, T, E)."""

    kind = "embedding"
    keys: ClassVar[dict] = {"dim": ...}
    params = ("W",)
    weights = ("W",)
    takes_tokens = True
    complex_step = True
    mistakes = MISTAKES
    meanings: ClassVar[dict] = {"W": "the table: row v is token v's vector (V, E)", "ids": "token ids (N, T)",
                                "z": "each token's row of W, z[n, t] = W[ids[n, t]]"}

    @classmethod
    def build(cls, read, index, in_shape, bias):
        dim = read.int("dim")
        if not isinstance(in_shape, Tokens):
            raise SpecError(read.path, f"embedding layer {index} needs token ids: \"input\": {{\"steps\": T, "
                                       f"\"vocab\": V}}, got {_shape_words(in_shape)}", read.source)
        steps, vocab = in_shape[0], in_shape.vocab
        formulas = (f"embedding {index}: z = W[ids]: ({vocab},{dim}) at (N,{steps}) -> (N,{steps},{dim}); "
                    f"dW = np.add.at(zeros(({vocab},{dim})), ids, delta (N,{steps},{dim})) -> ({vocab},{dim})",)
        return cls(index, in_shape, (steps, dim), options={"dim": dim}, formulas=formulas)

    @property
    def vocab(self):
        return self.in_shape.vocab

    @property
    def dim(self):
        return self.options["dim"]

    @property
    def fan_in(self):
        """One token id per step (the table's row is chosen, not weighted)."""
        return self.in_shape[0]

    def describe(self):
        return f"embedding {self.in_shape[0]} ids of {self.vocab} -> {self.in_shape[0]}x{self.dim}"

    def param_shapes(self, conv, bias):
        return {"W": (self.vocab, self.dim)}

    def param_layout(self, name, conv, bias):
        return "(vocab, dim) in both conventions: row v is token v's vector"

    def init(self, rng, conv, bias):
        """W ~ N(0, 1), as torch.nn.Embedding and makemore's C = torch.randn((V, E))."""
        return {"W": rng.normal(0.0, 1.0, (self.vocab, self.dim))}

    def forward(self, params, a_prev, conv, bias, tape=None):
        """ids (..., N, T) -> z (..., N, T, E); the cache is the ids."""
        ids = np.asarray(a_prev)
        if ids.dtype.kind not in "iu":  # the shape trace runs on a batch of zeros
            ids = ids.astype(np.int64)
        W = params["W"]
        return Recorder(tape, "forward")("z", "W[ids]", lookup(W, ids), W=W, ids=ids), ids

    def backward(self, delta, cache, params, conv, bias, tape=None):
        """dW = zeros((V, E)); np.add.at(dW, ids, delta): repeated ids add up. Token ids get no gradient (None)."""
        ids = cache
        dW = Recorder(tape, "backward")("dW", "np.add.at(zeros((V, E)), ids, delta)",
                                        scatter_add(delta, ids, self.vocab), ids=ids, delta=delta)
        return {"W": dW}, None

    def shape_hint(self, key, got, expected, n):
        """δ itself returned (N, T, E), or the table transposed (E, V): the column convention does not transpose it."""
        got, expected = tuple(got), tuple(expected)
        if got == (n, self.in_shape[0], self.dim):
            return (f"dW has the shape of δ (N, T, E) = {got}: add each position's δ into its token's row of the "
                    f"table, np.add.at(dW, ids, delta), for shape {expected}")
        if got == expected[::-1] and got != expected:
            return (f"dW is transposed: an embedding's W is (vocab, dim) = {expected} in both conventions (row v is "
                    "token v's vector)")
        return ""

    def output_change(self, params, key, index, delta, cache, z, conv, bias):
        """A stack (P, N, T, E) of z's, element ``index[p]`` (flat) of W moved by ``delta[p]``: W[v, e] is read at
        the positions where ids == v, so z[:, :, e] moves by δ there and nowhere else (the lookup itself)."""
        ids = cache
        v, e = np.unravel_index(index, params["W"].shape)
        stack = np.repeat(z[None].astype(np.result_type(z, delta)), len(index), axis=0)
        rows = np.arange(len(index))
        stack[rows, :, :, e] += delta[:, None, None] * (ids[None] == v[:, None, None])
        return stack

    def symbolic_z(self, params, a_prev, conv, bias):
        """One sample's z, C order (T, E): z[t, e] = Σ_v W[v, e]·[x_t = v] ([x_t = v] is :func:`is_token` of the
        id symbol x_t, so ∂z[t, e]/∂W[v, e] = [x_t = v])."""
        import sympy as sp

        W, at = params["W"], is_token()
        return [sp.Add(*[W[v, e] * at(x, v) for v in range(self.vocab)])
                for x in a_prev for e in range(self.dim)]


def _shape_words(shape):
    if len(shape) == 2:
        return f"a sequence {shape[0]}x{shape[1]}"
    if len(shape) == 3:
        return f"a {'x'.join(map(str, shape))} image"
    return f"a vector of {shape[0]}"
