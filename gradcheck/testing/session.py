"""The state of one pytest run: its settings (command line, then ini) and a record of every check run.

One :class:`GradcheckSession` per run lives in ``config.stash[SESSION_KEY]``; the fixture's
object (:mod:`.checker`) and the collected spec items (:mod:`.items`) read it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import pytest

from ..errors import suggest
from ..options import OPTIONS, option
from ..render.precision import json_number

__all__ = ["SESSION_KEY", "WORKER_KEY", "GradcheckSession", "Settings", "MARKER_KEYS", "REPORT_FILE", "marker_values",
           "resolve_impl"]

#: The keywords of ``@pytest.mark.gradcheck`` (and overrides of the fixture's methods, with ``symbolic``).
MARKER_KEYS = tuple(o.name for o in OPTIONS if o.marker)
#: The settings a test-suite can set: command line, ini file, marker, fixture call.
SETTING_KEYS = tuple(o.name for o in OPTIONS if o.plugin)
REPORT_FILE = "gradcheck-results.json"


# -- settings -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settings:
    """Tolerances and method for one check (session defaults, then marker, then call overrides)."""

    rtol: float = option("rtol").default_in_plugin
    atol: float = option("atol").default_in_plugin
    method: str = option("method").default_in_plugin
    seed: int | None = option("seed").default_in_plugin
    symbolic: str = option("symbolic").default_in_plugin
    mode: str = option("mode").default_in_plugin
    sample: int = option("sample").default_in_plugin
    directions: int = option("directions").default_in_plugin

    def modes(self):
        """The sampling keywords of a check: mode, sample, directions."""
        return {"mode": self.mode, "sample": self.sample, "directions": self.directions}

    def update(self, values, where):
        """A copy with ``values`` (a dict of raw values) validated and applied; ValueError names ``where``."""
        for key in values:
            if key not in SETTING_KEYS:
                raise ValueError(f"{where}: unknown setting {key!r}")
        return replace(self, **{k: option(k).validate(v, where) for k, v in values.items()})


def marker_values(node):
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
            for key in SETTING_KEYS:
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
        return cls(settings, specs_dir, where.startswith("--"), impl and resolve_impl(impl, root),
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
            entry.update(json_number(dict(
                name=result.name, passed=result.passed, rtol=result.rtol, atol=result.atol,
                max_abs_error=result.max_abs_error, max_rel_error=result.max_rel_error,
                worst=None if not worst else {
                    "element": worst[0].element, "checked": worst[0].opinion, "analytic": worst[0].analytic,
                    "numeric": worst[0].numeric, "rel_err": worst[0].rel_err, "verdict": worst[0].verdict})),
                counts=result.counts(), problems=list(result.problems), diagnosis=list(result.diagnosis),
                notes=list(result.notes))
        self.records.append(entry)

    def records_json(self):
        """The records as JSON text (what an xdist worker hands its controller)."""
        return json.dumps(self.records)

    def add_records_json(self, text):
        """Add a worker's records (:meth:`records_json`)."""
        self.records.extend(json.loads(text))

    def summary(self):
        checks = [r for r in self.records if "error" not in r]
        failed = [r for r in checks if not r["passed"]]
        worst = max(checks, key=lambda r: math.inf if r["max_rel_error"] is None else r["max_rel_error"], default=None)
        return {"checks": len(checks), "passed": len(checks) - len(failed), "failed": len(failed),
                "errors": len(self.records) - len(checks), "worst": worst}

    def write_report(self):
        if self.report_dir is None or not self.records:
            return None
        from .. import __version__

        self.report_dir.mkdir(parents=True, exist_ok=True)
        path = self.report_dir / REPORT_FILE
        doc = {"gradcheck": __version__, "settings": asdict(self.settings), "summary": self.summary(),
               "checks": self.records}
        # written whole or not at all: a temporary file beside it, then renamed over it
        handle, temporary = tempfile.mkstemp(dir=self.report_dir, prefix=f".{REPORT_FILE}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        self.report_path = path
        return path

    def header(self):
        from .. import __version__

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
#: The key of an xdist worker's records in its ``workeroutput``.
WORKER_KEY = "gradcheck_records"


def resolve_impl(target, base):
    """Make the file part of ``"path/file.py:fn"`` absolute against ``base``; leave ``"module:fn"``."""
    where, sep, name = str(target).rpartition(":")
    if sep and (where.endswith(".py") or "/" in where or "\\" in where):
        path = Path(where)
        return f"{path if path.is_absolute() else (Path(base) / path).resolve()}:{name}"
    return target


