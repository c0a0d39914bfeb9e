"""Sample n's expressions from sample 0's, by renaming its symbols: a batch written out once, not N times.

Where a layer ties the samples (a batchnorm's mean and variance), the whole batch is
written out, and every layer that works on one sample at a time (a dense layer, an
activation, a layernorm) gives each sample the same expression in that sample's
symbols: z1_3_0 = w1_0_0·a0_3_0 + … is z1_0_0 = w1_0_0·a0_0_0 + … with the sample
index 0 replaced by 3. Building each of them in SymPy costs its canonical ordering again,
N times over; :class:`Retag` builds sample 0's and renames it.

The renamed expression is the one SymPy would build: a sum or product keeps its
terms' order, because SymPy orders symbols by name and every symbol of one sample
carries the same sample index in the same place of its name (``<letter><layer>_<n>_…``),
while the symbols shared by all samples (params, a batchnorm's μ and σ²) differ from
them before that place. Tests compare every renamed expression with the one built
directly.
"""

from __future__ import annotations

import operator

import sympy as sp
from sympy.core.basic import Basic

from ..catalogue.sympy_forms import total

__all__ = ["Retag"]


class Retag:
    """Per sample n ≥ 1, the symbol of sample n that stands where sample 0 has a given one.

    ``register(sample_0_symbols, per_sample)`` pairs symbols up (``per_sample[n]`` lists sample n's in
    the same order as sample 0's); :meth:`rename` then writes any expression of sample 0 for sample n.

    >>> from gradcheck.symbolic.symbols import sym
    >>> r = Retag(2)
    >>> r.register([sym("x", None, 0, 0)], [[sym("x", None, 0, 0)], [sym("x", None, 1, 0)]])
    >>> r.rename(2 * sym("w", 0, 0, 0) * sym("x", None, 0, 0), 1)
    2*w0_0,0*x_1,0
    """

    def __init__(self, samples):
        self.samples = samples
        self.table = [{} for _ in range(samples)]  # table[n]: {sample 0's symbol: sample n's}
        self.memo = [{} for _ in range(samples)]  # memo[n]: {sample 0's expression: sample n's}

    def register(self, first, per_sample):
        """Pair each symbol of ``first`` (sample 0's) with the one in the same place of ``per_sample[n]``."""
        for n in range(1, self.samples):
            self.table[n].update(zip(first, per_sample[n]))

    def pair(self, n, s0, sn):
        """Pair sample 0's symbol ``s0`` with sample n's ``sn``."""
        self.table[n][s0] = sn

    def rename(self, expr, n):
        """``expr`` (of sample 0) with each registered symbol replaced by sample n's."""
        if n == 0:
            return expr
        return _renamed(sp.sympify(expr), self.table[n], self.memo[n])

    def alike(self, first):
        """Every sample's list of expressions from sample 0's ``first``, renamed."""
        return [first] + [[self.rename(e, n) for e in first] for n in range(1, self.samples)]

    def everywhere(self, terms):
        """The expressions ``terms`` of sample 0, and the same renamed for every other sample."""
        return [self.rename(t, n) for n in range(self.samples) for t in terms]

    def total_everywhere(self, terms, others=()):
        """``total`` of sample 0's ``terms``, renamed for every sample, and of ``others``; one term and nothing else
        is summed over the samples without comparing them (:meth:`summed`)."""
        others = [t for t in others if t is not sp.S.Zero]
        if len(terms) == 1 and not others:
            summed = self.summed(terms[0])
            if summed is not None:
                return summed
        return total(self.everywhere(terms) + others)

    def summed(self, term):
        """Σ_n ``term`` renamed for sample n, as SymPy writes that sum, or None where it is not simply that
        (a sum or a number as the term, or nothing to rename).

        SymPy puts the copies in the order of the first symbol where they differ, which is the first renamed
        symbol in the term's arguments, depth first: so the copies are put in the order of that symbol's name,
        and not compared with each other.
        """
        if term.is_Add or term.is_number or self.samples < 2:
            return None
        decider = self._decider(term)
        if decider is None:
            return None
        copies = [self.rename(term, n) for n in range(self.samples)]
        order = sorted(range(self.samples), key=lambda n: self.table[n].get(decider, decider).name)
        return sp.Add._from_args([copies[n] for n in order], is_commutative=True)

    def _decider(self, e):
        """The first symbol of ``e`` that is renamed, arguments depth first."""
        table, stack = self.table[1], [e]
        while stack:
            x = stack.pop()
            if x.is_Symbol:
                if x in table:
                    return x
                continue
            stack.extend(reversed(x._args))
        return None


def _renamed(e, table, memo):
    """``e`` with the symbols of ``table`` replaced, its nodes' renamings kept in ``memo`` (by identity: the memo
    keeps e alive, and SymPy's hash costs more than a rename)."""
    hit = memo.get(id(e))
    if hit is not None:
        return hit[1]
    args = e._args
    if not args:
        out = table.get(e, e) if e.is_Symbol else e
    else:
        new = [_renamed(a, table, memo) for a in args]
        if all(map(operator.is_, new, args)):
            out = e
        elif e.is_Add or e.is_Mul:  # the terms' order is kept (see the module docstring): no sorting again
            out = e.func._from_args(new, e.is_commutative)
        else:  # already in its evaluated form, so no evaluation again (a relu' as a Piecewise, a power)
            out = _unevaluated(e, new)
    memo[id(e)] = (e, out)
    return out


def _unevaluated(e, args):
    """``e``'s kind of node with the arguments ``args``, built as it stands (SymPy's constructors would evaluate
    it again: a Piecewise's conditions, a power's base)."""
    out = Basic.__new__(e.func, *args)
    if isinstance(e, sp.Pow):  # the one such node that keeps this fact on itself
        out.is_commutative = e.is_commutative
    return out
