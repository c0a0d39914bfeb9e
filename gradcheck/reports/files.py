"""Report files: write one report per network in every format, regenerate reports/, check it is current.

    python -m gradcheck derivations/*.json --report reports --quiet   # the CLI
    python -m gradcheck.reports.files                                  # the same, for derivations/ -> reports/
    python -m gradcheck.reports.files --check                          # CI: exit 1 if reports/ is stale
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from ..errors import GradcheckError
from ..spec.parse import load_spec
from .derivation import EXTENSIONS, REPORT_FORMATS, build_report, report_content

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


#: How each format begins (its frame, up to the title), so gradcheck knows a report of its own: a file at a
#: target path that does not have it was not written by gradcheck, and is never overwritten.
_FRAMES = {
    ".md": ("# Derivation report: ", None),
    ".html": ("<!DOCTYPE html>", "<title>Derivation report: "),
    ".tex": ("\\documentclass", "\\section*{Derivation report: "),
}
_HEAD_CHARS = 16384


def _is_report(path):
    """True if the file at ``path`` is a derivation report gradcheck wrote (of any version: the frame above)."""
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text(encoding="utf-8"))
            return isinstance(doc, dict) and str(doc.get("title", "")).startswith("Derivation report: ") \
                and "elements" in doc and "check" in doc
        with open(path, encoding="utf-8") as fh:
            head = fh.read(_HEAD_CHARS)
    except (OSError, ValueError):
        return False
    start, title = _FRAMES[path.suffix]
    return head.startswith(start) and (title is None or title in head)


def _refusal(path, inputs):
    """Why ``path`` must not be written (one line), or None."""
    for src in inputs:
        if _same_file(path, src):
            return (f"refusing to write the report {path}: it would overwrite the input {src} "
                    f"(choose another --report directory)")
    if path.is_symlink():
        return (f"refusing to write the report {path}: it is a symbolic link, and gradcheck does not write "
                "through links; remove it or choose another --report directory")
    if path.exists() and not path.is_file():
        return (f"refusing to write the report {path}: it is a {'directory' if path.is_dir() else 'special file'}; "
                "remove it or choose another --report directory")
    if path.exists() and not _is_report(path):
        return (f"refusing to overwrite {path}: it is not a gradcheck derivation report"
                + (" (a net.json?)" if path.suffix == ".json" else "")
                + ", and gradcheck only replaces its own reports; move it away or choose another --report directory")
    return None


def write_reports(result, out_dir, fmt=None, inputs=()):
    """Write the report of one checked network into ``out_dir`` (created if missing); return the paths.

    ``fmt``: one of :data:`REPORT_FORMATS`, or None for all of them. Files are named
    ``<spec name>.md/.html/.tex/.json``. Every target is checked before anything is
    written, and :class:`GradcheckError` names the first that must not be: one of ``inputs``
    (the net.json files being checked), a symbolic link, a directory, or a file that is not
    a report gradcheck wrote. Each file is written to a temporary file next to it and then
    moved into place, so a target holds either its old content or the whole new report.
    """
    spec = result.spec
    paths = report_paths(spec.name, out_dir, fmt)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise GradcheckError(f"report directory {out_dir} is a file; choose another --report directory")
    for path in paths.values():
        refused = _refusal(path, inputs)
        if refused:
            raise GradcheckError(refused)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GradcheckError(f"cannot create the report directory {out_dir}: {e.strerror or e}") from None
    content = report_content(result)
    for f, path in paths.items():
        _replace(path, build_report(result, f, content))
    return list(paths.values())


def _replace(path, text):
    """Write ``text`` to ``path`` atomically: a temporary file in the same directory, then os.replace."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise GradcheckError(f"cannot write the report {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise GradcheckError(f"cannot write the report {path}: {e.strerror or e}") from None
        raise


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    from ..checks.network import check_network

    files = _spec_files(specs)
    written = []
    for path in files:
        spec = load_spec(str(path))
        result = check_network(spec)
        written += write_reports(result, out_dir, fmt, inputs=[str(p) for p in files])
    return written


def compare_dirs(fresh, committed):
    """Lines ``stale: …``, ``missing: …``, ``extra: …`` for the files of ``committed`` that differ from ``fresh``.

    Files are compared byte for byte: a report prints no digit that round-off can change
    (:mod:`gradcheck.render.precision`), so any difference is a real one.
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
    """``python -m gradcheck.reports.files [--check] [--specs DIR_OR_FILES] [--out DIR]``; returns the exit code."""
    p = argparse.ArgumentParser(prog="python -m gradcheck.reports.files",
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
                      f"gradcheck.reports.files --specs {' '.join(args.specs)} --out {args.out}", file=sys.stderr)
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

