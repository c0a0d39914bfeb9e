"""BLAS threads, chosen per check instead of inherited.

A check is mostly many small matrix products (a chunk of perturbed networks at a time,
each a few units wide): there OpenBLAS's threads spin and wait on each other, and its
default (one thread per core) makes a check several times slower than one thread, the
more so on a busy machine. So a network check runs with :data:`CHECK_THREADS` BLAS threads
unless the environment variable ``GRADCHECK_BLAS_THREADS`` says otherwise (a number, or
``default`` to keep what the process has); the user's backprop (``--impl``), called inside the
check, runs under the same setting. Threads are set through threadpoolctl, the library that
knows every BLAS NumPy may be linked with; the libraries are found once (a few ms) and setting
each costs about a µs. The command line goes further: before NumPy loads, it sets the BLAS's own
thread variables to the check's threads, where the user set none (:func:`start_threads`), so that its
BLAS starts with them instead of starting one thread per core and being limited later.

Why one thread for the whole check, measured on a shared 2-core machine
(``benchmarks/bench_threads.py``, one thread against two around each phase): two threads made no
phase of a check at the benchmark sizes faster on the machine as it was, and every phase slower
with one core busy. The reference backprop of 784-1024-256-10 at N=32 (a few ms) gained 1.6×
in a quiet moment and lost up to 5× with a core busy; the finite differences and the unit
lines' products lost 15-70%, a conv network's check more than 2×. Only single calls of a Gflop
and more gained, and held with a core busy (at N=1024 the reference backprop and the unit lines'
products, 1.6-2.0× quiet): 0.35 s of that check's 7.9 s. Every core for such calls alone was
measured too, and the whole check showed no gain (0.90× quiet, 0.97× busy: after a threaded
product OpenBLAS's worker spins on for a while, against the check's own thread on a busy machine).
"""

from __future__ import annotations

import contextlib
import os
import sys

__all__ = ["BLAS_VARIABLES", "CHECK_THREADS", "blas_threads", "check_threads", "start_threads"]

#: BLAS threads a network check uses by default (measured in benchmarks/bench_threads.py).
CHECK_THREADS = 1
_CONTROLLER = {}  # {modules loaded when they were found: the BLAS libraries' controllers}
#: The variables BLAS libraries read their thread count from when they load, before OpenMP's (OpenBLAS, MKL, BLIS,
#: Apple's Accelerate). OMP_NUM_THREADS is left alone: other libraries a user's backprop calls read it too.
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def _controller():
    """threadpoolctl's controllers of the BLAS libraries loaded now, one per library. They are found again when
    modules have been imported since (a library such as torch or SciPy may have brought a BLAS of its own, which
    controllers found before would leave at its default threads)."""
    if len(sys.modules) not in _CONTROLLER:
        try:
            from threadpoolctl import ThreadpoolController

            made = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # threadpoolctl missing or unable to inspect this process: keep the inherited threads
            made = None
        _CONTROLLER.clear()
        _CONTROLLER[len(sys.modules)] = made
    return next(iter(_CONTROLLER.values()))


def check_threads(environ=None):
    """The BLAS threads a check uses: ``GRADCHECK_BLAS_THREADS`` (a whole number, or "default": None, the
    process's own) in ``environ`` (default ``os.environ``), else :data:`CHECK_THREADS`."""
    value = (os.environ if environ is None else environ).get("GRADCHECK_BLAS_THREADS", "").strip().lower()
    if value == "default":
        return None
    if value.isdigit() and int(value) > 0:
        return int(value)
    return CHECK_THREADS


def start_threads(environ=None):
    """For a process that runs checks only (the command line), before NumPy is loaded: start its BLAS with the
    check's threads, set in ``environ`` (default ``os.environ``) where no thread variable is set already.

    A BLAS loaded with one thread per core and limited to one later (:func:`blas_threads`) still pays for its
    pool: the million-param command-line check took 5-9% longer, and 0.1 s more CPU, than the same process
    started with ``OPENBLAS_NUM_THREADS=1``, with one core busy. Nothing changes where the user set any of
    :data:`BLAS_VARIABLES` or ``OMP_NUM_THREADS``, where ``GRADCHECK_BLAS_THREADS`` is "default", or once NumPy
    is loaded."""
    environ = os.environ if environ is None else environ
    n = check_threads(environ)
    if n is None or "numpy" in sys.modules or any(environ.get(name) for name in (*BLAS_VARIABLES, "OMP_NUM_THREADS")):
        return
    for name in BLAS_VARIABLES:
        environ[name] = str(n)


@contextlib.contextmanager
def blas_threads(n):
    """Run the block with ``n`` BLAS threads (None: as inherited); each BLAS library set only where its threads
    differ, and given back its own afterwards (through threadpoolctl's per-library controllers: its limiter object
    costs more than the check of a small network's whole judge)."""
    libraries = _controller() if n is not None else None
    if libraries is None:
        yield
        return
    changed = []
    for lib in libraries:
        before = lib.num_threads
        if before != n:
            lib.set_num_threads(n)
            changed.append((lib, before))
    try:
        yield
    finally:
        for lib, before in reversed(changed):
            lib.set_num_threads(before)
