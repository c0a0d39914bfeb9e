"""The user's backprop in a network check: loaded, called once, and traced line by line when it fails.

Each call runs through :mod:`gradcheck.usercode.isolation`, in a child process when a timeout
is given, so that a loop, a print or an ``os._exit`` in the user's code is contained.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..diagnose.against import trace_impl
from ..judge.bands import low_precision
from ..usercode import isolation
from ..usercode.impl import call_impl, load_impl

__all__ = ["Loaded", "UserGradients", "user_gradients", "line_trace"]


class Loaded:
    """The user's backprop, loaded on first use: in the child process that calls it when there is one, so that
    its module's own code (a loop, a print, an os._exit at import) is contained too."""

    def __init__(self, impl):
        self.impl, self.fn = impl, None

    def __call__(self):
        if self.fn is None:
            self.fn = load_impl(self.impl)
        return self.fn

    @property
    def who(self):
        target = self.impl if isinstance(self.impl, str) else getattr(self.impl, "__name__", "")
        return f"your backprop ({target})" if target and not target.startswith("<") else "your backprop"


@dataclass
class UserGradients:
    """One call of the user's backprop: its gradients (None if it failed), problems by tensor name ("" for
    the call as a whole), whether they are float32, notes, what it printed, and whether it was contained
    (stopped by the timeout, or ended its process)."""

    grads: list | None
    problems: dict
    float32: bool
    notes: list
    output: str
    contained: bool
    extras: dict = field(default_factory=dict)  # "intermediates" it returned, and "reshaped" vector gradients


def user_gradients(user_fn, spec, params, X, Y, timeout):
    """The :class:`UserGradients` of one call of the user's backprop (see :func:`call_impl`)."""
    def task():
        fn, notes, extras = _Kept(user_fn()), [], {}
        grads, problems = call_impl(fn, spec, params, X, Y, notes, extras)
        return grads, problems, low_precision(fn.returned), notes, extras

    ran = isolation.run(task, timeout, user_fn.who)
    if ran.problem:
        return UserGradients(None, {"": ran.problem}, False, [], ran.output, True)
    grads, problems, float32, notes, extras = ran.value
    return UserGradients(grads, problems, float32, notes, ran.output, False, extras)


def line_trace(user_fn, spec, params, X, Y, trace, wrong, timeout):
    """(LineTrace, diagnosis sentences) of the user's backprop run under the line tracer, or why there is none."""
    def task():
        lines = trace_impl(user_fn(), spec, params, X, Y, trace)
        sentences = lines.sentences(wrong)  # here: it finds the returned arrays by identity
        return (replace(lines, result=None, error=None, _origin={}) if timeout is not None else lines), sentences

    ran = isolation.run(task, timeout, user_fn.who)
    return ran.problem if ran.problem else ran.value


class _Kept:
    """The user's backprop, keeping what it returned (to see its dtypes before they become float64)."""

    def __init__(self, fn):
        self.__wrapped__, self.returned = fn, []  # __wrapped__: where its errors are located

    def __call__(self, *args, **kwargs):
        out = self.__wrapped__(*args, **kwargs)
        self.returned.append(out)
        return out
