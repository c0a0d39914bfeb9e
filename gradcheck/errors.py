"""Errors gradcheck raises for input it cannot use.

Every message is one line that names *where* (a JSON path, a layer, a file) and
*what* (expected vs given), so the CLI can print it as it is and exit 2.
"""

from __future__ import annotations

import difflib
import functools
import sysconfig
import traceback
from pathlib import Path

__all__ = ["GradcheckError", "ImplError", "OptionError", "SpecError", "describe_exception", "is_user_file", "suggest"]

_HERE = Path(__file__).resolve().parent
_STDLIB = {Path(sysconfig.get_paths()[k]).resolve() for k in ("stdlib", "platstdlib")}


class GradcheckError(Exception):
    """Base class: bad input, reported as one line with exit code 2."""


class SpecError(GradcheckError, ValueError):
    """A net.json description (or the dict given for one) is malformed.

    ``path`` is the JSON path of the offending value, e.g. ``layers[1].units``.
    """

    def __init__(self, path: str, message: str, source: str | None = None):
        self.path = path
        self.source = source
        where = f"{source}: " if source else ""
        at = f"{path}: " if path else ""
        # User strings are quoted into messages; keep the message on one line whatever they hold.
        text = f"{where}{at}{message}".replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(text)


class OptionError(GradcheckError, ValueError):
    """A setting (a command-line flag, a keyword argument) that cannot work for this input."""


class ImplError(GradcheckError):
    """A user's backprop function cannot be loaded (bad ``module:function``)."""


def suggest(given: object, valid: list[str] | tuple[str, ...]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or ``""``.

    >>> suggest("sigmod", ["sigmoid", "tanh"])
    " (did you mean 'sigmoid'?)"
    """
    if not isinstance(given, str):
        return ""
    lowered = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(given.lower(), list(lowered), n=1, cutoff=0.5)
    return f" (did you mean '{lowered[close[0]]}'?)" if close else ""


@functools.lru_cache(maxsize=4096)
def _inside(filename):
    """True for a file of gradcheck itself (any of its sub-packages)."""
    path = Path(filename).resolve()
    return path.parent == _HERE or _HERE in path.parents


@functools.lru_cache(maxsize=4096)
def is_user_file(filename):
    """True for a frame in the user's own code: not gradcheck, not the standard library, not an installed package.
    Cached: the line tracer asks it of every function a traced call enters (NumPy's own Python functions too),
    and resolving a path costs file-system calls."""
    if not filename or filename.startswith("<"):
        return False
    path = Path(filename).resolve()
    if _inside(filename):
        return False
    return not any(part in ("site-packages", "dist-packages") for part in path.parts) and \
        not any(path.is_relative_to(p) for p in _STDLIB)


def describe_exception(exc, filename=None):
    """``ValueError: message (at file.py:12 in fn)``: one line for an exception in user code.

    The frame named is the innermost one in the user's own code (not gradcheck, not the
    standard library, not NumPy or another installed package), so an error raised in a
    module that the user's adapter calls is reported where it happened. ``filename``
    (the user's module) is the fallback. A ``SyntaxError`` is reported at the file and
    line of the bad code.
    """
    if isinstance(exc, SyntaxError) and exc.filename:
        text = f": {exc.text.strip()}" if exc.text and exc.text.strip() else ""
        return f"{type(exc).__name__}: {exc.msg} (at {Path(exc.filename).name}:{exc.lineno}{text})"
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if is_user_file(f.filename)]
    named = [f for f in frames if filename and Path(f.filename).resolve() == Path(filename).resolve()]
    outside = [f for f in frames if f.filename.startswith("<") or not _inside(f.filename)]
    frames = mine or named or outside
    at = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{': ' + msg if msg else ''}{at}"


def too_large(exc):
    """``the network does not fit in memory: layer 0 (attention): Unable to allocate …``: one line for a
    MemoryError raised while a network was checked, naming the innermost layer of the catalogue whose method was
    running (read from the traceback) and what NumPy could not allocate."""
    layer, tb = None, exc.__traceback__
    while tb is not None:
        me = tb.tb_frame.f_locals.get("self")
        if isinstance(getattr(me, "kind", None), str) and isinstance(getattr(me, "index", None), int):
            layer = me
        tb = tb.tb_next
    where = f"layer {layer.index} ({layer.kind}): " if layer is not None else ""
    what = str(exc).splitlines()[0] if str(exc) else "out of memory"
    return (f"the network does not fit in memory: {where}{what}; make it smaller (fewer samples, steps, units or "
            "channels)")
