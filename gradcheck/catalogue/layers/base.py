"""What every layer kind shares: the recorder that turns a forward/backward pass into a shape trace."""

from __future__ import annotations

import numpy as np

__all__ = ["Recorder"]


class Recorder:
    """Passes results through; on a tape, records (name, expression, operand shapes, result shape)."""

    def __init__(self, tape, phase):
        self.tape, self.phase = tape, phase

    def __call__(self, name, expr, result, **operands):
        if self.tape is not None:
            self.tape.record(self.phase, name, expr,
                             {k: np.shape(v) for k, v in operands.items()}, np.shape(result))
        return result
