"""Run the user's backprop under a line tracer: the shape of every local NumPy array after each line.

Only the user's own files are traced (not gradcheck, the standard library or installed
packages such as NumPy), with ``sys.monitoring`` on Python 3.12+ and ``sys.settrace``
before. :func:`trace_call` returns a :class:`LineTrace`:

- one :class:`Line` per source line that made or changed an array, or wrote into one it
  already had (``dx[win] = ...``, ``dW += g``, ``np.add.at(dW, ids, g)``: read from the line's
  syntax by :mod:`gradcheck.diagnose.statements`), in the order the lines first ran, with the
  shapes it gave (a loop's line shows every shape it gave);
- ``broadcasts``: lines where two operands of different shapes broadcast silently to
  a shape bigger than both, e.g. ``a - y`` with a (4, 1) and y (4,) -> (4, 4);
- ``writes``: lines whose writes overlap or lose repeated indices (:mod:`gradcheck.diagnose.writes`);
- ``origin(array)``: the line that made a returned array (that very object).

:func:`compare_with_reference` sets each line next to the step of the reference shape
trace with the same shape and names the first line whose shape no step has.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import re
import sys
import types
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import is_user_file
from ..reference.shapetext import fmt_shape as _fmt
from ..usercode.isolation import interrupts
from .statements import statement_at
from .writes import Causes

__all__ = ["Line", "LineTrace", "trace_call"]

#: Line events recorded at most (a long training loop is cut short, not slowed down without end).
MAX_EVENTS = 20000
#: Runs of one line after which its shapes are taken as known (every layer of a loop over layers is seen).
SATURATE = 5
#: What people call the quantities of the reference trace's steps (a line naming one matches that step first).
SYNONYMS = {
    "z": {"z", "scores", "net", "logits", "pre", "zs"},
    "a": {"a", "out", "h", "hidden", "probs", "act", "activation", "activations", "outputs", "y_hat", "yhat"},
    "da": {"da", "err", "error", "dprobs", "cost_derivative", "grad_out"},
    "delta": {"delta", "dz", "dscores", "dh", "d"},
    "da_prev": {"da_prev", "dx", "dout", "back", "dhidden", "da"},
    "dW": {"dw", "grad_w", "nabla_w", "dweights"},
    "db": {"db", "grad_b", "nabla_b", "dbias"},
}
#: Calls of one function that are traced (a per-sample backprop shows its shapes in the first few samples).
CALLS = 2
#: Attributes of an object on a line that the tracer reads (arrays, and lists or dicts of them), at most.
OBJECT_ITEMS = 32
_NAME = re.compile(r"(?<![\w.])[A-Za-z_]\w*")


@dataclass
class Line:
    """One source line of the user's code and the arrays it assigned: {name: [shapes seen]}."""

    filename: str
    lineno: int
    source: str
    shapes: dict = field(default_factory=dict)
    runs: int = 0
    reference: str = ""

    @property
    def where(self):
        return f"{Path(self.filename).name}:{self.lineno}"

    def shape_text(self):
        return ", ".join(f"{name} {' | '.join(_fmt(s) for s in seen)}" for name, seen in self.shapes.items())

    def __repr__(self):
        return f"Line({self.where} `{self.source}`: {self.shape_text()})"


