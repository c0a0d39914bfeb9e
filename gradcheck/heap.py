"""The C heap, kept between the chunks of a check instead of handed back to the system after each one.

A check evaluates its perturbed networks a chunk at a time: a few arrays of a few MiB each, made and freed
again hundreds of times. glibc's malloc chooses by itself, from the sizes of the blocks the process freed
earlier, whether such a block comes from the heap and whether the top of the heap goes back to the system when
it is freed (its dynamic mmap and trim thresholds). Which way it goes depends on what the process did before:
the full check of an LSTM (6,404 params) took 20 s with 2.1 million page faults and 8,263 ``brk`` calls where a
few more arrays of 300 KiB had been freed first, and 13-14 s with 17,000 faults and 213 calls otherwise,
the arithmetic the same.

So a check sets the thresholds where glibc's own adjustment ends after a block of 32 MiB: blocks up to 32 MiB
from the heap, and the heap's top kept up to 64 MiB (:func:`keep_heap`). That is process-wide and stays (glibc
has no way to read the settings back): freed memory up to 64 MiB is kept for the process's next arrays instead
of returned at once. Nothing changes where the process is not linked with glibc (macOS, Windows, musl), where
the user set any of glibc's ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_TOP_PAD_``, or
where ``GRADCHECK_HEAP`` is ``default``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["HEAP_VARIABLES", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "keep_heap"]

#: Blocks up to this size come from the heap (glibc's largest dynamic mmap threshold on 64-bit systems).
MMAP_THRESHOLD = 32 << 20
#: The heap's top is handed back to the system only beyond this (twice the mmap threshold, as glibc sets it).
TRIM_THRESHOLD = 64 << 20
#: glibc's own variables for these settings: where the user set one, the heap is theirs to tune.
HEAP_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_DONE = {}


def keep_heap(environ=None):
    """Set glibc's mmap and trim thresholds for this process, once (see the module); True if they are set now
    or were before, False where nothing was changed (not glibc, or the environment ``environ``, default
    ``os.environ``, says to leave the heap alone)."""
    if "set" in _DONE:
        return _DONE["set"]
    environ = os.environ if environ is None else environ
    if environ.get("GRADCHECK_HEAP", "").strip().lower() == "default" or any(environ.get(v) for v in HEAP_VARIABLES):
        return False
    mallopt = _mallopt()
    _DONE["set"] = bool(mallopt and mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                        and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
    return _DONE["set"]


def _mallopt():
    """glibc's ``mallopt``, or None where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not hasattr(libc, "gnu_get_libc_version"):  # musl has mallopt as a stub that does nothing
            return None
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt
