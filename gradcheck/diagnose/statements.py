"""What one source line of the user's code writes into, and which operands it combines: read from its syntax.

A line that makes a new array shows up as a name bound to a new object; a line that writes into an
array it already has (``dx[win] = ...``, ``dW[ids] += dout``, ``h *= mask``, ``np.add.at(dW, ids, g)``,
``np.dot(a, b, out=c)``) keeps the object and its shape, so the line tracer learns of it here.
:func:`statement` parses a line once (cached); :func:`index_of` evaluates a write's index in the
frame, only when it is made of names, constants, slices and arithmetic (never a call).
"""

from __future__ import annotations

import ast
import functools
import linecache
from dataclasses import dataclass

import numpy as np

__all__ = ["Write", "Statement", "statement", "statement_at", "index_of", "flat_indices", "operand_shape"]

#: Lines a statement may span and still be read whole.
MAX_LINES = 12
#: Calls that write into their first argument.
_INTO_FIRST = {"copyto", "put", "place", "putmask", "fill_diagonal"}
#: Methods that write into the array they are called on.
_INTO_SELF = {"fill", "sort", "put", "itemset", "setfield"}
#: Index expressions evaluated: names, constants, slices, tuples, arithmetic, subscripts and attributes of names.
_SAFE = (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.Slice, ast.Tuple, ast.BinOp, ast.UnaryOp,
         ast.operator, ast.unaryop, ast.Subscript, ast.Attribute, ast.List)
_OPS = {ast.Add: "+", ast.Sub: "−", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Pow: "**",
        ast.MatMult: "@", ast.Mod: "%"}


@dataclass(frozen=True)
class Write:
    """A write into the array called ``name``: ``how`` is "=" (into a part), "+=" (any augmented operator, into the
    whole array or a part), or "call" (an in-place call); ``index`` is the subscript's compiled code, if any."""

    name: str
    how: str
    index: object = None
    index_text: str = ""
    value_text: str = ""

    @property
    def label(self):
        """How the line table shows the array written: ``dx[…]`` for a part, ``dW (in place)`` for the whole."""
        return f"{self.name}[…]" if self.index is not None else f"{self.name} (in place)"


@dataclass(frozen=True)
class Statement:
    """A line's writes, and its binary operations on two names: (source text, left, operator, right)."""

    writes: tuple = ()
    binops: tuple = ()


@functools.lru_cache(maxsize=4096)
def statement_at(filename, lineno):
    """The :class:`Statement` that starts at line ``lineno`` of ``filename``, read on over the lines that
    continue it (an assignment whose brackets span several lines)."""
    text = linecache.getline(filename, lineno).strip()
    for k in range(lineno + 1, lineno + MAX_LINES):
        if not text or _parse(text) is not None:
            break
        more = linecache.getline(filename, k)
        if not more:
            break
        text += "\n" + more.rstrip()
    return statement(text)


@functools.lru_cache(maxsize=4096)
def statement(source):
    """The :class:`Statement` of one line of source (a line that does not parse alone has none)."""
    tree = _parse(source.strip())
    if tree is None:
        return Statement()
    writes, binops = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            writes += [w for t in node.targets for w in _targets(t, "=", node.value)]
        elif isinstance(node, ast.AugAssign):
            writes += _targets(node.target, "+=", node.value)
        elif isinstance(node, ast.Call):
            writes += _call_writes(node)
        elif isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = _operand(node.left), _operand(node.right)
            if left and right:
                binops.append((ast.unparse(node), left, _OPS[type(node.op)], right))
    return Statement(tuple(writes), tuple(binops))


def _parse(source):
    for text in (source, source.rstrip(":") + ": pass" if source.endswith(":") else None):
        if text:
            try:
                return ast.parse(text)
            except SyntaxError:
                continue
    return None


def _targets(target, how, value):
    if isinstance(target, (ast.Tuple, ast.List)):
        return [w for t in target.elts for w in _targets(t, how, value)]
    if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
        name = target.value.id
        return [Write(name, how, _compiled(target.slice), ast.unparse(target)[len(name) + 1:-1], ast.unparse(value))]
    if how == "+=" and isinstance(target, ast.Name):
        return [Write(target.id, how)]
    return []


def _call_writes(node):
    func, out = node.func, []
    out += [Write(k.value.id, "call") for k in node.keywords if k.arg == "out" and isinstance(k.value, ast.Name)]
    if isinstance(func, ast.Attribute):
        first = node.args[0] if node.args else None
        if (func.attr == "at" or func.attr in _INTO_FIRST) and isinstance(first, ast.Name):
            out.append(Write(first.id, "call"))  # np.add.at(dW, ids, g), np.copyto(dx, g)
        elif func.attr in _INTO_SELF and isinstance(func.value, ast.Name) and func.value.id not in ("np", "numpy"):
            out.append(Write(func.value.id, "call"))
    return out


def _compiled(node):
    """The index as compiled code, if it is safe to evaluate (no call, no comprehension), else None."""
    tree = ast.Expression(node)
    if not all(isinstance(n, _SAFE) for n in ast.walk(tree)):
        return None
    try:
        return compile(tree, "<index>", "eval")
    except (SyntaxError, ValueError):
        return None


def _operand(node):
    """A name, an attribute of one (``self.W``) or a constant subscript (``cache['x']``, ``grads[1]['W']``), or that
    transposed (``.T``), as (the tracer's key for it, transposed); else None."""
    transposed = isinstance(node, ast.Attribute) and node.attr == "T"
    key = _key(node.value if transposed else node)
    return (key, transposed) if key else None


def _key(node, depth=0):
    """The key under which the line tracer holds the array ``node`` names (see ``linetrace._collect``), or None."""
    if isinstance(node, ast.Name):
        return node.id
    if depth < 2 and isinstance(node, ast.Attribute) and node.attr != "T":
        base = _key(node.value, depth + 1)
        return f"{base}.{node.attr}" if base else None
    if depth < 2 and isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        base = _key(node.value, depth + 1)
        return f"{base}[{node.slice.value!r}]" if base else None
    return None


def operand_shape(operand, shapes):
    """The shape of a (name, transposed) operand from {name: shape}, or None."""
    name, transposed = operand
    shape = shapes.get(name)
    if shape is None:
        return None
    return tuple(reversed(shape)) if transposed else tuple(shape)


def index_of(write, frame):
    """The index of ``write`` (what its subscript selects) evaluated in ``frame``; None if it is not safe to
    evaluate or fails."""
    if write.index is None:
        return None
    try:
        index = eval(write.index, frame.f_globals, dict(frame.f_locals))  # names, slices, arithmetic only
    except Exception:
        return None
    return index


def flat_indices(array, index, limit=1 << 20):
    """The flat positions ``array[index]`` touches, one per element of the selection (repeats kept), or None."""
    if not isinstance(array, np.ndarray) or array.size > limit:
        return None
    try:
        return np.arange(array.size).reshape(array.shape)[index].ravel()
    except Exception:
        return None
