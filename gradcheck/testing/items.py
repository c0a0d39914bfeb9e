"""Collected net.json specs: one pytest item per file, run through :func:`~gradcheck.checks.network.check_network`."""

from __future__ import annotations

import pytest

from ..errors import GradcheckError
from .session import SESSION_KEY, resolve_impl

__all__ = ["SpecFile", "SpecItem", "SpecInputError", "GradientMismatchError"]


class SpecInputError(Exception):
    """A spec or its impl cannot be used; the message is one line."""


class GradientMismatchError(Exception):
    """A spec's gradients disagree; carries the CheckResult."""

    def __init__(self, result):
        super().__init__(result.name)
        self.result = result


class SpecFile(pytest.File):
    """A net.json found in the specs folder: one item."""

    def collect(self):
        yield SpecItem.from_parent(self, name="gradcheck")


class SpecItem(pytest.Item):
    """Runs :func:`~gradcheck.checks.network.check_network` on one spec file (and its impl, if any)."""

    def runtest(self):
        from ..checks.network import check_network
        from ..spec.parse import load_spec

        session = self.config.stash[SESSION_KEY]
        s = session.settings
        try:
            spec = load_spec(self.path)
            impl = resolve_impl(spec.impl, self.path.parent) if spec.impl else session.impl
            result = check_network(spec, impl, seed=s.seed, rtol=s.rtol, atol=s.atol, method=s.method, **s.modes(),
                                   symbolic=s.symbolic)
        except GradcheckError as e:
            message = str(e).replace(str(self.path), self._relpath())
            session.record(self.nodeid, "network", error=message)
            raise SpecInputError(message) from None
        session.record(self.nodeid, "network", result)
        if not result.passed:
            raise GradientMismatchError(result)

    def _relpath(self):
        try:
            return str(self.path.relative_to(self.config.rootpath))
        except ValueError:
            return str(self.path)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, SpecInputError):
            return f"gradcheck: {excinfo.value}"
        if isinstance(excinfo.value, GradientMismatchError):
            return str(excinfo.value.result)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"gradcheck {self._relpath()}"
