"""Errors gradcheck raises for input it cannot use.

Every message is one line that names *where* (a JSON path, a layer, a file) and
*what* (expected vs given), so the CLI can print it as it is and exit 2.
"""

from __future__ import annotations

import difflib
import traceback
from pathlib import Path

__all__ = ["GradcheckError", "ImplError", "SpecError", "describe_exception", "suggest"]


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


def describe_exception(exc, filename=None):
    """``ValueError: message (at file.py:12 in fn)``: one line for an exception in user code.

    The frame named is the innermost one in ``filename`` if given (the user's module),
    else the innermost one outside gradcheck itself.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    here = Path(__file__).resolve().parent
    mine = [f for f in frames if filename and Path(f.filename).resolve() == Path(filename).resolve()]
    frames = mine or [f for f in frames if Path(f.filename).resolve().parent != here] or frames
    at = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    msg = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {msg}{at}"
