"""Report files: write one report per network in every format, regenerate reports/, check it is current.

    python -m gradcheck derivations/*.json --report reports --quiet   # the CLI
    python -m gradcheck.report_files                                  # the same, for derivations/ -> reports/
    python -m gradcheck.report_files --check                          # CI: exit 1 if reports/ is stale
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .derivation_report import EXTENSIONS, REPORT_FORMATS, build_report, report_content
from .errors import GradcheckError
from .pipeline.spec import load_spec

__all__ = ["report_paths", "write_reports", "generate", "compare_dirs", "main"]


# -- files --------------------------------------------------------------------------------

def report_paths(name, out_dir, fmt=None):
    """{format: path} of the report files of the network ``name`` in ``out_dir`` (every format, or ``fmt``)."""
    if not name or name in (".", "..") or any(c in name for c in "/\\\0"):
        raise GradcheckError(f"cannot name a report file after the network name {name!r}: set a plain \"name\"")
    fmts = REPORT_FORMATS if fmt is None else (fmt,)
    for f in fmts:
        if f not in EXTENSIONS:
            raise GradcheckError(f"report format must be one of {', '.join(REPORT_FORMATS)}, got {f!r}")
    return {f: Path(out_dir) / f"{name}{EXTENSIONS[f]}" for f in fmts}


def _same_file(a, b):
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _is_report(path):
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and "elements" in doc and "check" in doc


def write_reports(result, trace, out_dir, fmt=None, inputs=()):
    """Write the report of one checked network into ``out_dir`` (created if missing); return the paths.

    ``fmt``: one of :data:`REPORT_FORMATS`, or None for all of them. Files are named
    ``<spec name>.md/.html/.tex/.json``. A target that is one of ``inputs`` (the net.json
    files being checked) raises :class:`GradcheckError` before anything is written.
    """
    spec = result.extra["spec"]
    paths = report_paths(spec.name, out_dir, fmt)
    for path in paths.values():
        for src in inputs:
            if _same_file(path, src):
                raise GradcheckError(f"refusing to write the report {path}: it would overwrite the input {src} "
                                     f"(choose another --report directory)")
        if path.suffix == ".json" and path.is_file() and not _is_report(path):
            raise GradcheckError(f"refusing to overwrite {path}: it is not a gradcheck derivation report "
                                 f"(a net.json?); choose another --report directory")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GradcheckError(f"report directory {out_dir} is a file")
    out.mkdir(parents=True, exist_ok=True)
    content = report_content(result)
    for f, path in paths.items():
        text = build_report(result, trace, f, content)
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    return list(paths.values())


def _spec_files(specs):
    files = []
    for s in specs:
        p = Path(s)
        if p.is_dir():
            files += sorted(p.glob("*.json"))
        elif p.exists():
            files.append(p)
        else:
            raise GradcheckError(f"no such file or directory: {s}")
    if not files:
        raise GradcheckError(f"no net.json files in {', '.join(map(str, specs))}")
    return files


def generate(specs, out_dir, fmt=None):
    """Check every net.json in ``specs`` (files or folders) as the CLI does and write its reports."""
    from .pipeline.check import check_network
    from .pipeline.shapes import trace_shapes

    files = _spec_files(specs)
    written = []
    for path in files:
        spec = load_spec(str(path))
        result = check_network(spec)
        written += write_reports(result, trace_shapes(spec), out_dir, fmt, inputs=[str(p) for p in files])
    return written


def compare_dirs(fresh, committed):
    """Lines ``stale: …``, ``missing: …``, ``extra: …`` for the files of ``committed`` that differ from ``fresh``.

    Files are compared byte for byte: a report prints no digit that round-off can change
    (:mod:`gradcheck.precision`), so any difference is a real one.
    """
    fresh, committed = Path(fresh), Path(committed)
    new = {p.name for p in fresh.iterdir() if p.is_file()}
    old = {p.name for p in committed.iterdir() if p.is_file() and not p.name.startswith(".")} \
        if committed.is_dir() else set()
    lines = []
    for name in sorted(new | old):
        target = committed / name
        if name not in old:
            lines.append(f"missing: {target}")
        elif name not in new:
            lines.append(f"extra: {target} (no net.json generates it)")
        elif (fresh / name).read_bytes() != target.read_bytes():
            lines.append(f"stale: {target}")
    return lines


def main(argv=None):
    """``python -m gradcheck.report_files [--check] [--specs DIR_OR_FILES] [--out DIR]``; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m gradcheck.report_files",
                                description="Regenerate the committed derivation reports, or (--check) verify that "
                                            "they are up to date.")
    p.add_argument("--check", action="store_true",
                   help="regenerate into a temporary folder and compare: exit 1 if a report is stale, missing "
                        "or extra")
    p.add_argument("--specs", nargs="+", default=["derivations"], metavar="PATH",
                   help="net.json files or folders of them (default: derivations)")
    p.add_argument("--out", default="reports", metavar="DIR", help="report folder (default: reports)")
    args = p.parse_args(argv)
    try:
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                generate(args.specs, tmp)
                lines = compare_dirs(tmp, args.out)
            for line in lines:
                print(line)
            if lines:
                print(f"{len(lines)} report file(s) out of date; regenerate them with: python -m "
                      f"gradcheck.report_files --specs {' '.join(args.specs)} --out {args.out}", file=sys.stderr)
                return 1
            print(f"{args.out}: every report is up to date")
            return 0
        for path in generate(args.specs, args.out):
            print(path)
        return 0
    except GradcheckError as e:
        print(f"gradcheck: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

