"""``python -m gradcheck net.json [more.json ...]``: shape trace + gradient check.

Exit codes: 0 every gradient agrees, 1 some gradient disagrees, 2 bad input or usage,
3 an internal error (a bug in gradcheck; set GRADCHECK_DEBUG=1 for the traceback), 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from . import __version__
from .checks.network import check_network
from .errors import GradcheckError, too_large
from .options import add_cli_options
from .progress import Progress
from .reference.shapes import trace_shapes
from .render import FORMATS, REPORT_FORMATS, get_format
from .render.runs import Run
from .spec.parse import load_spec

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
#: Lines of what the user's backprop printed that are shown on stderr.
_RELAYED_LINES = 40


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise GradcheckError(f"{message} (see gradcheck --help)")


def build_parser():
    p = _Parser(
        prog="gradcheck",
        description="Print the shape trace of a network described in net.json and check its gradients: "
                    "reference backprop vs finite differences vs SymPy (and your own backprop with --impl).",
        epilog="exit codes: 0 all gradients agree, 1 a gradient disagrees, 2 bad input or usage, 3 internal error, "
               "130 interrupted",
    )
    p.add_argument("specs", nargs="+", metavar="net.json", help="network description(s); see README for the format")
    p.add_argument("--format", choices=list(FORMATS), default="text",
                   help="output format (default: text); html and latex are complete documents")
    p.add_argument("--impl", metavar="MODULE:FUNCTION",
                   help="your backprop, 'module:function' or 'path/to/file.py:function', called as "
                        "fn(params, X, Y) and returning one {'W': dW, 'b': db} per layer")
    add_cli_options(p, argparse.ArgumentTypeError)
    p.add_argument("--explain", action="store_true",
                   help="show your --impl's lines with the shapes of the arrays each made or wrote, and what they "
                        "reveal (silent broadcasts, overlapping writes), even when the check passes")
    p.add_argument("--trace-only", action="store_true",
                   help="print only the shape trace (needs neither params nor data)")
    p.add_argument("--report", metavar="DIR",
                   help="also write a derivation report per network into DIR (in --format, or in every report "
                        f"format ({', '.join(REPORT_FORMATS)}) when --format is text); the paths are printed on stderr")
    p.add_argument("-q", "--quiet", action="store_true", help="one line per network")
    p.add_argument("--version", action="version", version=f"gradcheck {__version__}")
    return p


#: Modules whose RuntimeWarnings the command line does not print: gradcheck's own, and NumPy's on their behalf.
_QUIET_MODULES = (r"gradcheck\.", r"numpy\.")


def _beyond_reach(spec):
    from .symbolic.reach import beyond_reach  # SymPy itself is not loaded for it

    return beyond_reach(spec)


def _run_one(path, args):
    spec = load_spec(path)
    if args.trace_only:
        return Run(trace=trace_shapes(spec), spec=spec)
    if args.symbolic == "on" and (beyond := _beyond_reach(spec)):  # said before the wait, not after it
        print(f"gradcheck: {spec.name}: --symbolic on goes beyond auto's reach ({beyond}): SymPy may take long "
              "(Ctrl-C stops it)", file=sys.stderr)
    progress = Progress.for_terminal(args.quiet, get_format(args.format).for_people)
    try:
        with warnings.catch_warnings():
            # NumPy's overflow and invalid-value warnings in gradcheck's own passes (weights of 1e200): the verdicts
            # and their notes say what they mean. The user's own code still warns.
            for module in _QUIET_MODULES:
                warnings.filterwarnings("ignore", category=RuntimeWarning, module=module)
            result = check_network(spec, args.impl, seed=args.seed, rtol=args.rtol, atol=args.atol,
                                   symbolic=args.symbolic, method=args.method, mode=args.mode, sample=args.sample,
                                   directions=args.directions, progress=progress, timeout=args.timeout,
                                   explain=args.explain)
    finally:
        if progress is not None:
            progress.close()
    return Run(result, blame=args.blame)


def main(argv=None):
    """Run the CLI; return the exit code (0, 1, 2 or 3)."""
    try:
        args = build_parser().parse_args(argv)
    except GradcheckError as e:
        print(f"gradcheck: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SystemExit as e:  # --help / --version
        return int(e.code or 0)
    code, runs, errors = EXIT_OK, [], []
    for path in args.specs:
        try:
            run = _run_one(path, args)
            result = run.result
            _relay_output(run.name, result)
            if args.report and result is not None:
                from .reports.files import write_reports

                fmt = args.format if args.format in REPORT_FORMATS else None
                written = write_reports(result, args.report, fmt, inputs=args.specs)
                print(f"gradcheck: {run.name}: report written to {', '.join(map(str, written))}", file=sys.stderr)
        except GradcheckError as e:
            print(f"gradcheck: {e}", file=sys.stderr)
            errors.append({"source": str(path), "error": str(e)})
            code = max(code, EXIT_BAD_INPUT)
            continue
        except KeyboardInterrupt:
            print("gradcheck: interrupted", file=sys.stderr)
            return 130
        except MemoryError as e:  # a network too large for this machine: the input's size, not a fault of gradcheck
            message = too_large(e)
            print(f"gradcheck: {path}: {message}", file=sys.stderr)
            errors.append({"source": str(path), "error": message})
            code = max(code, EXIT_BAD_INPUT)
            continue
        except Exception as e:
            if os.environ.get("GRADCHECK_DEBUG"):
                raise
            print(f"gradcheck: internal error on {path}: {type(e).__name__}: {e} "
                  "(set GRADCHECK_DEBUG=1 for the traceback and please report it)", file=sys.stderr)
            errors.append({"source": str(path), "error": f"internal error: {e}"})
            code = max(code, EXIT_INTERNAL)
            continue
        if result is not None and not result.passed and code == EXIT_OK:
            code = EXIT_MISMATCH
        runs.append(run)
    try:
        get_format(args.format).write_runs(sys.stdout, runs, errors, args.quiet)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


def _relay_output(name, result):
    """What the user's backprop printed to stdout, on stderr and marked as such: gradcheck's stdout is its report."""
    output = result.impl_output if result is not None else None
    if output:
        lines = output.rstrip("\n").split("\n")
        shown = lines[:_RELAYED_LINES] + (["[… the rest not shown]"] if len(lines) > _RELAYED_LINES else [])
        print(f"gradcheck: {name}: your backprop printed to stdout (kept out of gradcheck's output):",
              *(f"  | {line}" for line in shown), sep="\n", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