@dataclass
class LineTrace:
    """What :func:`trace_call` saw: the lines, silent broadcasts, and the call's result or exception."""

    lines: list
    broadcasts: list
    result: object = None
    error: BaseException | None = None
    departure: Line | None = None
    _origin: dict = field(default_factory=dict, repr=False)
    unlike: str = "no step of the reference shape trace has that shape"
    writes: list = field(default_factory=list)  # (Line, cause) of writes: overlapping parts, repeated indices
    #: Without a reference trace a departure is only a shape unlike the inputs' (a keepdims mean is one too): it is
    #: named only when it has the shape of a gradient returned wrong.
    only_wrong: bool = False

    def origin(self, array):
        """The :class:`Line` that produced ``array`` (an object the traced call returned), or None."""
        line, ref = self._origin.get(id(array), (None, None))
        return line if ref is not None and ref() is array else None  # an id is reused once its array is freed

    def table(self):
        """The lines as text: where, source, shapes after the line, and the matching reference step."""
        rows = [(ln.where, ln.source, ln.shape_text(), ln.reference) for ln in self.lines]
        if not rows:
            return "(no line of your code made a NumPy array)"
        widths = [min(max(len(r[i]) for r in rows), cap) for i, cap in enumerate((28, 48, 40, 80))]
        out = []
        for r in rows:
            cells = [c if len(c) <= w else c[:w - 1] + "…" for c, w in zip(r, widths)]
            text = "  ".join(c.ljust(w) for c, w in zip(cells[:3], widths[:3]))
            out.append((text + ("  ← " + cells[3] if cells[3] else "")).rstrip())
        return "\n".join(out)

    def returned(self):
        """Every array in what the traced call returned (through lists, tuples and dicts)."""
        out, todo = [], [self.result]
        while todo:
            v = todo.pop()
            if isinstance(v, np.ndarray):
                out.append(v)
            elif isinstance(v, (list, tuple)):
                todo.extend(v)
            elif isinstance(v, dict):
                todo.extend(v.values())
        return out

    def sentences(self, wrong_shapes=()):
        """One-line findings: silent broadcasts, and for gradients of a wrong shape ({name: shape}) the line
        that made each and the first line whose shape departs from the reference."""
        out = [f"your line {w[0].where} `{w[0].source}` {w[1]}" for w in self.writes[:3]]
        out += [f"your line {b[0].where} `{b[0].source}` broadcast silently: {b[1]}" for b in self.broadcasts[:3]]
        if not wrong_shapes:
            return out
        by_shape = {}
        for name, shape in wrong_shapes.items():
            by_shape.setdefault(tuple(shape), []).append(name)
        for shape, names in by_shape.items():
            lines = {id(ln): ln for a in self.returned() if a.shape == shape
                     for ln in [self.origin(a)] if ln is not None}
            made = " and ".join(f"{ln.where} `{ln.source}`" for ln in list(lines.values())[:3])
            if len(lines) == 1 and len(names) == 1:
                out.append(f"{names[0]} {_fmt(shape)} is made at your line {made}")
            elif lines and len(lines) <= 3:  # which of the lines made which gradient cannot be told
                out.append(f"{', '.join(names)} {_fmt(shape)}: arrays of that shape are made at your "
                           f"line{'s' if len(lines) > 1 else ''} {made}")
        shapes = {s for seen in self.departure.shapes.values() for s in seen} if self.departure is not None else set()
        if self.departure is not None and (not self.only_wrong or shapes & set(by_shape)):
            out.append(f"your line {self.departure.where} `{self.departure.source}` is the first whose shape departs "
                       f"from the reference: {self.departure.shape_text()} ({self.unlike})")
        return out

    def __repr__(self):
        return f"LineTrace({len(self.lines)} lines, {len(self.broadcasts)} broadcasts)"


