"""Peak memory of every worked example's check and of every benchmark network's, against 256 MiB.

Run: ``python benchmarks/bench_memory.py [--why] [--only WORD]``. Each check runs in a fresh
process: ``python -m gradcheck derivations/X.json`` for every worked example (its default
options), the command line on the million-param network of ``bench_numeric.py`` (``--quiet``
and ``--format json``), and ``check_network`` on the networks of the other benchmarks
(makemore's MLP, the LSTM, the transformer block and attention alone, the conv networks, the
dense MLPs). Prints one table: peak resident memory of the process (VmHWM, read by the process
itself at exit: the peak a parent gets from ``wait4`` also counts the parent's own pages the
child held between fork and exec), wall time, exit code, and the limit met or not. The processes run with
gradcheck's bytecode compiled once beforehand, as an installed package has it (:func:`machine.user_env`).

``--why`` runs each check over the limit once more under tracemalloc, keeps the snapshot taken
nearest its peak of traced memory (a thread samples it every 10 ms), and prints its ten largest
allocation sites: where the memory goes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from machine import header, user_env, warm_bytecode  # noqa: E402

LIMIT_MIB = 256
BIG = {"name": "mlp-784", "input": 784, "layers": [{"units": 1024, "activation": "tanh"},
                                                    {"units": 256, "activation": "tanh"},
                                                    {"units": 10, "activation": "softmax"}],
       "loss": "cross_entropy", "batch": 32, "seed": 0}

#: Runs at exit: the process's own peak resident memory (Linux), to stderr.
PEAK = ("import atexit, os, sys\n"
        "def _peak():\n"
        "    if os.path.exists('/proc/self/status'):\n"
        "        sys.stderr.write(next(ln for ln in open('/proc/self/status') if ln.startswith('VmHWM')))\n"
        "atexit.register(_peak)\n")
CLI = "import runpy\nsys.argv[0] = 'gradcheck'\nrunpy.run_module('gradcheck', run_name='__main__')\n"
#: A check_network call: {setup} binds ``spec``, {call} the keywords.
CHECK = ("sys.path.insert(0, 'benchmarks')\n"
         "from gradcheck.checks.network import check_network\n"
         "from gradcheck.spec.parse import load_spec\n"
         "{setup}\n"
         "result = check_network(load_spec(spec), {call})\n"
         "sys.exit(0 if result.passed else 1)\n")
#: Under tracemalloc: keep the snapshot nearest the peak of traced memory, print its top 10 at exit.
WHY = ("import threading, time, tracemalloc\n"
       "tracemalloc.start(1)\n"
       "_top = [0, None]\n"
       "def _watch():\n"
       "    while True:\n"
       "        now = tracemalloc.get_traced_memory()[0]\n"
       "        if now > _top[0]:\n"
       "            _top[:] = [now, tracemalloc.take_snapshot()]\n"
       "        time.sleep(0.01)\n"
       "threading.Thread(target=_watch, daemon=True).start()\n"
       "def _report():\n"
       "    peak = tracemalloc.get_traced_memory()[1]\n"
       "    sys.stderr.write(f'WHY traced peak {peak / 2**20:.0f} MiB; at the snapshot nearest it, '\n"
       "                     f'{_top[0] / 2**20:.0f} MiB, of which:\\n')\n"
       "    for st in _top[1].statistics('lineno')[:10]:\n"
       "        f = st.traceback[0]\n"
       "        where = f.filename.split('site-packages/')[-1]\n"
       "        where = os.path.relpath(where) if where.startswith(os.getcwd()) else where\n"
       "        sys.stderr.write(f'WHY {st.size / 2**20:8.1f} MiB  {where}:{f.lineno}\\n')\n"
       "atexit.register(_report)\n")


def cases(tmp):
    """(label, the child's code after PEAK, its argv) of every check measured."""
    out = []
    for path in sorted((ROOT / "derivations").glob("*.json")):
        out.append((f"python -m gradcheck derivations/{path.name}", CLI, [str(path)]))
    net = Path(tmp, "net.json")
    net.write_text(json.dumps(BIG))
    out.append(("784-1024-256-10 (1,068,810 params): python -m gradcheck net.json --quiet", CLI, [str(net), "--quiet"]))
    out.append(("the same, --format json", CLI, [str(net), "--format", "json"]))
    checks = [
        ("makemore MLP (12,297 params): check_network(mode='full')", "from bench_makemore import MAKEMORE as spec",
         "mode='full'"),
        ("LSTM T=20 D=16 H=32 N=16: check_network(symbolic='off', mode='full')",
         "from bench_sequences import LSTM as spec", "symbolic='off', mode='full'"),
        ("one-block transformer: check_network(symbolic='off', mode='full')",
         "from bench_transformer import block\nspec = block()", "symbolic='off', mode='full'"),
        ("attention -> flatten -> dense: check_network(symbolic='off', mode='full')",
         "from bench_transformer import ATTENTION as spec", "symbolic='off', mode='full'"),
        ("conv 4x3x16x16 -> avgpool -> dense: check_network(symbolic='off', mode='full')",
         "from bench_layers import BIGGER_CONV as spec", "symbolic='off', mode='full'"),
        ("64-128-64-10, N=32: check_network(symbolic='off', mode='full')",
         "spec = {'input': 64, 'layers': [{'units': 128, 'activation': 'tanh'}, {'units': 64, 'activation': 'tanh'},"
         " {'units': 10}], 'batch': 32, 'loss': 'mse'}", "symbolic='off', mode='full'"),
    ]
    for label, setup, call in checks:
        out.append((label, CHECK.format(setup=setup, call=call), []))
    return out


def run(code, argv, why=False):
    """(peak resident MiB, wall seconds, exit code, the tracemalloc lines if ``why``) of one fresh process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK + (WHY if why else "") + code, *argv], cwd=ROOT,
                          capture_output=True, text=True, env=user_env(PYTHONPATH=str(ROOT)))
    seconds = time.perf_counter() - t0
    hwm = [ln.split()[1] for ln in done.stderr.splitlines() if ln.startswith("VmHWM")]
    lines = [ln[4:] for ln in done.stderr.splitlines() if ln.startswith("WHY ")]
    return (int(hwm[0]) / 1024 if hwm else float("nan")), seconds, done.returncode, lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--why", action="store_true", help="the top 10 allocation sites of each check over the limit")
    ap.add_argument("--only", help="only the checks whose label contains this")
    args = ap.parse_args(argv)
    print("\n".join(header()) + "\n")
    warm_bytecode()
    rows, over = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for label, code, child_argv in cases(tmp):
            if args.only and args.only not in label:
                continue
            mib, seconds, code_rc, _ = run(code, child_argv)
            rows.append([label, f"{mib:.0f}", f"{seconds:.2f}", code_rc,
                         "yes" if mib <= LIMIT_MIB else f"NO, +{mib - LIMIT_MIB:.0f} MiB"])
            if mib > LIMIT_MIB:
                over.append((label, code, child_argv))
        print(tabulate(rows, ["check (a fresh process each)", "peak RSS MiB", "wall s", "exit",
                              f"≤ {LIMIT_MIB} MiB"], disable_numparse=True, colalign=("left", "right", "right")))
        print(f"\n{len(over)} of {len(rows)} over {LIMIT_MIB} MiB")
        if args.why:
            for label, code, child_argv in over:
                print(f"\n{label}:")
                print("\n".join("  " + ln for ln in run(code, child_argv, why=True)[3]))
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
