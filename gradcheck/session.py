"""State and test items behind the pytest plugin: settings, the per-run session, the checker, spec items.

:mod:`gradcheck.plugin` holds only the hooks, options and the fixture; everything they
share lives here, in one :class:`GradcheckSession` per pytest run.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pytest

from .compare import ATOL, RTOL
from .errors import GradcheckError, suggest
from .numeric import METHOD_NAMES

__all__ = ["SESSION_KEY", "Checker", "GradcheckSession", "Settings", "SpecFile", "SpecItem", "MARKER_KEYS",
           "REPORT_FILE"]

MARKER_KEYS = ("rtol", "atol", "method", "seed")
SYMBOLIC = ("auto", "on", "off")
REPORT_FILE = "gradcheck-results.json"


# -- settings -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """Tolerances and method for one check (session defaults, then marker, then call overrides)."""

    rtol: float = RTOL
    atol: float = ATOL
    method: str = "auto"
    seed: int | None = None
    symbolic: str = "off"

    def update(self, values, where):
        """A copy with ``values`` (a dict of raw values) validated and applied; ValueError names ``where``."""
        return replace(self, **{k: _parse(k, v, where) for k, v in values.items()})


def _parse(key, value, where):
    """Validate one setting; raise ValueError('where: key=...: expected ...')."""
    def bad(expected):
        return ValueError(f"{where}: {key}={value!r}: expected {expected}")
    if key in ("rtol", "atol"):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad("a number such as 1e-5") from None
        if isinstance(value, bool) or not math.isfinite(number) or number < 0 or (key == "rtol" and number == 0):
            raise bad("a positive number such as 1e-5" if key == "rtol" else "a number >= 0 such as 1e-7")
        return number
    if key == "method":
        if value not in METHOD_NAMES:
            raise bad(f"one of {', '.join(METHOD_NAMES)}{suggest(value, list(METHOD_NAMES))}")
        return value
    if key == "seed":
        if value is None:
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise bad("a whole number >= 0") from None
        if isinstance(value, bool) or number < 0 or (isinstance(value, float) and not value.is_integer()):
            raise bad("a whole number >= 0")
        return number
    if key == "symbolic":
        if value not in SYMBOLIC:
            raise bad(f"one of {', '.join(SYMBOLIC)}")
        return value
    raise ValueError(f"{where}: unknown setting {key!r}")


def _marker_values(node):
    """Merged keyword arguments of every ``gradcheck`` marker on ``node`` (the closest wins)."""
    out = {}
    valid = ", ".join(MARKER_KEYS)
    for mark in reversed(list(node.iter_markers("gradcheck"))):
        if mark.args:
            raise ValueError(f"@pytest.mark.gradcheck takes keywords only ({valid}), got {mark.args!r}")
        for key, value in mark.kwargs.items():
            if key not in MARKER_KEYS:
                raise ValueError(f"@pytest.mark.gradcheck: unknown keyword {key!r}{suggest(key, list(MARKER_KEYS))}; "
                                 f"valid keywords: {valid}")
            out[key] = value
    return out


# -- session state ----------------------------------------------------------------------------

class GradcheckSession:
    """Settings from the command line and ini file, and a record of every check run."""

    def __init__(self, settings, specs_dir=None, specs_from_cli=False, impl=None, report_dir=None):
        self.settings = settings
        self.specs_dir = specs_dir
        self.specs_from_cli = specs_from_cli
        self.impl = impl
        self.report_dir = report_dir
        self.records = []
        self.report_path = None

    @classmethod
    def from_config(cls, config):
        """Read options (command line first, then ini); raise ``pytest.UsageError`` on a bad value."""
        here = Path(config.invocation_params.dir)
        root = Path(config.inipath).parent if config.inipath else Path(config.rootpath)

        def get(key):
            value = config.getoption(f"gradcheck_{key}", None)
            if value is not None:
                return value, f"--gradcheck-{key}", here
            ini = config.getini(f"gradcheck_{key}")
            return (ini.strip() or None) if isinstance(ini, str) else ini, f"gradcheck_{key} (ini)", root

        settings = Settings()
        try:
            for key in (*MARKER_KEYS, "symbolic"):
                value, where, _ = get(key)
                if value is not None:
                    settings = settings.update({key: value}, where)
        except ValueError as e:
            raise pytest.UsageError(f"gradcheck: {e}") from None
        specs, where, base = get("specs")
        specs_dir = None
        if specs:
            specs_dir = (base / specs).resolve()
            if not specs_dir.is_dir():
                raise pytest.UsageError(f"gradcheck: {where} {specs}: no such directory ({specs_dir})")
        report, _, report_base = get("report")
        impl, _, _ = get("impl")
        return cls(settings, specs_dir, where.startswith("--"), impl and _resolve_impl(impl, root),
                   (report_base / report).resolve() if report else None)

    def extend_args(self, config):
        """Add the specs folder to the paths pytest collects, unless the run already covers or narrows it.

        It is added when ``--gradcheck-specs`` is on the command line or when pytest was given
        no paths (it then collects testpaths or the current directory); a run on explicit
        paths that do not touch the folder leaves an ini ``gradcheck_specs`` out.
        """
        if self.specs_dir is None:
            return
        here = Path(config.invocation_params.dir)
        for arg in config.args:
            path = (here / str(arg).split("::")[0]).resolve()
            if path == self.specs_dir or path in self.specs_dir.parents or self.specs_dir in path.parents:
                return
        source = getattr(config, "args_source", None)  # pytest >= 7.2
        if self.specs_from_cli or (source is not None and source.name != "ARGS"):
            config.args.append(str(self.specs_dir))

    def owns(self, path):
        """True for a *.json file inside the specs folder."""
        if self.specs_dir is None or path.suffix != ".json":
            return False
        path = Path(path).resolve()
        return self.specs_dir in path.parents

    def record(self, test, kind, result=None, error=None):
        """Remember one check (``result``) or one that could not run (``error``, a one-line message)."""
        entry = {"test": test, "kind": kind}
        if error is not None:
            entry.update(name=None, passed=False, error=error)
        else:
            worst = result.blame(1)
            entry.update(
                name=result.name, passed=result.passed, rtol=result.rtol, atol=result.atol,
                max_abs_error=_finite(result.max_abs_error), max_rel_error=_finite(result.max_rel_error),
                worst=None if not worst else {
                    "element": worst[0].element, "checked": worst[0].opinion, "analytic": _finite(worst[0].analytic),
                    "numeric": _finite(worst[0].numeric), "rel_err": _finite(worst[0].rel_err),
                    "verdict": worst[0].verdict},
                counts=result.counts(), problems=list(result.problems), diagnosis=list(result.diagnosis),
                notes=list(result.notes))
        self.records.append(entry)

    def summary(self):
        checks = [r for r in self.records if "error" not in r]
        failed = [r for r in checks if not r["passed"]]
        worst = max(checks, key=lambda r: math.inf if r["max_rel_error"] is None else r["max_rel_error"], default=None)
        return {"checks": len(checks), "passed": len(checks) - len(failed), "failed": len(failed),
                "errors": len(self.records) - len(checks), "worst": worst}

    def write_report(self):
        if self.report_dir is None or not self.records:
            return None
        from . import __version__

        self.report_dir.mkdir(parents=True, exist_ok=True)
        path = self.report_dir / REPORT_FILE
        doc = {"gradcheck": __version__, "settings": asdict(self.settings), "summary": self.summary(),
               "checks": self.records}
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self.report_path = path
        return path

    def header(self):
        from . import __version__

        s = self.settings
        parts = [f"gradcheck {__version__}: rtol={s.rtol:g}, atol={s.atol:g}, method={s.method}"]
        if s.seed is not None:
            parts.append(f"seed={s.seed}")
        if self.specs_dir is not None:
            parts.append(f"specs={self.specs_dir}")
        return ", ".join(parts)

    def summary_lines(self):
        if not self.records:
            return []
        s = self.summary()
        line = f"{s['checks']} gradient check(s) run, {s['failed']} failed"
        if s["errors"]:
            line += f", {s['errors']} could not run (bad input)"
        lines = [line]
        w = s["worst"]
        if w is not None and w["max_rel_error"] is None:
            first = (w["problems"] or ["a tensor could not be compared"])[0]
            lines.append(f"worst: {w['test']}: {first if len(first) < 160 else first[:157] + '...'}")
        elif w is not None and w["worst"] is not None:
            lines.append(f"worst relative error {w['max_rel_error']:.2e} at {w['worst']['element']} "
                         f"({w['worst']['verdict']}) in {w['test']}")
        if self.report_path is not None:
            lines.append(f"report written to {self.report_path}")
        return lines


#: Where the run's :class:`GradcheckSession` lives: ``config.stash[SESSION_KEY]``.
SESSION_KEY = pytest.StashKey[GradcheckSession]()


def _finite(x):
    """A float for JSON; None for inf/NaN (a tensor that could not be compared)."""
    return float(x) if x is not None and math.isfinite(x) else None


def _resolve_impl(target, base):
    """Make the file part of ``"path/file.py:fn"`` absolute against ``base``; leave ``"module:fn"``."""
    where, sep, name = str(target).rpartition(":")
    if sep and (where.endswith(".py") or "/" in where or "\\" in where):
        path = Path(where)
        return f"{path if path.is_absolute() else (Path(base) / path).resolve()}:{name}"
    return target


# -- the fixture's object ---------------------------------------------------------------------

class Checker:
    """What the ``gradcheck`` fixture gives a test: check methods bound to the session's settings.

    Each method takes the settings as keyword overrides (``rtol``, ``atol``, ``method``,
    ``seed``) on top of the test's ``@pytest.mark.gradcheck`` and the command line/ini,
    records the check for the summary, raises ``AssertionError`` (the report with the
    blame table) when it fails and otherwise returns the
    :class:`~gradcheck.compare.CheckResult`.
    """

    def __init__(self, session, settings, test):
        self.session, self.settings, self.test = session, settings, test

    def _settings(self, overrides):
        extra = {k: overrides.pop(k) for k in list(overrides) if k in (*MARKER_KEYS, "symbolic")}
        return self.settings.update(extra, "gradcheck")

    def _finish(self, kind, result):
        __tracebackhide__ = True
        self.session.record(self.test, kind, result)
        if not result.passed:
            raise AssertionError(str(result))
        return result

    def function(self, f, grad, x, **kwargs):
        """:func:`~gradcheck.generic.check_function` (``step``, ``name`` pass through)."""
        __tracebackhide__ = True
        from .generic import check_function

        s = self._settings(kwargs)
        return self._finish("function", check_function(f, grad, x, rtol=s.rtol, atol=s.atol, method=s.method,
                                                        **kwargs))

    def layer(self, forward, backward, x, *params, **kwargs):
        """:func:`~gradcheck.generic.check_layer`; ``seed`` seeds ``dout`` (default 0)."""
        __tracebackhide__ = True
        from .generic import check_layer

        s = self._settings(kwargs)
        return self._finish("layer", check_layer(forward, backward, x, *params, rtol=s.rtol, atol=s.atol,
                                                 method=s.method, seed=0 if s.seed is None else s.seed, **kwargs))

    def network(self, spec, impl=None, **kwargs):
        """:func:`~gradcheck.check.check_network`; ``symbolic`` defaults to the session's ("off")."""
        __tracebackhide__ = True
        from .check import check_network

        s = self._settings(kwargs)
        return self._finish("network", check_network(spec, impl, seed=s.seed, rtol=s.rtol, atol=s.atol,
                                                     method=s.method, symbolic=s.symbolic, **kwargs))

    def __repr__(self):
        s = self.settings
        return f"<gradcheck checker for {self.test}: rtol={s.rtol:g}, atol={s.atol:g}, method={s.method}>"


# -- collected net.json specs -------------------------------------------------------------------

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
    """Runs :func:`~gradcheck.check.check_network` on one spec file (and its impl, if any)."""

    def runtest(self):
        from .check import check_network
        from .spec import load_spec

        session = self.config.stash[SESSION_KEY]
        s = session.settings
        try:
            spec = load_spec(self.path)
            impl = _resolve_impl(spec.impl, self.path.parent) if spec.impl else session.impl
            result = check_network(spec, impl, seed=s.seed, rtol=s.rtol, atol=s.atol, method=s.method,
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


