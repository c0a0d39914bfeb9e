"""The object the ``gradcheck`` fixture gives a test: check methods bound to the run's settings."""

from __future__ import annotations

from .session import SETTING_KEYS

__all__ = ["Checker"]


class Checker:
    """What the ``gradcheck`` fixture gives a test: check methods bound to the session's settings.

    Each method takes the settings as keyword overrides (``rtol``, ``atol``, ``method``,
    ``seed``) on top of the test's ``@pytest.mark.gradcheck`` and the command line/ini,
    records the check for the summary, raises ``AssertionError`` (the report with the
    blame table) when it fails and otherwise returns the
    :class:`~gradcheck.judge.outcome.CheckResult`.
    """

    def __init__(self, session, settings, test):
        self.session, self.settings, self.test = session, settings, test

    def _settings(self, overrides):
        extra = {k: overrides.pop(k) for k in list(overrides) if k in SETTING_KEYS}
        return self.settings.update(extra, "gradcheck")

    def _finish(self, kind, result):
        __tracebackhide__ = True
        self.session.record(self.test, kind, result)
        if not result.passed:
            raise AssertionError(str(result))
        return result

    def function(self, f, grad, x, **kwargs):
        """:func:`~gradcheck.checks.function.check_function` (``step``, ``name`` pass through)."""
        __tracebackhide__ = True
        from ..checks.function import check_function

        s = self._settings(kwargs)
        return self._finish("function", check_function(f, grad, x, rtol=s.rtol, atol=s.atol, method=s.method,
                                                        **s.modes(), **kwargs))

    def layer(self, forward, backward=None, x=None, *args, **kwargs):
        """:func:`~gradcheck.checks.function.check_layer` (a pair of functions, or a layer object and its input);
        ``seed`` seeds ``dout`` (default 0)."""
        __tracebackhide__ = True
        from ..checks.function import check_layer

        s = self._settings(kwargs)
        return self._finish("layer", check_layer(forward, backward, x, *args, rtol=s.rtol, atol=s.atol,
                                                 method=s.method, seed=0 if s.seed is None else s.seed, **s.modes(),
                                                 **kwargs))

    def network(self, spec, impl=None, **kwargs):
        """:func:`~gradcheck.checks.network.check_network`; ``symbolic`` defaults to the session's ("off")."""
        __tracebackhide__ = True
        from ..checks.network import check_network

        s = self._settings(kwargs)
        return self._finish("network", check_network(spec, impl, seed=s.seed, rtol=s.rtol, atol=s.atol,
                                                     method=s.method, symbolic=s.symbolic, **s.modes(),
                                                     **kwargs))

    def __repr__(self):
        s = self.settings
        return f"<gradcheck checker for {self.test}: rtol={s.rtol:g}, atol={s.atol:g}, method={s.method}>"
