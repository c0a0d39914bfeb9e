"""The settings of one check, in one object: the public entry points hand their keywords to it at once.

The defaults are those of :mod:`gradcheck.defaults`, which the command line and the pytest
plugin declare in :mod:`gradcheck.options`; the stages of a check read only this object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..defaults import ATOL, DIRECTIONS, RTOL, SAMPLE

__all__ = ["CheckOptions"]


@dataclass(frozen=True)
class CheckOptions:
    """Tolerances, finite-difference method and step, mode and sampling, and how the user's code is run.

    ``symbolic``, ``timeout`` and ``progress`` concern a network check only; ``seed`` seeds a
    network's params and data, or a layer's ``dout``; ``trace_code`` re-runs failing user code
    under the line tracer; ``explain`` traces it whether or not it fails.
    """

    rtol: float = RTOL
    atol: float = ATOL
    method: str = "auto"
    step: object = None  # a number, or an array of the parameters' flattened size
    mode: str = "auto"
    sample: int = SAMPLE
    directions: int = DIRECTIONS
    symbolic: str = "auto"
    seed: int | None = None
    timeout: float | None = None
    trace_code: bool = True
    explain: bool = False  # trace the user's code even when the check passes
    progress: Callable | None = None
