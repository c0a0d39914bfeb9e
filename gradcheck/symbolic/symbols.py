"""The network's SymPy symbols: one per number, named ``<letter><layer>_<index>`` (see
:mod:`gradcheck.symbolic.network`)."""

from __future__ import annotations

import re

import sympy as sp

__all__ = ["NetSymbol", "sym"]

_NAME = re.compile(r"([a-z]+)(\d*)_(\d+(?:_\d+)*)")
_LATEX_LETTER = {"delta": r"\delta", "gamma": r"\gamma", "beta": r"\beta", "mu": r"\mu", "var": r"{\sigma^{2}}",
                 "dmu": r"\overline{\mu}", "dvar": r"\overline{\sigma^{2}}"}


class NetSymbol(sp.Symbol):
    """A symbol of the network, named ``<letter><layer>_<i>[_<j>…]`` (a valid identifier).

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


def sym(letter, layer, *index):
    """``NetSymbol("w0_1_2")`` for ``sym("w", 0, 1, 2)``; ``layer`` None for x and y."""
    return NetSymbol(f"{letter}{'' if layer is None else layer}_{'_'.join(map(str, index))}", real=True)
