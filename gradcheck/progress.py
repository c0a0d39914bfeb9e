"""A one-line progress bar on stderr, for checks that take longer than about a second.

Shown only where someone watches: on a terminal, and never under ``--quiet``, ``--format
json`` or pytest (which do not create one). A dozen lines do not need tqdm as a dependency.
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """``progress(done, total)`` redraws ``gradcheck: finite differences [####    ] 45% (7,800 of 17,226)``.

    Nothing is drawn during the first ``delay`` seconds (a quick check shows no bar),
    nor more often than every 0.1 s. :meth:`close` clears the line.
    """

    def __init__(self, label="finite differences", stream=None, delay=1.0, width=24):
        self.label, self.stream, self.delay, self.width = label, stream or sys.stderr, delay, width
        self.start, self.last, self.drawn = time.perf_counter(), 0.0, False

    @classmethod
    def for_terminal(cls, quiet=False, for_people=True):
        """A Progress if stderr is a terminal and the output is for a person (not JSON), else None."""
        if quiet or not for_people or not sys.stderr.isatty():
            return None
        return cls()

    def __call__(self, done, total):
        now = time.perf_counter()
        if now - self.start < self.delay or now - self.last < 0.1 or total <= 0:
            return
        self.last = now
        fill = int(self.width * done / total)
        line = (f"gradcheck: {self.label} [{'#' * fill}{' ' * (self.width - fill)}] {100 * done // total}% "
                f"({done:,} of {total:,})")
        self.stream.write("\r" + line)
        self.stream.flush()
        self.drawn = True

    def close(self):
        if self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.drawn = False
