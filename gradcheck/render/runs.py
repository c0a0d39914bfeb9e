"""One network as the command line shows it: its shape trace, and its check when one ran.

A :class:`Run` is what a format's :meth:`~gradcheck.render.formats.Format.runs` writes: as
blocks (heading, description, shape trace, check), as one line (``--quiet``) or as JSON.
"""

from __future__ import annotations

from ..catalogue import LOSSES
from ..catalogue.regularization import cost_text
from ..reference.shapetext import fmt_shape
from .document import Heading, Para
from .jsondoc import result_json, trace_json
from .results import check_blocks, verdict_line
from .trace import trace_blocks

__all__ = ["Run"]


class Run:
    """A checked network (``result``, which carries its spec and shape trace), or a traced one (``--trace-only``:
    ``result`` None, ``trace`` and ``spec`` given); ``blame``: rows in the blame table."""

    def __init__(self, result=None, trace=None, spec=None, blame=5):
        self.result, self.blame = result, blame
        self.trace = result.trace if result is not None else trace
        self.spec = result.spec if result is not None else spec

    @property
    def name(self):
        return self.spec.name

    def blocks(self):
        spec = self.spec
        blocks = [Heading(spec.name, 1), Para(spec.describe() + (f". {spec.description}" if spec.description else ""))]
        if spec.reduction != "mean" or spec.regularization is not None or LOSSES[spec.loss].takes_margin:
            blocks.append(Para(f"Loss {cost_text(spec)}"))  # what the defaults do not say
        blocks += trace_blocks(self.trace, spec.n_samples)
        return blocks if self.result is None else blocks + check_blocks(self.result, self.blame)

    def line(self):
        if self.result is not None:
            return f"{self.spec.name}: {verdict_line(self.result)}"
        out = self.trace.layers[-1].shapes.get("a") if self.trace.layers else None
        return (f"{self.spec.name}: shapes traced through {len(self.trace.layers)} layer(s)"
                + (f", output {fmt_shape(out[1])} per batch" if out else ""))

    def json(self):
        return trace_json(self.trace, self.spec) if self.result is None else result_json(self.result)