class _Recorder:
    """Shared by both tracing back ends: turns 'frame is at line L' events into :class:`Line` records."""

    def __init__(self):
        self.lines, self.causes = {}, Causes()
        self.origin = {}  # id of an array -> (the Line that made it, a weak reference to the array)
        self.state = {}  # frame id -> (previous line, {name: (id, shape)} before it ran, or None)
        self.runs = {}  # (code object, line) -> times recorded
        self.idents = {}
        self.calls = {}
        self.inputs = set()  # ids of the arrays the traced call was given
        self.events = 0

    def arrays(self, frame, names):
        """The frame's arrays, and those inside the small lists and dicts ``names`` (``grads[1]['W']``)."""
        out, array = {}, np.ndarray
        for name, value in frame.f_locals.items():
            if type(value) is array or isinstance(value, array):
                out[name] = value
            elif name in names:
                _collect(name, value, out, 2)
        return out

    def names(self, filename, lineno):
        """The identifiers on a source line (cached)."""
        key = (filename, lineno)
        found = self.idents.get(key)
        if found is None:
            found = self.idents[key] = dict.fromkeys(_NAME.findall(linecache.getline(filename, lineno).split("#")[0]))
        return found

    def at(self, frame, lineno):
        """The frame is about to run ``lineno`` (None: it returns): record what the previous line did.

        A line that ran :data:`SATURATE` times is no longer recorded (a loop has shown its
        shapes by then), so a long loop costs little more than the tracing hook itself.
        """
        self.events += 1
        key, code = id(frame), frame.f_code
        filename, runs = code.co_filename, self.runs
        prev = self.state.get(key)
        prev_open = False
        if prev is not None and prev[1] is not None:
            ran = runs[(code, prev[0])] = runs.get((code, prev[0]), 0) + 1
            prev_open = ran <= SATURATE
        next_open = lineno is not None and runs.get((code, lineno), 0) < SATURATE
        if not (prev_open or next_open):
            if lineno is None:
                self.state.pop(key, None)
            else:
                self.state[key] = (lineno, None)
            return
        before_names = self.names(filename, prev[0]) if prev_open else {}
        after_names = self.names(filename, lineno) if next_open else {}
        now = self.arrays(frame, before_names.keys() | after_names.keys())
        if prev_open:
            self._record(frame, prev[0], prev[1],
                         {k: v for k, v in now.items() if "[" not in k or k[:k.index("[")] in before_names})
        if lineno is None:
            self.state.pop(key, None)
        elif next_open:
            self.state[key] = (lineno, {k: (id(v), v.shape) for k, v in now.items()})
        else:
            self.state[key] = (lineno, None)

    def called(self, code):
        """Count a call of ``code``; False once it ran :data:`CALLS` times (its frames need no more tracing)."""
        n = self.calls[code] = self.calls.get(code, 0) + 1
        return n <= CALLS

    def _record(self, frame, lineno, before, now):
        filename = frame.f_code.co_filename
        line = self.lines.get((filename, lineno))
        inputs = self.inputs
        changed = {k: v for k, v in now.items()  # a name for an input is no step; an object's attribute no variable
                   if before.get(k) != (id(v), v.shape) and id(v) not in inputs and "." not in k}
        stmt = statement_at(filename, lineno)
        written = {w.label: now[w.name] for w in stmt.writes if w.name in now}
        broadcast = None if line is not None and self.causes.named(line) else \
            Causes.broadcast(stmt, {k: v[1] for k, v in before.items()})
        if not (changed or written or broadcast):
            return
        if line is None:
            source = linecache.getline(filename, lineno).split("#")[0].strip()
            line = self.lines[(filename, lineno)] = Line(filename, lineno, source)
        line.runs += 1
        for name, arr in {**changed, **written}.items():
            seen = line.shapes.setdefault(name, [])
            if arr.shape not in seen and len(seen) < 4:
                seen.append(arr.shape)
            known = self.origin.get(id(arr))
            if name in changed and (known is None or known[1]() is not arr):  # the first line to hold it made it
                self.origin[id(arr)] = (line, weakref.ref(arr))
        if broadcast:
            self.causes.add(line, broadcast, "broadcast")
        if written:
            self.causes.writes(line, stmt, frame, now)


def _collect(name, value, out, depth):
    if isinstance(value, np.ndarray):
        out[name] = value
    elif depth and isinstance(value, (list, tuple, dict)) and len(value) <= 16:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            if isinstance(v, (np.ndarray, list, tuple, dict)):
                _collect(f"{name}[{k!r}]", v, out, depth - 1)
    elif depth and _instance(value):  # a layer object's arrays and dicts of arrays: self.W, self.grads['W']
        for k, v in list(vars(value).items())[:OBJECT_ITEMS]:
            if isinstance(v, (np.ndarray, list, tuple, dict)):
                _collect(f"{name}.{k}", v, out, depth - 1)


def _instance(value):
    """True for an instance of a user's class (whose attributes the tracer reads): not a module, class or
    function, nor NumPy's or the standard library's objects."""
    kind = type(value)
    return (hasattr(value, "__dict__") and not isinstance(value, (type, types.ModuleType, types.FunctionType,
                                                                  types.MethodType, functools.partial))
            and kind.__module__ not in ("builtins", "numpy") and not kind.__module__.startswith("numpy."))


