"""Run the user's code apart from gradcheck: a time limit, its stdout kept out of gradcheck's output, its
crashes contained.

:func:`run` calls a task (a function of no arguments that calls the user's code) in a
forked child process where the platform can fork (POSIX): nothing is pickled on the way
in, the task's return value comes back pickled through a pipe, and the child's file
descriptor 1 is a second pipe, so whatever the user's code prints (``print``, C code
writing to fd 1) reaches :attr:`Outcome.output`, never gradcheck's stdout. A child that
does not finish in time is killed; one that ends without a result (``os._exit``, a crash
in compiled code) is a problem line, not gradcheck's end.

The child ignores SIGINT: a KeyboardInterrupt there was raised by the user's code, and a
Ctrl-C reaches gradcheck, which kills the child and stops. In this process,
:func:`interrupts` tells the two apart the same way. Where fork is not available the task
runs in this process (no time limit; stdout captured at the Python level).
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import selectors
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass

from ..errors import GradcheckError, ImplError

__all__ = ["MAX_OUTPUT", "Outcome", "can_fork", "interrupts", "run"]

#: Bytes of the user's stdout kept (the rest is counted, not kept).
MAX_OUTPUT = 16 * 1024
#: Seconds to wait for the rest of the child's stdout once its result is in.
_DRAIN = 0.2


@dataclass
class Outcome:
    """What :func:`run` got: the task's return ``value``, or the ``problem`` (one line) that stopped it, and
    what the user's code printed to stdout (``output``)."""

    value: object = None
    problem: str | None = None
    output: str = ""


def can_fork():
    return hasattr(os, "fork") and sys.platform != "emscripten"


def run(task, timeout, who="your backprop"):
    """``task()`` in a child process with ``timeout`` seconds (None: in this process, as it is).

    A :class:`~gradcheck.errors.GradcheckError` the task raises (an impl that cannot be
    loaded) is raised here as :class:`~gradcheck.errors.ImplError`; any other exception
    from gradcheck's side of the task is raised as RuntimeError (a bug, not the user's).
    """
    if timeout is None:
        return Outcome(task())
    if not can_fork():
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            value = task()
        output = _Output()
        output.add(out.getvalue().encode())
        return Outcome(value, output=output.text())
    result_r, result_w = os.pipe()
    out_r, out_w = os.pipe()
    for stream in (sys.stdout, sys.stderr):  # nothing buffered here may be written twice
        with contextlib.suppress(Exception):
            stream.flush()
    parent = os.getpid()
    with warnings.catch_warnings():  # 3.12+ warns of fork in a threaded process (NumPy's BLAS threads)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover  (the child: coverage does not see it)
        os.close(result_r)
        os.close(out_r)
        _child(task, result_w, out_w, who, parent)
    os.close(result_w)
    os.close(out_w)
    try:
        message, output, timed_out = _collect(result_r, out_r, time.monotonic() + timeout)
    except BaseException:  # a Ctrl-C while waiting: stop the child, then stop
        _kill(pid)
        raise
    finally:
        os.close(result_r)
        os.close(out_r)
    if timed_out:
        _kill(pid)
        return Outcome(problem=f"{who} did not return within {timeout:g} s and was stopped (an endless loop? "
                               "allow it more with --timeout)", output=output)
    status = _reap(pid)
    if not message:
        return Outcome(problem=f"{who} ended the process {_how(status)} before returning", output=output)
    kind, *rest = pickle.loads(message)
    if kind == "value":
        return Outcome(rest[0], output=output)
    if kind == "problem":
        return Outcome(problem=rest[0], output=output)
    if kind == "error":
        raise ImplError(rest[0])
    raise RuntimeError(rest[0])


def _child(task, result_w, out_w, who, parent):  # pragma: no cover  (runs in the forked child)
    """Run the task with SIGINT ignored and fd 1 on the output pipe; send back a tagged message; exit."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        threading.Thread(target=_orphaned, args=(parent,), daemon=True).start()
        os.dup2(out_w, 1)
        os.close(out_w)
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                                       errors="backslashreplace", line_buffering=True)
        try:
            message = ("value", task())
        except GradcheckError as e:
            message = ("error", str(e))
        except KeyboardInterrupt:  # SIGINT is ignored here: the user's code raised it
            message = ("problem", f"{who} raised KeyboardInterrupt")
        except BaseException as e:
            message = ("bug", f"{type(e).__name__}: {e}")
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
        try:
            data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            data = pickle.dumps(("bug", f"the result of {who} could not be sent back: {type(e).__name__}: {e}"))
        view = memoryview(data)
        while view:
            view = view[os.write(result_w, view):]
    finally:
        os._exit(0)


def _orphaned(parent):  # pragma: no cover  (runs in the forked child)
    """End the child once gradcheck is gone (killed before it could stop the child)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _collect(result_r, out_r, deadline):
    """Read the child's result and stdout until its result pipe closes: (message bytes, output text, timed out)."""
    chunks, output = [], _Output()
    with selectors.DefaultSelector() as sel:
        sel.register(result_r, selectors.EVENT_READ)
        sel.register(out_r, selectors.EVENT_READ)
        out_open, done = True, False
        while not done:
            left = deadline - time.monotonic()
            if left <= 0:
                return b"", output.text(), True
            for key, _ in sel.select(min(left, 60.0)):  # a wait of years is waited a minute at a time
                data = os.read(key.fd, 65536)
                if key.fd == result_r:
                    chunks.append(data)
                    done = done or not data
                elif data:
                    output.add(data)
                else:
                    sel.unregister(out_r)
                    out_open = False
        end = time.monotonic() + _DRAIN  # the rest of stdout, unless something else still holds it open
        while out_open and time.monotonic() < end and sel.select(end - time.monotonic()):
            data = os.read(out_r, 65536)
            out_open = bool(data)
            output.add(data)
    return b"".join(chunks), output.text(), False


class _Output:
    """The first :data:`MAX_OUTPUT` bytes of what the user's code printed, and a count of the rest."""

    def __init__(self):
        self.kept, self.dropped = bytearray(), 0

    def add(self, data):
        room = max(0, MAX_OUTPUT - len(self.kept))
        self.kept += data[:room]
        self.dropped += max(0, len(data) - room)

    def text(self):
        text = bytes(self.kept).decode("utf-8", errors="backslashreplace")
        return text + (f"\n[… {self.dropped:,} more bytes not shown]\n" if self.dropped else "")


def _kill(pid):
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)


def _reap(pid):
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:  # pragma: no cover
            continue
        except ChildProcessError:  # pragma: no cover  (already reaped)
            return 0


def _how(status):
    """``with exit code 0 (os._exit?)`` or ``by signal SIGSEGV`` for a wait status."""
    code = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"by signal {name} (a crash in compiled code?)"
    return f"with exit code {code} (os._exit?)"


@contextlib.contextmanager
def interrupts():
    """Yield a list that gets an entry when SIGINT (a Ctrl-C) arrives while the block runs, or None where that
    cannot be known (not the main thread). A KeyboardInterrupt without an entry was raised by code."""
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    previous = signal.getsignal(signal.SIGINT)
    seen = []
    if previous in (signal.SIG_IGN, None):  # ignored (as in the child above), or not set from Python
        yield seen
        return

    def handler(signum, frame):
        seen.append(signum)
        if callable(previous):
            return previous(signum, frame)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, previous)