def _is_mine(code, extra):
    """A code object of the user's own files, other than a comprehension's (its loop variable is no quantity)."""
    if code.co_name in ("<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"):
        return False
    return code.co_filename in extra or is_user_file(code.co_filename)


def trace_call(fn, *args, files=(), **kwargs) -> LineTrace:
    """Call ``fn(*args, **kwargs)`` with its lines traced; return a :class:`LineTrace`.

    Lines in ``files`` and in any file of the user's own (see :func:`gradcheck.errors.is_user_file`)
    are traced. An exception (even ``SystemExit``, or a KeyboardInterrupt that no Ctrl-C caused) is kept in
    ``.error``, not raised.
    """
    rec = _Recorder()
    for value in [*args, *kwargs.values()]:
        found = {}
        _collect("", value, found, 2)
        rec.inputs |= {id(a) for a in found.values()}
    extra = set(files)
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is not None:
        extra.add(code.co_filename)
    runner = _monitor if hasattr(sys, "monitoring") else _settrace
    result, error = None, None
    with interrupts() as ctrl_c:
        try:
            result = runner(rec, extra, fn, args, kwargs)
        except (Exception, SystemExit) as e:
            error = e
        except KeyboardInterrupt as e:  # raised by the user's code, unless a Ctrl-C arrived
            if ctrl_c is None or ctrl_c:
                raise
            error = e
    return LineTrace(list(rec.lines.values()), rec.causes.of("broadcast"), result, error, None, rec.origin,
                     writes=rec.causes.of("write"))


def _settrace(rec, extra, fn, args, kwargs):
    mine = {}

    def local(frame, event, arg):
        if rec.events >= MAX_EVENTS:
            return None
        if event == "line":
            rec.at(frame, frame.f_lineno)
        elif event == "return":
            rec.at(frame, None)
        return local

    def calls(frame, event, arg):
        code = frame.f_code
        ok = mine.get(code)
        if ok is None:
            ok = mine[code] = _is_mine(code, extra)
        if not ok or rec.events >= MAX_EVENTS or not rec.called(code):
            return None
        rec.at(frame, frame.f_lineno)
        return local

    old = sys.gettrace()
    sys.settrace(calls)
    try:
        return fn(*args, **kwargs)
    finally:
        sys.settrace(old)


def _monitor(rec, extra, fn, args, kwargs):  # pragma: no cover - Python 3.12+
    mon = sys.monitoring
    tool = next((t for t in range(5, 0, -1) if mon.get_tool(t) is None), None)
    if tool is None:
        return _settrace(rec, extra, fn, args, kwargs)
    ev = mon.events
    mon.use_tool_id(tool, "gradcheck line trace")
    enabled = []

    def start(code, offset):
        if not rec.called(code):
            mon.set_local_events(tool, code, 0)
            return mon.DISABLE
        if _is_mine(code, extra):
            mon.set_local_events(tool, code, ev.LINE | ev.PY_RETURN)
            enabled.append(code)
            rec.at(sys._getframe(1), None if rec.events >= MAX_EVENTS else sys._getframe(1).f_lineno)
            return None
        return mon.DISABLE

    def line(code, lineno):
        if rec.events >= MAX_EVENTS:
            return mon.DISABLE
        rec.at(sys._getframe(1), lineno)
        return None

    def ret(code, offset, value):
        rec.at(sys._getframe(1), None)
        return None

    mon.register_callback(tool, ev.PY_START, start)
    mon.register_callback(tool, ev.LINE, line)
    mon.register_callback(tool, ev.PY_RETURN, ret)
    mon.set_events(tool, ev.PY_START)
    try:
        return fn(*args, **kwargs)
    finally:
        mon.set_events(tool, 0)
        for code in enabled:
            mon.set_local_events(tool, code, 0)
        for event in (ev.PY_START, ev.LINE, ev.PY_RETURN):
            mon.register_callback(tool, event, None)
        mon.restart_events()
        mon.free_tool_id(tool)
